//! The audit log's entries for what is done at the command line.

use minke_core::{AuditAction, RunId};
use minke_runtime::{Engine, RunRequest};
use minke_store::Query;

use crate::CliError;

/// Writes an entry of the audit log for something done at the command line by
/// `user` (the invocation's `--user`).
pub(crate) async fn audit(
    engine: &Engine,
    user: &str,
    action: AuditAction,
    target: String,
    detail: String,
) -> Result<(), CliError> {
    let actor = minke_store::Actor::cli(user);
    engine
        .store()
        .write(move |c| minke_store::record_audit(c, &actor, action, &target, &detail))
        .await?;
    Ok(())
}

/// A run about to start, as the audit log will tell it.
pub(crate) struct AuditedRun {
    user: String,
    what: String,
}

impl AuditedRun {
    pub(crate) fn of(req: &RunRequest) -> Self {
        Self::new(&req.username, &req.session, &req.model, &req.query)
    }

    /// `user` runs `session` on the objects of `model` that `query` selects.
    pub(crate) fn new(user: &str, session: &str, model: &str, query: &Query) -> Self {
        AuditedRun {
            user: user.to_owned(),
            what: format!("session {session} on {model}: {query}"),
        }
    }

    /// Writes that the run started (or was queued) with `sessions` sessions.
    pub(crate) async fn record(
        self,
        engine: &Engine,
        run_id: RunId,
        sessions: usize,
    ) -> Result<(), CliError> {
        audit(
            engine,
            &self.user,
            AuditAction::RunStarted,
            format!("run {run_id}"),
            format!("{}: {sessions} sessions", self.what),
        )
        .await
    }
}
