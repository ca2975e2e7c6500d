//! Connections to SQLite or PostgreSQL, chosen at run time from the URL.

use std::time::Duration;

use diesel::Connection as _;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;

use crate::{Error, Result};

/// How an SQLite file may be opened: the URL's `mode` parameter, or what the store
/// decided for a command that only reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteMode {
    /// Read and write, creating the file when it is missing (`mode=rwc`, the default).
    #[default]
    Create,
    /// Read and write a file that exists (`mode=rw`).
    Write,
    /// Only read a file that exists (`mode=ro`).
    Read,
}

impl SqliteMode {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "rwc" => Some(SqliteMode::Create),
            "rw" => Some(SqliteMode::Write),
            "ro" => Some(SqliteMode::Read),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SqliteMode::Create => "rwc",
            SqliteMode::Write => "rw",
            SqliteMode::Read => "ro",
        }
    }
}

/// Which database a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (or `:memory:`).
    Sqlite {
        /// The file's path, as given.
        path: String,
        /// How it may be opened.
        mode: SqliteMode,
    },
    /// A PostgreSQL URL (its query parameters go to the driver as they are).
    Postgres(String),
}

/// The only query parameter of SQLite URLs.
const SQLITE_PARAMS: &str = "mode=ro, mode=rw or mode=rwc";

impl DatabaseUrl {
    /// Reads a database URL: `postgres://...`/`postgresql://...` for PostgreSQL,
    /// `sqlite://PATH`, `sqlite:PATH` or a plain path for SQLite. In SQLite URLs a
    /// `?` starts parameters: `mode=ro` (only read), `mode=rw` (the file must
    /// exist) or `mode=rwc` (the default); anything else is refused.
    ///
    /// ```
    /// use minke_store::{DatabaseUrl, SqliteMode};
    /// let plain = DatabaseUrl::parse("minke.db").unwrap();
    /// assert_eq!(plain, DatabaseUrl::Sqlite { path: "minke.db".into(), mode: SqliteMode::Create });
    /// let ro = DatabaseUrl::parse("sqlite:///tmp/x.db?mode=ro").unwrap();
    /// assert_eq!(ro, DatabaseUrl::Sqlite { path: "/tmp/x.db".into(), mode: SqliteMode::Read });
    /// assert!(matches!(DatabaseUrl::parse("postgres://u@h/db").unwrap(), DatabaseUrl::Postgres(_)));
    /// assert!(DatabaseUrl::parse("mysql://x").is_err());
    /// assert!(DatabaseUrl::parse("sqlite://").is_err());
    /// assert!(DatabaseUrl::parse("sqlite:///tmp/x.db?cache=shared").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        if rest.is_none() && url.contains("://") {
            return Err(Error::Url(url.to_owned()));
        }
        let (path, params) = rest
            .unwrap_or(url)
            .split_once('?')
            .map_or_else(|| (rest.unwrap_or(url), None), |(p, q)| (p, Some(q)));
        if path.is_empty() {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
                problem: "it names no file: give a path, like sqlite:///var/lib/minke.db".into(),
            });
        }
        let mut mode = SqliteMode::Create;
        for param in params.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            mode = match param.split_once('=') {
                Some(("mode", v)) => SqliteMode::parse(v).ok_or_else(|| Error::InvalidUrl {
                    url: url.to_owned(),
                    problem: format!("unknown mode `{v}` (use {SQLITE_PARAMS})"),
                })?,
                _ => {
                    return Err(Error::InvalidUrl {
                        url: url.to_owned(),
                        problem: format!(
                            "unsupported parameter `{param}` (supported: {SQLITE_PARAMS})"
                        ),
                    });
                }
            };
        }
        Ok(DatabaseUrl::Sqlite {
            path: path.to_owned(),
            mode,
        })
    }

    /// The URL with any password replaced by `***`, for messages: the one after the
    /// user name and a `password` parameter.
    ///
    /// ```
    /// let u = minke_store::DatabaseUrl::parse("postgres://me:secret@db/minke").unwrap();
    /// assert_eq!(u.redacted(), "postgres://me:***@db/minke");
    /// let u = minke_store::DatabaseUrl::parse("postgres://db/minke?user=me&password=secret").unwrap();
    /// assert_eq!(u.redacted(), "postgres://db/minke?user=me&password=***");
    /// ```
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite { path, .. } => path.clone(),
            DatabaseUrl::Postgres(u) => {
                let (base, query) = match u.split_once('?') {
                    Some((b, q)) => (b, Some(q)),
                    None => (u.as_str(), None),
                };
                let base = match base.split_once("://") {
                    Some((scheme, rest)) => match rest.rsplit_once('@') {
                        Some((cred, host)) => match cred.split_once(':') {
                            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                            None => base.to_owned(),
                        },
                        None => base.to_owned(),
                    },
                    None => base.to_owned(),
                };
                let Some(query) = query else {
                    return base;
                };
                let params: Vec<String> = query
                    .split('&')
                    .map(|p| match p.split_once('=') {
                        Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                        _ => p.to_owned(),
                    })
                    .collect();
                format!("{base}?{}", params.join("&"))
            }
        }
    }

    /// True for SQLite.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite { .. })
    }

    /// True for an in-memory SQLite database.
    pub fn is_memory(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite { path, .. } if path == ":memory:")
    }
}

