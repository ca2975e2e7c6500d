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
//! use minke_core::{RunState, State};
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
//!         object_label: "web-1".into(), host_id: Some(7), host_name: Some("web-1".into()),
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
//! assert!(worker.finish(&mut conn, claimed[0].id)?);
//! assert!(!worker.finish(&mut conn, claimed[0].id)?, "a repeat changes nothing");
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use minke_core::{FailReason, RunState, State, Status};
use serde::{Deserialize, Serialize};

use crate::rows::HeldStart;
use crate::schema::{
    minke_host_locks as lk, minke_runs as run, minke_sessions as ses, minke_work_items as wi,
};
use crate::{Conn, Error, Result, SessionRecord, now_micros, with_conn};

/// The PostgreSQL channel on which [`enqueue_run`] (and the reaper, for the items it
/// queues again) announce new work items; the payload is the item's id.
pub const WORK_CHANNEL: &str = "minke_work";

/// The key of the PostgreSQL advisory lock that lets one reaper at a time work.
pub const REAPER_LOCK_KEY: i64 = 0x6d69_6e6b_6572_6170; // "minkerap"

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
    pub id: i64,
    /// The run.
    pub run_id: i64,
    /// The host whose sessions of the run it holds.
    pub host_id: i64,
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
fn now_sql(conn: &Conn) -> &'static str {
    match conn {
        Conn::Pg(_) => now_sql_pg(),
        Conn::Sqlite(_) => now_sql_sqlite(),
    }
}

fn now_sql_sqlite() -> &'static str {
    "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
}

fn now_sql_pg() -> &'static str {
    "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
}

