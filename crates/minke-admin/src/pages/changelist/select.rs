//! What a changelist selects: the model, the objects (filters, search, last status,
//! group) and their order, read from a query string or a form carrying it.

use std::cmp::Ordering;

use minke_core::{ModelMeta, Value};
use minke_runtime::ModelEntry;
use minke_store::{Condition, Op, Order, Query};

use crate::forms::Pairs;
use crate::state::AppState;
use crate::{Error, Result};

/// Query parameters that select objects (carried from the changelist to the run).
const SELECT_KEYS: &[&str] = &["q", "filter", "last_status", "group"];

/// The model of that name, or 404.
pub(crate) fn model_entry(st: &AppState, model: &str) -> Result<ModelEntry> {
    st.engine()
        .models()
        .get(model)
        .cloned()
        .map_err(|e| Error::NotFound(e.to_string()))
}

/// The model of that name (404 when there is none), once the user may do `action`
/// on its objects (403 otherwise).
pub(crate) fn model_entry_to(
    st: &AppState,
    auth: &crate::auth::Auth,
    model: &str,
    action: minke_runtime::ModelAction,
) -> Result<ModelEntry> {
    let entry = model_entry(st, model)?;
    auth.need_to(action, model)?;
    Ok(entry)
}

/// Builds the selection a changelist query (or a form carrying it) describes:
/// `f_FIELD` filters on declared fields, `filter` (an expression), `q` (search),
/// `last_status` and, for hosts, `group`. Unknown fields are a 400, never SQL.
pub(crate) async fn selection(st: &AppState, model: &ModelMeta, p: &Pairs) -> Result<Query> {
    let mut query = match p.text("filter") {
        Some(expr) => Query::filter(expr)?,
        None => Query::all(),
    };
    for (k, v) in &p.0 {
        let Some(field) = k.strip_prefix("f_") else {
            continue;
        };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let is_text = model.field(field).is_some_and(|f| f.is_text);
        query.conditions.push(Condition {
            field: field.to_owned(),
            op: if is_text { Op::Contains } else { Op::Eq },
            value: v.to_owned(),
        });
    }
    query.search = p.text("q").map(str::to_owned);
    // `group = NAME` and `last_status = ...` written in the filter expression.
    let in_filter = minke_store::take_targets(model, &mut query)?;
    minke_store::check_query(model, &query)?;
    let last_status = p
        .text("last_status")
        .map(minke_store::parse_last_status)
        .transpose()?;
    let group = p.number::<i64>("group")?;
    if last_status.is_none() && group.is_none() && in_filter.is_empty() {
        return Ok(query);
    }
    let name = model.name.to_owned();
    Ok(st
        .store()
        .blocking(move |c| {
            minke_store::narrow(c, &name, &mut query, &in_filter)?;
            if let Some(status) = last_status {
                minke_store::narrow_to_last_status(&mut query, status);
            }
            if let Some(g) = group {
                minke_store::narrow_to_group(c, &name, &mut query, g)?;
            }
            Ok(query)
        })
        .await?)
}

/// The selection parameters of a query string, to carry on.
pub(super) fn selection_pairs(p: &Pairs) -> Vec<(String, String)> {
    p.0.iter()
        .filter(|(k, v)| {
            (SELECT_KEYS.contains(&k.as_str()) || k.starts_with("f_")) && !v.trim().is_empty()
        })
        .cloned()
        .collect()
}

pub(super) fn compare(a: &Value, b: &Value) -> Ordering {
    use Value::{Bool, Float, Int, Null, Text};
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Less,
        (_, Null) => Ordering::Greater,
        (Bool(x), Bool(y)) => x.cmp(y),
        (Int(x), Int(y)) => x.cmp(y),
        (Float(x), Float(y)) => x.total_cmp(y),
        (Int(x), Float(y)) => (*x as f64).total_cmp(y),
        (Float(x), Int(y)) => x.total_cmp(&(*y as f64)),
        (Text(x), Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()).then(x.cmp(y)),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// The order `o` asks for (`FIELD` or `-FIELD`): any field of the model but a secret
/// one (its order would tell the value bit by bit); `None` for the id's.
pub(super) fn order_of(meta: &ModelMeta, p: &Pairs) -> Result<Option<Order>> {
    let Some(o) = p.text("o") else {
        return Ok(None);
    };
    let order = Order::parse(o);
    match meta.field(&order.field) {
        None => Err(Error::BadRequest(format!(
            "cannot order model `{}` by unknown field `{}`",
            meta.name, order.field
        ))),
        Some(f) if f.type_name == "secret" => Err(Error::BadRequest(format!(
            "cannot order model `{}` by `{}`: it is a secret",
            meta.name, order.field
        ))),
        Some(_) => Ok(Some(order)),
    }
}
