//! The engine through its public API, on a scripted transport: the limits it keeps
//! (sessions at once over all runs, handshakes in flight, per jump host, connect
//! rate), retries, lock renewal, timeouts, stops between commands, status rules and
//! sudo's password. Real SSH is tested against real sshd in the workspace's `tests/`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use minke::prelude::*;
use minke::runtime::{
    Config, Engine, HostSource, Link, Models, RunRequest, RunSummary, Stop, Transport,
};
use minke::ssh::{ConnectOptions, ExecOptions, OutputSink, Stream};
use minke::{CommandOutput, ExitStatus, HostRecord, HostTarget, NewHost, Query, State, Store};

/// Run a command
#[derive(Session)]
#[minke(work_on(HostRecord), command = "{cmd}")]
struct Command {
    cmd: String,
}

/// Two commands
#[derive(Session)]
#[minke(work_on(HostRecord), commands("first", "second"))]
struct Two;

/// Raises the status, then tries to lower it
#[derive(Session)]
#[minke(work_on(HostRecord))]
struct Lowering;

impl Session for Lowering {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.set_status(Status::Error);
        cx.set_status(Status::Warning);
        cx.set_status(Status::Success);
        Ok(())
    }
}

/// Runs with a timeout of its own
#[derive(Session)]
#[minke(work_on(HostRecord))]
struct OwnTimeout;

impl Session for OwnTimeout {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.run("plain").await?;
        cx.run_with_timeout("limited", Duration::from_millis(1500))
            .await?;
        Ok(())
    }
}

/// Uses sudo with a password
#[derive(Session)]
#[minke(work_on(HostRecord))]
struct Sudo {
    password: Secret,
}

impl Session for Sudo {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.sudo("id -u", Some(&self.password)).await?;
        Ok(())
    }
}

/// What the scripted transport saw.
#[derive(Default)]
struct Seen {
    execs_now: AtomicUsize,
    execs_max: AtomicUsize,
    connects_now: AtomicUsize,
    connects_max: AtomicUsize,
    connect_starts: Mutex<Vec<(String, Instant)>>,
    commands: Mutex<Vec<Exec>>,
}

/// A command as the transport got it: the line, its time limit, its stdin.
type Exec = (String, Option<Duration>, Option<Vec<u8>>);

fn raise(now: &AtomicUsize, max: &AtomicUsize) {
    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
    max.fetch_max(n, Ordering::SeqCst);
}

/// A transport whose connects and commands take given times, refusing the first
/// `refusals` connects of each host; it counts what is in flight.
#[derive(Clone, Default)]
struct Scripted {
    connect_delay: Duration,
    exec_delay: Duration,
    refusals: usize,
    seen: Arc<Seen>,
    tries: Arc<Mutex<std::collections::HashMap<String, usize>>>,
}

struct ScriptedLink {
    host: String,
    delay: Duration,
    seen: Arc<Seen>,
}

#[async_trait]
impl Transport for Scripted {
    async fn connect(
        &self,
        target: &HostTarget,
        _opts: &ConnectOptions,
    ) -> std::result::Result<Arc<dyn Link>, minke::ssh::Error> {
        self.seen
            .connect_starts
            .lock()
            .unwrap()
            .push((target.name.clone(), Instant::now()));
        raise(&self.seen.connects_now, &self.seen.connects_max);
        tokio::time::sleep(self.connect_delay).await;
        self.seen.connects_now.fetch_sub(1, Ordering::SeqCst);
        let tries = {
            let mut t = self.tries.lock().unwrap();
            let n = t.entry(target.name.clone()).or_default();
            *n += 1;
            *n
        };
        if tries <= self.refusals {
            return Err(minke::ssh::Error::ConnectRefused {
                host: target.name.clone(),
                addr: "127.0.0.1:9".parse().unwrap(),
            });
        }
        Ok(Arc::new(ScriptedLink {
            host: target.name.clone(),
            delay: self.exec_delay,
            seen: self.seen.clone(),
        }))
    }
}

