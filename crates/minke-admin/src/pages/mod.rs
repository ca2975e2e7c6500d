//! The HTML pages.

pub(crate) mod audit;
pub(crate) mod changelist;
pub(crate) mod history;
pub(crate) mod hosts;
pub(crate) mod index;
pub(crate) mod login;
pub(crate) mod users;

use std::fmt::Write as _;

use axum::http::HeaderMap;
use axum::response::IntoResponse as _;
use axum::response::{Redirect, Response};

use crate::auth::Auth;
use crate::forms::encode;
use crate::html::esc;
use crate::state::AppState;

/// The models the user may view; `None` when they may view all (superuser).
pub(crate) fn viewable_models(st: &AppState, auth: &Auth) -> Option<Vec<String>> {
    if auth.user.is_superuser {
        return None;
    }
    Some(
        st.engine()
            .models()
            .iter()
            .map(|m| m.meta.name)
            .filter(|m| auth.can_view(m))
            .map(str::to_owned)
            .collect(),
    )
}

/// Previous/next links and "page X of Y"; `pairs` are the query's other parameters.
pub(crate) fn pagination(path: &str, pairs: &[(String, String)], page: i64, pages: i64) -> String {
    if pages <= 1 {
        return String::new();
    }
    let link = |n: i64| {
        let mut p: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let n = n.to_string();
        p.push(("page", &n));
        format!("{}?{}", esc(path), esc(&encode(p)))
    };
    let mut out = String::from(r#"<nav class="pagination">"#);
    if page > 1 {
        let _ = write!(
            out,
            r#"<a class="page-link page-prev" href="{}">« previous</a> "#,
            link(page - 1)
        );
    }
    let _ = write!(
        out,
        r#"<span class="page-current">page {page} of {pages}</span>"#
    );
    if page < pages {
        let _ = write!(
            out,
            r#" <a class="page-link page-next" href="{}">next »</a>"#,
            link(page + 1)
        );
    }
    out.push_str("</nav>");
    out
}

/// Page number and size from a query; at least 1, at most 1000 rows.
pub(crate) fn page_of(
    pairs: &crate::forms::Pairs,
    default_size: usize,
) -> crate::Result<(i64, i64)> {
    let page = pairs.number::<i64>("page")?.unwrap_or(1).max(1);
    let size = pairs
        .number::<i64>("per_page")?
        .unwrap_or(i64::try_from(default_size).unwrap_or(50))
        .clamp(1, 1000);
    Ok((page, size))
}

/// Where to go back to after a form: the Referer when it is one of the admin's own
/// pages, else `fallback`.
pub(crate) fn back(st: &AppState, headers: &HeaderMap, fallback: &str) -> Response {
    let own = headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            // Keep only the path and query of a referer on this admin.
            let path = r.find("://").map_or(r, |i| {
                let rest = &r[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            });
            (path.starts_with(&format!("{}/", st.base())) && !path.starts_with("//"))
                .then(|| path.to_owned())
        });
    Redirect::to(&own.unwrap_or_else(|| fallback.to_owned())).into_response()
}
