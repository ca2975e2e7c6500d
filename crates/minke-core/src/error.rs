//! Errors of the core crate.

use crate::FailReason;

/// What went wrong inside Minke or a session's own code.
///
/// A remote command that exits non-zero is **not** an error: it is a recorded
/// [`CommandOutput`](crate::CommandOutput).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A text could not be read as the expected kind of value.
    #[error("invalid {what} `{value}`: expected {expected}")]
    InvalidValue {
        /// What was being read.
        what: &'static str,
        /// The text given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// A session parameter is unknown, missing or malformed.
    #[error("parameter `{name}`: {problem}")]
    Param {
        /// The parameter's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A `{placeholder}` in a command names neither a parameter nor a field.
    #[error(
        "unknown placeholder `{{{name}}}` in command `{command}`: no parameter or field has that name"
    )]
    UnknownPlaceholder {
        /// The placeholder's name.
        name: String,
        /// The command template.
        command: String,
    },
    /// A model field is unknown or can't take a value.
    #[error("model `{model}` field `{field}`: {problem}")]
    Field {
        /// The model's name.
        model: String,
        /// The field's name.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A regular expression given to `update_field` does not compile.
    #[error("invalid regular expression `{pattern}`: {problem}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// The compiler's complaint.
        problem: String,
    },
    /// Minke could not reach or work on the host; the session fails with `reason`.
    #[error("{reason}: {detail}")]
    Remote {
        /// The failure class.
        reason: FailReason,
        /// What happened, for people.
        detail: String,
    },
    /// The run was stopped by a person.
    #[error("stopped")]
    Stopped,
    /// Session code gave up with a message: the session ends with status error.
    #[error("{0}")]
    Session(String),
    /// Sessions, models or parameters are declared inconsistently.
    #[error("invalid setup: {0}")]
    Setup(String),
}

impl Error {
    /// A session error with a message, for `return Err(Error::msg("..."))` in `process`.
    ///
    /// ```
    /// let e = minke_core::Error::msg("disk is full");
    /// assert_eq!(e.to_string(), "disk is full");
    /// ```
    pub fn msg(text: impl Into<String>) -> Self {
        Error::Session(text.into())
    }
}

/// `Result` with Minke's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
