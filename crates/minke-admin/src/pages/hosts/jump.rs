//! The jump host of the host form: given by name (typed, or picked from the hosts the
//! relation's search finds a page at a time, so that a million hosts never fill a
//! menu), resolved to the host's id and checked: it exists, it is not the host
//! itself, and it does not lead back to the host.

use std::collections::{BTreeMap, BTreeSet};

use minke_core::HostId;
use minke_store::{Conn, HostRecord, NewHost, Query, StoredModel as _};

use super::form::{HostForm, JUMP};
use super::{HOST, sentence};
use crate::Result;
use crate::state::AppState;

/// Where the jump host's search asks for hosts: the relations' autocomplete.
pub(super) fn choices_url(st: &AppState) -> String {
    st.url(&format!("/models/{HOST}/choices"))
}

/// The names of the jump hosts of `hosts`, by id.
pub(super) fn jump_names(
    c: &mut Conn,
    hosts: &[HostRecord],
) -> minke_store::Result<BTreeMap<HostId, String>> {
    let jumps: BTreeSet<i64> = hosts
        .iter()
        .filter_map(|h| h.jump_host_id.map(HostId::get))
        .collect();
    if jumps.is_empty() {
        return Ok(BTreeMap::new());
    }
    Ok(HostRecord::load(c, &Query::ids(jumps))?
        .into_iter()
        .map(|h| (h.id, h.name))
        .collect())
}

/// Sets the form's jump host from the name typed: none when empty, else the host of
/// that name, checked as [`check_jump`] checks it when the host is stored. A host
/// that is unknown or refused is a problem beside the field, naming it.
pub(super) async fn resolve_jump(
    st: &AppState,
    id: Option<HostId>,
    form: &mut HostForm,
) -> Result<()> {
    form.host.jump_host_id = None;
    if form.jump.is_empty() {
        return Ok(());
    }
    let name = form.jump.clone();
    let mut host = form.host.clone();
    let found = st
        .store()
        .blocking(move |c| {
            let Some(j) = minke_store::host_named(c, &name)? else {
                return Ok(Err(format!("No host is named `{name}`.")));
            };
            host.jump_host_id = Some(j);
            match check_jump(c, id, &host) {
                Ok(()) => Ok(Ok(j)),
                Err(minke_store::Error::BadQuery(m)) => Ok(Err(sentence(&m))),
                Err(e) => Err(e),
            }
        })
        .await?;
    match found {
        Ok(j) => form.host.jump_host_id = Some(j),
        Err(problem) => {
            form.errors.insert(JUMP, problem);
        }
    }
    Ok(())
}

/// Refuses a jump host that does not exist, is the host itself, or reaches the host
/// again through the jump hosts behind it (a loop, named host by host).
pub(super) fn check_jump(
    c: &mut Conn,
    id: Option<HostId>,
    host: &NewHost,
) -> minke_store::Result<()> {
    let Some(j) = host.jump_host_id else {
        return Ok(());
    };
    if Some(j) == id {
        return Err(minke_store::Error::BadQuery(
            "a host cannot be its own jump host".into(),
        ));
    }
    let Ok(first) = HostRecord::load_one(c, j.get()) else {
        return Err(minke_store::Error::BadQuery(format!(
            "jump host {j} does not exist"
        )));
    };
    // A new host has no id yet: nothing leads back to it.
    let Some(id) = id else {
        return Ok(());
    };
    let mut chain = vec![host.name.clone()];
    let mut seen = BTreeSet::from([j]);
    let mut next = Some(first);
    while let Some(h) = next.take() {
        chain.push(h.name);
        match h.jump_host_id {
            Some(k) if k == id => {
                chain.push(host.name.clone());
                return Err(minke_store::Error::BadQuery(format!(
                    "jump hosts would go round in a loop: {}",
                    chain.join(" → ")
                )));
            }
            // A loop of other hosts does not come back here.
            Some(k) if seen.insert(k) => {
                next = HostRecord::load(c, &Query::ids([k.get()]))?.pop();
            }
            _ => {}
        }
    }
    Ok(())
}
