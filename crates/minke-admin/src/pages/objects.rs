//! One object of an app's model: its page, and adding, changing and deleting it
//! through forms derived from the model's fields (`FieldMeta`): inputs by type,
//! choices as selects, read-only fields shown, the host or parent picked with an
//! autocomplete that searches and pages in the database. Values are checked by the
//! store; errors stand next to their fields with what was typed kept.

use std::collections::BTreeMap;

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::{FieldMeta, ModelMeta, ModelObject, References, Value};
use minke_runtime::{Deletion, ModelAction, ModelEntry};
use minke_store::{FieldProblem, FieldValues, Query, SessionRecord};
use serde::Serialize;

use crate::auth::Auth;
use crate::forms::{Form, Pairs, QueryPairs, encode, segment};
use crate::html::time;
use crate::layout::{Layout, render};
use crate::pages::changelist::{cell, model_entry};
use crate::state::AppState;
use crate::{Error, Result};

/// Objects an autocomplete offers at a time.
const CHOICES_PAGE: i64 = 20;
/// Sessions an object's page lists.
const SESSIONS_SHOWN: i64 = 50;

/// The input of a relation: the model pointed at and the object chosen.
pub(crate) struct RelationInput {
    /// The model pointed at.
    model: String,
    /// Where its choices come from.
    url: String,
    /// The chosen object's label (empty when none or unknown).
    label: String,
}

/// One field of a form, as the template shows it.
pub(crate) struct FormField {
    name: &'static str,
    label: String,
    /// `text`, `number`, `checkbox`, `select`, `relation` or `password`.
    input: &'static str,
    value: String,
    checked: bool,
    required: bool,
    /// `1` for integers, `any` for numbers.
    step: &'static str,
    help: &'static str,
    error: Option<String>,
    /// The choices of a select: value and whether it is chosen.
    options: Vec<(String, bool)>,
    relation: Option<RelationInput>,
}

#[derive(Template)]
#[template(path = "object_form.html")]
struct ObjectFormPage {
    layout: Layout,
    csrf: String,
    action: String,
    back: String,
    /// The problem of the object as a whole (a field the database named no field
    /// for).
    problem: Option<String>,
    fields: Vec<FormField>,
    /// Fields shown but not written: name and value.
    read_only: Vec<(String, String)>,
    submit: String,
    delete: Option<String>,
}

#[derive(Template)]
#[template(path = "object_delete.html")]
struct DeletePage {
    layout: Layout,
    csrf: String,
    action: String,
    back: String,
    object: String,
    deletion: Deletion,
    base: String,
}

/// A session as an object's page lists it.
struct SessionRow {
    id: i64,
    session: String,
    run_id: i64,
    state: String,
    status: String,
    at: String,
}

#[derive(Template)]
#[template(path = "object.html")]
struct ObjectPage {
    layout: Layout,
    list_url: String,
    list_name: String,
    log_url: String,
    change_url: Option<String>,
    delete_url: Option<String>,
    fields: Vec<ShownField>,
    sessions: Vec<SessionRow>,
}

/// A field on an object's page: a relation links to the object it points at.
struct ShownField {
    name: String,
    value: String,
    link: Option<String>,
}

/// A field's name for people: `host_id` reads `host id`.
fn field_label(f: &FieldMeta) -> String {
    f.name.replace('_', " ")
}

/// The model a field points at, by name.
fn referenced(st: &AppState, r: References) -> &'static str {
    match r {
        References::Host => st.engine().host_model(),
        References::Model(m) => m,
    }
}

/// Where an object is changed: hosts have their own form.
fn change_url(st: &AppState, meta: &ModelMeta, id: i64) -> String {
    if meta.name == st.engine().host_model() && !meta.writable {
        st.url(&format!("/hosts/{id}/edit"))
    } else {
        st.url(&format!("/models/{}/{id}/change", segment(meta.name)))
    }
}

/// Where a model's objects are listed.
fn list_url(st: &AppState, meta: &ModelMeta) -> String {
    if meta.name == st.engine().host_model() {
        st.url("/hosts")
    } else {
        st.url(&format!("/models/{}", segment(meta.name)))
    }
}

fn object_url(st: &AppState, model: &str, id: i64) -> String {
    st.url(&format!("/models/{}/{id}", segment(model)))
}