/// The database's clock in µs since the epoch (the clock leases are timed by).
pub fn database_now(conn: &mut Conn) -> Result<i64> {
    let now = now_sql(conn);
    with_conn!(conn, |c, B| diesel::select(sql::<BigInt>(now))
        .get_result(c)
        .map_err(Error::query("reading the database's clock")))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Queues the work items of a recorded run: one per host among its `initialized`
/// sessions (in the order of each host's first session), skipping hosts that have an
/// item of the run already, so a repeat queues nothing. Sessions without a host are
/// not queued. On PostgreSQL each new item's id is sent on [`WORK_CHANNEL`], delivered
/// when the transaction commits. Returns the new items' ids.
///
/// Call it in the transaction that records the run to make both one write (see the
/// [module docs](self)).
pub fn enqueue_run(conn: &mut Conn, run_id: i64) -> Result<Vec<i64>> {
    let now = database_now(conn)?;
    let hosts = unqueued_hosts(conn, run_id)?;
    if hosts.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(hosts.len());
    for chunk in hosts.chunks(1000) {
        let rows: Vec<_> = chunk.iter().map(|h| new_item(run_id, *h, now)).collect();
        let got: Vec<i64> = with_conn!(&mut *conn, |c, B| diesel::insert_into(wi::table)
            .values(rows)
            .returning(wi::id)
            .get_results(c)
            .map_err(Error::query(format!("queuing the work of run {run_id}"))))?;
        ids.extend(got);
    }
    notify_work(conn, &ids)?;
    refresh_statistics(conn, ids.len())?;
    Ok(ids)
}

/// Items a run must add, at least, before the planner's statistics are refreshed.
const ANALYZE_AFTER_ITEMS: usize = 100;

/// Refreshes PostgreSQL's statistics of the queue's tables after a big enqueue, when
/// the run adds more than a tenth of the items known to the planner. Autovacuum
/// analyses a table only some time after it grew, and until then the queries of a
/// run's items are planned for the table as it was: a run of 40,000 sessions on a
/// fresh database read all of them for every item it started (the benchmark found
/// it: 2.7 ms an item's sessions, the whole run slowing down as it went).
fn refresh_statistics(conn: &mut Conn, added: usize) -> Result<()> {
    #[derive(QueryableByName)]
    struct Known {
        #[diesel(sql_type = diesel::sql_types::Float)]
        reltuples: f32,
    }
    let Conn::Pg(c) = conn else {
        return Ok(());
    };
    if added < ANALYZE_AFTER_ITEMS {
        return Ok(());
    }
    let known = diesel::sql_query(
        "SELECT reltuples FROM pg_class WHERE oid = 'minke_work_items'::regclass",
    )
    .get_result::<Known>(c)
    .map_err(Error::query("reading the queue's statistics"))?;
    // -1: never analysed.
    if (added as f32) * 10.0 < known.reltuples {
        return Ok(());
    }
    diesel::sql_query("ANALYZE minke_work_items, minke_sessions")
        .execute(c)
        .map(drop)
        .map_err(Error::query("refreshing the queue's statistics"))
}

type NewItem = (
    diesel::dsl::Eq<wi::run_id, i64>,
    diesel::dsl::Eq<wi::host_id, i64>,
    diesel::dsl::Eq<wi::state, WorkState>,
    diesel::dsl::Eq<wi::attempts, i32>,
    diesel::dsl::Eq<wi::created_at, i64>,
    diesel::dsl::Eq<wi::updated_at, i64>,
);

fn new_item(run_id: i64, host_id: i64, now: i64) -> NewItem {
    (
        wi::run_id.eq(run_id),
        wi::host_id.eq(host_id),
        wi::state.eq(WorkState::Queued),
        wi::attempts.eq(0),
        wi::created_at.eq(now),
        wi::updated_at.eq(now),
    )
}

/// The hosts of a run's `initialized` sessions that have no item of the run yet, in
/// the order of their first session.
fn unqueued_hosts(conn: &mut Conn, run_id: i64) -> Result<Vec<i64>> {
    let context = format!("finding the hosts of run {run_id} to queue");
    let (sessions, queued): (Vec<(Option<i64>, i64)>, Vec<i64>) = with_conn!(conn, |c, B| {
        let sessions = ses::table
            .filter(ses::run_id.eq(run_id))
            .filter(ses::state.eq(State::Initialized))
            .filter(ses::host_id.is_not_null())
            .select((ses::host_id, ses::id))
            .order(ses::id)
            .load(c)
            .map_err(Error::query(context.clone()))?;
        let queued = wi::table
            .filter(wi::run_id.eq(run_id))
            .select(wi::host_id)
            .load(c)
            .map_err(Error::query(context))?;
        Ok::<_, Error>((sessions, queued))
    })?;
    let queued: std::collections::HashSet<i64> = queued.into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    Ok(sessions
        .into_iter()
        .filter_map(|(host, _)| host)
        .filter(|h| !queued.contains(h) && seen.insert(*h))
        .collect())
}

/// Announces new items on [`WORK_CHANNEL`] (PostgreSQL; nothing on SQLite).
fn notify_work(conn: &mut Conn, ids: &[i64]) -> Result<()> {
    crate::listen::notify_ids(conn, WORK_CHANNEL, ids)
}

/// One work item by id.
pub fn work_item(conn: &mut Conn, id: i64) -> Result<WorkItem> {
    with_conn!(conn, |c, B| wi::table
        .find(id)
        .select(WorkItem::as_select())
        .first(c)
        .optional()
        .map_err(Error::query(format!("loading work item {id}"))))?
    .ok_or(Error::NotFound {
        model: "work item".into(),
        id,
    })
}

/// The work items of a run, oldest first.
pub fn run_work_items(conn: &mut Conn, run_id: i64) -> Result<Vec<WorkItem>> {
    with_conn!(conn, |c, B| wi::table
        .filter(wi::run_id.eq(run_id))
        .order(wi::id)
        .select(WorkItem::as_select())
        .load(c)
        .map_err(Error::query(format!(
            "loading the work items of run {run_id}"
        ))))
}

/// The sessions a work item is to run: its run's sessions on its host that have not
/// started, in order.
pub fn work_item_sessions(conn: &mut Conn, item: &WorkItem) -> Result<Vec<SessionRecord>> {
    with_conn!(conn, |c, B| ses::table
        .filter(ses::run_id.eq(item.run_id))
        .filter(ses::host_id.eq(item.host_id))
        .filter(ses::state.eq(State::Initialized))
        .order(ses::id)
        .select(SessionRecord::as_select())
        .load(c)
        .map_err(Error::query(format!(
            "loading the sessions of work item {}",
            item.id
        ))))
}

/// A worker's view of the queue: its name, the sessions it knows (compiled into its
/// binary) and the length of its leases.
#[derive(Clone, Debug)]
pub struct QueueWorker {
    name: String,
    sessions: Vec<String>,
    lease: Duration,
}

impl QueueWorker {
    /// A worker called `name` (unique among the workers at any one time, e.g. host
    /// name and process id) that knows `sessions` and holds items for `lease` between
    /// heartbeats. An empty name or a zero lease is refused.
    ///
    /// ```
    /// use std::time::Duration;
    /// use minke_store::QueueWorker;
    /// let w = QueueWorker::new("web-1:4242", ["deploy"], Duration::from_secs(15)).unwrap();
    /// assert_eq!(w.name(), "web-1:4242");
    /// assert!(QueueWorker::new("", ["deploy"], Duration::from_secs(15)).is_err());
    /// assert!(QueueWorker::new("w", ["deploy"], Duration::ZERO).is_err());
    /// ```
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        sessions: impl IntoIterator<Item = S>,
        lease: Duration,
    ) -> Result<QueueWorker> {
        let name = name.into();
        let invalid = |what, value: String, expected: &str| {
            Error::Core(minke_core::Error::InvalidValue {
                what,
                value,
                expected: expected.into(),
            })
        };
        if name.trim().is_empty() {
            return Err(invalid("worker name", name, "a name that is not empty"));
        }
        if lease.is_zero() {
            return Err(invalid(
                "worker lease",
                format!("{lease:?}"),
                "a lease longer than zero",
            ));
        }
        Ok(QueueWorker {
            name,
            sessions: sessions.into_iter().map(Into::into).collect(),
            lease,
        })
    }

    /// The worker's name, as stored in the items it holds.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The length of its leases.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Claims up to `limit` queued items, oldest first, whose run's session this worker
    /// knows (an item of an unknown session is never claimed, so two versions of an
    /// app deployed side by side stay correct). Each becomes `claimed` by this worker,
    /// its lease starts and its attempts count one more. On PostgreSQL concurrent
    /// claimers skip each other's rows (`FOR UPDATE SKIP LOCKED`) and never get the
    /// same item.
    ///
    /// A run with a concurrency of its own ([`set_run_concurrency`]) never has more
    /// items held at once than that, over all workers: its items are claimed under
    /// a lock of its row that other claimers skip (they take other work meanwhile).
    pub fn claim(&self, conn: &mut Conn, limit: usize) -> Result<Vec<WorkItem>> {
        if limit == 0 || self.sessions.is_empty() {
            return Ok(Vec::new());
        }
        conn.transaction(|c| {
            let mut items = self.claim_unlimited(c, limit)?;
            for run_id in self.limited_runs(c)? {
                let room = limit.saturating_sub(items.len());
                if room == 0 {
                    break;
                }
                items.extend(self.claim_limited(c, run_id, room)?);
            }
            items.sort_by_key(|i| i.id);
            Ok(items)
        })
    }

    /// Claims queued items of runs without a concurrency of their own.
    fn claim_unlimited(&self, conn: &mut Conn, limit: usize) -> Result<Vec<WorkItem>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let lease = micros(self.lease);
        let now = now_sql(conn);
        let items: Vec<WorkItem> = match conn {
            Conn::Pg(c) => diesel::sql_query(claim_sql(
                now,
                "$1",
                "$2",
                "= ANY($3)",
                "LIMIT $4 FOR UPDATE OF w SKIP LOCKED",
            ))
            .bind::<Text, _>(&self.name)
            .bind::<BigInt, _>(lease)
            .bind::<diesel::sql_types::Array<Text>, _>(&self.sessions)
            .bind::<BigInt, _>(limit)
            .load(c),
            Conn::Sqlite(c) => {
                let names = serde_json::to_string(&self.sessions).unwrap_or_default();
                diesel::sql_query(claim_sql(
                    now,
                    "?",
                    "?",
                    "IN (SELECT value FROM json_each(?))",
                    "LIMIT ?",
                ))
                .bind::<Text, _>(&self.name)
                .bind::<BigInt, _>(lease)
                .bind::<Text, _>(names)
                .bind::<BigInt, _>(limit)
                .load(c)
            }
        }
        .map_err(Error::query(format!(
            "claiming work for worker {}",
            self.name
        )))?;
        Ok(items)
    }

    /// The runs with a concurrency of their own and queued items this worker knows.
    fn limited_runs(&self, conn: &mut Conn) -> Result<Vec<i64>> {
        let sessions = &self.sessions;
        with_conn!(conn, |c, B| run::table
            .filter(run::state.eq(RunState::Running))
            .filter(run::concurrency.is_not_null())
            .filter(run::session.eq_any(sessions))
            .filter(diesel::dsl::exists(
                wi::table
                    .filter(wi::run_id.eq(run::id))
                    .filter(wi::state.eq(WorkState::Queued))
            ))
            .select(run::id)
            .order(run::id)
            .load(c)
            .map_err(Error::query(
                "looking for runs with a concurrency of their own"
            )))
    }

    /// Claims up to `room` queued items of a run with a concurrency of its own, as
    /// far as it allows, under a lock of the run's row (skipped when another claimer
    /// holds it: nothing is claimed of the run then).
    fn claim_limited(&self, conn: &mut Conn, run_id: i64, room: usize) -> Result<Vec<WorkItem>> {
        let context = format!("claiming work of run {run_id} for worker {}", self.name);
        let limit: Option<Option<i32>> = match conn {
            Conn::Pg(c) => run::table
                .find(run_id)
                .select(run::concurrency)
                .for_update()
                .skip_locked()
                .first(c)
                .optional(),
            Conn::Sqlite(c) => run::table
                .find(run_id)
                .select(run::concurrency)
                .first(c)
                .optional(),
        }
        .map_err(Error::query(context.clone()))?;
        let Some(Some(limit)) = limit else {
            return Ok(Vec::new());
        };
        let held: i64 = with_conn!(conn, |c, B| wi::table
            .filter(wi::run_id.eq(run_id))
            .filter(wi::state.eq_any([WorkState::Claimed, WorkState::Running]))
            .count()
            .get_result(c)
            .map_err(Error::query(context.clone())))?;
        let free = usize::try_from(i64::from(limit) - held)
            .unwrap_or(0)
            .min(room);
        if free == 0 {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = with_conn!(conn, |c, B| wi::table
            .filter(wi::run_id.eq(run_id))
            .filter(wi::state.eq(WorkState::Queued))
            .order(wi::id)
            .limit(i64::try_from(free).unwrap_or(i64::MAX))
            .select(wi::id)
            .load(c)
            .map_err(Error::query(context.clone())))?;
        let now = sql::<BigInt>(now_sql(conn));
        let lease = micros(self.lease);
        let until = sql::<Nullable<BigInt>>(&format!("{} + {lease}", now_sql(conn)));
        let name = self.name.as_str();
        with_conn!(conn, |c, B| diesel::update(
            wi::table
                .filter(wi::id.eq_any(&ids))
                .filter(wi::state.eq(WorkState::Queued))
        )
        .set((
            wi::state.eq(WorkState::Claimed),
            wi::worker.eq(name),
            wi::lease_until.eq(until.clone()),
            wi::attempts.eq(wi::attempts + 1),
            wi::updated_at.eq(now.clone()),
        ))
        .returning(WorkItem::as_returning())
        .get_results(c)
        .map_err(Error::query(context)))
    }

    /// Renews the leases of all the items this worker holds (`claimed` or `running`)
    /// whose lease has not run out, with one statement, and the host locks of their
    /// runs on their hosts. Returns the ids of the items it renewed: an item the
    /// worker holds that is missing was lost (its lease ran out), and the worker must
    /// stop working on it.
    pub fn heartbeat(&self, conn: &mut Conn) -> Result<Vec<i64>> {
        let lease = micros(self.lease);
        let now = now_sql(conn);
        let lock_until = now_micros().saturating_add(lease);
        let name = self.name.as_str();
        with_conn!(conn, |c, B| {
            let mut ids: Vec<i64> = diesel::update(
                wi::table
                    .filter(wi::worker.eq(name))
                    .filter(wi::state.eq_any([WorkState::Claimed, WorkState::Running]))
                    .filter(wi::lease_until.ge(sql::<Nullable<BigInt>>(now))),
            )
            .set(wi::lease_until.eq(sql::<Nullable<BigInt>>(&format!("{now} + {lease}"))))
            .returning(wi::id)
            .get_results(c)
            .map_err(Error::query(format!(
                "renewing the leases of worker {name}"
            )))?;
            let held = wi::table
                .filter(wi::run_id.eq(lk::run_id))
                .filter(wi::host_id.eq(lk::host_id))
                .filter(wi::worker.eq(name))
                .filter(wi::state.eq_any([WorkState::Claimed, WorkState::Running]));
            diesel::update(lk::table.filter(diesel::dsl::exists(held)))
                .set(lk::expires_at.eq(lock_until))
                .execute(c)
                .map_err(Error::query(format!(
                    "refreshing the host locks of worker {name}"
                )))?;
            ids.sort_unstable();
            Ok(ids)
        })
    }

    /// `claimed → running`: the worker starts an item it holds. False when the item is
    /// not `claimed` by this worker (a repeat, or the reaper handed it back).
    pub fn start(&self, conn: &mut Conn, id: i64) -> Result<bool> {
        self.transition(conn, id, WorkState::Claimed, WorkState::Running)
    }

    /// `running → done`: the worker ran the item's sessions to their end. False when the
    /// item is not `running` by this worker (a repeat, or the reaper declared it lost).
    pub fn finish(&self, conn: &mut Conn, id: i64) -> Result<bool> {
        self.transition(conn, id, WorkState::Running, WorkState::Done)
    }

    /// `claimed → queued`: the worker gives back an item it has not started (e.g. it
    /// is shutting down), for another worker; the attempt stays counted. False when
    /// the item is not `claimed` by this worker.
    pub fn hand_back(&self, conn: &mut Conn, id: i64) -> Result<bool> {
        self.transition(conn, id, WorkState::Claimed, WorkState::Queued)
    }

    /// Marks a session of an item this worker runs `running`, in one statement that
    /// checks the worker still holds the item (`running`, its lease not run out); on
    /// PostgreSQL it waits for a reaper working on the item (`FOR SHARE`), so a
    /// session is started either before the reaper looks (then the reaper ends it
    /// `failed`/`interrupted`) or not at all (the reaper queued it again): never
    /// twice. False when the session is not `initialized`, not the item's, or the
    /// item not held: the worker must not run it.
    pub fn start_session(&self, conn: &mut Conn, item: &WorkItem, session_id: i64) -> Result<bool> {
        start_held(conn, &self.held_start(item.id, session_id))
    }

    /// What [`start_session`](Self::start_session) records, for the store's writer
    /// to merge with other starts ([`Store::start_held_session`](crate::Store::start_held_session)).
    pub(crate) fn held_start(&self, item: i64, session: i64) -> HeldStart {
        HeldStart {
            worker: self.name.clone(),
            item,
            session,
            at: now_micros(),
        }
    }

    /// `running → done` with the rest handed back: the worker stops early (e.g. it is
    /// shutting down) after ending the sessions it started; the item's sessions not
    /// started yet go back to the queue as a new item (announced on [`WORK_CHANNEL`]).
    /// `None` when the item is not `running` by this worker (nothing changed).
    pub fn hand_back_rest(&self, conn: &mut Conn, id: i64) -> Result<Option<HandedBackRest>> {
        conn.transaction(|c| {
            if !self.finish(c, id)? {
                return Ok(None);
            }
            let item = work_item(c, id)?;
            let requeued: Vec<i64> = work_item_sessions(c, &item)?.iter().map(|s| s.id).collect();
            let new_item = if requeued.is_empty() {
                None
            } else {
                Some(requeue(c, &item)?)
            };
            Ok(Some(HandedBackRest { requeued, new_item }))
        })
    }

    fn transition(&self, conn: &mut Conn, id: i64, from: WorkState, to: WorkState) -> Result<bool> {
        let now = sql::<BigInt>(now_sql(conn));
        let name = self.name.as_str();
        let context = format!("moving work item {id} from {from} to {to}");
        let n = with_conn!(conn, |c, B| {
            let target = wi::table
                .filter(wi::id.eq(id))
                .filter(wi::state.eq(from))
                .filter(wi::worker.eq(name));
            match to {
                // Still held: the lease goes on as it is.
                WorkState::Claimed | WorkState::Running => diesel::update(target)
                    .set((wi::state.eq(to), wi::updated_at.eq(now)))
                    .execute(c),
                // Given back: no one holds it.
                WorkState::Queued => diesel::update(target)
                    .set((
                        wi::state.eq(to),
                        wi::worker.eq(None::<String>),
                        wi::lease_until.eq(None::<i64>),
                        wi::updated_at.eq(now),
                    ))
                    .execute(c),
                // Ended: the worker that held it stays recorded.
                WorkState::Done | WorkState::Lost => diesel::update(target)
                    .set((
                        wi::state.eq(to),
                        wi::lease_until.eq(None::<i64>),
                        wi::updated_at.eq(now),
                    ))
                    .execute(c),
            }
            .map_err(Error::query(context))
        })?;
        Ok(n == 1)
    }
}

