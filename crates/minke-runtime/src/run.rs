//! A run as who starts it sees it: the request, the handle, the summary.

use minke_core::{Error as CoreError, Params, RunId, SessionId, State, Status};
use minke_store::Query;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::outcome::Outcome;
use crate::{Canceller, Error, Result};

/// What to run: a session on a selection of a model's objects.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The session's name.
    pub session: String,
    /// The model's name.
    pub model: String,
    /// Which objects.
    pub query: Query,
    /// Parameters as text.
    pub params: Params,
    /// Who starts it.
    pub username: String,
}

/// A run queued for workers ([`Engine::submit`](crate::Engine::submit)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Submitted {
    /// The run's id in the history.
    pub run_id: RunId,
    /// Its sessions, one per selected object (those that cannot run have ended).
    pub sessions: usize,
}

/// How one session of a run ended (or where it stands).
#[derive(Clone, Debug, Serialize)]
pub struct SessionSummary {
    /// The session's id in the history.
    pub session_id: SessionId,
    /// The object's id.
    pub object_id: i64,
    /// The object's label.
    pub object: String,
    /// The host's name.
    pub host: Option<String>,
    /// Final state.
    pub state: State,
    /// Status (for completed sessions; error for failed ones).
    pub status: Option<Status>,
    /// Why it failed or was canceled.
    pub reason: Option<String>,
}

/// How a run ended.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The run's id in the history.
    pub run_id: RunId,
    /// One entry per object, in selection order.
    pub sessions: Vec<SessionSummary>,
}

impl SessionSummary {
    /// Where a session stands now: its state, status and reason from `outcome`.
    pub(crate) fn settle(&mut self, outcome: Outcome) {
        self.state = outcome.state;
        self.status = outcome.status;
        self.reason = outcome.reason;
    }
}

impl RunSummary {
    /// The worst outcome: `Some(Status::Success)` when every session completed with
    /// success (a session that did not complete counts as an error); `None` for a run
    /// without sessions.
    pub fn worst(&self) -> Option<Status> {
        self.sessions
            .iter()
            .map(|s| match s.state {
                State::Completed => s.status.unwrap_or(Status::Success),
                _ => Status::Error,
            })
            .max()
    }

    /// Counts per state.
    pub fn count(&self, state: State) -> usize {
        self.sessions.iter().filter(|s| s.state == state).count()
    }
}

/// A started run.
#[derive(Debug)]
pub struct RunHandle {
    /// The run's id in the history.
    pub run_id: RunId,
    /// How many sessions it has.
    pub sessions: usize,
    canceller: Canceller,
    join: JoinHandle<RunSummary>,
}

impl RunHandle {
    pub(crate) fn new(
        run_id: RunId,
        sessions: usize,
        canceller: Canceller,
        join: JoinHandle<RunSummary>,
    ) -> Self {
        RunHandle {
            run_id,
            sessions,
            canceller,
            join,
        }
    }

    /// Something that can stop this run from elsewhere.
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Waits for the end of the run; everything is recorded when it returns.
    pub async fn wait(self) -> Result<RunSummary> {
        self.join.await.map_err(|e| {
            Error::Core(CoreError::Setup(format!(
                "the run's driver task failed: {e}"
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(state: State, status: Option<Status>) -> SessionSummary {
        SessionSummary {
            session_id: SessionId::new(1),
            object_id: 1,
            object: "web1".into(),
            host: Some("web1".into()),
            state,
            status,
            reason: None,
        }
    }

    #[test]
    fn the_worst_outcome_counts_unfinished_sessions_as_errors() {
        let mut run = RunSummary {
            run_id: RunId::new(1),
            sessions: vec![session(State::Completed, Some(Status::Success))],
        };
        assert_eq!(run.worst(), Some(Status::Success));
        run.sessions
            .push(session(State::Completed, Some(Status::Warning)));
        assert_eq!(run.worst(), Some(Status::Warning));
        run.sessions.push(session(State::Canceled, None));
        assert_eq!(run.worst(), Some(Status::Error));
        assert_eq!(run.count(State::Completed), 2);
    }

    #[test]
    fn settle_takes_the_whole_outcome() {
        let mut s = session(State::Initialized, None);
        s.settle(Outcome::stopped());
        assert_eq!(s.state, State::Stopped);
        assert_eq!(s.status, None);
        assert_eq!(s.reason.as_deref(), Some("stopped by request"));
    }
}
