//! History rows the writer merges. The engine records each session's start, its
//! commands, messages and end as they happen: small writes, thousands a second over a
//! big run. Queued one after another, the writer applies all rows of one kind in one
//! statement on PostgreSQL (columns bound as arrays and read back with `unnest`)
//! instead of a round trip each; on SQLite, where a statement costs no round trip,
//! each row is written by itself.
//!
//! Rows queued between two other writes are applied kind by kind, in this order:
//! session starts, commands, ends of commands (a command's output so far is one
//! too: the last queued of a command stands), messages, ends of sessions. Every row
//! refers only to rows written before it was queued or to rows of an earlier kind (a
//! command's end to its start, a session's end to its start), so the order of each
//! session's history stands.

use std::collections::{HashMap, HashSet};

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Binary, Bool, Integer, Nullable, Text};
use minke_core::{SessionId, State, Status, WorkItemId};
use tokio::sync::oneshot;

use crate::{CommandRow, Conn, Error, MessageRow, Result};

/// One row of a session's history, queued with [`Store::record_later`](crate::Store::record_later).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HistoryRow {
    /// A session of a run executed in this process starts.
    SessionStart {
        /// The session.
        id: SessionId,
        /// When (µs since the epoch).
        at: i64,
    },
    /// A command: just started (no outcome yet), or whole.
    Command(CommandRow),
    /// The outcome of a command whose start row was queued before, or its output so
    /// far (no exit yet).
    CommandEnd(CommandRow),
    /// A message.
    Message(MessageRow),
    /// A session's end (ignored when the session has ended already).
    SessionEnd(SessionEnd),
}

/// The end of a session.
#[derive(Clone, Debug)]
pub struct SessionEnd {
    /// The session.
    pub id: SessionId,
    /// Its final state.
    pub state: State,
    /// Its status, when it completed.
    pub status: Option<Status>,
    /// Failure reason or cancel cause.
    pub reason: Option<String>,
    /// When (µs since the epoch).
    pub at: i64,
}

/// A session's start asked by a queue worker: recorded only while the worker holds
/// the session's work item ([`QueueWorker::start_session`](crate::QueueWorker::start_session)).
#[derive(Clone, Debug)]
pub(crate) struct HeldStart {
    pub(crate) worker: String,
    pub(crate) item: WorkItemId,
    pub(crate) session: SessionId,
    pub(crate) at: i64,
}

/// How a queued row is made and told of its fate.
pub(crate) enum RowJob {
    /// A history row, made when the writer takes it.
    Row {
        what: &'static str,
        make: Box<dyn FnOnce() -> HistoryRow + Send>,
        failed: Box<dyn FnOnce(String) + Send>,
    },
    /// A worker's conditional start, answered once the batch is committed.
    Held {
        start: HeldStart,
        answer: oneshot::Sender<Result<bool>>,
    },
    /// The end of a work item a worker ran, answered once the batch is committed.
    ItemEnd(ItemEndJob),
}

/// An item's end asked by its worker ([`Store::end_work_item`](crate::Store::end_work_item)).
pub(crate) struct ItemEndJob {
    pub(crate) worker: crate::QueueWorker,
    pub(crate) item: crate::WorkItem,
    pub(crate) at: i64,
    pub(crate) answer: oneshot::Sender<Result<Option<crate::ItemEnd>>>,
}

/// A row made, and what to do once the batch ends.
enum Made {
    Row {
        what: &'static str,
        row: HistoryRow,
        failed: Box<dyn FnOnce(String) + Send>,
    },
    Held {
        start: HeldStart,
        answer: oneshot::Sender<Result<bool>>,
    },
    ItemEnd(ItemEndJob),
}

/// What a merged write decided for the rows that ask: the held starts recorded and
/// the items' ends, by index in the batch.
#[derive(Default)]
struct Decided {
    started: HashSet<usize>,
    ended: HashMap<usize, Option<crate::ItemEnd>>,
}