/// Records that a session starts if `s.worker` holds its work item (its lease not
/// run out): true when it did.
pub(crate) fn start_held(conn: &mut Conn, s: &HeldStart) -> Result<bool> {
    match conn {
        Conn::Pg(c) => Ok(!start_held_pg(c, &[s])?.is_empty()),
        Conn::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE minke_sessions SET state = 'running', started_at = ? \
             WHERE minke_sessions.id = ? AND {}",
            held_sql(now_sql_sqlite(), "?", "?", "")
        ))
        .bind::<BigInt, _>(s.at)
        .bind::<BigInt, _>(s.session)
        .bind::<BigInt, _>(s.item)
        .bind::<Text, _>(&s.worker)
        .execute(c)
        .map(|n| n == 1)
        .map_err(Error::query(format!(
            "starting session {} of work item {}",
            s.session, s.item
        ))),
    }
}

/// [`start_held`] for many sessions in one statement (PostgreSQL): the ids of the
/// sessions that started.
pub(crate) fn start_held_pg(
    c: &mut diesel::PgConnection,
    starts: &[&HeldStart],
) -> Result<HashSet<i64>> {
    #[derive(QueryableByName)]
    struct Started {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let column = |f: fn(&HeldStart) -> i64| starts.iter().map(|s| f(s)).collect::<Vec<_>>();
    let workers: Vec<&str> = starts.iter().map(|s| s.worker.as_str()).collect();
    let started = diesel::sql_query(format!(
        "UPDATE minke_sessions SET state = 'running', started_at = v.at \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[]) \
         AS v(session, item, worker, at) \
         WHERE minke_sessions.id = ANY($1) AND minke_sessions.id = v.session AND {} \
         RETURNING minke_sessions.id",
        held_sql(now_sql_pg(), "v.item", "v.worker", "FOR SHARE")
    ))
    .bind::<Array<BigInt>, _>(column(|s| s.session))
    .bind::<Array<BigInt>, _>(column(|s| s.item))
    .bind::<Array<Text>, _>(workers)
    .bind::<Array<BigInt>, _>(column(|s| s.at))
    .load::<Started>(c)
    .map_err(Error::query(match starts {
        [s] => format!("starting session {} of work item {}", s.session, s.item),
        _ => format!("starting {} sessions of work items", starts.len()),
    }))?;
    Ok(started.into_iter().map(|s| s.id).collect())
}

/// The condition of a held start: the session not started, and its work item held
/// by the worker, running, its lease not run out.
fn held_sql(now: &str, item: &str, worker: &str, lock: &str) -> String {
    format!(
        "minke_sessions.state = 'initialized' AND EXISTS (\
           SELECT 1 FROM minke_work_items w WHERE w.id = {item} AND w.worker = {worker} \
           AND w.state = 'running' AND w.lease_until > {now} \
           AND w.run_id = minke_sessions.run_id AND w.host_id = minke_sessions.host_id {lock})"
    )
}

fn claim_sql(now: &str, worker: &str, lease: &str, known: &str, tail: &str) -> String {
    format!(
        "UPDATE minke_work_items SET state = 'claimed', worker = {worker}, \
         lease_until = {now} + {lease}, attempts = attempts + 1, updated_at = {now} \
         WHERE state = 'queued' AND id IN (\
           SELECT w.id FROM minke_work_items w JOIN minke_runs r ON r.id = w.run_id \
           WHERE w.state = 'queued' AND r.concurrency IS NULL AND r.session {known} \
           ORDER BY w.id {tail}) \
         RETURNING id, run_id, host_id, state, worker, lease_until, attempts, created_at, updated_at"
    )
}

/// What [`QueueWorker::hand_back_rest`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HandedBackRest {
    /// The item's sessions that had not started, queued again.
    pub requeued: Vec<i64>,
    /// The new item holding them, if any.
    pub new_item: Option<i64>,
}

