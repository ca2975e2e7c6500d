//! History: runs and sessions lists, a run's live page, a session's commands and
//! messages, output downloads, and stopping.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minke_core::{AuditAction, MessageBody, Params, RunId, SessionId, State as SessionState};
use minke_runtime::{Stop, StopRequest};
use minke_store::RunRecord;

use crate::auth::Auth;
use crate::forms::{Pairs, QueryPairs, segment};
use crate::html::{self, bytes, duration, esc, options, state_badge, status_badge, time, time_opt};
use crate::live;
use crate::pages::changelist::{LIVE_HEAD, live_cells, run_panel};
use crate::pages::index::{RUNS_HEAD, run_row};
use crate::pages::{back, page_of, pagination, viewable_models};
use crate::state::AppState;
use crate::{Error, Result};
use minke_store::{RunFilter, SessionFilter};

/// Bytes of each output stream shown on a session page.
pub(crate) const PREVIEW: i64 = 64 * 1024;
/// Sessions per page of a run page.
const RUN_PAGE: i64 = 200;

const STATES: &[&str] = &[
    "initialized",
    "running",
    "completed",
    "failed",
    "stopped",
    "canceled",
];
const STATUSES: &[&str] = &["success", "warning", "error"];
/// A run's states: `interrupted` when its process died before it ended.
const RUN_STATES: &[&str] = &["running", "done", "canceled", "interrupted"];

fn one_of<T: std::str::FromStr>(p: &Pairs, name: &str, allowed: &[&str]) -> Result<Option<T>> {
    match p.text(name) {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => v.parse().map(Some).map_err(|_| {
            Error::BadRequest(format!(
                "`{name}`: `{v}` is not one of {}",
                allowed.join(", ")
            ))
        }),
        Some(v) => Err(Error::BadRequest(format!(
            "`{name}` must be one of {}, not `{v}`",
            allowed.join(", ")
        ))),
    }
}

/// Reads the runs filters of a query (pages and API).
pub(crate) fn run_filter(st: &AppState, auth: &Auth, p: &Pairs) -> Result<RunFilter> {
    let model = p.text("model").map(str::to_owned);
    if let Some(m) = &model {
        auth.need_view(m)?;
    }
    Ok(RunFilter {
        session: p.text("session").map(str::to_owned),
        model,
        state: one_of(p, "state", RUN_STATES)?,
        status: one_of(p, "status", STATUSES)?,
        user: p.text("user").map(str::to_owned),
        from: p.date("from", false)?,
        to: p.date("to", true)?,
        models: viewable_models(st, auth),
        limit: 50,
        offset: 0,
    })
}

/// Reads the sessions filters of a query.
fn session_filter(st: &AppState, auth: &Auth, p: &Pairs) -> Result<SessionFilter> {
    let model = p.text("model").map(str::to_owned);
    if let Some(m) = &model {
        auth.need_view(m)?;
    }
    Ok(SessionFilter {
        session: p.text("session").map(str::to_owned),
        model,
        state: one_of(p, "state", STATES)?,
        status: one_of(p, "status", STATUSES)?,
        user: p.text("user").map(str::to_owned),
        host: p.text("host").map(str::to_owned),
        object_id: p.number("object")?,
        run_id: p.number("run")?,
        from: p.date("from", false)?,
        to: p.date("to", true)?,
        models: viewable_models(st, auth),
        limit: 50,
        offset: 0,
    })
}

fn select_field(name: &str, label: &str, values: &[&str], p: &Pairs) -> String {
    let mut items: Vec<(&str, &str)> = vec![("", "any")];
    items.extend(values.iter().map(|v| (*v, *v)));
    format!(
        r#"<label>{label} <select name="{name}" id="filter-{name}">{}</select></label> "#,
        options(items, p.get(name).unwrap_or_default())
    )
}

fn text_field(name: &str, label: &str, p: &Pairs, ty: &str) -> String {
    format!(
        r#"<label>{label} <input name="{name}" id="filter-{name}" type="{ty}" value="{}"></label> "#,
        esc(p.get(name).unwrap_or_default())
    )
}

