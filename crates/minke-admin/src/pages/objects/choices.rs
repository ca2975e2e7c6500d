//! The autocomplete of a relation: objects to pick, by label, searched and paged by
//! the database.

use axum::Json;
use axum::extract::{Path, State};
use minke_core::ModelObject;
use minke_store::Query;
use serde::Serialize;

use crate::Result;
use crate::auth::Auth;
use crate::forms::QueryPairs;
use crate::pages::changelist::model_entry;
use crate::state::AppState;

/// Objects an autocomplete offers at a time.
const CHOICES_PAGE: i64 = 20;

/// One object an autocomplete offers.
#[derive(Serialize)]
pub(crate) struct Choice {
    id: i64,
    label: String,
}

/// What `GET /models/{model}/choices` answers.
#[derive(Serialize)]
pub(crate) struct Choices {
    results: Vec<Choice>,
    /// True when a next page has more.
    more: bool,
}

/// `GET /models/{model}/choices?q=TEXT&page=N`: objects to pick for a relation, by
/// label, searched and paged by the database (a million hosts do not fit a
/// `<select>`). A number finds the object of that id too.
pub(crate) async fn choices(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Result<Json<Choices>> {
    let entry = model_entry(&st, &model)?;
    auth.need_view(&model)?;
    p.only(&["q", "page"], &[])?;
    let page = p.number::<i64>("page")?.unwrap_or(1).max(1);
    let text = p.text("q").map(str::to_owned);
    let label = entry.meta.label;
    let (results, more) = st
        .store()
        .blocking(move |c| {
            let mut found: Vec<Box<dyn ModelObject>> = Vec::new();
            if let Some(id) = text.as_deref().and_then(|t| t.trim().parse::<i64>().ok())
                && page == 1
            {
                found.extend(entry.load(c, &Query::ids([id]))?);
            }
            let mut q = match &text {
                Some(t) if !entry.meta.search.is_empty() => Query::search(t.clone()),
                _ => Query::all(),
            };
            q.order = Some(minke_store::Order::parse(label));
            q.limit = Some(CHOICES_PAGE + 1);
            q.offset = Some((page - 1) * CHOICES_PAGE);
            let mut listed = entry.load(c, &q)?;
            let more = listed.len() as i64 > CHOICES_PAGE;
            listed.truncate(CHOICES_PAGE as usize);
            let seen: Vec<i64> = found.iter().map(|o| o.id()).collect();
            found.extend(listed.into_iter().filter(|o| !seen.contains(&o.id())));
            Ok((
                found
                    .into_iter()
                    .map(|o| Choice {
                        id: o.id(),
                        label: o.label(),
                    })
                    .collect(),
                more,
            ))
        })
        .await?;
    Ok(Json(Choices { results, more }))
}
