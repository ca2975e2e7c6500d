//! Checking hosts (`hosts check`): a fresh connection to each selected host, opened,
//! authenticated and closed again without running anything, its outcome decided once
//! as a [`CheckOutcome`], and the whole check recorded in the history as one run of
//! the built-in session [`CHECK_SESSION`], one session a host.
//!
//! The steps: the selection is loaded and each host's fate decided as for a run
//! ([`plan`](crate::plan): a disabled host is not checked), the hosts are probed
//! concurrently ([`Checker`]), and the run is recorded in one write at the end
//! ([`record_check`]), so that it is never seen half done.

mod outcome;
mod probe;
mod record;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use minke_core::{HostId, RunId, SessionId};
use minke_store::{Query, now_micros};

use crate::plan::{Planned, Selection};
use crate::{Engine, Result};

pub use outcome::CheckOutcome;
use probe::Checker;
use record::record_check;

/// The session name a check is recorded under (a built-in: no registered session
/// can have a space in its name).
pub const CHECK_SESSION: &str = "hosts check";

/// Which hosts to check, and how.
///
/// ```
/// use std::time::Duration;
/// use minke_runtime::CheckRequest;
/// use minke_store::Query;
///
/// let req = CheckRequest::new(Query::all(), "ann")
///     .accept_new(true)
///     .concurrency(20)
///     .connect_timeout(Duration::from_secs(5));
/// assert!(req.accepts_new());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckRequest {
    query: Query,
    username: String,
    accept_new: bool,
    concurrency: Option<usize>,
    connect_timeout: Option<Duration>,
}

impl CheckRequest {
    /// The hosts `query` selects (of the host model; "all" leaves out the hosts that
    /// are only jump hosts), checked for `username`.
    pub fn new(query: Query, username: impl Into<String>) -> Self {
        CheckRequest {
            query,
            username: username.into(),
            accept_new: false,
            concurrency: None,
            connect_timeout: None,
        }
    }

    /// Learn the key of a host that has none on record into its known_hosts file,
    /// as policy accept-new does (default: nothing is written, an unknown key is
    /// reported as [`CheckOutcome::HostKeyUnknown`]). Hosts whose policy is `off`
    /// stay unchecked.
    pub fn accept_new(mut self, yes: bool) -> Self {
        self.accept_new = yes;
        self
    }

    /// Hosts checked at once (default: [`Config::concurrency`](crate::Config)); the
    /// engine's limits on handshakes in flight apply too.
    pub fn concurrency(mut self, hosts: usize) -> Self {
        self.concurrency = Some(hosts.max(1));
        self
    }

    /// The limit of each connect (default: the engine's
    /// [`ConnectOptions::connect_timeout`]).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = Some(limit);
        self
    }

    /// True when unknown host keys are learned.
    pub fn accepts_new(&self) -> bool {
        self.accept_new
    }

    /// The parameters the run records: what differs from the defaults.
    fn params(&self) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        if self.accept_new {
            out.insert("accept_new", "true".to_owned());
        }
        if let Some(t) = self.connect_timeout {
            out.insert("connect_timeout", format!("{t:?}"));
        }
        out
    }
}

/// How checking one host went.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HostCheck {
    /// The host's id.
    pub host_id: HostId,
    /// The host's name.
    pub host: String,
    /// The address connected to.
    pub address: String,
    /// The port connected to.
    pub port: u16,
    /// How it went.
    pub outcome: CheckOutcome,
    /// How long connecting, the handshake and authentication took (until the
    /// failure, for a host not reached); behind a jump host, from the jump host's
    /// connection on. `None` when no connection to the host was tried (disabled, its
    /// jump host failed).
    pub handshake: Option<Duration>,
    /// The key the host presented, like `ssh-ed25519 SHA256:...`, when known.
    pub fingerprint: Option<String>,
    /// For a changed host key, the key on record for the host.
    pub known_fingerprint: Option<String>,
    /// What happened, for people (never a secret); `None` for a plain success.
    pub detail: Option<String>,
    /// The session that records it.
    pub session_id: SessionId,
}

impl HostCheck {
    /// The handshake time in whole milliseconds.
    pub fn handshake_ms(&self) -> Option<u64> {
        self.handshake
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// How a check went: the run that records it and every host, in selection order.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckReport {
    /// The run in the history.
    pub run_id: RunId,
    /// One entry a host.
    pub hosts: Vec<HostCheck>,
}

impl CheckReport {
    /// How many hosts were reached.
    pub fn ok(&self) -> usize {
        self.hosts.iter().filter(|h| h.outcome.is_ok()).count()
    }

    /// How many hosts were checked and not reached.
    pub fn failed(&self) -> usize {
        self.hosts.iter().filter(|h| h.outcome.is_failure()).count()
    }

    /// How many hosts were not checked (disabled).
    pub fn skipped(&self) -> usize {
        self.hosts.len() - self.ok() - self.failed()
    }
}

impl Engine {
    /// Checks the hosts a request selects: opens a fresh connection to each (never
    /// a kept one), concurrently, checks its host key, logs in, runs nothing and
    /// closes it; records the check as a run of [`CHECK_SESSION`] on the host model,
    /// one session a host (`completed` with success when it was reached, `failed`
    /// with the failure class otherwise, `canceled` when disabled), each with a
    /// message giving the outcome and the time. Nothing is written to known_hosts
    /// unless [`CheckRequest::accept_new`] says so, whatever the hosts' policies.
    /// Connects are not retried: a check says what one try gives.
    pub async fn check_hosts(&self, req: CheckRequest) -> Result<CheckReport> {
        let model = self.models().get(self.host_model())?.clone();
        let started = now_micros();
        let selection =
            Selection::load(self.store(), self.host_source(), &model, &req.query).await?;
        let planned = Planned::decide_all(selection, &BTreeMap::new());
        let checker = Arc::new(Checker::new(self, &req));
        let probes = checker.probe_all(planned).await;
        let recorded = record_check(self.store(), &req, model.meta.name, started, probes).await?;
        self.store().announce_runs_later(vec![recorded.run_id]);
        Ok(recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_params_say_what_differs_from_the_defaults() {
        let req = CheckRequest::new(Query::all(), "ann");
        assert!(req.params().is_empty());
        let req = req.accept_new(true);
        assert_eq!(
            serde_json::to_string(&req.params()).unwrap(),
            r#"{"accept_new":"true"}"#
        );
    }
}
