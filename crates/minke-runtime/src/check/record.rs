//! Recording a check: the run, one session a host, in one write.

use minke_core::RunState;
use minke_store::{NewRun, NewSession, Store, now_micros};

use super::probe::Probe;
use super::{CHECK_SESSION, CheckReport, CheckRequest, HostCheck};
use crate::Result;

/// Records a check in one write: the run, one session a host with its start, its
/// message and its end, and the run's end. Gives the report, with the ids.
pub(super) async fn record_check(
    store: &Store,
    req: &CheckRequest,
    model: &str,
    started: i64,
    probes: Vec<Probe>,
) -> Result<CheckReport> {
    let run = NewRun {
        session: CHECK_SESSION.to_owned(),
        model: model.to_owned(),
        username: req.username.clone(),
        params: serde_json::to_string(&req.params()).unwrap_or_default(),
        selection: serde_json::to_string(&req.query).unwrap_or_default(),
        state: RunState::Running,
        created_at: started,
    };
    let model = model.to_owned();
    let report = store
        .write(move |c| {
            let run_id = minke_store::insert_run(c, &run)?;
            let rows: Vec<NewSession> = probes
                .iter()
                .map(|p| NewSession {
                    run_id,
                    session: CHECK_SESSION.to_owned(),
                    model: model.clone(),
                    object_id: p.object_id,
                    object_label: p.label.clone(),
                    host_id: Some(p.check.host_id),
                    host_name: Some(p.check.host.clone()),
                    state: minke_core::State::Initialized,
                    status: None,
                    reason: None,
                    created_at: started,
                })
                .collect();
            let ids = minke_store::insert_sessions(c, &rows)?;
            let mut hosts = Vec::with_capacity(probes.len());
            for (p, id) in probes.into_iter().zip(ids) {
                if let Some(at) = p.started_at {
                    minke_store::start_session(c, id, at)?;
                }
                let (level, text) = p.note;
                let row = crate::record::message_row(id, 1, level, text, p.finished_at);
                minke_store::insert_message(c, &row)?;
                let o = &p.outcome;
                minke_store::finish_session(
                    c,
                    id,
                    o.state,
                    o.status,
                    o.reason.as_deref(),
                    p.finished_at,
                )?;
                hosts.push(HostCheck {
                    session_id: id,
                    ..p.check
                });
            }
            crate::record::finish_run(c, run_id, false, now_micros())?;
            Ok(CheckReport { run_id, hosts })
        })
        .await?;
    Ok(report)
}