/// What the writer calls once the batch's transaction ended (its commit's outcome).
pub(crate) type Finish = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// Writes queued rows: on PostgreSQL all in one savepoint, kind by kind, and when
/// that fails each again in its own, so that only a failing row is lost; on SQLite
/// each by itself.
pub(crate) fn apply(c: &mut Conn, jobs: Vec<RowJob>, finishes: &mut Vec<Finish>) {
    if jobs.is_empty() {
        return;
    }
    let made: Vec<Made> = jobs
        .into_iter()
        .map(|job| match job {
            RowJob::Row { what, make, failed } => Made::Row {
                what,
                row: make(),
                failed,
            },
            RowJob::Held { start, answer } => Made::Held { start, answer },
            RowJob::ItemEnd(end) => Made::ItemEnd(end),
        })
        .collect();
    let mut merged = match &*c {
        Conn::Pg(_) if made.len() > 1 => c.transaction(|c| merged(c, &made)).ok(),
        _ => None,
    };
    for (i, m) in made.into_iter().enumerate() {
        match m {
            Made::Row { what, row, failed } => {
                let out = match &merged {
                    Some(_) => Ok(()),
                    None => one(c, &row),
                };
                finishes.push(told(what, out, failed));
            }
            Made::Held { start, answer } => {
                let out = match &merged {
                    Some(d) => Ok(d.started.contains(&i)),
                    None => one_held(c, &start),
                };
                finishes.push(answered(answer, out));
            }
            Made::ItemEnd(end) => {
                let out = match merged.as_mut().and_then(|d| d.ended.remove(&i)) {
                    Some(ended) => Ok(ended),
                    None => c.transaction(|c| end.worker.end_item(c, &end.item, end.at)),
                };
                finishes.push(answered(end.answer, out));
            }
        }
    }
}

/// Tells a waiting caller what its write came to, once the batch's commit is known.
pub(crate) fn answered<T: Send + 'static>(
    answer: oneshot::Sender<Result<T>>,
    out: Result<T>,
) -> Finish {
    Box::new(move |commit| {
        let _ = answer.send(match commit {
            Ok(()) => out,
            Err(e) => Err(Error::Worker(format!("commit failed: {e}"))),
        });
    })
}

/// The end of a write that may fail: `failed` is told why when the write or the
/// commit of its batch failed.
pub(crate) fn told(
    what: &'static str,
    out: Result<()>,
    failed: Box<dyn FnOnce(String) + Send>,
) -> Finish {
    Box::new(move |commit| {
        let why = match (out, commit) {
            (Err(e), _) => format!("writing {what} failed: {e}"),
            (Ok(()), Err(e)) => format!("committing {what} failed: {e}"),
            (Ok(()), Ok(())) => return,
        };
        failed(why);
    })
}

/// One row in its own savepoint (PostgreSQL) or by itself (SQLite).
fn one(c: &mut Conn, row: &HistoryRow) -> Result<()> {
    let write = |c: &mut Conn| match row {
        HistoryRow::SessionStart { id, at } => crate::start_session(c, *id, *at),
        HistoryRow::Command(r) => crate::insert_command(c, r),
        HistoryRow::CommandEnd(r) => crate::finish_command(c, r),
        HistoryRow::Message(r) => crate::insert_message(c, r),
        HistoryRow::SessionEnd(e) => {
            crate::finish_session(c, e.id, e.state, e.status, e.reason.as_deref(), e.at)
        }
    };
    match c {
        Conn::Pg(_) => c.transaction(write),
        Conn::Sqlite(_) => crate::conn::guarded(|| write(c)),
    }
}

fn one_held(c: &mut Conn, s: &HeldStart) -> Result<bool> {
    match c {
        Conn::Pg(_) => c.transaction(|c| crate::queue::start_held(c, s)),
        Conn::Sqlite(_) => crate::conn::guarded(|| crate::queue::start_held(c, s)),
    }
}

