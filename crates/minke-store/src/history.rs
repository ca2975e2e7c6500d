//! The history of runs, sessions, commands and messages, and host locks.

use std::collections::HashMap;

use diesel::prelude::*;
use minke_core::{FailReason, HostId, RunId, RunState, SessionId, State, Status};
use serde::Serialize;

use crate::schema::{
    minke_commands as cmd, minke_host_locks as lk, minke_last_sessions as last,
    minke_messages as msg, minke_runs as run, minke_sessions as ses, minke_work_items as wi,
};
use crate::{Conn, Error, Result, now_micros, with_conn};

/// A run to record: one session started on a selection of objects.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = run, treat_none_as_default_value = false)]
pub struct NewRun {
    /// Session name.
    pub session: String,
    /// Model name.
    pub model: String,
    /// Who started it.
    pub username: String,
    /// Parameters as JSON, secrets redacted.
    pub params: String,
    /// The selection (filter, search or ids) as JSON.
    pub selection: String,
    /// Where it is (`running` when it is recorded).
    pub state: RunState,
    /// When it was started (µs since the epoch).
    pub created_at: i64,
}

/// A recorded run.
#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = run)]
pub struct RunRecord {
    /// Id.
    pub id: RunId,
    /// Session name.
    pub session: String,
    /// Model name.
    pub model: String,
    /// Who started it.
    pub username: String,
    /// Parameters as JSON, secrets redacted.
    pub params: String,
    /// The selection as JSON.
    pub selection: String,
    /// Where it is.
    pub state: RunState,
    /// Start (µs since the epoch).
    pub created_at: i64,
    /// End (µs since the epoch).
    pub finished_at: Option<i64>,
}

/// A session to record.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = ses, treat_none_as_default_value = false)]
pub struct NewSession {
    /// The run.
    pub run_id: RunId,
    /// Session name.
    pub session: String,
    /// Model name.
    pub model: String,
    /// The object's id.
    pub object_id: i64,
    /// The object's label.
    pub object_label: String,
    /// The host's id, if resolved.
    pub host_id: Option<HostId>,
    /// The host's name, if resolved.
    pub host_name: Option<String>,
    /// State.
    pub state: State,
    /// Status, once known.
    pub status: Option<Status>,
    /// Failure reason or cancel cause.
    pub reason: Option<String>,
    /// When it was recorded.
    pub created_at: i64,
}

/// A recorded session.
#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = ses)]
pub struct SessionRecord {
    /// Id.
    pub id: SessionId,
    /// The run.
    pub run_id: RunId,
    /// Session name.
    pub session: String,
    /// Model name.
    pub model: String,
    /// The object's id.
    pub object_id: i64,
    /// The object's label.
    pub object_label: String,
    /// The host's id.
    pub host_id: Option<HostId>,
    /// The host's name.
    pub host_name: Option<String>,
    /// State.
    pub state: State,
    /// Status.
    pub status: Option<Status>,
    /// Failure reason or cancel cause.
    pub reason: Option<String>,
    /// Recorded at.
    pub created_at: i64,
    /// Started at.
    pub started_at: Option<i64>,
    /// Finished at.
    pub finished_at: Option<i64>,
}

/// A command to record, or a recorded one.
#[derive(Clone, Debug, Insertable, Queryable, Selectable, Serialize)]
#[diesel(table_name = cmd, treat_none_as_default_value = false)]
pub struct CommandRow {
    /// The session.
    pub session_id: SessionId,
    /// Order within the session.
    pub seq: i32,
    /// The command line (secrets redacted).
    pub command: String,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Exit signal.
    pub exit_signal: Option<String>,
    /// Standard output, up to the cap.
    pub stdout: Vec<u8>,
    /// Standard error, up to the cap.
    pub stderr: Vec<u8>,
    /// Bytes of standard output seen in all.
    pub stdout_len: i64,
    /// Bytes of standard error seen in all.
    pub stderr_len: i64,
    /// Standard output was cut.
    pub stdout_truncated: bool,
    /// Standard error was cut.
    pub stderr_truncated: bool,
    /// Start (µs since the epoch).
    pub started_at: i64,
    /// Duration in µs.
    pub duration_us: i64,
}

