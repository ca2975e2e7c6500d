//! The queue of work items: the database is the queue (no broker).
//!
//! A **work item** is one run's sessions on one host, executed in order by whoever
//! claims it. Its life:
//!
//! ```text
//!            enqueue_run
//!                 │
//!                 ▼
//!   ┌────────► queued ◄──────────────┐
//!   │             │ claim            │ hand_back (by its worker)
//!   │             ▼                  │ reap: lease expired
//!   │          claimed ──────────────┘
//!   │             │ start
//!   │             ▼
//!   │          running ──── finish ───► done
//!   │             │
//!   │             │ reap: lease expired
//!   │             ▼
//!   │           lost   (started sessions end `failed`, reason `interrupted`)
//!   │             │
//!   └─────────────┘  its sessions not started yet: a NEW queued item
//! ```
//!
//! Every transition is one `UPDATE ... WHERE id = $1 AND state = <expected>` (and the
//! worker, for a worker's own transitions): a repeat, or a transition that lost a
//! race, changes nothing and answers `false`.
//!
//! **Leases** are timed by the database's clock, so the clocks of the machines that
//! run workers do not matter. A worker renews all its leases with one statement
//! ([`QueueWorker::heartbeat`]); a lease that has run out is never renewed: the item
//! belongs to the reaper ([`reap_expired`]) and the worker must stop working on it.
//!
//! **Several workers need PostgreSQL**: claims there use `FOR UPDATE SKIP LOCKED`, so
//! workers never wait for one another, and new items are announced on the
//! [`WORK_CHANNEL`] channel. On SQLite the same calls are correct (one writer at a
//! time), for tests and for one process on one machine.
//!
//! ```
//! use std::time::Duration;
//! use minke_core::{HostId, RunState, State};
//! use minke_store::{Conn, DatabaseUrl, NewRun, NewSession, QueueWorker, WorkState, migrate};
//!
//! # fn main() -> minke_store::Result<()> {
//! let url = DatabaseUrl::parse(":memory:")?;
//! let mut conn = Conn::open(&url)?;
//! migrate(&mut conn)?;
//! // A run of `uptime` on one host, then its work item.
//! let run = NewRun {
//!     session: "uptime".into(), model: "server".into(), username: "ann".into(),
//!     params: "{}".into(), selection: "{}".into(), state: RunState::Running, created_at: 0,
//! };
//! let items = conn.transaction(|c| {
//!     let run_id = minke_store::insert_run(c, &run)?;
//!     minke_store::insert_sessions(c, &[NewSession {
//!         run_id, session: "uptime".into(), model: "server".into(), object_id: 1,
//!         object_label: "web-1".into(), host_id: Some(HostId::new(7)), host_name: Some("web-1".into()),
//!         state: State::Initialized, status: None, reason: None, created_at: 0,
//!     }])?;
//!     minke_store::enqueue_run(c, run_id)
//! })?;
//! assert_eq!(items.len(), 1);
//!
//! let worker = QueueWorker::new("w1", ["uptime"], Duration::from_secs(15))?;
//! let claimed = worker.claim(&mut conn, 10)?;
//! assert_eq!(claimed[0].state, WorkState::Claimed);
//! assert!(worker.start(&mut conn, claimed[0].id)?);
//! for session in minke_store::work_item_sessions(&mut conn, &claimed[0])? {
//!     assert!(worker.start_session(&mut conn, &claimed[0], session.id)?);
//!     // ... run it, record its commands and its end ...
//! #   minke_store::finish_session(&mut conn, session.id, State::Completed, None, None, 1)?;
//! }
//! // The item ends; it was the run's last, so the run ends too.
//! let end = worker.end_item(&mut conn, &claimed[0], 2)?.expect("held by this worker");
//! assert_eq!(end.run_ended, Some(RunState::Done));
//! assert!(worker.end_item(&mut conn, &claimed[0], 2)?.is_none(), "a repeat changes nothing");
//! # Ok(()) }
//! ```

mod enqueue;
mod reaper;
mod runs;
mod worker;

pub use enqueue::*;
pub use reaper::*;
pub use runs::*;
pub use worker::*;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};

use crate::schema::minke_work_items as wi;
use crate::{Conn, Error, Result, with_conn};
use minke_core::{HostId, RunId, WorkItemId};