fn common_filters(st: &AppState, auth: &Auth, p: &Pairs, states: &[&str]) -> String {
    let sessions: Vec<&str> = st.engine().sessions().iter().map(|s| s.meta.name).collect();
    let models: Vec<&str> = st
        .engine()
        .models()
        .iter()
        .map(|m| m.meta.name)
        .filter(|m| auth.can_view(m))
        .collect();
    let mut out = String::new();
    out.push_str(&select_field("session", "Session", &sessions, p));
    out.push_str(&select_field("model", "Model", &models, p));
    out.push_str(&select_field("state", "State", states, p));
    out.push_str(&select_field("status", "Status", STATUSES, p));
    out.push_str(&text_field("user", "User", p, "text"));
    out.push_str(&text_field("from", "From", p, "date"));
    out.push_str(&text_field("to", "To", p, "date"));
    out
}

/// `GET /runs`: runs with filters.
pub(crate) async fn runs(
    State(st): State<AppState>,
    auth: Auth,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    p.only(
        &[
            "session", "model", "state", "status", "user", "from", "to", "page",
        ],
        &[],
    )?;
    let mut f = run_filter(&st, &auth, &p)?;
    let (page, size) = page_of(&p, 50)?;
    f.limit = size;
    f.offset = (page - 1) * size;
    let (rows, total, counts) = st
        .store()
        .blocking(move |c| {
            let (rows, total) = minke_store::find_runs(c, &f)?;
            let ids: Vec<RunId> = rows.iter().map(|r| r.id).collect();
            let counts = minke_store::run_counts(c, &ids)?;
            Ok((rows, total, counts))
        })
        .await?;
    let mut body = format!(
        r#"<form id="runs-filter" class="filters" method="get" action="{}">{}<button type="submit" id="apply">Apply</button></form><p class="total">{total} runs</p><table id="runs" class="list">{RUNS_HEAD}<tbody>"#,
        esc(&st.url("/runs")),
        common_filters(&st, &auth, &p, RUN_STATES),
    );
    for r in &rows {
        body.push_str(&run_row(&st, r, counts.get(&r.id)));
    }
    if rows.is_empty() {
        body.push_str(r#"<tr class="empty"><td colspan="8">No run matches.</td></tr>"#);
    }
    body.push_str("</tbody></table>");
    body.push_str(&pagination(
        &st.url("/runs"),
        &p.0,
        page,
        (total + size - 1) / size,
    ));
    Ok(html::respond(
        StatusCode::OK,
        html::page(&st, Some(&auth), "Runs", &body),
    ))
}

/// `GET /runs/{id}`: a run with its sessions, live while it goes on.
pub(crate) async fn run(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<RunId>,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    p.only(&["page"], &[])?;
    let (page, _) = page_of(&p, 50)?;
    let run = live::check_run_access(&st, &auth, id).await?;
    let sessions = st
        .store()
        .blocking(move |c| minke_store::run_sessions(c, id))
        .await?;
    let active = st.engine().active_runs().contains(&id);
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<form id="run-controls" method="post" action="{}">{}"#,
        esc(&st.url(&format!("/runs/{id}/stop"))),
        html::csrf_field(&auth)
    );
    body.push_str(&run_panel(&st, &run, active));
    let _ = write!(
        body,
        r#"<dl id="run-info" class="info"><dt>Session</dt><dd>{session}</dd><dt>Model</dt><dd><a href="{model_url}">{model}</a></dd><dt>Started by</dt><dd>{user}</dd><dt>Started</dt><dd>{start}</dd><dt>Finished</dt><dd>{end}</dd><dt>Parameters</dt><dd><code id="run-params">{params}</code></dd><dt>Selection</dt><dd><code id="run-selection">{selection}</code></dd></dl>"#,
        session = esc(&run.session),
        model_url = esc(&st.url(&format!("/models/{}", segment(&run.model)))),
        model = esc(&run.model),
        user = esc(&run.username),
        start = time(run.created_at),
        end = time_opt(run.finished_at),
        params = esc(&run.params),
        selection = esc(&run.selection),
    );
    let _ = write!(
        body,
        r#"<table id="run-sessions" class="list live"><thead><tr><th>Object</th><th>Host</th>{LIVE_HEAD}</tr></thead><tbody>"#
    );
    let skip = usize::try_from((page - 1) * RUN_PAGE).unwrap_or(0);
    for s in sessions
        .iter()
        .skip(skip)
        .take(usize::try_from(RUN_PAGE).unwrap_or(200))
    {
        let _ = write!(
            body,
            r#"<tr data-session-id="{sid}" data-object-id="{oid}"><td><a class="object-link" href="{ourl}">{label}</a></td><td class="host">{host}</td>{live}</tr>"#,
            sid = s.id,
            oid = s.object_id,
            ourl = esc(&st.url(&format!("/models/{}/{}", segment(&s.model), s.object_id))),
            label = esc(&s.object_label),
            host = esc(s.host_name.as_deref().unwrap_or_default()),
            live = live_cells(&st, Some(s)),
        );
    }
    body.push_str("</tbody></table></form>");
    body.push_str(&rerun_form(&st, &auth, &run, &sessions));
    let n = i64::try_from(sessions.len()).unwrap_or(0);
    body.push_str(&pagination(
        &st.url(&format!("/runs/{id}")),
        &p.0,
        page,
        (n + RUN_PAGE - 1) / RUN_PAGE,
    ));
    Ok(html::respond(
        StatusCode::OK,
        html::page(&st, Some(&auth), &format!("Run #{id}"), &body),
    ))
}

