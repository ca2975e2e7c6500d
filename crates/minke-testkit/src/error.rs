//! Errors of the test kit.

use std::path::PathBuf;

/// What went wrong while setting up or running throwaway SSH servers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A program the kit needs is not installed.
    #[error(
        "{program} not found at {path}: install the Debian package `{package}` \
         (apt-get install {package}); tests that need it fail instead of being skipped"
    )]
    MissingProgram {
        /// The program's name, like `sshd`.
        program: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A PostgreSQL helper failed.
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// A file or directory operation failed.
    #[error("{what} ({path}): {source}")]
    Io {
        /// What the kit was doing.
        what: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A helper program (ssh-keygen, id, kill) failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and standard error.
        detail: String,
    },
    /// sshd did not come up.
    #[error(
        "sshd on 127.0.0.1:{port} did not start: {detail}\n--- sshd log ({log_path}) ---\n{log}"
    )]
    Start {
        /// The port it was asked to listen on.
        port: u16,
        /// What was seen.
        detail: String,
        /// The log file.
        log_path: PathBuf,
        /// sshd's log so far.
        log: String,
    },
    /// An index outside the fleet.
    #[error("no server #{index} in a fleet of {len}")]
    NoSuchServer {
        /// The index asked for.
        index: usize,
        /// How many servers there are.
        len: usize,
    },
}

/// `Result` with the kit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { what, path, source }
}