/// The PostgreSQL channel on which [`enqueue_run`] (and the reaper, for the items it
/// queues again) announce new work items; the payload is the item's id.
pub const WORK_CHANNEL: &str = "minke_work";

/// Where a work item is in its life (see the [module docs](self) for the diagram).
///
/// ```
/// use minke_store::WorkState;
/// assert_eq!("claimed".parse::<WorkState>().unwrap(), WorkState::Claimed);
/// assert!(WorkState::Lost.is_final() && !WorkState::Running.is_final());
/// assert!("sleeping".parse::<WorkState>().is_err());
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
#[diesel(sql_type = Text)]
pub enum WorkState {
    /// Waiting for a worker.
    Queued,
    /// Taken by a worker (its lease runs), not started yet.
    Claimed,
    /// Its worker is working through its sessions.
    Running,
    /// Its worker finished it.
    Done,
    /// Its worker's lease ran out while it ran; the reaper ended its started sessions
    /// and queued its unstarted ones again as a new item.
    Lost,
}

impl WorkState {
    /// Every state, in the order of an item's life.
    pub const ALL: &'static [WorkState] = &[
        WorkState::Queued,
        WorkState::Claimed,
        WorkState::Running,
        WorkState::Done,
        WorkState::Lost,
    ];

    /// The lower-case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkState::Queued => "queued",
            WorkState::Claimed => "claimed",
            WorkState::Running => "running",
            WorkState::Done => "done",
            WorkState::Lost => "lost",
        }
    }

    /// The states of items that are not over: `queued`, `claimed`, `running`. A run
    /// with such items is alive, and keeps the locks of their hosts.
    pub const OPEN: [WorkState; 3] = [WorkState::Queued, WorkState::Claimed, WorkState::Running];

    /// True for `done` and `lost`, which never change again.
    pub fn is_final(self) -> bool {
        matches!(self, WorkState::Done | WorkState::Lost)
    }
}

impl fmt::Display for WorkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        WorkState::ALL
            .iter()
            .copied()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| {
                Error::Core(minke_core::Error::InvalidValue {
                    what: "WorkState",
                    value: s.to_owned(),
                    expected: WorkState::ALL
                        .iter()
                        .map(|w| w.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
    }
}

impl<DB> diesel::deserialize::FromSql<Text, DB> for WorkState
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        Ok(String::from_sql(bytes)?.parse()?)
    }
}

impl<DB> diesel::serialize::ToSql<Text, DB> for WorkState
where
    DB: diesel::backend::Backend,
    str: diesel::serialize::ToSql<Text, DB>,
{
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, DB>,
    ) -> diesel::serialize::Result {
        self.as_str().to_sql(out)
    }
}

/// A work item as stored.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, QueryableByName, Selectable, Serialize)]
#[diesel(table_name = wi)]
pub struct WorkItem {
    /// Id.
    pub id: WorkItemId,
    /// The run.
    pub run_id: RunId,
    /// The host whose sessions of the run it holds.
    pub host_id: HostId,
    /// Where it is.
    pub state: WorkState,
    /// The worker holding it (claimed or running), or the last one that did.
    pub worker: Option<String>,
    /// When its lease ends (µs since the epoch, database clock), while held.
    pub lease_until: Option<i64>,
    /// How many times it was claimed.
    pub attempts: i32,
    /// When it was queued (µs, database clock).
    pub created_at: i64,
    /// When its state last changed (µs, database clock).
    pub updated_at: i64,
}

/// The database's clock in µs since the epoch, as SQL for the connection's backend.
pub(super) fn now_sql(conn: &Conn) -> &'static str {
    match conn {
        Conn::Pg(_) => now_sql_pg(),
        Conn::Sqlite(_) => now_sql_sqlite(),
    }
}

pub(super) fn now_sql_sqlite() -> &'static str {
    "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
}

pub(super) fn now_sql_pg() -> &'static str {
    "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
}

/// The database's clock in µs since the epoch (the clock leases are timed by).
pub fn database_now(conn: &mut Conn) -> Result<i64> {
    let now = now_sql(conn);
    with_conn!(conn, |c, B| diesel::select(sql::<BigInt>(now))
        .get_result(c)
        .map_err(Error::query("reading the database's clock")))
}

pub(super) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