/// A message to record, or a recorded one.
#[derive(Clone, Debug, Insertable, Queryable, Selectable, Serialize)]
#[diesel(table_name = msg, treat_none_as_default_value = false)]
pub struct MessageRow {
    /// The session.
    pub session_id: SessionId,
    /// Order within the session.
    pub seq: i32,
    /// `info`, `warning` or `error`.
    pub level: String,
    /// The message as JSON ([`minke_core::MessageBody`]).
    pub body: String,
    /// When (µs since the epoch).
    pub created_at: i64,
}

/// Records a run and returns its id.
pub fn insert_run(conn: &mut Conn, new: &NewRun) -> Result<RunId> {
    with_conn!(conn, |c, B| diesel::insert_into(run::table)
        .values(new)
        .returning(run::id)
        .get_result(c)
        .map_err(Error::query("recording a run")))
}

/// Records sessions and returns their ids, in order.
pub fn insert_sessions(conn: &mut Conn, new: &[NewSession]) -> Result<Vec<SessionId>> {
    let mut ids = Vec::with_capacity(new.len());
    for chunk in new.chunks(1000) {
        let got: Vec<SessionId> = with_conn!(&mut *conn, |c, B| diesel::insert_into(ses::table)
            .values(chunk)
            .returning(ses::id)
            .get_results(c)
            .map_err(Error::query("recording sessions")))?;
        ids.extend(got);
    }
    Ok(ids)
}

/// Marks a session running.
pub fn start_session(conn: &mut Conn, id: SessionId, at: i64) -> Result<()> {
    with_conn!(conn, |c, B| diesel::update(ses::table.find(id))
        .set((ses::state.eq(State::Running), ses::started_at.eq(at)))
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!("marking session {id} running"))))
}

/// Records a session's end.
pub fn finish_session(
    conn: &mut Conn,
    id: SessionId,
    state: State,
    status: Option<Status>,
    reason: Option<&str>,
    at: i64,
) -> Result<()> {
    // A session ends once: a late writer (a worker whose lease ran out) never
    // overwrites the verdict already recorded (`interrupted` by the reaper).
    with_conn!(conn, |c, B| diesel::update(
        ses::table.find(id).filter(ses::finished_at.is_null())
    )
    .set((
        ses::state.eq(state),
        ses::status.eq(status),
        ses::reason.eq(reason),
        ses::finished_at.eq(at)
    ))
    .execute(c)
    .map(drop)
    .map_err(Error::query(format!("recording the end of session {id}"))))
}

/// What asking a run to stop through the database came to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunStopRequest {
    /// The run goes on; the stop now asked of it: 1 after the current commands, 2 at
    /// once.
    Requested(i16),
    /// The run had already ended, in this state.
    Ended(RunState),
    /// Nothing of the run had started (its work was queued): it ended now, in this
    /// state.
    Finished(RunState),
}