/// The labels of the objects fields point at, by field.
async fn relation_labels(
    st: &AppState,
    meta: &ModelMeta,
    values: &BTreeMap<&'static str, String>,
) -> Result<BTreeMap<&'static str, String>> {
    let mut out = BTreeMap::new();
    for f in &meta.fields {
        let (Some(r), Some(id)) = (
            f.references,
            values
                .get(f.name)
                .and_then(|v| v.trim().parse::<i64>().ok()),
        ) else {
            continue;
        };
        let entry = model_entry(st, referenced(st, r))?;
        let label = st
            .store()
            .blocking(move |c| Ok(entry.load(c, &Query::ids([id]))?.pop().map(|o| o.label())))
            .await?;
        out.insert(
            f.name,
            label.unwrap_or_else(|| format!("no object with id {id}")),
        );
    }
    Ok(out)
}

/// The form's fields: values as typed (or stored), errors beside them.
fn form_fields(
    st: &AppState,
    meta: &ModelMeta,
    values: &BTreeMap<&'static str, String>,
    labels: &BTreeMap<&'static str, String>,
    errors: &BTreeMap<String, String>,
) -> Vec<FormField> {
    meta.editable()
        .map(|f| {
            let value = values.get(f.name).cloned().unwrap_or_default();
            let input = match (f.type_name, f.references) {
                (_, Some(_)) => "relation",
                ("boolean", _) => "checkbox",
                ("integer" | "number", _) => "number",
                ("secret", _) => "password",
                _ if !f.choices.is_empty() => "select",
                _ => "text",
            };
            let mut options: Vec<(String, bool)> = f
                .choices
                .iter()
                .map(|c| ((*c).to_owned(), *c == value))
                .collect();
            if f.optional && !options.is_empty() {
                options.insert(0, (String::new(), value.is_empty()));
            }
            FormField {
                name: f.name,
                label: field_label(f),
                input,
                checked: matches!(value.as_str(), "true" | "on" | "1"),
                required: !f.optional && f.type_name != "boolean",
                step: if f.type_name == "integer" { "1" } else { "any" },
                help: f.help,
                error: errors.get(f.name).cloned(),
                options,
                relation: f.references.map(|r| {
                    let model = referenced(st, r);
                    RelationInput {
                        model: model.to_owned(),
                        url: st.url(&format!("/models/{}/choices", segment(model))),
                        label: labels.get(f.name).cloned().unwrap_or_default(),
                    }
                }),
                // A secret is never sent back to the browser.
                value: if input == "password" {
                    String::new()
                } else {
                    value
                },
            }
        })
        .collect()
}

/// The stored values of an object as a form shows them.
fn stored_values(meta: &ModelMeta, o: &dyn ModelObject) -> BTreeMap<&'static str, String> {
    meta.fields
        .iter()
        .map(|f| {
            let v = match o.field(f.name) {
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            (f.name, v)
        })
        .collect()
}

/// Reads a submitted form: the values to write, the text typed (to show again) and
/// the problems found before the store looks.
struct Submitted {
    values: FieldValues,
    typed: BTreeMap<&'static str, String>,
    errors: BTreeMap<String, String>,
}

fn read_form(meta: &ModelMeta, p: &Pairs, adding: bool) -> Result<Submitted> {
    let mut known: Vec<&str> = meta.editable().map(|f| f.name).collect();
    known.push("csrf");
    p.only(&known, &[])?;
    let mut out = Submitted {
        values: FieldValues::new(),
        typed: BTreeMap::new(),
        errors: BTreeMap::new(),
    };
    for f in meta.editable() {
        let text = p.get(f.name).unwrap_or_default();
        out.typed.insert(f.name, text.to_owned());
        // A secret left empty when changing keeps what is stored.
        if f.type_name == "secret" && !adding && text.is_empty() {
            continue;
        }
        match minke_store::value_from_text(f, text) {
            Ok(v) => {
                out.values.insert(f.name.to_owned(), v);
            }
            Err(e) => {
                out.errors.insert(f.name.to_owned(), e);
            }
        }
    }
    Ok(out)
}

/// Splits the store's problems into field errors and one for the whole object.
fn place_problems(
    problems: Vec<FieldProblem>,
    errors: &mut BTreeMap<String, String>,
) -> Option<String> {
    let mut general = Vec::new();
    for p in problems {
        if p.field.is_empty() || errors.contains_key(&p.field) {
            general.push(p.to_string());
        } else {
            errors.insert(p.field, p.problem);
        }
    }
    (!general.is_empty()).then(|| general.join("; "))
}

/// Which object a form writes: a new one, or one that exists.
enum Editing {
    New,
    Existing {
        id: i64,
        object: Box<dyn ModelObject>,
    },
}

