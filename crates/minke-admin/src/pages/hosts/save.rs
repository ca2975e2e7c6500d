//! Saving the host form: what only superusers set kept for others, the jump host
//! resolved, file paths checked, then the host, its groups and the audit entry
//! written in one transaction.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::{AuditAction, HostId, Lines};
use minke_runtime::ModelAction;
use minke_store::{Actor, Conn, HostRecord, NewHost, StoredModel as _};

use super::form::{HostForm, read_host};
use super::jump::{check_jump, resolve_jump};
use super::page::host_form_again;
use super::{HOST, sentence};
use crate::auth::Auth;
use crate::forms::{Form, Pairs, encode};
use crate::state::AppState;
use crate::{Error, Result};

/// `POST /hosts/add`: adds a host (validated).
pub(crate) async fn add(State(st): State<AppState>, auth: Auth, Form(f): Form) -> Result<Response> {
    auth.need_to(ModelAction::Add, HOST)?;
    save_host(&st, &auth, None, &f).await
}

/// `POST /hosts/{id}/edit`: changes a host (validated).
pub(crate) async fn edit(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<HostId>,
    Form(f): Form,
) -> Result<Response> {
    auth.need_to(ModelAction::Change, HOST)?;
    save_host(&st, &auth, Some(id), &f).await
}

/// Saves the host form: the hosts page searched for the host, or the form again with
/// its problems and what was typed.
async fn save_host(st: &AppState, auth: &Auth, id: Option<HostId>, f: &Pairs) -> Result<Response> {
    let mut form = read_host(f, auth.user.is_superuser)?;
    if !auth.user.is_superuser
        && let Some(i) = id
    {
        keep_superuser_options(st, i, &mut form.host).await?;
    }
    resolve_jump(st, id, &mut form).await?;
    check_paths(st, id, &mut form).await?;
    if !form.errors.is_empty() {
        let above = form.errors.remove("form");
        return host_form_again(st, auth, id, &form, above).await;
    }
    let host = form.host.clone();
    let wanted: Vec<i64> = form.groups.iter().copied().collect();
    let actor = auth.actor();
    let saved = st
        .store()
        .write(move |c| store_host(c, &actor, id, &host, &wanted))
        .await;
    match saved {
        Ok(hid) => {
            tracing::info!(host = %form.host.name, id = %hid, user = %auth.user.username, "host saved");
            Ok(Redirect::to(&format!(
                "{}?{}",
                st.url("/hosts"),
                encode([("q", form.host.name.as_str())])
            ))
            .into_response())
        }
        Err(minke_store::Error::BadQuery(m)) => host_form_again(st, auth, id, &form, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

/// What only superusers set stays as stored for host `id`.
async fn keep_superuser_options(st: &AppState, id: HostId, host: &mut NewHost) -> Result<()> {
    let old = st
        .store()
        .blocking(move |c| HostRecord::load_one(c, id.get()))
        .await?;
    let o = &mut host.options;
    o.proxy_command = old.options.proxy_command;
    o.forward_agent = old.options.forward_agent;
    o.environment = old.options.environment;
    o.certificate_files = old.options.certificate_files;
    Ok(())
}

/// Checks the host's file paths against the directories the operator allows; a
/// path that stays as stored (set by the operator) is not checked again.
async fn check_paths(st: &AppState, id: Option<HostId>, form: &mut HostForm) -> Result<()> {
    let stored = match id {
        Some(i) => Some(
            st.store()
                .blocking(move |c| HostRecord::load_one(c, i.get()))
                .await?,
        ),
        None => None,
    };
    let owned = |l: &Lines| l.iter().map(str::to_owned).collect::<Vec<_>>();
    let old_files: Vec<String> = stored
        .as_ref()
        .map(|h| {
            let mut all = owned(&h.identity_files);
            all.extend(owned(&h.options.certificate_files));
            all.extend(h.known_hosts.clone());
            all
        })
        .unwrap_or_default();
    let mut fields: Vec<(&'static str, String)> = Vec::new();
    fields.extend(
        owned(&form.host.identity_files)
            .into_iter()
            .map(|f| ("identity_files", f)),
    );
    fields.extend(
        owned(&form.host.options.certificate_files)
            .into_iter()
            .map(|f| ("certificate_files", f)),
    );
    fields.extend(form.host.known_hosts.clone().map(|f| ("known_hosts", f)));
    let dirs = st.ssh_dirs().clone();
    let refused = tokio::task::spawn_blocking(move || {
        fields
            .into_iter()
            .filter(|(_, wanted)| !old_files.contains(wanted))
            .filter_map(|(name, wanted)| dirs.check(&wanted).err().map(|e| (name, sentence(&e))))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Internal(format!("checking host paths failed: {e}")))?;
    form.errors.extend(refused);
    Ok(())
}

/// Adds a host (`id` none) or changes one, sets its groups and writes the audit
/// entry: the host's id.
fn store_host(
    c: &mut Conn,
    actor: &Actor,
    id: Option<HostId>,
    host: &NewHost,
    wanted: &[i64],
) -> minke_store::Result<HostId> {
    check_jump(c, id, host)?;
    let (id, action, mut detail) = match id {
        None => (
            minke_store::insert_host(c, host)?,
            AuditAction::HostAdded,
            serde_json::to_string(host).unwrap_or_default(),
        ),
        Some(i) => {
            let old = HostRecord::load_one(c, i.get())?;
            minke_store::update_host(c, i, host)?;
            (i, AuditAction::HostChanged, host.changes_from(&old))
        }
    };
    let before = minke_store::groups_of_hosts(c, &[id])?;
    minke_store::set_host_groups(c, id, wanted)?;
    let before: Vec<i64> = before.into_iter().map(|(_, g)| g).collect();
    if before != wanted {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        detail.push_str(&format!("groups: {before:?} → {wanted:?}"));
    }
    minke_store::record_audit(
        c,
        actor,
        action,
        &format!("host {} ({id})", host.name),
        &detail,
    )?;
    Ok(id)
}