/// What one pass of the reaper did, for the caller to log and announce.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reaped {
    /// Items whose worker's lease ran out before it started them: queued again.
    pub handed_back: Vec<HandedBack>,
    /// Items whose worker's lease ran out while it ran them: now `lost`.
    pub lost: Vec<LostItem>,
}

impl Reaped {
    /// True when the pass found nothing to do.
    pub fn is_empty(&self) -> bool {
        self.handed_back.is_empty() && self.lost.is_empty()
    }
}

/// A claimed item the reaper queued again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HandedBack {
    /// The item (queued again under the same id).
    pub item_id: i64,
    /// Its run.
    pub run_id: i64,
    /// Its host.
    pub host_id: i64,
    /// The worker whose lease ran out.
    pub worker: Option<String>,
}

/// A running item the reaper ended `lost`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostItem {
    /// The item.
    pub item_id: i64,
    /// Its run.
    pub run_id: i64,
    /// Its host.
    pub host_id: i64,
    /// The worker whose lease ran out.
    pub worker: Option<String>,
    /// Its sessions that had started: now `failed` with reason `interrupted`
    /// (never run again: remote commands have side effects).
    pub interrupted: Vec<i64>,
    /// Its sessions that had not started, queued again in a new item.
    pub requeued: Vec<i64>,
    /// The new item holding them, if any.
    pub new_item: Option<i64>,
    /// Whether the run's lock of the host was released (when none of its sessions
    /// on the host is left to run).
    pub released_host_lock: bool,
}