impl Editing {
    /// The object `id` of `entry`, loaded.
    async fn existing(st: &AppState, entry: &ModelEntry, id: i64) -> Result<Editing> {
        let e = entry.clone();
        let object = st
            .store()
            .blocking(move |c| Ok(e.load(c, &Query::ids([id]))?.pop()))
            .await?
            .ok_or_else(|| Error::NotFound(format!("{} {id} does not exist", entry.meta.name)))?;
        Ok(Editing::Existing { id, object })
    }

    fn action(&self) -> ModelAction {
        match self {
            Editing::New => ModelAction::Add,
            Editing::Existing { .. } => ModelAction::Change,
        }
    }

    fn title(&self, meta: &ModelMeta) -> String {
        match self {
            Editing::New => format!("Add a {}", meta.verbose_name),
            Editing::Existing { object, .. } => {
                format!("Change {} {}", meta.verbose_name, object.label())
            }
        }
    }

    fn url(&self, st: &AppState, meta: &ModelMeta) -> String {
        match self {
            Editing::New => st.url(&format!("/models/{}/add", segment(meta.name))),
            Editing::Existing { id, .. } => {
                st.url(&format!("/models/{}/{id}/change", segment(meta.name)))
            }
        }
    }

    /// The fields shown without inputs: the id and read-only ones.
    fn read_only(&self, meta: &ModelMeta) -> Vec<(String, String)> {
        let Editing::Existing { object, .. } = self else {
            return Vec::new();
        };
        meta.fields
            .iter()
            .filter(|f| f.name == meta.id || f.read_only)
            .map(|f| (f.name.to_owned(), cell(meta, object.as_ref(), f.name)))
            .collect()
    }

    fn delete_link(&self, st: &AppState, auth: &Auth, meta: &ModelMeta) -> Option<String> {
        match self {
            Editing::Existing { id, .. } if auth.may(ModelAction::Delete, meta.name) => {
                Some(st.url(&format!("/models/{}/{id}/delete", segment(meta.name))))
            }
            _ => None,
        }
    }

    /// The values a form shows before anything was typed.
    fn stored(&self, meta: &ModelMeta) -> BTreeMap<&'static str, String> {
        match self {
            Editing::New => BTreeMap::new(),
            Editing::Existing { object, .. } => stored_values(meta, object.as_ref()),
        }
    }
}

/// What a form shows in its fields: values, their errors, a problem of the whole
/// object.
struct Entered<'a> {
    values: &'a BTreeMap<&'static str, String>,
    errors: &'a BTreeMap<String, String>,
    problem: Option<String>,
}

/// Shows the form of `editing` with what was entered.
async fn form_page(
    st: &AppState,
    auth: &Auth,
    meta: &ModelMeta,
    editing: &Editing,
    status: StatusCode,
    entered: Entered<'_>,
) -> Result<Response> {
    let Entered {
        values,
        errors,
        problem,
    } = entered;
    let labels = relation_labels(st, meta, values).await?;
    let page = ObjectFormPage {
        layout: Layout::new(st, Some(auth), editing.title(meta)),
        csrf: auth.csrf.clone().unwrap_or_default(),
        action: editing.url(st, meta),
        back: list_url(st, meta),
        problem,
        fields: form_fields(st, meta, values, &labels, errors),
        read_only: editing.read_only(meta),
        submit: "Save".to_owned(),
        delete: editing.delete_link(st, auth, meta),
    };
    render(status, &page)
}

/// Writes a submitted form through the engine: to the object's page when saved,
/// else the form again with every problem.
async fn submit(
    st: &AppState,
    auth: &Auth,
    meta: &ModelMeta,
    editing: Editing,
    p: &Pairs,
) -> Result<Response> {
    let mut form = read_form(meta, p, matches!(editing, Editing::New))?;
    let mut problem = None;
    if form.errors.is_empty() {
        let engine = st.engine();
        let saved = match &editing {
            Editing::New => {
                engine
                    .add_object(meta.name, form.values, &auth.actor())
                    .await
            }
            Editing::Existing { id, .. } => engine
                .change_object(meta.name, *id, form.values, &auth.actor())
                .await
                .map(|()| *id),
        };
        match saved {
            Ok(id) => {
                tracing::info!(model = %meta.name, id, user = %auth.user.username, action = editing.action().name(), "object saved");
                return Ok(Redirect::to(&object_url(st, meta.name, id)).into_response());
            }
            Err(minke_runtime::Error::Store(minke_store::Error::Invalid { problems, .. })) => {
                problem = place_problems(problems, &mut form.errors);
            }
            Err(e) => return Err(e.into()),
        }
    }
    form_page(
        st,
        auth,
        meta,
        &editing,
        StatusCode::BAD_REQUEST,
        Entered {
            values: &form.typed,
            errors: &form.errors,
            problem,
        },
    )
    .await
}

