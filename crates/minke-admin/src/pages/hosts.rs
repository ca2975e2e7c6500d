//! Hosts and host groups: lists, add, edit, disable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::MinkeModel as _;
use minke_core::{AuditAction, HostId, HostKeyPolicy};
use minke_runtime::{GROUP, ModelAction};
use minke_store::{HostGroupRecord, HostRecord, NewHost, Order, Query, StoredModel as _};

use crate::auth::Auth;
use crate::forms::{Form, Pairs, QueryPairs, encode};
use crate::html::{self, csrf_field, esc, options};
use crate::layout::{Layout, render};
use crate::pages::{Pager, Window, back, total_beside};
use crate::state::AppState;

use crate::{Error, Result};

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
    let mut query = match p.text("q") {
        Some(q) => Query::search(q),
        None => Query::all(),
    };
    let (rows, groups, members, jump_names, matching, total) = st
        .store()
        .blocking(move |c| {
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
            let jumps: Vec<i64> = rows
                .iter()
                .filter_map(|h| h.jump_host_id.map(i64::from))
                .collect();
            let jump_names: BTreeMap<HostId, String> = if jumps.is_empty() {
                BTreeMap::new()
            } else {
                HostRecord::load(c, &Query::ids(jumps))?
                    .into_iter()
                    .map(|h| (h.id, h.name))
                    .collect()
            };
            Ok((
                rows,
                minke_store::list_groups(c)?,
                minke_store::groups_of_hosts(c, &ids)?,
                jump_names,
                matching,
                total,
            ))
        })
        .await?;
    let names: BTreeMap<i64, &str> = groups.iter().map(|g| (g.id, g.name.as_str())).collect();
    let mut of_host: BTreeMap<HostId, Vec<&str>> = BTreeMap::new();
    for (h, g) in &members {
        if let Some(n) = names.get(g) {
            of_host.entry(*h).or_default().push(n);
        }
    }
    let hosts = rows
        .into_iter()
        .map(|h| HostRow {
            groups: of_host.get(&h.id).map(|g| g.join(", ")).unwrap_or_default(),
            via: h
                .jump_host_id
                .and_then(|j| jump_names.get(&j).cloned())
                .unwrap_or_default(),
            id: h.id,
            name: h.name,
            hostname: h.hostname.unwrap_or_default(),
            port: h.port,
            user: h.username.unwrap_or_default(),
            policy: h.host_key_policy,
            disabled: h.disabled,
        })
        .collect();
    let pages = (matching + HOSTS_PAGE - 1) / HOSTS_PAGE;
    let page = HostsPage {
        layout: Layout::new(&st, Some(&auth), "Hosts"),
        csrf: auth.csrf.clone().unwrap_or_default(),
        q: p.get("q").unwrap_or_default().to_owned(),
        group: p.get("group").unwrap_or_default().to_owned(),
        groups: groups
            .iter()
            .map(|g| (g.id.to_string(), g.name.clone()))
            .collect(),
        can_add: auth.may(ModelAction::Add, HOST),
        can_change: auth.may(ModelAction::Change, HOST),
        can_delete: auth.may(ModelAction::Delete, HOST),
        hosts,
        matching,
        total,
        pager: Pager::new(&st.url("/hosts"), &p.0, page, pages.max(1)),
    };
    render(StatusCode::OK, &page)
}

/// The host form's values and problems.
struct HostForm {
    host: NewHost,
    /// The port as typed (kept when it is wrong).
    port_text: String,
    groups: BTreeSet<i64>,
    errors: BTreeMap<&'static str, String>,
}

fn opt(p: &Pairs, name: &str) -> Option<String> {
    p.text(name).map(str::to_owned)
}

