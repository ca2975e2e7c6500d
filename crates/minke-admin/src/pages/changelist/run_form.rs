//! The run flow from a changelist: the session chosen with objects, then, for
//! sessions with parameters or `confirm`, the parameter form and the confirmation,
//! then the run, shown live in the changelist.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::{Error as CoreError, ModelMeta, Params, SessionMeta};
use minke_runtime::{ModelEntry, RunRequest};
use minke_store::Query;

use super::select::{model_entry, selection, selection_pairs};
use crate::auth::Auth;
use crate::forms::{Form, Pairs, encode, segment};
use crate::layout::{Layout, render};
use crate::pages::Choice;
use crate::state::AppState;
use crate::{Error, Result};

/// Objects listed on a confirmation page at most.
const CONFIRM_MAX: i64 = 5000;

/// What the parameter form found.
#[derive(Default)]
struct ParamCheck {
    params: Params,
    errors: BTreeMap<String, String>,
    form_error: Option<String>,
}

/// Reads and checks the typed parameters of a session from `p_NAME` fields.
fn read_params(meta: &SessionMeta, entry: &minke_core::SessionEntry, f: &Pairs) -> ParamCheck {
    let mut out = ParamCheck::default();
    for spec in &meta.params {
        let raw = f.get(&format!("p_{}", spec.name)).unwrap_or_default();
        let raw = if spec.multiline {
            raw.replace("\r\n", "\n")
        } else {
            raw.to_owned()
        };
        if raw.trim().is_empty() {
            if spec.required && spec.default.is_none() {
                out.errors
                    .insert(spec.name.to_owned(), "This field is required.".into());
            }
            continue;
        }
        let problem = match spec.type_name {
            "integer" => raw
                .trim()
                .parse::<i64>()
                .err()
                .map(|_| "Enter a whole number."),
            "number" => raw.trim().parse::<f64>().err().map(|_| "Enter a number."),
            "boolean" => <bool as minke_core::FieldType>::parse(&raw)
                .err()
                .map(|_| "Choose yes or no."),
            _ => None,
        };
        if let Some(p) = problem {
            out.errors.insert(spec.name.to_owned(), p.into());
            continue;
        }
        out.params.insert(spec.name, raw);
    }
    if out.errors.is_empty()
        && let Err(e) = entry.instantiate(&out.params)
    {
        match e {
            CoreError::Param { name, problem } if meta.params.iter().any(|p| p.name == name) => {
                out.errors.insert(name, problem);
            }
            other => out.form_error = Some(other.to_string()),
        }
    }
    out
}

/// What a run form is for: the model, the session, the objects, what was entered.
struct RunForm<'a> {
    model: &'a ModelMeta,
    session: &'a SessionMeta,
    /// Hidden fields carrying the selection (no confirmation).
    carry: Vec<(String, String)>,
    /// Objects to confirm: id, label, checked.
    confirm: Option<Vec<ConfirmObject>>,
    count: i64,
    values: &'a Pairs,
    check: Option<&'a ParamCheck>,
}

/// An object of a confirmation.
struct ConfirmObject {
    id: i64,
    label: String,
    checked: bool,
}

/// A parameter's input.
struct ParamField {
    name: &'static str,
    type_name: &'static str,
    help: String,
    required: bool,
    /// A boolean's menu (empty for other types).
    choices: Vec<Choice>,
    secret: bool,
    multiline: bool,
    number: bool,
    any_step: bool,
    value: String,
    placeholder: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "run_form.html")]
struct RunFormPage {
    layout: Layout,
    help: String,
    form_error: Option<String>,
    action: String,
    csrf: String,
    session: &'static str,
    carry: Vec<(String, String)>,
    params: Vec<ParamField>,
    confirm: Option<Vec<ConfirmObject>>,
    count: i64,
    cancel: String,
}

