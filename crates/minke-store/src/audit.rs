//! The audit log: who did what, when, through which door and from which address.
//!
//! Entries are written by the doors (the admin, the API, the command line), which
//! know who acts: in the transaction of the change they record where there is one,
//! just after it for logins and runs started or stopped. Failed logins are
//! aggregated: one entry per user name, address and minute, with a count, so a
//! flood of them cannot grow the log without bound. Every text is capped and its
//! control characters are escaped before it is stored.

use diesel::prelude::*;
use minke_core::{AuditAction, Via};
use serde::Serialize;

use crate::schema::minke_audit as au;
use crate::{Conn, Error, Result, now_micros, with_conn};

/// Longest actor (user name) kept, in characters.
const MAX_ACTOR: usize = 150;
/// Longest address kept.
const MAX_ADDRESS: usize = 64;
/// Longest target kept.
const MAX_TARGET: usize = 300;
/// Longest detail kept.
const MAX_DETAIL: usize = 2000;

/// Who acts, through which door, from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user's name (for the command line, the `--user` of the invocation).
    pub name: String,
    /// The door.
    pub via: Via,
    /// The client's address, when it came over the network.
    pub address: Option<String>,
}

impl Actor {
    /// Someone at the command line.
    pub fn cli(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            via: Via::Cli,
            address: None,
        }
    }
}

/// An entry of the audit log.
#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = au)]
pub struct AuditRecord {
    /// Id, rising with time.
    pub id: i64,
    /// When (µs since the epoch); for failed logins, the first of their minute.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// Through which door.
    pub via: Via,
    /// From which address.
    pub address: Option<String>,
    /// What.
    pub action: AuditAction,
    /// On what: `user alice`, `host web1`, `run 12`.
    pub target: String,
    /// More about it: the permission granted, the fields changed.
    pub detail: String,
    /// How many times (more than 1 only for failed logins).
    pub count: i32,
}

impl AuditRecord {
    /// Through which door and from where, in a few words: `web 127.0.0.1`, `cli`.
    pub fn door(&self) -> String {
        match &self.address {
            Some(a) => format!("{} {a}", self.via),
            None => self.via.to_string(),
        }
    }

    /// What happened, for people, with how often when more than once: `failed login
    /// ×50`.
    pub fn what(&self) -> String {
        if self.count > 1 {
            format!("{} ×{}", self.action.label(), self.count)
        } else {
            self.action.label().to_owned()
        }
    }
}

/// `text` with its control characters escaped, cut to `max` characters (an ellipsis
/// says that it was).
pub fn clean_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    for (n, c) in text.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes an entry of the audit log.
pub fn record_audit(
    conn: &mut Conn,
    actor: &Actor,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> Result<()> {
    let row = (
        au::at.eq(now_micros()),
        au::actor.eq(clean_text(&actor.name, MAX_ACTOR)),
        au::via.eq(actor.via),
        au::address.eq(actor.address.as_deref().map(|a| clean_text(a, MAX_ADDRESS))),
        au::action.eq(action),
        au::target.eq(clean_text(target, MAX_TARGET)),
        au::detail.eq(clean_text(detail, MAX_DETAIL)),
    );
    with_conn!(conn, |c, B| diesel::insert_into(au::table)
        .values(row.clone())
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!(
            "recording `{action}` in the audit log"
        ))))
}

/// Counts a failed login of the actor's name from its address at `at` (µs): the
/// first of a minute writes an entry, the others of that minute raise its count.
pub fn record_failed_login(conn: &mut Conn, actor: &Actor, at: i64) -> Result<()> {
    let minute = at - at.rem_euclid(60_000_000);
    let name = clean_text(&actor.name, MAX_ACTOR);
    let address = actor.address.as_deref().map(|a| clean_text(a, MAX_ADDRESS));
    let bucket = format!(
        "login_failed {minute} {} {name}",
        address.as_deref().unwrap_or("-")
    );
    let row = (
        au::at.eq(at),
        au::actor.eq(name.clone()),
        au::via.eq(actor.via),
        au::address.eq(address),
        au::action.eq(AuditAction::LoginFailed),
        au::target.eq(format!("user {name}")),
        au::detail.eq(""),
        au::count.eq(1),
        au::bucket.eq(Some(bucket)),
    );
    with_conn!(conn, |c, B| diesel::insert_into(au::table)
        .values(row.clone())
        .on_conflict(au::bucket)
        .do_update()
        .set(au::count.eq(au::count + 1))
        .execute(c)
        .map(drop)
        .map_err(Error::query("counting a failed login in the audit log")))
}

/// Filters and page of the audit log ([`find_audit`]), newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Entries of this actor.
    pub actor: Option<String>,
    /// Entries of this kind.
    pub action: Option<AuditAction>,
    /// Entries whose target contains this text.
    pub target: Option<String>,
    /// Entries at or after this time (µs since the epoch).
    pub from: Option<i64>,
    /// Entries older than the one of this id (the next page).
    pub before: Option<i64>,
    /// Entries newer than the one of this id (the previous page).
    pub after: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// The audit log's entries that `filter` selects, newest first, a page at a time:
/// paged by id (`before`, `after`), so the last page costs what the first does.
pub fn find_audit(conn: &mut Conn, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
    let limit = filter.limit.clamp(1, 1000);
    let mut rows: Vec<AuditRecord> = with_conn!(conn, |c, B| {
        let mut q = au::table.select(AuditRecord::as_select()).into_boxed::<B>();
        if let Some(a) = &filter.actor {
            q = q.filter(au::actor.eq(a.clone()));
        }
        if let Some(a) = filter.action {
            q = q.filter(au::action.eq(a));
        }
        if let Some(t) = &filter.target {
            q = q.filter(au::target.like(crate::like_pattern(t)).escape('\\'));
        }
        if let Some(from) = filter.from {
            q = q.filter(au::at.ge(from));
        }
        if let Some(b) = filter.before {
            q = q.filter(au::id.lt(b));
        }
        if let Some(a) = filter.after {
            q = q.filter(au::id.gt(a)).order(au::id.asc());
        } else {
            q = q.order(au::id.desc());
        }
        q.limit(limit)
            .load(c)
            .map_err(Error::query("reading the audit log"))
    })?;
    if filter.after.is_some() {
        rows.reverse();
    }
    Ok(rows)
}

/// Deletes the audit log's entries from before `before` (µs since the epoch);
/// returns how many.
pub fn clear_audit_before(conn: &mut Conn, before: i64) -> Result<usize> {
    with_conn!(conn, |c, B| diesel::delete(
        au::table.filter(au::at.lt(before))
    )
    .execute(c)
    .map_err(Error::query("deleting old entries of the audit log")))
}
