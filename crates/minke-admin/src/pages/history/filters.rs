//! The filters of the runs and sessions lists: read from a query string (pages and
//! API), and shown as a form.

use minke_store::{RunFilter, SessionFilter};

use crate::auth::Auth;
use crate::forms::Pairs;
use crate::pages::{Choice, viewable_models};
use crate::state::AppState;
use crate::{Error, Result};

pub(super) const STATES: &[&str] = &[
    "initialized",
    "running",
    "completed",
    "failed",
    "stopped",
    "canceled",
];
pub(super) const STATUSES: &[&str] = &["success", "warning", "error"];
/// A run's states: `interrupted` when its process died before it ended.
pub(super) const RUN_STATES: &[&str] = &["running", "done", "canceled", "interrupted"];

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
pub(super) fn session_filter(st: &AppState, auth: &Auth, p: &Pairs) -> Result<SessionFilter> {
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

/// One input of a filter form: a menu, or a text, date or number input.
pub(super) struct FilterInput {
    pub(super) name: &'static str,
    pub(super) label: &'static str,
    pub(super) input_type: &'static str,
    pub(super) value: String,
    pub(super) choices: Vec<Choice>,
}

impl FilterInput {
    /// A menu of `values` (and "any").
    pub(super) fn menu(
        name: &'static str,
        label: &'static str,
        values: &[&str],
        p: &Pairs,
    ) -> Self {
        let mut items: Vec<(&str, &str)> = vec![("", "any")];
        items.extend(values.iter().map(|v| (*v, *v)));
        FilterInput {
            name,
            label,
            input_type: "",
            value: String::new(),
            choices: Choice::menu(items, p.get(name).unwrap_or_default()),
        }
    }

    /// An input of `input_type` (`text`, `date`, `number`).
    pub(super) fn input(
        name: &'static str,
        label: &'static str,
        input_type: &'static str,
        p: &Pairs,
    ) -> Self {
        FilterInput {
            name,
            label,
            input_type,
            value: p.get(name).unwrap_or_default().to_owned(),
            choices: Vec::new(),
        }
    }
}

/// The filters the runs and the sessions lists share.
pub(super) fn common_filters(
    st: &AppState,
    auth: &Auth,
    p: &Pairs,
    states: &[&str],
) -> Vec<FilterInput> {
    let sessions: Vec<&str> = st.engine().sessions().iter().map(|s| s.meta.name).collect();
    let models: Vec<&str> = st
        .engine()
        .models()
        .iter()
        .map(|m| m.meta.name)
        .filter(|m| auth.can_view(m))
        .collect();
    vec![
        FilterInput::menu("session", "Session", &sessions, p),
        FilterInput::menu("model", "Model", &models, p),
        FilterInput::menu("state", "State", states, p),
        FilterInput::menu("status", "Status", STATUSES, p),
        FilterInput::input("user", "User", "text", p),
        FilterInput::input("from", "From", "date", p),
        FilterInput::input("to", "To", "date", p),
    ]
}
