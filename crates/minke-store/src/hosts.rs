//! Minke's own host table.

use std::path::PathBuf;

use diesel::prelude::*;
use minke_core::{
    FieldMeta, FieldType, Host, HostId, HostKeyPolicy, HostTarget, Keepalive, Lines, MinkeModel,
    ModelMeta, References, Value,
};
use serde::{Deserialize, Serialize};

pub use crate::host_options::HostOptions;
use crate::schema::minke_hosts as h;
use crate::{
    Conn, Error, Op, Query, Result, StoredModel, check_query, condition_value, like_pattern,
    with_conn,
};

/// A host in Minke's own `minke_hosts` table: the ready-made [`Host`] model.
///
/// Sessions may work on hosts directly (`work_on(HostRecord)`), and user models point
/// at it with a `host_id` column.
#[derive(
    Clone, Debug, PartialEq, Eq, Queryable, Selectable, Identifiable, Serialize, Deserialize,
)]
#[diesel(table_name = h)]
pub struct HostRecord {
    /// Primary key.
    pub id: HostId,
    /// Unique name, like an ssh_config alias.
    pub name: String,
    /// Address or DNS name; the name is used when empty.
    pub hostname: Option<String>,
    /// TCP port.
    pub port: i32,
    /// Remote user; the local user when empty.
    pub username: Option<String>,
    /// Private key files, in order (after the agent's keys).
    pub identity_files: Lines,
    /// `strict`, `accept-new` or `off`.
    pub host_key_policy: String,
    /// known_hosts file; `~/.ssh/known_hosts` when empty.
    pub known_hosts: Option<String>,
    /// Disabled hosts are never contacted.
    pub disabled: bool,
    /// Free text.
    pub comment: Option<String>,
    /// The host to connect through (like OpenSSH's `ProxyJump`).
    pub jump_host_id: Option<HostId>,
    /// Only a jump host for others (made by an import for a `ProxyJump` that names
    /// no host of the file): listed, never selected as a target by "all".
    pub jump_only: bool,
    /// The other OpenSSH options: certificates, proxy command, agent forwarding,
    /// environment, `become` user, keepalives.
    pub options: HostOptions,
}

/// A host to insert or update (by name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Insertable, AsChangeset, Serialize, Deserialize)]
#[diesel(table_name = h, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct NewHost {
    /// Unique name.
    pub name: String,
    /// Address or DNS name.
    pub hostname: Option<String>,
    /// TCP port (22 when unset).
    pub port: i32,
    /// Remote user.
    pub username: Option<String>,
    /// Private key files, in order.
    pub identity_files: Lines,
    /// `strict`, `accept-new` or `off`.
    pub host_key_policy: String,
    /// known_hosts file.
    pub known_hosts: Option<String>,
    /// Disabled hosts are never contacted.
    pub disabled: bool,
    /// Free text.
    pub comment: Option<String>,
    /// The host to connect through (like OpenSSH's `ProxyJump`).
    pub jump_host_id: Option<HostId>,
    /// Only a jump host for others (made by an import for a `ProxyJump` that names
    /// no host of the file): listed, never selected as a target by "all".
    pub jump_only: bool,
    /// The other OpenSSH options: certificates, proxy command, agent forwarding,
    /// environment, `become` user, keepalives.
    pub options: HostOptions,
}

/// A field's value as the audit log shows it.
trait Shown {
    fn shown(&self) -> String;
}

impl Shown for String {
    fn shown(&self) -> String {
        format!("`{self}`")
    }
}

impl Shown for Option<String> {
    fn shown(&self) -> String {
        self.as_ref()
            .map_or_else(|| "none".to_owned(), Shown::shown)
    }
}

impl Shown for Option<HostId> {
    fn shown(&self) -> String {
        self.map_or_else(|| "none".to_owned(), |id| format!("host {id}"))
    }
}

impl Shown for Lines {
    fn shown(&self) -> String {
        if self.is_empty() {
            "none".to_owned()
        } else {
            format!("`{self}`")
        }
    }
}

