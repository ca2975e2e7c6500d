//! Live events of runs, for progress displays and the admin.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use minke_core::{FailReason, Message, RunId, SessionId, State, Status};
use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a live receiver may fall behind before it misses some (`Lagged`).
const EVENT_BUFFER: usize = 8192;

/// The engine's live event channel. Its ring buffer (about a megabyte) is made on the
/// first subscription, and events are only built while someone listens: a command-line
/// run that nobody watches pays for neither.
#[derive(Clone, Default)]
pub(crate) struct EventBus {
    tx: Arc<OnceLock<broadcast::Sender<Event>>>,
}

impl EventBus {
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx
            .get_or_init(|| broadcast::channel(EVENT_BUFFER).0)
            .subscribe()
    }

    /// Sends the event `make` builds, if anyone listens.
    pub(crate) fn send(&self, make: impl FnOnce() -> Event) {
        if let Some(tx) = self.tx.get()
            && tx.receiver_count() > 0
        {
            let _ = tx.send(make());
        }
    }
}

/// Which output stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Something that happened in a run.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run was recorded and is about to start.
    RunStarted {
        /// The run.
        run_id: RunId,
        /// How many sessions it has.
        sessions: usize,
    },
    /// A session changed state.
    SessionState {
        /// The run.
        run_id: RunId,
        /// The session.
        session_id: SessionId,
        /// The host's name, if known.
        host: Option<String>,
        /// The object's label.
        object: String,
        /// The new state.
        state: State,
        /// The status, once done.
        status: Option<Status>,
        /// Why it failed or was canceled.
        reason: Option<String>,
    },
    /// A command started.
    CommandStarted {
        /// The run.
        run_id: RunId,
        /// The session.
        session_id: SessionId,
        /// The command line (secrets redacted).
        command: String,
    },
    /// A chunk of a running command's output.
    Output {
        /// The run.
        run_id: RunId,
        /// The session.
        session_id: SessionId,
        /// Which stream.
        stream: OutputStream,
        /// The bytes.
        #[serde(serialize_with = "lossy")]
        data: Bytes,
    },
    /// A command ended.
    CommandFinished {
        /// The run.
        run_id: RunId,
        /// The session.
        session_id: SessionId,
        /// Exit code.
        exit_code: Option<i32>,
        /// Exit signal.
        exit_signal: Option<String>,
    },
    /// A message was added.
    Message {
        /// The run.
        run_id: RunId,
        /// The session.
        session_id: SessionId,
        /// The message.
        message: Message,
    },
    /// A host could not be reached.
    HostFailed {
        /// The run.
        run_id: RunId,
        /// The host.
        host: String,
        /// The failure class.
        reason: FailReason,
    },
    /// A run ended.
    RunFinished {
        /// The run.
        run_id: RunId,
    },
}

fn lossy<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

impl Event {
    /// The run the event belongs to.
    pub fn run_id(&self) -> RunId {
        match self {
            Event::RunStarted { run_id, .. }
            | Event::SessionState { run_id, .. }
            | Event::CommandStarted { run_id, .. }
            | Event::Output { run_id, .. }
            | Event::CommandFinished { run_id, .. }
            | Event::Message { run_id, .. }
            | Event::HostFailed { run_id, .. }
            | Event::RunFinished { run_id } => *run_id,
        }
    }
}

/// Sees a run's output as it arrives, every byte, in order per session (for
/// `--output-dir` and `--stream`). Called on the engine's tasks: keep it quick.
pub trait RunObserver: Send + Sync {
    /// A chunk of a command's output.
    fn output(&self, session_id: SessionId, host: &str, stream: OutputStream, data: &[u8]);
    /// A command ended (flush partial lines here).
    fn command_finished(&self, session_id: SessionId, host: &str);
}
