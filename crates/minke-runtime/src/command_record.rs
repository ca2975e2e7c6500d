//! A command's row in the history: written when the command starts, so that a run
//! whose process dies shows what was running, and completed when it ends. A command
//! that ends before the store's writer has reached its start (most do: the writer
//! works in batches) is written once, whole, by the start's own row.

use std::sync::{Arc, Mutex, PoisonError};

use minke_store::{CommandRow, HistoryRow, Store};

/// Where the start's statement stands.
enum Slot {
    /// Queued: the writer has not run it yet; the row as it is now (its output so
    /// far, or its end), once known.
    Queued(Option<CommandRow>),
    /// The writer has taken it: the end is written as an update of its row.
    Taken,
}

/// The history row of one running command.
#[derive(Clone)]
pub(crate) struct CommandRecord {
    slot: Arc<Mutex<Slot>>,
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CommandRecord {
    /// Queues the row of a command that starts now (`row` without its outcome).
    pub(crate) fn start(store: &Store, row: CommandRow) -> Self {
        let slot = Arc::new(Mutex::new(Slot::Queued(None)));
        let queued = slot.clone();
        store.record_later("a command", move || {
            // Decided under the lock: an end that comes after it is queued as an
            // update of this row.
            match std::mem::replace(&mut *lock(&queued), Slot::Taken) {
                Slot::Queued(Some(finished)) => HistoryRow::Command(finished),
                Slot::Queued(None) | Slot::Taken => HistoryRow::Command(row),
            }
        });
        CommandRecord { slot }
    }

    /// Records the command's output so far (`row` without an exit): folded into the
    /// start's row when that has not been written yet, else an update of the row.
    pub(crate) fn progress(&self, store: &Store, row: CommandRow) {
        let mut slot = lock(&self.slot);
        match &mut *slot {
            Slot::Queued(so_far) => *so_far = Some(row),
            Slot::Taken => {
                drop(slot);
                store.record_later("a command's output so far", move || {
                    HistoryRow::CommandEnd(row)
                });
            }
        }
    }

    /// Records the command's end: folded into the start's statement when that has not
    /// run yet, else an update of the row.
    pub(crate) fn finish(self, store: &Store, row: CommandRow) {
        let mut slot = lock(&self.slot);
        match &mut *slot {
            Slot::Queued(finished) => *finished = Some(row),
            Slot::Taken => {
                drop(slot);
                store.record_later("the end of a command", move || HistoryRow::CommandEnd(row));
            }
        }
    }
}