fn read_host(p: &Pairs) -> Result<HostForm> {
    let mut errors = BTreeMap::new();
    let name = p.text("name").unwrap_or_default().to_owned();
    if name.is_empty() {
        errors.insert("name", "A host needs a name.".to_owned());
    } else if name.chars().any(char::is_whitespace) {
        errors.insert("name", "No spaces in a host name.".to_owned());
    } else if let Err(e) = minke_store::check_host_name(&name) {
        errors.insert("name", sentence(&e.to_string()));
    }
    let port_text = p.text("port").unwrap_or("22");
    let port = match port_text.parse::<i32>() {
        Ok(n) if (1..=65535).contains(&n) => n,
        _ => {
            errors.insert(
                "port",
                format!("`{port_text}` is not a port: use a number from 1 to 65535."),
            );
            22
        }
    };
    let policy = p.text("host_key_policy").unwrap_or("strict");
    if policy.parse::<HostKeyPolicy>().is_err()
        || !matches!(policy, "strict" | "accept-new" | "off")
    {
        errors.insert(
            "host_key_policy",
            format!("`{policy}` is not a host key policy: use strict, accept-new or off."),
        );
    }
    let groups: BTreeSet<i64> = p.ids("groups")?.into_iter().collect();
    let jump_host_id = match p.text("jump_host_id") {
        None => None,
        Some(v) => match v.parse::<HostId>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.insert("jump_host_id", format!("`{v}` is not a host."));
                None
            }
        },
    };
    Ok(HostForm {
        host: NewHost {
            name,
            hostname: opt(p, "hostname"),
            port,
            username: opt(p, "username"),
            identity_file: opt(p, "identity_file"),
            host_key_policy: policy.to_owned(),
            known_hosts: opt(p, "known_hosts"),
            disabled: p.get("disabled").is_some_and(|v| v == "1" || v == "on"),
            comment: opt(p, "comment"),
            jump_host_id,
        },
        port_text: port_text.to_owned(),
        groups,
        errors,
    })
}

/// What the host form offers to pick from.
struct Choices {
    groups: Vec<HostGroupRecord>,
    hosts: Vec<HostRecord>,
}

async fn choices(st: &AppState) -> Result<Choices> {
    let (groups, hosts) = st
        .store()
        .blocking(|c| Ok((minke_store::list_groups(c)?, minke_store::all_hosts(c)?)))
        .await?;
    Ok(Choices { groups, hosts })
}

