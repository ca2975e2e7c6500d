//! Stopping a run or one of its sessions, and a run's live events.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use minke_core::{AuditAction, RunId, SessionId};
use minke_runtime::{Stop, StopRequest};
use minke_store::RunRecord;

use crate::auth::Auth;
use crate::live;
use crate::pages::back;
use crate::state::AppState;
use crate::{Error, Result};

/// `GET /runs/{id}/events`: the live event stream of a run (SSE).
pub(crate) async fn run_events(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<RunId>,
) -> Result<Response> {
    Ok(live::events(st, auth, id).await?.into_response())
}

/// Stops a run or one of its sessions; returns how soon it stops now.
pub(crate) async fn stop(
    st: &AppState,
    auth: &Auth,
    run_id: RunId,
    session: Option<SessionId>,
) -> Result<Stop> {
    let run: RunRecord = live::check_run_access(st, auth, run_id).await?;
    let may = run.username == auth.user.username
        || st
            .engine()
            .sessions()
            .get(&run.session)
            .is_ok_and(|e| auth.can_run(&e.meta))
        || auth.user.is_superuser;
    if !may {
        return Err(Error::Forbidden(format!(
            "only who started run {run_id} or may run `{}` can stop it",
            run.session
        )));
    }
    let stop = match session {
        // Runs going on in another process (the command line, another server) are
        // asked through the database.
        None => match st.engine().request_stop(run_id, None).await? {
            StopRequest::Here(s) | StopRequest::Elsewhere(s) => s,
            // Its work was queued only: it is over already.
            StopRequest::Finished(_) => Stop::Now,
            StopRequest::Ended(state) => {
                return Err(Error::Conflict(format!(
                    "run {run_id} has already ended ({state})"
                )));
            }
            other => {
                return Err(Error::Internal(format!(
                    "unexpected answer to a stop: {other:?}"
                )));
            }
        },
        Some(sid) => st.engine().cancel_session(run_id, sid).ok_or_else(|| {
            Error::Conflict(format!(
                "session {sid} of run {run_id} is not going on in this process"
            ))
        })?,
    };
    tracing::info!(%run_id, session = ?session, level = stop.level(), user = %auth.user.username, "stop requested");
    let how = match stop {
        Stop::Now => "at once",
        Stop::AfterCommand => "after the current command",
    };
    st.audit(
        auth.actor(),
        AuditAction::RunStopped,
        format!("run {run_id}"),
        match session {
            Some(sid) => format!("session {sid}, {how}"),
            None => how.to_owned(),
        },
    );
    Ok(stop)
}

fn stop_answer(st: &AppState, headers: &HeaderMap, run_id: RunId, stop: Stop) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        axum::Json(serde_json::json!({
            "level": stop.level(),
            "message": match stop {
                Stop::Now => "stopping at once",
                Stop::AfterCommand => "stopping after the current command",
            },
        }))
        .into_response()
    } else {
        back(st, headers, &st.url(&format!("/runs/{run_id}")))
    }
}

/// `POST /runs/{id}/stop`: stop a whole run (press twice to stop at once).
pub(crate) async fn stop_run(
    State(st): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<RunId>,
) -> Result<Response> {
    let how = stop(&st, &auth, id, None).await?;
    Ok(stop_answer(&st, &headers, id, how))
}

/// `POST /runs/{id}/sessions/{sid}/stop`: stop one session.
pub(crate) async fn stop_session(
    State(st): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path((id, sid)): Path<(RunId, SessionId)>,
) -> Result<Response> {
    let how = stop(&st, &auth, id, Some(sid)).await?;
    Ok(stop_answer(&st, &headers, id, how))
}
