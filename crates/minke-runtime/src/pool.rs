//! Warm connections: with [`Config::keep_connections`], a host's connection outlives
//! the run that opened it, kept here for the next run on that host.
//!
//! A host task takes its host's connection out of the pool (so that one host task
//! at a time uses it) and gives it back at its end. It is taken only for the very
//! same target it was opened for (a changed address, port, user, key, known_hosts,
//! policy or jump chain closes it), only while it is alive and not idle for longer
//! than the timeout. Runs load host records from the database each time, so a record
//! changed by another process is seen at the next take. A sweeper task closes idle
//! connections; it runs only while the pool holds some. A connection that turns out
//! dead when its first command is sent is replaced by [`HostLink`], transparently.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use minke_core::{CommandOutput, HostId, HostTarget};
use minke_ssh::{ExecOptions, OutputSink};
use tokio::time::Instant;

use crate::Config;
use crate::connect::Connector;
use crate::transport::Link;

/// The connections kept between runs, by host id.
pub(crate) struct Pool {
    /// How long a connection may stay unused; `None`: nothing is kept.
    idle: Option<Duration>,
    cap: usize,
    state: std::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    kept: HashMap<HostId, Kept>,
    /// True while a sweeper task runs.
    sweeping: bool,
}

/// One kept connection.
struct Kept {
    /// What it was opened for.
    target: HostTarget,
    link: Arc<dyn Link>,
    /// When it was given back.
    since: Instant,
}

impl Pool {
    pub(crate) fn new(config: &Config) -> Self {
        Pool {
            idle: config.keep_connections.filter(|d| !d.is_zero()),
            cap: config.max_kept_connections,
            state: Default::default(),
        }
    }

    /// True when connections are kept between runs.
    pub(crate) fn keeps(&self) -> bool {
        self.idle.is_some() && self.cap > 0
    }

    /// How many connections are kept now.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().map(|s| s.kept.len()).unwrap_or(0)
    }

    /// Takes the host's kept connection, if there is one opened for this very
    /// target, alive and not idle too long; any other kept one is closed.
    pub(crate) async fn take(&self, target: &HostTarget) -> Option<Arc<dyn Link>> {
        let kept = self.state.lock().ok()?.kept.remove(&target.id)?;
        let idle = self.idle?;
        let why = if kept.target != *target {
            "the host's record changed"
        } else if kept.link.is_closed() {
            "it was closed"
        } else if kept.since.elapsed() >= idle {
            "it was idle too long"
        } else {
            return Some(kept.link);
        };
        tracing::debug!(host = %target.name, "not using the kept connection: {why}");
        kept.link.close().await;
        None
    }

    /// Gives a host's connection back after a host task, to keep it, or closes it
    /// when connections are not kept. Beyond the cap, the least recently used one is
    /// closed.
    pub(crate) async fn give_back(self: &Arc<Self>, target: HostTarget, link: Arc<dyn Link>) {
        if !self.keeps() {
            link.close().await;
            return;
        }
        if link.is_closed() {
            return;
        }
        let mut closing = Vec::new();
        if let Ok(mut state) = self.state.lock() {
            let kept = Kept {
                target,
                link,
                since: Instant::now(),
            };
            if let Some(old) = state.kept.insert(kept.target.id, kept) {
                closing.push(old.link);
            }
            while state.kept.len() > self.cap {
                let Some(lru) = state
                    .kept
                    .iter()
                    .min_by_key(|(_, k)| k.since)
                    .map(|(id, _)| *id)
                else {
                    break;
                };
                closing.extend(state.kept.remove(&lru).map(|k| k.link));
            }
            self.start_sweeper(&mut state);
        }
        close_all(closing).await;
    }

    /// Closes every kept connection.
    pub(crate) async fn clear(&self) {
        let links = match self.state.lock() {
            Ok(mut state) => state.kept.drain().map(|(_, k)| k.link).collect(),
            Err(_) => Vec::new(),
        };
        close_all(links).await;
    }

    /// Starts the task that closes idle connections, unless it runs. It holds the
    /// pool weakly, and ends when the pool is empty or gone.
    fn start_sweeper(self: &Arc<Self>, state: &mut State) {
        if state.sweeping || self.idle.is_none() {
            return;
        }
        state.sweeping = true;
        let pool = Arc::downgrade(self);
        tokio::spawn(sweep_until_empty(pool));
    }

    /// Closes the connections idle too long; returns when the next one will be,
    /// or `None` (and the sweeper ends) when none is left.
    async fn sweep(&self) -> Option<Instant> {
        let idle = self.idle?;
        let now = Instant::now();
        let (expired, next) = {
            let mut state = self.state.lock().ok()?;
            let ids: Vec<HostId> = state
                .kept
                .iter()
                .filter(|(_, k)| k.since + idle <= now)
                .map(|(id, _)| *id)
                .collect();
            let expired: Vec<_> = ids
                .iter()
                .filter_map(|id| state.kept.remove(id))
                .map(|k| k.link)
                .collect();
            let next = state.kept.values().map(|k| k.since + idle).min();
            state.sweeping = next.is_some();
            (expired, next)
        };
        close_all(expired).await;
        next
    }
}

