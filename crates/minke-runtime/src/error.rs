//! Errors of the runtime.

/// Why a run could not be started or recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No session of that name is registered.
    #[error("{0}")]
    UnknownSession(String),
    /// No model of that name is registered.
    #[error("unknown model `{name}` (known: {known})")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: String,
    },
    /// The session does not work on the model.
    #[error("session `{session}` does not work on model `{model}` (it works on: {works_on})")]
    WrongModel {
        /// The session.
        session: String,
        /// The model asked for.
        model: String,
        /// The models it works on.
        works_on: String,
    },
    /// Parameters are unknown, missing or malformed.
    #[error(transparent)]
    Params(minke_core::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] minke_store::Error),
    /// Setup is inconsistent.
    #[error(transparent)]
    Core(#[from] minke_core::Error),
    /// Secret parameters cannot go through the queue: no key to seal them with, or
    /// a run sealed with another key.
    #[error("{0}")]
    Secrets(String),
    /// A rerun cannot be made: the run still goes on, or none of its objects ended as
    /// asked.
    #[error("{0}")]
    Rerun(String),
    /// An object others point at cannot be deleted.
    #[error("{}", .0.refusal())]
    Protected(Box<crate::Deletion>),
    /// The selection is empty.
    #[error("the selection of model `{model}` is empty: no object matches")]
    EmptySelection {
        /// The model.
        model: String,
    },
}

/// `Result` with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
