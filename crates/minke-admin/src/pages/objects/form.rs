//! Adding and changing objects: the form from the model's fields (inputs by type,
//! choices as menus, read-only fields shown, the relation's search box), the values
//! checked by the store with each problem beside its field and what was typed kept.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::{ModelMeta, ModelObject};
use minke_runtime::{ModelAction, ModelEntry};
use minke_store::{FieldProblem, FieldValues};

use super::{field_label, list_url, object_url, referenced, relation_labels, stored_values};
use crate::auth::Auth;
use crate::forms::{Form, Pairs, segment};
use crate::layout::{Layout, render};
use crate::pages::changelist::{cell, model_entry};
use crate::state::AppState;
use crate::{Error, Result};

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
            .blocking(move |c| e.find(c, id))
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

/// The form as first shown: what is stored (nothing for a new object), no errors.
async fn first_form(
    st: &AppState,
    auth: &Auth,
    meta: &ModelMeta,
    editing: &Editing,
) -> Result<Response> {
    let values = editing.stored(meta);
    form_page(
        st,
        auth,
        meta,
        editing,
        StatusCode::OK,
        Entered {
            values: &values,
            errors: &BTreeMap::new(),
            problem: None,
        },
    )
    .await
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
    first_form(&st, &auth, &entry.meta, &Editing::New).await
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
    first_form(&st, &auth, &entry.meta, &editing).await
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