/// The entry of a model whose objects the admin writes, once the user may do
/// `action` on it.
fn writable_entry(
    st: &AppState,
    auth: &Auth,
    model: &str,
    action: ModelAction,
) -> Result<ModelEntry> {
    let entry = model_entry(st, model)?;
    if !entry.meta.writable {
        return Err(minke_store::Error::NotWritable {
            model: model.to_owned(),
        }
        .into());
    }
    auth.need_to(action, model)?;
    Ok(entry)
}

/// `GET /models/{model}/add`.
pub(crate) async fn add_form(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
) -> Result<Response> {
    let entry = writable_entry(&st, &auth, &model, ModelAction::Add)?;
    let editing = Editing::New;
    let values = editing.stored(&entry.meta);
    form_page(
        &st,
        &auth,
        &entry.meta,
        &editing,
        StatusCode::OK,
        Entered {
            values: &values,
            errors: &BTreeMap::new(),
            problem: None,
        },
    )
    .await
}

/// `POST /models/{model}/add`.
pub(crate) async fn add(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    Form(p): Form,
) -> Result<Response> {
    let entry = writable_entry(&st, &auth, &model, ModelAction::Add)?;
    submit(&st, &auth, &entry.meta, Editing::New, &p).await
}

/// `GET /models/{model}/{id}/change`.
pub(crate) async fn change_form(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
) -> Result<Response> {
    let entry = writable_entry(&st, &auth, &model, ModelAction::Change)?;
    let editing = Editing::existing(&st, &entry, id).await?;
    let values = editing.stored(&entry.meta);
    form_page(
        &st,
        &auth,
        &entry.meta,
        &editing,
        StatusCode::OK,
        Entered {
            values: &values,
            errors: &BTreeMap::new(),
            problem: None,
        },
    )
    .await
}

/// `POST /models/{model}/{id}/change`.
pub(crate) async fn change(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
    Form(p): Form,
) -> Result<Response> {
    let entry = writable_entry(&st, &auth, &model, ModelAction::Change)?;
    let editing = Editing::existing(&st, &entry, id).await?;
    submit(&st, &auth, &entry.meta, editing, &p).await
}

fn delete_page(
    st: &AppState,
    auth: &Auth,
    meta: &ModelMeta,
    status: StatusCode,
    deletion: Deletion,
) -> Result<Response> {
    let id = deletion.id;
    let page = DeletePage {
        layout: Layout::new(
            st,
            Some(auth),
            format!("Delete {} {}", meta.verbose_name, deletion.label),
        ),
        csrf: auth.csrf.clone().unwrap_or_default(),
        action: st.url(&format!("/models/{}/{id}/delete", segment(meta.name))),
        back: object_url(st, meta.name, id),
        object: format!("{} {}", meta.verbose_name, deletion.label),
        base: st.url("/models"),
        deletion,
    };
    render(status, &page)
}

/// `GET /models/{model}/{id}/delete`: what goes with the object, or what keeps it.
pub(crate) async fn delete_form(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
) -> Result<Response> {
    let entry = model_entry(&st, &model)?;
    auth.need_to(ModelAction::Delete, &model)?;
    let deletion = st.engine().deletion(&model, id).await?;
    delete_page(&st, &auth, &entry.meta, StatusCode::OK, deletion)
}

/// `POST /models/{model}/{id}/delete`.
pub(crate) async fn delete(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
) -> Result<Response> {
    let entry = model_entry(&st, &model)?;
    auth.need_to(ModelAction::Delete, &model)?;
    match st.engine().delete_object(&model, id, &auth.actor()).await {
        Ok(d) => {
            tracing::info!(model = %model, id, label = %d.label, user = %auth.user.username, "object deleted");
            Ok(Redirect::to(&list_url(&st, &entry.meta)).into_response())
        }
        Err(minke_runtime::Error::Protected(d)) => {
            delete_page(&st, &auth, &entry.meta, StatusCode::CONFLICT, *d)
        }
        Err(e) => Err(e.into()),
    }
}

/// One object an autocomplete offers.
#[derive(Serialize)]
pub(crate) struct Choice {
    id: i64,
    label: String,
}

/// What `GET /models/{model}/choices` answers.
#[derive(Serialize)]
pub(crate) struct Choices {
    results: Vec<Choice>,
    /// True when a next page has more.
    more: bool,
}

