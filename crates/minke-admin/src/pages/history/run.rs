//! `GET /runs/{id}`: a run with its sessions, live while it goes on, and the button
//! that reruns it on the objects that did not succeed.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minke_core::{Params, RunId};
use minke_store::{RunRecord, SessionRecord};

use crate::Result;
use crate::auth::Auth;
use crate::forms::{QueryPairs, segment};
use crate::layout::{Layout, render};
use crate::live;
use crate::pages::changelist::{LiveSession, RunPanel, live_cells, run_panel};
use crate::pages::{Pager, page_of};
use crate::readable::{time, time_opt};
use crate::state::AppState;

/// Sessions per page of a run page.
const RUN_PAGE: i64 = 200;

/// A session row of a run page.
struct RunSession {
    id: i64,
    object_id: i64,
    object_url: String,
    label: String,
    host: String,
    /// Its live cells.
    live: Option<LiveSession>,
}

/// The rerun button's form.
struct Rerun {
    action: String,
    session: String,
    hidden: Vec<(String, String)>,
    /// What it reruns on: `2 servers`.
    what: String,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    layout: Layout,
    csrf: String,
    stop_url: String,
    panel: RunPanel,
    run: RunRecord,
    model_url: String,
    started: String,
    finished: String,
    sessions: Vec<RunSession>,
    rerun: Option<Rerun>,
    pager: Pager,
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
    let skip = usize::try_from((page - 1) * RUN_PAGE).unwrap_or(0);
    let shown = sessions
        .iter()
        .skip(skip)
        .take(usize::try_from(RUN_PAGE).unwrap_or(200))
        .map(|s| RunSession {
            id: s.id.get(),
            object_id: s.object_id,
            object_url: st.url(&format!("/models/{}/{}", segment(&s.model), s.object_id)),
            label: s.object_label.clone(),
            host: s.host_name.clone().unwrap_or_default(),
            live: live_cells(&st, Some(s)),
        })
        .collect();
    let n = i64::try_from(sessions.len()).unwrap_or(0);
    let page = RunPage {
        layout: Layout::new(&st, Some(&auth), format!("Run #{id}")),
        csrf: auth.csrf.clone().unwrap_or_default(),
        stop_url: st.url(&format!("/runs/{id}/stop")),
        panel: run_panel(&st, &run, active),
        model_url: st.url(&format!("/models/{}", segment(&run.model))),
        started: time(run.created_at),
        finished: time_opt(run.finished_at),
        sessions: shown,
        rerun: rerun(&st, &auth, &run, &sessions),
        pager: Pager::new(
            &st.url(&format!("/runs/{id}")),
            &p.0,
            page,
            (n + RUN_PAGE - 1) / RUN_PAGE,
        ),
        run,
    };
    render(StatusCode::OK, &page)
}

/// The "rerun" button of an ended run: its session again on the objects whose
/// sessions did not succeed, through the session's form (its parameters filled in
/// from the run's, the secret ones asked again). None when there is nothing to rerun
/// or the user may not run the session.
fn rerun(st: &AppState, auth: &Auth, run: &RunRecord, sessions: &[SessionRecord]) -> Option<Rerun> {
    let meta = &st.engine().sessions().get(&run.session).ok()?.meta;
    auth.need_run(meta, &run.model).ok()?;
    // What `rerun` would run: nothing when the run goes on or every object succeeded.
    let username = auth.user.username.clone();
    let again = minke_runtime::rerun_of(run, sessions, meta, &[], Params::new(), username).ok()?;
    let ids = again.query.ids.unwrap_or_default();
    let mut hidden: Vec<(String, String)> = again
        .params
        .iter()
        .map(|(name, value)| (format!("p_{name}"), value.to_owned()))
        .collect();
    hidden.extend(ids.iter().map(|id| ("ids".to_owned(), id.to_string())));
    Some(Rerun {
        action: st.url(&format!("/models/{}/run", segment(&run.model))),
        session: run.session.clone(),
        hidden,
        what: match st.engine().models().get(&run.model) {
            Ok(m) => m.meta.counted(ids.len()),
            Err(_) => format!("{} objects", ids.len()),
        },
    })
}
