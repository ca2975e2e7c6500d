//! One object of an app's model: its page, and adding, changing and deleting it
//! through forms derived from the model's fields (`FieldMeta`), with the host or
//! parent picked by an autocomplete that searches and pages in the database.

mod choices;
mod delete;
mod form;

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minke_core::{FieldMeta, ModelMeta, ModelObject, References, Value};
use minke_runtime::ModelAction;
use minke_store::SessionRecord;

pub(crate) use choices::choices;
pub(crate) use delete::{delete, delete_form};
pub(crate) use form::{add, add_form, change, change_form};

use crate::auth::Auth;
use crate::forms::{encode, segment};
use crate::layout::{Layout, render};
use crate::pages::changelist::{cell, model_entry};
use crate::readable::time;
use crate::state::AppState;
use crate::{Error, Result};

/// Sessions an object's page lists.
const SESSIONS_SHOWN: i64 = 50;

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
pub(super) fn field_label(f: &FieldMeta) -> String {
    f.name.replace('_', " ")
}

/// The model a field points at, by name.
pub(super) fn referenced(st: &AppState, r: References) -> &'static str {
    match r {
        References::Host => st.engine().host_model(),
        References::Model(m) => m,
    }
}

/// Where an object is changed: hosts have their own form.
pub(super) fn change_url(st: &AppState, meta: &ModelMeta, id: i64) -> String {
    if meta.name == st.engine().host_model() && !meta.writable {
        st.url(&format!("/hosts/{id}/edit"))
    } else {
        st.url(&format!("/models/{}/{id}/change", segment(meta.name)))
    }
}

/// Where a model's objects are listed.
pub(super) fn list_url(st: &AppState, meta: &ModelMeta) -> String {
    if meta.name == st.engine().host_model() {
        st.url("/hosts")
    } else {
        st.url(&format!("/models/{}", segment(meta.name)))
    }
}

pub(super) fn object_url(st: &AppState, model: &str, id: i64) -> String {
    st.url(&format!("/models/{}/{id}", segment(model)))
}

/// The labels of the objects fields point at, by field.
pub(super) async fn relation_labels(
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
            .blocking(move |c| Ok(entry.find(c, id)?.map(|o| o.label())))
            .await?;
        out.insert(
            f.name,
            label.unwrap_or_else(|| format!("no object with id {id}")),
        );
    }
    Ok(out)
}

/// The stored values of an object as a form shows them.
pub(super) fn stored_values(
    meta: &ModelMeta,
    o: &dyn ModelObject,
) -> BTreeMap<&'static str, String> {
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
            let o = entry.find(c, id)?;
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
