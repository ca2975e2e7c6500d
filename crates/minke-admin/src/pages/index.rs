//! The start page: models with counts and their latest run, hosts, recent runs.

use minke_core::RunId;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minke_store::{Query, RunRecord};

use crate::Result;
use crate::auth::Auth;
use crate::forms::segment;
use crate::html::{self, esc, state_badge, status_badge, time};
use crate::pages::viewable_models;
use crate::state::AppState;
use minke_store::{Counts, RunFilter};

/// One row of the run tables on several pages.
pub(crate) fn run_row(st: &AppState, r: &RunRecord, c: Option<&Counts>) -> String {
    let empty = Counts::default();
    let c = c.unwrap_or(&empty);
    format!(
        r#"<tr data-run-id="{id}"><td><a class="run-link" href="{url}">#{id}</a></td><td class="session-name">{session}</td><td class="model-name">{model}</td><td class="user">{user}</td><td class="time">{at}</td><td>{state}</td><td>{status}</td><td class="counts">{done}/{total} done · <span class="n-success">{ok}</span> ok · <span class="n-warning">{warn}</span> warnings · <span class="n-error">{err}</span> errors</td></tr>"#,
        id = r.id,
        url = esc(&st.url(&format!("/runs/{}", r.id))),
        session = esc(&r.session),
        model = esc(&r.model),
        user = esc(&r.username),
        at = time(r.created_at),
        state = state_badge(r.state.as_str()),
        status = status_badge(c.worst()),
        done = c.done,
        total = c.total,
        ok = c.success,
        warn = c.warning,
        err = c.error,
    )
}

/// The head of the run tables.
pub(crate) const RUNS_HEAD: &str = "<thead><tr><th>Run</th><th>Session</th><th>Model</th><th>User</th><th>Started</th><th>State</th><th>Status</th><th>Sessions</th></tr></thead>";

/// `GET /`: the start page.
pub(crate) async fn index(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    let models: Vec<_> = st
        .engine()
        .models()
        .iter()
        .filter(|m| auth.can_view(m.meta.name))
        .cloned()
        .collect();
    let viewable = viewable_models(&st, &auth);
    let can_hosts = auth.can_view("host");
    let (rows, recent, counts, hosts) = st
        .store()
        .blocking(move |c| {
            let mut rows = Vec::new();
            for m in &models {
                let n = m.count(c, &Query::all())?;
                let latest = minke_store::latest_run(c, m.meta.name)?;
                let counts = match &latest {
                    Some(r) => minke_store::run_counts(c, &[r.id])?.remove(&r.id),
                    None => None,
                };
                rows.push((m.meta.clone(), n, latest, counts));
            }
            let (recent, _) = minke_store::find_runs(
                c,
                &RunFilter {
                    models: viewable,
                    limit: 10,
                    ..RunFilter::default()
                },
            )?;
            let ids: Vec<RunId> = recent.iter().map(|r| r.id).collect();
            let counts = minke_store::run_counts(c, &ids)?;
            let hosts = if can_hosts {
                let all = minke_store::all_hosts(c)?;
                let groups = minke_store::list_groups(c)?.len();
                Some((all.len(), all.iter().filter(|h| h.disabled).count(), groups))
            } else {
                None
            };
            Ok((rows, recent, counts, hosts))
        })
        .await?;
    let mut body = String::from(
        r#"<section id="models"><h2>Models</h2><table id="model-list" class="list"><thead><tr><th>Model</th><th>Objects</th><th>Latest run</th><th>Status</th><th>When</th></tr></thead><tbody>"#,
    );
    for (meta, n, latest, counts) in &rows {
        let (run, status, when) = match latest {
            Some(r) => (
                format!(
                    r#"<a class="run-link" href="{}">#{} {}</a> {}"#,
                    esc(&st.url(&format!("/runs/{}", r.id))),
                    r.id,
                    esc(&r.session),
                    state_badge(r.state.as_str())
                ),
                status_badge(counts.as_ref().and_then(Counts::worst)),
                time(r.created_at),
            ),
            None => ("no run yet".into(), String::new(), String::new()),
        };
        let _ = write!(
            body,
            r#"<tr data-model="{name}"><td><a class="model-link" href="{url}">{verbose}</a> <code>{name}</code></td><td class="count">{n}</td><td class="latest-run">{run}</td><td class="latest-status">{status}</td><td class="time">{when}</td></tr>"#,
            name = esc(meta.name),
            url = esc(&st.url(&format!("/models/{}", segment(meta.name)))),
            verbose = esc(&meta.verbose_name),
        );
    }
    if rows.is_empty() {
        body.push_str(r#"<tr><td colspan="5">You may view no model.</td></tr>"#);
    }
    body.push_str("</tbody></table></section>");
    if let Some((n, disabled, groups)) = hosts {
        let _ = write!(
            body,
            r#"<section id="hosts-summary"><h2>Hosts</h2><p><a href="{h}">{n} hosts</a> ({disabled} disabled) in <a href="{g}">{groups} groups</a>.</p></section>"#,
            h = esc(&st.url("/hosts")),
            g = esc(&st.url("/groups")),
        );
    }
    let _ = write!(
        body,
        r#"<section id="recent"><h2>Recent runs</h2><table id="recent-runs" class="list">{RUNS_HEAD}<tbody>"#
    );
    for r in &recent {
        body.push_str(&run_row(&st, r, counts.get(&r.id)));
    }
    let _ = write!(
        body,
        r#"</tbody></table><p><a href="{}">All runs</a></p></section>"#,
        esc(&st.url("/runs"))
    );
    Ok(html::respond(
        StatusCode::OK,
        html::page(&st, Some(&auth), &st.config().title, &body),
    ))
}