/// Handles the items whose lease ran out (their worker died, hung or lost the
/// database): `claimed` ones go back to `queued` (worker cleared, attempts kept);
/// `running` ones end `lost`: their started sessions end `failed` (status `error`,
/// reason `interrupted`, what they recorded kept), their unstarted ones go back to the
/// queue as a new item of the same run and host (announced on [`WORK_CHANNEL`]),
/// and when none is left to run the run's lock of that host is released (with
/// unstarted ones left, the run keeps the host for them).
///
/// One reaper at a time: on PostgreSQL whoever holds the transaction-level advisory
/// lock [`REAPER_LOCK_KEY`] works, the others get `None` at once; on SQLite the
/// write lock serialises reapers. Each item's change is also conditional on its
/// state and expired lease, so nothing is reaped twice. Runs its own transaction
/// (a savepoint inside one). The reaper does not end runs.
pub fn reap_expired(conn: &mut Conn) -> Result<Option<Reaped>> {
    conn.transaction(|c| {
        if !take_reaper_lock(c)? {
            return Ok(None);
        }
        let mut reaped = Reaped::default();
        for item in expired_items(c)? {
            match item.state {
                WorkState::Claimed => reaped.handed_back.extend(reap_claimed(c, &item)?),
                WorkState::Running => reaped.lost.extend(reap_running(c, &item)?),
                _ => {}
            }
        }
        Ok(Some(reaped))
    })
}

