//! A model's changelist, the run flow (parameter form, confirmation) and object pages.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::{Error as CoreError, ModelMeta, ModelObject, Params, RunId, SessionMeta, Value};
use minke_runtime::{ModelEntry, RunRequest};
use minke_store::{Condition, Op, Order, Query, SessionRecord};

use crate::auth::Auth;
use crate::forms::{Form, Pairs, QueryPairs, encode, segment};
use crate::html::{self, csrf_field, esc, hidden, options, state_badge, status_badge, time};
use crate::pages::{Window, page_of, pagination, total_beside};
use crate::state::AppState;
use crate::{Error, Result};

/// Query parameters that select objects (carried from the changelist to the run).
const SELECT_KEYS: &[&str] = &["q", "filter", "last_status", "group"];
/// Objects listed on a confirmation page at most.
const CONFIRM_MAX: i64 = 5000;

/// The model of that name, or 404.
pub(crate) fn model_entry(st: &AppState, model: &str) -> Result<ModelEntry> {
    st.engine()
        .models()
        .get(model)
        .cloned()
        .map_err(|e| Error::NotFound(e.to_string()))
}

/// Builds the selection a changelist query (or a form carrying it) describes:
/// `f_FIELD` filters on declared fields, `filter` (an expression), `q` (search),
/// `last_status` and, for hosts, `group`. Unknown fields are a 400, never SQL.
pub(crate) async fn selection(st: &AppState, model: &ModelMeta, p: &Pairs) -> Result<Query> {
    let mut query = match p.text("filter") {
        Some(expr) => Query::filter(expr)?,
        None => Query::all(),
    };
    for (k, v) in &p.0 {
        let Some(field) = k.strip_prefix("f_") else {
            continue;
        };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let is_text = model.field(field).is_some_and(|f| f.is_text);
        query.conditions.push(Condition {
            field: field.to_owned(),
            op: if is_text { Op::Contains } else { Op::Eq },
            value: v.to_owned(),
        });
    }
    query.search = p.text("q").map(str::to_owned);
    // `group = NAME` and `last_status = ...` written in the filter expression.
    let in_filter = minke_store::take_targets(model, &mut query)?;
    minke_store::check_query(model, &query)?;
    let last_status = p
        .text("last_status")
        .map(minke_store::parse_last_status)
        .transpose()?;
    let group = p.number::<i64>("group")?;
    if last_status.is_none() && group.is_none() && in_filter.is_empty() {
        return Ok(query);
    }
    let name = model.name.to_owned();
    Ok(st
        .store()
        .blocking(move |c| {
            minke_store::narrow(c, &name, &mut query, &in_filter)?;
            if let Some(status) = last_status {
                minke_store::narrow_to_last_status(&mut query, status);
            }
            if let Some(g) = group {
                minke_store::narrow_to_group(c, &name, &mut query, g)?;
            }
            Ok(query)
        })
        .await?)
}

/// The selection parameters of a query string, to carry on.
fn selection_pairs(p: &Pairs) -> Vec<(String, String)> {
    p.0.iter()
        .filter(|(k, v)| {
            (SELECT_KEYS.contains(&k.as_str()) || k.starts_with("f_")) && !v.trim().is_empty()
        })
        .cloned()
        .collect()
}