#[async_trait]
impl Link for ScriptedLink {
    async fn exec(
        &self,
        command: &str,
        opts: &ExecOptions,
        sink: &mut (dyn OutputSink + Send),
    ) -> std::result::Result<CommandOutput, minke::ssh::Error> {
        self.seen.commands.lock().unwrap().push((
            command.to_owned(),
            opts.timeout,
            opts.stdin.clone(),
        ));
        raise(&self.seen.execs_now, &self.seen.execs_max);
        let mut kill = opts.kill.clone();
        let killed = async {
            match kill.as_mut() {
                Some(k) => {
                    let _ = k.wait_for(|v| *v).await;
                }
                None => std::future::pending().await,
            }
        };
        let stopped = tokio::select! {
            () = tokio::time::sleep(self.delay) => false,
            () = killed => true,
        };
        self.seen.execs_now.fetch_sub(1, Ordering::SeqCst);
        let out = CommandOutput::new(command, ExitStatus::Code(0), b"ok\n".to_vec(), Vec::new());
        if stopped {
            return Err(minke::ssh::Error::Killed {
                host: self.host.clone(),
                output: Box::new(CommandOutput::new(
                    command,
                    ExitStatus::Signal("KILL".into()),
                    Vec::new(),
                    Vec::new(),
                )),
            });
        }
        sink.data(Stream::Stdout, b"ok\n");
        Ok(out)
    }

    async fn close(&self) {}
}

struct Env {
    engine: Engine,
    seen: Arc<Seen>,
    host_ids: Vec<minke_core::HostId>,
    _dir: tempfile::TempDir,
}

/// `n` hosts (`h000`, ...), each on a port of its own; each `(index, jump index)` in
/// `jumps` connects through another.
async fn setup(n: usize, jumps: &[(usize, usize)], config: Config, transport: Scripted) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("engine.db").to_str().unwrap())
        .await
        .unwrap();
    let jumps = jumps.to_vec();
    let host_ids = store
        .write(move |c| {
            let mut ids = Vec::new();
            for i in 0..n {
                let mut h = NewHost::new(format!("h{i:03}"));
                h.hostname = Some("127.0.0.1".into());
                h.port = 10_000 + i32::try_from(i).unwrap();
                ids.push(minke::store::upsert_host(c, &h)?);
            }
            for (i, j) in &jumps {
                let mut h = NewHost::new(format!("h{i:03}"));
                h.hostname = Some("127.0.0.1".into());
                h.port = 10_000 + i32::try_from(*i).unwrap();
                h.jump_host_id = Some(ids[*j]);
                minke::store::upsert_host(c, &h)?;
            }
            Ok(ids)
        })
        .await
        .unwrap();
    let mut sessions = minke::Registry::default();
    sessions.add::<Command>().unwrap();
    sessions.add::<Two>().unwrap();
    sessions.add::<Lowering>().unwrap();
    sessions.add::<OwnTimeout>().unwrap();
    sessions.add::<Sudo>().unwrap();
    let mut models = Models::default();
    models.add::<HostRecord>().unwrap();
    let seen = transport.seen.clone();
    let engine = Engine::with_transport(
        store,
        sessions,
        models,
        HostSource::of::<HostRecord>(),
        config,
        Arc::new(transport),
    );
    Env {
        engine,
        seen,
        host_ids,
        _dir: dir,
    }
}

fn request(session: &str, ids: &[minke_core::HostId], params: &[(&str, &str)]) -> RunRequest {
    RunRequest {
        session: session.into(),
        model: "host".into(),
        query: Query::ids(ids.iter().copied()),
        params: minke::Params::from_pairs(params.iter().copied()),
        username: "test".into(),
    }
}

async fn run(env: &Env, req: RunRequest) -> RunSummary {
    env.engine.start(req).await.unwrap().wait().await.unwrap()
}