/// Asks a run to stop, for the process that runs it to see (it looks every half
/// second): `level` 1 after the current commands, 2 at once; `None` raises the
/// request by one step (the first asks for 1, any further one for 2). A request is
/// never lowered. Fails with [`Error::NotFound`] for an unknown run.
///
/// The request is a column of the run's row, so it works from any process and any
/// machine that reaches the database.
pub fn request_run_stop(
    conn: &mut Conn,
    run_id: RunId,
    level: Option<i16>,
) -> Result<RunStopRequest> {
    let (state, asked): (RunState, Option<i16>) = with_conn!(conn, |c, B| run::table
        .find(run_id)
        .select((run::state, run::stop_requested))
        .first(c)
        .optional()
        .map_err(Error::query(format!("loading run {run_id}"))))?
    .ok_or(Error::NotFound {
        model: "run".into(),
        id: run_id.get(),
    })?;
    if state.is_done() {
        return Ok(RunStopRequest::Ended(state));
    }
    let wanted = match level {
        Some(l) => l.clamp(1, 2).max(asked.unwrap_or(0)),
        None if asked.is_some() => 2,
        None => 1,
    };
    with_conn!(conn, |c, B| diesel::update(run::table.find(run_id))
        .set(run::stop_requested.eq(wanted))
        .execute(c)
        .map_err(Error::query(format!("asking run {run_id} to stop"))))?;
    // Whoever runs it hears of it at once (PostgreSQL, when this commits).
    crate::notify_runs(conn, &[run_id])?;
    // Work no worker holds yet never starts; a run left with nothing else ends here.
    crate::queue::cancel_queued_work(conn, run_id)?;
    if crate::queue::has_work_items(conn, run_id)?
        && let Some(state) = crate::queue::finish_run_if_complete(conn, run_id, now_micros())?
    {
        return Ok(RunStopRequest::Finished(state));
    }
    Ok(RunStopRequest::Requested(wanted))
}

/// The stop asked of a run through [`request_run_stop`], if any.
pub fn run_stop_requested(conn: &mut Conn, run_id: RunId) -> Result<Option<i16>> {
    with_conn!(conn, |c, B| run::table
        .find(run_id)
        .select(run::stop_requested)
        .first::<Option<i16>>(c)
        .optional()
        .map(Option::flatten)
        .map_err(Error::query(format!(
            "loading the stop asked of run {run_id}"
        ))))
}

/// One session of a run with its messages and commands, in order.
#[derive(Clone, Debug, Serialize)]
pub struct SessionDetail {
    /// The session.
    pub session: SessionRecord,
    /// Its messages.
    pub messages: Vec<MessageRow>,
    /// Its commands, with their output as kept.
    pub commands: Vec<CommandRow>,
}

/// A run with every session, message and command: what `show` prints.
#[derive(Clone, Debug, Serialize)]
pub struct RunDetail {
    /// The run.
    pub run: RunRecord,
    /// Its sessions, in selection order.
    pub sessions: Vec<SessionDetail>,
}

/// A run with every session, message and command (runs whose process died are
/// shown as interrupted, as [`get_run`] does). Fails with [`Error::NotFound`] for
/// an unknown run.
pub fn run_detail(conn: &mut Conn, run_id: RunId) -> Result<RunDetail> {
    let run = get_run(conn, run_id)?;
    let records = run_sessions(conn, run_id)?;
    // Two queries for the whole run, not two a session.
    let mut messages = by_session(run_messages(conn, run_id)?, |m| m.session_id);
    let mut commands = by_session(run_commands(conn, run_id)?, |c| c.session_id);
    let sessions = records
        .into_iter()
        .map(|session| SessionDetail {
            messages: messages.remove(&session.id).unwrap_or_default(),
            commands: commands.remove(&session.id).unwrap_or_default(),
            session,
        })
        .collect();
    Ok(RunDetail { run, sessions })
}

/// Rows grouped by their session, in the order given.
fn by_session<T>(rows: Vec<T>, id: impl Fn(&T) -> SessionId) -> HashMap<SessionId, Vec<T>> {
    let mut out: HashMap<SessionId, Vec<T>> = HashMap::new();
    for r in rows {
        out.entry(id(&r)).or_default().push(r);
    }
    out
}

/// The commands of every session of a run, by session and in order.
pub fn run_commands(conn: &mut Conn, run_id: RunId) -> Result<Vec<CommandRow>> {
    with_conn!(conn, |c, B| cmd::table
        .filter(cmd::session_id.eq_any(ses::table.filter(ses::run_id.eq(run_id)).select(ses::id)))
        .order((cmd::session_id.asc(), cmd::seq.asc()))
        .select(CommandRow::as_select())
        .load(c)
        .map_err(Error::query(format!(
            "loading the commands of run {run_id}"
        ))))
}

