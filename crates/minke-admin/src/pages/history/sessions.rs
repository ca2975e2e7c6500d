//! `GET /sessions`: sessions with filters, a page at a time.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::filters::{FilterInput, STATES, common_filters, session_filter};
use crate::Result;
use crate::auth::Auth;
use crate::forms::{QueryPairs, segment};
use crate::layout::{Layout, render};
use crate::pages::{Pager, page_of};
use crate::readable::time;
use crate::state::AppState;

/// A session as the list shows it.
struct SessionRow {
    id: i64,
    url: String,
    session: String,
    object_url: String,
    label: String,
    host: String,
    run_id: i64,
    run_url: String,
    user: String,
    at: String,
    state: &'static str,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    layout: Layout,
    action: String,
    filters: Vec<FilterInput>,
    total: i64,
    sessions: Vec<SessionRow>,
    pager: Pager,
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
    let mut filters = common_filters(&st, &auth, &p, STATES);
    filters.extend([
        FilterInput::input("host", "Host", "text", &p),
        FilterInput::input("object", "Object id", "number", &p),
        FilterInput::input("run", "Run", "number", &p),
    ]);
    let sessions = rows
        .into_iter()
        .map(|(s, user)| SessionRow {
            id: s.id.get(),
            url: st.url(&format!("/sessions/{}", s.id)),
            object_url: st.url(&format!("/models/{}/{}", segment(&s.model), s.object_id)),
            label: s.object_label,
            host: s.host_name.unwrap_or_default(),
            run_id: s.run_id.get(),
            run_url: st.url(&format!("/runs/{}", s.run_id)),
            session: s.session,
            user,
            at: time(s.created_at),
            state: s.state.as_str(),
            status: s.status.map(|x| x.as_str()).unwrap_or_default(),
        })
        .collect();
    let page = SessionsPage {
        layout: Layout::new(&st, Some(&auth), "Sessions"),
        action: st.url("/sessions"),
        filters,
        total,
        sessions,
        pager: Pager::new(&st.url("/sessions"), &p.0, page, (total + size - 1) / size),
    };
    render(StatusCode::OK, &page)
}
