//! The audit log, for superusers: who did what, when, newest first, filtered and
//! paged by the database (by id, so the last page costs what the first does).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minke_core::AuditAction;
use minke_store::{AuditFilter, AuditRecord};

use crate::auth::Auth;
use crate::forms::{Pairs, QueryPairs, encode};
use crate::layout::{Layout, render};
use crate::readable::time;
use crate::state::AppState;
use crate::{Error, Result};

/// Entries on a page.
const PAGE: usize = 100;

/// An entry as the page shows it.
struct Entry {
    id: i64,
    at: String,
    actor: String,
    via: String,
    action: &'static str,
    what: String,
    target: String,
    detail: String,
}

impl From<AuditRecord> for Entry {
    fn from(e: AuditRecord) -> Entry {
        Entry {
            id: e.id,
            at: time(e.at),
            via: e.door(),
            what: e.what(),
            action: e.action.as_str(),
            actor: e.actor,
            target: e.target,
            detail: e.detail,
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    by: String,
    action: String,
    target: String,
    from: String,
    /// Every kind of entry: value and label.
    actions: Vec<(&'static str, &'static str)>,
    filtered: bool,
    entries: Vec<Entry>,
    newer: Option<String>,
    older: Option<String>,
}

/// Reads the filters of the page's query.
fn filter_of(p: &Pairs) -> Result<AuditFilter> {
    let action = match p.text("action") {
        None => None,
        Some(a) => Some(a.parse::<AuditAction>().map_err(|_| {
            Error::BadRequest(format!(
                "`action`: `{a}` is not one of {}",
                AuditAction::ALL
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
    };
    Ok(AuditFilter {
        actor: p.text("by").map(str::to_owned),
        action,
        target: p.text("target").map(str::to_owned),
        from: p.date("from", false)?,
        before: p.number("before")?,
        after: p.number("after")?,
        limit: i64::try_from(PAGE + 1).unwrap_or(101),
    })
}

/// `GET /audit`.
pub(crate) async fn audit(
    State(st): State<AppState>,
    auth: Auth,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    auth.need_superuser()?;
    p.only(&["by", "action", "target", "from", "before", "after"], &[])?;
    let filter = filter_of(&p)?;
    let (before, after) = (filter.before, filter.after);
    let mut rows = st
        .store()
        .blocking(move |c| minke_store::find_audit(c, &filter))
        .await?;
    // One more than a page was asked for, in the direction of travel: whether it
    // came says whether there is more that way.
    let more = rows.len() > PAGE;
    if more {
        if after.is_some() {
            rows.remove(0);
        } else {
            rows.truncate(PAGE);
        }
    }
    let kept: Vec<(&str, &str)> = ["by", "action", "target", "from"]
        .iter()
        .filter_map(|k| p.text(k).map(|v| (*k, v)))
        .collect();
    let link = |key: &str, id: i64| {
        let id = id.to_string();
        let mut pairs = kept.clone();
        pairs.push((key, &id));
        format!("{}?{}", st.url("/audit"), encode(pairs))
    };
    let newer_exist = if after.is_some() {
        more
    } else {
        before.is_some()
    };
    let older_exist = if after.is_some() { true } else { more };
    let newer = rows
        .first()
        .filter(|_| newer_exist)
        .map(|e| link("after", e.id));
    let older = rows
        .last()
        .filter(|_| older_exist)
        .map(|e| link("before", e.id));
    let page = AuditPage {
        layout: Layout::new(&st, Some(&auth), "Audit log"),
        by: p.text("by").unwrap_or_default().to_owned(),
        action: p.text("action").unwrap_or_default().to_owned(),
        target: p.text("target").unwrap_or_default().to_owned(),
        from: p.text("from").unwrap_or_default().to_owned(),
        actions: AuditAction::ALL
            .iter()
            .map(|a| (a.as_str(), a.label()))
            .collect(),
        filtered: !kept.is_empty(),
        entries: rows.into_iter().map(Entry::from).collect(),
        newer,
        older,
    };
    render(StatusCode::OK, &page)
}
