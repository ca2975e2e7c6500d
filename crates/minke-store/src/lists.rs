//! The history as the admin and the API list it: runs and sessions filtered and
//! paged by the database, their sessions counted by outcome, a model's objects by the
//! outcome of their latest session, and commands with the start of their output.

use diesel::dsl::{exists, not};
use diesel::prelude::*;
use minke_core::{RunId, RunState, SessionId, State, Status};
use serde::Serialize;

use crate::run_counts::{Counts, run_counts};
use crate::schema::{
    minke_commands as cmd, minke_last_sessions as last, minke_runs as run, minke_sessions as ses,
};
use crate::{Conn, Error, Result, RunRecord, SessionRecord, with_conn};

/// A page past the middle of `total` rows, seen from the end: the offset and limit
/// that read it the other way round (its rows then reversed), so that the last page
/// costs what the first does; `None` for a page in the first half (or past the end).
///
/// ```
/// use minke_store::from_the_end;
/// assert_eq!(from_the_end(1000, 0, 50), None);
/// assert_eq!(from_the_end(1000, 950, 50), Some((0, 50)));
/// assert_eq!(from_the_end(103, 100, 50), Some((0, 3)), "a short last page");
/// assert_eq!(from_the_end(103, 50, 50), Some((3, 50)));
/// assert_eq!(from_the_end(103, 150, 50), None, "past the end");
/// ```
pub fn from_the_end(total: i64, offset: i64, limit: i64) -> Option<(i64, i64)> {
    let after = total - offset - limit;
    (offset > after && offset < total).then(|| (after.max(0), limit + after.min(0)))
}

/// How many rows `table` has as PostgreSQL's statistics estimate it (kept by
/// `ANALYZE` and autovacuum), when that is at least `at_least`: counting so many rows
/// exactly costs a scan. `None` on SQLite, and for a smaller, unknown or never
/// analyzed table.
pub fn estimated_rows(conn: &mut Conn, table: &str, at_least: i64) -> Result<Option<i64>> {
    #[derive(QueryableByName)]
    struct Estimate {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        n: Option<i64>,
    }
    let Conn::Pg(pg) = conn else {
        return Ok(None);
    };
    let found: Option<Estimate> = diesel::sql_query(
        "SELECT reltuples::bigint AS n FROM pg_class WHERE oid = to_regclass($1)",
    )
    .bind::<diesel::sql_types::Text, _>(table)
    .get_result(pg)
    .optional()
    .map_err(Error::query(format!("estimating the rows of `{table}`")))?;
    Ok(found.and_then(|e| e.n).filter(|&n| n >= at_least))
}