impl Shown for i32 {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for u32 {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for bool {
    fn shown(&self) -> String {
        if *self { "yes" } else { "no" }.to_owned()
    }
}

impl NewHost {
    /// What saving `self` over `old` changes, for the audit log: ``port: 22 → 2222;
    /// comment: none → `db` ``; empty when nothing changes.
    pub fn changes_from(&self, old: &HostRecord) -> String {
        let mut out: Vec<String> = Vec::new();
        macro_rules! changed {
            ($new:expr, $old:expr; $($f:ident),+) => {$(
                if $new.$f != $old.$f {
                    out.push(format!(
                        "{}: {} → {}",
                        stringify!($f),
                        $old.$f.shown(),
                        $new.$f.shown()
                    ));
                }
            )+};
        }
        changed!(self, old;
            name,
            hostname,
            port,
            username,
            identity_files,
            host_key_policy,
            known_hosts,
            disabled,
            comment,
            jump_host_id,
            jump_only
        );
        changed!(self.options, old.options;
            certificate_files,
            proxy_command,
            forward_agent,
            environment,
            become_user,
            keepalive_interval,
            keepalive_count_max
        );
        out.join("; ")
    }

    /// A host with port 22 and the strict host key policy.
    pub fn new(name: impl Into<String>) -> Self {
        NewHost {
            name: name.into(),
            port: 22,
            host_key_policy: "strict".into(),
            ..NewHost::default()
        }
    }

    /// Checks the port range and the host key policy.
    pub fn validate(&self) -> Result<()> {
        check_host_name(&self.name)?;
        if !(1..=65535).contains(&self.port) {
            return Err(Error::BadQuery(format!(
                "host `{}`: port {} is not in 1..65535",
                self.name, self.port
            )));
        }
        self.host_key_policy.parse::<HostKeyPolicy>()?;
        let bad = |what: String| Error::BadQuery(format!("host `{}`: {what}", self.name));
        let o = &self.options;
        for entry in o.environment.iter() {
            environment_entry(entry).map_err(bad)?;
        }
        if o.keepalive_interval > 86_400 {
            return Err(bad(format!(
                "keepalive interval {} s is over a day",
                o.keepalive_interval
            )));
        }
        if o.keepalive_count_max > 1000 {
            return Err(bad(format!(
                "keepalive count {} is over 1000",
                o.keepalive_count_max
            )));
        }
        if let Some(user) = &o.become_user
            && (user.is_empty() || user.starts_with('-') || user.contains(char::is_whitespace))
        {
            return Err(bad(format!(
                "become user \"{}\" is not a user name",
                user.escape_debug()
            )));
        }
        if o.proxy_command
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(bad("the proxy command is empty".into()));
        }
        if o.proxy_command.is_some() && self.jump_host_id.is_some() {
            return Err(bad(
                "a proxy command and a jump host exclude each other (as in OpenSSH)".into(),
            ));
        }
        Ok(())
    }
}

/// Splits an environment entry `NAME=value`; the name is a shell variable name.
///
/// ```
/// assert_eq!(minke_store::environment_entry("LANG=C.UTF-8").unwrap(), ("LANG", "C.UTF-8"));
/// assert!(minke_store::environment_entry("no equals").is_err());
/// assert!(minke_store::environment_entry("1X=y").is_err());
/// ```
pub fn environment_entry(entry: &str) -> std::result::Result<(&str, &str), String> {
    let (name, value) = entry
        .split_once('=')
        .ok_or_else(|| format!("environment entry `{entry}` is not NAME=value"))?;
    let mut chars = name.chars();
    let good = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if good {
        Ok((name, value))
    } else {
        Err(format!(
            "environment entry `{entry}`: `{name}` is not a variable name"
        ))
    }
}

/// Checks a host name: not empty, no `/`, no control characters, no leading `-`
/// (a name ends up in file names like `DIR/NAME.stdout` and on command lines).
///
/// ```
/// use minke_store::check_host_name;
/// assert!(check_host_name("web-1.example.com").is_ok());
/// assert!(check_host_name("../escaped").is_err());
/// assert!(check_host_name("-oProxyCommand=x").is_err());
/// assert!(check_host_name("bad\u{1b}]0;title\u{7}").is_err());
/// ```
pub fn check_host_name(name: &str) -> Result<()> {
    let shown = name.escape_debug().to_string();
    let why = if name.trim().is_empty() {
        Some("a host needs a name")
    } else if name.contains('/') {
        Some("it must not contain `/`")
    } else if name.chars().any(char::is_control) {
        Some("it must not contain control characters")
    } else if name.starts_with('-') {
        Some("it must not start with `-`")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(w) if name.trim().is_empty() => Err(Error::BadQuery(w.into())),
        Some(w) => Err(Error::BadQuery(format!(
            "host name \"{shown}\" is not allowed: {w}"
        ))),
    }
}

const FIELDS: &[(&str, &str, bool, bool)] = &[
    ("id", "integer", false, false),
    ("name", "text", true, false),
    ("hostname", "text", true, true),
    ("port", "integer", false, false),
    ("username", "text", true, true),
    ("identity_files", "text", true, true),
    ("host_key_policy", "text", true, false),
    ("known_hosts", "text", true, true),
    ("disabled", "boolean", false, false),
    ("comment", "text", true, true),
    ("jump_host_id", "integer", false, true),
    ("certificate_files", "text", true, true),
    ("proxy_command", "text", true, true),
    ("forward_agent", "boolean", false, false),
    ("environment", "text", true, true),
    ("become_user", "text", true, true),
    ("keepalive_interval", "integer", false, false),
    ("keepalive_count_max", "integer", false, false),
    ("jump_only", "boolean", false, false),
];

impl MinkeModel for HostRecord {
    const NAME: &'static str = "host";