fn take_reaper_lock(conn: &mut Conn) -> Result<bool> {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        taken: bool,
    }
    let Conn::Pg(c) = conn else {
        return Ok(true);
    };
    diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS taken")
        .bind::<BigInt, _>(REAPER_LOCK_KEY)
        .get_result::<Taken>(c)
        .map(|t| t.taken)
        .map_err(Error::query("taking the reaper's lock"))
}

fn expired_items(conn: &mut Conn) -> Result<Vec<WorkItem>> {
    let now = now_sql(conn);
    with_conn!(conn, |c, B| wi::table
        .filter(wi::state.eq_any([WorkState::Claimed, WorkState::Running]))
        .filter(wi::lease_until.lt(sql::<Nullable<BigInt>>(now)))
        .order(wi::id)
        .select(WorkItem::as_select())
        .load(c)
        .map_err(Error::query("looking for expired leases")))
}

/// Moves an expired item from `from` to `to` unless something else did first.
fn expire(conn: &mut Conn, item: &WorkItem, to: WorkState) -> Result<bool> {
    let now = now_sql(conn);
    let id = item.id;
    let worker = (to == WorkState::Queued).then_some(None::<String>);
    let n = with_conn!(conn, |c, B| {
        let target = wi::table
            .filter(wi::id.eq(id))
            .filter(wi::state.eq(item.state))
            .filter(wi::lease_until.lt(sql::<Nullable<BigInt>>(now)));
        match &worker {
            Some(cleared) => diesel::update(target)
                .set((
                    wi::state.eq(to),
                    wi::worker.eq(cleared),
                    wi::lease_until.eq(None::<i64>),
                    wi::updated_at.eq(sql::<BigInt>(now)),
                ))
                .execute(c),
            None => diesel::update(target)
                .set((
                    wi::state.eq(to),
                    wi::lease_until.eq(None::<i64>),
                    wi::updated_at.eq(sql::<BigInt>(now)),
                ))
                .execute(c),
        }
        .map_err(Error::query(format!("reaping work item {id}")))
    })?;
    Ok(n == 1)
}

