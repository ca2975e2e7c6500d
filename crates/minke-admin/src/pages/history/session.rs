//! `GET /sessions/{id}`: a session's messages and commands, with the first part of
//! each command's output and the whole of it as a download.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minke_core::{MessageBody, SessionId};
use minke_store::{CommandPreview, SessionRecord};

use super::PREVIEW;
use crate::auth::Auth;
use crate::forms::segment;
use crate::layout::{Layout, render};
use crate::readable::{bytes, duration, time, time_opt};
use crate::state::AppState;
use crate::{Error, Result};

/// A stored message: a table as rows (the first is the head), the rest as text.
struct MessageView {
    level: String,
    table: Option<Vec<Vec<String>>>,
    text: String,
}

impl MessageView {
    fn new(level: &str, body: &str) -> MessageView {
        let (table, text) = match serde_json::from_str::<MessageBody>(body) {
            Ok(MessageBody::Table { rows }) => (Some(rows), String::new()),
            Ok(other) => {
                let m = minke_core::Message {
                    level: level.parse().unwrap_or(minke_core::MessageLevel::Info),
                    body: other,
                };
                (None, m.to_plain_text())
            }
            Err(_) => (None, body.to_owned()),
        };
        MessageView {
            level: level.to_owned(),
            table,
            text,
        }
    }
}

/// One output stream of a command.
struct StreamView {
    name: &'static str,
    empty: bool,
    href: String,
    size: String,
    text: String,
    /// Shown and stored, when only the first part is shown.
    partial: Option<(String, String)>,
    /// Kept and written, when the command wrote more than was kept.
    truncated: Option<(String, String)>,
}

impl StreamView {
    fn new(st: &AppState, sid: SessionId, c: &CommandPreview, stderr: bool) -> StreamView {
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
        let shown = i64::try_from(head.len()).unwrap_or(i64::MAX);
        StreamView {
            name,
            empty: stored == 0 && seen == 0,
            href: st.url(&format!("/sessions/{sid}/commands/{}/{name}", c.seq)),
            size: bytes(stored),
            text: String::from_utf8_lossy(head).into_owned(),
            partial: (stored > shown).then(|| (bytes(shown), bytes(stored))),
            truncated: truncated.then(|| (bytes(stored), bytes(seen))),
        }
    }
}

/// A command with its exit and its two streams.
struct CommandView {
    seq: i32,
    failed: bool,
    command: String,
    exit: String,
    duration: String,
    at: String,
    streams: [StreamView; 2],
}

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    layout: Layout,
    s: SessionRecord,
    object_url: String,
    run_url: String,
    host: String,
    user: String,
    state: &'static str,
    status: &'static str,
    reason: String,
    started: String,
    finished: String,
    running: bool,
    messages: Vec<MessageView>,
    commands: Vec<CommandView>,
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
    let run_id = s.run_id;
    let (messages, commands, run) = st
        .store()
        .blocking(move |c| {
            Ok((
                minke_store::session_messages(c, id)?,
                minke_store::command_previews(c, id, PREVIEW)?,
                minke_store::get_run(c, run_id)?,
            ))
        })
        .await?;
    let commands = commands
        .iter()
        .map(|c| CommandView {
            seq: c.seq,
            failed: c.exit_code != Some(0),
            command: c.command.clone(),
            exit: match (&c.exit_code, &c.exit_signal) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(sig)) => format!("killed by SIG{sig}"),
                _ => "no exit status".into(),
            },
            duration: duration(c.duration_us),
            at: time(c.started_at),
            streams: [
                StreamView::new(&st, id, c, false),
                StreamView::new(&st, id, c, true),
            ],
        })
        .collect();
    let page = SessionPage {
        layout: Layout::new(
            &st,
            Some(&auth),
            format!("{} on {} (session #{id})", s.session, s.object_label),
        ),
        object_url: st.url(&format!("/models/{}/{}", segment(&s.model), s.object_id)),
        run_url: st.url(&format!("/runs/{}", s.run_id)),
        host: s.host_name.clone().unwrap_or_default(),
        user: run.username,
        state: s.state.as_str(),
        status: s.status.map(|x| x.as_str()).unwrap_or_default(),
        reason: s.reason.clone().unwrap_or_default(),
        started: time_opt(s.started_at),
        finished: time_opt(s.finished_at),
        running: !s.state.is_done(),
        messages: messages
            .iter()
            .map(|m| MessageView::new(&m.level, &m.body))
            .collect(),
        commands,
        s,
    };
    render(StatusCode::OK, &page)
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