    fn meta() -> ModelMeta {
        ModelMeta {
            name: Self::NAME,
            verbose_name: "host".into(),
            verbose_name_plural: "hosts".into(),
            fields: FIELDS
                .iter()
                .map(|&(name, type_name, is_text, optional)| FieldMeta {
                    name,
                    type_name,
                    is_text,
                    optional,
                    // Hosts reach others through their jump host.
                    references: (name == "jump_host_id").then_some(References::Host),
                    ..FieldMeta::default()
                })
                .collect(),
            id: "id",
            table: "minke_hosts",
            label: "name",
            list: vec!["name", "hostname", "port", "username", "disabled"],
            search: vec!["name", "hostname", "comment"],
            filter: vec![
                "id",
                "name",
                "hostname",
                "port",
                "username",
                "host_key_policy",
                "disabled",
                "jump_only",
            ],
            // Hosts have their own pages and checks (`/hosts`, `hosts add`).
            writable: false,
            cascade: false,
            search_index: Some(SEARCH_INDEX),
        }
    }

    fn id(&self) -> i64 {
        self.id.get()
    }

    fn label(&self) -> String {
        self.name.clone()
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "id" => self.id.get().to_value(),
            "name" => self.name.to_value(),
            "hostname" => self.hostname.to_value(),
            "port" => self.port.to_value(),
            "username" => self.username.to_value(),
            "identity_files" => Value::Text(self.identity_files.as_text().to_owned()),
            "host_key_policy" => self.host_key_policy.to_value(),
            "known_hosts" => self.known_hosts.to_value(),
            "disabled" => self.disabled.to_value(),
            "comment" => self.comment.to_value(),
            "jump_host_id" => self.jump_host_id.map(HostId::get).to_value(),
            "jump_only" => self.jump_only.to_value(),
            "certificate_files" => Value::Text(self.options.certificate_files.as_text().to_owned()),
            "proxy_command" => self.options.proxy_command.to_value(),
            "forward_agent" => self.options.forward_agent.to_value(),
            "environment" => Value::Text(self.options.environment.as_text().to_owned()),
            "become_user" => self.options.become_user.to_value(),
            "keepalive_interval" => i64::from(self.options.keepalive_interval).to_value(),
            "keepalive_count_max" => i64::from(self.options.keepalive_count_max).to_value(),
            _ => return None,
        })
    }

    fn set_field(&mut self, name: &str, value: Value) -> minke_core::Result<()> {
        let wrap = |e: minke_core::Error| minke_core::Error::Field {
            model: Self::NAME.into(),
            field: name.into(),
            problem: e.to_string(),
        };
        match name {
            "name" => self.name = FieldType::from_value(value).map_err(wrap)?,
            "hostname" => self.hostname = FieldType::from_value(value).map_err(wrap)?,
            "port" => self.port = FieldType::from_value(value).map_err(wrap)?,
            "username" => self.username = FieldType::from_value(value).map_err(wrap)?,
            "identity_files" => {
                let text: Option<String> = FieldType::from_value(value).map_err(wrap)?;
                self.identity_files = Lines::parse(&text.unwrap_or_default());
            }
            "jump_only" => self.jump_only = FieldType::from_value(value).map_err(wrap)?,
            "certificate_files" => {
                let text: Option<String> = FieldType::from_value(value).map_err(wrap)?;
                self.options.certificate_files = Lines::parse(&text.unwrap_or_default());
            }
            "environment" => {
                let text: Option<String> = FieldType::from_value(value).map_err(wrap)?;
                self.options.environment = Lines::parse(&text.unwrap_or_default());
            }
            "proxy_command" => {
                self.options.proxy_command = FieldType::from_value(value).map_err(wrap)?
            }
            "forward_agent" => {
                self.options.forward_agent = FieldType::from_value(value).map_err(wrap)?
            }
            "become_user" => {
                self.options.become_user = FieldType::from_value(value).map_err(wrap)?
            }
            "keepalive_interval" | "keepalive_count_max" => {
                let n: i64 = FieldType::from_value(value).map_err(wrap)?;
                let n = u32::try_from(n).map_err(|_| minke_core::Error::Field {
                    model: Self::NAME.into(),
                    field: name.into(),
                    problem: format!("{n} is not a count of 0 or more"),
                })?;
                if name == "keepalive_interval" {
                    self.options.keepalive_interval = n;
                } else {
                    self.options.keepalive_count_max = n;
                }
            }
            "host_key_policy" => {
                self.host_key_policy = FieldType::from_value(value).map_err(wrap)?
            }
            "known_hosts" => self.known_hosts = FieldType::from_value(value).map_err(wrap)?,
            "disabled" => self.disabled = FieldType::from_value(value).map_err(wrap)?,
            "comment" => self.comment = FieldType::from_value(value).map_err(wrap)?,
            "jump_host_id" => {
                let id: Option<i64> = FieldType::from_value(value).map_err(wrap)?;
                self.jump_host_id = id.map(HostId::new);
            }
            _ => {
                return Err(minke_core::Error::Field {
                    model: Self::NAME.into(),
                    field: name.into(),
                    problem: "no such writable field".into(),
                });
            }
        }
        Ok(())
    }
}