async fn messages(env: &Env, session_id: minke::SessionId) -> Vec<String> {
    env.engine
        .store()
        .blocking(move |c| minke::store::session_messages(c, session_id))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect()
}

fn config() -> Config {
    Config {
        connect_backoff: Duration::from_millis(10),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_holds_across_runs() {
    let transport = Scripted {
        exec_delay: Duration::from_millis(40),
        ..Scripted::default()
    };
    let env = setup(
        100,
        &[],
        Config {
            concurrency: 10,
            ..config()
        },
        transport,
    )
    .await;
    let (a, b) = env.host_ids.split_at(50);
    let first = env
        .engine
        .start(request("command", a, &[("cmd", "work")]))
        .await
        .unwrap();
    let second = env
        .engine
        .start(request("command", b, &[("cmd", "work")]))
        .await
        .unwrap();
    let (first, second) = (first.wait().await.unwrap(), second.wait().await.unwrap());
    assert_eq!(
        first.count(State::Completed) + second.count(State::Completed),
        100
    );
    let max = env.seen.execs_max.load(Ordering::SeqCst);
    assert!(max <= 10, "{max} sessions ran at once under a limit of 10");
    assert!(max >= 2, "the runs did not run side by side ({max})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_in_flight_are_limited() {
    let transport = Scripted {
        connect_delay: Duration::from_millis(30),
        ..Scripted::default()
    };
    let env = setup(
        24,
        &[],
        Config {
            connect_concurrency: 3,
            ..config()
        },
        transport,
    )
    .await;
    let summary = run(&env, request("command", &env.host_ids, &[("cmd", "x")])).await;
    assert_eq!(summary.count(State::Completed), 24);
    let max = env.seen.connects_max.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "{max} handshakes at once, limit 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_through_one_jump_host_are_limited() {
    // h000 is the jump host of h001..h012; h013..h024 connect directly.
    let behind: Vec<(usize, usize)> = (1..=12).map(|i| (i, 0)).collect();
    let transport = Scripted {
        connect_delay: Duration::from_millis(30),
        ..Scripted::default()
    };
    let seen = transport.seen.clone();
    let env = setup(
        25,
        &behind,
        Config {
            connect_per_jump: 2,
            ..config()
        },
        transport,
    )
    .await;
    let ids = env.host_ids[1..=12].to_vec();
    let summary = run(&env, request("command", &ids, &[("cmd", "x")])).await;
    assert_eq!(summary.count(State::Completed), 12);
    let max = seen.connects_max.load(Ordering::SeqCst);
    assert!(max <= 2, "{max} handshakes through one jump host, limit 2");
    // Direct hosts are not held back by it.
    let direct = env.host_ids[13..].to_vec();
    seen.connects_max.store(0, Ordering::SeqCst);
    let summary = run(&env, request("command", &direct, &[("cmd", "x")])).await;
    assert_eq!(summary.count(State::Completed), 12);
    assert!(seen.connects_max.load(Ordering::SeqCst) > 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_rate_spaces_connects() {
    let env = setup(
        6,
        &[],
        Config {
            connect_rate: Some(20.0),
            ..config()
        },
        Scripted::default(),
    )
    .await;
    let summary = run(&env, request("command", &env.host_ids, &[("cmd", "x")])).await;
    assert_eq!(summary.count(State::Completed), 6);
    let mut starts: Vec<Instant> = env
        .seen
        .connect_starts
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| *t)
        .collect();
    starts.sort();
    // 20 a second: 50 ms apart at least (a little less for timer rounding).
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(45), "connects {gap:?} apart");
    }
}

/// One session on a host whose first `refusals` connects are refused, with 2 retries.
async fn refused(refusals: usize) -> (Env, minke::runtime::SessionSummary) {
    let transport = Scripted {
        refusals,
        ..Scripted::default()
    };
    let config = Config {
        connect_retries: 2,
        ..config()
    };
    let env = setup(1, &[], config, transport).await;
    let summary = run(&env, request("command", &env.host_ids, &[("cmd", "x")])).await;
    let session = summary.sessions[0].clone();
    (env, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connects_are_retried_and_the_history_says_so() {
    let (env, s) = refused(2).await;
    assert_eq!(s.state, State::Completed, "{s:?}");
    assert_eq!(env.seen.connect_starts.lock().unwrap().len(), 3);
    let msgs = messages(&env, s.session_id).await.join("\n");
    assert!(
        msgs.contains("connected after 2 retries") && msgs.contains("connection refused"),
        "{msgs}"
    );

    // One refusal more than retries: the session fails and says how often it tried.
    let (env, s) = refused(3).await;
    assert_eq!(s.state, State::Failed, "{s:?}");
    assert_eq!(s.reason.as_deref(), Some("connect_refused"));
    let msgs = messages(&env, s.session_id).await.join("\n");
    assert!(
        msgs.contains("gave up connecting after 2 retries"),
        "{msgs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_locks_are_renewed_while_a_run_goes_on() {
    let ttl = Duration::from_millis(300);
    let transport = Scripted {
        exec_delay: Duration::from_millis(1500),
        ..Scripted::default()
    };
    let env = setup(
        1,
        &[],
        Config {
            lock_ttl: ttl,
            ..config()
        },
        transport,
    )
    .await;
    let long = env
        .engine
        .start(request("command", &env.host_ids, &[("cmd", "long")]))
        .await
        .unwrap();
    // Past three lifetimes of a lock that nobody renews.
    tokio::time::sleep(ttl * 3).await;
    let second = run(&env, request("command", &env.host_ids, &[("cmd", "x")])).await;
    let s = &second.sessions[0];
    assert_eq!(s.state, State::Canceled, "{s:?}");
    assert_eq!(
        s.reason.as_deref(),
        Some(format!("host `h000` is locked by run {}", long.run_id).as_str())
    );
    let first = long.wait().await.unwrap();
    assert_eq!(first.sessions[0].state, State::Completed);
    // Released at the end: the next run gets the host.
    let third = run(&env, request("command", &env.host_ids, &[("cmd", "x")])).await;
    assert_eq!(third.sessions[0].state, State::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engines_session_timeout_ends_a_session() {
    let transport = Scripted {
        exec_delay: Duration::from_secs(30),
        ..Scripted::default()
    };
    let env = setup(
        1,
        &[],
        Config {
            session_timeout: Duration::from_millis(300),
            ..config()
        },
        transport,
    )
    .await;
    let summary = run(&env, request("command", &env.host_ids, &[("cmd", "x")])).await;
    let s = &summary.sessions[0];
    assert_eq!(s.state, State::Failed, "{s:?}");
    assert_eq!(s.reason.as_deref(), Some("session_timeout"));
    // The running command was told to die.
    assert_eq!(env.seen.execs_now.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_timeout_passes_its_own_limit() {
    let env = setup(
        1,
        &[],
        Config {
            command_timeout: Duration::from_secs(42),
            ..config()
        },
        Scripted::default(),
    )
    .await;
    let summary = run(&env, request("own_timeout", &env.host_ids, &[])).await;
    assert_eq!(summary.sessions[0].state, State::Completed);
    let seen: Vec<(String, Option<Duration>)> = env
        .seen
        .commands
        .lock()
        .unwrap()
        .iter()
        .map(|(c, t, _)| (c.clone(), *t))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("plain".to_owned(), Some(Duration::from_secs(42))),
            ("limited".to_owned(), Some(Duration::from_millis(1500))),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_status_never_lowers() {
    let env = setup(1, &[], config(), Scripted::default()).await;
    let summary = run(&env, request("lowering", &env.host_ids, &[])).await;
    assert_eq!(summary.sessions[0].status, Some(Status::Error));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_cancel_stops_between_commands() {
    let transport = Scripted {
        exec_delay: Duration::from_millis(600),
        ..Scripted::default()
    };
    let env = setup(1, &[], config(), transport).await;
    let handle = env
        .engine
        .start(request("two", &env.host_ids, &[]))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.seen.commands.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the first command never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handle.canceller().cancel(), Stop::AfterCommand);
    let summary = handle.wait().await.unwrap();
    let s = &summary.sessions[0];
    assert_eq!(s.state, State::Stopped, "{s:?}");
    // The first command ran to its end; the second never started.
    let commands: Vec<String> = env
        .seen
        .commands
        .lock()
        .unwrap()
        .iter()
        .map(|(c, _, _)| c.clone())
        .collect();
    assert_eq!(commands, ["first"]);
    let recorded = env
        .engine
        .store()
        .blocking({
            let id = s.session_id;
            move |c| minke::store::session_commands(c, id)
        })
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_sends_the_password_on_stdin_only() {
    let env = setup(1, &[], config(), Scripted::default()).await;
    let summary = run(
        &env,
        request("sudo", &env.host_ids, &[("password", "hunter2-sudo")]),
    )
    .await;
    let s = &summary.sessions[0];
    assert_eq!(s.state, State::Completed, "{s:?}");
    let seen = env.seen.commands.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (command, _, stdin) = &seen[0];
    assert_eq!(command, "sudo -S -p '' -- sh -c 'id -u'");
    assert_eq!(stdin.as_deref(), Some(&b"hunter2-sudo\n"[..]));
    // Neither the command nor anything recorded holds the password.
    let id = s.session_id;
    let (commands, run) = env
        .engine
        .store()
        .blocking(move |c| {
            Ok((
                minke::store::session_commands(c, id)?,
                minke::store::list_runs(c, 1, 0)?,
            ))
        })
        .await
        .unwrap();
    assert!(!commands[0].command.contains("hunter2"));
    assert!(!run[0].params.contains("hunter2"), "{}", run[0].params);
}

/// A transport whose connect panics (a bug in a user's own transport, say).
struct Panicking;

#[async_trait]
impl Transport for Panicking {
    async fn connect(
        &self,
        _target: &HostTarget,
        _opts: &ConnectOptions,
    ) -> std::result::Result<Arc<dyn Link>, minke::ssh::Error> {
        panic!("the transport broke on purpose");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_of_a_dead_host_task_are_recorded_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("dead.db").to_str().unwrap())
        .await
        .unwrap();
    let ids = store
        .write(|c| {
            let mut h = NewHost::new("h000");
            h.hostname = Some("127.0.0.1".into());
            Ok(vec![minke::store::upsert_host(c, &h)?])
        })
        .await
        .unwrap();
    let mut sessions = minke::Registry::default();
    sessions.add::<Command>().unwrap();
    let mut models = Models::default();
    models.add::<HostRecord>().unwrap();
    let engine = Engine::with_transport(
        store.clone(),
        sessions,
        models,
        HostSource::of::<HostRecord>(),
        config(),
        Arc::new(Panicking),
    );
    let summary = engine
        .start(request("command", &ids, &[("cmd", "x")]))
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(summary.sessions[0].state, State::Failed);
    store.flush().await.unwrap();
    let (rows, msgs) = store
        .blocking(move |c| {
            let rows = minke::store::run_sessions(c, summary.run_id)?;
            let msgs = minke::store::session_messages(c, rows[0].id)?;
            Ok((rows, msgs))
        })
        .await
        .unwrap();
    // The history says so too, instead of `running` for ever.
    assert_eq!(rows[0].state, State::Failed, "{rows:?}");
    assert_eq!(rows[0].reason.as_deref(), Some("session_error"));
    assert!(
        msgs.iter().any(|m| m.body.contains("worker task died")),
        "{msgs:?}"
    );
}
