//! Hosts and host groups: the hosts list (here), the host form with its jump host
//! picked by name ([`form`], [`fields`], [`page`], [`jump`]), saving it ([`save`]) and
//! groups ([`groups`]).

mod fields;
mod form;
mod groups;
mod jump;
mod page;
mod save;

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minke_core::MinkeModel as _;
use minke_core::{AuditAction, HostId};
use minke_runtime::ModelAction;
use minke_store::{Conn, HostGroupRecord, HostRecord, Order, Query, StoredModel as _};

use crate::auth::Auth;
use crate::forms::{Form, QueryPairs};
use crate::layout::{Layout, render};
use crate::pages::{Pager, Window, back, total_beside};
use crate::state::AppState;
use crate::{Error, Result};

pub(crate) use groups::{
    group_add, group_add_form, group_delete, group_edit, group_edit_form, groups,
};
pub(crate) use page::{add_form, edit_form};
pub(crate) use save::{add, edit};

/// Viewing hosts and groups.
const VIEW: &str = "view_host";
/// Hosts in permissions: `add_host`, `change_host`, `delete_host`.
const HOST: &str = HostRecord::NAME;

/// A host as the hosts page lists it.
struct HostRow {
    id: HostId,
    name: String,
    hostname: String,
    port: i32,
    user: String,
    policy: String,
    /// The jump host's name.
    via: String,
    /// The names of its groups.
    groups: String,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "hosts.html")]
struct HostsPage {
    layout: Layout,
    csrf: String,
    q: String,
    group: String,
    /// Every group: id and name.
    groups: Vec<(String, String)>,
    can_add: bool,
    can_change: bool,
    can_delete: bool,
    hosts: Vec<HostRow>,
    matching: i64,
    /// All hosts: counted, or estimated for a big table beside a filtered count.
    total: String,
    pager: Pager,
}

/// Hosts on a page.
const HOSTS_PAGE: i64 = 100;

/// A page of hosts as the database gives it, with what their rows name.
struct Listed {
    rows: Vec<HostRecord>,
    /// Every group.
    groups: Vec<HostGroupRecord>,
    /// The groups of the page's hosts: host and group id.
    members: Vec<(HostId, i64)>,
    /// The names of the page's jump hosts.
    jump_names: BTreeMap<HostId, String>,
    matching: i64,
    total: String,
}

/// `GET /hosts`: the hosts by name, a page at a time, searched and narrowed to a group
/// by the database.
pub(crate) async fn hosts(
    State(st): State<AppState>,
    auth: Auth,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    auth.need(VIEW)?;
    p.only(&["q", "group", "page"], &[])?;
    let group = p.number::<i64>("group")?;
    let page = p.number::<i64>("page")?.unwrap_or(1).max(1);
    let query = match p.text("q") {
        Some(q) => Query::search(q),
        None => Query::all(),
    };
    let listed = st
        .store()
        .blocking(move |c| load_listed(c, query, group, page))
        .await?;
    let pages = (listed.matching + HOSTS_PAGE - 1) / HOSTS_PAGE;
    let page = HostsPage {
        layout: Layout::new(&st, Some(&auth), "Hosts"),
        csrf: auth.csrf.clone().unwrap_or_default(),
        q: p.get("q").unwrap_or_default().to_owned(),
        group: p.get("group").unwrap_or_default().to_owned(),
        groups: listed
            .groups
            .iter()
            .map(|g| (g.id.to_string(), g.name.clone()))
            .collect(),
        can_add: auth.may(ModelAction::Add, HOST),
        can_change: auth.may(ModelAction::Change, HOST),
        can_delete: auth.may(ModelAction::Delete, HOST),
        matching: listed.matching,
        total: listed.total.clone(),
        hosts: host_rows(listed),
        pager: Pager::new(&st.url("/hosts"), &p.0, page, pages.max(1)),
    };
    render(StatusCode::OK, &page)
}

/// Page `page` of the hosts of `query` (in group `group`), by name.
fn load_listed(
    c: &mut Conn,
    mut query: Query,
    group: Option<i64>,
    page: i64,
) -> minke_store::Result<Listed> {
    if let Some(g) = group {
        minke_store::narrow_to_group(c, HostRecord::NAME, &mut query, g)?;
    }
    let matching = HostRecord::count(c, &query)?;
    let total = total_beside(c, &query, matching, HostRecord::meta().table, |c| {
        HostRecord::count(c, &Query::all())
    })?;
    let window = Window {
        order: Some(Order::parse("name")),
        id_field: "id",
        offset: (page - 1) * HOSTS_PAGE,
        size: HOSTS_PAGE,
        matching,
    };
    let rows = window.load(c, query, HostRecord::load, |a, b, _| a.name.cmp(&b.name))?;
    let ids: Vec<HostId> = rows.iter().map(|h| h.id).collect();
    Ok(Listed {
        jump_names: jump::jump_names(c, &rows)?,
        groups: minke_store::list_groups(c)?,
        members: minke_store::groups_of_hosts(c, &ids)?,
        rows,
        matching,
        total,
    })
}

/// The rows of the hosts page, with the names of their groups and jump hosts.
fn host_rows(listed: Listed) -> Vec<HostRow> {
    let names: BTreeMap<i64, &str> = listed
        .groups
        .iter()
        .map(|g| (g.id, g.name.as_str()))
        .collect();
    let mut of_host: BTreeMap<HostId, Vec<&str>> = BTreeMap::new();
    for (h, g) in &listed.members {
        if let Some(n) = names.get(g) {
            of_host.entry(*h).or_default().push(n);
        }
    }
    listed
        .rows
        .into_iter()
        .map(|h| HostRow {
            groups: of_host.get(&h.id).map(|g| g.join(", ")).unwrap_or_default(),
            via: h
                .jump_host_id
                .and_then(|j| listed.jump_names.get(&j).cloned())
                .unwrap_or_default(),
            id: h.id,
            name: h.name,
            hostname: h.hostname.unwrap_or_default(),
            port: h.port,
            user: h.username.unwrap_or_default(),
            policy: h.host_key_policy,
            disabled: h.disabled,
        })
        .collect()
}

/// `POST /hosts/{id}/disable`: `disabled=1` disables, `disabled=0` enables.
pub(crate) async fn disable(
    State(st): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<HostId>,
    Form(f): Form,
) -> Result<Response> {
    auth.need_to(ModelAction::Change, HOST)?;
    let disabled = match f.get("disabled") {
        Some("1") | None => true,
        Some("0") => false,
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "`disabled` must be 1 or 0, not `{other}`"
            )));
        }
    };
    let actor = auth.actor();
    st.store()
        .write(move |c| {
            minke_store::set_host_disabled(c, id, disabled)?;
            minke_store::record_audit(
                c,
                &actor,
                AuditAction::HostDisabled,
                &format!("host {id}"),
                if disabled { "disabled" } else { "enabled" },
            )
        })
        .await?;
    tracing::info!(host = %id, disabled, user = %auth.user.username, "host state changed");
    Ok(back(&st, &headers, &st.url("/hosts")))
}

/// A box to tick: a group of the host.
struct Pick {
    id: i64,
    name: String,
    checked: bool,
}

/// A message as a sentence: a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let mut s: String = text.chars().take(1).flat_map(char::to_uppercase).collect();
    s.push_str(text.get(1..).unwrap_or_default());
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}
