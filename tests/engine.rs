//! The engine end to end: real sshd servers on loopback, history in SQLite/PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use minke::runtime::{Config, RunRequest, RunSummary, Stop};
use minke::store::{self, Query};
use minke::{HostId, Params, RunId, SessionId, State, Status};
use minke_e2e::Env;

fn req(session: &str, model: &str, query: Query, params: &[(&str, &str)]) -> RunRequest {
    RunRequest {
        session: session.into(),
        model: model.into(),
        query,
        params: Params::from_pairs(params.iter().copied()),
        username: "tester".into(),
    }
}

async fn run(env: &Env, r: RunRequest) -> RunSummary {
    let h = env.engine.start(r).await.unwrap();
    let s = h.wait().await.unwrap();
    env.store.flush().await.unwrap();
    s
}

async fn commands(env: &Env, session_id: SessionId) -> Vec<store::CommandRow> {
    env.store
        .blocking(move |c| store::session_commands(c, session_id))
        .await
        .unwrap()
}

async fn messages(env: &Env, session_id: SessionId) -> Vec<String> {
    let rows = env
        .store
        .blocking(move |c| store::session_messages(c, session_id))
        .await
        .unwrap();
    rows.into_iter()
        .map(|m| format!("{}: {}", m.level, m.body))
        .collect()
}

/// Seconds for `sleep` unique to this test process and `tag`, so that its remote
/// `sleep` can be found by its own command line.
fn unique_secs(tag: u32) -> String {
    format!("{}.{tag}1", 200 + std::process::id() % 700)
}

