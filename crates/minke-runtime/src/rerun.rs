//! Running an ended run's session again on some of its objects, chosen by how their
//! sessions ended: what `rerun`, the admin's button and the API ask for.

use std::fmt;
use std::str::FromStr;

use minke_core::{Params, RunId, SessionMeta, State, Status};
use minke_store::{Query, RunRecord, SessionRecord};

use crate::{Engine, Error, Result, RunRequest};

/// How a session of an earlier run ended, to choose the objects of a rerun.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndedAs {
    /// Completed with status success.
    Success,
    /// Ended with status warning.
    Warning,
    /// Ended with status error (failed, or completed with an error).
    Error,
    /// Failed (could not connect, a command failed, interrupted ...).
    Failed,
    /// Canceled before or while it ran.
    Canceled,
}

impl EndedAs {
    /// Every outcome but success: what a rerun takes by default.
    pub const NOT_SUCCESS: [EndedAs; 4] = [
        EndedAs::Warning,
        EndedAs::Error,
        EndedAs::Failed,
        EndedAs::Canceled,
    ];

    /// Its name (`success`, `warning`, `error`, `failed`, `canceled`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndedAs::Success => "success",
            EndedAs::Warning => "warning",
            EndedAs::Error => "error",
            EndedAs::Failed => "failed",
            EndedAs::Canceled => "canceled",
        }
    }

    /// True when a session that ended so is one of this outcome.
    pub fn matches(self, s: &SessionRecord) -> bool {
        match self {
            EndedAs::Success => s.status == Some(Status::Success),
            EndedAs::Warning => s.status == Some(Status::Warning),
            EndedAs::Error => s.status == Some(Status::Error),
            EndedAs::Failed => s.state == State::Failed,
            EndedAs::Canceled => s.state == State::Canceled,
        }
    }
}

impl fmt::Display for EndedAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EndedAs {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [
            EndedAs::Success,
            EndedAs::Warning,
            EndedAs::Error,
            EndedAs::Failed,
            EndedAs::Canceled,
        ]
        .into_iter()
        .find(|o| o.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| {
            Error::Rerun(format!(
                "`{s}` is not an outcome: use success, warning, error, failed or canceled"
            ))
        })
    }
}

impl Engine {
    /// The request that runs an ended run's session again on its objects whose
    /// sessions ended as `only` says ([`EndedAs::NOT_SUCCESS`] when empty), with the
    /// run's parameters. The secret ones, which the history never keeps, come from
    /// `params`, which overrides the others too. Fails for a run still going and for
    /// a run without such objects, saying so.
    pub async fn rerun_request(
        &self,
        run: RunId,
        only: &[EndedAs],
        params: Params,
        username: String,
    ) -> Result<RunRequest> {
        let (old, sessions) = self
            .store()
            .blocking(move |c| {
                Ok((
                    minke_store::get_run(c, run)?,
                    minke_store::run_sessions(c, run)?,
                ))
            })
            .await?;
        let meta = &self
            .sessions()
            .get(&old.session)
            .map_err(|e| Error::UnknownSession(e.to_string()))?
            .meta;
        // A secret the run was given (kept as `***`) must be given again, even an
        // optional one: without it the rerun would silently run differently.
        let stored: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&old.params).unwrap_or_default();
        let missing: Vec<&str> = meta
            .params
            .iter()
            .filter(|p| p.secret && stored.contains_key(p.name) && params.get(p.name).is_none())
            .map(|p| p.name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::Rerun(format!(
                "run {run} was given the secret parameter{} {}, which the history does not keep: give {} again (--param NAME=VALUE)",
                if missing.len() > 1 { "s" } else { "" },
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() > 1 { "them" } else { "it" },
            )));
        }
        rerun_of(&old, &sessions, meta, only, params, username)
    }
}

/// [`Engine::rerun_request`] of a run already read: `old` with its `sessions`, the
/// session's `meta` (for which parameters are secret). The admin's rerun button
/// shows what this picks.
pub fn rerun_of(
    old: &RunRecord,
    sessions: &[SessionRecord],
    meta: &SessionMeta,
    only: &[EndedAs],
    params: Params,
    username: String,
) -> Result<RunRequest> {
    let run = old.id;
    if !old.state.is_done() {
        return Err(Error::Rerun(format!(
            "run {run} is still {}: rerun it once it has ended",
            old.state
        )));
    }
    let only = if only.is_empty() {
        &EndedAs::NOT_SUCCESS[..]
    } else {
        only
    };
    let mut ids: Vec<i64> = sessions
        .iter()
        .filter(|s| only.iter().any(|o| o.matches(s)))
        .map(|s| s.object_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        let asked: Vec<&str> = only.iter().map(|o| o.as_str()).collect();
        return Err(Error::Rerun(format!(
            "run {run} has no objects whose sessions ended so ({})",
            asked.join(", ")
        )));
    }
    let stored: std::collections::BTreeMap<String, String> = serde_json::from_str(&old.params)
        .map_err(|e| Error::Rerun(format!("the parameters of run {run} are unreadable: {e}")))?;
    let mut merged = Params::new();
    for (name, value) in stored {
        let secret = meta.params.iter().any(|p| p.name == name && p.secret);
        if !secret && params.get(&name).is_none() {
            merged.insert(name, value);
        }
    }
    for (name, value) in params.iter() {
        merged.insert(name.to_owned(), value.to_owned());
    }
    Ok(RunRequest {
        session: old.session.clone(),
        model: old.model.clone(),
        query: Query::ids(ids),
        params: merged,
        username,
    })
}
