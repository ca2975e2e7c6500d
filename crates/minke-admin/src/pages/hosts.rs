//! Hosts and host groups: lists, add, edit, disable.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::MinkeModel as _;
use minke_core::{AuditAction, HostId, HostKeyPolicy, Lines};
use minke_runtime::{GROUP, ModelAction};
use minke_store::{
    Actor, Conn, HostGroupRecord, HostRecord, NewHost, Order, Query, StoredModel as _,
};

use crate::auth::Auth;
use crate::forms::{Form, Pairs, QueryPairs, encode};
use crate::layout::{Layout, render};
use crate::pages::{Choice, Pager, Window, back, total_beside};
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

impl HostForm {
    /// The form of a new host: port 22, in no group.
    fn blank() -> HostForm {
        HostForm {
            host: NewHost::new(""),
            port_text: "22".into(),
            groups: BTreeSet::new(),
            errors: BTreeMap::new(),
        }
    }

    /// The form of a stored host in its groups.
    fn stored(h: HostRecord, groups: impl IntoIterator<Item = i64>) -> HostForm {
        HostForm {
            port_text: h.port.to_string(),
            host: NewHost {
                name: h.name,
                hostname: h.hostname,
                port: h.port,
                username: h.username,
                identity_files: h.identity_files,
                host_key_policy: h.host_key_policy,
                known_hosts: h.known_hosts,
                disabled: h.disabled,
                comment: h.comment,
                jump_host_id: h.jump_host_id,
                jump_only: h.jump_only,
                options: h.options,
            },
            groups: groups.into_iter().collect(),
            errors: BTreeMap::new(),
        }
    }
}

fn opt(p: &Pairs, name: &str) -> Option<String> {
    p.text(name).map(str::to_owned)
}

/// The fields that act on the serving machine (a command run there, its agent, its
/// files, what commands inherit): only superusers set them.
const SUPERUSER_FIELDS: [&str; 4] = [
    "proxy_command",
    "forward_agent",
    "environment",
    "certificate_files",
];

/// A count field of the form: empty is 0.
fn count_field(p: &Pairs, name: &'static str, errors: &mut BTreeMap<&'static str, String>) -> u32 {
    let text = p.text(name).unwrap_or("0");
    text.parse().unwrap_or_else(|_| {
        errors.insert(
            name,
            format!("`{text}` is not a whole number of 0 or more."),
        );
        0
    })
}

