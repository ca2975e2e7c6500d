//! The start page: models with counts and their latest run, hosts, recent runs.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minke_core::ModelMeta;
use minke_runtime::ModelEntry;
use minke_store::{Conn, ListedRun, Query, RunFilter};

use crate::Result;
use crate::auth::Auth;
use crate::forms::segment;
use crate::layout::{Layout, render};
use crate::pages::history::RunRow;
use crate::pages::viewable_models;
use crate::state::AppState;

/// Runs in the recent runs table.
const RECENT: i64 = 10;

/// A model as the start page lists it: its objects and its latest run.
struct ModelRow {
    name: &'static str,
    verbose: String,
    url: String,
    objects: i64,
    /// Its latest run (none yet on a new model).
    latest: Option<RunRow>,
}

/// How many hosts there are, how many of them are disabled, and how many groups.
struct HostsSummary {
    hosts: i64,
    disabled: i64,
    groups: usize,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    layout: Layout,
    models: Vec<ModelRow>,
    /// Only for those who may view hosts.
    hosts: Option<HostsSummary>,
    /// The recent runs (named as the runs table names them).
    runs: Vec<RunRow>,
    table_id: &'static str,
    empty: &'static str,
}

/// A model's objects counted and its latest run, with that run's counts.
struct ModelStats {
    meta: ModelMeta,
    objects: i64,
    latest: Option<ListedRun>,
}

/// Counts the objects of each model and finds its latest run.
fn model_stats(c: &mut Conn, models: &[ModelEntry]) -> minke_store::Result<Vec<ModelStats>> {
    let mut stats = Vec::with_capacity(models.len());
    for m in models {
        let objects = m.count(c, &Query::all())?;
        // The newest run alone: no count of all the model's runs.
        let newest = minke_store::latest_run(c, m.meta.name)?
            .into_iter()
            .collect();
        let latest = minke_store::with_counts(c, newest)?.pop();
        stats.push(ModelStats {
            meta: m.meta.clone(),
            objects,
            latest,
        });
    }
    Ok(stats)
}

/// The newest runs on `models` (`None`: on any model).
fn recent_runs(c: &mut Conn, models: Option<Vec<String>>) -> minke_store::Result<Vec<ListedRun>> {
    let filter = RunFilter {
        models,
        limit: RECENT,
        ..RunFilter::default()
    };
    Ok(minke_store::runs_with_counts(c, &filter)?.0)
}

/// The hosts counted by the database (a million hosts are not loaded to count them).
fn hosts_summary(c: &mut Conn) -> minke_store::Result<HostsSummary> {
    use minke_store::StoredModel as _;
    Ok(HostsSummary {
        hosts: minke_store::HostRecord::count(c, &Query::all())?,
        disabled: minke_store::HostRecord::count(c, &Query::filter("disabled = true")?)?,
        groups: usize::try_from(minke_store::count_groups(c)?).unwrap_or(usize::MAX),
    })
}

impl ModelRow {
    fn new(st: &AppState, s: ModelStats) -> ModelRow {
        ModelRow {
            name: s.meta.name,
            url: st.url(&format!("/models/{}", segment(s.meta.name))),
            verbose: s.meta.verbose_name,
            objects: s.objects,
            latest: s.latest.map(|r| RunRow::new(st, &r)),
        }
    }
}

/// `GET /`: the start page.
pub(crate) async fn index(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    let models = crate::pages::viewable_entries(&st, &auth);
    let viewable = viewable_models(&st, &auth);
    let can_hosts = auth.can_view("host");
    let (stats, recent, hosts) = st
        .store()
        .blocking(move |c| {
            let stats = model_stats(c, &models)?;
            let recent = recent_runs(c, viewable)?;
            let hosts = can_hosts.then(|| hosts_summary(c)).transpose()?;
            Ok((stats, recent, hosts))
        })
        .await?;
    let page = IndexPage {
        layout: Layout::new(&st, Some(&auth), st.config().title.as_str()),
        models: stats.into_iter().map(|s| ModelRow::new(&st, s)).collect(),
        hosts,
        runs: recent.iter().map(|r| RunRow::new(&st, r)).collect(),
        table_id: "recent-runs",
        empty: "No run yet.",
    };
    render(StatusCode::OK, &page)
}
