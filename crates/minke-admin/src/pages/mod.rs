//! The HTML pages.

pub(crate) mod audit;
pub(crate) mod changelist;
pub(crate) mod history;
pub(crate) mod hosts;
pub(crate) mod index;
pub(crate) mod login;
pub(crate) mod objects;
pub(crate) mod users;

use axum::http::HeaderMap;
use axum::response::IntoResponse as _;
use axum::response::{Redirect, Response};

use crate::auth::Auth;
use crate::forms::encode;
use crate::state::AppState;

/// The models the user may view; `None` when they may view all (superuser).
/// The models the user may view, in registration order.
pub(crate) fn viewable_entries(st: &AppState, auth: &Auth) -> Vec<minke_runtime::ModelEntry> {
    st.engine()
        .models()
        .iter()
        .filter(|m| auth.can_view(m.meta.name))
        .cloned()
        .collect()
}

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

/// Previous and next links and "page X of Y" of a paged list.
pub(crate) struct Pager {
    pub(crate) page: i64,
    pub(crate) pages: i64,
    pub(crate) prev: Option<String>,
    pub(crate) next: Option<String>,
}

impl Pager {
    /// The pager of page `page` of `pages` at `path`; `pairs` are the query's other
    /// parameters, kept in the links.
    pub(crate) fn new(path: &str, pairs: &[(String, String)], page: i64, pages: i64) -> Pager {
        let link = |n: i64| {
            let mut p: Vec<(&str, &str)> = pairs
                .iter()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let n = n.to_string();
            p.push(("page", &n));
            format!("{path}?{}", encode(p))
        };
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

/// Tables with more rows than this (by PostgreSQL's estimate) show their total as
/// an estimate beside a filtered count, instead of counting it.
const ESTIMATE_FROM: i64 = 100_000;

/// A list's total beside the `matching` count of `query` on `table`: that count when
/// the query narrows nothing, `about N` from PostgreSQL's statistics for a big table,
/// else counted by `count_all`.
pub(crate) fn total_beside(
    c: &mut minke_store::Conn,
    query: &minke_store::Query,
    matching: i64,
    table: &str,
    count_all: impl FnOnce(&mut minke_store::Conn) -> minke_store::Result<i64>,
) -> minke_store::Result<String> {
    if *query == minke_store::Query::all() {
        return Ok(matching.to_string());
    }
    Ok(
        match minke_store::estimated_rows(c, table, ESTIMATE_FROM)? {
            Some(n) => format!("about {n}"),
            None => count_all(c)?.to_string(),
        },
    )
}

/// One page of a list, ordered by the database: `size` rows from `offset`, of
/// `matching` in all.
pub(crate) struct Window<'a> {
    /// The order asked for; by id when unset.
    pub(crate) order: Option<minke_store::Order>,
    /// The name of the id field (the order when none is asked for, and the tie-break).
    pub(crate) id_field: &'a str,
    pub(crate) offset: i64,
    pub(crate) size: i64,
    pub(crate) matching: i64,
}

impl Window<'_> {
    /// Loads the page of `query` with `load`. A page past the middle is read from the
    /// end the other way round, so that the last page costs what the first does. A
    /// selection of more ids than one query takes (a large run's objects, a big
    /// group) is loaded whole and ordered here with `compare` (by field name).
    pub(crate) fn load<T>(
        &self,
        c: &mut minke_store::Conn,
        query: minke_store::Query,
        load: impl Fn(&mut minke_store::Conn, &minke_store::Query) -> minke_store::Result<Vec<T>>,
        compare: impl Fn(&T, &T, &str) -> std::cmp::Ordering,
    ) -> minke_store::Result<Vec<T>> {
        use minke_store::{Order, Query};
        let (offset, size, matching) = (self.offset, self.size, self.matching);
        let many_ids = query
            .ids
            .as_ref()
            .is_some_and(|ids| ids.len() > minke_store::IDS_PER_QUERY);
        if many_ids && let Some(o) = &self.order {
            let mut all = load(c, &query)?;
            all.sort_by(|a, b| {
                let x = compare(a, b, &o.field);
                if o.descending { x.reverse() } else { x }
            });
            return Ok(all
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(0))
                .take(usize::try_from(size).unwrap_or(0))
                .collect());
        }
        let order = self.order.clone().unwrap_or_else(|| Order {
            field: self.id_field.to_owned(),
            descending: false,
        });
        if offset == 0 && matching <= size {
            // All of them: without a limit, no plan walks the whole order looking for
            // rows that are not there (PostgreSQL does, for a search with few hits).
            return load(
                c,
                &Query {
                    order: Some(order),
                    ..query
                },
            );
        }
        if !many_ids
            && let Some((offset, limit)) = minke_store::from_the_end(matching, offset, size)
        {
            let mut rows = load(
                c,
                &Query {
                    order: Some(order.reversed()),
                    limit: Some(limit),
                    offset: Some(offset),
                    ..query
                },
            )?;
            rows.reverse();
            return Ok(rows);
        }
        load(
            c,
            &Query {
                order: Some(order),
                limit: Some(size),
                offset: Some(offset),
                ..query
            },
        )
    }
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

/// An option of a menu.
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

impl Choice {
    /// A choice, selected when its value is `current`.
    pub(crate) fn new(value: impl Into<String>, label: impl Into<String>, current: &str) -> Choice {
        let value = value.into();
        Choice {
            selected: value == current,
            value,
            label: label.into(),
        }
    }

    /// A menu of `(value, label)` items with `chosen` selected.
    pub(crate) fn menu<'a>(
        items: impl IntoIterator<Item = (&'a str, &'a str)>,
        chosen: &str,
    ) -> Vec<Choice> {
        items
            .into_iter()
            .map(|(value, label)| Choice::new(value, label, chosen))
            .collect()
    }
}