/// Waits (at most 20 s) until the number of remote `sleep SECS` processes is `ok`;
/// fails saying `what` did not happen.
async fn wait_sleeping(secs: &str, what: &str, ok: impl Fn(usize) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ok(sleeping(secs)) {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many `sleep SECS` processes run (the remote commands: the hosts are this
/// machine).
fn sleeping(secs: &str) -> usize {
    minke_testkit::find_command(&format!("sleep {secs}")).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_hosts_serial_per_host_within_global_limit() {
    let config = Config {
        concurrency: 8,
        ..Config::default()
    };
    let env = Env::start(50, 2, config, None).await;
    let s = run(
        &env,
        req("sleep", "server", Query::all(), &[("secs", "0.2")]),
    )
    .await;
    assert_eq!(s.sessions.len(), 100);
    assert!(
        s.sessions
            .iter()
            .all(|x| x.state == State::Completed && x.status == Some(Status::Success)),
        "{s:?}"
    );
    // Intervals from the recorded command timings.
    let mut by_host: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    let mut all = Vec::new();
    for x in &s.sessions {
        let cmds = commands(&env, x.session_id).await;
        assert_eq!(cmds.len(), 1);
        let iv = (cmds[0].started_at, cmds[0].started_at + cmds[0].duration_us);
        by_host.entry(x.host.clone().unwrap()).or_default().push(iv);
        all.push(iv);
    }
    for (host, mut ivs) in by_host {
        ivs.sort();
        assert_eq!(ivs.len(), 2);
        assert!(
            ivs[0].1 <= ivs[1].0,
            "sessions on {host} overlapped: {ivs:?}"
        );
    }
    let mut edges: Vec<(i64, i32)> = all.iter().flat_map(|(a, b)| [(*a, 1), (*b, -1)]).collect();
    edges.sort();
    let (mut now, mut max) = (0, 0);
    for (_, d) in edges {
        now += d;
        max = max.max(now);
    }
    assert!(max <= 8, "{max} sessions ran at once, limit 8");
    assert!(max >= 2, "sessions did not run concurrently at all");
    // One connection per host for its five sessions.
    for server in env.fleet.servers() {
        assert_eq!(server.login_count(), 1, "{}", server.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_field_writes_back_and_parallel_per_host() {
    let env = Env::start(2, 2, Config::default(), None).await;
    let s = run(&env, req("kernel", "server", Query::all(), &[])).await;
    assert!(
        s.sessions.iter().all(|x| x.status == Some(Status::Success)),
        "{s:?}"
    );
    let local = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .unwrap();
    let local = String::from_utf8(local.stdout).unwrap().trim().to_owned();
    let servers = env
        .store
        .blocking(|c| <minke_e2e::Server as minke::StoredModel>::load(c, &Query::all()))
        .await
        .unwrap();
    assert_eq!(servers.len(), 4);
    for sv in &servers {
        assert_eq!(sv.kernel.as_deref(), Some(local.as_str()));
        assert_eq!(sv.note.as_deref(), Some(local.as_str()));
    }
    // A failing update_field: warning, field untouched, error message.
    let s = run(
        &env,
        req("bad_field", "server", Query::ids([servers[0].id]), &[]),
    )
    .await;
    assert_eq!(s.sessions[0].status, Some(Status::Warning));
    let msgs = messages(&env, s.sessions[0].session_id).await;
    assert!(msgs.iter().any(|m| m.contains("not updated")), "{msgs:?}");
    let again = env
        .store
        .blocking(move |c| <minke_e2e::Server as minke::StoredModel>::load_one(c, servers[0].id))
        .await
        .unwrap();
    assert_eq!(again.note.as_deref(), Some(local.as_str()));
    // Parallel per host: two sessions on one host overlap.
    let s = run(
        &env,
        req(
            "parallel_sleep",
            "server",
            Query::filter("host_id = 1").unwrap(),
            &[("secs", "0.5")],
        ),
    )
    .await;
    assert_eq!(s.sessions.len(), 2);
    let a = commands(&env, s.sessions[0].session_id).await.remove(0);
    let b = commands(&env, s.sessions[1].session_id).await.remove(0);
    assert!(
        a.started_at < b.started_at + b.duration_us && b.started_at < a.started_at + a.duration_us
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_break_states_and_panics() {
    let env = Env::start(3, 1, Config::default(), None).await;
    let s = run(&env, req("break_on_error", "host", Query::ids([1]), &[])).await;
    assert_eq!(s.sessions[0].status, Some(Status::Error));
    let cmds: Vec<String> = commands(&env, s.sessions[0].session_id)
        .await
        .into_iter()
        .map(|c| c.command)
        .collect();
    assert_eq!(cmds, ["true", "echo to-stderr >&2", "false"]);

    let s = run(&env, req("break_on_warning", "host", Query::ids([1]), &[])).await;
    assert_eq!(s.sessions[0].status, Some(Status::Warning));
    assert_eq!(commands(&env, s.sessions[0].session_id).await.len(), 2);

    let s = run(&env, req("session_chain", "host", Query::ids([1]), &[])).await;
    assert_eq!(s.sessions[0].status, Some(Status::Error));
    let cmds: Vec<String> = commands(&env, s.sessions[0].session_id)
        .await
        .into_iter()
        .map(|c| c.command)
        .collect();
    assert_eq!(
        cmds,
        ["exit 5"],
        "the chain must stop after the failing session"
    );
    let msgs = messages(&env, s.sessions[0].session_id).await;
    assert!(
        msgs.iter()
            .any(|m| m.contains("finished with status error")),
        "{msgs:?}"
    );

    let s = run(&env, req("panicky", "host", Query::all(), &[])).await;
    let states: Vec<(State, Option<String>)> = s
        .sessions
        .iter()
        .map(|x| (x.state, x.reason.clone()))
        .collect();
    assert_eq!(states[0].0, State::Completed);
    assert_eq!(states[1], (State::Failed, Some("session_error".into())));
    assert_eq!(states[2].0, State::Completed);
    let msgs = messages(&env, s.sessions[1].session_id).await;
    assert!(
        msgs.iter().any(|m| m.contains("boom on purpose")),
        "{msgs:?}"
    );
    // The panicking session's host lock was released: the host runs again.
    let s = run(
        &env,
        req("command", "host", Query::all(), &[("cmd", "echo again")]),
    )
    .await;
    assert!(
        s.sessions.iter().all(|x| x.status == Some(Status::Success)),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_locked_refused_and_wrong_key_hosts() {
    let env = Env::start(4, 1, Config::default(), None).await;
    let (h_disabled, h_locked, h_refused, h_badkey) = (
        env.host_ids[0],
        env.host_ids[1],
        env.host_ids[2],
        env.host_ids[3],
    );
    let other_key = env.fleet.generate_key("not-authorized", None).unwrap();
    let other_key = other_key.private.to_string_lossy().into_owned();
    env.store
        .write(move |c| {
            minke::store::with_conn!(c, |c, B| {
                use diesel::prelude::*;
                use minke::store::schema::minke_hosts as h;
                diesel::update(h::table.find(h_disabled))
                    .set(h::disabled.eq(true))
                    .execute(c)
                    .unwrap();
                diesel::update(h::table.find(h_refused))
                    .set(h::port.eq(1))
                    .execute(c)
                    .unwrap();
                diesel::update(h::table.find(h_badkey))
                    .set(h::identity_files.eq(other_key))
                    .execute(c)
                    .unwrap();
            });
            minke::store::acquire_host_locks(c, RunId::new(999_999), &[h_locked], 60_000_000)?;
            Ok(())
        })
        .await
        .unwrap();
    let s = run(
        &env,
        req("command", "host", Query::all(), &[("cmd", "echo hi")]),
    )
    .await;
    let by: BTreeMap<HostId, _> = s
        .sessions
        .iter()
        .map(|x| (HostId::new(x.object_id), x))
        .collect();
    assert_eq!(by[&h_disabled].state, State::Canceled);
    assert!(
        by[&h_disabled]
            .reason
            .as_deref()
            .unwrap()
            .contains("disabled")
    );
    assert_eq!(by[&h_locked].state, State::Canceled);
    assert!(
        by[&h_locked]
            .reason
            .as_deref()
            .unwrap()
            .contains("locked by run 999999")
    );
    assert_eq!(
        (by[&h_refused].state, by[&h_refused].reason.as_deref()),
        (State::Failed, Some("connect_refused"))
    );
    assert_eq!(
        (by[&h_badkey].state, by[&h_badkey].reason.as_deref()),
        (State::Failed, Some("authentication"))
    );
    // Everything is in the history, with a message saying why.
    let rows = env
        .store
        .blocking(move |c| store::run_sessions(c, s.run_id))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert!(r.finished_at.is_some(), "{r:?}");
        let msgs = messages(&env, r.id).await;
        assert!(
            !msgs.is_empty(),
            "session {} has no message",
            r.object_label
        );
    }
    assert_eq!(
        rows.iter()
            .find(|r| r.object_id == h_locked.get())
            .unwrap()
            .state,
        State::Canceled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_queued_then_kills_running() {
    let config = Config {
        concurrency: 1,
        ..Config::default()
    };
    let env = Env::start(3, 1, config, None).await;
    let secs = unique_secs(1);
    let h = env
        .engine
        .start(req(
            "sleep",
            "host",
            Query::all(),
            &[("secs", secs.as_str())],
        ))
        .await
        .unwrap();
    let c = h.canceller();
    wait_sleeping(&secs, "the remote sleep never started", |n| n > 0).await;
    assert_eq!(c.cancel(), Stop::AfterCommand);
    // A check that nothing happens: the first cancel must let the running command
    // go on, here for half a second.
    let until = std::time::Instant::now() + Duration::from_millis(500);
    while std::time::Instant::now() < until {
        assert_eq!(
            sleeping(&secs),
            1,
            "the first cancel must let the running command go on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.cancel(), Stop::Now);
    let s = tokio::time::timeout(Duration::from_secs(20), h.wait())
        .await
        .unwrap()
        .unwrap();
    let mut states: Vec<State> = s.sessions.iter().map(|x| x.state).collect();
    states.sort();
    assert_eq!(
        states,
        [State::Stopped, State::Canceled, State::Canceled],
        "{s:?}"
    );
    wait_sleeping(&secs, "the remote sleep is still running", |n| n == 0).await;
    env.store.flush().await.unwrap();
    let run = env
        .store
        .blocking(move |c| store::get_run(c, s.run_id))
        .await
        .unwrap();
    assert_eq!(run.state, minke::RunState::Canceled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_fails_session_and_kills_remote() {
    let config = Config {
        command_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let env = Env::start(1, 1, config, None).await;
    let secs = unique_secs(2);
    let h = env
        .engine
        .start(req(
            "sleep",
            "host",
            Query::all(),
            &[("secs", secs.as_str())],
        ))
        .await
        .unwrap();
    // The remote sleep runs (so its absence later means it was killed)...
    wait_sleeping(&secs, "no remote sleep", |n| n > 0).await;
    let s = h.wait().await.unwrap();
    assert_eq!(
        (s.sessions[0].state, s.sessions[0].reason.as_deref()),
        (State::Failed, Some("command_timeout"))
    );
    wait_sleeping(&secs, "the remote sleep outlived its timeout", |n| n == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_clear_errors_and_record_nothing() {
    let env = Env::start(1, 1, Config::default(), None).await;
    let err = |r| {
        let e = env.engine.clone();
        async move { e.start(r).await.unwrap_err().to_string() }
    };
    assert!(
        err(req("nope", "host", Query::all(), &[]))
            .await
            .contains("unknown session `nope`")
    );
    assert!(
        err(req("kernel", "host", Query::all(), &[]))
            .await
            .contains("does not work on model `host`")
    );
    assert!(
        err(req("command", "galaxy", Query::all(), &[]))
            .await
            .contains("unknown model `galaxy`")
    );
    assert!(
        err(req("command", "host", Query::all(), &[]))
            .await
            .contains("`cmd`: is required")
    );
    assert!(
        err(req(
            "command",
            "host",
            Query::all(),
            &[("cmd", "x"), ("oops", "1")]
        ))
        .await
        .contains("`oops`")
    );
    assert!(
        err(req("sleep", "host", Query::all(), &[("secs", "soon")]))
            .await
            .contains("`secs`")
    );
    let e = err(req(
        "command",
        "host",
        Query::filter("colour = red").unwrap(),
        &[("cmd", "x")],
    ))
    .await;
    assert!(e.contains("no filterable field `colour`"), "{e}");
    let e = err(req(
        "command",
        "host",
        Query::filter("name = nobody").unwrap(),
        &[("cmd", "x")],
    ))
    .await;
    assert!(e.contains("empty"), "{e}");
    let runs = env
        .store
        .blocking(|c| store::list_runs(c, 10, 0))
        .await
        .unwrap();
    assert!(runs.is_empty(), "a rejected request must not be recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_history_and_three_level_models() {
    let env = Env::start(2, 1, Config::default(), None).await;
    let s = run(
        &env,
        req("with_secret", "host", Query::all(), &[("token", "hunter2")]),
    )
    .await;
    assert!(
        s.sessions.iter().all(|x| x.status == Some(Status::Success)),
        "{s:?}"
    );
    let cmds = commands(&env, s.sessions[0].session_id).await;
    assert!(!cmds[0].command.contains("hunter2"), "{}", cmds[0].command);
    let run = env
        .store
        .blocking(move |c| store::get_run(c, s.run_id))
        .await
        .unwrap();
    assert!(!run.params.contains("hunter2"), "{}", run.params);
    // Web apps reach their host through their server.
    let s = run_req(&env, "web_app").await;
    assert_eq!(s.sessions.len(), 2);
    assert!(
        s.sessions.iter().all(|x| x.status == Some(Status::Success)),
        "{s:?}"
    );
    let hosts: Vec<String> = s.sessions.iter().map(|x| x.host.clone().unwrap()).collect();
    assert_eq!(hosts, ["host-001", "host-002"]);
}

async fn run_req(env: &Env, model: &str) -> RunSummary {
    run(
        env,
        req("command", model, Query::all(), &[("cmd", "hostname")]),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_on_postgres() {
    let admin = std::env::var("MINKE_TEST_PG_URL")
        .expect("MINKE_TEST_PG_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL");
    let db = minke_testkit::PgDatabase::create(&admin, "e2e").unwrap();
    let env = Env::start(3, 2, Config::default(), Some(db.url().to_owned())).await;
    let s = run(&env, req("kernel", "server", Query::all(), &[])).await;
    assert_eq!(s.sessions.len(), 6);
    assert!(
        s.sessions.iter().all(|x| x.status == Some(Status::Success)),
        "{s:?}"
    );
    let s2 = run(
        &env,
        req(
            "command",
            "web_app",
            Query::search("app-001"),
            &[("cmd", "printf '\\377x'")],
        ),
    )
    .await;
    let cmds = commands(&env, s2.sessions[0].session_id).await;
    assert_eq!(cmds[0].stdout, b"\xffx");
    let runs = env
        .store
        .blocking(|c| store::list_runs(c, 10, 0))
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.state == minke::RunState::Done));
    drop(env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_cap_truncation_and_live_events() {
    let config = Config {
        output_cap: 1000,
        ..Config::default()
    };
    let env = Env::start(1, 1, config, None).await;
    let mut events = env.engine.subscribe();
    let s = run(
        &env,
        req(
            "command",
            "host",
            Query::all(),
            &[("cmd", "seq 1 10000; echo done >&2")],
        ),
    )
    .await;
    assert_eq!(s.sessions[0].status, Some(Status::Warning));
    let c = commands(&env, s.sessions[0].session_id).await.remove(0);
    let full: String = (1..=10000).map(|i| format!("{i}\n")).collect();
    assert_eq!(c.stdout.len(), 1000);
    assert_eq!(c.stdout, full.as_bytes()[..1000]);
    assert!(c.stdout_truncated && !c.stderr_truncated);
    assert_eq!(
        c.stdout_len,
        full.len() as i64,
        "the total is counted even past the cap"
    );
    // Every byte went out as live events, in order.
    let mut seen = Vec::new();
    let mut states = Vec::new();
    while let Ok(ev) = events.try_recv() {
        match ev {
            minke::runtime::Event::Output {
                stream: minke::runtime::OutputStream::Stdout,
                data,
                ..
            } => seen.extend_from_slice(&data),
            minke::runtime::Event::SessionState { state, .. } => states.push(state),
            _ => {}
        }
    }
    assert_eq!(String::from_utf8(seen).unwrap(), full);
    assert_eq!(states, [State::Running, State::Completed]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_sessions_on_sqlite() {
    let config = Config {
        concurrency: 200,
        ..Config::default()
    };
    let env = Env::start(40, 5, config, None).await;
    let s = run(
        &env,
        req("parallel_sleep", "server", Query::all(), &[("secs", "0.5")]),
    )
    .await;
    assert_eq!(s.sessions.len(), 200);
    assert!(
        s.sessions
            .iter()
            .all(|x| x.state == State::Completed && x.status == Some(Status::Success)),
        "{s:?}"
    );
    let rows = env
        .store
        .blocking(move |c| store::run_sessions(c, s.run_id))
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.state == State::Completed && r.finished_at.is_some())
    );
    let mut with_command = 0;
    for r in &rows {
        with_command += commands(&env, r.id).await.len();
    }
    assert_eq!(with_command, 200, "every command is in the history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_one_session_of_a_run() {
    let env = Env::start(2, 1, Config::default(), None).await;
    let secs = unique_secs(3);
    let h = env
        .engine
        .start(req(
            "sleep",
            "host",
            Query::all(),
            &[("secs", secs.as_str())],
        ))
        .await
        .unwrap();
    let run_id = h.run_id;
    wait_sleeping(&secs, "the remote sleeps never started", |n| n >= 2).await;
    assert_eq!(env.engine.active_runs(), [run_id]);
    let rows = env
        .store
        .blocking(move |c| store::run_sessions(c, run_id))
        .await
        .unwrap();
    let first = rows[0].id;
    assert_eq!(
        env.engine.cancel_session(run_id, first),
        Some(Stop::AfterCommand)
    );
    assert_eq!(env.engine.cancel_session(run_id, first), Some(Stop::Now));
    assert_eq!(
        env.engine.cancel_session(run_id, SessionId::new(424_242)),
        None
    );
    // The stopped session's command goes; the other one goes on.
    wait_sleeping(
        &secs,
        "the stopped session's command is still running",
        |n| n <= 1,
    )
    .await;
    assert_eq!(
        sleeping(&secs),
        1,
        "exactly the stopped session's command is gone"
    );
    // Stop the other one as a whole run.
    assert_eq!(env.engine.cancel_run(run_id), Some(Stop::AfterCommand));
    assert_eq!(env.engine.cancel_run(run_id), Some(Stop::Now));
    let s = tokio::time::timeout(Duration::from_secs(20), h.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.sessions.iter().all(|x| x.state == State::Stopped),
        "{s:?}"
    );
    assert!(env.engine.active_runs().is_empty());
    assert_eq!(env.engine.cancel_run(run_id), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_transport_runs_a_thousand_hosts_with_history() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("mock.db").to_string_lossy().into_owned();
    let store = minke::Store::open_with(&url, minke_e2e::MIGRATIONS)
        .await
        .unwrap();
    store
        .write(|c| {
            for i in 0..1000 {
                let mut h = minke::store::NewHost::new(format!("mock-{i:04}"));
                h.hostname = Some("127.0.0.1".into());
                minke::store::upsert_host(c, &h)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let (sessions, models) = minke_e2e::registry();
    let engine = minke::runtime::Engine::with_transport(
        store.clone(),
        sessions,
        models,
        minke::runtime::HostSource::of::<minke::HostRecord>(),
        Config {
            concurrency: 500,
            ..Config::default()
        },
        std::sync::Arc::new(minke::runtime::MockTransport::default()),
    );
    let h = engine
        .start(req("command", "host", Query::all(), &[("cmd", "uname -a")]))
        .await
        .unwrap();
    let s = h.wait().await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(s.sessions.len(), 1000);
    assert!(s.sessions.iter().all(|x| x.status == Some(Status::Success)));
    let run_id = s.run_id;
    let rows = store
        .blocking(move |c| store::run_sessions(c, run_id))
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.state == State::Completed));
    let last = rows.last().unwrap().id;
    let cmds = store
        .blocking(move |c| store::session_commands(c, last))
        .await
        .unwrap();
    assert_eq!(cmds[0].stdout, b"uname -a\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connects_are_retried_with_backoff() {
    let config = Config {
        connect_retries: 3,
        connect_backoff: Duration::from_secs(1),
        ..Config::default()
    };
    let mut env = Env::start(2, 1, config, None).await;
    env.fleet.server_mut(0).unwrap().kill();
    let h = env
        .engine
        .start(req("command", "host", Query::all(), &[("cmd", "echo up")]))
        .await
        .unwrap();
    // The first connect is refused at once; the server comes back well within the
    // first pause (a second).
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.fleet.server_mut(0).unwrap().restart().unwrap();
    let s = h.wait().await.unwrap();
    assert!(
        s.sessions.iter().all(|x| x.status == Some(Status::Success)),
        "{s:?}"
    );
    // The history says that the first host took retries (and so proves there were).
    let first = s
        .sessions
        .iter()
        .find(|x| x.host.as_deref() == Some("host-001"))
        .unwrap();
    let msgs = messages(&env, first.session_id).await;
    assert!(
        msgs.iter().any(|m| m.contains("connected after")
            && m.contains("the first try failed")
            && m.contains("connection refused")),
        "{msgs:?}"
    );
    // Without retries a refused connect fails at once with its reason.
    env.fleet.server_mut(1).unwrap().kill();
    let s = run(
        &env,
        req(
            "command",
            "host",
            Query::ids([env.host_ids[1]]),
            &[("cmd", "echo up")],
        ),
    )
    .await;
    assert_eq!(s.sessions[0].reason.as_deref(), Some("connect_refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_hosts_share_one_connection() {
    let mut env = Env::start(3, 1, Config::default(), None).await;
    let (bastion, a, b) = (env.host_ids[0], env.host_ids[1], env.host_ids[2]);
    let set_jumps = |env: &Env, pairs: Vec<(HostId, Option<HostId>)>| {
        let store = env.store.clone();
        async move {
            store
                .write(move |c| {
                    minke::store::with_conn!(c, |c, B| {
                        use diesel::prelude::*;
                        use minke::store::schema::minke_hosts as h;
                        for (id, jump) in &pairs {
                            diesel::update(h::table.find(*id))
                                .set(h::jump_host_id.eq(*jump))
                                .execute(c)
                                .unwrap();
                        }
                    });
                    Ok(())
                })
                .await
                .unwrap();
        }
    };
    set_jumps(&env, vec![(a, Some(bastion)), (b, Some(bastion))]).await;
    let s = run(
        &env,
        req(
            "command",
            "host",
            Query::ids([a, b]),
            &[("cmd", "echo via")],
        ),
    )
    .await;
    assert!(
        s.sessions.iter().all(|x| x.status == Some(Status::Success)),
        "{s:?}"
    );
    // One connection to the bastion carried both hosts' sessions.
    assert_eq!(
        env.fleet.servers()[0].login_count(),
        1,
        "{}",
        env.fleet.servers()[0].log()
    );
    assert_eq!(env.fleet.servers()[1].login_count(), 1);
    assert_eq!(env.fleet.servers()[2].login_count(), 1);

    // A jump host that is down fails the hosts behind it with the reason.
    env.fleet.server_mut(0).unwrap().kill();
    let cfg = Config {
        connect_retries: 0,
        ..Config::default()
    };
    let (sessions, models) = minke_e2e::registry();
    let engine = minke::runtime::Engine::new(
        env.store.clone(),
        sessions,
        models,
        minke::runtime::HostSource::of::<minke::HostRecord>(),
        cfg,
    );
    let h = engine
        .start(req(
            "command",
            "host",
            Query::ids([a]),
            &[("cmd", "echo via")],
        ))
        .await
        .unwrap();
    let s = h.wait().await.unwrap();
    assert_eq!(
        (s.sessions[0].state, s.sessions[0].reason.as_deref()),
        (State::Failed, Some("connect_refused"))
    );

    // A loop of jump hosts is a clear error before anything runs.
    set_jumps(&env, vec![(a, Some(b)), (b, Some(a))]).await;
    let e = env
        .engine
        .start(req("command", "host", Query::ids([a]), &[("cmd", "x")]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("loop"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timeout_fails_session_and_kills_remote() {
    let env = Env::start(1, 1, Config::default(), None).await;
    let secs = unique_secs(4);
    let h = env
        .engine
        .start(req(
            "slowpoke",
            "host",
            Query::all(),
            &[("secs", secs.as_str())],
        ))
        .await
        .unwrap();
    wait_sleeping(&secs, "no remote sleep", |n| n > 0).await;
    let s = h.wait().await.unwrap();
    assert_eq!(
        (s.sessions[0].state, s.sessions[0].reason.as_deref()),
        (State::Failed, Some("session_timeout"))
    );
    wait_sleeping(
        &secs,
        "the remote command outlived the session timeout",
        |n| n == 0,
    )
    .await;
    let msgs = messages(&env, s.sessions[0].session_id).await;
    assert!(msgs.iter().any(|m| m.contains("timed out")), "{msgs:?}");
}

/// Two hundred host records that all reach one sshd (a gateway, say) with its default
/// `MaxStartups 10:30:100`: with at most 8 handshakes in flight per server none is
/// dropped, and every session succeeds, each on its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_hosts_on_one_server_stay_under_max_startups() {
    let env = Env::start(1, 0, Config::default(), None).await;
    let first = env.host_ids[0];
    let aliases = env
        .store
        .write(move |c| {
            use minke::store::StoredModel as _;
            let h = minke::HostRecord::load_one(c, first.get())?;
            let mut ids = vec![first];
            for i in 1..200 {
                let mut n = minke::store::NewHost::new(format!("alias-{i:03}"));
                n.hostname = h.hostname.clone();
                n.port = h.port;
                n.username = h.username.clone();
                n.identity_files = h.identity_files.clone();
                n.known_hosts = h.known_hosts.clone();
                ids.push(minke::store::upsert_host(c, &n)?);
            }
            Ok(ids)
        })
        .await
        .unwrap();
    let logins_before = env.fleet.server(0).unwrap().login_count();
    let s = run(
        &env,
        req(
            "command",
            "host",
            Query::ids(aliases.clone()),
            &[("cmd", "echo up")],
        ),
    )
    .await;
    assert_eq!(s.sessions.len(), 200);
    let failed: Vec<_> = s
        .sessions
        .iter()
        .filter(|x| x.status != Some(Status::Success))
        .collect();
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    let logins = env.fleet.server(0).unwrap().login_count() - logins_before;
    assert_eq!(logins, 200, "one connection per host record");
}

/// A sudoers rule for one account, removed on drop.
struct Sudoer(std::path::PathBuf);

impl Sudoer {
    fn allow(user: &str) -> Sudoer {
        Sudoer::rule(user, "ALL")
    }

    fn allow_without_password(user: &str) -> Sudoer {
        Sudoer::rule(user, "NOPASSWD: ALL")
    }

    fn rule(user: &str, what: &str) -> Sudoer {
        let path = std::path::PathBuf::from(format!("/etc/sudoers.d/{user}"));
        std::fs::write(&path, format!("{user} ALL=(ALL) {what}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
        Sudoer(path)
    }
}

impl Drop for Sudoer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One sshd taking passwords, and an engine logging in with `login` as password
/// (no agent, no key): for throwaway accounts. Returns the engine's config too.
async fn password_login_env(login: &str) -> (Env, Config) {
    let options = minke_testkit::ServerOptions {
        extra_config: vec![
            "PasswordAuthentication yes".into(),
            "KbdInteractiveAuthentication no".into(),
        ],
        ..minke_testkit::ServerOptions::default()
    };
    let mut config = Config::default();
    config.connect.password = Some(minke::Secret::new(login));
    config.connect.use_agent = false;
    let env = Env::start_with(1, &options, 1, config.clone(), None).await;
    (env, config)
}

/// Makes the first host log in as `user`, with its password only.
async fn log_in_as(env: &Env, user: &str) {
    let mut host = env.fleet.new_hosts().remove(0);
    host.username = Some(user.to_owned());
    host.identity_files =
        minke::Lines::new([env.fleet.dir().join("no-key").display().to_string()]).unwrap();
    env.store
        .write(move |c| minke::store::upsert_host(c, &host))
        .await
        .unwrap();
}

/// `cx.sudo` against the real sudo: the password goes to sudo's standard input, the
/// command runs as root, and no password reaches the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_runs_as_root_with_the_password_on_stdin() {
    assert!(
        std::path::Path::new("/usr/bin/sudo").exists(),
        "sudo is missing: install it (scripts/install-deps.sh does)"
    );
    let login = "login-Tr0ub4dor-&3";
    let user = minke_testkit::PasswordUser::create(login).unwrap();
    let _rule = Sudoer::allow(user.name());
    let (env, _) = password_login_env(login).await;
    log_in_as(&env, user.name()).await;

    // sudo asks for the user's own password: here the login password.
    let s = run(
        &env,
        req("sudo_id", "host", Query::all(), &[("password", login)]),
    )
    .await;
    let session = &s.sessions[0];
    assert_eq!(session.state, State::Completed, "{s:?}");
    let cmds = commands(&env, session.session_id).await;
    assert_eq!(cmds[0].command, "sudo -S -p '' -- sh -c 'id -u'");
    assert_eq!(cmds[0].exit_code, Some(0), "{:?}", text(&cmds[0].stderr));
    assert_eq!(cmds[0].stdout, b"0\n");

    // A wrong password: sudo refuses, and says so without the password.
    let s = run(
        &env,
        req(
            "sudo_id",
            "host",
            Query::all(),
            &[("password", "not-it-42")],
        ),
    )
    .await;
    let mut cmds = commands(&env, s.sessions[0].session_id).await;
    assert_ne!(cmds[0].exit_code, Some(0));
    assert!(cmds[0].stdout.is_empty());
    assert_eq!(s.sessions[0].state, State::Failed, "{s:?}");
    assert_eq!(s.sessions[0].reason.as_deref(), Some("sudo"), "{s:?}");
    let said = session_messages(&env, s.sessions[0].session_id).await;
    assert!(said.contains("the password is wrong"), "{said}");

    // In a pseudo-terminal, which does not echo the password.
    let s = run(
        &env,
        req("sudo_pty", "host", Query::all(), &[("password", login)]),
    )
    .await;
    assert_eq!(s.sessions[0].state, State::Completed, "{s:?}");
    let pty = commands(&env, s.sessions[0].session_id).await;
    assert_eq!(text(&pty[0].stdout).trim(), "0", "{pty:?}");

    // As the host's become user.
    let hid = env.host_ids[0].get();
    env.store
        .write(move |c| {
            use minke::StoredModel as _;
            let mut h = minke::store::HostRecord::load_one(c, hid)?;
            h.options.become_user = Some("nobody".into());
            h.save_fields(c, &["become_user"])
        })
        .await
        .unwrap();
    let s = run(
        &env,
        req("sudo_id", "host", Query::all(), &[("password", login)]),
    )
    .await;
    let became = commands(&env, s.sessions[0].session_id).await;
    assert_eq!(
        became[0].command,
        "sudo -S -p '' -u nobody -- sh -c 'id -u'"
    );
    assert_eq!(text(&became[0].stdout).trim(), "65534", "{became:?}");
    cmds.extend(pty);
    cmds.extend(became);
    let runs = env
        .store
        .blocking(|c| minke::store::list_runs(c, 10, 0))
        .await
        .unwrap();
    for r in &runs {
        assert!(
            !r.params.contains(login) && !r.params.contains("not-it"),
            "{}",
            r.params
        );
    }
    for c in &cmds {
        let all = format!("{} {} {}", c.command, text(&c.stdout), text(&c.stderr));
        assert!(!all.contains("not-it") && !all.contains(login), "{all}");
    }
}

/// sudo without a password where the sudoers say NOPASSWD, and with the configured
/// password (`MINKE_SUDO_PASSWORD` in the tools) where they ask for one; without
/// any password where one is needed, the session fails saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_without_a_password_and_with_the_configured_one() {
    let login = "login-C0rrect-h0rse";
    let free = minke_testkit::PasswordUser::create(login).unwrap();
    let _free_rule = Sudoer::allow_without_password(free.name());
    let asks = minke_testkit::PasswordUser::create(login).unwrap();
    let _asks_rule = Sudoer::allow(asks.name());
    let (env, mut config) = password_login_env(login).await;
    log_in_as(&env, free.name()).await;
    let s = run(&env, req("sudo_configured", "host", Query::all(), &[])).await;
    assert_eq!(s.sessions[0].state, State::Completed, "{s:?}");
    let cmds = commands(&env, s.sessions[0].session_id).await;
    assert_eq!(cmds[0].command, "sudo -n -- sh -c 'id -u'");
    assert_eq!(text(&cmds[0].stdout), "0\n");

    // The account that must give its password, given none.
    log_in_as(&env, asks.name()).await;
    let s = run(&env, req("sudo_configured", "host", Query::all(), &[])).await;
    assert_eq!(s.sessions[0].reason.as_deref(), Some("sudo"), "{s:?}");
    let said = session_messages(&env, s.sessions[0].session_id).await;
    assert!(said.contains("MINKE_SUDO_PASSWORD"), "{said}");

    // The configured password.
    config.sudo_password = Some(minke::Secret::new(login));
    let engine = env.engine_with(config).await;
    let h = engine
        .start(req("sudo_configured", "host", Query::all(), &[]))
        .await
        .unwrap();
    let s = h.wait().await.unwrap();
    env.store.flush().await.unwrap();
    assert_eq!(s.sessions[0].state, State::Completed, "{s:?}");
    let cmds = commands(&env, s.sessions[0].session_id).await;
    assert_eq!(cmds[0].command, "sudo -S -p '' -- sh -c 'id -u'");
    assert_eq!(text(&cmds[0].stdout), "0\n");
    let all = format!("{} {}", text(&cmds[0].stdout), text(&cmds[0].stderr));
    assert!(!all.contains(login), "{all}");
}

/// `cx.put`, `cx.put_template` and `cx.get` over SFTP against real sshd: files land
/// with their modes and content, each transfer is in the history like a command, and
/// a missing remote file fails the session with the reason `transfer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_go_up_and_come_back_recorded() {
    let env = Env::start(1, 1, Config::default(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let s = run(&env, req("files", "host", Query::all(), &[("dir", &d)])).await;
    let session = &s.sessions[0];
    assert_eq!(session.state, State::Failed, "{s:?}");
    assert_eq!(session.reason.as_deref(), Some("transfer"), "{s:?}");
    let name = env.fleet.targets()[0].name.clone();
    let motd = std::fs::read_to_string(dir.path().join("motd")).unwrap();
    assert_eq!(motd, "hello {name}\n", "bytes go as they are");
    let conf = std::fs::read_to_string(dir.path().join("conf")).unwrap();
    assert_eq!(
        conf,
        format!("host={name} dir={d}\n"),
        "a template is filled, unquoted"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |f: &str| {
        std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!((mode("motd"), mode("conf")), (0o640, 0o600));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("minke"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let cmds = commands(&env, session.session_id).await;
    let lines: Vec<&str> = cmds.iter().map(|c| c.command.as_str()).collect();
    assert_eq!(
        lines,
        [
            format!("put 13 bytes → {d}/motd (0640)"),
            format!("put {} bytes → {d}/conf (0600)", conf.len()),
            format!("get {d}/conf → memory"),
            format!("get {d}/missing → memory"),
        ]
    );
    let sha = |b: &[u8]| {
        let out = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write as _;
                c.stdin.take().unwrap().write_all(b)?;
                c.wait_with_output()
            })
            .unwrap();
        text(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(cmds[0].exit_code, Some(0));
    assert_eq!(
        text(&cmds[0].stdout),
        format!("13 bytes, sha256 {}\n", sha(motd.as_bytes()))
    );
    assert_eq!(
        text(&cmds[2].stdout),
        format!("{} bytes, sha256 {}\n", conf.len(), sha(conf.as_bytes()))
    );
    assert_eq!(cmds[3].exit_code, Some(1));
    assert!(
        text(&cmds[3].stderr).contains("no such file"),
        "{:?}",
        text(&cmds[3].stderr)
    );
    let said = session_messages(&env, session.session_id).await;
    assert!(said.contains(&format!("host={name} dir={d}")), "{said}");
    assert!(said.contains("no such file"), "{said}");
}

/// The messages of a session, one per line.
async fn session_messages(env: &Env, session_id: SessionId) -> String {
    env.store
        .blocking(move |c| store::session_messages(c, session_id))
        .await
        .unwrap()
        .iter()
        .map(|m| m.body.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A program that uses Minke as a library: `App` builds the engine, which starts a
/// run, lists the history and reads the run back whole, without the command line or
/// Minke's schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_api_runs_and_reads_back() {
    let fleet = tokio::task::spawn_blocking(|| minke_testkit::Fleet::start(2))
        .await
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("lib.db").to_string_lossy().into_owned();
    let engine = minke::App::new()
        .model::<minke_e2e::Server>()
        .model::<minke_e2e::WebApp>()
        .migrations(minke_e2e::MIGRATIONS)
        .session::<minke_e2e::Command>()
        .engine(&url)
        .await
        .unwrap();
    let hosts = fleet.new_hosts();
    engine
        .store()
        .write(move |c| {
            for h in &hosts {
                store::upsert_host(c, h)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let summary = engine
        .start(req(
            "command",
            "host",
            Query::all(),
            &[("cmd", "echo from-lib")],
        ))
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(summary.count(State::Completed), 2);
    let history = engine.history(10, 0).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, summary.run_id);
    let detail = engine.run_detail(summary.run_id).await.unwrap();
    assert_eq!(detail.run.state, minke::RunState::Done);
    assert_eq!(detail.sessions.len(), 2);
    for s in &detail.sessions {
        assert_eq!(s.session.state, State::Completed);
        assert_eq!(s.commands[0].stdout, b"from-lib\n");
    }
    let err = engine.run_detail(RunId::new(424_242)).await.unwrap_err();
    assert!(
        err.to_string().contains("run with id 424242 not found"),
        "{err}"
    );
}