/// `GET /models/{model}/choices?q=TEXT&page=N`: objects to pick for a relation, by
/// label, searched and paged by the database (a million hosts do not fit a
/// `<select>`). A number finds the object of that id too.
pub(crate) async fn choices(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Result<Json<Choices>> {
    let entry = model_entry(&st, &model)?;
    auth.need_view(&model)?;
    p.only(&["q", "page"], &[])?;
    let page = p.number::<i64>("page")?.unwrap_or(1).max(1);
    let text = p.text("q").map(str::to_owned);
    let label = entry.meta.label;
    let (results, more) = st
        .store()
        .blocking(move |c| {
            let mut found: Vec<Box<dyn ModelObject>> = Vec::new();
            if let Some(id) = text.as_deref().and_then(|t| t.trim().parse::<i64>().ok())
                && page == 1
            {
                found.extend(entry.load(c, &Query::ids([id]))?);
            }
            let mut q = match &text {
                Some(t) if !entry.meta.search.is_empty() => Query::search(t.clone()),
                _ => Query::all(),
            };
            q.order = Some(minke_store::Order::parse(label));
            q.limit = Some(CHOICES_PAGE + 1);
            q.offset = Some((page - 1) * CHOICES_PAGE);
            let mut listed = entry.load(c, &q)?;
            let more = listed.len() as i64 > CHOICES_PAGE;
            listed.truncate(CHOICES_PAGE as usize);
            let seen: Vec<i64> = found.iter().map(|o| o.id()).collect();
            found.extend(listed.into_iter().filter(|o| !seen.contains(&o.id())));
            Ok((
                found
                    .into_iter()
                    .map(|o| Choice {
                        id: o.id(),
                        label: o.label(),
                    })
                    .collect(),
                more,
            ))
        })
        .await?;
    Ok(Json(Choices { results, more }))
}

/// `GET /models/{model}/{id}`: an object's fields and its sessions.
pub(crate) async fn object(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
) -> Result<Response> {
    let entry = model_entry(&st, &model)?;
    auth.need_view(&model)?;
    let meta = entry.meta.clone();
    let name = model.clone();
    let (object, sessions): (Option<Box<dyn ModelObject>>, Vec<SessionRecord>) = st
        .store()
        .blocking(move |c| {
            let o = entry.load(c, &Query::ids([id]))?.pop();
            let s = minke_store::object_sessions(c, &name, id, SESSIONS_SHOWN)?;
            Ok((o, s))
        })
        .await?;
    let object = object.ok_or_else(|| Error::NotFound(format!("{model} {id} does not exist")))?;
    let is_host = meta.name == st.engine().host_model();
    let values = stored_values(&meta, object.as_ref());
    let labels = relation_labels(&st, &meta, &values).await?;
    let fields = meta
        .fields
        .iter()
        .map(|f| {
            let value = cell(&meta, object.as_ref(), f.name);
            match (f.references, labels.get(f.name)) {
                (Some(r), Some(label)) => ShownField {
                    name: f.name.to_owned(),
                    link: Some(object_url(
                        &st,
                        referenced(&st, r),
                        values[&f.name].parse().unwrap_or(0),
                    )),
                    value: format!("{label} ({value})"),
                },
                _ => ShownField {
                    name: f.name.to_owned(),
                    value,
                    link: None,
                },
            }
        })
        .collect();
    let page = ObjectPage {
        layout: Layout::new(
            &st,
            Some(&auth),
            format!("{} {}", meta.verbose_name, object.label()),
        ),
        list_url: list_url(&st, &meta),
        list_name: meta.verbose_name_plural.clone(),
        log_url: st.url(&format!(
            "/sessions?{}",
            encode([
                ("model", model.as_str()),
                ("object", id.to_string().as_str())
            ])
        )),
        change_url: ((meta.writable || is_host) && auth.may(ModelAction::Change, &model))
            .then(|| change_url(&st, &meta, id)),
        delete_url: ((meta.writable || is_host) && auth.may(ModelAction::Delete, &model))
            .then(|| st.url(&format!("/models/{}/{id}/delete", segment(&model)))),
        fields,
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                id: s.id.get(),
                session: s.session,
                run_id: s.run_id.get(),
                state: s.state.as_str().to_owned(),
                status: s.status.map(|s| s.as_str()).unwrap_or_default().to_owned(),
                at: time(s.created_at),
            })
            .collect(),
    };
    render(StatusCode::OK, &page)
}
