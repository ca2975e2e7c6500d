//! Warm connections on a scripted transport: kept between runs, dropped when the
//! host's record changes, after the idle time and beyond the cap, replaced when found
//! dead before a command could start, and never when a command may have started.
//! Real sshd is used in the workspace's `tests/` (`warm.rs`).
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use minke::prelude::*;
use minke::runtime::{Config, Engine, HostSource, Link, Models, RunRequest, RunSummary, Transport};
use minke::ssh::{ConnectOptions, ExecOptions, OutputSink, Stream};
use minke::{CommandOutput, ExitStatus, HostRecord, HostTarget, NewHost, Query, State, Store};

/// Run a command
#[derive(Session)]
#[minke(work_on(HostRecord), command = "{cmd}")]
struct Command {
    cmd: String,
}

/// How a link answers once it is made to die.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Death {
    /// Known closed (`is_closed`).
    Closed,
    /// Not known closed, but a command cannot be sent.
    NotSent,
    /// Lost while a command ran (it may have started).
    Lost,
}

/// The links the transport made, and what happened to them.
#[derive(Default)]
struct Seen {
    connects: AtomicUsize,
    links: Mutex<Vec<Arc<Scripted>>>,
}

impl Seen {
    fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        let links = self.links.lock().unwrap();
        links
            .iter()
            .filter(|l| l.closed.load(Ordering::SeqCst))
            .count()
    }

    /// Commands sent to a link (the ones that could not be sent do not count).
    fn sent(&self) -> usize {
        let links = self.links.lock().unwrap();
        links.iter().map(|l| l.sent.load(Ordering::SeqCst)).sum()
    }

    /// Makes every link made so far die this way.
    fn kill_all(&self, death: Death) {
        for l in self.links.lock().unwrap().iter() {
            *l.death.lock().unwrap() = Some(death);
        }
    }
}

#[derive(Clone, Default)]
struct Transport1 {
    seen: Arc<Seen>,
}

struct Scripted {
    host: String,
    sent: AtomicUsize,
    closed: AtomicBool,
    death: Mutex<Option<Death>>,
}

/// A link as the engine holds it.
struct Handle(Arc<Scripted>);

#[async_trait]
impl Transport for Transport1 {
    async fn connect(
        &self,
        target: &HostTarget,
        _opts: &ConnectOptions,
    ) -> std::result::Result<Arc<dyn Link>, minke::ssh::Error> {
        self.seen.connects.fetch_add(1, Ordering::SeqCst);
        let link = Arc::new(Scripted {
            host: target.name.clone(),
            sent: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            death: Mutex::new(None),
        });
        self.seen.links.lock().unwrap().push(link.clone());
        Ok(Arc::new(Handle(link)))
    }
}

#[async_trait]
impl Link for Handle {
    async fn exec(
        &self,
        command: &str,
        _opts: &ExecOptions,
        sink: &mut (dyn OutputSink + Send),
    ) -> std::result::Result<CommandOutput, minke::ssh::Error> {
        let death = *self.0.death.lock().unwrap();
        if matches!(death, Some(Death::Closed | Death::NotSent)) {
            return Err(minke::ssh::Error::NotSent {
                host: self.0.host.clone(),
                command: command.to_owned(),
                detail: "the connection was closed".into(),
            });
        }
        self.0.sent.fetch_add(1, Ordering::SeqCst);
        if death == Some(Death::Lost) {
            return Err(minke::ssh::Error::Disconnected {
                host: self.0.host.clone(),
                detail: format!("while running `{command}`"),
                output: None,
            });
        }
        sink.data(Stream::Stdout, b"ok\n");
        Ok(CommandOutput::new(
            command,
            ExitStatus::Code(0),
            b"ok\n".to_vec(),
            Vec::new(),
        ))
    }

    async fn close(&self) {
        self.0.closed.store(true, Ordering::SeqCst);
    }

    fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::SeqCst) || *self.0.death.lock().unwrap() == Some(Death::Closed)
    }
}

struct Env {
    engine: Engine,
    seen: Arc<Seen>,
    ids: Vec<minke::HostId>,
    dir: tempfile::TempDir,
}

fn host(i: usize) -> NewHost {
    let mut h = NewHost::new(format!("h{i:03}"));
    h.hostname = Some("127.0.0.1".into());
    h.port = 10_000 + i32::try_from(i).unwrap();
    h
}

async fn setup(n: usize, config: Config) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("warm.db").to_str().unwrap())
        .await
        .unwrap();
    let ids = store
        .write(move |c| {
            (0..n)
                .map(|i| minke::store::upsert_host(c, &host(i)))
                .collect()
        })
        .await
        .unwrap();
    let mut sessions = minke::Registry::default();
    sessions.add::<Command>().unwrap();
    let mut models = Models::default();
    models.add::<HostRecord>().unwrap();
    let transport = Transport1::default();
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
        ids,
        dir,
    }
}

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
        query: Query::ids(env.ids.iter().copied()),
        params: minke::Params::from_pairs([("cmd", "uptime")]),
        username: "test".into(),
    };
    let s = env.engine.start(req).await.unwrap().wait().await.unwrap();
    env.engine.store().flush().await.unwrap();
    s
}

