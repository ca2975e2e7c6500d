//! Opening connections at scale: limits on handshakes in flight (in all, per jump host
//! and per server), an optional rate limit, and retries with exponential backoff for
//! refused or dropped connects.

use std::sync::Arc;
use std::time::Duration;

use minke_core::{FailReason, HostId, HostTarget};
use minke_ssh::ConnectOptions;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::Config;
use crate::transport::{Link, Transport};

pub(crate) struct Connector {
    transport: Arc<dyn Transport>,
    opts: ConnectOptions,
    in_flight: Semaphore,
    next_slot: Option<(Mutex<Instant>, Duration)>,
    retries: u32,
    backoff: Duration,
    per_jump: usize,
    per_server: usize,
    gates: std::sync::Mutex<std::collections::HashMap<Gate, Arc<Semaphore>>>,
}

/// The retries a connect took: how many, and the first failure.
#[derive(Debug, Default)]
pub(crate) struct Retries {
    pub(crate) count: u32,
    pub(crate) first: Option<String>,
}

impl Retries {
    /// A line for the session's messages, when there were retries.
    pub(crate) fn describe(&self, connected: bool) -> Option<String> {
        let first = self.first.as_deref()?;
        let tries = if self.count == 1 { "retry" } else { "retries" };
        Some(if connected {
            format!(
                "connected after {} {tries}; the first try failed: {first}",
                self.count
            )
        } else {
            format!(
                "gave up connecting after {} {tries}; the first try failed: {first}",
                self.count
            )
        })
    }
}

/// The places a handshake holds while it is in flight ([`Connector::admit`]).
pub(crate) struct Admission<'a> {
    _jump: Option<OwnedSemaphorePermit>,
    _server: Option<OwnedSemaphorePermit>,
    _in_flight: Option<SemaphorePermit<'a>>,
}

/// What a limit on handshakes in flight is kept for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Gate {
    /// Everything through one jump host (its host id).
    Jump(HostId),
    /// One SSH server: the jump host it is reached through, its address and port.
    Server(Option<HostId>, String, u16),
}

/// Failures that a busy server produces (sshd's `MaxStartups` drops, a full listen
/// queue): worth another try after a pause.
fn retryable(e: &minke_ssh::Error) -> bool {
    matches!(
        e.reason(),
        FailReason::ConnectRefused | FailReason::Disconnected
    )
}

impl Connector {
    pub(crate) fn new(transport: Arc<dyn Transport>, config: &Config) -> Self {
        let next_slot = config
            .connect_rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| (Mutex::new(Instant::now()), Duration::from_secs_f64(1.0 / r)));
        Connector {
            transport,
            opts: config.connect.clone(),
            in_flight: Semaphore::new(config.connect_concurrency.max(1)),
            next_slot,
            retries: config.connect_retries,
            backoff: config.connect_backoff,
            per_jump: config.connect_per_jump.max(1),
            per_server: config.connect_per_server.max(1),
            gates: Default::default(),
        }
    }

    async fn wait_for_slot(&self) {
        if let Some((next, every)) = &self.next_slot {
            let at = {
                let mut n = next.lock().await;
                let at = (*n).max(Instant::now());
                *n = at + *every;
                at
            };
            tokio::time::sleep_until(at).await;
        }
    }

    fn gate(&self, key: Gate, permits: usize) -> Option<Arc<Semaphore>> {
        let mut gates = self.gates.lock().ok()?;
        Some(
            gates
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(permits)))
                .clone(),
        )
    }

    /// Waits until a handshake to `target` may start: a place among those in flight
    /// through its jump host, to its server and in all, and its slot of the rate
    /// limit. The places are held until the [`Admission`] is dropped.
    pub(crate) async fn admit(&self, target: &HostTarget) -> Admission<'_> {
        let jump_gate = target
            .jump
            .as_ref()
            .and_then(|j| self.gate(Gate::Jump(j.id), self.per_jump));
        let server_gate = self.gate(
            Gate::Server(
                target.jump.as_ref().map(|j| j.id),
                target.address.to_ascii_lowercase(),
                target.port,
            ),
            self.per_server,
        );
        let jump = match jump_gate {
            Some(g) => g.acquire_owned().await.ok(),
            None => None,
        };
        let server = match server_gate {
            Some(g) => g.acquire_owned().await.ok(),
            None => None,
        };
        let in_flight = self.in_flight.acquire().await.ok();
        self.wait_for_slot().await;
        Admission {
            _jump: jump,
            _server: server,
            _in_flight: in_flight,
        }
    }

    /// Connects to a host, retrying refused or dropped connects; says how many
    /// retries it took besides the result.
    pub(crate) async fn connect(
        &self,
        target: &HostTarget,
    ) -> (Result<Arc<dyn Link>, minke_ssh::Error>, Retries) {
        let mut attempt = 0;
        let mut retries = Retries::default();
        loop {
            let result = {
                let _admitted = self.admit(target).await;
                self.transport.connect(target, &self.opts).await
            };
            match result {
                Err(e) if attempt < self.retries && retryable(&e) => {
                    // Exponential backoff with a spread that differs per host, so
                    // many hosts refused together do not come back together.
                    let spread = (target.id.get().unsigned_abs() % 97) as u32;
                    let pause =
                        self.backoff * 2u32.saturating_pow(attempt) + self.backoff * spread / 97;
                    tracing::info!(host = %target.name, attempt, ?pause, "connect failed, retrying: {e}");
                    retries.count += 1;
                    retries.first.get_or_insert_with(|| e.to_string());
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return (other, retries),
            }
        }
    }
}
