//! A small app (Minke's host table, a few hand-written sessions), an admin router over
//! it, users, and request helpers.

use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use minke_admin::AdminConfig;
use minke_core::{
    Context, Message, MessageLevel, ParamSpec, Params, Registry, Result, Session, SessionInfo,
    SessionMeta, shell_quote,
};
use minke_runtime::{Config, Engine, HostSource, Models};
use minke_store::{HostRecord, NewHost, Store};
use tower::ServiceExt as _;

fn param(name: &'static str, type_name: &'static str, default: Option<&str>) -> ParamSpec {
    ParamSpec {
        name,
        type_name,
        help: format!("the {name}"),
        default: default.map(str::to_owned),
        required: default.is_none(),
        secret: type_name == "secret",
        multiline: false,
    }
}

fn meta(
    name: &'static str,
    verbose: &str,
    group: Option<&str>,
    extra_perms: &[&str],
    confirm: bool,
    params: Vec<ParamSpec>,
) -> SessionMeta {
    let mut permissions = vec![format!("run_{name}")];
    permissions.extend(extra_perms.iter().map(|p| (*p).to_owned()));
    SessionMeta {
        name,
        verbose_name: verbose.into(),
        help: format!("Help of {name} <b>bold</b>"),
        group: group.map(str::to_owned),
        work_on: vec!["host"],
        permissions,
        confirm,
        parallel_per_host: false,
        timeout: None,
        params,
    }
}

/// Prints its text and leaves it as a message.
pub struct Echo {
    text: String,
}

impl SessionInfo for Echo {
    fn meta() -> SessionMeta {
        meta(
            "echo",
            "Echo text",
            Some("Info"),
            &[],
            false,
            vec![param("text", "text", None)],
        )
    }
    fn from_params(p: &Params) -> Result<Self> {
        Ok(Echo {
            text: p.value("text", None)?,
        })
    }
}

impl Session for Echo {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let out = cx.run(&format!("echo {}", shell_quote(&self.text))).await?;
        cx.add_msg(Message::text(
            MessageLevel::Info,
            format!("said: {}", out.stdout_text().trim()),
        ))
        .await?;
        Ok(())
    }
}

/// Runs `uname -a`; no parameters, no confirmation.
pub struct Plain;

impl SessionInfo for Plain {
    fn meta() -> SessionMeta {
        meta("plain", "Plain uname", Some("Info"), &[], false, vec![])
    }
    fn from_params(_: &Params) -> Result<Self> {
        Ok(Plain)
    }
}

impl Session for Plain {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.run("uname -a").await?;
        Ok(())
    }
}

/// A dangerous command: confirmation and an extra permission.
pub struct Danger {
    cmd: String,
}

impl SessionInfo for Danger {
    fn meta() -> SessionMeta {
        let mut p = param("cmd", "text", None);
        p.multiline = true;
        meta("danger", "Run anything", None, &["danger"], true, vec![p])
    }
    fn from_params(p: &Params) -> Result<Self> {
        Ok(Danger {
            cmd: p.value("cmd", None)?,
        })
    }
}

impl Session for Danger {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.run(&self.cmd).await?;
        Ok(())
    }
}

/// Typed parameters: a count, a flag and a secret.
pub struct Typed {
    count: u32,
    flag: bool,
    token: Option<minke_core::Secret>,
}

impl SessionInfo for Typed {
    fn meta() -> SessionMeta {
        let mut token = param("token", "secret", None);
        token.required = false;
        meta(
            "typed",
            "Typed parameters",
            Some("Checks"),
            &[],
            false,
            vec![
                param("count", "integer", None),
                param("flag", "boolean", Some("false")),
                token,
            ],
        )
    }
    fn from_params(p: &Params) -> Result<Self> {
        Ok(Typed {
            count: p.value("count", None)?,
            flag: p.value("flag", Some("false"))?,
            token: p.value("token", None)?,
        })
    }
}

impl Session for Typed {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let _ = (&self.token, self.flag);
        cx.run(&format!("echo {}", self.count)).await?;
        Ok(())
    }
}

/// Prints, sleeps, prints again: for live views and stopping.
pub struct Slow {
    secs: f64,
}

impl SessionInfo for Slow {
    fn meta() -> SessionMeta {
        meta(
            "slow",
            "Slow",
            None,
            &[],
            false,
            vec![param("secs", "number", None)],
        )
    }
    fn from_params(p: &Params) -> Result<Self> {
        Ok(Slow {
            secs: p.value("secs", None)?,
        })
    }
}

impl Session for Slow {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.add_msg(Message::text(MessageLevel::Info, "starting"))
            .await?;
        cx.run(&format!(
            "echo before; echo to-stderr >&2; sleep {}; echo after",
            self.secs
        ))
        .await?;
        cx.add_msg(Message::text(MessageLevel::Warning, "done <now>"))
            .await?;
        cx.set_status(minke_core::Status::Warning);
        Ok(())
    }
}