fn compare(a: &Value, b: &Value) -> Ordering {
    use Value::{Bool, Float, Int, Null, Text};
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Less,
        (_, Null) => Ordering::Greater,
        (Bool(x), Bool(y)) => x.cmp(y),
        (Int(x), Int(y)) => x.cmp(y),
        (Float(x), Float(y)) => x.total_cmp(y),
        (Int(x), Float(y)) => (*x as f64).total_cmp(y),
        (Float(x), Int(y)) => x.total_cmp(&(*y as f64)),
        (Text(x), Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()).then(x.cmp(y)),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

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

/// The head cells of live columns.
pub(crate) const LIVE_HEAD: &str =
    "<th>State</th><th>Status</th><th>Messages</th><th>Output</th><th>Stop</th>";

/// The live cells of a row (filled and kept current by the script).
pub(crate) fn live_cells(st: &AppState, s: Option<&SessionRecord>) -> String {
    let Some(s) = s else {
        return r#"<td class="state-cell"></td><td class="status-cell"></td><td class="messages"></td><td class="output-cell"></td><td class="stop-cell"></td>"#.into();
    };
    let stop = st.url(&format!("/runs/{}/sessions/{}/stop", s.run_id, s.id));
    let done = s.state.is_done();
    format!(
        r#"<td class="state-cell">{state}</td><td class="status-cell">{status}</td><td class="messages"><ul class="message-list"></ul></td><td class="output-cell"><pre class="output"></pre><a class="log-link" href="{log}">full log</a></td><td class="stop-cell"><button type="submit" class="stop" formaction="{stop}" data-url="{stop}"{hide}>Stop</button></td>"#,
        state = state_badge(s.state.as_str()),
        status = status_badge(s.status),
        log = esc(&st.url(&format!("/sessions/{}", s.id))),
        stop = esc(&stop),
        hide = if done { " hidden" } else { "" },
    )
}

/// The run panel above a live table: state, counts, stop all.
pub(crate) fn run_panel(st: &AppState, run: &minke_store::RunRecord, active: bool) -> String {
    let stop = st.url(&format!("/runs/{}/stop", run.id));
    format!(
        r#"<section id="run-panel" data-run-id="{id}" data-events-url="{events}"><p>Run <a id="run-link" href="{url}">#{id}</a> of <strong>{session}</strong> by {user}, started {at}: <span id="run-state" class="run-state">{state}</span></p>
<p id="counts" class="counts"><span class="count count-total">total <b id="count-total">0</b></span> <span class="count count-waiting">waiting <b id="count-waiting">0</b></span> <span class="count count-running">running <b id="count-running">0</b></span> <span class="count count-done">done <b id="count-done">0</b></span> <span class="count count-success">success <b id="count-success">0</b></span> <span class="count count-warning">warning <b id="count-warning">0</b></span> <span class="count count-error">error <b id="count-error">0</b></span></p>
<p><button type="submit" id="stop-all" class="stop-all" formaction="{stop}" data-url="{stop}"{hide}>Stop all</button> <span id="live-note" class="live-note"></span></p></section>"#,
        id = run.id,
        events = esc(&st.url(&format!("/runs/{}/events", run.id))),
        url = esc(&st.url(&format!("/runs/{}", run.id))),
        session = esc(&run.session),
        user = esc(&run.username),
        at = time(run.created_at),
        state = run.state,
        stop = esc(&stop),
        hide = if active { "" } else { " hidden" },
    )
}

fn session_select(st: &AppState, auth: &Auth, model: &str, selected: &str) -> String {
    let mut groups: BTreeMap<Option<String>, Vec<&SessionMeta>> = BTreeMap::new();
    for s in st.engine().sessions().iter() {
        if s.meta.works_on(model) && auth.can_run(&s.meta) {
            groups
                .entry(s.meta.group.clone())
                .or_default()
                .push(&s.meta);
        }
    }
    let mut out = String::from(
        r#"<select name="session" id="session"><option value="">— choose a session —</option>"#,
    );
    for (group, metas) in &groups {
        if let Some(g) = group {
            let _ = write!(out, r#"<optgroup label="{}">"#, esc(g));
        }
        for m in metas {
            let mut tip = m.verbose_name.clone();
            if !m.help.is_empty() {
                tip = format!("{tip}\n\n{}", m.help);
            }
            let _ = write!(
                out,
                r#"<option value="{name}" title="{tip}"{sel}>{label}{mark}</option>"#,
                name = esc(m.name),
                tip = esc(&tip),
                sel = if m.name == selected { " selected" } else { "" },
                label = esc(&m.verbose_name),
                mark = if m.confirm || !m.params.is_empty() {
                    " …"
                } else {
                    ""
                },
            );
        }
        if group.is_some() {
            out.push_str("</optgroup>");
        }
    }
    out.push_str("</select>");
    out
}

fn filter_form(
    st: &AppState,
    meta: &ModelMeta,
    p: &Pairs,
    run: Option<RunId>,
    groups: &[minke_store::HostGroupRecord],
) -> String {
    let mut out = format!(
        r#"<form id="search-form" class="filters" method="get" action="{}">"#,
        esc(&st.url(&format!("/models/{}", segment(meta.name))))
    );
    if let Some(r) = run {
        out.push_str(&hidden("run", &r.to_string()));
    }
    if !meta.search.is_empty() {
        let _ = write!(
            out,
            r#"<label>Search <input type="search" id="search" name="q" value="{}" title="in {}"></label> "#,
            esc(p.get("q").unwrap_or_default()),
            esc(&meta.search.join(", "))
        );
    }
    for f in &meta.filter {
        let Some(field) = meta.field(f) else { continue };
        let name = format!("f_{f}");
        let v = p.get(&name).unwrap_or_default();
        if field.type_name == "boolean" {
            let _ = write!(
                out,
                r#"<label>{f} <select name="{n}" class="filter">{o}</select></label> "#,
                f = esc(f),
                n = esc(&name),
                o = options([("", "any"), ("true", "yes"), ("false", "no")], v),
            );
        } else {
            let _ = write!(
                out,
                r#"<label>{f} <input name="{n}" class="filter" value="{v}" placeholder="{ph}"></label> "#,
                f = esc(f),
                n = esc(&name),
                v = esc(v),
                ph = if field.is_text { "contains" } else { "equals" },
            );
        }
    }
    let _ = write!(
        out,
        r#"<label>Last session <select name="last_status" id="last-status">{}</select></label> "#,
        options(
            [
                ("", "any"),
                ("success", "success"),
                ("warning", "warning"),
                ("error", "error")
            ],
            p.get("last_status").unwrap_or_default()
        )
    );
    if meta.name == "host" {
        let ids: Vec<String> = groups.iter().map(|g| g.id.to_string()).collect();
        let mut items: Vec<(&str, &str)> = vec![("", "any")];
        items.extend(
            ids.iter()
                .map(String::as_str)
                .zip(groups.iter().map(|g| g.name.as_str())),
        );
        let _ = write!(
            out,
            r#"<label>Group <select name="group" id="group">{}</select></label> "#,
            options(items, p.get("group").unwrap_or_default())
        );
    }
    let _ = write!(
        out,
        r#"<label>Filter <input name="filter" id="filter" value="{}" placeholder="port >= 2200 and name ~ web"></label> <button type="submit" id="apply">Apply</button> <a id="reset" href="{}">Reset</a></form>"#,
        esc(p.get("filter").unwrap_or_default()),
        esc(&st.url(&format!("/models/{}", segment(meta.name))))
    );
    out
}

/// `GET /models/{model}`: the changelist.
pub(crate) async fn changelist(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    let entry = model_entry(&st, &model)?;
    auth.need_view(&model)?;
    let meta = entry.meta.clone();
    p.only(
        &[
            "q",
            "filter",
            "last_status",
            "group",
            "o",
            "page",
            "per_page",
            "run",
        ],
        &["f_"],
    )?;
    let mut query = selection(&st, &meta, &p).await?;
    let order = match p.text("o") {
        None => None,
        Some(o) => {
            let order = Order::parse(o);
            match meta.field(&order.field) {
                None => {
                    return Err(Error::BadRequest(format!(
                        "cannot order model `{model}` by unknown field `{}`",
                        order.field
                    )));
                }
                // The order would tell a secret's value bit by bit.
                Some(f) if f.type_name == "secret" => {
                    return Err(Error::BadRequest(format!(
                        "cannot order model `{model}` by `{}`: it is a secret",
                        order.field
                    )));
                }
                Some(_) => Some(order),
            }
        }
    };
    let (page, size) = page_of(&p, st.config().page_size)?;
    let run_id = p.number::<RunId>("run")?;
    let run = match run_id {
        None => None,
        Some(r) => {
            let (run, sessions) = st
                .store()
                .blocking(move |c| {
                    Ok((
                        minke_store::get_run(c, r)?,
                        minke_store::run_sessions(c, r)?,
                    ))
                })
                .await?;
            if run.model != model {
                return Err(Error::BadRequest(format!(
                    "run {r} worked on model `{}`, not `{model}`",
                    run.model
                )));
            }
            let objects: BTreeSet<i64> = sessions.iter().map(|s| s.object_id).collect();
            query.ids = Some(match query.ids.take() {
                Some(ids) => ids.into_iter().filter(|i| objects.contains(i)).collect(),
                None => objects.into_iter().collect(),
            });
            let by_object: BTreeMap<i64, SessionRecord> =
                sessions.into_iter().map(|s| (s.object_id, s)).collect();
            Some((run, by_object))
        }
    };
    let (total_all, matching, objects, latest) = {
        let entry = entry.clone();
        let order = order.clone();
        let query = query.clone();
        let name = model.clone();
        st.store()
            .blocking(move |c| {
                let matching = entry.count(c, &query)?;
                let all = total_beside(c, &query, matching, entry.meta.table, |c| {
                    entry.count(c, &Query::all())
                })?;
                let offset = (page - 1) * size;
                let window = Window {
                    order,
                    id_field: entry.meta.id,
                    offset,
                    size,
                    matching,
                };
                let objects = window.load(
                    c,
                    query,
                    |c, q| entry.load(c, q),
                    |a, b, field| {
                        compare(
                            &a.field(field).unwrap_or(Value::Null),
                            &b.field(field).unwrap_or(Value::Null),
                        )
                    },
                )?;
                let ids: Vec<i64> = objects.iter().map(|o| o.id()).collect();
                let latest: BTreeMap<i64, SessionRecord> =
                    minke_store::latest_sessions(c, &name, &ids)?
                        .into_iter()
                        .map(|s| (s.object_id, s))
                        .collect();
                Ok((all, matching, objects, latest))
            })
            .await?
    };
    let columns: Vec<&str> = if meta.list.is_empty() {
        vec![meta.label]
    } else {
        meta.list.clone()
    };
    let path = st.url(&format!("/models/{}", segment(&model)));
    let base_pairs: Vec<(String, String)> = p.0.clone();
    let sort_link = |field: &str| {
        let next = match &order {
            Some(o) if o.field == field && !o.descending => format!("-{field}"),
            _ => field.to_owned(),
        };
        let mut pairs: Vec<(&str, &str)> = base_pairs
            .iter()
            .filter(|(k, _)| k != "o" && k != "page")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("o", &next));
        format!("{path}?{}", encode(pairs))
    };
    let mut body = String::new();
    if meta.writable && auth.may(minke_runtime::ModelAction::Add, &model) {
        let _ = write!(
            body,
            r#"<p><a id="add-object" class="button" href="{}">Add a {}</a></p>"#,
            esc(&st.url(&format!("/models/{}/add", segment(&model)))),
            esc(&meta.verbose_name),
        );
    }
    let groups = if model == "host" {
        st.store().blocking(minke_store::list_groups).await?
    } else {
        Vec::new()
    };
    body.push_str(&filter_form(&st, &meta, &p, run_id, &groups));
    let _ = write!(
        body,
        r#"<form id="changelist-form" method="post" action="{action}">{csrf}"#,
        action = esc(&st.url(&format!("/models/{}/run", segment(&model)))),
        csrf = csrf_field(&auth),
    );
    if let Some((run, _)) = &run {
        let active = st.engine().active_runs().contains(&run.id);
        body.push_str(&run_panel(&st, run, active));
    }
    for (k, v) in selection_pairs(&p) {
        body.push_str(&hidden(&k, &v));
    }
    let _ = write!(
        body,
        r#"<div class="actions"><label for="session">Session</label> {select} <button type="submit" id="run" name="action" value="run">Run</button> <label class="all-matching"><input type="checkbox" id="select-all-matching" name="all_matching" value="1"> all <b id="matching-count">{matching}</b> matching</label> <span id="object-counts">{matching} of {total_all} objects match</span></div>"#,
        select = session_select(&st, &auth, &model, ""),
    );
    let _ = write!(
        body,
        r#"<table id="changelist" class="list changelist" data-model="{m}"><thead><tr><th><input type="checkbox" id="select-page" title="select this page"></th>"#,
        m = esc(&model)
    );
    for c in &columns {
        let arrow = match &order {
            Some(o) if o.field == *c => {
                if o.descending {
                    " ▼"
                } else {
                    " ▲"
                }
            }
            _ => "",
        };
        let _ = write!(
            body,
            r#"<th data-field="{c}"><a class="sort" href="{href}">{c}{arrow}</a></th>"#,
            c = esc(c),
            href = esc(&sort_link(c)),
        );
    }
    body.push_str("<th>Last session</th>");
    if run.is_some() {
        body.push_str(LIVE_HEAD);
    }
    body.push_str("</tr></thead><tbody>");
    for o in &objects {
        let s = run.as_ref().and_then(|(_, m)| m.get(&o.id()));
        let _ = write!(
            body,
            r#"<tr data-object-id="{id}"{sid}><td><input type="checkbox" class="select-row" name="ids" value="{id}"></td>"#,
            id = o.id(),
            sid = s
                .map(|s| format!(r#" data-session-id="{}""#, s.id))
                .unwrap_or_default(),
        );
        for (i, c) in columns.iter().enumerate() {
            let v = esc(&cell(&meta, &**o, c));
            if i == 0 {
                let _ = write!(
                    body,
                    r#"<td class="field-{c}"><a class="object-link" href="{href}">{v}</a></td>"#,
                    c = esc(c),
                    href = esc(&st.url(&format!("/models/{}/{}", segment(&model), o.id()))),
                    v = if v.is_empty() { o.id().to_string() } else { v },
                );
            } else {
                let _ = write!(body, r#"<td class="field-{}">{v}</td>"#, esc(c));
            }
        }
        let last = latest.get(&o.id());
        let _ = write!(
            body,
            r#"<td class="last-session">{}</td>"#,
            last.map(|s| format!(
                r#"<a class="last-status-link" href="{}">{}</a>"#,
                esc(&st.url(&format!("/sessions/{}", s.id))),
                if s.state == minke_core::State::Completed {
                    status_badge(s.status)
                } else {
                    state_badge(s.state.as_str())
                }
            ))
            .unwrap_or_default()
        );
        if run.is_some() {
            body.push_str(&live_cells(&st, s));
        }
        body.push_str("</tr>");
    }
    if objects.is_empty() {
        let _ = write!(
            body,
            r#"<tr class="empty"><td colspan="{}">No object matches.</td></tr>"#,
            columns.len() + 2
        );
    }
    body.push_str("</tbody></table></form>");
    let pages = (matching + size - 1) / size;
    body.push_str(&pagination(&path, &p.0, page, pages.max(1)));
    Ok(html::respond(
        StatusCode::OK,
        html::page(&st, Some(&auth), &meta.verbose_name, &body),
    ))
}

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

struct RunForm<'a> {
    model: &'a ModelMeta,
    session: &'a SessionMeta,
    /// Hidden fields carrying the selection (no confirmation).
    carry: String,
    /// Objects to confirm: id, label, checked.
    confirm: Option<Vec<(i64, String, bool)>>,
    count: i64,
    values: &'a Pairs,
    check: Option<&'a ParamCheck>,
}

fn param_input(spec: &minke_core::ParamSpec, value: &str) -> String {
    let id = format!("p_{}", spec.name);
    match spec.type_name {
        "boolean" => {
            let v = if value.is_empty() {
                spec.default.as_deref().unwrap_or_default()
            } else {
                value
            };
            let v = <bool as minke_core::FieldType>::parse(v)
                .map(|b| b.to_string())
                .unwrap_or_default();
            format!(
                r#"<select id="{id}" name="{id}">{}</select>"#,
                options([("", "—"), ("true", "yes"), ("false", "no")], &v)
            )
        }
        "secret" => format!(
            r#"<input id="{id}" name="{id}" type="password" autocomplete="off"{req}>"#,
            req = if spec.required { " required" } else { "" }
        ),
        _ if spec.multiline => format!(
            r#"<textarea id="{id}" name="{id}" rows="4"{req}>{v}</textarea>"#,
            v = esc(value),
            req = if spec.required { " required" } else { "" }
        ),
        t => format!(
            r#"<input id="{id}" name="{id}" type="{ty}"{step} value="{v}" placeholder="{ph}"{req}>"#,
            ty = if matches!(t, "integer" | "number") {
                "number"
            } else {
                "text"
            },
            step = if t == "number" { r#" step="any""# } else { "" },
            v = esc(value),
            ph = esc(spec.default.as_deref().unwrap_or_default()),
            req = if spec.required && spec.default.is_none() {
                " required"
            } else {
                ""
            }
        ),
    }
}

fn render_run_form(st: &AppState, auth: &Auth, form: &RunForm<'_>) -> String {
    let s = form.session;
    let mut body = String::new();
    if !s.help.is_empty() {
        let _ = write!(
            body,
            r#"<p class="help" id="session-help">{}</p>"#,
            esc(&s.help)
        );
    }
    if let Some(e) = form.check.and_then(|c| c.form_error.as_deref()) {
        let _ = write!(body, r#"<p class="error" id="form-error">{}</p>"#, esc(e));
    }
    let _ = write!(
        body,
        r#"<form id="run-form" method="post" action="{action}">{csrf}{session}{confirmed}{carry}"#,
        action = esc(&st.url(&format!("/models/{}/run", segment(form.model.name)))),
        csrf = csrf_field(auth),
        session = hidden("session", s.name),
        confirmed = hidden("confirmed", "1"),
        carry = form.carry,
    );
    if !s.params.is_empty() {
        body.push_str(r#"<fieldset id="params"><legend>Parameters</legend>"#);
        for spec in &s.params {
            let value = if spec.secret {
                String::new()
            } else {
                form.values
                    .get(&format!("p_{}", spec.name))
                    .map_or_else(|| spec.default.clone().unwrap_or_default(), str::to_owned)
            };
            let error = form
                .check
                .and_then(|c| c.errors.get(spec.name))
                .map(|e| {
                    format!(
                        r#"<span class="error field-error" id="error-{}">{}</span>"#,
                        esc(spec.name),
                        esc(e)
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                body,
                r#"<div class="field{invalid}" data-param="{name}"><label for="p_{name}">{name}{star}</label> {input} <span class="type">{ty}</span> {error}<div class="help">{help}</div></div>"#,
                invalid = if error.is_empty() { "" } else { " invalid" },
                name = esc(spec.name),
                star = if spec.required && spec.default.is_none() {
                    " *"
                } else {
                    ""
                },
                input = param_input(spec, &value),
                ty = esc(spec.type_name),
                help = esc(&spec.help),
            );
        }
        body.push_str("</fieldset>");
    }
    match &form.confirm {
        Some(objects) => {
            let _ = write!(
                body,
                r#"<fieldset id="confirm-objects"><legend>Run on these {} objects (untick to leave one out)</legend><ul class="objects">"#,
                objects.len()
            );
            for (id, label, checked) in objects {
                let _ = write!(
                    body,
                    r#"<li><label><input type="checkbox" class="confirm-object" name="ids" value="{id}"{c}> {l}</label>{shown}</li>"#,
                    c = if *checked { " checked" } else { "" },
                    l = esc(label),
                    shown = hidden("shown", &id.to_string()),
                );
            }
            body.push_str("</ul></fieldset>");
        }
        None => {
            let _ = write!(
                body,
                r#"<p id="selection-count">{} {} selected.</p>"#,
                form.count,
                if form.count == 1 { "object" } else { "objects" }
            );
        }
    }
    let _ = write!(
        body,
        r#"<p><button type="submit" id="confirm-run">Run</button> <a id="cancel-run" href="{}">Cancel</a></p></form>"#,
        esc(&st.url(&format!("/models/{}", segment(form.model.name))))
    );
    html::page(
        st,
        Some(auth),
        &format!("Run “{}” on {}", s.verbose_name, form.model.verbose_name),
        &body,
    )
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
        String::new()
    } else {
        carry_selection(&f, &ids, all_matching)
    };
    // Values the form was sent with (a rerun's), else the sessions' defaults.
    let body = render_run_form(
        &st,
        &auth,
        &RunForm {
            model: &meta,
            session: &smeta,
            carry,
            confirm,
            count,
            values: &f,
            check: None,
        },
    );
    Ok(html::respond(StatusCode::OK, body))
}

fn carry_selection(f: &Pairs, ids: &[i64], all_matching: bool) -> String {
    let mut out = String::new();
    if all_matching {
        out.push_str(&hidden("all_matching", "1"));
        for (k, v) in selection_pairs(f) {
            out.push_str(&hidden(&k, &v));
        }
    } else {
        for id in ids {
            out.push_str(&hidden("ids", &id.to_string()));
        }
    }
    out
}

/// How many objects a query selects and, for confirmation, their labels.
async fn objects_for(
    st: &AppState,
    entry: &ModelEntry,
    query: &Query,
    confirm: bool,
    checked: Option<&BTreeSet<i64>>,
) -> Result<(i64, Option<Vec<(i64, String, bool)>>)> {
    let entry = entry.clone();
    let query = query.clone();
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
                            (o.id(), o.label(), on)
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
        (n, c, String::new())
    } else {
        let query = if all_matching {
            selection(st, &entry.meta, f).await?
        } else {
            Query::ids(ids.to_vec())
        };
        let (n, _) = objects_for(st, entry, &query, false, None).await?;
        (n, None, carry_selection(f, ids, all_matching))
    };
    let body = render_run_form(
        st,
        auth,
        &RunForm {
            model: &entry.meta,
            session: smeta,
            carry,
            confirm,
            count,
            values: f,
            check: Some(check),
        },
    );
    Ok(html::respond(StatusCode::BAD_REQUEST, body))
}