/// Of `columns` of `table`, those that start no index: a list ordered by one of them
/// sorts every matching row instead of reading a page from an index. An unknown table
/// has none.
pub fn unindexed_columns(conn: &mut Conn, table: &str, columns: &[&str]) -> Result<Vec<String>> {
    #[derive(QueryableByName)]
    struct First {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let context = || format!("reading the indexes of `{table}`");
    let leading: Vec<String> = match conn {
        Conn::Pg(pg) => diesel::sql_query(
            // B-tree indexes only: a trigram index serves searches, not orders.
            "SELECT a.attname::text AS name FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree' \
             WHERE i.indrelid = to_regclass($1)",
        )
        .bind::<diesel::sql_types::Text, _>(table)
        .load::<First>(pg)
        .map_err(Error::query(context()))?
        .into_iter()
        .map(|f| f.name)
        .collect(),
        Conn::Sqlite(lite) => {
            // The integer primary key is the table's own order; the other indexes
            // are listed by name, each with its first column.
            let mut out: Vec<String> = diesel::sql_query(
                "SELECT name FROM pragma_table_info(?) WHERE pk = 1 AND lower(type) LIKE '%int%'",
            )
            .bind::<diesel::sql_types::Text, _>(table)
            .load::<First>(lite)
            .map_err(Error::query(context()))?
            .into_iter()
            .map(|f| f.name)
            .collect();
            out.extend(
                diesel::sql_query(
                    "SELECT ii.name AS name FROM pragma_index_list(?1) il \
                     JOIN pragma_index_info(il.name) ii ON ii.seqno = 0",
                )
                .bind::<diesel::sql_types::Text, _>(table)
                .load::<First>(lite)
                .map_err(Error::query(context()))?
                .into_iter()
                .map(|f| f.name),
            );
            out
        }
    };
    Ok(columns
        .iter()
        .filter(|c| !leading.iter().any(|l| l == *c))
        .map(|c| (*c).to_owned())
        .collect())
}

/// How a page of a list newest first is read: from the start, or past the middle
/// from the end the other way round ([`from_the_end`]).
#[derive(Clone, Copy)]
struct Page {
    from_the_end: bool,
    offset: i64,
    limit: i64,
}

impl Page {
    fn of(total: i64, offset: i64, limit: i64) -> Page {
        match from_the_end(total, offset, limit) {
            Some((offset, limit)) => Page {
                from_the_end: true,
                offset,
                limit,
            },
            None => Page {
                from_the_end: false,
                offset,
                limit,
            },
        }
    }

    /// The rows read, in the list's order.
    fn in_order<T>(self, mut rows: Vec<T>) -> Vec<T> {
        if self.from_the_end {
            rows.reverse();
        }
        rows
    }
}

/// Filters of the runs list ([`find_runs`]); each one set narrows it.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Runs of this session.
    pub session: Option<String>,
    /// Runs on this model.
    pub model: Option<String>,
    /// Runs in this state.
    pub state: Option<RunState>,
    /// Runs whose worst session outcome is this.
    pub status: Option<Status>,
    /// Runs started by this user.
    pub user: Option<String>,
    /// Runs started at or after this time (µs since the epoch).
    pub from: Option<i64>,
    /// Runs started before this time (µs since the epoch).
    pub to: Option<i64>,
    /// Only runs on these models (what the user may view); `None` for all.
    pub models: Option<Vec<String>>,
    /// At most this many.
    pub limit: i64,
    /// After skipping this many.
    pub offset: i64,
}

/// Adds `column = value` to the boxed query `q` for each filter field that is set.
macro_rules! filter_eq {
    ($q:ident; $($field:expr => $col:expr),* $(,)?) => {
        $(
            if let Some(v) = &$field {
                $q = $q.filter($col.eq(v.clone()));
            }
        )*
    };
}

macro_rules! run_filtered {
    ($f:expr, $B:ident) => {{
        let f: &RunFilter = $f;
        let mut q = run::table.into_boxed::<$B>();
        filter_eq!(q;
            f.session => run::session,
            f.model => run::model,
            f.state => run::state,
            f.user => run::username,
        );
        if let Some(v) = f.from {
            q = q.filter(run::created_at.ge(v));
        }
        if let Some(v) = f.to {
            q = q.filter(run::created_at.lt(v));
        }
        if let Some(m) = &f.models {
            q = q.filter(run::model.eq_any(m.clone()));
        }
        let with = |s: Status| {
            exists(
                ses::table
                    .filter(ses::run_id.eq(run::id))
                    .filter(ses::status.eq(s)),
            )
        };
        match f.status {
            Some(Status::Error) => q = q.filter(with(Status::Error)),
            Some(Status::Warning) => {
                q = q.filter(with(Status::Warning).and(not(with(Status::Error))))
            }
            Some(Status::Success) => {
                q = q.filter(
                    with(Status::Success)
                        .and(not(with(Status::Warning)))
                        .and(not(with(Status::Error))),
                )
            }
            None => {}
        }
        q
    }};
}