fn param_field(spec: &minke_core::ParamSpec, form: &RunForm<'_>) -> ParamField {
    // A secret is never sent back to the browser.
    let value = if spec.secret {
        String::new()
    } else {
        form.values
            .get(&format!("p_{}", spec.name))
            .map_or_else(|| spec.default.clone().unwrap_or_default(), str::to_owned)
    };
    let choices = if spec.type_name == "boolean" {
        let v = if value.is_empty() {
            spec.default.as_deref().unwrap_or_default()
        } else {
            &value
        };
        let v = <bool as minke_core::FieldType>::parse(v)
            .map(|b| b.to_string())
            .unwrap_or_default();
        Choice::menu([("", "—"), ("true", "yes"), ("false", "no")], &v)
    } else {
        Vec::new()
    };
    ParamField {
        name: spec.name,
        type_name: spec.type_name,
        help: spec.help.clone(),
        required: spec.required && spec.default.is_none(),
        choices,
        secret: spec.secret,
        multiline: spec.multiline,
        number: matches!(spec.type_name, "integer" | "number"),
        any_step: spec.type_name == "number",
        placeholder: spec.default.clone().unwrap_or_default(),
        error: form.check.and_then(|c| c.errors.get(spec.name)).cloned(),
        value,
    }
}

fn render_run_form(
    st: &AppState,
    auth: &Auth,
    status: StatusCode,
    form: RunForm<'_>,
) -> Result<Response> {
    let s = form.session;
    let page = RunFormPage {
        layout: Layout::new(
            st,
            Some(auth),
            format!("Run “{}” on {}", s.verbose_name, form.model.verbose_name),
        ),
        help: s.help.clone(),
        form_error: form.check.and_then(|c| c.form_error.clone()),
        action: st.url(&format!("/models/{}/run", segment(form.model.name))),
        csrf: auth.csrf.clone().unwrap_or_default(),
        session: s.name,
        params: s.params.iter().map(|p| param_field(p, &form)).collect(),
        cancel: st.url(&format!("/models/{}", segment(form.model.name))),
        carry: form.carry,
        confirm: form.confirm,
        count: form.count,
    };
    render(status, &page)
}

/// `POST /models/{model}/run`: from the changelist (session, ids or all matching),
/// then, for sessions with parameters or `confirm`, the parameter form and the
/// confirmation; then the run starts and the changelist shows it.
pub(crate) async fn run(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    Form(f): Form,
) -> Result<Response> {
    let entry = model_entry(&st, &model)?;
    let meta = entry.meta.clone();
    let name = f
        .text("session")
        .ok_or_else(|| Error::BadRequest("Choose a session to run.".into()))?
        .to_owned();
    let sentry = st
        .engine()
        .sessions()
        .get(&name)
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let smeta = sentry.meta.clone();
    if !smeta.works_on(&model) {
        return Err(Error::BadRequest(format!(
            "session `{name}` does not work on model `{model}` (it works on: {})",
            smeta.work_on.join(", ")
        )));
    }
    auth.need_run(&smeta, &model)?;
    let confirmed = f.get("confirmed") == Some("1");
    let all_matching = f.get("all_matching") == Some("1");
    let ids = f.ids("ids")?;
    let query = if all_matching && !(confirmed && smeta.confirm) {
        selection(&st, &meta, &f).await?
    } else {
        Query::ids(ids.clone())
    };
    let needs_form = smeta.confirm || !smeta.params.is_empty();
    if !needs_form || confirmed {
        let check = if confirmed {
            read_params(&smeta, sentry, &f)
        } else {
            ParamCheck::default()
        };
        let nothing = query.ids.as_ref().is_some_and(Vec::is_empty);
        if check.errors.is_empty() && check.form_error.is_none() && !nothing {
            let handle = st
                .start_run(
                    &auth,
                    RunRequest {
                        session: name.clone(),
                        model: model.clone(),
                        query,
                        params: check.params,
                        username: auth.user.username.clone(),
                    },
                )
                .await?;
            tracing::info!(run_id = %handle.run_id, session = %name, model = %model, user = %auth.user.username, "run started from the admin");
            let to = format!(
                "{}?{}",
                st.url(&format!("/models/{}", segment(&model))),
                encode([("run", handle.run_id.to_string().as_str())])
            );
            return Ok(Redirect::to(&to).into_response());
        }
        if !needs_form {
            return Err(Error::BadRequest(
                "Select at least one object (or all matching) to run a session on.".into(),
            ));
        }
        let mut check = check;
        if nothing && check.form_error.is_none() {
            check.form_error = Some("Select at least one object.".into());
        }
        return render_again(&st, &auth, &entry, &smeta, &f, &ids, all_matching, &check).await;
    }
    if query.ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(Error::BadRequest(
            "Select at least one object (or all matching) to run a session on.".into(),
        ));
    }
    // First step: show the form with defaults.
    let (count, confirm) = objects_for(&st, &entry, &query, smeta.confirm, None).await?;
    let carry = if smeta.confirm {
        Vec::new()
    } else {
        carry_selection(&f, &ids, all_matching)
    };
    // Values the form was sent with (a rerun's), else the sessions' defaults.
    render_run_form(
        &st,
        &auth,
        StatusCode::OK,
        RunForm {
            model: &meta,
            session: &smeta,
            carry,
            confirm,
            count,
            values: &f,
            check: None,
        },
    )
}