macro_rules! compare {
    ($q:ident, $col:expr, $op:expr, $v:expr) => {
        match $op {
            Op::Eq => $q.filter($col.eq($v)),
            Op::Ne => $q.filter($col.ne($v)),
            Op::Lt => $q.filter($col.lt($v)),
            Op::Le => $q.filter($col.le($v)),
            Op::Gt => $q.filter($col.gt($v)),
            Op::Ge => $q.filter($col.ge($v)),
            Op::Contains => unreachable!("checked by check_query"),
        }
    };
}

macro_rules! text_compare {
    ($q:ident, $col:expr, $op:expr, $v:expr) => {
        match $op {
            Op::Contains => $q.filter($col.like(like_pattern(&$v)).escape('\\')),
            _ => compare!($q, $col, $op, $v),
        }
    };
}

/// The FTS5 trigram index of the hosts' searched columns on SQLite.
const SEARCH_INDEX: &str = "minke_hosts_search";

macro_rules! filtered {
    ($query:expr, $B:ident, $sqlite:expr) => {{
        let query: &Query = $query;
        check_query(&HostRecord::meta(), query)?;
        let mut q = h::table.into_boxed::<$B>();
        for c in &query.conditions {
            let m = HostRecord::NAME;
            q = match c.field.as_str() {
                "id" => compare!(q, h::id, c.op, condition_value::<i64>(m, c)?),
                "name" => text_compare!(q, h::name, c.op, condition_value::<String>(m, c)?),
                "hostname" => text_compare!(q, h::hostname, c.op, condition_value::<String>(m, c)?),
                "port" => compare!(q, h::port, c.op, condition_value::<i32>(m, c)?),
                "username" => text_compare!(q, h::username, c.op, condition_value::<String>(m, c)?),
                "host_key_policy" => text_compare!(
                    q,
                    h::host_key_policy,
                    c.op,
                    condition_value::<String>(m, c)?
                ),
                "disabled" => compare!(q, h::disabled, c.op, condition_value::<bool>(m, c)?),
                "jump_only" => compare!(q, h::jump_only, c.op, condition_value::<bool>(m, c)?),
                other => {
                    return Err(Error::BadQuery(format!(
                        "model `host` has no filterable field `{other}`"
                    )));
                }
            };
        }
        match &query.search {
            // PostgreSQL's trigram indexes serve `LIKE`; SQLite has its FTS5 index.
            Some(text) if $sqlite && crate::trigram_searchable(text) => {
                q = q.filter(crate::text_index_has("id", SEARCH_INDEX, text));
            }
            Some(text) => {
                let p = like_pattern(text);
                q = q.filter(
                    h::name
                        .like(p.clone())
                        .escape('\\')
                        .nullable()
                        .or(h::hostname.like(p.clone()).escape('\\'))
                        .or(h::comment.like(p).escape('\\')),
                );
            }
            None => {}
        }
        if let Some(ids) = &query.ids {
            q = q.filter(h::id.eq_any(ids.clone()));
        }
        if let Some(ids) = &query.parents {
            q = q.filter(h::jump_host_id.eq_any(ids.clone()));
        }
        if let Some(status) = query.last_status {
            q = q.filter(crate::last_status_is("id", HostRecord::NAME, status));
        }
        for &group in &query.in_groups {
            q = q.filter(in_group(group));
        }
        q
    }};
}