/// The runs a filter selects, newest first, and how many there are in all.
pub fn find_runs(conn: &mut Conn, f: &RunFilter) -> Result<(Vec<RunRecord>, i64)> {
    let (mut rows, total) = with_conn!(&mut *conn, |c, B| {
        let total: i64 = run_filtered!(f, B)
            .count()
            .get_result(c)
            .map_err(Error::query("counting runs"))?;
        let page = Page::of(total, f.offset, f.limit);
        let q = run_filtered!(f, B);
        let q = if page.from_the_end {
            q.order(run::id.asc())
        } else {
            q.order(run::id.desc())
        };
        let rows = q
            .limit(page.limit)
            .offset(page.offset)
            .select(RunRecord::as_select())
            .load(c)
            .map(|rows| page.in_order(rows))
            .map_err(Error::query("listing runs"))?;
        Ok::<_, Error>((rows, total))
    })?;
    // As `list_runs` shows them on a read-only database.
    crate::history::show_interrupted(conn, &mut rows)?;
    Ok((rows, total))
}

/// A run as lists show it (the runs page, the start page, the API): its record, the
/// worst status of its sessions so far and their counts.
#[derive(Clone, Debug, Serialize)]
pub struct ListedRun {
    /// The run.
    #[serde(flatten)]
    pub run: RunRecord,
    /// The worst status of its sessions so far.
    pub status: Option<Status>,
    /// Its sessions by state and status.
    pub counts: Counts,
}

/// The runs a filter selects, newest first, each with its counts, and how many the
/// filter selects in all.
pub fn runs_with_counts(conn: &mut Conn, f: &RunFilter) -> Result<(Vec<ListedRun>, i64)> {
    let (runs, total) = find_runs(conn, f)?;
    Ok((with_counts(conn, runs)?, total))
}

/// Runs with their sessions' counts, as lists show them.
pub fn with_counts(conn: &mut Conn, runs: Vec<RunRecord>) -> Result<Vec<ListedRun>> {
    let ids: Vec<RunId> = runs.iter().map(|r| r.id).collect();
    let mut counts = run_counts(conn, &ids)?;
    Ok(runs
        .into_iter()
        .map(|run| {
            let counts = counts.remove(&run.id).unwrap_or_default();
            ListedRun {
                status: counts.worst(),
                counts,
                run,
            }
        })
        .collect())
}

/// The newest run on a model.
pub fn latest_run(conn: &mut Conn, model: &str) -> Result<Option<RunRecord>> {
    with_conn!(conn, |c, B| run::table
        .filter(run::model.eq(model))
        .order(run::id.desc())
        .select(RunRecord::as_select())
        .first(c)
        .optional()
        .map_err(Error::query("loading the latest run")))
}

/// Filters of the sessions list ([`find_sessions`]); each one set narrows it.
#[derive(Clone, Debug, Default)]
pub struct SessionFilter {
    /// Sessions of this name.
    pub session: Option<String>,
    /// Sessions on this model.
    pub model: Option<String>,
    /// Sessions in this state.
    pub state: Option<State>,
    /// Sessions that ended with this status.
    pub status: Option<Status>,
    /// Sessions of runs started by this user.
    pub user: Option<String>,
    /// Sessions on the host of this name.
    pub host: Option<String>,
    /// Sessions on the object of this id.
    pub object_id: Option<i64>,
    /// Sessions of this run.
    pub run_id: Option<RunId>,
    /// Sessions recorded at or after this time (µs since the epoch).
    pub from: Option<i64>,
    /// Sessions recorded before this time (µs since the epoch).
    pub to: Option<i64>,
    /// Only sessions on these models (what the user may view); `None` for all.
    pub models: Option<Vec<String>>,
    /// At most this many.
    pub limit: i64,
    /// After skipping this many.
    pub offset: i64,
}

/// The sessions `$f` selects from `$from` (the sessions, alone or joined with their
/// runs): every condition is on the sessions' own columns (the user through a
/// subquery), so that counting needs no join.
macro_rules! session_filtered {
    ($f:expr, $B:ident, $from:expr) => {{
        let f: &SessionFilter = $f;
        let mut q = $from.into_boxed::<$B>();
        filter_eq!(q;
            f.session => ses::session,
            f.model => ses::model,
            f.state => ses::state,
            f.status => ses::status,
            f.host => ses::host_name,
            f.object_id => ses::object_id,
            f.run_id => ses::run_id,
        );
        if let Some(user) = &f.user {
            let by = diesel::alias!(run as runs_by_user);
            q = q.filter(
                ses::run_id.eq_any(
                    by.filter(by.field(run::username).eq(user.clone()))
                        .select(by.field(run::id)),
                ),
            );
        }
        if let Some(v) = f.from {
            q = q.filter(ses::created_at.ge(v));
        }
        if let Some(v) = f.to {
            q = q.filter(ses::created_at.lt(v));
        }
        if let Some(m) = &f.models {
            q = q.filter(ses::model.eq_any(m.clone()));
        }
        q
    }};
}

