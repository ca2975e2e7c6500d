//! Saving the group form: its name and comment, the members ticked on the page shown
//! taken out and the hosts named added, with one audit entry naming them briefly.
//! Names no host has refuse the whole form, which comes back as typed.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::{AuditAction, HostId};
use minke_runtime::{GROUP, ModelAction};
use minke_store::{Actor, Conn, NamedHost};

use super::super::sentence;
use super::form::{ADD, GroupForm, NAME, form_page};
use crate::Result;
use crate::auth::Auth;
use crate::forms::{Form, Pairs};
use crate::state::AppState;

/// The fields the group form posts.
const FIELDS: [&str; 7] = ["csrf", NAME, "comment", ADD, "remove", "page", "then"];

/// Unknown names said at most in a refusal; the rest are counted.
const UNKNOWN_SAID: usize = 20;

/// Member names an audit entry names at most for each change; the rest are counted.
const AUDIT_NAMES: usize = 5;

/// `POST /groups/add`.
pub(crate) async fn group_add(
    State(st): State<AppState>,
    auth: Auth,
    Form(f): Form,
) -> Result<Response> {
    auth.need_to(ModelAction::Add, GROUP)?;
    save_group(&st, &auth, None, &f).await
}

/// `POST /groups/{id}/edit`.
pub(crate) async fn group_edit(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Form(f): Form,
) -> Result<Response> {
    auth.need_to(ModelAction::Change, GROUP)?;
    st.store()
        .blocking(move |c| minke_store::get_group(c, id))
        .await?;
    save_group(&st, &auth, Some(id), &f).await
}

/// What the group form asks for.
#[derive(Clone)]
struct Change {
    name: String,
    comment: Option<String>,
    /// The names of the hosts to add.
    add: Vec<String>,
    /// The members to take out.
    remove: Vec<HostId>,
}

/// Where the browser goes once the group is saved.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    /// The groups page.
    List,
    /// The group's form again, at the page of members it showed.
    Edit,
}

/// What saving did, or why nothing was saved.
enum Saved {
    /// The group is stored with its changes: its id.
    Stored {
        id: i64,
        added: usize,
        removed: usize,
    },
    /// No host has these names: nothing was saved.
    Unknown(Vec<String>),
}

