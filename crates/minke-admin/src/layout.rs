//! The frame of every page (head, navigation, title) as a compiled template that
//! escapes everything it is given, and the answer that renders a page.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Auth;
use crate::state::AppState;
use crate::{Error, Result};

/// What the frame of a page shows: the site, the navigation of the user logged in,
/// the title.
pub(crate) struct Layout {
    pub(crate) site: String,
    pub(crate) base: String,
    pub(crate) title: String,
    /// The session's CSRF token (a logged-in browser).
    pub(crate) csrf: Option<String>,
    /// Who is logged in (no navigation without).
    pub(crate) user: Option<NavUser>,
    /// Writes to the history that failed since the server started (a full disk,
    /// say), with the first error: said on every page, the history is incomplete.
    pub(crate) write_failures: Option<(u64, String)>,
}

/// The user in the navigation.
pub(crate) struct NavUser {
    pub(crate) name: String,
    pub(crate) superuser: bool,
}

impl Layout {
    /// The frame of a page titled `title` for `auth` (or nobody).
    pub(crate) fn new(st: &AppState, auth: Option<&Auth>, title: impl Into<String>) -> Layout {
        let write_failures = match st.store().failed_writes() {
            (n @ 1.., first) if auth.is_some() => Some((n, first.unwrap_or_default())),
            _ => None,
        };
        Layout {
            site: st.config().title.clone(),
            base: st.base().to_owned(),
            title: title.into(),
            csrf: auth.and_then(|a| a.csrf.clone()),
            user: auth.map(|a| NavUser {
                name: a.user.username.clone(),
                superuser: a.user.is_superuser,
            }),
            write_failures,
        }
    }
}

/// Renders a page as an HTML answer with `status`.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Result<Response> {
    let body = page
        .render()
        .map_err(|e| Error::Internal(format!("rendering a page: {e}")))?;
    Ok(respond(status, body))
}

/// An HTML answer with a status.
fn respond(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}
