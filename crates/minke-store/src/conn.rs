//! Connections to SQLite or PostgreSQL, chosen at run time from the URL.

use diesel::Connection as _;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;

use crate::{Error, Result};

/// Which database a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (or `:memory:`).
    Sqlite(String),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// Reads a database URL: `postgres://...`/`postgresql://...` for PostgreSQL,
    /// `sqlite://PATH`, `sqlite:PATH` or a plain path for SQLite.
    ///
    /// ```
    /// use minke_store::DatabaseUrl;
    /// assert_eq!(DatabaseUrl::parse("minke.db").unwrap(), DatabaseUrl::Sqlite("minke.db".into()));
    /// assert_eq!(DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(), DatabaseUrl::Sqlite("/tmp/x.db".into()));
    /// assert!(matches!(DatabaseUrl::parse("postgres://u@h/db").unwrap(), DatabaseUrl::Postgres(_)));
    /// assert!(DatabaseUrl::parse("mysql://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Ok(DatabaseUrl::Sqlite(path.to_owned()))
        } else if url.contains("://") || url.is_empty() {
            Err(Error::Url(url.to_owned()))
        } else {
            Ok(DatabaseUrl::Sqlite(url.to_owned()))
        }
    }

    /// The URL with any password replaced by `***`, for messages.
    ///
    /// ```
    /// let u = minke_store::DatabaseUrl::parse("postgres://me:secret@db/minke").unwrap();
    /// assert_eq!(u.redacted(), "postgres://me:***@db/minke");
    /// ```
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => p.clone(),
            DatabaseUrl::Postgres(u) => {
                let Some((scheme, rest)) = u.split_once("://") else {
                    return u.clone();
                };
                match rest.split_once('@') {
                    Some((cred, host)) => match cred.split_once(':') {
                        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                        None => u.clone(),
                    },
                    None => u.clone(),
                }
            }
        }
    }

    /// True for SQLite.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }
}

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
    /// Opens a connection; SQLite gets WAL, a busy timeout and foreign keys.
    pub fn open(url: &DatabaseUrl) -> Result<Conn> {
        let connect_err = |source| Error::Connect {
            url: url.redacted(),
            source,
        };
        match url {
            DatabaseUrl::Sqlite(path) => {
                let mut c = SqliteConnection::establish(path).map_err(connect_err)?;
                c.batch_execute(
                    "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA temp_store = MEMORY;",
                )
                .map_err(Error::query("setting up SQLite"))?;
                Ok(Conn::Sqlite(c))
            }
            DatabaseUrl::Postgres(u) => {
                Ok(Conn::Pg(PgConnection::establish(u).map_err(connect_err)?))
            }
        }
    }

    /// Runs `f` in a transaction (a savepoint when one is open already).
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        // The closure needs the whole `Conn`, so the transaction is driven by hand
        // through each backend's transaction manager.
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        macro_rules! tx {
            ($c:expr) => {{
                AnsiTransactionManager::begin_transaction($c)
                    .map_err(Error::query("beginning a transaction"))?;
            }};
        }
        match self {
            Conn::Sqlite(c) => tx!(c),
            Conn::Pg(c) => tx!(c),
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