/// The messages of every session of a run, in order.
pub fn run_messages(conn: &mut Conn, run_id: RunId) -> Result<Vec<MessageRow>> {
    with_conn!(conn, |c, B| msg::table
        .filter(msg::session_id.eq_any(ses::table.filter(ses::run_id.eq(run_id)).select(ses::id)))
        .order((msg::session_id.asc(), msg::id.asc()))
        .select(MessageRow::as_select())
        .load(c)
        .map_err(Error::query(format!(
            "loading the messages of run {run_id}"
        ))))
}

/// Ends the sessions among `ids` that have not ended yet (`initialized` or
/// `running`) as `failed` with status `error` and `reason`; the ended ones keep
/// their outcome. For sessions whose worker died before it could record them.
/// Returns the ids it ended.
pub fn fail_unfinished_sessions(
    conn: &mut Conn,
    ids: &[SessionId],
    reason: &str,
    at: i64,
) -> Result<Vec<SessionId>> {
    with_conn!(conn, |c, B| {
        let open: Vec<SessionId> = ses::table
            .filter(ses::id.eq_any(ids))
            .filter(ses::state.eq_any([State::Initialized, State::Running]))
            .select(ses::id)
            .load(c)
            .map_err(Error::query("looking for sessions whose worker died"))?;
        diesel::update(ses::table.filter(ses::id.eq_any(&open)))
            .set((
                ses::state.eq(State::Failed),
                ses::status.eq(Status::Error),
                ses::reason.eq(reason),
                ses::finished_at.eq(at),
            ))
            .execute(c)
            .map_err(Error::query("recording sessions whose worker died"))?;
        Ok(open)
    })
}

/// Records a command.
pub fn insert_command(conn: &mut Conn, row: &CommandRow) -> Result<()> {
    with_conn!(conn, |c, B| diesel::insert_into(cmd::table)
        .values(row)
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!(
            "recording a command of session {}",
            row.session_id
        ))))
}

/// Records the end of a command whose row [`insert_command`] wrote when it started
/// (found by session and sequence number): exit status, output and duration.
pub fn finish_command(conn: &mut Conn, row: &CommandRow) -> Result<()> {
    with_conn!(conn, |c, B| diesel::update(
        cmd::table
            .filter(cmd::session_id.eq(row.session_id))
            .filter(cmd::seq.eq(row.seq))
    )
    .set((
        cmd::exit_code.eq(row.exit_code),
        cmd::exit_signal.eq(&row.exit_signal),
        cmd::stdout.eq(&row.stdout),
        cmd::stderr.eq(&row.stderr),
        cmd::stdout_len.eq(row.stdout_len),
        cmd::stderr_len.eq(row.stderr_len),
        cmd::stdout_truncated.eq(row.stdout_truncated),
        cmd::stderr_truncated.eq(row.stderr_truncated),
        cmd::duration_us.eq(row.duration_us),
    ))
    .execute(c)
    .map(drop)
    .map_err(Error::query(format!(
        "recording the end of a command of session {}",
        row.session_id
    ))))
}

/// Records a message.
pub fn insert_message(conn: &mut Conn, row: &MessageRow) -> Result<()> {
    with_conn!(conn, |c, B| diesel::insert_into(msg::table)
        .values(row)
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!(
            "recording a message of session {}",
            row.session_id
        ))))
}

/// Records a run's end.
pub fn finish_run(conn: &mut Conn, id: RunId, state: RunState, at: i64) -> Result<()> {
    with_conn!(conn, |c, B| diesel::update(run::table.find(id))
        .set((
            run::state.eq(state),
            run::finished_at.eq(at),
            run::sealed_params.eq(None::<String>)
        ))
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!("recording the end of run {id}"))))?;
    crate::run_counts::keep_run_counts(conn, &[id])
}

/// The newest runs first.
///
/// On a database opened read-only, where [`close_interrupted_runs`] cannot write,
/// runs whose process died are shown as `interrupted` all the same (here and in
/// [`get_run`] and [`run_sessions`]).
pub fn list_runs(conn: &mut Conn, limit: i64, offset: i64) -> Result<Vec<RunRecord>> {
    let mut runs = with_conn!(&mut *conn, |c, B| run::table
        .order(run::id.desc())
        .limit(limit)
        .offset(offset)
        .select(RunRecord::as_select())
        .load(c)
        .map_err(Error::query("listing runs")))?;
    show_interrupted(conn, &mut runs)?;
    Ok(runs)
}

