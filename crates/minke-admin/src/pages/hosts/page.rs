//! The host form's page: adding or changing a host, shown blank, stored, or again
//! with its problems and everything typed.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minke_core::HostId;
use minke_runtime::ModelAction;
use minke_store::{HostGroupRecord, HostRecord, StoredModel as _};

use super::fields::{HostField, Input, host_fields};
use super::form::HostForm;
use super::jump::{choices_url, jump_names};
use super::{HOST, Pick};
use crate::Result;
use crate::auth::Auth;
use crate::layout::{Layout, render};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "host_form.html")]
struct HostFormPage {
    layout: Layout,
    csrf: String,
    action: String,
    /// What the store refused about the host as a whole.
    error: Option<String>,
    fields: Vec<HostField>,
    disabled: bool,
    /// Every group, ticked when the host is in it.
    groups: Vec<Pick>,
}

/// `GET /hosts/add`.
pub(crate) async fn add_form(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    auth.need_to(ModelAction::Add, HOST)?;
    let page = host_form_page(&st, &auth, None, &HostForm::blank(), None).await?;
    render(StatusCode::OK, &page)
}

/// `GET /hosts/{id}/edit`: the stored host, its jump host by name.
pub(crate) async fn edit_form(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<HostId>,
) -> Result<Response> {
    auth.need_to(ModelAction::Change, HOST)?;
    let form = st
        .store()
        .blocking(move |c| {
            let h = HostRecord::load_one(c, id.get())?;
            let mut names = jump_names(c, std::slice::from_ref(&h))?;
            let jump = h.jump_host_id.and_then(|j| names.remove(&j));
            let member = minke_store::groups_of_hosts(c, &[id])?;
            Ok(HostForm::stored(
                h,
                jump.unwrap_or_default(),
                member.into_iter().map(|(_, g)| g),
            ))
        })
        .await?;
    let page = host_form_page(&st, &auth, Some(id), &form, None).await?;
    render(StatusCode::OK, &page)
}

/// The host form again, refused (400) with its problems and what was typed.
pub(super) async fn host_form_again(
    st: &AppState,
    auth: &Auth,
    id: Option<HostId>,
    form: &HostForm,
    error: Option<String>,
) -> Result<Response> {
    let page = host_form_page(st, auth, id, form, error).await?;
    render(StatusCode::BAD_REQUEST, &page)
}

/// The form adding a host (`id` none) or changing one, with every group to tick.
async fn host_form_page(
    st: &AppState,
    auth: &Auth,
    id: Option<HostId>,
    form: &HostForm,
    error: Option<String>,
) -> Result<HostFormPage> {
    let groups: Vec<HostGroupRecord> = st.store().blocking(minke_store::list_groups).await?;
    let (title, action) = match id {
        None => ("Add a host", st.url("/hosts/add")),
        Some(i) => ("Edit host", st.url(&format!("/hosts/{i}/edit"))),
    };
    Ok(HostFormPage {
        layout: Layout::new(st, Some(auth), title),
        csrf: auth.csrf.clone().unwrap_or_default(),
        action,
        error,
        fields: host_fields(form, choices_url(st), auth.user.is_superuser),
        disabled: form.host.disabled,
        groups: groups
            .into_iter()
            .map(|g| Pick {
                checked: form.groups.contains(&g.id),
                id: g.id,
                name: g.name,
            })
            .collect(),
    })
}
