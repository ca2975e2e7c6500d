//! Host groups: the groups page (a page of groups, each with its hosts counted by the
//! database and the first few named), the group form ([`form`]: a page of members at
//! a time and a field taking host names to add) and saving it ([`save`]), and
//! deleting a group. No page loads every host or every member of a group.

mod form;
mod save;

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::AuditAction;
use minke_runtime::{GROUP, ModelAction};
use minke_store::Conn;

use super::VIEW;
use crate::Result;
use crate::auth::Auth;
use crate::forms::QueryPairs;
use crate::layout::{Layout, render};
use crate::pages::Pager;
use crate::state::AppState;

pub(crate) use form::{group_add_form, group_edit_form};
pub(crate) use save::{group_add, group_edit};

/// Groups on a page of the groups page.
const GROUPS_PAGE: i64 = 100;

/// Hosts named beside a group's count on the groups page.
const NAMED_HOSTS: i64 = 5;

/// A group as the groups page lists it.
struct GroupRow {
    id: i64,
    name: String,
    comment: String,
    /// How many hosts it has.
    count: i64,
    /// The names of its first hosts (by id), at most [`NAMED_HOSTS`].
    hosts: Vec<String>,
}

impl GroupRow {
    /// More hosts than those named.
    fn more(&self) -> bool {
        self.count > self.hosts.len() as i64
    }
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    layout: Layout,
    can_add: bool,
    /// How many groups there are.
    total: i64,
    groups: Vec<GroupRow>,
    pager: Pager,
}

/// `GET /groups?page=N`: groups by name, a page at a time, with their hosts counted.
pub(crate) async fn groups(
    State(st): State<AppState>,
    auth: Auth,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    auth.need(VIEW)?;
    p.only(&["page"], &[])?;
    let page = p.number::<i64>("page")?.unwrap_or(1).max(1);
    let (total, groups) = st.store().blocking(move |c| group_rows(c, page)).await?;
    let pages = (total + GROUPS_PAGE - 1) / GROUPS_PAGE;
    let page = GroupsPage {
        layout: Layout::new(&st, Some(&auth), "Host groups"),
        can_add: auth.may(ModelAction::Add, GROUP),
        total,
        groups,
        pager: Pager::new(&st.url("/groups"), &p.0, page, pages.max(1)),
    };
    render(StatusCode::OK, &page)
}

/// How many groups there are, and page `page` of them, each with its hosts counted
/// and the first few named.
fn group_rows(c: &mut Conn, page: i64) -> minke_store::Result<(i64, Vec<GroupRow>)> {
    let total = minke_store::count_groups(c)?;
    let groups = minke_store::list_groups_page(c, (page - 1) * GROUPS_PAGE, GROUPS_PAGE)?;
    let ids: Vec<i64> = groups.iter().map(|g| g.id).collect();
    let counts: BTreeMap<i64, i64> = minke_store::group_member_counts(c, &ids)?
        .into_iter()
        .collect();
    let rows = groups
        .into_iter()
        .map(|g| {
            let hosts = minke_store::group_member_page(c, g.id, 0, NAMED_HOSTS)?;
            Ok(GroupRow {
                count: counts.get(&g.id).copied().unwrap_or_default(),
                hosts: hosts.into_iter().map(|h| h.name).collect(),
                id: g.id,
                name: g.name,
                comment: g.comment.unwrap_or_default(),
            })
        })
        .collect::<minke_store::Result<Vec<_>>>()?;
    Ok((total, rows))
}

/// `POST /groups/{id}/delete`.
pub(crate) async fn group_delete(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Response> {
    auth.need_to(ModelAction::Delete, GROUP)?;
    let actor = auth.actor();
    st.store()
        .write(move |c| {
            let g = minke_store::get_group(c, id)?;
            minke_store::delete_group(c, id)?;
            minke_store::record_audit(
                c,
                &actor,
                AuditAction::GroupChanged,
                &format!("group {} ({id})", g.name),
                "deleted",
            )
        })
        .await?;
    tracing::info!(group = id, user = %auth.user.username, "host group deleted");
    Ok(Redirect::to(&st.url("/groups")).into_response())
}