async fn sweep_until_empty(pool: Weak<Pool>) {
    loop {
        let next = match pool.upgrade() {
            Some(pool) => pool.sweep().await,
            None => None,
        };
        match next {
            Some(at) => tokio::time::sleep_until(at).await,
            None => return,
        }
    }
}

async fn close_all(links: Vec<Arc<dyn Link>>) {
    for link in links {
        link.close().await;
    }
}

/// The connection of one host task. A kept one is replaced once by a new one when it
/// turns out to be gone before its first command could be sent (the command never
/// started, so it runs on the new connection; nothing is recorded as failed).
pub(crate) struct HostLink {
    target: HostTarget,
    connector: Arc<Connector>,
    current: std::sync::Mutex<(u64, Arc<dyn Link>)>,
    /// Set once a command went past its start on this connection, or once it was
    /// replaced: from then on a lost connection is a failure like any other.
    proven: AtomicBool,
    replacing: tokio::sync::Mutex<()>,
}

impl HostLink {
    /// A connection just opened: a loss is a failure.
    pub(crate) fn opened(
        target: HostTarget,
        connector: Arc<Connector>,
        link: Arc<dyn Link>,
    ) -> Self {
        Self::new(target, connector, link, true)
    }

    /// A kept connection, not yet proven alive.
    pub(crate) fn kept(target: HostTarget, connector: Arc<Connector>, link: Arc<dyn Link>) -> Self {
        Self::new(target, connector, link, false)
    }

    fn new(
        target: HostTarget,
        connector: Arc<Connector>,
        link: Arc<dyn Link>,
        proven: bool,
    ) -> Self {
        HostLink {
            target,
            connector,
            current: std::sync::Mutex::new((0, link)),
            proven: AtomicBool::new(proven),
            replacing: Default::default(),
        }
    }

    /// The connection in use now.
    pub(crate) fn link(&self) -> Arc<dyn Link> {
        self.current_gen().1
    }

    fn current_gen(&self) -> (u64, Arc<dyn Link>) {
        match self.current.lock() {
            Ok(c) => (c.0, c.1.clone()),
            Err(poisoned) => {
                let c = poisoned.into_inner();
                (c.0, c.1.clone())
            }
        }
    }

    /// Opens a new connection in place of generation `failed` (unless another
    /// session did already) and returns the one to use.
    async fn replace(&self, failed: u64) -> Result<Arc<dyn Link>, minke_ssh::Error> {
        let _one_at_a_time = self.replacing.lock().await;
        let (generation, old) = self.current_gen();
        if generation != failed {
            return Ok(old);
        }
        tracing::info!(host = %self.target.name, "the kept connection was gone; connecting again");
        let (fresh, _retries) = self.connector.connect(&self.target).await;
        let fresh = fresh?;
        if let Ok(mut c) = self.current.lock() {
            *c = (generation + 1, fresh.clone());
        }
        self.proven.store(true, Ordering::Release);
        old.close().await;
        Ok(fresh)
    }
}

#[async_trait]
impl Link for HostLink {
    async fn exec(
        &self,
        command: &str,
        opts: &ExecOptions,
        sink: &mut (dyn OutputSink + Send),
    ) -> Result<CommandOutput, minke_ssh::Error> {
        let (generation, link) = self.current_gen();
        let result = link.exec(command, opts, sink).await;
        match result {
            Err(e) if e.never_started() && !self.proven.load(Ordering::Acquire) => {
                // Nothing was sent: running it on a new connection runs it once.
                let fresh = self.replace(generation).await?;
                fresh.exec(command, opts, sink).await
            }
            Err(e) if e.never_started() => Err(e),
            other => {
                self.proven.store(true, Ordering::Release);
                other
            }
        }
    }

    async fn close(&self) {
        self.link().close().await;
    }

    fn is_closed(&self) -> bool {
        self.link().is_closed()
    }

    async fn put(
        &self,
        source: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        path: &str,
        mode: u32,
    ) -> Result<minke_ssh::Transfer, minke_ssh::Error> {
        let result = self.link().put(source, path, mode).await;
        if result.is_ok() {
            self.proven.store(true, Ordering::Release);
        }
        result
    }

    async fn get(
        &self,
        path: &str,
        sink: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<minke_ssh::Transfer, minke_ssh::Error> {
        let result = self.link().get(path, sink).await;
        if result.is_ok() {
            self.proven.store(true, Ordering::Release);
        }
        result
    }
}
