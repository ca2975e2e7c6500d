//! A run's work as a whole: cancel what is queued, end the run when nothing is
//! left, its own concurrency and sealed parameters.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use minke_core::{RunId, RunState, State};

use super::{WorkState, now_sql};
use crate::schema::{
    minke_host_locks as lk, minke_runs as run, minke_sessions as ses, minke_work_items as wi,
};
use crate::{Conn, Error, Result, now_micros, with_conn};

/// Why a session whose work was still queued when its run was stopped never ran.
pub const CANCELED_IN_QUEUE: &str = "canceled before it started";

/// Of these runs, those with work items that are not over ([`WorkState::OPEN`]).
pub(crate) fn runs_with_open_work(conn: &mut Conn, runs: &[RunId]) -> Result<Vec<RunId>> {
    with_conn!(conn, |c, B| wi::table
        .filter(wi::run_id.eq_any(runs))
        .filter(wi::state.eq_any(WorkState::OPEN))
        .select(wi::run_id)
        .distinct()
        .load(c)
        .map_err(Error::query("looking for runs with open work")))
}

/// True when the run was queued for workers (it has work items, open or not).
pub(crate) fn has_work_items(conn: &mut Conn, run_id: RunId) -> Result<bool> {
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
pub fn cancel_queued_work(conn: &mut Conn, run_id: RunId) -> Result<Vec<i64>> {
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
pub fn finish_run_if_complete(conn: &mut Conn, run_id: RunId, at: i64) -> Result<Option<RunState>> {
    let context = format!("ending run {run_id} when its work is over");
    let open_sessions = [State::Initialized, State::Running];
    // `EXISTS`, not a count: a big run asks this at the end of each of its items.
    // The run's row locked first (PostgreSQL): whoever ends an item of the run takes
    // it after ending the item and before looking at what is left, so that of two
    // workers ending the run's last two items at once the second sees the first's
    // end (without it each saw the other's item open, and the run was never ended).
    let asked = {
        let running = run::table
            .find(run_id)
            .filter(run::state.eq(RunState::Running))
            .select(run::stop_requested);
        match &mut *conn {
            Conn::Pg(c) => running.for_no_key_update().first::<Option<i16>>(c),
            Conn::Sqlite(c) => running.first::<Option<i16>>(c),
        }
        .optional()
        .map_err(Error::query(context.clone()))?
    };
    let (asked, left): (Option<Option<i16>>, bool) = with_conn!(&mut *conn, |c, B| {
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
    crate::run_counts::keep_run_counts(conn, &[run_id])?;
    crate::notify_runs(conn, &[run_id])?;
    Ok(Some(state))
}

/// Gives a queued run a concurrency of its own: at most `hosts` of its work items
/// held at once, over all workers (see [`QueueWorker::claim`]).
pub fn set_run_concurrency(conn: &mut Conn, run_id: RunId, hosts: u32) -> Result<()> {
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
pub fn seal_run_params(conn: &mut Conn, run_id: RunId, sealed: &str) -> Result<()> {
    with_conn!(conn, |c, B| diesel::update(run::table.find(run_id))
        .set(run::sealed_params.eq(sealed))
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!(
            "keeping the sealed parameters of run {run_id}"
        ))))
}

/// A run's sealed secret parameters, while it goes on.
pub fn sealed_run_params(conn: &mut Conn, run_id: RunId) -> Result<Option<String>> {
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
