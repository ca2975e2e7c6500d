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
    /// A database URL that Minke reads but cannot use as it is.
    #[error("invalid database URL `{url}`: {problem}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A command that only reads was given a database file that does not exist.
    #[error("database file {path} does not exist (run `migrate` to create it)")]
    Missing {
        /// The file's path.
        path: String,
    },
    /// A command that only reads was given a database without Minke's tables.
    #[error("{url} is not a Minke database (run `migrate`)")]
    NotMinke {
        /// The URL (password removed).
        url: String,
    },
    /// A command that only reads was given a database whose schema is older than
    /// this program's.
    #[error("database {url} needs migrating ({pending} missing): run `migrate`")]
    NeedsMigration {
        /// The URL (password removed).
        url: String,
        /// The migrations it lacks, comma-separated.
        pending: String,
    },
    /// A write to a database opened only for reading.
    #[error("database {url} is open read-only, so it cannot be changed")]
    ReadOnly {
        /// The URL (password removed).
        url: String,
    },
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
    /// Values given for an object (a form, the API) that cannot be written: each
    /// problem names its field.
    #[error("invalid {model}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The model's name.
        model: String,
        /// What is wrong, field by field.
        problems: Vec<crate::FieldProblem>,
    },
    /// A model whose objects are not added, changed or deleted through Minke.
    #[error("objects of model `{model}` cannot be added, changed or deleted here")]
    NotWritable {
        /// The model's name.
        model: String,
    },
    /// A filter or query is malformed.
    #[error("{0}")]
    BadQuery(String),
    /// A model or value is inconsistent.
    #[error(transparent)]
    Core(#[from] minke_core::Error),
    /// What was asked needs PostgreSQL (several processes working through the
    /// database: workers, the queue, notifications).
    #[error("{what} needs PostgreSQL; {url} is a SQLite database")]
    NeedsPostgres {
        /// What was asked.
        what: String,
        /// The URL (password removed).
        url: String,
    },
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