/// "The host is a member of `group`", probed per host on the members' primary key
/// (`host_id`, `group_id`): a page in any order reads as many hosts as it shows, where
/// `id IN (members)` made SQLite read and sort every member first.
fn in_group(
    group: i64,
) -> diesel::expression::SqlLiteral<
    diesel::sql_types::Bool,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<diesel::sql_types::Bool>,
        diesel::dsl::AsExprOf<i64, diesel::sql_types::BigInt>,
    >,
> {
    diesel::dsl::sql::<diesel::sql_types::Bool>(
        "EXISTS (SELECT 1 FROM minke_host_group_members WHERE host_id = minke_hosts.id AND group_id = ",
    )
    .bind::<diesel::sql_types::BigInt, _>(group)
    .sql(")")
}

/// The group, when a query selects the members of one host group and nothing else
/// (order, limit and offset aside): its count is the members', read from their index
/// (a member is always a host: members are deleted with their host).
fn group_alone(query: &Query) -> Option<i64> {
    let [group] = query.in_groups[..] else {
        return None;
    };
    let alone = Query {
        in_groups: vec![group],
        ..Query::all()
    };
    (query.selection() == alone).then_some(group)
}

/// Orders a boxed query of hosts as `query.order` asks, then by id the same way.
macro_rules! ordered {
    ($q:ident, $query:expr, $($field:literal => $col:expr),+ $(,)?) => {
        match &$query.order {
            None => $q.order(h::id.asc()),
            Some(o) => match (o.field.as_str(), o.descending) {
                ("id", false) => $q.order(h::id.asc()),
                ("id", true) => $q.order(h::id.desc()),
                $(
                    ($field, false) => $q.order(($col.asc(), h::id.asc())),
                    ($field, true) => $q.order(($col.desc(), h::id.desc())),
                )+
                (other, _) => {
                    return Err(Error::BadQuery(format!(
                        "model `host` cannot be ordered by `{other}`: it has no such field"
                    )));
                }
            },
        }
    };
}