/// The hidden fields that carry the selection to the next step.
fn carry_selection(f: &Pairs, ids: &[i64], all_matching: bool) -> Vec<(String, String)> {
    if all_matching {
        let mut out = vec![("all_matching".to_owned(), "1".to_owned())];
        out.extend(selection_pairs(f));
        out
    } else {
        ids.iter()
            .map(|id| ("ids".to_owned(), id.to_string()))
            .collect()
    }
}

/// How many objects a query selects and, for confirmation, their labels.
async fn objects_for(
    st: &AppState,
    entry: &ModelEntry,
    query: &Query,
    confirm: bool,
    checked: Option<&BTreeSet<i64>>,
) -> Result<(i64, Option<Vec<ConfirmObject>>)> {
    let entry = entry.clone();
    // What the run will select: the count and the list the confirm page shows.
    let query = entry.targets(query);
    let checked = checked.cloned();
    st.store()
        .blocking(move |c| {
            let count = entry.count(c, &query)?;
            if !confirm {
                return Ok((count, None));
            }
            let objects = entry.load(
                c,
                &Query {
                    limit: Some(CONFIRM_MAX),
                    ..query
                },
            )?;
            Ok((
                count,
                Some(
                    objects
                        .iter()
                        .map(|o| {
                            let on = checked.as_ref().is_none_or(|s| s.contains(&o.id()));
                            ConfirmObject {
                                id: o.id(),
                                label: o.label(),
                                checked: on,
                            }
                        })
                        .collect(),
                ),
            ))
        })
        .await
        .map_err(Error::from)
}

#[allow(clippy::too_many_arguments)]
async fn render_again(
    st: &AppState,
    auth: &Auth,
    entry: &ModelEntry,
    smeta: &SessionMeta,
    f: &Pairs,
    ids: &[i64],
    all_matching: bool,
    check: &ParamCheck,
) -> Result<Response> {
    let (count, confirm, carry) = if smeta.confirm {
        let shown: Vec<i64> = f.ids("shown")?;
        let checked: BTreeSet<i64> = ids.iter().copied().collect();
        let (n, c) = objects_for(st, entry, &Query::ids(shown), true, Some(&checked)).await?;
        (n, c, Vec::new())
    } else {
        let query = if all_matching {
            selection(st, &entry.meta, f).await?
        } else {
            Query::ids(ids.to_vec())
        };
        let (n, _) = objects_for(st, entry, &query, false, None).await?;
        (n, None, carry_selection(f, ids, all_matching))
    };
    render_run_form(
        st,
        auth,
        StatusCode::BAD_REQUEST,
        RunForm {
            model: &entry.meta,
            session: smeta,
            carry,
            confirm,
            count,
            values: f,
            check: Some(check),
        },
    )
}