/// The sessions a filter selects with who started them, newest first, and how many
/// there are in all.
pub fn find_sessions(
    conn: &mut Conn,
    f: &SessionFilter,
) -> Result<(Vec<(SessionRecord, String)>, i64)> {
    with_conn!(conn, |c, B| {
        let total: i64 = session_filtered!(f, B, ses::table)
            .count()
            .get_result(c)
            .map_err(Error::query("counting sessions"))?;
        let page = Page::of(total, f.offset, f.limit);
        let q = session_filtered!(f, B, ses::table.inner_join(run::table));
        let q = if page.from_the_end {
            q.order(ses::id.asc())
        } else {
            q.order(ses::id.desc())
        };
        let rows = q
            .limit(page.limit)
            .offset(page.offset)
            .select((SessionRecord::as_select(), run::username))
            .load(c)
            .map(|rows| page.in_order(rows))
            .map_err(Error::query("listing sessions"))?;
        Ok((rows, total))
    })
}

/// The ids of a model's objects whose latest session ended with `status`.
pub fn objects_with_last_status(conn: &mut Conn, model: &str, status: Status) -> Result<Vec<i64>> {
    with_conn!(conn, |c, B| last::table
        .filter(last::model.eq(model))
        .filter(last::status.eq(status))
        .order(last::object_id.asc())
        .select(last::object_id)
        .load(c)
        .map_err(Error::query("selecting objects by their last status")))
}

/// The sessions run on one object, newest first.
pub fn object_sessions(
    conn: &mut Conn,
    model: &str,
    object_id: i64,
    limit: i64,
) -> Result<Vec<SessionRecord>> {
    with_conn!(conn, |c, B| ses::table
        .filter(ses::model.eq(model))
        .filter(ses::object_id.eq(object_id))
        .order(ses::id.desc())
        .limit(limit)
        .select(SessionRecord::as_select())
        .load(c)
        .map_err(Error::query("loading an object's sessions")))
}

/// A command with the start of its output.
#[derive(Clone, Debug, Serialize)]
pub struct CommandPreview {
    /// Its place in its session (from 1).
    pub seq: i32,
    /// The command line.
    pub command: String,
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub exit_signal: Option<String>,
    /// The first bytes of standard output.
    #[serde(skip)]
    pub stdout: Vec<u8>,
    /// The first bytes of standard error.
    #[serde(skip)]
    pub stderr: Vec<u8>,
    /// Bytes of standard output stored.
    pub stdout_stored: i64,
    /// Bytes of standard error stored.
    pub stderr_stored: i64,
    /// Bytes of standard output seen.
    pub stdout_len: i64,
    /// Bytes of standard error seen.
    pub stderr_len: i64,
    /// Standard output was cut when stored.
    pub stdout_truncated: bool,
    /// Standard error was cut when stored.
    pub stderr_truncated: bool,
    /// Start (µs since the epoch).
    pub started_at: i64,
    /// How long it ran (µs).
    pub duration_us: i64,
}

type PreviewRow = (
    i32,
    String,
    Option<i32>,
    Option<String>,
    Vec<u8>,
    Vec<u8>,
    i64,
    i64,
    i64,
    i64,
    bool,
    bool,
    i64,
    i64,
);

