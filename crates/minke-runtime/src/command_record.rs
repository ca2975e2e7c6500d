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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use minke_core::{RunState, SessionId, State};
    use minke_store::{MessageRow, NewRun, NewSession};

    use super::*;

    fn row(session_id: SessionId, exit: Option<i32>, out: &str) -> CommandRow {
        CommandRow {
            session_id,
            seq: 1,
            command: "uname".into(),
            exit_code: exit,
            exit_signal: None,
            stdout: out.as_bytes().to_vec(),
            stderr: Vec::new(),
            stdout_len: i64::try_from(out.len()).unwrap_or(0),
            stderr_len: 0,
            stdout_truncated: false,
            stderr_truncated: false,
            started_at: 1,
            duration_us: 2,
        }
    }

    /// A command that ends before the writer takes its start is written once, whole;
    /// when a bad row in the same batch makes the writer write the batch again row by
    /// row (PostgreSQL), the command keeps its outcome.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_folded_end_survives_its_batch_written_again() {
        let admin = std::env::var("MINKE_TEST_PG_URL").expect(
            "MINKE_TEST_PG_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL",
        );
        let db = minke_testkit::PgDatabase::create(&admin, "folded").unwrap();
        let store = Store::open(db.url()).await.unwrap();
        let session = store
            .write(|c| {
                let run_id = minke_store::insert_run(
                    c,
                    &NewRun {
                        session: "s".into(),
                        model: "host".into(),
                        username: "u".into(),
                        params: "{}".into(),
                        selection: "all".into(),
                        state: RunState::Running,
                        created_at: 0,
                    },
                )?;
                let ids = minke_store::insert_sessions(
                    c,
                    &[NewSession {
                        run_id,
                        session: "s".into(),
                        model: "host".into(),
                        object_id: 1,
                        object_label: "o".into(),
                        host_id: None,
                        host_name: None,
                        state: State::Running,
                        status: None,
                        reason: None,
                        created_at: 0,
                    }],
                )?;
                Ok(ids[0])
            })
            .await
            .unwrap();
        // Hold the writer so that everything below goes into one batch.
        let (release, held) = std::sync::mpsc::channel::<()>();
        store.write_later("holding the writer", move |_| {
            let _ = held.recv_timeout(Duration::from_secs(60));
            Ok(())
        });
        let record = CommandRecord::start(&store, row(session, None, ""));
        record.finish(&store, row(session, Some(3), "Linux\n"));
        // No such session: refused, which makes the batch be written again row by row.
        let bad = MessageRow {
            session_id: SessionId::new(999_999),
            seq: 1,
            level: "info".into(),
            body: "{}".into(),
            created_at: 1,
        };
        store.record_later("a bad message", move || HistoryRow::Message(bad));
        release.send(()).unwrap();
        store.flush().await.unwrap();
        let commands = store
            .blocking(move |c| minke_store::session_commands(c, session))
            .await
            .unwrap();
        let got: Vec<(Option<i32>, Vec<u8>)> = commands
            .iter()
            .map(|c| (c.exit_code, c.stdout.clone()))
            .collect();
        assert_eq!(got, vec![(Some(3), b"Linux\n".to_vec())]);
        assert_eq!(store.failed_writes().0, 1, "only the bad row is lost");
        store.close().await.unwrap();
    }
}
