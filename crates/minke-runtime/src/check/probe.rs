//! Probing hosts: a fresh connection to each, through the check's own jump host
//! connections, under the engine's limits on handshakes in flight.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use minke_core::{HostId, HostKeyPolicy, HostTarget, MessageLevel, SessionId, Status};
use minke_ssh::{ConnectOptions, Connection};
use minke_store::now_micros;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{CheckOutcome, CheckRequest, HostCheck};
use crate::Engine;
use crate::connect::Connector;
use crate::outcome::Outcome;
use crate::plan::{Fate, Planned};

/// What the probe of one host found, and how its session records it.
pub(super) struct Probe {
    pub(super) object_id: i64,
    pub(super) label: String,
    pub(super) check: HostCheck,
    /// The session's end.
    pub(super) outcome: Outcome,
    /// Its message.
    pub(super) note: (MessageLevel, String),
    /// When the connect started (µs since the epoch), if one did.
    pub(super) started_at: Option<i64>,
    pub(super) finished_at: i64,
}

/// A connection to a jump host, opened once per check and shared by the hosts
/// behind it; a failure is kept too, so that a dead jump host is tried once.
type JumpSlot =
    Arc<tokio::sync::Mutex<Option<std::result::Result<Connection, Arc<minke_ssh::Error>>>>>;

type Opening<'a> = Pin<
    Box<dyn Future<Output = std::result::Result<Connection, Arc<minke_ssh::Error>>> + Send + 'a>,
>;

/// Probes hosts: the engine's limits on handshakes in flight, the check's own limit
/// of hosts at once, and its own jump host connections (never the engine's).
pub(super) struct Checker {
    connector: Arc<Connector>,
    opts: ConnectOptions,
    accept_new: bool,
    hosts_at_once: Semaphore,
    jumps: std::sync::Mutex<HashMap<HostId, JumpSlot>>,
}

impl Checker {
    pub(super) fn new(engine: &Engine, req: &CheckRequest) -> Self {
        let config = engine.config();
        let mut opts = config.connect.clone();
        if let Some(t) = req.connect_timeout {
            opts.connect_timeout = t;
        }
        Checker {
            connector: engine.inner.connector.clone(),
            opts,
            accept_new: req.accept_new,
            hosts_at_once: Semaphore::new(req.concurrency.unwrap_or(config.concurrency).max(1)),
            jumps: Default::default(),
        }
    }

