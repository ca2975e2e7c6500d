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

/// Why a [`SecretKey`](crate::SecretKey) could not be read, or sealed text could not be
/// opened.
///
/// No message ever contains a key or any part of one, nor any plain text: only lengths,
/// formats and key fingerprints.
///
/// ```
/// use minke_core::{SealError, SecretKey};
///
/// let err = SecretKey::parse("hunter2").unwrap_err();
/// assert_eq!(err, SealError::KeyLength { found: 7 });
/// assert!(!err.to_string().contains("hunter2"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key text has a length no accepted form has.
    #[error(
        "secret key is {found} characters long: a 32-byte key is 64 hex digits, \
         or 43 base64 characters and at most one `=`"
    )]
    KeyLength {
        /// How many characters were given (after trimming white space).
        found: usize,
    },
    /// The key text has the length of the hex form but other characters than hex digits.
    #[error("secret key is 64 characters long but not all of them are hex digits (0-9, a-f, A-F)")]
    KeyHex,
    /// The key text has the length of the base64 form but is not base64.
    #[error(
        "secret key is not valid base64: expected only A-Z, a-z, 0-9 and either `+` `/` \
         (standard) or `-` `_` (URL-safe), with at most one `=` at the end"
    )]
    KeyBase64,
    /// An environment variable meant to hold a key is set but not valid UTF-8.
    #[error("secret key is not valid UTF-8 text")]
    KeyNotText,
    /// The environment variable holding the key is set but invalid.
    #[error("environment variable {variable}: {source}")]
    Env {
        /// The variable's name.
        variable: &'static str,
        /// What is wrong with its value.
        source: Box<SealError>,
    },
    /// The text does not start with a version prefix such as `v1.`: it was not made by
    /// [`SecretKey::seal`](crate::SecretKey::seal).
    #[error("not sealed text: it does not start with a version prefix such as `v1.`")]
    NotSealed,
    /// The text was sealed by a format this build does not read.
    #[error("sealed text has format {version}, but this build reads only v1")]
    UnknownVersion {
        /// The version prefix found, e.g. `v2`.
        version: String,
    },
    /// The text after the version prefix is not in the expected encoding.
    #[error("sealed text is damaged: {problem}")]
    Encoding {
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The decoded text is shorter than a nonce and a tag: it was cut off.
    #[error(
        "sealed text is truncated: {found} bytes after decoding, at least {min} expected \
         (a 24-byte nonce and a 16-byte tag)"
    )]
    Truncated {
        /// How many bytes were decoded.
        found: usize,
        /// The least a sealed value has.
        min: usize,
    },
    /// The text was sealed with another key.
    #[error(
        "sealed with the secret key of fingerprint {sealed_with}, but this key's fingerprint \
         is {yours}: open it where the key it was sealed with is set"
    )]
    WrongKey {
        /// The fingerprint of the key it was sealed with.
        sealed_with: String,
        /// The fingerprint of the key given to open it.
        yours: String,
    },
    /// The key is right but the text does not authenticate: it was altered, or sealed
    /// for another context.
    #[error("sealed text does not open: it was altered, or sealed for another context")]
    Rejected,
}
