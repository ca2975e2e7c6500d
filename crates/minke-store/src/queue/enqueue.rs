//! Queuing a run's work: one item per host, and reading items back.

use diesel::prelude::*;
use minke_core::{HostId, RunId, State, WorkItemId};

use super::{WORK_CHANNEL, WorkItem, WorkState, database_now};
use crate::schema::{minke_sessions as ses, minke_work_items as wi};
use crate::{Conn, Error, Result, SessionRecord, with_conn};

/// Queues the work items of a recorded run: one per host among its `initialized`
/// sessions (in the order of each host's first session), skipping hosts that have an
/// item of the run already, so a repeat queues nothing. Sessions without a host are
/// not queued. On PostgreSQL each new item's id is sent on [`WORK_CHANNEL`], delivered
/// when the transaction commits. Returns the new items' ids.
///
/// Call it in the transaction that records the run to make both one write (see the
/// [module docs](self)).
pub fn enqueue_run(conn: &mut Conn, run_id: RunId) -> Result<Vec<WorkItemId>> {
    let now = database_now(conn)?;
    let hosts = unqueued_hosts(conn, run_id)?;
    if hosts.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(hosts.len());
    for chunk in hosts.chunks(1000) {
        let rows: Vec<_> = chunk.iter().map(|h| new_item(run_id, *h, now)).collect();
        let got: Vec<WorkItemId> = with_conn!(&mut *conn, |c, B| diesel::insert_into(wi::table)
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
    diesel::dsl::Eq<wi::run_id, RunId>,
    diesel::dsl::Eq<wi::host_id, HostId>,
    diesel::dsl::Eq<wi::state, WorkState>,
    diesel::dsl::Eq<wi::attempts, i32>,
    diesel::dsl::Eq<wi::created_at, i64>,
    diesel::dsl::Eq<wi::updated_at, i64>,
);

fn new_item(run_id: RunId, host_id: HostId, now: i64) -> NewItem {
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
fn unqueued_hosts(conn: &mut Conn, run_id: RunId) -> Result<Vec<HostId>> {
    let context = format!("finding the hosts of run {run_id} to queue");
    let (sessions, queued): (Vec<(Option<HostId>, i64)>, Vec<HostId>) =
        with_conn!(conn, |c, B| {
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
    let queued: std::collections::HashSet<HostId> = queued.into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    Ok(sessions
        .into_iter()
        .filter_map(|(host, _)| host)
        .filter(|h| !queued.contains(h) && seen.insert(*h))
        .collect())
}

/// Announces new items on [`WORK_CHANNEL`] (PostgreSQL; nothing on SQLite).
pub(super) fn notify_work(conn: &mut Conn, ids: &[WorkItemId]) -> Result<()> {
    crate::listen::notify_ids(conn, WORK_CHANNEL, ids)
}

/// One work item by id.
pub fn work_item(conn: &mut Conn, id: WorkItemId) -> Result<WorkItem> {
    with_conn!(conn, |c, B| wi::table
        .find(id)
        .select(WorkItem::as_select())
        .first(c)
        .optional()
        .map_err(Error::query(format!("loading work item {id}"))))?
    .ok_or(Error::NotFound {
        model: "work item".into(),
        id: id.get(),
    })
}

/// The work items of a run, oldest first.
pub fn run_work_items(conn: &mut Conn, run_id: RunId) -> Result<Vec<WorkItem>> {
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

/// Queues again, as a new item, what is left of `item` (its sessions not started);
/// the new item's id.
pub(super) fn requeue(conn: &mut Conn, item: &WorkItem) -> Result<WorkItemId> {
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