/// One run.
pub fn get_run(conn: &mut Conn, id: RunId) -> Result<RunRecord> {
    let run = with_conn!(&mut *conn, |c, B| run::table
        .find(id)
        .select(RunRecord::as_select())
        .first(c)
        .optional()
        .map_err(Error::query(format!("loading run {id}"))))?
    .ok_or(Error::NotFound {
        model: "run".into(),
        id: id.get(),
    })?;
    let mut runs = [run];
    show_interrupted(conn, &mut runs)?;
    let [run] = runs;
    Ok(run)
}

#[derive(QueryableByName)]
struct QueryOnly {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    query_only: i32,
}

/// True on an SQLite connection opened only to read (`PRAGMA query_only`).
pub(crate) fn query_only(conn: &mut Conn) -> bool {
    match conn {
        Conn::Sqlite(c) => diesel::sql_query("PRAGMA query_only")
            .get_result::<QueryOnly>(c)
            .is_ok_and(|q| q.query_only != 0),
        Conn::Pg(_) => false,
    }
}

/// Of these `running` runs, those whose process died: they hold no live host lock.
fn dead_runs(conn: &mut Conn, running: &[RunId], now: i64) -> Result<Vec<RunId>> {
    let mut live: Vec<RunId> = with_conn!(conn, |c, B| lk::table
        .filter(lk::run_id.eq_any(running))
        .filter(lk::expires_at.gt(now))
        .select(lk::run_id)
        .distinct()
        .load(c)
        .map_err(Error::query("reading host locks")))?;
    live.extend(crate::queue::runs_with_open_work(conn, running)?);
    Ok(running
        .iter()
        .copied()
        .filter(|r| !live.contains(r))
        .collect())
}

/// On a read-only connection, shows the runs whose process died as `interrupted`,
/// as [`close_interrupted_runs`] would record them.
pub(crate) fn show_interrupted(conn: &mut Conn, runs: &mut [RunRecord]) -> Result<()> {
    let running: Vec<RunId> = runs
        .iter()
        .filter(|r| r.state == RunState::Running)
        .map(|r| r.id)
        .collect();
    if running.is_empty() || !query_only(conn) {
        return Ok(());
    }
    let dead = dead_runs(conn, &running, now_micros())?;
    for r in runs.iter_mut().filter(|r| dead.contains(&r.id)) {
        r.state = RunState::Interrupted;
    }
    Ok(())
}

/// The sessions of a dead run as [`close_interrupted_runs`] would record them.
fn show_interrupted_sessions(
    conn: &mut Conn,
    run_id: RunId,
    sessions: &mut [SessionRecord],
) -> Result<()> {
    let open = |s: &SessionRecord| !s.state.is_done();
    if !sessions.iter().any(open) || !query_only(conn) {
        return Ok(());
    }
    let run = get_run(conn, run_id)?;
    if run.state != RunState::Interrupted {
        return Ok(());
    }
    for s in sessions.iter_mut() {
        let (state, status) = match s.state {
            State::Running => (State::Failed, Some(Status::Error)),
            State::Initialized => (State::Canceled, s.status),
            _ => continue,
        };
        s.status = status;
        s.state = state;
        s.reason = Some(FailReason::Interrupted.as_str().into());
    }
    Ok(())
}

/// One session.
pub fn get_session(conn: &mut Conn, id: SessionId) -> Result<SessionRecord> {
    with_conn!(conn, |c, B| ses::table
        .find(id)
        .select(SessionRecord::as_select())
        .first(c)
        .optional()
        .map_err(Error::query(format!("loading session {id}"))))?
    .ok_or(Error::NotFound {
        model: "session".into(),
        id: id.get(),
    })
}

