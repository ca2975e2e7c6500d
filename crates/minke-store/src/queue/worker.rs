//! A worker's side of the queue: claims, leases, transitions, conditional starts.

use std::collections::HashSet;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use minke_core::{RunId, RunState, SessionId, WorkItemId};
use serde::Serialize;

use super::enqueue::requeue;
use super::{
    WorkItem, WorkState, finish_run_if_complete, micros, now_sql, now_sql_pg, now_sql_sqlite,
    work_item, work_item_sessions,
};
use crate::rows::HeldStart;
use crate::schema::{minke_host_locks as lk, minke_runs as run, minke_work_items as wi};
use crate::{Conn, Error, Result, now_micros, with_conn};

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
    fn limited_runs(&self, conn: &mut Conn) -> Result<Vec<RunId>> {
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
    fn claim_limited(&self, conn: &mut Conn, run_id: RunId, room: usize) -> Result<Vec<WorkItem>> {
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
    pub fn heartbeat(&self, conn: &mut Conn) -> Result<Vec<WorkItemId>> {
        let lease = micros(self.lease);
        let now = now_sql(conn);
        let lock_until = now_micros().saturating_add(lease);
        let name = self.name.as_str();
        with_conn!(conn, |c, B| {
            let mut ids: Vec<WorkItemId> = diesel::update(
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
    pub fn start(&self, conn: &mut Conn, id: WorkItemId) -> Result<bool> {
        self.transition(conn, id, WorkState::Claimed, WorkState::Running)
    }

    /// `running → done`: the worker ran the item's sessions to their end. False when the
    /// item is not `running` by this worker (a repeat, or the reaper declared it lost).
    pub fn finish(&self, conn: &mut Conn, id: WorkItemId) -> Result<bool> {
        self.transition(conn, id, WorkState::Running, WorkState::Done)
    }

    /// `claimed → queued`: the worker gives back an item it has not started (e.g. it
    /// is shutting down), for another worker; the attempt stays counted. False when
    /// the item is not `claimed` by this worker.
    pub fn hand_back(&self, conn: &mut Conn, id: WorkItemId) -> Result<bool> {
        self.transition(conn, id, WorkState::Claimed, WorkState::Queued)
    }

    /// Marks a session of an item this worker runs `running`, in one statement that
    /// checks the worker still holds the item (`running`, its lease not run out); on
    /// PostgreSQL it waits for a reaper working on the item (`FOR SHARE`), so a
    /// session is started either before the reaper looks (then the reaper ends it
    /// `failed`/`interrupted`) or not at all (the reaper queued it again): never
    /// twice. False when the session is not `initialized`, not the item's, or the
    /// item not held: the worker must not run it.
    pub fn start_session(
        &self,
        conn: &mut Conn,
        item: &WorkItem,
        session_id: SessionId,
    ) -> Result<bool> {
        start_held(conn, &self.held_start(item.id, session_id))
    }

    /// What [`start_session`](Self::start_session) records, for the store's writer
    /// to merge with other starts ([`Store::start_held_session`](crate::Store::start_held_session)).
    pub(crate) fn held_start(&self, item: WorkItemId, session: SessionId) -> HeldStart {
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
    pub fn hand_back_rest(
        &self,
        conn: &mut Conn,
        id: WorkItemId,
    ) -> Result<Option<HandedBackRest>> {
        conn.transaction(|c| {
            if !self.finish(c, id)? {
                return Ok(None);
            }
            let item = work_item(c, id)?;
            let requeued: Vec<SessionId> =
                work_item_sessions(c, &item)?.iter().map(|s| s.id).collect();
            let new_item = if requeued.is_empty() {
                None
            } else {
                Some(requeue(c, &item)?)
            };
            Ok(Some(HandedBackRest { requeued, new_item }))
        })
    }

    /// Ends an item whose sessions the worker ran: `running → done`, its sessions not
    /// started (if any) queued again as a new item ([`hand_back_rest`](Self::hand_back_rest)),
    /// the run's lock of the host released when none of them is left, and the run
    /// ended when nothing of it is left at all ([`finish_run_if_complete`]). `None`
    /// when the item is not `running` by this worker (the reaper declared it lost):
    /// nothing changed.
    ///
    /// On PostgreSQL an item that ran all its sessions ends in one statement (its state
    /// and its host's lock), and the run is looked at in two more: the end of each of
    /// a big run's items is on the path of its last session to the run's end.
    pub fn end_item(&self, conn: &mut Conn, item: &WorkItem, at: i64) -> Result<Option<ItemEnd>> {
        Ok(end_items(conn, &[(self, item, at)])?.pop().flatten())
    }

    /// [`end_item`](Self::end_item) without the look at the run, for an item that
    /// may have sessions left: they go back to the queue, and the host's lock is
    /// released when none is left.
    fn end_rest_of_item(&self, conn: &mut Conn, item: &WorkItem) -> Result<Option<ItemEnd>> {
        let Some(rest) = self.hand_back_rest(conn, item.id)? else {
            return Ok(None);
        };
        if rest.new_item.is_none() {
            crate::release_host_lock(conn, item.run_id, item.host_id)?;
        }
        Ok(Some(ItemEnd {
            requeued: rest.requeued,
            new_item: rest.new_item,
            run_ended: None,
        }))
    }

    fn transition(
        &self,
        conn: &mut Conn,
        id: WorkItemId,
        from: WorkState,
        to: WorkState,
    ) -> Result<bool> {
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
) -> Result<HashSet<SessionId>> {
    #[derive(QueryableByName)]
    struct Started {
        #[diesel(sql_type = BigInt)]
        id: SessionId,
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
    .bind::<Array<BigInt>, _>(column(|s| s.session.get()))
    .bind::<Array<BigInt>, _>(column(|s| s.item.get()))
    .bind::<Array<Text>, _>(workers)
    .bind::<Array<BigInt>, _>(column(|s| s.at))
    .load::<Started>(c)
    .map_err(Error::query(match starts {
        [s] => format!("starting session {} of work item {}", s.session, s.item),
        _ => format!("starting {} sessions of work items", starts.len()),
    }))?;
    Ok(started.into_iter().map(|s| s.id).collect())
}

/// [`QueueWorker::end_item`] for many items (each with its worker and the time of its
/// end), in order: those that ran all their sessions in one statement (PostgreSQL),
/// the others one by one; then each run they belong to is looked at once, its end told
/// with the run's last item among them. An item asked twice is ended by the first ask.
pub(crate) fn end_items(
    conn: &mut Conn,
    ends: &[(&QueueWorker, &WorkItem, i64)],
) -> Result<Vec<Option<ItemEnd>>> {
    let items: Vec<(WorkItemId, &str)> = ends.iter().map(|(w, i, _)| (i.id, w.name())).collect();
    let mut whole = end_whole_items(conn, &items)?;
    let mut out = Vec::with_capacity(ends.len());
    let mut runs: Vec<(RunId, usize, i64)> = Vec::new();
    for &(worker, item, at) in ends {
        let ended = if whole.remove(&(item.id, worker.name().to_owned())) {
            Some(ItemEnd {
                requeued: Vec::new(),
                new_item: None,
                run_ended: None,
            })
        } else {
            worker.end_rest_of_item(conn, item)?
        };
        if ended.is_some() {
            runs.retain(|r| r.0 != item.run_id);
            runs.push((item.run_id, out.len(), at));
        }
        out.push(ended);
    }
    for (run, i, at) in runs {
        let state = finish_run_if_complete(conn, run, at)?;
        if let Some(Some(end)) = out.get_mut(i) {
            end.run_ended = state;
        }
    }
    Ok(out)
}

/// `running → done` and the hosts' locks released, in one statement, for the items
/// (id, worker) that are `running` by their worker and have no session waiting;
/// returns them. PostgreSQL; on SQLite none (the callers end them one by one).
pub(crate) fn end_whole_items(
    conn: &mut Conn,
    items: &[(WorkItemId, &str)],
) -> Result<HashSet<(WorkItemId, String)>> {
    #[derive(QueryableByName)]
    struct Ended {
        #[diesel(sql_type = BigInt)]
        id: WorkItemId,
        #[diesel(sql_type = Text)]
        worker: String,
    }
    let Conn::Pg(c) = conn else {
        return Ok(HashSet::new());
    };
    if items.is_empty() {
        return Ok(HashSet::new());
    }
    let ended = diesel::sql_query(format!(
        "WITH done AS (\
           UPDATE minke_work_items w SET state = 'done', lease_until = NULL, updated_at = {now} \
           FROM unnest($1::bigint[], $2::text[]) AS v(id, worker) \
           WHERE w.id = v.id AND w.state = 'running' AND w.worker = v.worker \
           AND NOT EXISTS (SELECT 1 FROM minke_sessions s WHERE s.run_id = w.run_id \
             AND s.host_id = w.host_id AND s.state = 'initialized') \
           RETURNING w.id, w.worker, w.run_id, w.host_id), \
         unlocked AS (DELETE FROM minke_host_locks l USING done \
           WHERE l.run_id = done.run_id AND l.host_id = done.host_id) \
         SELECT id, worker FROM done",
        now = now_sql_pg()
    ))
    .bind::<Array<BigInt>, _>(items.iter().map(|i| i.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(items.iter().map(|i| i.1).collect::<Vec<_>>())
    .load::<Ended>(c)
    .map_err(Error::query(match items {
        [(id, _)] => format!("ending work item {id}"),
        _ => format!("ending {} work items", items.len()),
    }))?;
    Ok(ended.into_iter().map(|e| (e.id, e.worker)).collect())
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

/// What [`QueueWorker::end_item`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemEnd {
    /// The item's sessions that had not started, queued again.
    pub requeued: Vec<SessionId>,
    /// The new item holding them, if any.
    pub new_item: Option<WorkItemId>,
    /// The state the run ended in, when the item was the last of it.
    pub run_ended: Option<RunState>,
}

/// What [`QueueWorker::hand_back_rest`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HandedBackRest {
    /// The item's sessions that had not started, queued again.
    pub requeued: Vec<SessionId>,
    /// The new item holding them, if any.
    pub new_item: Option<WorkItemId>,
}
