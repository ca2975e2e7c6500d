//! How a session ended (or where it stands), typed: its state, its status and why.

use std::fmt::Display;

use minke_core::{FailReason, State, Status};

/// Why a session that was canceled before its turn never started.
pub(crate) const NOT_STARTED: &str = minke_store::CANCELED_IN_QUEUE;
/// Why a session stopped by a person did not finish.
pub(crate) const STOPPED: &str = "stopped by request";

/// The end of one session, or where it stands while it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The state.
    pub(crate) state: State,
    /// The status, for completed and failed sessions.
    pub(crate) status: Option<Status>,
    /// Why it failed (a failure class, maybe with what happened) or was canceled.
    pub(crate) reason: Option<String>,
}

impl Outcome {
    /// Recorded, waiting for its turn.
    pub(crate) fn waiting() -> Self {
        Outcome {
            state: State::Initialized,
            status: None,
            reason: None,
        }
    }

    /// `process` returned; `status` says how it went.
    pub(crate) fn completed(status: Status) -> Self {
        Outcome {
            state: State::Completed,
            status: Some(status),
            reason: None,
        }
    }

    /// Minke could not work on the host: the reason is the failure class.
    pub(crate) fn failed(reason: FailReason) -> Self {
        Outcome {
            state: State::Failed,
            status: Some(Status::Error),
            reason: Some(reason.as_str().to_owned()),
        }
    }

    /// Like [`failed`](Self::failed), with what happened after the class.
    pub(crate) fn failed_with(reason: FailReason, detail: impl Display) -> Self {
        Outcome {
            reason: Some(format!("{reason}: {detail}")),
            ..Outcome::failed(reason)
        }
    }

    /// Never started, for the reason given.
    pub(crate) fn canceled(why: impl Into<String>) -> Self {
        Outcome {
            state: State::Canceled,
            status: None,
            reason: Some(why.into()),
        }
    }

    /// Stopped by a person while running: no status of its own, it did not finish.
    pub(crate) fn stopped() -> Self {
        Outcome {
            state: State::Stopped,
            status: None,
            reason: Some(STOPPED.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_their_class_and_an_error_status() {
        let o = Outcome::failed(FailReason::SessionTimeout);
        assert_eq!(o.state, State::Failed);
        assert_eq!(o.status, Some(Status::Error));
        assert_eq!(o.reason.as_deref(), Some("session_timeout"));
        let o = Outcome::failed_with(FailReason::Setup, "no host");
        assert_eq!(o.reason.as_deref(), Some("setup: no host"));
        assert_eq!(o.status, Some(Status::Error));
    }

    #[test]
    fn only_failed_and_completed_sessions_have_a_status() {
        assert_eq!(Outcome::canceled(NOT_STARTED).status, None);
        assert_eq!(Outcome::stopped().status, None);
        assert_eq!(Outcome::waiting().status, None);
        assert_eq!(
            Outcome::completed(Status::Warning).status,
            Some(Status::Warning)
        );
        assert!(!Outcome::waiting().state.is_done());
    }
}