    /// Probes every planned host concurrently; the probes in selection order.
    pub(super) async fn probe_all(self: &Arc<Self>, planned: Vec<Planned>) -> Vec<Probe> {
        let mut tasks = tokio::task::JoinSet::new();
        let total = planned.len();
        for (i, p) in planned.into_iter().enumerate() {
            let checker = self.clone();
            tasks.spawn(async move { (i, checker.probe(p).await) });
        }
        let mut probes: Vec<Option<Probe>> = (0..total).map(|_| None).collect();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((i, probe)) => probes[i] = Some(probe),
                Err(e) => tracing::error!("a host check task failed: {e}"),
            }
        }
        self.close_jumps().await;
        probes.into_iter().flatten().collect()
    }

    /// Checks one planned host (a disabled one is not connected to).
    async fn probe(&self, p: Planned) -> Probe {
        let object_id = p.object.id();
        let target = match &p.fate {
            Fate::Run(target) => for_check(target, self.accept_new),
            // Without locks to respect, a host that does not run is disabled.
            Fate::Canceled { .. } => return Probe::skipped(p, CheckOutcome::Disabled),
            Fate::Failed { .. } => return Probe::skipped(p, CheckOutcome::Other),
        };
        let _turn = self.hosts_at_once.acquire().await;
        let via = match &target.jump {
            None => None,
            Some(jump) => match self.jump(jump).await {
                Ok(c) => Some(c),
                Err(e) => return Probe::jump_failed(object_id, p.label, &target, &e),
            },
        };
        let admitted = self.connector.admit(&target).await;
        let started_at = now_micros();
        let clock = Instant::now();
        let opened = Connection::connect_through(via.as_ref(), &target, &self.opts).await;
        let took = clock.elapsed();
        drop(admitted);
        let probe = Probe::connected(object_id, p.label, &target, &opened, took, started_at);
        if let Ok(c) = opened {
            c.close().await;
        }
        probe
    }

    /// The check's connection to a jump host, opened (through its own jump host)
    /// on first use.
    fn jump<'a>(&'a self, jump: &'a HostTarget) -> Opening<'a> {
        Box::pin(async move {
            let slot = match self.jumps.lock() {
                Ok(mut jumps) => jumps.entry(jump.id).or_default().clone(),
                Err(_) => JumpSlot::default(),
            };
            let mut held = slot.lock().await;
            if let Some(known) = held.as_ref() {
                return known.clone();
            }
            let via = match &jump.jump {
                None => None,
                Some(outer) => Some(self.jump(outer).await?),
            };
            let opened = {
                let _admitted = self.connector.admit(jump).await;
                Connection::connect_through(via.as_ref(), jump, &self.opts).await
            };
            let opened = opened.map_err(Arc::new);
            *held = Some(opened.clone());
            opened
        })
    }

    /// Closes the jump host connections of the check.
    async fn close_jumps(&self) {
        let slots: Vec<JumpSlot> = match self.jumps.lock() {
            Ok(mut jumps) => jumps.drain().map(|(_, s)| s).collect(),
            Err(_) => Vec::new(),
        };
        for slot in slots {
            if let Some(Ok(c)) = slot.lock().await.take() {
                c.close().await;
            }
        }
    }
}

/// `target` (and its jump hosts) with the host key policy of a check: nothing is
/// learned into known_hosts unless `accept_new`; `off` stays off.
fn for_check(target: &HostTarget, accept_new: bool) -> HostTarget {
    let mut t = target.clone();
    t.host_key_policy = match t.host_key_policy {
        HostKeyPolicy::Off => HostKeyPolicy::Off,
        _ if accept_new => HostKeyPolicy::AcceptNew,
        _ => HostKeyPolicy::Strict,
    };
    t.jump = t.jump.map(|j| Box::new(for_check(&j, accept_new)));
    t
}

