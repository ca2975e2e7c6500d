//! Who holds a host's sessions while they run: the run itself, in the process that
//! started it, or a worker, through a claimed queue item.

use minke_core::SessionId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use minke_store::{QueueWorker, Store, WorkItem};
use tokio::sync::watch;

/// Who holds a host's sessions.
#[derive(Clone)]
pub(crate) enum Holding {
    /// The run, in the process that recorded it: its sessions start by its say.
    Run,
    /// A worker, through a queue item: each session starts only if the worker still
    /// holds the item (one conditional write), so no session ever runs twice.
    Item(Arc<ItemHold>),
}

impl Holding {
    /// True when the worker drains: sessions not started go back to the queue.
    pub(crate) fn draining(&self) -> bool {
        match self {
            Holding::Run => false,
            Holding::Item(item) => item.draining(),
        }
    }
}

/// A queue item a worker holds.
pub(crate) struct ItemHold {
    queue: QueueWorker,
    pub(crate) item: WorkItem,
    draining: watch::Receiver<bool>,
    lost: AtomicBool,
}

impl ItemHold {
    pub(crate) fn new(queue: QueueWorker, item: WorkItem, draining: watch::Receiver<bool>) -> Self {
        ItemHold {
            queue,
            item,
            draining,
            lost: AtomicBool::new(false),
        }
    }

    /// True when the worker drains.
    pub(crate) fn draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// True once the item's lease ran out (or is about to, the database being out
    /// of reach): the reaper's verdict stands, nothing more is started or recorded.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Marks the item lost.
    pub(crate) fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// Records that a session starts, if the worker still holds the item; false
    /// means the session must not run.
    pub(crate) async fn start_session(&self, store: &Store, session_id: SessionId) -> bool {
        if self.is_lost() {
            return false;
        }
        match store
            .start_held_session(&self.queue, self.item.id, session_id)
            .await
        {
            Ok(started) => started,
            Err(e) => {
                tracing::warn!(
                    item = %self.item.id,
                    %session_id,
                    "could not record the start of a session, so it does not run: {e}"
                );
                false
            }
        }
    }
}