fn host_form_page(
    st: &AppState,
    auth: &Auth,
    title: &str,
    action: &str,
    form: &HostForm,
    choices: &Choices,
    error: Option<&str>,
) -> String {
    let all_groups = &choices.groups;
    let field = |name: &'static str, label: &str, value: &str, help: &str| {
        let err = form
            .errors
            .get(name)
            .map(|e| {
                format!(
                    r#"<span class="error field-error" id="error-{name}">{}</span>"#,
                    esc(e)
                )
            })
            .unwrap_or_default();
        format!(
            r#"<p class="field" data-field="{name}"><label for="{name}">{label}</label> <input id="{name}" name="{name}" value="{v}"> {err} <span class="help">{help}</span></p>"#,
            v = esc(value),
            help = esc(help),
        )
    };
    let h = &form.host;
    let mut body = String::new();
    if let Some(e) = error {
        let _ = write!(body, r#"<p class="error" id="form-error">{}</p>"#, esc(e));
    }
    let _ = write!(
        body,
        r#"<form id="host-form" method="post" action="{}">{}"#,
        esc(action),
        csrf_field(auth)
    );
    body.push_str(&field(
        "name",
        "Name",
        &h.name,
        "unique, like an ssh_config alias",
    ));
    body.push_str(&field(
        "hostname",
        "Address",
        h.hostname.as_deref().unwrap_or_default(),
        "the name is used when empty",
    ));
    body.push_str(&field("port", "Port", &form.port_text, "1 to 65535"));
    body.push_str(&field(
        "username",
        "User",
        h.username.as_deref().unwrap_or_default(),
        "the local user when empty",
    ));
    body.push_str(&field(
        "identity_file",
        "Identity file",
        h.identity_file.as_deref().unwrap_or_default(),
        "private key file on this machine",
    ));
    let perr = form
        .errors
        .get("host_key_policy")
        .map(|e| {
            format!(
                r#"<span class="error field-error" id="error-host_key_policy">{}</span>"#,
                esc(e)
            )
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        r#"<p class="field" data-field="host_key_policy"><label for="host_key_policy">Host keys</label> <select id="host_key_policy" name="host_key_policy">{}</select> {perr}</p>"#,
        options(
            [
                ("strict", "strict: must be known"),
                ("accept-new", "accept-new: learn unknown keys"),
                ("off", "off: accept any key")
            ],
            &h.host_key_policy
        )
    );
    body.push_str(&field(
        "known_hosts",
        "known_hosts file",
        h.known_hosts.as_deref().unwrap_or_default(),
        "~/.ssh/known_hosts when empty",
    ));
    let jerr = form
        .errors
        .get("jump_host_id")
        .map(|e| {
            format!(
                r#"<span class="error field-error" id="error-jump_host_id">{}</span>"#,
                esc(e)
            )
        })
        .unwrap_or_default();
    let ids: Vec<String> = choices.hosts.iter().map(|x| x.id.to_string()).collect();
    let mut items: Vec<(&str, &str)> = vec![("", "none: connect directly")];
    items.extend(
        ids.iter()
            .map(String::as_str)
            .zip(choices.hosts.iter().map(|x| x.name.as_str()))
            .filter(|(_, n)| *n != h.name.as_str()),
    );
    let current = h.jump_host_id.map(|j| j.to_string()).unwrap_or_default();
    let _ = write!(
        body,
        r#"<p class="field" data-field="jump_host_id"><label for="jump_host_id">Jump host</label> <select id="jump_host_id" name="jump_host_id">{}</select> {jerr} <span class="help">connect through this host (ProxyJump)</span></p>"#,
        options(items, &current)
    );
    body.push_str(&field(
        "comment",
        "Comment",
        h.comment.as_deref().unwrap_or_default(),
        "",
    ));
    let _ = write!(
        body,
        r#"<p class="field" data-field="disabled"><label><input type="checkbox" id="disabled" name="disabled" value="1"{}> disabled (never contacted)</label></p>"#,
        if h.disabled { " checked" } else { "" }
    );
    if !all_groups.is_empty() {
        body.push_str(r#"<fieldset id="host-groups"><legend>Groups</legend>"#);
        for g in all_groups {
            let _ = write!(
                body,
                r#"<label><input type="checkbox" name="groups" value="{id}"{c}> {n}</label> "#,
                id = g.id,
                c = if form.groups.contains(&g.id) {
                    " checked"
                } else {
                    ""
                },
                n = esc(&g.name)
            );
        }
        body.push_str("</fieldset>");
    }
    let _ = write!(
        body,
        r#"<p><button type="submit" id="save">Save</button> <a id="cancel" href="{}">Cancel</a></p></form>"#,
        esc(&st.url("/hosts"))
    );
    html::page(st, Some(auth), title, &body)
}

/// `GET /hosts/add`.
pub(crate) async fn add_form(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    auth.need_to(ModelAction::Add, HOST)?;
    let form = HostForm {
        host: NewHost::new(""),
        port_text: "22".into(),
        groups: BTreeSet::new(),
        errors: BTreeMap::new(),
    };
    let groups = choices(&st).await?;
    Ok(html::respond(
        StatusCode::OK,
        host_form_page(
            &st,
            &auth,
            "Add a host",
            &st.url("/hosts/add"),
            &form,
            &groups,
            None,
        ),
    ))
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
    let fields = [
        (
            "identity_file",
            form.host.identity_file.clone(),
            stored.as_ref().and_then(|h| h.identity_file.clone()),
        ),
        (
            "known_hosts",
            form.host.known_hosts.clone(),
            stored.as_ref().and_then(|h| h.known_hosts.clone()),
        ),
    ];
    let dirs = st.ssh_dirs().clone();
    let refused = tokio::task::spawn_blocking(move || {
        fields
            .into_iter()
            .filter_map(|(name, wanted, old)| {
                let wanted = wanted.filter(|w| Some(w) != old.as_ref())?;
                dirs.check(&wanted).err().map(|e| (name, sentence(&e)))
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Internal(format!("checking host paths failed: {e}")))?;
    form.errors.extend(refused);
    Ok(())
}

async fn save_host(st: &AppState, auth: &Auth, id: Option<HostId>, f: &Pairs) -> Result<Response> {
    let mut form = read_host(f)?;
    check_paths(st, id, &mut form).await?;
    let (title, action) = match id {
        None => ("Add a host".to_owned(), st.url("/hosts/add")),
        Some(i) => ("Edit host".to_owned(), st.url(&format!("/hosts/{i}/edit"))),
    };
    let groups = choices(st).await?;
    if !form.errors.is_empty() {
        return Ok(html::respond(
            StatusCode::BAD_REQUEST,
            host_form_page(st, auth, &title, &action, &form, &groups, None),
        ));
    }
    let host = form.host.clone();
    let wanted: Vec<i64> = form.groups.iter().copied().collect();
    let actor = auth.actor();
    let saved = st
        .store()
        .write(move |c| {
            if let Some(j) = host.jump_host_id {
                if Some(j) == id {
                    return Err(minke_store::Error::BadQuery(
                        "a host cannot be its own jump host".into(),
                    ));
                }
                if HostRecord::load_one(c, j.get()).is_err() {
                    return Err(minke_store::Error::BadQuery(format!(
                        "jump host {j} does not exist"
                    )));
                }
            }
            let (id, action, mut detail) = match id {
                None => (
                    minke_store::insert_host(c, &host)?,
                    AuditAction::HostAdded,
                    serde_json::to_string(&host).unwrap_or_default(),
                ),
                Some(i) => {
                    let old = HostRecord::load_one(c, i.get())?;
                    minke_store::update_host(c, i, &host)?;
                    (i, AuditAction::HostChanged, host.changes_from(&old))
                }
            };
            let before = minke_store::groups_of_hosts(c, &[id])?;
            minke_store::set_host_groups(c, id, &wanted)?;
            let before: Vec<i64> = before.into_iter().map(|(_, g)| g).collect();
            if before != wanted {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&format!("groups: {before:?} → {wanted:?}"));
            }
            minke_store::record_audit(
                c,
                &actor,
                action,
                &format!("host {} ({id})", host.name),
                &detail,
            )?;
            Ok(id)
        })
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
        Err(minke_store::Error::BadQuery(m)) => Ok(html::respond(
            StatusCode::BAD_REQUEST,
            host_form_page(st, auth, &title, &action, &form, &groups, Some(&m)),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `POST /hosts/add`: adds a host (validated).
pub(crate) async fn add(State(st): State<AppState>, auth: Auth, Form(f): Form) -> Result<Response> {
    auth.need_to(ModelAction::Add, HOST)?;
    save_host(&st, &auth, None, &f).await
}

/// `GET /hosts/{id}/edit`.
pub(crate) async fn edit_form(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<HostId>,
) -> Result<Response> {
    auth.need_to(ModelAction::Change, HOST)?;
    let (h, member): (HostRecord, Vec<(HostId, i64)>) = st
        .store()
        .blocking(move |c| {
            Ok((
                HostRecord::load_one(c, id.get())?,
                minke_store::groups_of_hosts(c, &[id])?,
            ))
        })
        .await?;
    let form = HostForm {
        port_text: h.port.to_string(),
        host: NewHost {
            name: h.name,
            hostname: h.hostname,
            port: h.port,
            username: h.username,
            identity_file: h.identity_file,
            host_key_policy: h.host_key_policy,
            known_hosts: h.known_hosts,
            disabled: h.disabled,
            comment: h.comment,
            jump_host_id: h.jump_host_id,
        },
        groups: member.into_iter().map(|(_, g)| g).collect(),
        errors: BTreeMap::new(),
    };
    let groups = choices(&st).await?;
    Ok(html::respond(
        StatusCode::OK,
        host_form_page(
            &st,
            &auth,
            "Edit host",
            &st.url(&format!("/hosts/{id}/edit")),
            &form,
            &groups,
            None,
        ),
    ))
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

/// `GET /groups`: groups with their hosts.
pub(crate) async fn groups(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    auth.need(VIEW)?;
    let (groups, hosts, members) = st
        .store()
        .blocking(|c| {
            let hosts = minke_store::all_hosts(c)?;
            let ids: Vec<HostId> = hosts.iter().map(|h| h.id).collect();
            Ok((
                minke_store::list_groups(c)?,
                hosts,
                minke_store::groups_of_hosts(c, &ids)?,
            ))
        })
        .await?;
    let host_names: BTreeMap<HostId, &str> =
        hosts.iter().map(|h| (h.id, h.name.as_str())).collect();
    let mut body = String::new();
    if auth.may(ModelAction::Add, GROUP) {
        let _ = write!(
            body,
            r#"<p><a id="add-group" class="button" href="{}">Add a group</a></p>"#,
            esc(&st.url("/groups/add"))
        );
    }
    body.push_str(r#"<table id="groups" class="list"><thead><tr><th>Name</th><th>Comment</th><th>Hosts</th></tr></thead><tbody>"#);
    for g in &groups {
        let names: Vec<String> = members
            .iter()
            .filter(|(_, gid)| *gid == g.id)
            .filter_map(|(h, _)| host_names.get(h))
            .map(|n| esc(n))
            .collect();
        let _ = write!(
            body,
            r#"<tr data-group-id="{id}"><td><a class="edit" href="{edit}">{name}</a></td><td>{comment}</td><td class="members"><a href="{hosts}">{n} hosts</a>: {names}</td></tr>"#,
            id = g.id,
            edit = esc(&st.url(&format!("/groups/{}/edit", g.id))),
            name = esc(&g.name),
            comment = esc(g.comment.as_deref().unwrap_or_default()),
            hosts = esc(&format!(
                "{}?{}",
                st.url("/hosts"),
                encode([("group", g.id.to_string().as_str())])
            )),
            n = names.len(),
            names = names.join(", "),
        );
    }
    if groups.is_empty() {
        body.push_str(r#"<tr class="empty"><td colspan="3">No groups yet.</td></tr>"#);
    }
    body.push_str("</tbody></table>");
    Ok(html::respond(
        StatusCode::OK,
        html::page(&st, Some(&auth), "Host groups", &body),
    ))
}

#[allow(clippy::too_many_arguments)]
fn group_form_page(
    st: &AppState,
    auth: &Auth,
    id: Option<i64>,
    name: &str,
    comment: &str,
    members: &BTreeSet<HostId>,
    hosts: &[HostRecord],
    error: Option<&str>,
) -> String {
    let action = match id {
        None => st.url("/groups/add"),
        Some(i) => st.url(&format!("/groups/{i}/edit")),
    };
    let mut body = String::new();
    if let Some(e) = error {
        let _ = write!(
            body,
            r#"<p class="error field-error" id="error-name">{}</p>"#,
            esc(e)
        );
    }
    let _ = write!(
        body,
        r#"<form id="group-form" method="post" action="{action}">{csrf}<p class="field"><label for="name">Name</label> <input id="name" name="name" value="{name}" required></p><p class="field"><label for="comment">Comment</label> <input id="comment" name="comment" value="{comment}"></p><fieldset id="group-hosts"><legend>Hosts</legend>"#,
        action = esc(&action),
        csrf = csrf_field(auth),
        name = esc(name),
        comment = esc(comment),
    );
    for h in hosts {
        let _ = write!(
            body,
            r#"<label><input type="checkbox" name="hosts" value="{id}"{c}> {n}</label> "#,
            id = h.id,
            c = if members.contains(&h.id) {
                " checked"
            } else {
                ""
            },
            n = esc(&h.name)
        );
    }
    let _ = write!(
        body,
        r#"</fieldset><p><button type="submit" id="save">Save</button> <a id="cancel" href="{}">Cancel</a></p></form>"#,
        esc(&st.url("/groups"))
    );
    if let Some(i) = id {
        let _ = write!(
            body,
            r#"<form id="delete-group-form" method="post" action="{}">{}<button type="submit" id="delete-group">Delete this group</button></form>"#,
            esc(&st.url(&format!("/groups/{i}/delete"))),
            csrf_field(auth)
        );
    }
    html::page(
        st,
        Some(auth),
        if id.is_some() {
            "Edit group"
        } else {
            "Add a group"
        },
        &body,
    )
}

/// `GET /groups/add`.
pub(crate) async fn group_add_form(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    auth.need_to(ModelAction::Add, GROUP)?;
    let hosts = st.store().blocking(minke_store::all_hosts).await?;
    Ok(html::respond(
        StatusCode::OK,
        group_form_page(&st, &auth, None, "", "", &BTreeSet::new(), &hosts, None),
    ))
}

async fn save_group(st: &AppState, auth: &Auth, id: Option<i64>, f: &Pairs) -> Result<Response> {
    let name = f.text("name").unwrap_or_default().to_owned();
    let comment = f.text("comment").map(str::to_owned);
    let members: BTreeSet<HostId> = f.ids("hosts")?.into_iter().collect();
    let list: Vec<HostId> = members.iter().copied().collect();
    let (n, cm) = (name.clone(), comment.clone());
    let actor = auth.actor();
    let saved = st
        .store()
        .write(move |c| {
            let (gid, what) = match id {
                None => (minke_store::create_group(c, &n, cm.as_deref())?, "added"),
                Some(i) => {
                    minke_store::update_group(c, i, &n, cm.as_deref())?;
                    (i, "changed")
                }
            };
            minke_store::set_group_members(c, gid, &list)?;
            let hosts: Vec<i64> = list.iter().map(|h| h.get()).collect();
            minke_store::record_audit(
                c,
                &actor,
                AuditAction::GroupChanged,
                &format!("group {n} ({gid})"),
                &format!("{what}; hosts {hosts:?}"),
            )?;
            Ok(gid)
        })
        .await;
    match saved {
        Ok(gid) => {
            tracing::info!(group = %name, id = gid, user = %auth.user.username, "host group saved");
            Ok(Redirect::to(&st.url("/groups")).into_response())
        }
        Err(minke_store::Error::BadQuery(m)) => {
            let hosts = st.store().blocking(minke_store::all_hosts).await?;
            Ok(html::respond(
                StatusCode::BAD_REQUEST,
                group_form_page(
                    st,
                    auth,
                    id,
                    &name,
                    comment.as_deref().unwrap_or_default(),
                    &members,
                    &hosts,
                    Some(&m),
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /groups/add`.
pub(crate) async fn group_add(
    State(st): State<AppState>,
    auth: Auth,
    Form(f): Form,
) -> Result<Response> {
    auth.need_to(ModelAction::Add, GROUP)?;
    save_group(&st, &auth, None, &f).await
}

/// `GET /groups/{id}/edit`.
pub(crate) async fn group_edit_form(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Response> {
    auth.need_to(ModelAction::Change, GROUP)?;
    let (g, members, hosts) = st
        .store()
        .blocking(move |c| {
            Ok((
                minke_store::get_group(c, id)?,
                minke_store::group_members(c, id)?,
                minke_store::all_hosts(c)?,
            ))
        })
        .await?;
    Ok(html::respond(
        StatusCode::OK,
        group_form_page(
            &st,
            &auth,
            Some(id),
            &g.name,
            g.comment.as_deref().unwrap_or_default(),
            &members.into_iter().collect(),
            &hosts,
            None,
        ),
    ))
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
