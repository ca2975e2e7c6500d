//! The JSON API under `/api/`: the same permissions as the pages, with a session
//! cookie (plus `X-CSRF-Token` on changes) or `Authorization: Bearer TOKEN`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minke_core::{Params, RunId, SessionId, Status};
use minke_runtime::{EndedAs, RunRequest};
use minke_store::Query;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

mod objects;

pub(crate) use objects::{add_object, change_object, delete_object, deletion, object};

use crate::auth::Auth;
use crate::forms::{QueryPairs, json_body};
use crate::live;
use crate::pages::changelist::{json_value, model_entry, selection};
use crate::pages::history::{PREVIEW, run_filter, stop};
use crate::state::AppState;
use crate::{Error, Result};
use minke_store::Counts;

/// `GET /api/me`: who the request is.
pub(crate) async fn me(auth: Auth) -> Json<Json_> {
    Json(json!({
        "username": auth.user.username,
        "superuser": auth.user.is_superuser,
        "permissions": *auth.perms,
    }))
}

/// `GET /api/models`: the models the user may view, with their fields and counts.
pub(crate) async fn models(State(st): State<AppState>, auth: Auth) -> Result<Json<Json_>> {
    let entries = crate::pages::viewable_entries(&st, &auth);
    let out = st
        .store()
        .blocking(move |c| {
            let mut out = Vec::new();
            for e in &entries {
                let n = e.count(c, &Query::all())?;
                let mut m = serde_json::to_value(&e.meta).unwrap_or_default();
                if let Some(o) = m.as_object_mut() {
                    o.insert("count".into(), n.into());
                }
                out.push(m);
            }
            Ok(out)
        })
        .await?;
    Ok(Json(json!({ "models": out })))
}

/// `GET /api/models/{model}/objects`: objects with `q`, `filter`, `f_FIELD`,
/// `last_status`, `group`, `limit` (default 100, at most 1000) and `offset`.
pub(crate) async fn objects(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Result<Json<Json_>> {
    let entry = model_entry(&st, &model)?;
    auth.need_view(&model)?;
    p.only(
        &["q", "filter", "last_status", "group", "limit", "offset"],
        &["f_"],
    )?;
    let mut query = selection(&st, &entry.meta, &p).await?;
    let limit = p.number::<i64>("limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest("`limit` must be from 1 to 1000".into()));
    }
    let offset = p.number::<i64>("offset")?.unwrap_or(0).max(0);
    let meta = entry.meta.clone();
    let (total, objects) = st
        .store()
        .blocking(move |c| {
            let total = entry.count(c, &query)?;
            query.limit = Some(limit);
            query.offset = Some(offset);
            let objects = entry.load(c, &query)?;
            let ids: Vec<i64> = objects.iter().map(|o| o.id()).collect();
            let latest: BTreeMap<i64, minke_store::SessionRecord> =
                minke_store::latest_sessions(c, entry.meta.name, &ids)?
                    .into_iter()
                    .map(|s| (s.object_id, s))
                    .collect();
            let rows: Vec<Json_> = objects
                .iter()
                .map(|o| object_json(&entry.meta, &**o, latest.get(&o.id())))
                .collect();
            Ok((total, rows))
        })
        .await?;
    Ok(Json(json!({
        "model": meta.name,
        "total": total,
        "limit": limit,
        "offset": offset,
        "objects": objects,
    })))
}

/// An object as the API shows it: id, label, fields (secrets masked) and its latest
/// session.
pub(crate) fn object_json(
    meta: &minke_core::ModelMeta,
    o: &dyn minke_core::ModelObject,
    latest: Option<&minke_store::SessionRecord>,
) -> Json_ {
    let fields: serde_json::Map<String, Json_> = meta
        .fields
        .iter()
        .map(|f| (f.name.to_owned(), json_value(meta, o, f.name)))
        .collect();
    let last = latest.map(
        |s| json!({"session_id": s.id, "session": s.session, "state": s.state, "status": s.status}),
    );
    json!({"id": o.id(), "label": o.label(), "fields": fields, "last_session": last})
}

/// `GET /api/sessions`: the sessions the user may run.
pub(crate) async fn sessions(State(st): State<AppState>, auth: Auth) -> Json<Json_> {
    let list: Vec<Json_> = st
        .engine()
        .sessions()
        .iter()
        .filter(|s| auth.can_run(&s.meta))
        .map(|s| serde_json::to_value(&s.meta).unwrap_or_default())
        .collect();
    Json(json!({ "sessions": list }))
}

/// `GET /api/runs`: runs with `session`, `model`, `state`, `status`, `user`, `from`,
/// `to`, `limit` and `offset`.
pub(crate) async fn runs(
    State(st): State<AppState>,
    auth: Auth,
    QueryPairs(p): QueryPairs,
) -> Result<Json<Json_>> {
    p.only(
        &[
            "session", "model", "state", "status", "user", "from", "to", "limit", "offset",
        ],
        &[],
    )?;
    let mut f = run_filter(&st, &auth, &p)?;
    f.limit = p.number::<i64>("limit")?.unwrap_or(50).clamp(1, 1000);
    f.offset = p.number::<i64>("offset")?.unwrap_or(0).max(0);
    let (runs, total) = st
        .store()
        .blocking(move |c| minke_store::runs_with_counts(c, &f))
        .await?;
    Ok(Json(json!({"total": total, "runs": runs})))
}

/// The body of `POST /api/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRun {
    session: String,
    model: String,
    #[serde(default)]
    ids: Option<Vec<i64>>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    search: Option<String>,
    #[serde(default)]
    all: bool,
    /// A host group by name (hosts only).
    #[serde(default)]
    group: Option<String>,
    /// Only the objects whose latest session ended so.
    #[serde(default)]
    last_status: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, Json_>,
}