/// The `file:` URI SQLite opens for a path and mode (`?`, `#` and `%` escaped, so
/// they stay part of the name).
fn sqlite_uri(path: &str, mode: SqliteMode) -> String {
    if path == ":memory:" {
        return path.to_owned();
    }
    let mut uri = String::from(if path.starts_with('/') {
        "file://"
    } else {
        "file:"
    });
    for c in path.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=");
    uri.push_str(mode.as_str());
    uri
}

/// How long SQLite waits for another process's write lock before it answers
/// "database is locked" (then the write transaction is begun again, see
/// [`BUSY_RETRIES`]).
const BUSY_TIMEOUT_MS: u32 = 30_000;
/// How many times a write transaction that found the database locked for the whole
/// busy timeout is begun again.
const BUSY_RETRIES: u32 = 10;

/// One open database connection of either kind.
///
/// Code that must work on both writes its query once inside [`with_conn!`](crate::with_conn).
pub enum Conn {
    /// SQLite.
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    Pg(PgConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Sqlite(_) => "Conn::Sqlite",
            Conn::Pg(_) => "Conn::Pg",
        })
    }
}

impl Conn {
    /// True for a SQLite connection.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Conn::Sqlite(_))
    }

    /// Opens a connection; SQLite gets WAL, a busy timeout and foreign keys, or, when
    /// opened only to read, `query_only` and nothing that would write.
    pub fn open(url: &DatabaseUrl) -> Result<Conn> {
        let connect_err = |source| Error::Connect {
            url: url.redacted(),
            source,
        };
        match url {
            DatabaseUrl::Sqlite { path, mode } => {
                let mut c =
                    SqliteConnection::establish(&sqlite_uri(path, *mode)).map_err(connect_err)?;
                let setup = match mode {
                    SqliteMode::Read => {
                        format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA query_only = ON;")
                    }
                    SqliteMode::Create | SqliteMode::Write => format!(
                        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                         PRAGMA temp_store = MEMORY;"
                    ),
                };
                c.batch_execute(&setup)
                    .map_err(Error::query("setting up SQLite"))?;
                Ok(Conn::Sqlite(c))
            }
            DatabaseUrl::Postgres(u) => {
                Ok(Conn::Pg(PgConnection::establish(u).map_err(connect_err)?))
            }
        }
    }

    /// Runs `f` in a transaction (a savepoint when one is open already).
    ///
    /// On SQLite a transaction takes the write lock when it begins (`BEGIN
    /// IMMEDIATE`): a deferred one that read first could not take it later while
    /// another process writes, and SQLite would answer "database is locked" at once
    /// instead of waiting. Waiting is the busy timeout's; a transaction that still
    /// finds the database locked is begun again a few times.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        // The closure needs the whole `Conn`, so the transaction is driven by hand
        // through each backend's transaction manager.
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        match self {
            Conn::Sqlite(c) => begin_immediate(c)?,
            Conn::Pg(c) => AnsiTransactionManager::begin_transaction(c)
                .map_err(Error::query("beginning a transaction"))?,
        }
        let out = guarded(|| f(self));
        let end = match (&out, &mut *self) {
            (Ok(_), Conn::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c),
            (Ok(_), Conn::Pg(c)) => AnsiTransactionManager::commit_transaction(c),
            (Err(_), Conn::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(c),
            (Err(_), Conn::Pg(c)) => AnsiTransactionManager::rollback_transaction(c),
        };
        match (out, end) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(Error::query("committing a transaction")(e)),
            (Err(e), _) => Err(e),
        }
    }
}

/// True for SQLite's "database is locked" (`SQLITE_BUSY`).
pub(crate) fn is_busy(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info)
        if info.message().starts_with("database is locked"))
}

/// Begins a transaction taking SQLite's write lock (a savepoint inside one), begun
/// again when the busy timeout ran out.
fn begin_immediate(c: &mut SqliteConnection) -> Result<()> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let mut tries = 0;
    loop {
        match AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE") {
            Ok(()) => return Ok(()),
            Err(diesel::result::Error::AlreadyInTransaction) => {
                return AnsiTransactionManager::begin_transaction(c)
                    .map_err(Error::query("beginning a savepoint"));
            }
            Err(e) if is_busy(&e) && tries < BUSY_RETRIES => {
                tries += 1;
                tracing::warn!(
                    tries,
                    "the database stayed locked by another process; trying again"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(Error::query("beginning a write transaction")(e)),
        }
    }
}

/// Runs `f`, turning a panic into an error, so that a panicking database job rolls
/// back its own savepoint and the connection (and the writer thread) go on.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(Error::Worker(format!("a database job panicked: {what}")))
    })
}

/// Runs the same diesel code on whichever backend a [`Conn`] holds.
///
/// Inside, `$c` is the backend's connection and `$B` the backend type, so a query is
/// written once and compiled for both SQLite and PostgreSQL.
///
/// ```
/// use diesel::prelude::*;
/// use minke_store::{with_conn, Conn, DatabaseUrl};
/// let mut conn = Conn::open(&DatabaseUrl::parse(":memory:").unwrap()).unwrap();
/// let n: i64 = with_conn!(&mut conn, |c, B| {
///     diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("40 + 2")).get_result(c)
/// }).unwrap();
/// assert_eq!(n, 42);
/// ```
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident, $B:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Sqlite($c) => {
                #[allow(unused, clippy::upper_case_acronyms)]
                type $B = $crate::__diesel::sqlite::Sqlite;
                $body
            }
            $crate::Conn::Pg($c) => {
                #[allow(unused, clippy::upper_case_acronyms)]
                type $B = $crate::__diesel::pg::Pg;
                $body
            }
        }
    };
}