/// Every row in one statement per kind, in the module's order (the items' ends
/// last: they look at their sessions' ends); what was decided for the held starts
/// and the items' ends, by index in `made`.
fn merged(c: &mut Conn, made: &[Made]) -> Result<Decided> {
    let mut held = Vec::new();
    let mut item_ends = Vec::new();
    let mut starts = Vec::new();
    let mut commands = Vec::new();
    let mut command_ends = Vec::new();
    let mut messages = Vec::new();
    let mut ends: Vec<&SessionEnd> = Vec::new();
    for (i, m) in made.iter().enumerate() {
        match m {
            Made::Held { start, .. } => held.push((i, start)),
            Made::ItemEnd(end) => item_ends.push((i, end)),
            Made::Row { row, .. } => match row {
                HistoryRow::SessionStart { id, at } => starts.push((*id, *at)),
                HistoryRow::Command(r) => commands.push(r),
                // Written more than once (its output so far, then its end): the
                // last one queued stands.
                HistoryRow::CommandEnd(r) => {
                    command_ends
                        .retain(|x: &&CommandRow| (x.session_id, x.seq) != (r.session_id, r.seq));
                    command_ends.push(r);
                }
                HistoryRow::Message(r) => messages.push(r),
                // A session ends once: the first end queued stands.
                HistoryRow::SessionEnd(e) if ends.iter().all(|x| x.id != e.id) => ends.push(e),
                HistoryRow::SessionEnd(_) => {}
            },
        }
    }
    let pg = match c {
        Conn::Pg(pg) => pg,
        Conn::Sqlite(_) => return Err(Error::Worker("merged rows need PostgreSQL".into())),
    };
    let started = held_starts(pg, &held)?;
    session_starts(pg, &starts)?;
    insert_commands(pg, &commands)?;
    finish_commands(pg, &command_ends)?;
    insert_messages(pg, &messages)?;
    finish_sessions(pg, &ends)?;
    let ended = end_items(c, &item_ends)?;
    Ok(Decided { started, ended })
}

/// The items' ends ([`crate::queue::end_items`]), by index in the batch.
fn end_items(
    c: &mut Conn,
    ends: &[(usize, &ItemEndJob)],
) -> Result<HashMap<usize, Option<crate::ItemEnd>>> {
    if ends.is_empty() {
        return Ok(HashMap::new());
    }
    let asked: Vec<_> = ends
        .iter()
        .map(|(_, e)| (&e.worker, &e.item, e.at))
        .collect();
    let ended = crate::queue::end_items(c, &asked)?;
    Ok(ends.iter().map(|(i, _)| *i).zip(ended).collect())
}

fn held_starts(c: &mut PgConnection, held: &[(usize, &HeldStart)]) -> Result<HashSet<usize>> {
    if held.is_empty() {
        return Ok(HashSet::new());
    }
    let starts: Vec<&HeldStart> = held.iter().map(|(_, s)| *s).collect();
    let mut started = crate::queue::start_held_pg(c, &starts)?;
    // A session starts once: asked twice in one batch, the first ask has it.
    Ok(held
        .iter()
        .filter(|(_, s)| started.remove(&s.session))
        .map(|(i, _)| *i)
        .collect())
}

fn session_starts(c: &mut PgConnection, starts: &[(SessionId, i64)]) -> Result<()> {
    if starts.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "UPDATE minke_sessions SET state = 'running', started_at = v.at \
         FROM unnest($1::bigint[], $2::bigint[]) AS v(id, at) \
         WHERE minke_sessions.id = ANY($1) AND minke_sessions.id = v.id",
    )
    .bind::<Array<BigInt>, _>(starts.iter().map(|s| s.0).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(starts.iter().map(|s| s.1).collect::<Vec<_>>())
    .execute(c)
    .map(drop)
    .map_err(Error::query(format!(
        "marking {} sessions running",
        starts.len()
    )))
}

/// Every column of `minke_commands` but its id, in order, as `unnest` of the arrays
/// bound by [`with_command_columns`].
const COMMAND_COLUMNS: &str = "unnest($1::bigint[], $2::int4[], $3::text[], $4::int4[], \
     $5::text[], $6::bytea[], $7::bytea[], $8::bigint[], $9::bigint[], $10::bool[], \
     $11::bool[], $12::bigint[], $13::bigint[])";

