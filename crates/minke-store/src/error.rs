//! Errors of the store.

/// What went wrong with the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL is not one Minke knows.
    #[error(
        "unsupported database URL `{0}`: use a file path or sqlite://PATH for SQLite, postgres://... for PostgreSQL"
    )]
    Url(String),
    /// The database could not be opened or reached.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// The URL (password removed).
        url: String,
        /// The driver's complaint.
        #[source]
        source: diesel::ConnectionError,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A query failed.
    #[error("database query failed while {context}: {source}")]
    Query {
        /// What Minke was doing.
        context: String,
        /// The driver's complaint.
        #[source]
        source: diesel::result::Error,
    },
    /// An object does not exist.
    #[error("{model} with id {id} not found")]
    NotFound {
        /// The model's name.
        model: String,
        /// The id.
        id: i64,
    },
    /// A filter or query is malformed.
    #[error("{0}")]
    BadQuery(String),
    /// A model or value is inconsistent.
    #[error(transparent)]
    Core(#[from] minke_core::Error),
    /// The store's worker thread is gone.
    #[error("the database worker stopped: {0}")]
    Worker(String),
}

impl Error {
    /// Wraps a diesel error with what Minke was doing.
    pub fn query(context: impl Into<String>) -> impl FnOnce(diesel::result::Error) -> Error {
        let context = context.into();
        move |source| Error::Query { context, source }
    }
}

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