impl StoredModel for HostRecord {
    fn load(conn: &mut Conn, query: &Query) -> Result<Vec<Self>> {
        crate::load_in_chunks(conn, query, |conn, query| {
            let sqlite = conn.is_sqlite();
            with_conn!(conn, |c, B| {
                let q = filtered!(query, B, sqlite);
                let mut q = ordered!(q, query,
                    "name" => h::name,
                    "hostname" => h::hostname,
                    "port" => h::port,
                    "username" => h::username,
                    "identity_files" => h::identity_files,
                    "host_key_policy" => h::host_key_policy,
                    "known_hosts" => h::known_hosts,
                    "disabled" => h::disabled,
                    "comment" => h::comment,
                    "jump_host_id" => h::jump_host_id,
                    "jump_only" => h::jump_only,
                );
                if let Some(l) = query.limit {
                    q = q.limit(l);
                }
                if let Some(o) = query.offset {
                    q = q.offset(o);
                }
                q.select(HostRecord::as_select())
                    .load(c)
                    .map_err(Error::query("loading hosts"))
            })
        })
    }

    fn count(conn: &mut Conn, query: &Query) -> Result<i64> {
        if let Some(group) = group_alone(query) {
            let counted = crate::group_member_counts(conn, &[group])?;
            return Ok(counted.first().map_or(0, |&(_, n)| n));
        }
        crate::count_in_chunks(conn, query, |conn, query| {
            let sqlite = conn.is_sqlite();
            with_conn!(conn, |c, B| filtered!(query, B, sqlite)
                .count()
                .get_result(c)
                .map_err(Error::query("counting hosts")))
        })
    }

    fn save_fields(&self, conn: &mut Conn, fields: &[&str]) -> Result<()> {
        with_conn!(conn, |c, B| {
            for f in fields {
                let target = diesel::update(h::table.find(self.id));
                let r = match *f {
                    "name" => target.set(h::name.eq(&self.name)).execute(c),
                    "hostname" => target.set(h::hostname.eq(&self.hostname)).execute(c),
                    "port" => target.set(h::port.eq(self.port)).execute(c),
                    "username" => target.set(h::username.eq(&self.username)).execute(c),
                    "identity_files" => target
                        .set(h::identity_files.eq(&self.identity_files))
                        .execute(c),
                    "jump_only" => target.set(h::jump_only.eq(self.jump_only)).execute(c),
                    "certificate_files"
                    | "proxy_command"
                    | "forward_agent"
                    | "environment"
                    | "become_user"
                    | "keepalive_interval"
                    | "keepalive_count_max" => target.set(h::options.eq(&self.options)).execute(c),
                    "host_key_policy" => target
                        .set(h::host_key_policy.eq(&self.host_key_policy))
                        .execute(c),
                    "known_hosts" => target.set(h::known_hosts.eq(&self.known_hosts)).execute(c),
                    "disabled" => target.set(h::disabled.eq(self.disabled)).execute(c),
                    "comment" => target.set(h::comment.eq(&self.comment)).execute(c),
                    "jump_host_id" => target.set(h::jump_host_id.eq(self.jump_host_id)).execute(c),
                    other => {
                        return Err(Error::BadQuery(format!(
                            "model `host` has no writable field `{other}`"
                        )));
                    }
                };
                r.map_err(Error::query(format!(
                    "saving field `{f}` of host {}",
                    self.id
                )))?;
            }
            Ok(())
        })
    }

    fn host_id(&self, _conn: &mut Conn) -> Result<HostId> {
        Ok(self.id)
    }

