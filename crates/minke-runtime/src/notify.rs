//! Telling other processes that runs changed: on PostgreSQL, every run this engine
//! works on is announced on [`RUN_CHANNEL`](minke_store::RUN_CHANNEL) at most every
//! [`EVERY`] while it changes (its id only: who listens reads the rows), so that an
//! admin elsewhere shows it live. The announcement is written after the rows it
//! announces, and PostgreSQL delivers it when they are committed.

use minke_core::RunId;
use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use minke_store::Store;
use tokio::sync::broadcast;

use crate::Event;
use crate::events::EventBus;

/// The least time between two announcements of one run.
const EVERY: Duration = Duration::from_millis(50);

/// Announces the runs of an engine that change (started once, on PostgreSQL only).
#[derive(Default)]
pub(crate) struct Notifier {
    started: OnceLock<()>,
}

impl Notifier {
    /// Starts announcing (once; needs a Tokio runtime).
    pub(crate) fn start(&self, store: &Store, events: &EventBus) {
        if store.url().is_sqlite() || self.started.set(()).is_err() {
            return;
        }
        tokio::spawn(announce(store.clone(), events.subscribe()));
    }
}

/// Collects the runs that changed and announces them every [`EVERY`], until the
/// engine is gone.
async fn announce(store: Store, mut events: broadcast::Receiver<Event>) {
    use broadcast::error::TryRecvError;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Sleep until something changes, then gather for a moment.
        let first = match events.recv().await {
            Ok(ev) => Some(ev.run_id()),
            Err(broadcast::error::RecvError::Lagged(_)) => None,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        tick.tick().await;
        let mut runs: BTreeSet<RunId> = first.into_iter().collect();
        loop {
            match events.try_recv() {
                Ok(ev) => {
                    runs.insert(ev.run_id());
                }
                Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
        if runs.is_empty() {
            continue;
        }
        store.announce_runs_later(runs.into_iter().collect());
    }
}
