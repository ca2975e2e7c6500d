//! The reaper: items whose lease ran out go back to the queue, their started
//! sessions end `interrupted`.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use minke_core::{FailReason, HostId, RunId, SessionId, State, Status, WorkItemId};
use serde::Serialize;

use super::enqueue::{notify_work, requeue};
use super::{WorkItem, WorkState, now_sql, work_item_sessions};
use crate::schema::{minke_host_locks as lk, minke_sessions as ses, minke_work_items as wi};
use crate::{Conn, Error, Result, now_micros, with_conn};

/// The key of the PostgreSQL advisory lock that lets one reaper at a time work.
pub const REAPER_LOCK_KEY: i64 = 0x6d69_6e6b_6572_6170; // "minkerap"

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
    pub item_id: WorkItemId,
    /// Its run.
    pub run_id: RunId,
    /// Its host.
    pub host_id: HostId,
    /// The worker whose lease ran out.
    pub worker: Option<String>,
}

/// A running item the reaper ended `lost`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostItem {
    /// The item.
    pub item_id: WorkItemId,
    /// Its run.
    pub run_id: RunId,
    /// Its host.
    pub host_id: HostId,
    /// The worker whose lease ran out.
    pub worker: Option<String>,
    /// Its sessions that had started: now `failed` with reason `interrupted`
    /// (never run again: remote commands have side effects).
    pub interrupted: Vec<SessionId>,
    /// Its sessions that had not started, queued again in a new item.
    pub requeued: Vec<SessionId>,
    /// The new item holding them, if any.
    pub new_item: Option<WorkItemId>,
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
    let requeued: Vec<SessionId> = work_item_sessions(conn, item)?
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
fn interrupt_started(conn: &mut Conn, item: &WorkItem) -> Result<Vec<SessionId>> {
    let at = now_micros();
    let mut ids: Vec<SessionId> = with_conn!(conn, |c, B| diesel::update(
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
