//! A small test app (hosts ← servers ← web apps) and helpers for the end-to-end tests.
#![allow(missing_docs, clippy::unwrap_used)]

use diesel::prelude::*;
use minke::prelude::*;
use minke::runtime::{Config, Engine};
use minke::store::{Conn, DatabaseUrl};
use minke::{AppMigration, HostRecord, Store};

pub mod docs;
pub mod guide;

diesel::table! {
    servers (id) {
        id -> BigInt,
        name -> Text,
        host_id -> BigInt,
        kernel -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    webapps (id) {
        id -> BigInt,
        name -> Text,
        server_id -> BigInt,
        path -> Text,
    }
}

pub const MIGRATIONS: &[AppMigration] = &[AppMigration::new(
    "e2e_0001",
    "CREATE TABLE servers (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
        host_id BIGINT NOT NULL, kernel TEXT, note TEXT);
     CREATE TABLE webapps (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
        server_id BIGINT NOT NULL, path TEXT NOT NULL);",
    "CREATE TABLE servers (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
        host_id BIGINT NOT NULL, kernel TEXT, note TEXT);
     CREATE TABLE webapps (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
        server_id BIGINT NOT NULL, path TEXT NOT NULL);",
)];

#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id)]
pub struct Server {
    pub id: i64,
    pub name: String,
    pub host_id: i64,
    pub kernel: Option<String>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = webapps)]
#[minke(table = webapps, host(via = server_id, model = Server))]
pub struct WebApp {
    pub id: i64,
    pub name: String,
    pub server_id: i64,
    pub path: String,
}

/// Run a command
#[derive(Session)]
#[minke(work_on(HostRecord, Server, WebApp), command = "{cmd}")]
pub struct Command {
    pub cmd: String,
}

/// Record the kernel
#[derive(Session)]
#[minke(work_on(Server))]
pub struct Kernel;

impl Session for Kernel {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.update_field("kernel", "uname -r", None).await?;
        cx.update_field(
            "note",
            "echo 'release: '$(uname -r)",
            Some(r"release: (\S+)"),
        )
        .await?;
        Ok(())
    }
}

/// Fail to record
#[derive(Session)]
#[minke(work_on(Server))]
pub struct BadField;

impl Session for BadField {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.update_field("note", "false", None).await?;
        Ok(())
    }
}

/// Sleep
#[derive(Session)]
#[minke(
    work_on(HostRecord, Server),
    command = "sleep {secs}; echo {marker} >/dev/null"
)]
pub struct Sleep {
    pub secs: f64,
    #[minke(default = "minke-e2e")]
    pub marker: String,
}

/// Sleep, several at once per host
#[derive(Session)]
#[minke(work_on(Server), command = "sleep {secs}", parallel_per_host)]
pub struct ParallelSleep {
    pub secs: f64,
}

/// A chain that breaks on error
#[derive(Session)]
#[minke(
    work_on(HostRecord),
    commands("true", "echo to-stderr >&2", "false", "echo never")
)]
pub struct BreakOnError;

/// A chain that breaks on warning
#[derive(Session)]
#[minke(
    work_on(HostRecord),
    commands("true", "echo to-stderr >&2", "echo never"),
    break_on(warning, error)
)]
pub struct BreakOnWarning;

/// Fails
#[derive(Session)]
#[minke(work_on(HostRecord))]
pub struct Failing;

impl Session for Failing {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.xrun("exit 5").await?;
        Ok(())
    }
}

/// Never reached
#[derive(Session)]
#[minke(work_on(HostRecord), command = "echo reached")]
pub struct Reached;

/// Chain of sessions
#[derive(Session)]
#[minke(work_on(HostRecord), chain(Failing, Reached))]
pub struct SessionChain;

/// Panics on the second host
#[derive(Session)]
#[minke(work_on(HostRecord))]
pub struct Panicky;

impl Session for Panicky {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.run("true").await?;
        if cx.object::<HostRecord>()?.name.ends_with("002") {
            panic!("boom on purpose");
        }
        Ok(())
    }
}

/// Uses a secret
#[derive(Session)]
#[minke(work_on(HostRecord), command = "test {token} = hunter2 && echo ok")]
pub struct WithSecret {
    pub token: Secret,
}

/// Who am I, through sudo
#[derive(Session)]
#[minke(work_on(HostRecord))]
pub struct SudoId {
    pub password: Secret,
}

impl Session for SudoId {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.sudo("id -u", Some(&self.password)).await?;
        Ok(())
    }
}

/// Sends and fetches files
#[derive(Session)]
#[minke(work_on(HostRecord))]
pub struct Files {
    pub dir: String,
}

impl Session for Files {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let (motd, conf) = (format!("{}/motd", self.dir), format!("{}/conf", self.dir));
        cx.put(minke::Upload::bytes("hello {name}\n"), &motd, 0o640)
            .await?;
        cx.put_template("host={name} dir={dir}\n", &conf, 0o600)
            .await?;
        let back = cx.get(&conf).await?;
        cx.info(String::from_utf8_lossy(&back).into_owned()).await?;
        cx.get(&format!("{}/missing", self.dir)).await?;
        Ok(())
    }
}

/// Who am I, through sudo in a terminal
#[derive(Session)]
#[minke(work_on(HostRecord))]
pub struct SudoPty {
    pub password: Secret,
}

impl Session for SudoPty {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let how = Sudo::new().password(Some(&self.password)).pty(true);
        cx.sudo_with("id -u", how).await?;
        Ok(())
    }
}

