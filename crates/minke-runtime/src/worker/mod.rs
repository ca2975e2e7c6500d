//! Workers: execute runs from the queue in the database, any number of them on any
//! number of machines (PostgreSQL). A worker claims work items (one run's sessions on
//! one host), runs them with the engine that runs in-process runs (the same host
//! locks, limits, timeouts, messages and history), renews its leases, reaps the
//! items of workers that died, and on shutdown finishes its current commands within
//! a grace period and hands back the rest.

mod item;
mod lease;
mod runs;
mod wake;

use minke_core::{RunId, WorkItemId};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minke_store::{QueueWorker, WorkItem};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::hold::ItemHold;

use crate::{Canceller, Engine, Result, Stop};

/// How a worker works; every setting has a default.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The worker's name, unique among the workers at any one time (default
    /// `HOSTNAME:PID`).
    pub name: String,
    /// Work items (hosts) held at once (default 100); the sessions running at once
    /// are bounded by the engine's own limit as well.
    pub concurrency: usize,
    /// How long the worker holds an item between heartbeats (default 15 s; renewed
    /// every third of it). When a worker dies, its items not started go to another
    /// worker after this long.
    pub lease: Duration,
    /// On shutdown, how long running commands have to finish before they are killed
    /// (default 30 s).
    pub grace: Duration,
    /// How often the worker looks for work without being woken (default 2 s;
    /// PostgreSQL wakes it at once when work is queued).
    pub poll: Duration,
}

/// The default lease: 15 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// The default grace on shutdown: 30 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            name: default_name(),
            concurrency: 100,
            lease: DEFAULT_LEASE,
            grace: DEFAULT_GRACE,
            poll: Duration::from_secs(2),
        }
    }
}

/// `HOSTNAME:PID`.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    format!("{host}:{}", std::process::id())
}

/// What a worker did, when it stops.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkerReport {
    /// Items it ran to their end.
    pub items_done: usize,
    /// Items it gave back to the queue (shutdown), whole or their unstarted rest.
    pub items_handed_back: usize,
    /// Items it lost (their lease ran out).
    pub items_lost: usize,
}

/// A worker over an engine: the engine's sessions, models, store, limits and kept
/// connections.
pub struct Worker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.shared.queue.name())
            .finish_non_exhaustive()
    }
}

/// An item the worker holds.
struct Held {
    run_id: RunId,
    hold: Arc<ItemHold>,
    /// When it was claimed: a heartbeat sent before that does not renew it.
    claimed: Instant,
    /// The stops of its sessions.
    sessions: Vec<Canceller>,
}

/// What the worker's tasks share.
pub(crate) struct Shared {
    engine: Engine,
    queue: QueueWorker,
    config: WorkerConfig,
    held: Mutex<BTreeMap<WorkItemId, Held>>,
    runs: runs::Runs,
    draining: watch::Sender<bool>,
    report: Mutex<WorkerReport>,
}

impl Worker {
    /// A worker that runs the sessions the engine knows. An empty name or a zero
    /// lease is refused.
    pub fn new(engine: Engine, config: WorkerConfig) -> Result<Worker> {
        let sessions: Vec<String> = engine
            .sessions()
            .iter()
            .map(|e| e.meta.name.to_owned())
            .collect();
        let queue = QueueWorker::new(config.name.clone(), sessions, config.lease)?;
        Ok(Worker {
            shared: Arc::new(Shared {
                engine,
                queue,
                config,
                held: Mutex::default(),
                runs: runs::Runs::default(),
                draining: watch::channel(false).0,
                report: Mutex::default(),
            }),
        })
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        self.shared.queue.name()
    }

    /// Works until `shutdown` completes, then stops claiming, lets running commands
    /// finish within the grace period, hands back what did not start, stops what
    /// still runs (remote process groups killed) and returns what it did.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<WorkerReport> {
        let shared = self.shared;
        shared.engine.announce_changes();
        let wake = Arc::new(Notify::new());
        let _listener = wake::start(shared.engine.store(), wake.clone());
        let background = [
            lease::heartbeat(shared.clone()),
            lease::reaper(shared.clone()),
        ];
        tracing::info!(worker = shared.queue.name(), "worker started");
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            shared.claim_into(&mut tasks).await;
            tokio::select! {
                () = &mut shutdown => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(shared.config.poll) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        shared.drain(&mut tasks).await;
        for task in background {
            task.abort();
        }
        let report = shared.report.lock().map(|r| r.clone()).unwrap_or_default();
        tracing::info!(worker = shared.queue.name(), ?report, "worker stopped");
        Ok(report)
    }
}

/// Backoff after a failed claim (the database out of reach).
const CLAIM_BACKOFF: Duration = Duration::from_millis(500);

impl Shared {
    /// Claims as many items as there is room for and starts each on a task.
    async fn claim_into(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        // Items that ended leave room (a set counts its tasks until they are joined).
        while tasks.try_join_next().is_some() {}
        let room = self.config.concurrency.max(1).saturating_sub(tasks.len());
        if room == 0 {
            return;
        }
        let queue = self.queue.clone();
        // Ahead of the history's writes: work is picked up at once.
        match self
            .engine
            .store()
            .write_urgent(move |c| queue.claim(c, room))
            .await
        {
            Ok(items) => {
                for item in items {
                    tasks.spawn(self.clone().execute(item));
                }
            }
            Err(e) => {
                tracing::warn!(worker = self.queue.name(), "claiming work failed: {e}");
                tokio::time::sleep(CLAIM_BACKOFF).await;
            }
        }
    }

    /// Stops the worker: no new sessions start (those not started go back to the
    /// queue); running ones have the grace period, then are stopped at once.
    async fn drain(&self, tasks: &mut JoinSet<()>) {
        let _ = self.draining.send(true);
        tracing::info!(
            worker = self.queue.name(),
            items = tasks.len(),
            grace = ?self.config.grace,
            "draining: running commands have the grace period, the rest goes back to the queue"
        );
        let ended = tokio::time::timeout(self.config.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if ended.is_err() {
            tracing::warn!(
                worker = self.queue.name(),
                "the grace period is over: stopping the running commands"
            );
            self.stop_all(Stop::Now);
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Stops every session the worker runs.
    fn stop_all(&self, stop: Stop) {
        if let Ok(held) = self.held.lock() {
            for h in held.values() {
                for s in &h.sessions {
                    s.raise_to(stop);
                }
            }
        }
    }

    fn count(&self, f: impl FnOnce(&mut WorkerReport)) {
        if let Ok(mut r) = self.report.lock() {
            f(&mut r);
        }
    }

    /// Forgets an item that ended here.
    fn release(&self, item: &WorkItem) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&item.id);
        }
        self.runs.leave(item.run_id);
    }
}
