//! Deleting an object: a confirmation that says what goes with it, or what keeps it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::ModelMeta;
use minke_runtime::{Deletion, ModelAction};

use super::{list_url, object_url};
use crate::Result;
use crate::auth::Auth;
use crate::forms::segment;
use crate::layout::{Layout, render};
use crate::pages::changelist::model_entry_to;
use crate::state::AppState;

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
    let entry = model_entry_to(&st, &auth, &model, ModelAction::Delete)?;
    let deletion = st.engine().deletion(&model, id).await?;
    delete_page(&st, &auth, &entry.meta, StatusCode::OK, deletion)
}

/// `POST /models/{model}/{id}/delete`.
pub(crate) async fn delete(
    State(st): State<AppState>,
    auth: Auth,
    Path((model, id)): Path<(String, i64)>,
) -> Result<Response> {
    let entry = model_entry_to(&st, &auth, &model, ModelAction::Delete)?;
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
