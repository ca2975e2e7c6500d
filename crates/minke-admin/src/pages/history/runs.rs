//! `GET /runs`: runs with filters, a page at a time.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minke_core::RunId;
use minke_store::ListedRun;

use super::filters::{FilterInput, RUN_STATES, common_filters, run_filter};
use crate::Result;
use crate::auth::Auth;
use crate::forms::QueryPairs;
use crate::layout::{Layout, render};
use crate::pages::{Pager, page_of};
use crate::readable::time;
use crate::state::AppState;

/// A run as a table of runs shows it: the start page's and the runs list's.
pub(crate) struct RunRow {
    pub(crate) id: RunId,
    pub(crate) url: String,
    pub(crate) session: String,
    pub(crate) model: String,
    pub(crate) user: String,
    pub(crate) at: String,
    pub(crate) state: &'static str,
    /// The worst status of its sessions so far (empty before any ended).
    pub(crate) status: &'static str,
    pub(crate) done: i64,
    pub(crate) total: i64,
    pub(crate) ok: i64,
    pub(crate) warnings: i64,
    pub(crate) errors: i64,
}

impl RunRow {
    /// The row of a listed run.
    pub(crate) fn new(st: &AppState, listed: &ListedRun) -> RunRow {
        let (r, c) = (&listed.run, &listed.counts);
        RunRow {
            id: r.id,
            url: st.url(&format!("/runs/{}", r.id)),
            session: r.session.clone(),
            model: r.model.clone(),
            user: r.username.clone(),
            at: time(r.created_at),
            state: r.state.as_str(),
            status: listed.status.map(|s| s.as_str()).unwrap_or_default(),
            done: c.done,
            total: c.total,
            ok: c.success,
            warnings: c.warning,
            errors: c.error,
        }
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    layout: Layout,
    action: String,
    filters: Vec<FilterInput>,
    total: i64,
    table_id: &'static str,
    empty: &'static str,
    runs: Vec<RunRow>,
    pager: Pager,
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
    let (rows, total) = st
        .store()
        .blocking(move |c| minke_store::runs_with_counts(c, &f))
        .await?;
    let page = RunsPage {
        layout: Layout::new(&st, Some(&auth), "Runs"),
        action: st.url("/runs"),
        filters: common_filters(&st, &auth, &p, RUN_STATES),
        total,
        table_id: "runs",
        empty: "No run matches.",
        runs: rows.iter().map(|r| RunRow::new(&st, r)).collect(),
        pager: Pager::new(&st.url("/runs"), &p.0, page, (total + size - 1) / size),
    };
    render(StatusCode::OK, &page)
}