/// The commands of a session with at most `cap` bytes of each stream: large
/// outputs stay in the database.
pub fn command_previews(
    conn: &mut Conn,
    session_id: SessionId,
    cap: i64,
) -> Result<Vec<CommandPreview>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Binary};
    let (head_out, head_err, len_out, len_err) = match conn {
        // SQLite's substr of an empty blob is NULL, not an empty blob.
        Conn::Sqlite(_) => (
            format!("coalesce(substr(stdout, 1, {cap}), x'')"),
            format!("coalesce(substr(stderr, 1, {cap}), x'')"),
            "length(stdout)",
            "length(stderr)",
        ),
        Conn::Pg(_) => (
            format!("substring(stdout from 1 for {cap})"),
            format!("substring(stderr from 1 for {cap})"),
            "octet_length(stdout)::bigint",
            "octet_length(stderr)::bigint",
        ),
    };
    let rows: Vec<PreviewRow> = with_conn!(conn, |c, B| cmd::table
        .filter(cmd::session_id.eq(session_id))
        .order(cmd::seq.asc())
        .select((
            cmd::seq,
            cmd::command,
            cmd::exit_code,
            cmd::exit_signal,
            sql::<Binary>(&head_out),
            sql::<Binary>(&head_err),
            sql::<BigInt>(len_out),
            sql::<BigInt>(len_err),
            cmd::stdout_len,
            cmd::stderr_len,
            cmd::stdout_truncated,
            cmd::stderr_truncated,
            cmd::started_at,
            cmd::duration_us,
        ))
        .load(c)
        .map_err(Error::query(format!(
            "loading the commands of session {session_id}"
        ))))?;
    Ok(rows
        .into_iter()
        .map(|r| CommandPreview {
            seq: r.0,
            command: r.1,
            exit_code: r.2,
            exit_signal: r.3,
            stdout: r.4,
            stderr: r.5,
            stdout_stored: r.6,
            stderr_stored: r.7,
            stdout_len: r.8,
            stderr_len: r.9,
            stdout_truncated: r.10,
            stderr_truncated: r.11,
            started_at: r.12,
            duration_us: r.13,
        })
        .collect())
}