fn insert_commands(c: &mut PgConnection, rows: &[&CommandRow]) -> Result<()> {
    let sql = format!(
        "INSERT INTO minke_commands (session_id, seq, command, exit_code, exit_signal, \
         stdout, stderr, stdout_len, stderr_len, stdout_truncated, stderr_truncated, \
         started_at, duration_us) SELECT * FROM {COMMAND_COLUMNS}"
    );
    with_command_columns(c, &sql, rows, "recording")
}

fn finish_commands(c: &mut PgConnection, rows: &[&CommandRow]) -> Result<()> {
    let sql = format!(
        "UPDATE minke_commands SET exit_code = v.exit_code, exit_signal = v.exit_signal, \
         stdout = v.stdout, stderr = v.stderr, stdout_len = v.stdout_len, \
         stderr_len = v.stderr_len, stdout_truncated = v.stdout_truncated, \
         stderr_truncated = v.stderr_truncated, duration_us = v.duration_us \
         FROM {COMMAND_COLUMNS} AS v(session_id, seq, command, exit_code, exit_signal, \
         stdout, stderr, stdout_len, stderr_len, stdout_truncated, stderr_truncated, \
         started_at, duration_us) \
         WHERE minke_commands.session_id = ANY($1) \
         AND minke_commands.session_id = v.session_id AND minke_commands.seq = v.seq"
    );
    with_command_columns(c, &sql, rows, "recording the end of")
}

/// Runs `sql` with the columns of `rows` bound as arrays ([`COMMAND_COLUMNS`]).
fn with_command_columns(
    c: &mut PgConnection,
    sql: &str,
    rows: &[&CommandRow],
    doing: &str,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&CommandRow) -> i64| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let flag = |f: fn(&CommandRow) -> bool| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    diesel::sql_query(sql)
        .bind::<Array<BigInt>, _>(col(|r| r.session_id.get()))
        .bind::<Array<Integer>, _>(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.command.as_str()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Integer>>, _>(rows.iter().map(|r| r.exit_code).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(
            rows.iter()
                .map(|r| r.exit_signal.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Binary>, _>(rows.iter().map(|r| r.stdout.as_slice()).collect::<Vec<_>>())
        .bind::<Array<Binary>, _>(rows.iter().map(|r| r.stderr.as_slice()).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(col(|r| r.stdout_len))
        .bind::<Array<BigInt>, _>(col(|r| r.stderr_len))
        .bind::<Array<Bool>, _>(flag(|r| r.stdout_truncated))
        .bind::<Array<Bool>, _>(flag(|r| r.stderr_truncated))
        .bind::<Array<BigInt>, _>(col(|r| r.started_at))
        .bind::<Array<BigInt>, _>(col(|r| r.duration_us))
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!("{doing} {} commands", rows.len())))
}

fn insert_messages(c: &mut PgConnection, rows: &[&MessageRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO minke_messages (session_id, seq, level, body, created_at) \
         SELECT * FROM unnest($1::bigint[], $2::int4[], $3::text[], $4::text[], $5::bigint[])",
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.session_id).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.level.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.body.as_str()).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .execute(c)
    .map(drop)
    .map_err(Error::query(format!("recording {} messages", rows.len())))
}

fn finish_sessions(c: &mut PgConnection, ends: &[&SessionEnd]) -> Result<()> {
    if ends.is_empty() {
        return Ok(());
    }
    // A session ends once: a late writer never overwrites a verdict recorded already.
    diesel::sql_query(
        "UPDATE minke_sessions SET state = v.state, status = v.status, reason = v.reason, \
         finished_at = v.at \
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[]) \
         AS v(id, state, status, reason, at) \
         WHERE minke_sessions.id = ANY($1) AND minke_sessions.id = v.id \
         AND minke_sessions.finished_at IS NULL",
    )
    .bind::<Array<BigInt>, _>(ends.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(ends.iter().map(|e| e.state.as_str()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(
        ends.iter()
            .map(|e| e.status.map(Status::as_str))
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(ends.iter().map(|e| e.reason.as_deref()).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(ends.iter().map(|e| e.at).collect::<Vec<_>>())
    .execute(c)
    .map(drop)
    .map_err(Error::query(format!(
        "recording the end of {} sessions",
        ends.len()
    )))
}