/// The names of hosts in the add field: one per line or separated by commas, each
/// trimmed, blanks skipped.
fn host_names(text: &str) -> Vec<String> {
    text.lines()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn save_group(st: &AppState, auth: &Auth, id: Option<i64>, f: &Pairs) -> Result<Response> {
    f.only(&FIELDS, &[])?;
    let typed = f.get(ADD).unwrap_or_default().to_owned();
    let change = Change {
        name: f.text(NAME).unwrap_or_default().to_owned(),
        comment: f.text("comment").map(str::to_owned),
        add: host_names(&typed),
        // Only a stored group has members to take out.
        remove: if id.is_some() {
            f.ids("remove")?
        } else {
            Vec::new()
        },
    };
    let page = f.number::<i64>("page")?.unwrap_or(1);
    let then = match f.get("then") {
        Some("edit") => Then::Edit,
        _ => Then::List,
    };
    let actor = auth.actor();
    let asked = change.clone();
    let saved = st
        .store()
        .write(move |c| store_group(c, &actor, id, &asked))
        .await;
    let mut form = GroupForm {
        name: change.name.clone(),
        comment: change.comment.clone().unwrap_or_default(),
        add: typed,
        remove: change.remove.iter().copied().collect(),
        page,
        ..GroupForm::default()
    };
    match saved {
        Ok(Saved::Stored {
            id: gid,
            added,
            removed,
        }) => {
            tracing::info!(
                group = %change.name, id = gid, added, removed,
                user = %auth.user.username, "host group saved"
            );
            let to = match then {
                Then::List => st.url("/groups"),
                Then::Edit if id.is_some() => st.url(&format!("/groups/{gid}/edit?page={page}")),
                Then::Edit => st.url(&format!("/groups/{gid}/edit")),
            };
            Ok(Redirect::to(&to).into_response())
        }
        Ok(Saved::Unknown(names)) => {
            form.errors.insert(ADD, unknown_hosts(&names));
            form_page(st, auth, id, form, StatusCode::BAD_REQUEST).await
        }
        Err(minke_store::Error::BadQuery(m)) => {
            form.errors.insert(NAME, sentence(&m));
            form_page(st, auth, id, form, StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds a group (`id` none) or changes one: its name and comment, the members taken
/// out, the hosts added; and writes the audit entry. The names are looked up first:
/// when one is no host's, nothing is written.
fn store_group(
    c: &mut Conn,
    actor: &Actor,
    id: Option<i64>,
    change: &Change,
) -> minke_store::Result<Saved> {
    let named = minke_store::hosts_named(c, &change.add)?;
    if !named.unknown.is_empty() {
        return Ok(Saved::Unknown(named.unknown));
    }
    let comment = change.comment.as_deref();
    let (gid, what) = match id {
        None => (
            minke_store::create_group(c, &change.name, comment)?,
            "added",
        ),
        Some(i) => {
            minke_store::update_group(c, i, &change.name, comment)?;
            (i, "changed")
        }
    };
    let removed = minke_store::remove_group_members(c, gid, &change.remove)?;
    let ids: Vec<HostId> = named.found.iter().map(|h| h.id).collect();
    let joined: BTreeSet<HostId> = minke_store::add_group_members(c, gid, &ids)?
        .into_iter()
        .collect();
    let added: Vec<NamedHost> = named
        .found
        .into_iter()
        .filter(|h| joined.contains(&h.id))
        .collect();
    minke_store::record_audit(
        c,
        actor,
        AuditAction::GroupChanged,
        &format!("group {} ({gid})", change.name),
        &audit_detail(what, &added, &removed),
    )?;
    Ok(Saved::Stored {
        id: gid,
        added: added.len(),
        removed: removed.len(),
    })
}

/// The audit entry's detail: what happened to the group, and the hosts added and
/// taken out, counted and the first few named.
fn audit_detail(what: &str, added: &[NamedHost], removed: &[NamedHost]) -> String {
    let mut detail = what.to_owned();
    for (verb, hosts) in [("added", added), ("removed", removed)] {
        if !hosts.is_empty() {
            let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            detail.push_str(&format!(
                "; {verb} {} ({})",
                hosts_counted(hosts.len()),
                brief(&names, AUDIT_NAMES)
            ));
        }
    }
    detail
}

/// The refusal of names no host has, the first [`UNKNOWN_SAID`] of them quoted.
fn unknown_hosts(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let quoted: Vec<&str> = quoted.iter().map(String::as_str).collect();
    let verb = if names.len() == 1 {
        "No host is named"
    } else {
        "No hosts are named"
    };
    format!(
        "{verb} {}: nothing was saved; correct or remove {}.",
        brief(&quoted, UNKNOWN_SAID),
        if names.len() == 1 { "it" } else { "them" }
    )
}

/// `n host` or `n hosts`.
fn hosts_counted(n: usize) -> String {
    if n == 1 {
        "1 host".to_owned()
    } else {
        format!("{n} hosts")
    }
}

/// The first `at_most` of `items`, comma-separated, and how many more.
fn brief(items: &[&str], at_most: usize) -> String {
    let shown = items[..items.len().min(at_most)].join(", ");
    match items.len().saturating_sub(at_most) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_line_or_comma() {
        assert_eq!(
            host_names(" web-1\r\nweb-2, web-3 ,,\n\n  db 1 \n"),
            ["web-1", "web-2", "web-3", "db 1"]
        );
        assert!(host_names(" \n , ").is_empty());
    }

    #[test]
    fn refusals_and_audit_entries_stay_short() {
        assert_eq!(
            unknown_hosts(&["x".into()]),
            "No host is named `x`: nothing was saved; correct or remove it."
        );
        let many: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
        let said = unknown_hosts(&many);
        assert!(said.starts_with("No hosts are named `n0`, `n1`"), "{said}");
        assert!(said.contains("`n19` and 5 more"), "{said}");
        assert!(!said.contains("`n20`"), "{said}");

        let host = |i: i64| NamedHost {
            id: HostId::new(i),
            name: format!("h{i}"),
        };
        let added: Vec<NamedHost> = (1..=7).map(host).collect();
        assert_eq!(
            audit_detail("changed", &added, &[host(9)]),
            "changed; added 7 hosts (h1, h2, h3, h4, h5 and 2 more); removed 1 host (h9)"
        );
        assert_eq!(audit_detail("added", &[], &[]), "added");
    }
}