/// The "rerun" button of an ended run: its session again on the objects whose
/// sessions did not succeed, through the session's form (its parameters filled in
/// from the run's, the secret ones asked again). Empty when there is nothing to rerun
/// or the user may not run the session.
fn rerun_form(
    st: &AppState,
    auth: &Auth,
    run: &minke_store::RunRecord,
    sessions: &[minke_store::SessionRecord],
) -> String {
    let Ok(entry) = st.engine().sessions().get(&run.session) else {
        return String::new();
    };
    let meta = &entry.meta;
    if auth.need_run(meta, &run.model).is_err() {
        return String::new();
    }
    // What `rerun` would run: nothing when the run goes on or every object succeeded.
    let username = auth.user.username.clone();
    let Ok(again) = minke_runtime::rerun_of(run, sessions, meta, &[], Params::new(), username)
    else {
        return String::new();
    };
    let ids = again.query.ids.unwrap_or_default();
    let mut hidden = String::new();
    for (name, value) in again.params.iter() {
        hidden.push_str(&html::hidden(&format!("p_{name}"), value));
    }
    for id in &ids {
        hidden.push_str(&html::hidden("ids", &id.to_string()));
    }
    format!(
        r#"<form id="rerun" method="post" action="{action}">{csrf}{session}{hidden}<button type="submit">Rerun on the {what} that did not succeed</button></form>"#,
        action = esc(&st.url(&format!("/models/{}/run", segment(&run.model)))),
        csrf = html::csrf_field(auth),
        session = html::hidden("session", &run.session),
        what = match st.engine().models().get(&run.model) {
            Ok(m) => esc(&m.meta.counted(ids.len())),
            Err(_) => format!("{} objects", ids.len()),
        },
    )
}

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