/// Who am I, through sudo with the configured password (or none)
#[derive(Session)]
#[minke(work_on(HostRecord))]
pub struct SudoConfigured;

impl Session for SudoConfigured {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.sudo("id -u", None).await?;
        Ok(())
    }
}

/// Sleeps past its own time limit
#[derive(Session)]
#[minke(work_on(HostRecord), timeout = 1)]
pub struct Slowpoke {
    pub secs: f64,
}

impl Session for Slowpoke {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.frun("sleep {secs}; echo done").await?;
        Ok(())
    }
}

/// A fleet of sshd servers, a store and an engine over them.
pub struct Env {
    pub fleet: minke_testkit::Fleet,
    pub engine: Engine,
    pub store: Store,
    pub host_ids: Vec<minke::HostId>,
    _dir: tempfile::TempDir,
    _pg: Option<minke_testkit::PgDatabase>,
}

pub fn registry() -> (minke::Registry, minke::runtime::Models) {
    let mut r = minke::Registry::default();
    r.add::<Command>().unwrap();
    r.add::<Kernel>().unwrap();
    r.add::<BadField>().unwrap();
    r.add::<Sleep>().unwrap();
    r.add::<ParallelSleep>().unwrap();
    r.add::<BreakOnError>().unwrap();
    r.add::<BreakOnWarning>().unwrap();
    r.add::<Failing>().unwrap();
    r.add::<Reached>().unwrap();
    r.add::<SessionChain>().unwrap();
    r.add::<Panicky>().unwrap();
    r.add::<WithSecret>().unwrap();
    r.add::<Slowpoke>().unwrap();
    r.add::<SudoId>().unwrap();
    r.add::<SudoPty>().unwrap();
    r.add::<Files>().unwrap();
    r.add::<SudoConfigured>().unwrap();
    let mut m = minke::runtime::Models::default();
    m.add::<HostRecord>().unwrap();
    m.add::<Server>().unwrap();
    m.add::<WebApp>().unwrap();
    (r, m)
}

impl Env {
    /// `hosts` sshd servers, `servers_per_host` servers on each, one web app per server.
    pub async fn start(
        hosts: usize,
        servers_per_host: usize,
        config: Config,
        db_url: Option<String>,
    ) -> Env {
        let options = minke_testkit::ServerOptions::default();
        Env::start_with(hosts, &options, servers_per_host, config, db_url).await
    }

    /// Like [`Env::start`], the sshd servers started with `options`.
    pub async fn start_with(
        hosts: usize,
        options: &minke_testkit::ServerOptions,
        servers_per_host: usize,
        config: Config,
        db_url: Option<String>,
    ) -> Env {
        let options = options.clone();
        let fleet =
            tokio::task::spawn_blocking(move || minke_testkit::Fleet::start_with(hosts, &options))
                .await
                .unwrap()
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // With `MINKE_E2E_ON_PG=1` every test runs on a fresh PostgreSQL database (the
        // test script runs this suite both ways).
        let pg = (db_url.is_none() && std::env::var("MINKE_E2E_ON_PG").is_ok_and(|v| v == "1"))
            .then(|| {
                let admin = std::env::var("MINKE_TEST_PG_URL")
                    .expect("MINKE_E2E_ON_PG=1 needs MINKE_TEST_PG_URL (scripts/pg-start.sh)");
                minke_testkit::PgDatabase::create(&admin, "e2e").unwrap()
            });
        let url = db_url
            .or_else(|| pg.as_ref().map(|p| p.url().to_owned()))
            .unwrap_or_else(|| dir.path().join("e2e.db").to_string_lossy().into_owned());
        let store = Store::open_with(&url, MIGRATIONS).await.unwrap();
        let hosts = fleet.new_hosts();
        let host_ids = store
            .write(move |c| {
                let mut ids = Vec::new();
                for h in &hosts {
                    ids.push(minke::store::upsert_host(c, h)?);
                }
                Ok(ids)
            })
            .await
            .unwrap();
        let ids = host_ids.clone();
        store
            .write(move |c| {
                minke::store::with_conn!(c, |c, B| {
                    for (i, h) in ids.iter().enumerate() {
                        for s in 0..servers_per_host {
                            let name = format!("srv-{i:03}-{s}");
                            let sid: i64 = diesel::insert_into(servers::table)
                                .values((servers::name.eq(&name), servers::host_id.eq(*h)))
                                .returning(servers::id)
                                .get_result(c)
                                .unwrap();
                            diesel::insert_into(webapps::table)
                                .values((
                                    webapps::name.eq(format!("app-{i:03}-{s}")),
                                    webapps::server_id.eq(sid),
                                    webapps::path.eq("/tmp"),
                                ))
                                .execute(c)
                                .unwrap();
                        }
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
        let (sessions, models) = registry();
        let engine = Engine::new(
            store.clone(),
            sessions,
            models,
            minke::runtime::HostSource::of::<HostRecord>(),
            config,
        );
        Env {
            fleet,
            engine,
            store,
            host_ids,
            _dir: dir,
            _pg: pg,
        }
    }
}

impl Env {
    /// Another engine on the same database and registrations, with `config`.
    pub async fn engine_with(&self, config: Config) -> Engine {
        let (sessions, models) = registry();
        Engine::new(
            self.store.clone(),
            sessions,
            models,
            minke::runtime::HostSource::of::<HostRecord>(),
            config,
        )
    }
}

/// Opens a connection for direct checks.
pub fn open(url: &str) -> Conn {
    Conn::open(&DatabaseUrl::parse(url).unwrap()).unwrap()
}