/// The sessions of a run, in order.
pub fn run_sessions(conn: &mut Conn, run_id: RunId) -> Result<Vec<SessionRecord>> {
    let mut sessions = with_conn!(&mut *conn, |c, B| ses::table
        .filter(ses::run_id.eq(run_id))
        .order(ses::id.asc())
        .select(SessionRecord::as_select())
        .load(c)
        .map_err(Error::query(format!(
            "loading the sessions of run {run_id}"
        ))))?;
    show_interrupted_sessions(conn, run_id, &mut sessions)?;
    Ok(sessions)
}

/// The commands of a session, in order.
pub fn session_commands(conn: &mut Conn, session_id: SessionId) -> Result<Vec<CommandRow>> {
    with_conn!(conn, |c, B| cmd::table
        .filter(cmd::session_id.eq(session_id))
        .order(cmd::seq.asc())
        .select(CommandRow::as_select())
        .load(c)
        .map_err(Error::query(format!(
            "loading the commands of session {session_id}"
        ))))
}

/// The command each running session of a run runs now, as recorded so far (its
/// output's tail, written now and then while it runs): the latest command of the
/// session, when it has no exit yet. For showing a run that another process
/// executes.
pub fn running_commands(conn: &mut Conn, run_id: RunId) -> Result<Vec<CommandRow>> {
    let context = format!("loading the running commands of run {run_id}");
    // The latest command of each running session first, without its output: the
    // sessions' earlier commands may have much of it.
    let latest: Vec<(SessionId, Option<i32>)> = with_conn!(&mut *conn, |c, B| cmd::table
        .inner_join(ses::table)
        .filter(ses::run_id.eq(run_id))
        .filter(ses::state.eq(State::Running))
        .group_by(cmd::session_id)
        .select((cmd::session_id, diesel::dsl::max(cmd::seq)))
        .load(c)
        .map_err(Error::query(context.clone())))?;
    let latest: std::collections::HashSet<(SessionId, i32)> = latest
        .into_iter()
        .filter_map(|(s, seq)| Some((s, seq?)))
        .collect();
    let mut rows = Vec::new();
    let ids: Vec<SessionId> = latest.iter().map(|(s, _)| *s).collect();
    for chunk in ids.chunks(crate::IDS_PER_QUERY) {
        let got: Vec<CommandRow> = with_conn!(&mut *conn, |c, B| cmd::table
            .filter(cmd::session_id.eq_any(chunk))
            .filter(cmd::exit_code.is_null())
            .filter(cmd::exit_signal.is_null())
            .select(CommandRow::as_select())
            .load(c)
            .map_err(Error::query(context.clone())))?;
        rows.extend(
            got.into_iter()
                .filter(|r| latest.contains(&(r.session_id, r.seq))),
        );
    }
    rows.sort_by_key(|r| r.session_id);
    Ok(rows)
}

/// The messages of a session, in the order they were recorded.
pub fn session_messages(conn: &mut Conn, session_id: SessionId) -> Result<Vec<MessageRow>> {
    with_conn!(conn, |c, B| msg::table
        .filter(msg::session_id.eq(session_id))
        .order(msg::id.asc())
        .select(MessageRow::as_select())
        .load(c)
        .map_err(Error::query(format!(
            "loading the messages of session {session_id}"
        ))))
}

/// The latest session of each of the given objects of a model (that has one), by
/// object id: read through the latest sessions the database keeps per object, never
/// the objects' whole history.
pub fn latest_sessions(
    conn: &mut Conn,
    model: &str,
    object_ids: &[i64],
) -> Result<Vec<SessionRecord>> {
    with_conn!(conn, |c, B| ses::table
        .filter(
            ses::id.eq_any(
                last::table
                    .filter(last::model.eq(model))
                    .filter(last::object_id.eq_any(object_ids))
                    .select(last::session_id),
            ),
        )
        .order(ses::object_id.asc())
        .select(SessionRecord::as_select())
        .load(c)
        .map_err(Error::query("loading the latest sessions")))
}