fn reap_claimed(conn: &mut Conn, item: &WorkItem) -> Result<Option<HandedBack>> {
    if !expire(conn, item, WorkState::Queued)? {
        return Ok(None);
    }
    notify_work(conn, &[item.id])?;
    Ok(Some(HandedBack {
        item_id: item.id,
        run_id: item.run_id,
        host_id: item.host_id,
        worker: item.worker.clone(),
    }))
}

fn reap_running(conn: &mut Conn, item: &WorkItem) -> Result<Option<LostItem>> {
    if !expire(conn, item, WorkState::Lost)? {
        return Ok(None);
    }
    let interrupted = interrupt_started(conn, item)?;
    let requeued: Vec<i64> = work_item_sessions(conn, item)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let (new_item, released_host_lock) = if requeued.is_empty() {
        (None, release_lock(conn, item)?)
    } else {
        (Some(requeue(conn, item)?), false)
    };
    Ok(Some(LostItem {
        item_id: item.id,
        run_id: item.run_id,
        host_id: item.host_id,
        worker: item.worker.clone(),
        interrupted,
        requeued,
        new_item,
        released_host_lock,
    }))
}

/// Ends the item's `running` sessions `failed`/`interrupted`; returns their ids.
fn interrupt_started(conn: &mut Conn, item: &WorkItem) -> Result<Vec<i64>> {
    let at = now_micros();
    let mut ids: Vec<i64> = with_conn!(conn, |c, B| diesel::update(
        ses::table
            .filter(ses::run_id.eq(item.run_id))
            .filter(ses::host_id.eq(item.host_id))
            .filter(ses::state.eq(State::Running))
    )
    .set((
        ses::state.eq(State::Failed),
        ses::status.eq(Status::Error),
        ses::reason.eq(FailReason::Interrupted.as_str()),
        ses::finished_at.eq(at),
    ))
    .returning(ses::id)
    .get_results(c)
    .map_err(Error::query(format!(
        "ending the started sessions of work item {}",
        item.id
    ))))?;
    ids.sort_unstable();
    Ok(ids)
}

fn requeue(conn: &mut Conn, item: &WorkItem) -> Result<i64> {
    let now = database_now(conn)?;
    let row = new_item(item.run_id, item.host_id, now);
    let id = with_conn!(&mut *conn, |c, B| diesel::insert_into(wi::table)
        .values(row)
        .returning(wi::id)
        .get_result(c)
        .map_err(Error::query(format!(
            "queuing again the unstarted sessions of work item {}",
            item.id
        ))))?;
    notify_work(conn, &[id])?;
    Ok(id)
}

fn release_lock(conn: &mut Conn, item: &WorkItem) -> Result<bool> {
    let n = with_conn!(conn, |c, B| diesel::delete(
        lk::table
            .filter(lk::run_id.eq(item.run_id))
            .filter(lk::host_id.eq(item.host_id))
    )
    .execute(c)
    .map_err(Error::query(format!(
        "releasing the lock of host {} held by run {}",
        item.host_id, item.run_id
    ))))?;
    Ok(n > 0)
}

/// Why a session whose work was still queued when its run was stopped never ran.
pub const CANCELED_IN_QUEUE: &str = "canceled before it started";

/// Of these runs, those with work items that are not over ([`WorkState::OPEN`]).
pub(crate) fn runs_with_open_work(conn: &mut Conn, runs: &[i64]) -> Result<Vec<i64>> {
    with_conn!(conn, |c, B| wi::table
        .filter(wi::run_id.eq_any(runs))
        .filter(wi::state.eq_any(WorkState::OPEN))
        .select(wi::run_id)
        .distinct()
        .load(c)
        .map_err(Error::query("looking for runs with open work")))
}

/// True when the run was queued for workers (it has work items, open or not).
pub(crate) fn has_work_items(conn: &mut Conn, run_id: i64) -> Result<bool> {
    with_conn!(conn, |c, B| diesel::select(diesel::dsl::exists(
        wi::table.filter(wi::run_id.eq(run_id))
    ))
    .get_result(c)
    .map_err(Error::query(format!(
        "looking for the work items of run {run_id}"
    ))))
}

/// Cancels the work of a run that no worker holds yet: its `queued` items end `done`,
/// their sessions not started end `canceled` ([`CANCELED_IN_QUEUE`]) and the run's
/// locks of their hosts are released. Items a worker holds are left to it (it sees
/// the run's stop). Returns the canceled sessions' ids.
pub fn cancel_queued_work(conn: &mut Conn, run_id: i64) -> Result<Vec<i64>> {
    let now = now_sql(conn);
    let at = now_micros();
    let context = format!("canceling the queued work of run {run_id}");
    with_conn!(conn, |c, B| {
        let hosts: Vec<i64> = diesel::update(
            wi::table
                .filter(wi::run_id.eq(run_id))
                .filter(wi::state.eq(WorkState::Queued)),
        )
        .set((
            wi::state.eq(WorkState::Done),
            wi::updated_at.eq(sql::<BigInt>(now)),
        ))
        .returning(wi::host_id)
        .get_results(c)
        .map_err(Error::query(context.clone()))?;
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<i64> = diesel::update(
            ses::table
                .filter(ses::run_id.eq(run_id))
                .filter(ses::host_id.eq_any(&hosts))
                .filter(ses::state.eq(State::Initialized)),
        )
        .set((
            ses::state.eq(State::Canceled),
            ses::reason.eq(CANCELED_IN_QUEUE),
            ses::finished_at.eq(at),
        ))
        .returning(ses::id)
        .get_results(c)
        .map_err(Error::query(context.clone()))?;
        diesel::delete(
            lk::table
                .filter(lk::run_id.eq(run_id))
                .filter(lk::host_id.eq_any(&hosts)),
        )
        .execute(c)
        .map_err(Error::query(context))?;
        ids.sort_unstable();
        Ok(ids)
    })
}

