//! The group form: its name and comment, a page of its members at a time (counted,
//! each with a box to tick to take it out) and a field taking the names of hosts to
//! add, typed (enough without JavaScript) or picked with the relation search, which
//! finds hosts a page at a time. No host list is ever loaded whole.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minke_core::HostId;
use minke_runtime::{GROUP, ModelAction};
use minke_store::{Conn, NamedHost};

use super::super::jump::choices_url;
use crate::Result;
use crate::auth::Auth;
use crate::forms::QueryPairs;
use crate::layout::{Layout, render};
use crate::pages::Pager;
use crate::state::AppState;

/// Members on a page of the group form.
pub(super) const MEMBERS_PAGE: i64 = 50;

/// The field taking the names of hosts to add.
pub(super) const ADD: &str = "add";

/// The group's name field, where what the store refuses about the group is said.
pub(super) const NAME: &str = "name";

/// The group form's values: stored, or as typed.
#[derive(Default)]
pub(super) struct GroupForm {
    pub(super) name: String,
    pub(super) comment: String,
    /// The names of hosts to add, as typed.
    pub(super) add: String,
    /// The members ticked to be taken out (still ticked when the form comes back).
    pub(super) remove: BTreeSet<HostId>,
    /// The page of members shown, from 1.
    pub(super) page: i64,
    /// The problems, by field.
    pub(super) errors: BTreeMap<&'static str, String>,
}

/// A member on the group form's page.
struct MemberRow {
    id: HostId,
    name: String,
    /// Ticked to be taken out.
    remove: bool,
}

/// A stored group's members as the form shows them: a page, and how many in all.
struct Members {
    count: i64,
    /// The position of the page's first member, from 1.
    first: i64,
    rows: Vec<MemberRow>,
}

#[derive(Template)]
#[template(path = "group_form.html")]
struct GroupFormPage {
    layout: Layout,
    csrf: String,
    action: String,
    /// What the store refused about the group (its name, mostly).
    error: Option<String>,
    /// The hosts that could not be added (names no host has).
    add_error: Option<String>,
    name: String,
    comment: String,
    add: String,
    /// A stored group's members; none for a new group.
    members: Option<Members>,
    /// The page of members shown.
    page: i64,
    /// The pages of members.
    pager: Pager,
    /// Where the search for hosts to add asks.
    choices: String,
    /// Where a stored group is deleted.
    delete: Option<String>,
}

/// `GET /groups/add`.
pub(crate) async fn group_add_form(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    auth.need_to(ModelAction::Add, GROUP)?;
    form_page(&st, &auth, None, GroupForm::default(), StatusCode::OK).await
}

/// `GET /groups/{id}/edit?page=N`: the stored group, page `N` of its members.
pub(crate) async fn group_edit_form(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    auth.need_to(ModelAction::Change, GROUP)?;
    p.only(&["page"], &[])?;
    let page = p.number::<i64>("page")?.unwrap_or(1);
    let g = st
        .store()
        .blocking(move |c| minke_store::get_group(c, id))
        .await?;
    let form = GroupForm {
        name: g.name,
        comment: g.comment.unwrap_or_default(),
        page,
        ..GroupForm::default()
    };
    form_page(&st, &auth, Some(id), form, StatusCode::OK).await
}

/// The form adding a group (`id` none) or changing one, with page `form.page` of its
/// members (the last when there are fewer pages), answered with `status`.
pub(super) async fn form_page(
    st: &AppState,
    auth: &Auth,
    id: Option<i64>,
    mut form: GroupForm,
    status: StatusCode,
) -> Result<Response> {
    let (title, action) = match id {
        None => ("Add a group", st.url("/groups/add")),
        Some(i) => ("Edit group", st.url(&format!("/groups/{i}/edit"))),
    };
    let asked = form.page;
    let (members, pager, page) = match id {
        None => (None, Pager::new("", &[], 1, 1), 1),
        Some(gid) => {
            let loaded = st
                .store()
                .blocking(move |c| member_page(c, gid, asked))
                .await?;
            let url = st.url(&format!("/groups/{gid}/edit"));
            let pager = Pager::new(&url, &[], loaded.page, loaded.pages);
            let page = loaded.page;
            (Some(loaded.members(&form.remove)), pager, page)
        }
    };
    let page = GroupFormPage {
        layout: Layout::new(st, Some(auth), title),
        csrf: auth.csrf.clone().unwrap_or_default(),
        action,
        error: form.errors.remove(NAME),
        add_error: form.errors.remove(ADD),
        name: form.name,
        comment: form.comment,
        add: form.add,
        members,
        page,
        pager,
        choices: choices_url(st),
        delete: id.map(|i| st.url(&format!("/groups/{i}/delete"))),
    };
    render(status, &page)
}

/// A page of a stored group's members, as loaded.
struct Loaded {
    /// The page, from 1.
    page: i64,
    /// How many pages there are (at least 1).
    pages: i64,
    /// How many members there are.
    count: i64,
    hosts: Vec<NamedHost>,
}

impl Loaded {
    /// The members as the form shows them, those in `remove` ticked.
    fn members(self, remove: &BTreeSet<HostId>) -> Members {
        Members {
            count: self.count,
            first: (self.page - 1) * MEMBERS_PAGE + 1,
            rows: self
                .hosts
                .into_iter()
                .map(|h| MemberRow {
                    remove: remove.contains(&h.id),
                    id: h.id,
                    name: h.name,
                })
                .collect(),
        }
    }
}

/// Page `page` of a group's members (the last page when there are fewer; the first
/// below 1), counted by the database.
fn member_page(c: &mut Conn, group: i64, page: i64) -> minke_store::Result<Loaded> {
    let count = minke_store::group_member_counts(c, &[group])?
        .first()
        .map_or(0, |(_, n)| *n);
    let pages = ((count + MEMBERS_PAGE - 1) / MEMBERS_PAGE).max(1);
    let page = page.clamp(1, pages);
    let hosts = minke_store::group_member_page(c, group, (page - 1) * MEMBERS_PAGE, MEMBERS_PAGE)?;
    Ok(Loaded {
        page,
        pages,
        count,
        hosts,
    })
}