/// Writes 20 MB to stdout.
pub struct Spew;

impl SessionInfo for Spew {
    fn meta() -> SessionMeta {
        meta("spew", "Spew", None, &[], false, vec![])
    }
    fn from_params(_: &Params) -> Result<Self> {
        Ok(Spew)
    }
}

impl Session for Spew {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.run("head -c 20000000 /dev/zero | tr '\\0' 'x'; echo '<script>alert(1)</script>' >&2")
            .await?;
        Ok(())
    }
}

/// A store, an engine and an admin router over them.
pub struct Env {
    pub app: Router,
    pub engine: Engine,
    pub store: Store,
    _dir: tempfile::TempDir,
    _pg: Option<minke_testkit::PgDatabase>,
}

/// The database of a test: SQLite in `dir`, or, with `MINKE_ADMIN_TESTS_ON_PG=1`, a
/// fresh database on the PostgreSQL server of `MINKE_TEST_PG_URL` (the test script
/// runs this suite both ways).
fn database(dir: &std::path::Path) -> (String, Option<minke_testkit::PgDatabase>) {
    if std::env::var("MINKE_ADMIN_TESTS_ON_PG").is_ok_and(|v| v == "1") {
        let admin = std::env::var("MINKE_TEST_PG_URL")
            .expect("MINKE_ADMIN_TESTS_ON_PG=1 needs MINKE_TEST_PG_URL (scripts/pg-start.sh)");
        let db = minke_testkit::PgDatabase::create(&admin, "admin").unwrap();
        (db.url().to_owned(), Some(db))
    } else {
        (dir.join("admin.db").to_string_lossy().into_owned(), None)
    }
}

pub const ROOT: (&str, &str) = ("root", "root-password");
pub const VIEWER: (&str, &str) = ("viewer", "viewer-password");
pub const NOBODY: (&str, &str) = ("nobody", "nobody-password");

impl Env {
    /// Hosts that refuse connections (no sshd needed).
    pub async fn new() -> Env {
        Env::with_admin(AdminConfig::default()).await
    }

    /// The hosts of [`Env::new`] with another admin configuration.
    pub async fn with_admin(admin: AdminConfig) -> Env {
        let hosts = (1..=3)
            .map(|i| {
                let mut h = NewHost::new(format!("web-{i}"));
                h.hostname = Some("127.0.0.1".into());
                h.port = 1;
                h.comment = Some(if i == 2 {
                    "<b>db</b>".into()
                } else {
                    "front".into()
                });
                h
            })
            .collect();
        Env::with(hosts, admin, Config::default()).await
    }

    pub async fn with(hosts: Vec<NewHost>, admin: AdminConfig, config: Config) -> Env {
        Env::build(hosts, admin, config, |_| {}, &[]).await
    }

    /// The hosts of [`Env::new`] and more models, with their tables.
    pub async fn with_models(
        add: fn(&mut Models),
        migrations: &'static [minke_store::AppMigration],
    ) -> Env {
        let hosts = (1..=3)
            .map(|i| {
                let mut h = NewHost::new(format!("web-{i}"));
                h.hostname = Some("127.0.0.1".into());
                h.port = 1;
                h
            })
            .collect();
        Env::build(
            hosts,
            AdminConfig::default(),
            Config::default(),
            add,
            migrations,
        )
        .await
    }