/// Reads the host form. The options only superusers set are taken from it for a
/// superuser; for others, one given is refused, and the stored ones stay (see
/// [`save_host`]).
fn read_host(p: &Pairs, superuser: bool) -> Result<HostForm> {
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
    let ticked = |name: &str| p.get(name).is_some_and(|v| v == "1" || v == "on");
    let mut options = minke_store::HostOptions {
        become_user: opt(p, "become_user"),
        keepalive_interval: count_field(p, "keepalive_interval", &mut errors),
        keepalive_count_max: count_field(p, "keepalive_count_max", &mut errors),
        ..Default::default()
    };
    if superuser {
        options.proxy_command = opt(p, "proxy_command");
        options.forward_agent = ticked("forward_agent");
        options.environment = Lines::parse(p.text("environment").unwrap_or_default());
        options.certificate_files = Lines::parse(p.text("certificate_files").unwrap_or_default());
        for entry in options.environment.iter() {
            if let Err(e) = minke_store::environment_entry(entry) {
                errors.insert("environment", sentence(&e));
                break;
            }
        }
    } else if let Some(name) = SUPERUSER_FIELDS.iter().find(|n| p.get(n).is_some()) {
        // Not a field of this user's form: said above the form.
        errors.insert(
            "form",
            format!(
                "Only superusers may set a host's proxy command, agent forwarding, environment or certificate files (`{name}` was given)."
            ),
        );
    }
    Ok(HostForm {
        host: NewHost {
            name,
            hostname: opt(p, "hostname"),
            port,
            username: opt(p, "username"),
            identity_files: Lines::parse(p.text("identity_files").unwrap_or_default()),
            host_key_policy: policy.to_owned(),
            known_hosts: opt(p, "known_hosts"),
            disabled: ticked("disabled"),
            comment: opt(p, "comment"),
            jump_host_id,
            jump_only: ticked("jump_only"),
            options,
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

/// A field of the host form, as the template shows it.
struct HostField {
    name: &'static str,
    label: &'static str,
    /// What was typed or stored (a text input or area).
    value: String,
    input: Input,
    help: &'static str,
    error: Option<String>,
}

/// How a field of the host form is entered.
enum Input {
    /// One line of text.
    Text,
    /// One entry per line.
    Lines,
    /// A menu of choices.
    Menu(Vec<Choice>),
    /// A box to tick, ticked or not.
    Check(bool),
}

impl HostField {
    /// A text input.
    fn text(
        name: &'static str,
        label: &'static str,
        value: impl Into<String>,
        help: &'static str,
    ) -> HostField {
        HostField {
            name,
            label,
            value: value.into(),
            input: Input::Text,
            help,
            error: None,
        }
    }

    /// A text area, one entry per line.
    fn lines(
        name: &'static str,
        label: &'static str,
        value: &Lines,
        help: &'static str,
    ) -> HostField {
        HostField {
            input: Input::Lines,
            ..HostField::text(name, label, value.as_text(), help)
        }
    }

    /// A box to tick.
    fn check(name: &'static str, label: &'static str, on: bool, help: &'static str) -> HostField {
        HostField {
            input: Input::Check(on),
            ..HostField::text(name, label, "", help)
        }
    }

    /// A menu.
    fn menu(
        name: &'static str,
        label: &'static str,
        choices: Vec<Choice>,
        help: &'static str,
    ) -> HostField {
        HostField {
            input: Input::Menu(choices),
            ..HostField::text(name, label, "", help)
        }
    }
}

/// A box to tick: a group of the host, a host of the group.
struct Pick {
    id: i64,
    name: String,
    checked: bool,
}

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

/// The host key policies offered: value and label.
const POLICIES: [(&str, &str); 3] = [
    ("strict", "strict: must be known"),
    ("accept-new", "accept-new: learn unknown keys"),
    ("off", "off: accept any key"),
];

/// The host form's fields in order, each with its problem.
fn host_fields(form: &HostForm, hosts: &[HostRecord], superuser: bool) -> Vec<HostField> {
    let h = &form.host;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let policies = POLICIES
        .iter()
        .map(|(value, label)| Choice::new(*value, *label, &h.host_key_policy))
        .collect();
    let mut fields = vec![
        HostField::text("name", "Name", &h.name, "unique, like an ssh_config alias"),
        HostField::text(
            "hostname",
            "Address",
            text(&h.hostname),
            "the name is used when empty",
        ),
        HostField::text("port", "Port", &form.port_text, "1 to 65535"),
        HostField::text(
            "username",
            "User",
            text(&h.username),
            "the local user when empty",
        ),
        HostField::lines(
            "identity_files",
            "Identity files",
            &h.identity_files,
            "private key files on this machine, one per line, tried in order",
        ),
        HostField::menu("host_key_policy", "Host keys", policies, ""),
        HostField::text(
            "known_hosts",
            "known_hosts file",
            text(&h.known_hosts),
            "~/.ssh/known_hosts when empty",
        ),
        HostField::menu(
            "jump_host_id",
            "Jump host",
            jump_choices(h, hosts),
            "connect through this host (ProxyJump)",
        ),
        HostField::text(
            "become_user",
            "Become user",
            text(&h.options.become_user),
            "the user sudo runs `become` commands as; root when empty",
        ),
        HostField::text(
            "keepalive_interval",
            "Keepalive every (s)",
            h.options.keepalive_interval.to_string(),
            "ServerAliveInterval: 0 uses the engine's setting",
        ),
        HostField::text(
            "keepalive_count_max",
            "Keepalives unanswered",
            h.options.keepalive_count_max.to_string(),
            "ServerAliveCountMax: lost after this many (0: 3)",
        ),
        HostField::check(
            "jump_only",
            "Jump host only",
            h.jump_only,
            "listed, never selected by \"all\"",
        ),
        HostField::text("comment", "Comment", text(&h.comment), ""),
    ];
    if superuser {
        fields.extend([
            HostField::lines(
                "certificate_files",
                "Certificate files",
                &h.options.certificate_files,
                "OpenSSH user certificates on this machine, one per line",
            ),
            HostField::text(
                "proxy_command",
                "Proxy command",
                text(&h.options.proxy_command),
                "run here by sh -c, its stdio carries the connection (%h %p %r %n); excludes a jump host",
            ),
            HostField::check(
                "forward_agent",
                "Forward agent",
                h.options.forward_agent,
                "the host's commands may use this machine's ssh-agent",
            ),
            HostField::lines(
                "environment",
                "Environment",
                &h.options.environment,
                "NAME=value per line (SetEnv; the server's AcceptEnv decides)",
            ),
        ]);
    }
    for f in &mut fields {
        f.error = form.errors.get(f.name).cloned();
    }
    fields
}

/// The jump hosts offered: none, or any host but this one.
fn jump_choices(h: &NewHost, hosts: &[HostRecord]) -> Vec<Choice> {
    let current = h.jump_host_id.map(|j| j.to_string()).unwrap_or_default();
    let mut choices = vec![Choice::new("", "none: connect directly", &current)];
    choices.extend(
        hosts
            .iter()
            .filter(|x| x.name != h.name)
            .map(|x| Choice::new(x.id.to_string(), x.name.as_str(), &current)),
    );
    choices
}

/// The form adding a host (`id` none) or changing one.
fn host_form_page(
    st: &AppState,
    auth: &Auth,
    id: Option<HostId>,
    form: &HostForm,
    choices: &Choices,
    error: Option<String>,
) -> HostFormPage {
    let (title, action) = match id {
        None => ("Add a host", st.url("/hosts/add")),
        Some(i) => ("Edit host", st.url(&format!("/hosts/{i}/edit"))),
    };
    HostFormPage {
        layout: Layout::new(st, Some(auth), title),
        csrf: auth.csrf.clone().unwrap_or_default(),
        action,
        error,
        fields: host_fields(form, &choices.hosts, auth.user.is_superuser),
        disabled: form.host.disabled,
        groups: choices
            .groups
            .iter()
            .map(|g| Pick {
                id: g.id,
                name: g.name.clone(),
                checked: form.groups.contains(&g.id),
            })
            .collect(),
    }
}

/// `GET /hosts/add`.
pub(crate) async fn add_form(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    auth.need_to(ModelAction::Add, HOST)?;
    let choices = choices(&st).await?;
    let page = host_form_page(&st, &auth, None, &HostForm::blank(), &choices, None);
    render(StatusCode::OK, &page)
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

async fn save_host(st: &AppState, auth: &Auth, id: Option<HostId>, f: &Pairs) -> Result<Response> {
    let mut form = read_host(f, auth.user.is_superuser)?;
    if !auth.user.is_superuser
        && let Some(i) = id
    {
        // What only superusers set stays as stored.
        let old = st
            .store()
            .blocking(move |c| HostRecord::load_one(c, i.get()))
            .await?;
        let o = &mut form.host.options;
        o.proxy_command = old.options.proxy_command;
        o.forward_agent = old.options.forward_agent;
        o.environment = old.options.environment;
        o.certificate_files = old.options.certificate_files;
    }
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

/// The host form again, refused (400) with its problems and what was typed.
async fn host_form_again(
    st: &AppState,
    auth: &Auth,
    id: Option<HostId>,
    form: &HostForm,
    error: Option<String>,
) -> Result<Response> {
    let choices = choices(st).await?;
    let page = host_form_page(st, auth, id, form, &choices, error);
    render(StatusCode::BAD_REQUEST, &page)
}

/// Refuses a jump host that is the host itself or does not exist.
fn check_jump(c: &mut Conn, id: Option<HostId>, jump: Option<HostId>) -> minke_store::Result<()> {
    let Some(j) = jump else {
        return Ok(());
    };
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
    check_jump(c, id, host.jump_host_id)?;
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
    let form = HostForm::stored(h, member.into_iter().map(|(_, g)| g));
    let choices = choices(&st).await?;
    let page = host_form_page(&st, &auth, Some(id), &form, &choices, None);
    render(StatusCode::OK, &page)
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

/// A group as the groups page lists it.
struct GroupRow {
    id: i64,
    name: String,
    comment: String,
    /// The names of its hosts.
    hosts: Vec<String>,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    layout: Layout,
    can_add: bool,
    groups: Vec<GroupRow>,
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
    let page = GroupsPage {
        layout: Layout::new(&st, Some(&auth), "Host groups"),
        can_add: auth.may(ModelAction::Add, GROUP),
        groups: group_rows(groups, &hosts, &members),
    };
    render(StatusCode::OK, &page)
}

/// The groups with the names of their hosts.
fn group_rows(
    groups: Vec<HostGroupRecord>,
    hosts: &[HostRecord],
    members: &[(HostId, i64)],
) -> Vec<GroupRow> {
    let host_names: BTreeMap<HostId, &str> =
        hosts.iter().map(|h| (h.id, h.name.as_str())).collect();
    groups
        .into_iter()
        .map(|g| GroupRow {
            hosts: members
                .iter()
                .filter(|(_, gid)| *gid == g.id)
                .filter_map(|(h, _)| host_names.get(h).map(|n| (*n).to_owned()))
                .collect(),
            id: g.id,
            name: g.name,
            comment: g.comment.unwrap_or_default(),
        })
        .collect()
}

/// The group form's values.
#[derive(Default)]
struct GroupForm {
    name: String,
    comment: String,
    members: BTreeSet<HostId>,
}

#[derive(Template)]
#[template(path = "group_form.html")]
struct GroupFormPage {
    layout: Layout,
    csrf: String,
    action: String,
    /// What the store refused (the name, mostly).
    error: Option<String>,
    name: String,
    comment: String,
    /// Every host, ticked when in the group.
    hosts: Vec<Pick>,
    /// Where a stored group is deleted.
    delete: Option<String>,
}

/// The form adding a group (`id` none) or changing one.
fn group_form_page(
    st: &AppState,
    auth: &Auth,
    id: Option<i64>,
    form: GroupForm,
    hosts: &[HostRecord],
    error: Option<String>,
) -> GroupFormPage {
    let (title, action) = match id {
        None => ("Add a group", st.url("/groups/add")),
        Some(i) => ("Edit group", st.url(&format!("/groups/{i}/edit"))),
    };
    GroupFormPage {
        layout: Layout::new(st, Some(auth), title),
        csrf: auth.csrf.clone().unwrap_or_default(),
        action,
        error,
        hosts: hosts
            .iter()
            .map(|h| Pick {
                id: h.id.get(),
                name: h.name.clone(),
                checked: form.members.contains(&h.id),
            })
            .collect(),
        name: form.name,
        comment: form.comment,
        delete: id.map(|i| st.url(&format!("/groups/{i}/delete"))),
    }
}

/// `GET /groups/add`.
pub(crate) async fn group_add_form(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    auth.need_to(ModelAction::Add, GROUP)?;
    let hosts = st.store().blocking(minke_store::all_hosts).await?;
    let page = group_form_page(&st, &auth, None, GroupForm::default(), &hosts, None);
    render(StatusCode::OK, &page)
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
        .write(move |c| store_group(c, &actor, id, &n, cm.as_deref(), &list))
        .await;
    match saved {
        Ok(gid) => {
            tracing::info!(group = %name, id = gid, user = %auth.user.username, "host group saved");
            Ok(Redirect::to(&st.url("/groups")).into_response())
        }
        Err(minke_store::Error::BadQuery(m)) => {
            let hosts = st.store().blocking(minke_store::all_hosts).await?;
            let form = GroupForm {
                name,
                comment: comment.unwrap_or_default(),
                members,
            };
            let page = group_form_page(st, auth, id, form, &hosts, Some(m));
            render(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds a group (`id` none) or changes one, sets its hosts and writes the audit
/// entry: the group's id.
fn store_group(
    c: &mut Conn,
    actor: &Actor,
    id: Option<i64>,
    name: &str,
    comment: Option<&str>,
    hosts: &[HostId],
) -> minke_store::Result<i64> {
    let (gid, what) = match id {
        None => (minke_store::create_group(c, name, comment)?, "added"),
        Some(i) => {
            minke_store::update_group(c, i, name, comment)?;
            (i, "changed")
        }
    };
    minke_store::set_group_members(c, gid, hosts)?;
    let hosts: Vec<i64> = hosts.iter().map(|h| h.get()).collect();
    minke_store::record_audit(
        c,
        actor,
        AuditAction::GroupChanged,
        &format!("group {name} ({gid})"),
        &format!("{what}; hosts {hosts:?}"),
    )?;
    Ok(gid)
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
    let form = GroupForm {
        name: g.name,
        comment: g.comment.unwrap_or_default(),
        members: members.into_iter().collect(),
    };
    render(
        StatusCode::OK,
        &group_form_page(&st, &auth, Some(id), form, &hosts, None),
    )
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
