//! Leases: the worker renews the leases of all its items with one statement every
//! third of the lease; an item the renewal misses was lost (its sessions stop at
//! once); when renewals fail (the database out of reach) the worker stops its
//! commands before its leases run out, so that the reaper's verdict (`interrupted`)
//! is true and nothing runs twice. And the reaper: every worker tries, one at a time
//! works (the store takes an advisory lock), ending the runs it leaves without work.

use minke_core::{RunId, WorkItemId};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minke_store::now_micros;
use tokio::task::JoinHandle;

use super::{Held, Shared};
use crate::{Event, Stop};

/// Renews the worker's leases until aborted; stops what it cannot keep.
pub(super) fn heartbeat(shared: Arc<Shared>) -> JoinHandle<()> {
    let lease = shared.config.lease;
    let every = (lease / 3).max(Duration::from_millis(100));
    // Commands are stopped this long before a lease that could not be renewed ends.
    let margin = (lease / 5).max(Duration::from_millis(200));
    tokio::spawn(async move {
        let mut renewed_at = Instant::now();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sent = Instant::now();
            let queue = shared.queue.clone();
            let renewal = shared
                .engine
                .store()
                .write_urgent(move |c| queue.heartbeat(c));
            match tokio::time::timeout(every, renewal).await {
                Ok(Ok(ids)) => {
                    renewed_at = sent;
                    shared.drop_missing(&ids.into_iter().collect(), sent);
                }
                Ok(Err(e)) => {
                    tracing::warn!(worker = shared.queue.name(), "renewing leases failed: {e}")
                }
                Err(_) => tracing::warn!(
                    worker = shared.queue.name(),
                    "renewing leases took longer than {every:?}"
                ),
            }
            if renewed_at.elapsed() + margin >= lease {
                shared.give_up_all(renewed_at.elapsed());
            }
        }
    })
}

impl Shared {
    /// The items held since before `sent` that the renewal missed are lost: their
    /// sessions stop at once, nothing more of them is recorded.
    fn drop_missing(&self, renewed: &BTreeSet<WorkItemId>, sent: Instant) {
        self.give_up(
            |id, h| h.claimed < sent && !renewed.contains(&id),
            "the lease of a work item ran out: stopping its sessions",
        );
    }

    /// The leases could not be renewed for `since`: every item is given up and its
    /// commands stopped at once, before the leases end.
    fn give_up_all(&self, since: Duration) {
        tracing::error!(
            worker = self.queue.name(),
            "no lease renewal for {since:?}: stopping the commands of every item before the leases end"
        );
        self.give_up(
            |_, _| true,
            "stopping the item's commands before its lease ends",
        );
    }

    /// Marks the held items `which` picks lost and stops their sessions at once.
    fn give_up(&self, which: impl Fn(WorkItemId, &Held) -> bool, why: &str) {
        let Ok(held) = self.held.lock() else { return };
        for (&id, h) in held.iter() {
            if h.hold.is_lost() || !which(id, h) {
                continue;
            }
            tracing::error!(
                worker = self.queue.name(),
                item = %id,
                run_id = %h.run_id,
                "{why}"
            );
            h.hold.mark_lost();
            for s in &h.sessions {
                s.raise_to(Stop::Now);
            }
        }
    }
}

/// Reaps expired leases until aborted (one reaper at a time among all workers) and
/// ends the runs left without work.
pub(super) fn reaper(shared: Arc<Shared>) -> JoinHandle<()> {
    let every = (shared.config.lease / 2).max(Duration::from_millis(500));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let reaped = shared.engine.store().write_apart(reap).await;
            match reaped {
                Ok(ended) => {
                    for run_id in ended {
                        shared
                            .engine
                            .events()
                            .send(|| Event::RunFinished { run_id });
                    }
                }
                Err(e) => tracing::warn!(worker = shared.queue.name(), "reaping failed: {e}"),
            }
        }
    })
}

/// One pass of the reaper, then the end of the runs it touched that have nothing
/// left; returns those runs.
fn reap(c: &mut minke_store::Conn) -> minke_store::Result<Vec<RunId>> {
    let Some(reaped) = minke_store::reap_expired(c)? else {
        return Ok(Vec::new());
    };
    if reaped.is_empty() {
        return Ok(Vec::new());
    }
    for item in &reaped.handed_back {
        tracing::warn!(item = %item.item_id, run_id = %item.run_id, worker = ?item.worker,
            "a work item's lease ran out before it started: queued again");
    }
    for item in &reaped.lost {
        tracing::error!(item = %item.item_id, run_id = %item.run_id, worker = ?item.worker,
            interrupted = ?item.interrupted, requeued = ?item.requeued,
            "a work item's lease ran out while it ran: its started sessions end interrupted");
    }
    let runs: BTreeSet<RunId> = reaped.lost.iter().map(|l| l.run_id).collect();
    let mut ended = Vec::new();
    for run_id in runs {
        if minke_store::finish_run_if_complete(c, run_id, now_micros())?.is_some() {
            ended.push(run_id);
        }
    }
    Ok(ended)
}