fn all_succeeded(s: &RunSummary) {
    assert!(
        s.sessions
            .iter()
            .all(|x| x.state == State::Completed && x.status == Some(Status::Success)),
        "{s:?}"
    );
}

/// Waits (at most 10 s) until the engine keeps `n` connections.
async fn wait_kept(engine: &Engine, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.kept_connections() != n {
        assert!(
            Instant::now() < deadline,
            "the engine keeps {} connections, not {n}",
            engine.kept_connections()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_connections_serve_the_next_run() {
    let env = setup(3, keeping(Duration::from_secs(60))).await;
    all_succeeded(&run(&env).await);
    assert_eq!(env.engine.kept_connections(), 3);
    all_succeeded(&run(&env).await);
    assert_eq!(env.seen.connects(), 3);
    assert_eq!(env.seen.closed(), 0);
    assert_eq!(env.seen.sent(), 6);
    env.engine.close_kept_connections().await;
    assert_eq!(env.engine.kept_connections(), 0);
    assert_eq!(env.seen.closed(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keeping_every_run_connects_and_closes() {
    let env = setup(3, Config::default()).await;
    all_succeeded(&run(&env).await);
    assert_eq!(env.seen.closed(), 3);
    all_succeeded(&run(&env).await);
    assert_eq!(env.seen.connects(), 6);
    assert_eq!(env.seen.closed(), 6);
    assert_eq!(env.engine.kept_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_record_drops_its_kept_connection() {
    let env = setup(3, keeping(Duration::from_secs(60))).await;
    all_succeeded(&run(&env).await);
    // Another process (its own store on the same database) changes one host's user.
    let other = Store::open(env.dir.path().join("warm.db").to_str().unwrap())
        .await
        .unwrap();
    other
        .write(|c| {
            let mut h = host(1);
            h.username = Some("someone-else".into());
            minke::store::upsert_host(c, &h)
        })
        .await
        .unwrap();
    other.close().await.unwrap();
    all_succeeded(&run(&env).await);
    assert_eq!(
        env.seen.connects(),
        4,
        "only the changed host connects again"
    );
    let links = env.seen.links.lock().unwrap();
    let h1: Vec<_> = links.iter().filter(|l| l.host == "h001").collect();
    assert_eq!(h1.len(), 2);
    assert!(h1[0].closed.load(Ordering::SeqCst), "the old one is closed");
    assert!(!h1[1].closed.load(Ordering::SeqCst), "the new one is kept");
    drop(links);
    assert_eq!(env.engine.kept_connections(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_kept_connections_are_replaced_without_a_failure() {
    for death in [Death::Closed, Death::NotSent] {
        let env = setup(3, keeping(Duration::from_secs(60))).await;
        all_succeeded(&run(&env).await);
        env.seen.kill_all(death);
        let s = run(&env).await;
        all_succeeded(&s);
        assert_eq!(env.seen.connects(), 6);
        // Each command went out once per run: nothing ran twice.
        assert_eq!(env.seen.sent(), 6);
        for x in &s.sessions {
            let id = x.session_id;
            let (cmds, msgs) = env
                .engine
                .store()
                .blocking(move |c| {
                    Ok((
                        minke::store::session_commands(c, id)?,
                        minke::store::session_messages(c, id)?,
                    ))
                })
                .await
                .unwrap();
            assert_eq!(cmds.len(), 1, "{cmds:?}");
            assert_eq!(cmds[0].exit_code, Some(0));
            assert!(msgs.iter().all(|m| m.level == "info"), "{msgs:?}");
        }
        assert_eq!(env.engine.kept_connections(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_may_have_started_is_never_run_again() {
    let env = setup(2, keeping(Duration::from_secs(60))).await;
    all_succeeded(&run(&env).await);
    env.seen.kill_all(Death::Lost);
    let s = run(&env).await;
    assert!(
        s.sessions
            .iter()
            .all(|x| x.state == State::Failed && x.reason.as_deref() == Some("disconnected")),
        "{s:?}"
    );
    assert_eq!(env.seen.connects(), 2, "no new connection");
    assert_eq!(env.seen.sent(), 4, "each command went out once");
    // The broken ones are not kept.
    assert_eq!(env.engine.kept_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kept_connections_are_closed() {
    let env = setup(2, keeping(Duration::from_millis(200))).await;
    all_succeeded(&run(&env).await);
    wait_kept(&env.engine, 0).await;
    assert_eq!(env.seen.closed(), 2);
    all_succeeded(&run(&env).await);
    assert_eq!(env.seen.connects(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_cap_the_least_recently_used_is_closed() {
    let config = Config {
        max_kept_connections: 2,
        ..keeping(Duration::from_secs(60))
    };
    let env = setup(3, config).await;
    all_succeeded(&run(&env).await);
    assert_eq!(env.engine.kept_connections(), 2);
    assert_eq!(env.seen.closed(), 1);
}
