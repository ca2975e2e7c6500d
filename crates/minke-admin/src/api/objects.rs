//! Objects of an app's model in the JSON API: read one, add, change, delete, and
//! what a deletion would take with it. The same checks and permissions as the
//! admin's forms (`add_<model>`, `change_<model>`, `delete_<model>`), the same
//! audit entries.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minke_core::Value;
use minke_runtime::ModelAction;
use minke_store::FieldValues;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::object_json;
use crate::auth::Auth;
use crate::forms::json_body;
use crate::pages::changelist::{model_entry, model_entry_to};
use crate::state::AppState;
use crate::{Error, Result};

/// The body of `POST` and `PATCH`: the fields to write, as `GET` shows them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    fields: serde_json::Map<String, Json_>,
}

/// JSON values as field values: scalars only.
fn field_values(body: Body) -> Result<FieldValues> {
    body.fields
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Json_::Null => Value::Null,
                Json_::Bool(b) => Value::Bool(b),
                Json_::String(s) => Value::Text(s),
                Json_::Number(n) => match n.as_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                Json_::Array(_) | Json_::Object(_) => {
                    return Err(Error::BadRequest(format!(
                        "field `{k}` takes a single value (text, number, boolean or null)"
                    )));
                }
            };
            Ok((k, v))
        })
        .collect()
}

async fn read(st: &AppState, model: &str, id: i64) -> Result<Json_> {
    let entry = model_entry(st, model)?;
    let name = model.to_owned();
    st.store()
        .blocking(move |c| {
            let Some(o) = entry.find(c, id)? else {
                return Ok(None);
            };
            let latest = minke_store::latest_sessions(c, &name, &[id])?.pop();
            Ok(Some(object_json(&entry.meta, o.as_ref(), latest.as_ref())))
        })
        .await?
        .ok_or_else(|| Error::NotFound(format!("{model} {id} does not exist")))
}

/// `GET /api/models/{model}/objects/{id}`.
pub(crate) async fn object(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
) -> Result<Json<Json_>> {
    auth.need_view(&model)?;
    Ok(Json(read(&st, &model, id).await?))
}

/// `POST /api/models/{model}/objects` with `{"fields": {...}}`: 201 and the object;
/// 400 with `problems` (field and problem each) when values are refused.
pub(crate) async fn add_object(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    body: Bytes,
) -> Result<Response> {
    model_entry_to(&st, &auth, &model, ModelAction::Add)?;
    let values = field_values(json_body(body).await?)?;
    let id = st
        .engine()
        .add_object(&model, values, &auth.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(read(&st, &model, id).await?)).into_response())
}

/// `PATCH /api/models/{model}/objects/{id}` with `{"fields": {...}}`: the fields given
/// are written, the others stay.
pub(crate) async fn change_object(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Json<Json_>> {
    model_entry_to(&st, &auth, &model, ModelAction::Change)?;
    let values = field_values(json_body(body).await?)?;
    st.engine()
        .change_object(&model, id, values, &auth.actor())
        .await?;
    Ok(Json(read(&st, &model, id).await?))
}

/// `GET /api/models/{model}/objects/{id}/deletion`: what deleting would take with
/// it (`with`) and what keeps it (`protected_by`), as the confirmation page shows.
pub(crate) async fn deletion(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
) -> Result<Json<Json_>> {
    model_entry_to(&st, &auth, &model, ModelAction::Delete)?;
    let d = st.engine().deletion(&model, id).await?;
    Ok(Json(json!({ "deletion": d })))
}

/// `DELETE /api/models/{model}/objects/{id}`: the object and what goes with it;
/// 409 with the `deletion` (its `protected_by`) while others point at it.
pub(crate) async fn delete_object(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
) -> Result<Json<Json_>> {
    model_entry_to(&st, &auth, &model, ModelAction::Delete)?;
    let d = st.engine().delete_object(&model, id, &auth.actor()).await?;
    Ok(Json(json!({ "deleted": d })))
}
