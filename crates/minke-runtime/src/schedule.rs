//! Scheduling a recorded run: its runnable sessions grouped by host, one task a
//! host under the engine's limit of sessions at once, the run's host locks kept
//! alive meanwhile, and its end recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use minke_core::{FailReason, HostId, HostTarget, MessageLevel, RunId, SessionId};
use minke_store::{Store, now_micros};
use tokio::task::{JoinHandle, JoinSet};

use crate::execute::{Job, RunCtx};
use crate::hold::Holding;
use crate::outcome::Outcome;
use crate::plan::{Fate, Planned};
use crate::record;
use crate::{Canceller, Event, RunSummary, SessionSummary};

/// A recorded run, ready to go.
pub(crate) struct Schedule {
    /// One entry per session, in selection order.
    pub(crate) summaries: Vec<SessionSummary>,
    /// The sessions to run, by host id.
    pub(crate) hosts: BTreeMap<HostId, (HostTarget, Vec<Job>)>,
    /// Each runnable session's own stop, by session id.
    pub(crate) controls: BTreeMap<SessionId, Canceller>,
}

impl Schedule {
    /// Groups a recorded run's sessions: those that run by host, in selection
    /// order; every session gets its summary.
    pub(crate) fn new(sessions: Vec<(SessionId, Planned)>) -> Self {
        let mut schedule = Schedule {
            summaries: Vec::with_capacity(sessions.len()),
            hosts: BTreeMap::new(),
            controls: BTreeMap::new(),
        };
        for (session_id, p) in sessions {
            let mut summary = SessionSummary {
                session_id,
                object_id: p.object.id(),
                object: p.label.clone(),
                host: p.fate.host().map(|h| h.name.clone()),
                state: minke_core::State::Initialized,
                status: None,
                reason: None,
            };
            summary.settle(p.fate.outcome());
            schedule.summaries.push(summary);
            if let Fate::Run(target) = p.fate {
                let (control, stop) = Canceller::new();
                schedule.controls.insert(session_id, control);
                schedule
                    .hosts
                    .entry(target.id)
                    .or_insert_with(|| (target, Vec::new()))
                    .1
                    .push(Job {
                        session_id,
                        object: p.object,
                        label: p.label,
                        stop,
                    });
            }
        }
        schedule
    }
}

impl RunCtx {
    /// Runs every host's sessions, then records the end of the run.
    pub(crate) async fn drive(
        self,
        hosts: BTreeMap<HostId, (HostTarget, Vec<Job>)>,
        mut summaries: Vec<SessionSummary>,
    ) -> RunSummary {
        let run_id = self.run_id;
        let heartbeat = heartbeat(
            self.inner().store.clone(),
            run_id,
            self.inner().config.lock_ttl,
        );
        let stops = crate::stop::watch_stop_requests(
            &self.engine,
            run_id,
            self.engine.run_canceller(run_id),
        );
        let outcomes = self.run_hosts(hosts).await;
        heartbeat.abort();
        stops.abort();
        let mut by_id: BTreeMap<SessionId, Outcome> = outcomes.into_iter().collect();
        for s in summaries.iter_mut() {
            if let Some(o) = by_id.remove(&s.session_id) {
                s.settle(o);
            }
        }
        self.close().await;
        RunSummary {
            run_id,
            sessions: summaries,
        }
    }

    /// One task a host; all of them share the engine's limit, with every other run.
    async fn run_hosts(
        &self,
        hosts: BTreeMap<HostId, (HostTarget, Vec<Job>)>,
    ) -> Vec<(SessionId, Outcome)> {
        let run_id = self.run_id;
        let permits = self.inner().permits.clone();
        let mut tasks = JoinSet::new();
        let mut host_of_task = BTreeMap::new();
        for (host_id, (target, jobs)) in hosts {
            let ids: Vec<SessionId> = jobs.iter().map(|j| j.session_id).collect();
            let task = self
                .clone()
                .host_task(target, jobs, permits.clone(), Holding::Run);
            let handle = tasks.spawn(task);
            host_of_task.insert(handle.id(), (host_id, ids));
        }
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next_with_id().await {
            match done {
                Ok((_, outs)) => outcomes.extend(outs),
                Err(e) => {
                    // A host task itself died: its unfinished sessions fail, never vanish.
                    if let Some((host_id, ids)) = host_of_task.get(&e.id()) {
                        tracing::error!(%run_id, %host_id, "host task failed: {e}");
                        let why = format!("the host's worker task died: {e}");
                        self.fail_unfinished(ids, &why).await;
                        outcomes.extend(
                            ids.iter().map(|&id| {
                                (id, Outcome::failed_with(FailReason::SessionError, &why))
                            }),
                        );
                    }
                }
            }
        }
        outcomes
    }

    /// Records the sessions of a host task that died as failed, with why, unless they
    /// had ended before it died.
    async fn fail_unfinished(&self, ids: &[SessionId], why: &str) {
        let ids = ids.to_vec();
        let at = now_micros();
        let reason = FailReason::SessionError.as_str();
        let ended = self
            .inner()
            .store
            .write(move |c| minke_store::fail_unfinished_sessions(c, &ids, reason, at))
            .await;
        match ended {
            Ok(ended) => {
                for id in ended {
                    self.note(id, MessageLevel::Error, why.to_owned());
                }
            }
            Err(e) => tracing::error!(
                run_id = %self.run_id,
                "recording the sessions of a dead host task failed: {e}"
            ),
        }
    }

    /// Records the end of the run (`canceled` when it was stopped), releases its
    /// locks and says it ended.
    async fn close(&self) {
        let run_id = self.run_id;
        let stopped = self.cancel.borrow().is_some();
        let at = now_micros();
        let finished = self
            .inner()
            .store
            .write(move |c| {
                record::finish_run(c, run_id, stopped, at)?;
                // Told with the end itself: the announcements that follow changes
                // may come after this process has closed its store.
                minke_store::notify_runs(c, &[run_id])
            })
            .await;
        if let Err(e) = finished {
            tracing::error!(%run_id, "recording the end of the run failed: {e}");
        }
        self.inner().deactivate(run_id);
        self.inner().events.send(|| Event::RunFinished { run_id });
    }
}

/// Renews the run's host locks every third of their lifetime, until aborted.
fn heartbeat(store: Store, run_id: RunId, ttl: Duration) -> JoinHandle<()> {
    let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(ttl / 3);
        every.tick().await;
        loop {
            every.tick().await;
            store.write_statement_later("a lock heartbeat", move |c| {
                minke_store::refresh_host_locks(c, run_id, ttl_us)
            });
        }
    })
}