    /// Deletes hosts (their group memberships go with them). Whether others point
    /// at them is the caller's to check first: the engine's deletion does.
    fn delete(conn: &mut Conn, ids: &[i64]) -> Result<usize> {
        let meta = Self::meta();
        with_conn!(conn, |c, B| {
            let mut gone = 0;
            for chunk in ids.chunks(crate::IDS_PER_QUERY) {
                gone += diesel::delete(h::table.filter(h::id.eq_any(chunk)))
                    .execute(c)
                    .map_err(crate::write_error(&meta, "deleting hosts"))?;
            }
            Ok(gone)
        })
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

impl Host for HostRecord {
    fn target(&self) -> HostTarget {
        let mut t = HostTarget::new(
            self.id,
            &self.name,
            self.hostname.clone().unwrap_or_else(|| self.name.clone()),
        );
        t.port = u16::try_from(self.port).unwrap_or(22);
        if let Some(u) = &self.username {
            t.user = u.clone();
        }
        t.identity_files = self.identity_files.iter().map(expand_home).collect();
        t.host_key_policy = self.host_key_policy.parse().unwrap_or_default();
        t.known_hosts = self.known_hosts.as_deref().map(expand_home);
        t.disabled = self.disabled;
        let o = &self.options;
        t.certificate_files = o.certificate_files.iter().map(expand_home).collect();
        t.proxy_command = o.proxy_command.clone();
        t.forward_agent = o.forward_agent;
        t.env = o
            .environment
            .iter()
            .filter_map(|e| environment_entry(e).ok())
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        t.become_user = o.become_user.clone();
        t.keepalive = (o.keepalive_interval > 0).then(|| Keepalive {
            interval: std::time::Duration::from_secs(u64::from(o.keepalive_interval)),
            count_max: if o.keepalive_count_max == 0 {
                3
            } else {
                o.keepalive_count_max
            },
        });
        t
    }

    fn jump_host_id(&self) -> Option<HostId> {
        self.jump_host_id
    }
}

/// Inserts a host, or updates the host of the same name; returns its id.
pub fn upsert_host(conn: &mut Conn, host: &NewHost) -> Result<HostId> {
    host.validate()?;
    with_conn!(conn, |c, B| {
        let existing: Option<HostId> = h::table
            .filter(h::name.eq(&host.name))
            .select(h::id)
            .first(c)
            .optional()
            .map_err(Error::query("looking up a host"))?;
        match existing {
            Some(id) => {
                diesel::update(h::table.find(id))
                    .set(host)
                    .execute(c)
                    .map_err(Error::query(format!("updating host `{}`", host.name)))?;
                Ok(id)
            }
            None => diesel::insert_into(h::table)
                .values(host)
                .returning(h::id)
                .get_result(c)
                .map_err(Error::query(format!("adding host `{}`", host.name))),
        }
    })
}

/// The id of the host of that name.
pub fn host_named(conn: &mut Conn, name: &str) -> Result<Option<HostId>> {
    with_conn!(conn, |c, B| h::table
        .filter(h::name.eq(name))
        .select(h::id)
        .first(c)
        .optional()
        .map_err(Error::query("looking up a host")))
}

/// Adds a host (validated; a taken name is an error). Returns its id.
pub fn insert_host(conn: &mut Conn, host: &NewHost) -> Result<HostId> {
    host.validate()?;
    if host_named(conn, &host.name)?.is_some() {
        return Err(Error::BadQuery(format!(
            "a host named `{}` exists already",
            host.name
        )));
    }
    with_conn!(conn, |c, B| diesel::insert_into(h::table)
        .values(host)
        .returning(h::id)
        .get_result(c)
        .map_err(Error::query(format!("adding host `{}`", host.name))))
}

/// Changes every field of a host (validated; a name taken by another host is an
/// error).
pub fn update_host(conn: &mut Conn, id: HostId, host: &NewHost) -> Result<()> {
    host.validate()?;
    HostRecord::load_one(conn, id.get())?;
    if host_named(conn, &host.name)?.is_some_and(|other| other != id) {
        return Err(Error::BadQuery(format!(
            "a host named `{}` exists already",
            host.name
        )));
    }
    with_conn!(conn, |c, B| diesel::update(h::table.find(id))
        .set(host)
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!("changing host {id}"))))
}

/// Disables or enables a host.
pub fn set_host_disabled(conn: &mut Conn, id: HostId, disabled: bool) -> Result<()> {
    HostRecord::load_one(conn, id.get())?;
    with_conn!(conn, |c, B| diesel::update(h::table.find(id))
        .set(h::disabled.eq(disabled))
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!("changing host {id}"))))
}

/// Every host, by name.
pub fn all_hosts(conn: &mut Conn) -> Result<Vec<HostRecord>> {
    with_conn!(conn, |c, B| h::table
        .order(h::name.asc())
        .select(HostRecord::as_select())
        .load(c)
        .map_err(Error::query("listing hosts")))
}
