//! How a run's sessions ended, counted: while it runs, from its sessions; once it has
//! ended, from its row, where the counts are kept in the transaction that ends it.

use std::collections::BTreeMap;

use diesel::dsl::count_star;
use diesel::prelude::*;
use minke_core::{RunId, State, Status};
use serde::{Deserialize, Serialize};

use crate::schema::{minke_runs as run, minke_sessions as ses};
use crate::{Conn, Error, Result, with_conn};

/// The sessions of a run by state and status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// All of them.
    pub total: i64,
    /// Not started.
    pub waiting: i64,
    /// Running.
    pub running: i64,
    /// Ended, whatever the outcome.
    pub done: i64,
    /// Ended with status `success`.
    pub success: i64,
    /// Ended with status `warning`.
    pub warning: i64,
    /// Ended with status `error`.
    pub error: i64,
    /// Canceled.
    pub canceled: i64,
}

impl Counts {
    /// Counts `n` sessions in `state` with `status`.
    pub fn add(&mut self, state: State, status: Option<Status>, n: i64) {
        self.total += n;
        match state {
            State::Initialized => self.waiting += n,
            State::Running => self.running += n,
            _ => self.done += n,
        }
        if state == State::Canceled {
            self.canceled += n;
        }
        match status {
            Some(Status::Success) => self.success += n,
            Some(Status::Warning) => self.warning += n,
            Some(Status::Error) => self.error += n,
            _ => {}
        }
    }

    /// The worst status so far.
    pub fn worst(&self) -> Option<Status> {
        if self.error > 0 {
            Some(Status::Error)
        } else if self.warning > 0 {
            Some(Status::Warning)
        } else if self.success > 0 {
            Some(Status::Success)
        } else {
            None
        }
    }
}

/// Counts per run of the given runs.
pub fn run_counts(conn: &mut Conn, run_ids: &[RunId]) -> Result<BTreeMap<RunId, Counts>> {
    // Ended runs keep their counts; only the others are counted.
    let kept: Vec<(RunId, Option<String>)> = with_conn!(conn, |c, B| run::table
        .filter(run::id.eq_any(run_ids))
        .select((run::id, run::counts))
        .load(c)
        .map_err(Error::query("loading the counts of ended runs")))?;
    let mut out: BTreeMap<RunId, Counts> = BTreeMap::new();
    let mut open = Vec::new();
    for (id, counts) in kept {
        match counts.and_then(|t| serde_json::from_str::<Counts>(&t).ok()) {
            Some(c) => {
                out.insert(id, c);
            }
            None => open.push(id),
        }
    }
    out.extend(count_sessions(conn, &open)?);
    Ok(out)
}

/// Counts the sessions of these runs by state and status.
fn count_sessions(conn: &mut Conn, run_ids: &[RunId]) -> Result<BTreeMap<RunId, Counts>> {
    if run_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<(RunId, State, Option<Status>, i64)> = with_conn!(conn, |c, B| ses::table
        .filter(ses::run_id.eq_any(run_ids))
        .group_by((ses::run_id, ses::state, ses::status))
        .select((ses::run_id, ses::state, ses::status, count_star()))
        .load(c)
        .map_err(Error::query("counting sessions")))?;
    let mut out: BTreeMap<RunId, Counts> = BTreeMap::new();
    for (r, state, status, n) in rows {
        out.entry(r).or_default().add(state, status, n);
    }
    Ok(out)
}

/// Keeps the counts of runs that have ended in their rows (every place that ends a
/// run calls it, in the same transaction), so that lists of runs read them.
pub(crate) fn keep_run_counts(conn: &mut Conn, run_ids: &[RunId]) -> Result<()> {
    let mut counted = count_sessions(conn, run_ids)?;
    for id in run_ids {
        let counts = counted.remove(id).unwrap_or_default();
        let text = serde_json::to_string(&counts)
            .map_err(|e| Error::Worker(format!("writing the counts of run {id}: {e}")))?;
        with_conn!(conn, |c, B| diesel::update(run::table.find(*id))
            .set(run::counts.eq(Some(text)))
            .execute(c)
            .map_err(Error::query(format!("keeping the counts of run {id}"))))?;
    }
    Ok(())
}