/// One stream of one command, as stored.
pub fn command_output(
    conn: &mut Conn,
    session_id: SessionId,
    seq: i32,
    stderr: bool,
) -> Result<Option<Vec<u8>>> {
    with_conn!(conn, |c, B| {
        let q = cmd::table
            .filter(cmd::session_id.eq(session_id))
            .filter(cmd::seq.eq(seq));
        if stderr {
            q.select(cmd::stderr).first(c).optional()
        } else {
            q.select(cmd::stdout).first(c).optional()
        }
        .map_err(Error::query("loading a command's output"))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{
        CommandRow, DatabaseUrl, NewRun, NewSession, insert_command, insert_run, insert_sessions,
        migrate,
    };

    fn conn() -> Conn {
        let mut c = Conn::open(&DatabaseUrl::parse(":memory:").unwrap()).unwrap();
        migrate(&mut c).unwrap();
        c
    }

    fn run_with(c: &mut Conn, model: &str, user: &str, statuses: &[Option<&str>]) -> RunId {
        let r = insert_run(
            c,
            &NewRun {
                session: "s".into(),
                model: model.into(),
                username: user.into(),
                params: "{}".into(),
                selection: "{}".into(),
                state: minke_core::RunState::Done,
                created_at: 1_000,
            },
        )
        .unwrap();
        let news: Vec<NewSession> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| NewSession {
                run_id: r,
                session: "s".into(),
                model: model.into(),
                object_id: i as i64 + 1,
                object_label: format!("o{i}"),
                host_id: None,
                host_name: Some("h".into()),
                state: if s.is_some() {
                    minke_core::State::Completed
                } else {
                    minke_core::State::Canceled
                },
                status: s.map(|s| s.parse().unwrap()),
                reason: None,
                created_at: 1_000,
            })
            .collect();
        insert_sessions(c, &news).unwrap();
        r
    }

    #[test]
    fn run_filters_and_counts() {
        let mut c = conn();
        let ok = run_with(&mut c, "server", "ann", &[Some("success"), Some("success")]);
        let warn = run_with(&mut c, "server", "bob", &[Some("success"), Some("warning")]);
        let err = run_with(&mut c, "host", "ann", &[Some("error"), None]);
        let f = |status: Status| RunFilter {
            status: Some(status),
            limit: 10,
            ..RunFilter::default()
        };
        let ids = |f: RunFilter, c: &mut Conn| -> Vec<RunId> {
            find_runs(c, &f).unwrap().0.iter().map(|r| r.id).collect()
        };
        assert_eq!(ids(f(Status::Success), &mut c), [ok]);
        assert_eq!(ids(f(Status::Warning), &mut c), [warn]);
        assert_eq!(ids(f(Status::Error), &mut c), [err]);
        let by_user = RunFilter {
            user: Some("ann".into()),
            limit: 10,
            ..RunFilter::default()
        };
        assert_eq!(ids(by_user, &mut c), [err, ok]);
        let viewable = RunFilter {
            models: Some(vec!["host".into()]),
            limit: 10,
            ..RunFilter::default()
        };
        assert_eq!(find_runs(&mut c, &viewable).unwrap().1, 1);
        let counts = run_counts(&mut c, &[warn, err]).unwrap();
        assert_eq!(counts[&warn].worst(), Some(Status::Warning));
        assert_eq!(counts[&err].canceled, 1);
        assert_eq!(counts[&err].total, 2);

        let sf = SessionFilter {
            user: Some("bob".into()),
            status: Some(Status::Warning),
            limit: 10,
            ..SessionFilter::default()
        };
        let (rows, total) = find_sessions(&mut c, &sf).unwrap();
        assert_eq!(total, 1);
        assert_eq!(rows[0].1, "bob");
        // Object 2 of `server`: latest session is the warning one.
        assert_eq!(
            objects_with_last_status(&mut c, "server", Status::Warning).unwrap(),
            [2]
        );
        assert_eq!(
            objects_with_last_status(&mut c, "server", Status::Success).unwrap(),
            [1]
        );
    }

    #[test]
    fn previews_are_capped() {
        let mut c = conn();
        let r = run_with(&mut c, "host", "ann", &[Some("success")]);
        let sid = crate::run_sessions(&mut c, r).unwrap()[0].id;
        insert_command(
            &mut c,
            &CommandRow {
                session_id: sid,
                seq: 1,
                command: "yes".into(),
                exit_code: Some(0),
                exit_signal: None,
                stdout: vec![b'y'; 100_000],
                stderr: b"err".to_vec(),
                stdout_len: 100_000,
                stderr_len: 3,
                stdout_truncated: false,
                stderr_truncated: false,
                started_at: 1,
                duration_us: 2,
            },
        )
        .unwrap();
        let p = command_previews(&mut c, sid, 1000).unwrap();
        assert_eq!(p[0].stdout.len(), 1000);
        assert_eq!(p[0].stdout_stored, 100_000);
        assert_eq!(p[0].stderr, b"err");
        let full = command_output(&mut c, sid, 1, false).unwrap().unwrap();
        assert_eq!(full.len(), 100_000);
        assert!(command_output(&mut c, sid, 2, false).unwrap().is_none());
    }

    #[test]
    fn previews_of_empty_streams() {
        let mut c = conn();
        let r = run_with(&mut c, "host", "ann", &[Some("success")]);
        let sid = crate::run_sessions(&mut c, r).unwrap()[0].id;
        insert_command(
            &mut c,
            &CommandRow {
                session_id: sid,
                seq: 1,
                command: "sleep 120".into(),
                exit_code: None,
                exit_signal: Some("KILL".into()),
                stdout: Vec::new(),
                stderr: Vec::new(),
                stdout_len: 0,
                stderr_len: 0,
                stdout_truncated: false,
                stderr_truncated: false,
                started_at: 1,
                duration_us: 2,
            },
        )
        .unwrap();
        let p = command_previews(&mut c, sid, 1000).unwrap();
        assert!(p[0].stdout.is_empty() && p[0].stderr.is_empty());
        assert_eq!((p[0].stdout_stored, p[0].stderr_stored), (0, 0));
    }
}