/// The text of an error without the host it starts with (the table names it).
fn without_host(e: &minke_ssh::Error) -> String {
    let text = e.to_string();
    match text
        .strip_prefix(e.host())
        .and_then(|t| t.strip_prefix(": "))
    {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

impl Probe {
    fn check(
        target: &HostTarget,
        outcome: CheckOutcome,
        handshake: Option<Duration>,
        detail: Option<String>,
    ) -> HostCheck {
        HostCheck {
            host_id: target.id,
            host: target.name.clone(),
            address: target.address.clone(),
            port: target.port,
            outcome,
            handshake,
            fingerprint: None,
            known_fingerprint: None,
            detail,
            session_id: SessionId::new(0),
        }
    }

    /// A host not connected to, as its fate says (one without a host record is
    /// named by its label).
    fn skipped(p: Planned, outcome: CheckOutcome) -> Probe {
        let object_id = p.object.id();
        let note = p
            .fate
            .note()
            .unwrap_or((MessageLevel::Warning, "not checked".to_owned()));
        let host = match p.fate.host() {
            Some(host) => host.clone(),
            None => HostTarget::new(HostId::new(object_id), p.label.clone(), ""),
        };
        Probe {
            object_id,
            check: Self::check(&host, outcome, None, Some(note.1.clone())),
            outcome: p.fate.recorded(),
            label: p.label,
            note,
            started_at: None,
            finished_at: now_micros(),
        }
    }

    /// A host whose jump host could not be reached.
    fn jump_failed(
        object_id: i64,
        label: String,
        target: &HostTarget,
        e: &minke_ssh::Error,
    ) -> Probe {
        let outcome = CheckOutcome::JumpHostFailed;
        let detail = format!("jump host {e}");
        Probe {
            object_id,
            label,
            note: (MessageLevel::Error, format!("{outcome}: {e}")),
            check: Self::check(target, outcome, None, Some(detail)),
            outcome: Outcome::failed(e.reason()),
            started_at: None,
            finished_at: now_micros(),
        }
    }

    /// A host a connection was tried to, and what came of it.
    fn connected(
        object_id: i64,
        label: String,
        target: &HostTarget,
        opened: &std::result::Result<Connection, minke_ssh::Error>,
        took: Duration,
        started_at: i64,
    ) -> Probe {
        let ms = took.as_millis();
        let (check, outcome, note) = match opened {
            Ok(c) => {
                let learned = c.learned_host_key().then(|| {
                    let file = target.known_hosts.as_ref().map_or_else(
                        || "~/.ssh/known_hosts".to_owned(),
                        |p| p.display().to_string(),
                    );
                    format!("learned its host key into {file}")
                });
                let mut check = Self::check(target, CheckOutcome::Ok, Some(took), learned);
                check.fingerprint = c.host_key().map(str::to_owned);
                let mut text = format!("ok: connected and logged in ({ms} ms)");
                if let Some(key) = &check.fingerprint {
                    text.push_str(&format!(", host key {key}"));
                }
                if let Some(learned) = &check.detail {
                    text.push_str(&format!("; {learned}"));
                }
                (
                    check,
                    Outcome::completed(Status::Success),
                    (MessageLevel::Info, text),
                )
            }
            Err(e) => {
                let outcome = CheckOutcome::of(e);
                let detail = without_host(e);
                let note = format!("{outcome} after {ms} ms: {detail}");
                let mut check = Self::check(target, outcome, Some(took), Some(detail));
                if let minke_ssh::Error::HostKey { fingerprint, .. } = e {
                    check.fingerprint = Some(fingerprint.clone());
                    check.known_fingerprint = e.known_fingerprint();
                }
                (
                    check,
                    Outcome::failed(e.reason()),
                    (MessageLevel::Error, note),
                )
            }
        };
        Probe {
            object_id,
            label,
            check,
            outcome,
            note,
            started_at: Some(started_at),
            finished_at: now_micros(),
        }
    }
}

#[cfg(test)]
mod tests {
    use minke_ssh::Error as E;

    use super::*;

    const HOST: &str = "web1 (127.0.0.1:2222)";

    #[test]
    fn a_check_never_learns_keys_unless_asked_and_leaves_off_alone() {
        let mut jump = HostTarget::new(HostId::new(1), "bastion", "127.0.0.1");
        jump.host_key_policy = HostKeyPolicy::AcceptNew;
        let mut t = HostTarget::new(HostId::new(2), "web1", "127.0.0.1");
        t.host_key_policy = HostKeyPolicy::AcceptNew;
        t.jump = Some(Box::new(jump));
        let strict = for_check(&t, false);
        assert_eq!(strict.host_key_policy, HostKeyPolicy::Strict);
        assert_eq!(
            strict.jump.as_ref().map(|j| j.host_key_policy),
            Some(HostKeyPolicy::Strict)
        );
        t.host_key_policy = HostKeyPolicy::Strict;
        let learning = for_check(&t, true);
        assert_eq!(learning.host_key_policy, HostKeyPolicy::AcceptNew);
        assert_eq!(
            learning.jump.as_ref().map(|j| j.host_key_policy),
            Some(HostKeyPolicy::AcceptNew)
        );
        t.host_key_policy = HostKeyPolicy::Off;
        assert_eq!(for_check(&t, true).host_key_policy, HostKeyPolicy::Off);
        assert_eq!(for_check(&t, false).host_key_policy, HostKeyPolicy::Off);
    }

    #[test]
    fn the_detail_leaves_out_the_host() {
        let e = E::ConnectRefused {
            host: HOST.into(),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 2222)),
        };
        assert_eq!(without_host(&e), "connection refused by 127.0.0.1:2222");
    }
}