/// `GET /sessions`: sessions with filters.
pub(crate) async fn sessions(
    State(st): State<AppState>,
    auth: Auth,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    p.only(
        &[
            "session", "model", "state", "status", "user", "host", "object", "run", "from", "to",
            "page",
        ],
        &[],
    )?;
    let mut f = session_filter(&st, &auth, &p)?;
    let (page, size) = page_of(&p, 50)?;
    f.limit = size;
    f.offset = (page - 1) * size;
    let (rows, total) = st
        .store()
        .blocking(move |c| minke_store::find_sessions(c, &f))
        .await?;
    let mut body = format!(
        r#"<form id="sessions-filter" class="filters" method="get" action="{}">{}{}{}{}<button type="submit" id="apply">Apply</button></form><p class="total">{total} sessions</p><table id="sessions" class="list"><thead><tr><th>Session</th><th>Object</th><th>Host</th><th>Run</th><th>User</th><th>Started</th><th>State</th><th>Status</th></tr></thead><tbody>"#,
        esc(&st.url("/sessions")),
        common_filters(&st, &auth, &p, STATES),
        text_field("host", "Host", &p, "text"),
        text_field("object", "Object id", &p, "number"),
        text_field("run", "Run", &p, "number"),
    );
    for (s, user) in &rows {
        let _ = write!(
            body,
            r#"<tr data-session-id="{id}"><td><a class="session-link" href="{url}">{name} #{id}</a></td><td><a class="object-link" href="{ourl}">{label}</a></td><td class="host">{host}</td><td><a href="{rurl}">#{run}</a></td><td class="user">{user}</td><td class="time">{at}</td><td>{state}</td><td>{status}</td></tr>"#,
            id = s.id,
            url = esc(&st.url(&format!("/sessions/{}", s.id))),
            name = esc(&s.session),
            ourl = esc(&st.url(&format!("/models/{}/{}", segment(&s.model), s.object_id))),
            label = esc(&s.object_label),
            host = esc(s.host_name.as_deref().unwrap_or_default()),
            rurl = esc(&st.url(&format!("/runs/{}", s.run_id))),
            run = s.run_id,
            user = esc(user),
            at = time(s.created_at),
            state = state_badge(s.state.as_str()),
            status = status_badge(s.status),
        );
    }
    if rows.is_empty() {
        body.push_str(r#"<tr class="empty"><td colspan="8">No session matches.</td></tr>"#);
    }
    body.push_str("</tbody></table>");
    body.push_str(&pagination(
        &st.url("/sessions"),
        &p.0,
        page,
        (total + size - 1) / size,
    ));
    Ok(html::respond(
        StatusCode::OK,
        html::page(&st, Some(&auth), "Sessions", &body),
    ))
}

/// A stored message as HTML (tables as tables, the rest as preformatted text).
fn message_html(level: &str, body: &str) -> String {
    let inner = match serde_json::from_str::<MessageBody>(body) {
        Ok(MessageBody::Table { rows }) => {
            let mut t = String::from(r#"<table class="message-table">"#);
            for (i, r) in rows.iter().enumerate() {
                t.push_str("<tr>");
                for c in r {
                    let tag = if i == 0 { "th" } else { "td" };
                    let _ = write!(t, "<{tag}>{}</{tag}>", esc(c));
                }
                t.push_str("</tr>");
            }
            t.push_str("</table>");
            t
        }
        Ok(other) => {
            let m = minke_core::Message {
                level: level.parse().unwrap_or(minke_core::MessageLevel::Info),
                body: other,
            };
            format!("<pre>{}</pre>", esc(&m.to_plain_text()))
        }
        Err(_) => format!("<pre>{}</pre>", esc(body)),
    };
    format!(
        r#"<li class="message level-{l}"><span class="level">{l}</span>{inner}</li>"#,
        l = esc(level)
    )
}

fn stream_block(
    st: &AppState,
    sid: SessionId,
    c: &minke_store::CommandPreview,
    stderr: bool,
) -> String {
    let (name, head, stored, seen, truncated) = if stderr {
        (
            "stderr",
            &c.stderr,
            c.stderr_stored,
            c.stderr_len,
            c.stderr_truncated,
        )
    } else {
        (
            "stdout",
            &c.stdout,
            c.stdout_stored,
            c.stdout_len,
            c.stdout_truncated,
        )
    };
    let seq = c.seq;
    if stored == 0 && seen == 0 {
        return format!(r#"<div class="stream {name} empty">no {name}</div>"#);
    }
    let href = esc(&st.url(&format!("/sessions/{sid}/commands/{seq}/{name}")));
    let mut out = format!(
        r#"<div class="stream {name}-block"><h4>{name} <a class="download download-{name}" href="{href}" download>download ({size})</a></h4><pre class="{name}">{text}</pre>"#,
        size = bytes(stored),
        text = esc(&String::from_utf8_lossy(head)),
    );
    if stored > i64::try_from(head.len()).unwrap_or(i64::MAX) {
        let _ = write!(
            out,
            r#"<p class="preview-note">Showing the first {} of {}: <a href="{href}" download>download all of it</a>.</p>"#,
            bytes(i64::try_from(head.len()).unwrap_or(0)),
            bytes(stored)
        );
    }
    if truncated {
        let _ = write!(
            out,
            r#"<p class="truncated">Truncated: {} were kept of {} the command wrote.</p>"#,
            bytes(stored),
            bytes(seen)
        );
    }
    out.push_str("</div>");
    out
}

/// `GET /sessions/{id}`: a session's commands and messages.
pub(crate) async fn session(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<SessionId>,
) -> Result<Response> {
    let s = st
        .store()
        .blocking(move |c| minke_store::get_session(c, id))
        .await?;
    auth.need_view(&s.model)?;
    let (messages, commands, run) = st
        .store()
        .blocking(move |c| {
            Ok((
                minke_store::session_messages(c, id)?,
                minke_store::command_previews(c, id, PREVIEW)?,
                minke_store::get_run(c, s.run_id)?,
            ))
        })
        .await?;
    let state: SessionState = s.state;
    let mut body = format!(
        r#"<dl id="session-info" class="info"><dt>Object</dt><dd><a class="object-link" href="{ourl}">{label}</a> ({model})</dd><dt>Host</dt><dd>{host}</dd><dt>Run</dt><dd><a id="run-link" href="{rurl}">#{run}</a> by {user}</dd><dt>State</dt><dd>{state}</dd><dt>Status</dt><dd>{status}</dd><dt>Reason</dt><dd class="reason">{reason}</dd><dt>Started</dt><dd>{start}</dd><dt>Finished</dt><dd>{end}</dd></dl>"#,
        ourl = esc(&st.url(&format!("/models/{}/{}", segment(&s.model), s.object_id))),
        label = esc(&s.object_label),
        model = esc(&s.model),
        host = esc(s.host_name.as_deref().unwrap_or_default()),
        rurl = esc(&st.url(&format!("/runs/{}", s.run_id))),
        run = s.run_id,
        user = esc(&run.username),
        state = state_badge(s.state.as_str()),
        status = status_badge(s.status),
        reason = esc(s.reason.as_deref().unwrap_or_default()),
        start = time_opt(s.started_at),
        end = time_opt(s.finished_at),
    );
    if !state.is_done() {
        body.push_str(&html::notice(
            "running",
            "This session is still going on: reload for more.",
        ));
    }
    body.push_str(r#"<h2>Messages</h2><ul id="messages" class="messages">"#);
    for m in &messages {
        body.push_str(&message_html(&m.level, &m.body));
    }
    if messages.is_empty() {
        body.push_str(r#"<li class="empty">No messages.</li>"#);
    }
    body.push_str(r#"</ul><h2>Commands</h2><div id="commands">"#);
    for c in &commands {
        let exit = match (&c.exit_code, &c.exit_signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("killed by SIG{sig}"),
            _ => "no exit status".into(),
        };
        let _ = write!(
            body,
            r#"<div class="command{bad}" data-seq="{seq}"><h3><code class="command-line">$ {cmd}</code></h3><p class="command-meta"><span class="exit-code">{exit}</span> · <span class="duration">{dur}</span> · <span class="time">{at}</span></p>{out}{err}</div>"#,
            bad = if c.exit_code == Some(0) {
                ""
            } else {
                " failed"
            },
            seq = c.seq,
            cmd = esc(&c.command),
            exit = esc(&exit),
            dur = duration(c.duration_us),
            at = time(c.started_at),
            out = stream_block(&st, id, c, false),
            err = stream_block(&st, id, c, true),
        );
    }
    if commands.is_empty() {
        body.push_str(r#"<p class="empty">No commands.</p>"#);
    }
    body.push_str("</div>");
    Ok(html::respond(
        StatusCode::OK,
        html::page(
            &st,
            Some(&auth),
            &format!("{} on {} (session #{id})", s.session, s.object_label),
            &body,
        ),
    ))
}

/// `GET /sessions/{id}/commands/{seq}/{stdout|stderr}`: a command's stored output as
/// a file.
pub(crate) async fn download(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, seq, stream)): Path<(SessionId, i32, String)>,
) -> Result<Response> {
    let stderr = match stream.as_str() {
        "stdout" => false,
        "stderr" => true,
        other => {
            return Err(Error::NotFound(format!(
                "no output stream `{other}`: use stdout or stderr"
            )));
        }
    };
    let s = st
        .store()
        .blocking(move |c| minke_store::get_session(c, id))
        .await?;
    auth.need_view(&s.model)?;
    let data = st
        .store()
        .blocking(move |c| minke_store::command_output(c, id, seq, stderr))
        .await?
        .ok_or_else(|| Error::NotFound(format!("session {id} has no command {seq}")))?;
    let mut res = data.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let disposition = format!("attachment; filename=\"session-{id}-command-{seq}.{stream}\"");
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|e| Error::Internal(e.to_string()))?,
    );
    Ok(res)
}
