//! The command set of a Minke app, mounted by `minke::App::main` (a [`Program`]) in the
//! user's own binary:
//! `run`, `sessions`, `models`, `items`, `history`, `show`, `hosts`, `migrate`, `clear`,
//! `serve` (the web admin) and `users`.
//!
//! Exit codes: 0 all sessions succeeded, 3 the worst was a warning, 4 an error, a
//! failure, a stop or a cancel, 2 a usage error, 1 Minke itself could not work.

#[cfg(feature = "admin")]
mod admin_cmds;
mod age;
mod app;
mod audit;
mod cli;
mod color;
pub mod exit;
mod hosts_check;
mod import;
mod logging;
mod output;
mod progress;
mod run_output;
mod settings;
mod signals;
mod submit;
mod term;
mod warnings;
mod worker_cmd;

pub use app::Program;
pub use import::{ImportPlan, Resolver, plan_import};

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The command line is wrong: unknown session, model or parameter, bad filter.
    #[error("{0}")]
    Usage(String),
    /// The app's registrations are inconsistent.
    #[error("app setup: {0}")]
    Setup(String),
    /// The database could not be opened or failed.
    #[error(transparent)]
    Database(minke_store::Error),
    /// Anything else inside Minke.
    #[error("{0}")]
    Internal(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            _ => exit::INTERNAL,
        }
    }

    fn from_query(e: minke_store::Error) -> Self {
        match e {
            minke_store::Error::BadQuery(m) => CliError::Usage(m),
            e @ minke_store::Error::NeedsPostgres { .. } => CliError::Usage(e.to_string()),
            minke_store::Error::NotFound { model, id } => {
                CliError::Usage(format!("no {model} {id}"))
            }
            other => CliError::Database(other),
        }
    }
}

impl From<minke_store::Error> for CliError {
    fn from(e: minke_store::Error) -> Self {
        CliError::from_query(e)
    }
}

impl From<minke_runtime::Error> for CliError {
    fn from(e: minke_runtime::Error) -> Self {
        use minke_runtime::Error as E;
        match e {
            E::Store(s) => CliError::from_query(s),
            E::UnknownSession(_)
            | E::UnknownModel { .. }
            | E::WrongModel { .. }
            | E::Params(_)
            | E::Secrets(_)
            | E::Rerun(_)
            | E::EmptySelection { .. } => CliError::Usage(e.to_string()),
            other => CliError::Internal(other.to_string()),
        }
    }
}