    async fn build(
        hosts: Vec<NewHost>,
        admin: AdminConfig,
        config: Config,
        add: fn(&mut Models),
        migrations: &'static [minke_store::AppMigration],
    ) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = database(dir.path());
        let store = Store::open(&url).await.unwrap();
        store
            .write(move |c| minke_store::apply_app_migrations(c, migrations))
            .await
            .unwrap();
        store
            .write(move |c| {
                let mut ids = Vec::new();
                for h in &hosts {
                    ids.push(minke_store::upsert_host(c, h)?);
                }
                Ok(ids)
            })
            .await
            .unwrap();
        let mut sessions = Registry::default();
        sessions.add::<Echo>().unwrap();
        sessions.add::<Plain>().unwrap();
        sessions.add::<Danger>().unwrap();
        sessions.add::<Typed>().unwrap();
        sessions.add::<Slow>().unwrap();
        sessions.add::<Spew>().unwrap();
        let mut models = Models::default();
        models.add::<HostRecord>().unwrap();
        add(&mut models);
        let engine = Engine::new(
            store.clone(),
            sessions,
            models,
            HostSource::of::<HostRecord>(),
            config,
        );
        // Cheap password hashes keep the tests fast; the format is the same.
        let users = [
            (ROOT, true, vec![]),
            (
                VIEWER,
                false,
                vec![
                    "view_host",
                    "run_echo",
                    "run_plain",
                    "run_danger",
                    "run_typed",
                ],
            ),
            (NOBODY, false, vec![]),
        ];
        let mut hashed = Vec::new();
        for ((name, pw), su, perms) in users {
            hashed.push((name, minke_admin::hash_password(pw).unwrap(), su, perms));
        }
        store
            .write(move |c| {
                for (name, hash, su, perms) in &hashed {
                    minke_store::create_user(c, name, hash, *su)?;
                    for p in perms {
                        minke_store::grant(c, name, p)?;
                    }
                }
                Ok(())
            })
            .await
            .unwrap();
        let app = minke_admin::router(engine.clone(), admin);
        Env {
            app,
            engine,
            store,
            _dir: dir,
            _pg: pg,
        }
    }

    /// A fleet of real sshd hosts.
    pub async fn fleet(n: usize, config: Config) -> (Env, minke_testkit::Fleet) {
        let fleet = tokio::task::spawn_blocking(move || minke_testkit::Fleet::start(n))
            .await
            .unwrap()
            .unwrap();
        let hosts = fleet.new_hosts();
        (
            Env::with(hosts, AdminConfig::default(), config).await,
            fleet,
        )
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), 100 << 20)
            .await
            .unwrap();
        Resp {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    /// Logs in through the form; the client carries the cookie and CSRF token.
    pub async fn login(&self, (user, pw): (&str, &str)) -> Client {
        self.login_at("", user, pw).await
    }

    pub async fn login_at(&self, base: &str, user: &str, pw: &str) -> Client {
        let form = self.send(get(&format!("{base}/login"))).await;
        assert_eq!(form.status, StatusCode::OK);
        let login_cookie = form.cookie("minke_login").unwrap();
        let token = form.input_value("csrf").unwrap();
        let res = self
            .send(
                Request::post(format!("{base}/login"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, format!("minke_login={login_cookie}"))
                    .body(Body::from(form_body(&[
                        ("csrf", &token),
                        ("username", user),
                        ("password", pw),
                    ])))
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
        let session = res.cookie("minke_session").unwrap();
        let cookie = format!("minke_session={session}");
        let index = self
            .send(
                Request::get(format!("{base}/"))
                    .header(header::COOKIE, &cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(index.status, StatusCode::OK, "{}", index.text());
        let csrf = index.meta("csrf-token").unwrap();
        Client { cookie, csrf }
    }

    /// Waits until no run is going on and every write is committed.
    pub async fn settle(&self) {
        for _ in 0..600 {
            if self.engine.active_runs().is_empty() {
                self.store.flush().await.unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("runs still going on after 30 s");
    }
}

pub struct Client {
    pub cookie: String,
    pub csrf: String,
}

impl Client {
    pub fn get(&self, uri: &str) -> Request<Body> {
        Request::get(uri)
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap()
    }

    /// A form post with the CSRF token in the form.
    pub fn post(&self, uri: &str, pairs: &[(&str, &str)]) -> Request<Body> {
        let mut all: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        all.extend_from_slice(pairs);
        self.post_raw(uri, &all)
    }

    /// A form post exactly as given (no CSRF token added).
    pub fn post_raw(&self, uri: &str, pairs: &[(&str, &str)]) -> Request<Body> {
        Request::post(uri)
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form_body(pairs)))
            .unwrap()
    }

    /// A JSON post with the CSRF header.
    pub fn post_json(&self, uri: &str, body: &serde_json::Value) -> Request<Body> {
        Request::post(uri)
            .header(header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub fn bearer(
    method: Method,
    uri: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap()
}

pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    pub fn set_cookie_line(&self, name: &str) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .unwrap_or_default()
            .to_owned()
    }

    /// The value attribute of the first input named `name`.
    pub fn input_value(&self, name: &str) -> Option<String> {
        let t = self.text();
        let pat = format!(r#"name="{name}" value=""#);
        let i = t.find(&pat)?;
        let rest = &t[i + pat.len()..];
        Some(rest[..rest.find('"')?].to_owned())
    }

    pub fn meta(&self, name: &str) -> Option<String> {
        let t = self.text();
        let pat = format!(r#"<meta name="{name}" content=""#);
        let i = t.find(&pat)?;
        let rest = &t[i + pat.len()..];
        Some(rest[..rest.find('"')?].to_owned())
    }
}

/// Reads SSE events from a streaming answer until `stop` says so or time runs out.
pub async fn read_events(
    body: Body,
    limit: Duration,
    mut stop: impl FnMut(&str, &serde_json::Value) -> bool,
) -> Vec<(String, serde_json::Value)> {
    use futures_core::Stream;
    let mut stream = body.into_data_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx));
        let chunk = match tokio::time::timeout_at(deadline, next).await {
            Ok(Some(Ok(c))) => c,
            Ok(Some(Err(e))) => panic!("stream failed: {e}"),
            Ok(None) => return out,
            Err(_) => panic!("no end of the event stream within {limit:?}; got {out:?}"),
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if data.is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&data).unwrap();
            let done = stop(&name, &value);
            out.push((name, value));
            if done {
                return out;
            }
        }
    }
}