/// `POST /api/runs`: starts a run; answers 201 with its id.
pub(crate) async fn start(State(st): State<AppState>, auth: Auth, body: Bytes) -> Result<Response> {
    let req: StartRun = json_body(body).await?;
    let entry = model_entry(&st, &req.model)?;
    let smeta = st
        .engine()
        .sessions()
        .get(&req.session)
        .map_err(|e| Error::BadRequest(e.to_string()))?
        .meta
        .clone();
    auth.need_run(&smeta, &req.model)?;
    let mut query = match &req.filter {
        Some(f) => Query::filter(f)?,
        None => Query::all(),
    };
    query.search.clone_from(&req.search);
    query.ids.clone_from(&req.ids);
    let last_status = req
        .last_status
        .as_deref()
        .map(minke_store::parse_last_status)
        .transpose()?;
    let given = minke_store::Targets {
        group: req.group.clone(),
        last_status,
    };
    // `group = ...` and `last_status = ...` in `filter`, as with the fields above.
    let in_filter = minke_store::take_targets(&entry.meta, &mut query)?;
    let narrowed = !given.is_empty() || !in_filter.is_empty();
    if query.conditions.is_empty()
        && query.search.is_none()
        && query.ids.is_none()
        && !narrowed
        && !req.all
    {
        return Err(Error::BadRequest(
            "say which objects: `ids`, `filter`, `search`, `group`, `last_status` or `all: true`"
                .into(),
        ));
    }
    minke_store::check_query(&entry.meta, &query)?;
    if narrowed {
        let model = req.model.clone();
        query = st
            .store()
            .blocking(move |c| {
                minke_store::narrow(c, &model, &mut query, &given)?;
                minke_store::narrow(c, &model, &mut query, &in_filter)?;
                Ok(query)
            })
            .await?;
    }
    let handle = st
        .start_run(
            &auth,
            RunRequest {
                session: req.session.clone(),
                model: req.model.clone(),
                query,
                params: params_of(&req.params)?,
                username: auth.user.username.clone(),
            },
        )
        .await?;
    tracing::info!(run_id = %handle.run_id, session = %req.session, user = %auth.user.username, "run started over the API");
    Ok(started(&st, &handle))
}

/// A run's parameters given as JSON: text, numbers or booleans.
fn params_of(given: &BTreeMap<String, Json_>) -> Result<Params> {
    let mut params = Params::new();
    for (k, v) in given {
        let text = match v {
            Json_::String(s) => s.clone(),
            Json_::Number(n) => n.to_string(),
            Json_::Bool(b) => b.to_string(),
            other => {
                return Err(Error::BadRequest(format!(
                    "parameter `{k}`: give text, a number or a boolean, not {other}"
                )));
            }
        };
        params.insert(k.clone(), text);
    }
    Ok(params)
}

/// The `201` answer to a started run.
fn started(st: &AppState, handle: &minke_runtime::Submitted) -> Response {
    (
        StatusCode::CREATED,
        Json(json!({
            "run_id": handle.run_id,
            "sessions": handle.sessions,
            "url": st.url(&format!("/runs/{}", handle.run_id)),
            "events": st.url(&format!("/api/runs/{}/events", handle.run_id)),
        })),
    )
        .into_response()
}