/// What `clear` deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cleared {
    /// Runs deleted.
    pub runs: usize,
    /// Sessions deleted.
    pub sessions: usize,
    /// Entries of the audit log deleted.
    pub audit: usize,
}

/// Deletes runs (with their sessions, commands and messages) started before `before`
/// (µs since the epoch), and the audit log's entries from before then. Runs still
/// going are kept.
pub fn clear_before(conn: &mut Conn, before: i64) -> Result<Cleared> {
    let mut cleared = with_conn!(&mut *conn, |c, B| {
        let old = run::table
            .filter(run::created_at.lt(before))
            .filter(run::state.ne(RunState::Running))
            .select(run::id);
        let old_sessions = ses::table.filter(ses::run_id.eq_any(old)).select(ses::id);
        diesel::delete(cmd::table.filter(cmd::session_id.eq_any(old_sessions)))
            .execute(c)
            .map_err(Error::query("deleting old commands"))?;
        diesel::delete(msg::table.filter(msg::session_id.eq_any(old_sessions)))
            .execute(c)
            .map_err(Error::query("deleting old messages"))?;
        // Objects whose latest session goes have none left: it was older still.
        diesel::delete(last::table.filter(last::session_id.eq_any(old_sessions)))
            .execute(c)
            .map_err(Error::query("deleting old latest sessions"))?;
        let sessions = diesel::delete(ses::table.filter(ses::run_id.eq_any(old)))
            .execute(c)
            .map_err(Error::query("deleting old sessions"))?;
        let runs = diesel::delete(
            run::table
                .filter(run::created_at.lt(before))
                .filter(run::state.ne(RunState::Running)),
        )
        .execute(c)
        .map_err(Error::query("deleting old runs"))?;
        Ok::<_, Error>(Cleared {
            runs,
            sessions,
            audit: 0,
        })
    })?;
    cleared.audit = crate::clear_audit_before(conn, before)?;
    Ok(cleared)
}

/// Closes the runs whose process died (killed, crashed, the machine went down): runs
/// still `running` that hold no live host lock. A live run takes the locks of its
/// hosts in the transaction that records it and keeps those of its unfinished hosts
/// fresh until it ends (a run that just released its last lock and is about to record
/// its end may be caught here too; its end then overwrites the run's state, and its
/// sessions are all done already). Each becomes `interrupted`; its running sessions
/// `failed` and its waiting ones `canceled`, both with the reason `interrupted`.
/// A run with work items queued or held by a worker is alive whatever its locks: the
/// queue's leases and reaper decide about those. Returns their ids.
pub fn close_interrupted_runs(conn: &mut Conn, now: i64) -> Result<Vec<RunId>> {
    let running: Vec<RunId> = with_conn!(&mut *conn, |c, B| run::table
        .filter(run::state.eq(RunState::Running))
        .select(run::id)
        .load(c)
        .map_err(Error::query("looking for interrupted runs")))?;
    if running.is_empty() {
        return Ok(running);
    }
    let dead = dead_runs(conn, &running, now)?;
    if dead.is_empty() {
        return Ok(dead);
    }
    with_conn!(conn, |c, B| {
        diesel::update(
            ses::table
                .filter(ses::run_id.eq_any(&dead))
                .filter(ses::state.eq(State::Running)),
        )
        .set((
            ses::state.eq(State::Failed),
            ses::status.eq(Status::Error),
            ses::reason.eq(FailReason::Interrupted.as_str()),
            ses::finished_at.eq(now),
        ))
        .execute(c)
        .map_err(Error::query("closing the sessions of interrupted runs"))?;
        diesel::update(
            ses::table
                .filter(ses::run_id.eq_any(&dead))
                .filter(ses::state.eq(State::Initialized)),
        )
        .set((
            ses::state.eq(State::Canceled),
            ses::reason.eq(FailReason::Interrupted.as_str()),
            ses::finished_at.eq(now),
        ))
        .execute(c)
        .map_err(Error::query("closing the sessions of interrupted runs"))?;
        diesel::update(run::table.filter(run::id.eq_any(&dead)))
            .set((
                run::state.eq(RunState::Interrupted),
                run::finished_at.eq(now),
                run::sealed_params.eq(None::<String>),
            ))
            .execute(c)
            .map_err(Error::query("closing interrupted runs"))?;
        diesel::delete(lk::table.filter(lk::run_id.eq_any(&dead)))
            .execute(c)
            .map_err(Error::query("removing the locks of interrupted runs"))?;
        Ok(dead)
    })
    .and_then(|dead| {
        crate::run_counts::keep_run_counts(conn, &dead)?;
        Ok(dead)
    })
}

