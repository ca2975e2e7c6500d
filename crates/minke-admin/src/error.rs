//! Errors of the admin, and the one place where they become HTTP answers.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a request or the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nobody is logged in (no valid session cookie or API token).
    #[error("login required")]
    Unauthorized,
    /// The user lacks a permission.
    #[error("{0}")]
    Forbidden(String),
    /// The page or object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed: unknown field, bad value, empty selection.
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (a run that is not going on).
    #[error("{0}")]
    Conflict(String),
    /// A state-changing request came without the session's CSRF token.
    #[error("the request's CSRF token is missing or wrong: reload the page and try again")]
    Csrf,
    /// Too many failed logins from the client's address, or for the user name from
    /// it: `429` with `Retry-After`.
    #[error("too many failed logins: try again in {} seconds", secs(*retry_after))]
    TooManyLogins {
        /// How long the client must wait.
        retry_after: Duration,
    },
    /// Every password checker is busy: `503` with `Retry-After`.
    #[error("the server is busy checking other logins: try again in {} seconds", secs(*retry_after))]
    Busy {
        /// How long the client should wait.
        retry_after: Duration,
    },
    /// The database failed or refused a query.
    #[error(transparent)]
    Store(#[from] minke_store::Error),
    /// The engine refused or failed to start a run.
    #[error(transparent)]
    Runtime(#[from] minke_runtime::Error),
    /// Hashing or checking a password failed.
    #[error("password hashing failed: {0}")]
    Password(String),
    /// The configuration is invalid.
    #[error("invalid admin configuration: {0}")]
    Config(String),
    /// The server could not listen or serve.
    #[error("cannot serve on {addr}: {source}")]
    Serve {
        /// The address.
        addr: String,
        /// The system's complaint.
        #[source]
        source: std::io::Error,
    },
    /// Anything else inside the admin.
    #[error("{0}")]
    Internal(String),
}

/// Whole seconds, rounded up, at least one (for `Retry-After`).
fn secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// `Result` with the admin's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn store_status(e: &minke_store::Error) -> StatusCode {
    match e {
        minke_store::Error::BadQuery(_) | minke_store::Error::Invalid { .. } => {
            StatusCode::BAD_REQUEST
        }
        minke_store::Error::NotFound { .. } => StatusCode::NOT_FOUND,
        minke_store::Error::NotWritable { .. } => StatusCode::METHOD_NOT_ALLOWED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        use minke_runtime::Error as R;
        match self {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::Csrf => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::TooManyLogins { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(e) | Error::Runtime(R::Store(e)) => store_status(e),
            Error::Runtime(
                R::UnknownSession(_)
                | R::UnknownModel { .. }
                | R::WrongModel { .. }
                | R::Params(_)
                | R::Rerun(_)
                | R::EmptySelection { .. },
            ) => StatusCode::BAD_REQUEST,
            Error::Runtime(R::Protected(_)) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The sentence shown to the user: internals stay in the server's log.
    pub fn public_message(&self) -> String {
        if self.status().is_server_error() && !matches!(self, Error::Busy { .. }) {
            "Something went wrong inside Minke; the server's log has the details.".into()
        } else {
            self.to_string()
        }
    }
}

impl Error {
    /// Details the JSON API gives beside the message.
    fn details(&self) -> Option<serde_json::Value> {
        use minke_runtime::Error as R;
        match self {
            Error::Store(minke_store::Error::Invalid { problems, .. })
            | Error::Runtime(R::Store(minke_store::Error::Invalid { problems, .. })) => {
                Some(serde_json::json!({ "problems": problems }))
            }
            Error::Runtime(R::Protected(d)) => Some(serde_json::json!({ "deletion": d })),
            _ => None,
        }
    }

    /// The seconds a client should wait before it tries again, for errors that
    /// say so (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::TooManyLogins { retry_after } | Error::Busy { retry_after } => {
                Some(secs(*retry_after))
            }
            _ => None,
        }
    }
}

/// Adds `Retry-After` to an answer.
pub(crate) fn set_retry_after(res: &mut Response, secs: Option<u64>) {
    if let Some(s) = secs {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
}

/// What went wrong, attached to an error response for the rendering middleware,
/// which turns it into an HTML page or a JSON body.
#[derive(Clone, Debug)]
pub(crate) struct Problem {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
    /// What the JSON API adds to the error: each field's problem, or the objects
    /// that keep one from being deleted.
    pub(crate) details: Option<serde_json::Value>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "admin request failed");
        } else {
            tracing::debug!(error = %self, %status, "admin request refused");
        }
        let mut res = status.into_response();
        let retry_after = self.retry_after_secs();
        set_retry_after(&mut res, retry_after);
        res.extensions_mut().insert(Problem {
            status,
            message: self.public_message(),
            retry_after,
            details: self.details(),
        });
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        let bad = Error::Store(minke_store::Error::BadQuery("no field `x`".into()));
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad.public_message(), "no field `x`");
        let internal = Error::Internal("secret detail".into());
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.public_message().contains("secret"));
        assert_eq!(Error::Csrf.status(), StatusCode::FORBIDDEN);
        let busy = Error::Busy {
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.retry_after_secs(), Some(2));
        assert!(busy.public_message().contains("busy"));
    }
}
