//! The `fleet` binary and its database: processes sharing one SQLite file, which
//! commands may create or migrate it, database URLs, users and API tokens.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{Serve, Setup, fleet, run_fleet, superuser_token, text};

/// How long any one wait lasts at most.
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);
const PASSWORD: &str = "db-test-password-1";

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// One request to the admin's API with a bearer token: the status and the body as
/// JSON (or as text when it is not JSON).
fn http(port: u16, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let payload = body.map(Value::to_string).unwrap_or_default();
    let auth = format!("Authorization: Bearer {token}");
    let answer = common::request(
        port,
        method,
        path,
        &[&auth, "Content-Type: application/json"],
        payload.as_bytes(),
    )
    .unwrap();
    let body = text(&answer.body);
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (answer.status, value)
}

/// The runs recorded so far (read while other processes write).
fn runs(db: &str) -> Vec<Value> {
    let out = run_fleet(db, &["history", "--json", "--limit", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    json_of(&out).as_array().unwrap().clone()
}

/// Waits until `pred` holds for the recorded runs.
fn wait_for_runs(db: &str, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = runs(db);
        if pred(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {r:?}");
        std::thread::sleep(POLL);
    }
}

/// 8 `fleet run` processes and a run started over the JSON API of a `fleet serve`,
/// all at once on the same SQLite file and the same hosts: no process meets
/// "database is locked", each host runs exactly once, and every other session is
/// canceled as locked by the run that holds its host.
#[test]
fn concurrent_processes_share_one_database() {
    const CLI_RUNS: usize = 8;
    let s = Setup::new(3);
    let token = superuser_token(&s.db, "ops");
    let mut serve = Serve::start(&s.db, s.dir.path(), &[], &[]);
    // The command waits (bounded) for a file the test creates once all nine runs
    // are recorded, so that the run holding the hosts is still going while every
    // other one starts.
    let go = s.dir.path().join("go");
    let cmd = format!(
        "cmd=for i in $(seq 600); do [ -e {} ] && break; sleep 0.1; done; echo ran",
        go.display()
    );
    let mut children: Vec<Child> = (0..CLI_RUNS)
        .map(|_| {
            fleet(&s.db)
                .args([
                    "run", "command", "--model", "host", "--all", "--param", &cmd,
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let body = json!({
        "session": "command", "model": "host", "all": true,
        "params": {"cmd": cmd.trim_start_matches("cmd=")},
    });
    let (status, answer) = http(serve.port, "POST", "/api/runs", &token, Some(&body));
    assert_eq!(status, 201, "{answer}");
    let api_run = answer["run_id"].as_i64().unwrap();

    // Every run is recorded (a process that died on "database is locked" never is).
    let deadline = Instant::now() + WAIT;
    while runs(&s.db).len() < CLI_RUNS + 1 {
        for child in &mut children {
            if let Some(status) = child.try_wait().unwrap()
                && !matches!(status.code(), Some(0 | 4))
            {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                std::fs::write(&go, "").unwrap();
                panic!("a run died ({status}): {err}");
            }
        }
        assert!(Instant::now() < deadline, "the runs were not all recorded");
        std::thread::sleep(POLL);
    }
    std::fs::write(&go, "").unwrap();
    for child in children.drain(..) {
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 4)),
            "a run ended {code:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("locked"),
            "{}",
            text(&out.stderr)
        );
    }
    let all = wait_for_runs(&s.db, "every run ended", |r| {
        r.iter().all(|x| x["state"] != "running")
    });
    assert!(all.iter().any(|r| r["id"] == api_run));

    let mut ran: Vec<String> = Vec::new();
    for r in &all {
        let id = r["id"].as_i64().unwrap().to_string();
        let out = s.fleet_cmd(&["show", &id, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        for x in json_of(&out)["sessions"].as_array().unwrap() {
            let host = x["host"].as_str().unwrap().to_owned();
            if x["state"] == "completed" {
                assert_eq!(x["commands"][0]["stdout"], "ran\n", "{x}");
                ran.push(host);
            } else {
                assert_eq!(x["state"], "canceled", "{x}");
                let reason = x["reason"].as_str().unwrap();
                assert!(
                    reason.contains(&format!("host `{host}` is locked by run ")),
                    "{reason}"
                );
            }
        }
    }
    ran.sort();
    assert_eq!(ran, ["web-01", "web-02", "web-03"], "each host runs once");
    let (code, err) = serve.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("database is locked"), "{err}");
}

/// Lists the tables of an SQLite file (through the store's own driver).
fn tables(path: &Path) -> Vec<String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let mut c = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let mut names: Vec<String> =
        diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
            .load::<Name>(&mut c)
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
    names.sort();
    names
}

/// Read commands never create or migrate a database; only `migrate` and the
/// commands that start work do.
#[test]
fn read_commands_leave_foreign_and_missing_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.db");
    {
        use diesel::prelude::*;
        let mut c = SqliteConnection::establish(other.to_str().unwrap()).unwrap();
        diesel::sql_query("CREATE TABLE notes (body TEXT)")
            .execute(&mut c)
            .unwrap();
    }
    let other_db = other.to_str().unwrap();
    for args in [
        &["history"][..],
        &["show", "1"],
        &["items", "host"],
        &["hosts", "list"],
    ] {
        let out = run_fleet(other_db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("is not a Minke database (run `migrate`)"),
            "{args:?}: {err}"
        );
        assert_eq!(tables(&other), ["notes"], "{args:?} changed the file");
    }
    let missing = dir.path().join("missing.db");
    let out = run_fleet(missing.to_str().unwrap(), &["history"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists());
    // `sessions` and `models` need no database at all.
    assert_eq!(
        run_fleet(missing.to_str().unwrap(), &["sessions"])
            .status
            .code(),
        Some(0)
    );
    assert!(!missing.exists());
    // `migrate` creates it; then read commands work.
    let out = run_fleet(missing.to_str().unwrap(), &["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(tables(&missing).contains(&"minke_runs".to_owned()));
    assert_eq!(
        run_fleet(missing.to_str().unwrap(), &["history"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn database_urls_are_read_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_fleet("sqlite://", &["history"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("names no file"),
        "{}",
        text(&out.stderr)
    );
    let out = run_fleet("sqlite://", &["migrate"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let path = dir.path().join("x.db");
    let bad = format!("sqlite://{}?cache=shared", path.display());
    let out = run_fleet(&bad, &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unsupported parameter `cache=shared`"),
        "{}",
        text(&out.stderr)
    );
    // `mode=rwc` is honoured: the file is `x.db`, never `x.db?mode=rwc`.
    let rwc = format!("sqlite://{}?mode=rwc", path.display());
    let out = run_fleet(&rwc, &["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().all(|f| !f.contains('?')), "{files:?}");
    assert!(path.exists());
    // `mode=ro`: reads work, writes are refused.
    let ro = format!("sqlite://{}?mode=ro", path.display());
    assert_eq!(run_fleet(&ro, &["history"]).status.code(), Some(0));
    let out = run_fleet(&ro, &["users", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("read-only"),
        "{}",
        text(&out.stderr)
    );
    // `mode=rw` never creates.
    let absent = format!(
        "sqlite://{}?mode=rw",
        dir.path().join("absent.db").display()
    );
    assert_ne!(run_fleet(&absent, &["migrate"]).status.code(), Some(0));
    assert!(!dir.path().join("absent.db").exists());
}

/// Makes a file immutable (even root cannot write it) until dropped.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Immutable {
        let ok = Command::new("chattr").arg("+i").arg(path).status().unwrap();
        assert!(
            ok.success(),
            "chattr +i failed: the test needs root on ext4 or xfs"
        );
        Immutable(path.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// On a database file that cannot be written, read commands work and show a run
/// whose process died as interrupted (without recording it); once the file is
/// writable again, a read command closes it.
#[test]
fn read_only_files_are_read_and_dead_runs_shown_interrupted() {
    let s = Setup::new(1);
    // A run killed while its command runs: it stays `running` in the file.
    let mut child = fleet(&s.db)
        .args([
            "run",
            "command",
            "--model",
            "host",
            "--all",
            "--param",
            "cmd=sleep 60",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let recorded = wait_for_runs(&s.db, "the run to start", |r| r.len() == 1);
    let id = recorded[0]["id"].as_i64().unwrap().to_string();
    child.kill().unwrap();
    child.wait().unwrap();
    // Its host locks expire after the lock TTL; expire them now instead.
    {
        use diesel::prelude::*;
        let mut c = SqliteConnection::establish(&s.db).unwrap();
        diesel::sql_query("UPDATE minke_host_locks SET expires_at = 0")
            .execute(&mut c)
            .unwrap();
    }
    assert_eq!(stored_state(&s.db, &id), "running");
    let before = std::fs::read(&s.db).unwrap();
    {
        let _frozen = Immutable::set(Path::new(&s.db));
        let out = s.fleet_cmd(&["history", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(json_of(&out)[0]["state"], "interrupted");
        let out = s.fleet_cmd(&["show", &id, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let doc = json_of(&out);
        assert_eq!(doc["state"], "interrupted");
        assert_eq!(doc["sessions"][0]["reason"], "interrupted");
        assert_eq!(s.fleet_cmd(&["hosts", "list"]).status.code(), Some(0));
        assert_eq!(s.fleet_cmd(&["items", "host"]).status.code(), Some(0));
    }
    assert!(std::fs::read(&s.db).unwrap() == before, "the file changed");
    assert_eq!(stored_state(&s.db, &id), "running");
    // Writable again: the read command records the end.
    assert_eq!(s.fleet_cmd(&["history"]).status.code(), Some(0));
    assert_eq!(stored_state(&s.db, &id), "interrupted");
}

/// A run's state as the file records it.
fn stored_state(db: &str, id: &str) -> String {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct State {
        #[diesel(sql_type = diesel::sql_types::Text)]
        state: String,
    }
    let mut c = SqliteConnection::establish(db).unwrap();
    diesel::sql_query(format!("SELECT state FROM minke_runs WHERE id = {id}"))
        .get_result::<State>(&mut c)
        .unwrap()
        .state
}

/// `GET /api/me` with a token: the status.
fn me(port: u16, token: &str) -> u16 {
    http(port, "GET", "/api/me", token, None).0
}

/// Polls until the token gets `status` (bounded).
fn wait_for_status(port: u16, token: &str, status: u16) {
    let deadline = Instant::now() + WAIT;
    while me(port, token) != status {
        assert!(Instant::now() < deadline, "the token never got {status}");
        std::thread::sleep(POLL);
    }
}

fn users(db: &str, args: &[&str]) -> Output {
    let mut all = vec!["users"];
    all.extend_from_slice(args);
    fleet(db)
        .args(&all)
        .env("MINKE_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

fn new_token(db: &str, args: &[&str]) -> String {
    let out = users(db, &[&["token", "ops"][..], args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// `users tokens`, `revoke-token`, `token --expires`, `passwd`, `disable`,
/// `enable`, `remove` and `grant` through the binary, checked against a real
/// `fleet serve`.
#[test]
fn tokens_are_listed_expired_revoked_and_end_with_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.db").to_string_lossy().into_owned();
    let first = superuser_token(&db, "ops");
    let mut serve = Serve::start(&db, dir.path(), &[], &[]);
    assert_eq!(me(serve.port, &first), 200);

    let out = users(&db, &["tokens", "ops", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = json_of(&out);
    let first_id = listed[0]["id"].as_i64().unwrap();
    assert!(listed[0]["created_at"].as_i64().is_some());
    assert!(listed[0]["last_used_at"].as_i64().is_some(), "{listed}");
    let out = users(&db, &["tokens", "ops"]);
    let line = text(&out.stdout);
    assert!(
        line.starts_with(&format!("{first_id}\tcli\tcreated ")),
        "{line}"
    );
    assert!(
        line.contains("last used ") && !line.contains("never"),
        "{line}"
    );

    // Expiry.
    let short = new_token(&db, &["--expires", "1s"]);
    wait_for_status(serve.port, &short, 401);
    let out = users(&db, &["token", "ops", "--expires", "soon"]);
    assert_eq!(out.status.code(), Some(2));

    // Revoking by id.
    let out = users(&db, &["revoke-token", &first_id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(me(serve.port, &first), 401);
    let out = users(&db, &["revoke-token", &first_id.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no API token with id"),
        "{}",
        text(&out.stderr)
    );

    // A new password ends the tokens.
    let t = new_token(&db, &[]);
    assert_eq!(me(serve.port, &t), 200);
    assert_eq!(users(&db, &["passwd", "ops"]).status.code(), Some(0));
    assert_eq!(me(serve.port, &t), 401);

    // The last active superuser stays: disabling or removing ops is refused until
    // there is another.
    for cmd in ["disable", "remove"] {
        let out = users(&db, &[cmd, "ops"]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert!(
            text(&out.stderr).contains("last active superuser"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(
        users(&db, &["add", "keeper", "--superuser"]).status.code(),
        Some(0)
    );

    // Disable, enable, remove.
    let t = new_token(&db, &[]);
    assert_eq!(users(&db, &["disable", "ops"]).status.code(), Some(0));
    assert_eq!(me(serve.port, &t), 401);
    assert_eq!(users(&db, &["enable", "ops"]).status.code(), Some(0));
    assert_eq!(me(serve.port, &t), 200);
    assert_eq!(users(&db, &["remove", "ops"]).status.code(), Some(0));
    assert_eq!(me(serve.port, &t), 401);
    let out = users(&db, &["list"]);
    assert!(!text(&out.stdout).contains("ops"), "{}", text(&out.stdout));

    // Grants of permissions nothing defines are refused, naming the valid ones.
    assert_eq!(users(&db, &["add", "lim"]).status.code(), Some(0));
    let out = users(&db, &["grant", "lim", "view_srever"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unknown permission `view_srever`"), "{err}");
    assert!(
        err.contains("view_server") && err.contains("run_command"),
        "{err}"
    );
    assert_eq!(
        users(&db, &["grant", "lim", "view_server"]).status.code(),
        Some(0)
    );

    // Oversized filters are refused with 400 over the API and exit 2 at the CLI;
    // 40,000 ids are no longer "too many SQL variables".
    let admin = superuser_token(&db, "root2");
    let long = vec!["port > 1"; 1000].join(" and ");
    let body =
        json!({"session": "command", "model": "host", "filter": long, "params": {"cmd": "true"}});
    let (status, answer) = http(serve.port, "POST", "/api/runs", &admin, Some(&body));
    assert_eq!(status, 400, "{answer}");
    let out = run_fleet(&db, &["items", "host", "--filter", &long]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("at most"),
        "{}",
        text(&out.stderr)
    );
    let ids: Vec<i64> = (1..=40_000).collect();
    let body =
        json!({"session": "command", "model": "host", "ids": ids, "params": {"cmd": "true"}});
    let (status, answer) = http(serve.port, "POST", "/api/runs", &admin, Some(&body));
    assert_eq!(status, 400, "{answer}");
    let (code, err) = serve.stop();
    assert_eq!(code, Some(0), "{err}");

    // The audit log has every change made at the command line, newest first.
    let out = run_fleet(&db, &["audit", "--json", "--limit", "100"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let entries = json_of(&out);
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for wanted in [
        "user_added",
        "token_created",
        "token_revoked",
        "password_set",
        "user_disabled",
        "user_enabled",
        "user_removed",
        "permission_granted",
    ] {
        assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
    }
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["via"] == "cli")
    );
    let removed = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user_removed")
        .unwrap();
    assert_eq!(removed["target"], "user ops");
    let out = run_fleet(&db, &["audit", "--action", "permission_granted"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("permission granted") && shown.contains("view_server"),
        "{shown}"
    );
    assert!(!shown.contains("user removed"), "{shown}");
    let out = run_fleet(&db, &["audit", "--action", "everything"]);
    assert_eq!(out.status.code(), Some(2));
}
