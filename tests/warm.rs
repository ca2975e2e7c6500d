//! Warm connections against real sshd: one login per host over two runs, a new one
//! after the server closed the kept connection (no failure recorded), after the
//! host's record changed (from another database connection) and after the idle time.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use minke::runtime::{Config, Engine, RunRequest, RunSummary};
use minke::store::Query;
use minke::{Params, State, Status};
use minke_e2e::Env;

fn keeping(idle: Duration) -> Config {
    Config {
        keep_connections: Some(idle),
        ..Config::default()
    }
}

async fn run(env: &Env) -> RunSummary {
    let req = RunRequest {
        session: "command".into(),
        model: "host".into(),
        query: Query::all(),
        params: Params::from_pairs([("cmd", "uname -n")]),
        username: "tester".into(),
    };
    let s = env.engine.start(req).await.unwrap().wait().await.unwrap();
    env.store.flush().await.unwrap();
    assert!(
        s.sessions
            .iter()
            .all(|x| x.state == State::Completed && x.status == Some(Status::Success)),
        "{s:?}"
    );
    s
}

fn logins(env: &Env) -> Vec<usize> {
    env.fleet
        .servers()
        .iter()
        .map(|s| s.login_count())
        .collect()
}

/// Waits (at most 20 s) until `ok` holds; fails saying `what` did not happen.
async fn wait_for(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_kept(engine: &Engine, n: usize) {
    wait_for(&format!("the engine keeps {n} connections"), || {
        engine.kept_connections() == n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_log_in_once_per_host() {
    let env = Env::start(3, 1, keeping(Duration::from_secs(60)), None).await;
    run(&env).await;
    run(&env).await;
    assert_eq!(logins(&env), [1, 1, 1]);
    assert_eq!(env.engine.kept_connections(), 3);
    env.engine.close_kept_connections().await;
    assert_eq!(env.engine.kept_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keeping_each_run_logs_in() {
    let env = Env::start(3, 1, Config::default(), None).await;
    run(&env).await;
    run(&env).await;
    assert_eq!(logins(&env), [2, 2, 2]);
    assert_eq!(env.engine.kept_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_the_server_closed_is_replaced_without_a_failure() {
    let mut env = Env::start(2, 1, keeping(Duration::from_secs(60)), None).await;
    run(&env).await;
    assert_eq!(env.engine.kept_connections(), 2);
    // The server restarts: the kept connection (its sshd session) is gone.
    env.fleet.server_mut(0).unwrap().restart().unwrap();
    let s = run(&env).await;
    assert_eq!(logins(&env), [2, 1]);
    // Nothing but the command's own output in the history: no failure, no retry.
    for x in &s.sessions {
        let id = x.session_id;
        let msgs = env
            .store
            .blocking(move |c| minke::store::session_messages(c, id))
            .await
            .unwrap();
        assert!(msgs.iter().all(|m| m.level == "info"), "{msgs:?}");
    }
    assert_eq!(env.engine.kept_connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_record_drops_the_kept_connection() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("warm.db").to_string_lossy().into_owned();
    let env = Env::start(2, 1, keeping(Duration::from_secs(60)), Some(db.clone())).await;
    run(&env).await;
    let disconnects = |env: &Env| env.fleet.servers()[1].count_log("Disconnected from user");
    assert_eq!(disconnects(&env), 0, "the connection is kept");
    // Another connection to the database (as another process would) points the
    // second host at a copy of its known_hosts file: still reachable, not the same.
    let copy = dir.path().join("known_hosts.copy");
    std::fs::copy(env.fleet.known_hosts(), &copy).unwrap();
    let mut host = env.fleet.new_hosts().remove(1);
    host.known_hosts = Some(copy.to_string_lossy().into_owned());
    let mut other = minke_e2e::open(&db);
    minke::store::upsert_host(&mut other, &host).unwrap();
    drop(other);
    run(&env).await;
    assert_eq!(logins(&env), [1, 2]);
    let log = env.fleet.servers()[1].log();
    wait_for(
        &format!("the old connection is closed; log:\n{log}"),
        || disconnects(&env) == 1,
    )
    .await;
    assert_eq!(env.engine.kept_connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_connection_is_closed() {
    let env = Env::start(2, 1, keeping(Duration::from_millis(300)), None).await;
    run(&env).await;
    assert_eq!(logins(&env), [1, 1]);
    wait_kept(&env.engine, 0).await;
    wait_for("sshd sees both connections closed", || {
        env.fleet
            .servers()
            .iter()
            .all(|s| s.count_log("Disconnected from user") == 1)
    })
    .await;
    run(&env).await;
    assert_eq!(logins(&env), [2, 2]);
}
