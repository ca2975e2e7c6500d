//! The output of a running command, written to its history row as it goes: the last
//! [`TAIL_BYTES`] of standard output and of standard error, at most every
//! [`EVERY`] (the first output at once), so that an admin in another process, which
//! sees this engine's runs only through the database, shows what a command prints
//! while it runs. The command's end overwrites the row with its whole (capped)
//! output.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use minke_store::{CommandRow, Store};

use crate::command_record::CommandRecord;

/// The bytes of each stream kept while a command runs.
pub(crate) const TAIL_BYTES: usize = 4096;
/// The least time between two writes of one command's output.
pub(crate) const EVERY: Duration = Duration::from_secs(1);

/// Writes the tail of one running command's output now and then.
pub(crate) struct OutputTail {
    state: Arc<Mutex<State>>,
}

struct State {
    store: Store,
    record: CommandRecord,
    /// The command's row as it started.
    row: CommandRow,
    started: Instant,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_len: i64,
    stderr_len: i64,
    written: Option<Instant>,
    /// A write is due later (output came in sooner than [`EVERY`] after the last).
    due: bool,
    /// The command ended: its end is written instead.
    ended: bool,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends `data` to `buf`, keeping its last [`TAIL_BYTES`].
fn keep_tail(buf: &mut Vec<u8>, data: &[u8]) {
    buf.extend_from_slice(data);
    if buf.len() > TAIL_BYTES {
        buf.drain(..buf.len() - TAIL_BYTES);
    }
}

impl OutputTail {
    /// For the command whose start `record` holds (`row`: its start).
    pub(crate) fn new(store: &Store, record: CommandRecord, row: CommandRow) -> Self {
        OutputTail {
            state: Arc::new(Mutex::new(State {
                store: store.clone(),
                record,
                row,
                started: Instant::now(),
                stdout: Vec::new(),
                stderr: Vec::new(),
                stdout_len: 0,
                stderr_len: 0,
                written: None,
                due: false,
                ended: false,
            })),
        }
    }

    /// Takes a chunk of output (`stdout` or not); writes the tail when it is time, or
    /// arranges that it is written when it will be.
    pub(crate) fn push(&self, stdout: bool, data: &[u8]) {
        let mut s = lock(&self.state);
        if stdout {
            s.stdout_len += data.len() as i64;
            keep_tail(&mut s.stdout, data);
        } else {
            s.stderr_len += data.len() as i64;
            keep_tail(&mut s.stderr, data);
        }
        match s.written.map(|w| w.elapsed()) {
            Some(since) if since < EVERY => {
                if !s.due {
                    s.due = true;
                    let state = self.state.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(EVERY - since).await;
                        let mut s = lock(&state);
                        s.due = false;
                        s.write();
                    });
                }
            }
            _ => s.write(),
        }
    }

    /// The command ended: no more writes of its tail (its end is written next).
    pub(crate) fn end(self) -> CommandRecord {
        let mut s = lock(&self.state);
        s.ended = true;
        s.record.clone()
    }
}

impl State {
    fn write(&mut self) {
        if self.ended {
            return;
        }
        self.written = Some(Instant::now());
        let row = CommandRow {
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
            stdout_len: self.stdout_len,
            stderr_len: self.stderr_len,
            stdout_truncated: self.stdout_len > self.stdout.len() as i64,
            stderr_truncated: self.stderr_len > self.stderr.len() as i64,
            duration_us: i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX),
            ..self.row.clone()
        };
        self.record.progress(&self.store, row);
    }
}