/// The body of `POST /api/runs/{id}/rerun`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rerun {
    /// Which objects, by how their sessions ended (all but success when empty).
    #[serde(default)]
    only: Vec<String>,
    /// Secret parameters again; others override the run's.
    #[serde(default)]
    params: BTreeMap<String, Json_>,
}

/// `POST /api/runs/{id}/rerun`: an ended run's session again on its objects that did
/// not succeed (or those `only` names), with its parameters; answers 201 as a start.
pub(crate) async fn rerun(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<RunId>,
    body: Bytes,
) -> Result<Response> {
    let old = live::check_run_access(&st, &auth, id).await?;
    let req: Rerun = if body.is_empty() {
        Rerun::default()
    } else {
        json_body(body).await?
    };
    let only = req
        .only
        .iter()
        .map(|o| o.parse::<EndedAs>())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let smeta = st
        .engine()
        .sessions()
        .get(&old.session)
        .map_err(|e| Error::BadRequest(e.to_string()))?
        .meta
        .clone();
    auth.need_run(&smeta, &old.model)?;
    let request = st
        .engine()
        .rerun_request(
            id,
            &only,
            params_of(&req.params)?,
            auth.user.username.clone(),
        )
        .await?;
    let handle = st.start_run(&auth, request).await?;
    tracing::info!(run_id = %handle.run_id, rerun_of = %id, user = %auth.user.username, "run started again over the API");
    Ok(started(&st, &handle))
}

/// `GET /api/runs/{id}`: a run with its sessions' states, statuses and messages.
pub(crate) async fn run(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<RunId>,
) -> Result<Json<Json_>> {
    live::check_run_access(&st, &auth, id).await?;
    let (view, _rx) = st.hub().attach(id);
    let snap = live::snapshot(&st, id, view).await?;
    let mut counts = Counts::default();
    for s in &snap.sessions {
        counts.add(s.state, s.status, 1);
    }
    let mut v = serde_json::to_value(&snap).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("status".into(), counts.worst().map(Status::as_str).into());
        o.insert(
            "counts".into(),
            serde_json::to_value(&counts).unwrap_or_default(),
        );
    }
    Ok(Json(v))
}

/// `GET /api/runs/{id}/sessions/{sid}`: one session with its messages and commands
/// (each stream's first 64 KiB; the pages link the rest).
pub(crate) async fn session(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, sid)): Path<(RunId, SessionId)>,
) -> Result<Json<Json_>> {
    let s = st
        .store()
        .blocking(move |c| minke_store::get_session(c, sid))
        .await?;
    if s.run_id != id {
        return Err(Error::NotFound(format!("run {id} has no session {sid}")));
    }
    auth.need_view(&s.model)?;
    let (messages, commands) = st
        .store()
        .blocking(move |c| {
            Ok((
                minke_store::session_messages(c, sid)?,
                minke_store::command_previews(c, sid, PREVIEW)?,
            ))
        })
        .await?;
    let messages: Vec<Json_> = messages
        .iter()
        .map(|m| {
            let (level, text) = live::stored_message(m);
            json!({"level": level, "text": text})
        })
        .collect();
    let commands: Vec<Json_> = commands
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("stdout".into(), String::from_utf8_lossy(&c.stdout).into());
                o.insert("stderr".into(), String::from_utf8_lossy(&c.stderr).into());
                o.insert(
                    "stdout_url".into(),
                    st.url(&format!("/sessions/{sid}/commands/{}/stdout", c.seq))
                        .into(),
                );
                o.insert(
                    "stderr_url".into(),
                    st.url(&format!("/sessions/{sid}/commands/{}/stderr", c.seq))
                        .into(),
                );
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "session": s,
        "messages": messages,
        "commands": commands,
    })))
}

/// `GET /api/runs/{id}/events`: the run's live events (SSE), as on the pages.
pub(crate) async fn events(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<RunId>,
) -> Result<Response> {
    Ok(live::events(st, auth, id).await?.into_response())
}

/// `POST /api/runs/{id}/stop`: stop a run (again: at once).
pub(crate) async fn stop_run(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<RunId>,
) -> Result<Json<Json_>> {
    let how = stop(&st, &auth, id, None).await?;
    Ok(Json(json!({"run_id": id, "level": how.level()})))
}

/// `POST /api/runs/{id}/sessions/{sid}/stop`: stop one session (again: at once).
pub(crate) async fn stop_session(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, sid)): Path<(RunId, SessionId)>,
) -> Result<Json<Json_>> {
    let how = stop(&st, &auth, id, Some(sid)).await?;
    Ok(Json(
        json!({"run_id": id, "session_id": sid, "level": how.level()}),
    ))
}
