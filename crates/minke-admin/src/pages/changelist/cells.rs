//! Pieces of a changelist row and of the run panel above it, shared with the run
//! page: a field's value as a cell and as JSON, the live cells the script keeps
//! current.

use minke_core::{ModelMeta, ModelObject, RunId, Value};
use minke_store::SessionRecord;

use crate::readable::time;
use crate::state::AppState;

/// A field's value for a table cell.
pub(crate) fn cell(meta: &ModelMeta, o: &dyn ModelObject, field: &str) -> String {
    if meta.field(field).is_some_and(|f| f.type_name == "secret") {
        return "***".into();
    }
    match o.field(field) {
        Some(Value::Bool(true)) => "yes".into(),
        Some(Value::Bool(false)) => "no".into(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// A field's value for JSON (secrets hidden).
pub(crate) fn json_value(meta: &ModelMeta, o: &dyn ModelObject, field: &str) -> serde_json::Value {
    if meta.field(field).is_some_and(|f| f.type_name == "secret") {
        return "***".into();
    }
    serde_json::to_value(o.field(field).unwrap_or(Value::Null)).unwrap_or_default()
}

/// A session in its row's live cells (`live_cells.html`, kept current by the script).
pub(crate) struct LiveSession {
    pub(crate) state: &'static str,
    pub(crate) status: &'static str,
    pub(crate) log: String,
    pub(crate) stop: String,
    pub(crate) done: bool,
}

/// The live cells of a row: the session's, or empty ones to be filled.
pub(crate) fn live_cells(st: &AppState, s: Option<&SessionRecord>) -> Option<LiveSession> {
    s.map(|s| LiveSession {
        state: s.state.as_str(),
        status: s.status.map(|x| x.as_str()).unwrap_or_default(),
        log: st.url(&format!("/sessions/{}", s.id)),
        stop: st.url(&format!("/runs/{}/sessions/{}/stop", s.run_id, s.id)),
        done: s.state.is_done(),
    })
}

/// The run panel above a live table: state, counts, stop all (`run_panel.html`).
pub(crate) struct RunPanel {
    pub(crate) id: RunId,
    pub(crate) events: String,
    pub(crate) url: String,
    pub(crate) session: String,
    pub(crate) user: String,
    pub(crate) at: String,
    pub(crate) state: String,
    pub(crate) stop: String,
    pub(crate) active: bool,
}

/// The panel of `run`.
pub(crate) fn run_panel(st: &AppState, run: &minke_store::RunRecord, active: bool) -> RunPanel {
    RunPanel {
        id: run.id,
        events: st.url(&format!("/runs/{}/events", run.id)),
        url: st.url(&format!("/runs/{}", run.id)),
        session: run.session.clone(),
        user: run.username.clone(),
        at: time(run.created_at),
        state: run.state.to_string(),
        stop: st.url(&format!("/runs/{}/stop", run.id)),
        active,
    }
}