/// Takes the locks of the given hosts for a run, for `ttl_us` microseconds. Locks held
/// by another run are left alone; expired locks (their holder died) are taken over.
/// Returns, for each host that could not be locked, the run holding it.
pub fn acquire_host_locks(
    conn: &mut Conn,
    run_id: RunId,
    host_ids: &[HostId],
    ttl_us: i64,
) -> Result<Vec<(HostId, RunId)>> {
    let now = now_micros();
    with_conn!(conn, |c, B| {
        // A lock whose run has work queued or held on the host stays: the queue
        // (its leases and reaper) decides when that work is over.
        let open = wi::table
            .filter(wi::run_id.eq(lk::run_id))
            .filter(wi::host_id.eq(lk::host_id))
            .filter(wi::state.eq_any(crate::WorkState::OPEN));
        diesel::delete(
            lk::table
                .filter(lk::expires_at.lt(now))
                .filter(diesel::dsl::not(diesel::dsl::exists(open))),
        )
        .execute(c)
        .map_err(Error::query("removing expired host locks"))?;
        for chunk in host_ids.chunks(1000) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|h| {
                    (
                        lk::host_id.eq(*h),
                        lk::run_id.eq(run_id),
                        lk::expires_at.eq(now + ttl_us),
                    )
                })
                .collect();
            diesel::insert_into(lk::table)
                .values(rows)
                .on_conflict_do_nothing()
                .execute(c)
                .map_err(Error::query("taking host locks"))?;
        }
        let mut held = Vec::new();
        for chunk in host_ids.chunks(1000) {
            let others: Vec<(HostId, RunId)> = lk::table
                .filter(lk::host_id.eq_any(chunk))
                .filter(lk::run_id.ne(run_id))
                .select((lk::host_id, lk::run_id))
                .load(c)
                .map_err(Error::query("reading host locks"))?;
            held.extend(others);
        }
        Ok(held)
    })
}

/// Extends the locks of a run (its heartbeat).
pub fn refresh_host_locks(conn: &mut Conn, run_id: RunId, ttl_us: i64) -> Result<()> {
    let until = now_micros() + ttl_us;
    with_conn!(conn, |c, B| diesel::update(
        lk::table.filter(lk::run_id.eq(run_id))
    )
    .set(lk::expires_at.eq(until))
    .execute(c)
    .map(drop)
    .map_err(Error::query(format!(
        "refreshing the host locks of run {run_id}"
    ))))
}

/// Releases the lock of one host held by a run.
pub fn release_host_lock(conn: &mut Conn, run_id: RunId, host_id: HostId) -> Result<()> {
    with_conn!(conn, |c, B| diesel::delete(
        lk::table
            .filter(lk::run_id.eq(run_id))
            .filter(lk::host_id.eq(host_id))
    )
    .execute(c)
    .map(drop)
    .map_err(Error::query(format!(
        "releasing the lock of host {host_id}"
    ))))
}

/// Releases every lock of a run.
pub fn release_host_locks(conn: &mut Conn, run_id: RunId) -> Result<()> {
    with_conn!(conn, |c, B| diesel::delete(
        lk::table.filter(lk::run_id.eq(run_id))
    )
    .execute(c)
    .map(drop)
    .map_err(Error::query(format!(
        "releasing the host locks of run {run_id}"
    ))))
}