/// Ends a run executed through the queue once nothing of it is left: no work item
/// open, no session waiting or running. The run becomes `canceled` when a stop was
/// asked of it, `done` otherwise; its locks are released and its sealed parameters
/// erased, and its end announced on [`RUN_CHANNEL`](crate::RUN_CHANNEL). Whoever
/// ends the last item calls it (a worker, the reaper, a stop); of concurrent callers
/// one ends the run. Returns the state it ended in, `None` when the run goes on or
/// had ended already.
pub fn finish_run_if_complete(conn: &mut Conn, run_id: i64, at: i64) -> Result<Option<RunState>> {
    let context = format!("ending run {run_id} when its work is over");
    let open_sessions = [State::Initialized, State::Running];
    // `EXISTS`, not a count: a big run asks this at the end of each of its items.
    let (asked, left): (Option<Option<i16>>, bool) = with_conn!(&mut *conn, |c, B| {
        let asked = run::table
            .find(run_id)
            .filter(run::state.eq(RunState::Running))
            .select(run::stop_requested)
            .first::<Option<i16>>(c)
            .optional()
            .map_err(Error::query(context.clone()))?;
        // From the newest item down: the run's open items are its newest until it
        // is nearly over, and the items that ended lie below them.
        let items = asked.is_none()
            || wi::table
                .filter(wi::run_id.eq(run_id))
                .filter(wi::state.eq_any(WorkState::OPEN))
                .order(wi::id.desc())
                .select(wi::id)
                .first::<i64>(c)
                .optional()
                .map_err(Error::query(context.clone()))?
                .is_some();
        let sessions = items
            || diesel::select(diesel::dsl::exists(
                ses::table
                    .filter(ses::run_id.eq(run_id))
                    .filter(ses::state.eq_any(open_sessions)),
            ))
            .get_result::<bool>(c)
            .map_err(Error::query(context.clone()))?;
        Ok::<_, Error>((asked, sessions))
    })?;
    let Some(asked) = asked else {
        return Ok(None);
    };
    if left {
        return Ok(None);
    }
    let state = if asked.is_some() {
        RunState::Canceled
    } else {
        RunState::Done
    };
    let n = with_conn!(conn, |c, B| {
        diesel::delete(lk::table.filter(lk::run_id.eq(run_id)))
            .execute(c)
            .map_err(Error::query(context.clone()))?;
        diesel::update(
            run::table
                .find(run_id)
                .filter(run::state.eq(RunState::Running)),
        )
        .set((
            run::state.eq(state),
            run::finished_at.eq(at),
            run::sealed_params.eq(None::<String>),
        ))
        .execute(c)
        .map_err(Error::query(context))
    })?;
    if n != 1 {
        return Ok(None);
    }
    crate::notify_runs(conn, &[run_id])?;
    Ok(Some(state))
}

/// Gives a queued run a concurrency of its own: at most `hosts` of its work items
/// held at once, over all workers (see [`QueueWorker::claim`]).
pub fn set_run_concurrency(conn: &mut Conn, run_id: i64, hosts: u32) -> Result<()> {
    let hosts = i32::try_from(hosts.max(1)).unwrap_or(i32::MAX);
    with_conn!(conn, |c, B| diesel::update(run::table.find(run_id))
        .set(run::concurrency.eq(hosts))
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!(
            "keeping the concurrency of run {run_id}"
        ))))
}

/// Keeps a run's secret parameters, sealed by the caller (see `minke_core::sealed`),
/// for the workers that execute it; erased when the run ends.
pub fn seal_run_params(conn: &mut Conn, run_id: i64, sealed: &str) -> Result<()> {
    with_conn!(conn, |c, B| diesel::update(run::table.find(run_id))
        .set(run::sealed_params.eq(sealed))
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!(
            "keeping the sealed parameters of run {run_id}"
        ))))
}

/// A run's sealed secret parameters, while it goes on.
pub fn sealed_run_params(conn: &mut Conn, run_id: i64) -> Result<Option<String>> {
    with_conn!(conn, |c, B| run::table
        .find(run_id)
        .select(run::sealed_params)
        .first::<Option<String>>(c)
        .optional()
        .map(Option::flatten)
        .map_err(Error::query(format!(
            "loading the sealed parameters of run {run_id}"
        ))))
}
