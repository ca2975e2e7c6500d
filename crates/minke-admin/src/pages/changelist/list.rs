//! `GET /models/{model}`: the changelist, in three steps: what the query string asks
//! ([`ListRequest`]), one page of objects from the database ([`Listed`]), and the page
//! the template shows ([`ChangelistPage`]).

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minke_core::{ModelMeta, ModelObject, RunId, Value};
use minke_runtime::{ModelAction, ModelEntry};
use minke_store::{HostGroupRecord, Order, Query, RunRecord, SessionRecord};

use super::cells::{LiveSession, RunPanel, cell, live_cells, run_panel};
use super::select::{compare, model_entry, order_of, selection, selection_pairs};
use crate::auth::Auth;
use crate::forms::{Pairs, QueryPairs, encode, segment};
use crate::layout::{Layout, render};
use crate::pages::{Choice, Pager, Window, page_of, total_beside};
use crate::state::AppState;
use crate::{Error, Result};

/// The query string keys a changelist takes (and `f_FIELD`).
const KEYS: &[&str] = &[
    "q",
    "filter",
    "last_status",
    "group",
    "o",
    "page",
    "per_page",
    "run",
];

/// What a changelist's query string asks for.
struct ListRequest {
    query: Query,
    order: Option<Order>,
    page: i64,
    size: i64,
    /// A run shown live in the list: its record and its sessions by object.
    run: Option<(RunRecord, BTreeMap<i64, SessionRecord>)>,
}

impl ListRequest {
    async fn read(st: &AppState, meta: &ModelMeta, p: &Pairs) -> Result<ListRequest> {
        p.only(KEYS, &["f_"])?;
        let mut query = selection(st, meta, p).await?;
        let order = order_of(meta, p)?;
        let (page, size) = page_of(p, st.config().page_size)?;
        let run = match p.number::<RunId>("run")? {
            None => None,
            Some(r) => Some(Self::narrow_to_run(st, meta, &mut query, r).await?),
        };
        Ok(ListRequest {
            query,
            order,
            page,
            size,
            run,
        })
    }

    /// The objects of run `r` among those the query selects.
    async fn narrow_to_run(
        st: &AppState,
        meta: &ModelMeta,
        query: &mut Query,
        r: RunId,
    ) -> Result<(RunRecord, BTreeMap<i64, SessionRecord>)> {
        let (run, sessions) = st
            .store()
            .blocking(move |c| {
                Ok((
                    minke_store::get_run(c, r)?,
                    minke_store::run_sessions(c, r)?,
                ))
            })
            .await?;
        if run.model != meta.name {
            return Err(Error::BadRequest(format!(
                "run {r} worked on model `{}`, not `{}`",
                run.model, meta.name
            )));
        }
        let objects: BTreeSet<i64> = sessions.iter().map(|s| s.object_id).collect();
        query.ids = Some(match query.ids.take() {
            Some(ids) => ids.into_iter().filter(|i| objects.contains(i)).collect(),
            None => objects.into_iter().collect(),
        });
        let by_object = sessions.into_iter().map(|s| (s.object_id, s)).collect();
        Ok((run, by_object))
    }
}

/// One page of a changelist, read from the database.
struct Listed {
    /// All objects of the model (counted, or estimated beside a filtered count).
    total: String,
    matching: i64,
    objects: Vec<Box<dyn ModelObject>>,
    /// The latest session of each object on the page.
    latest: BTreeMap<i64, SessionRecord>,
    /// Host groups, for the hosts' group filter.
    groups: Vec<HostGroupRecord>,
}

impl Listed {
    async fn load(st: &AppState, entry: &ModelEntry, req: &ListRequest) -> Result<Listed> {
        let entry = entry.clone();
        let (query, order) = (req.query.clone(), req.order.clone());
        let (offset, size) = ((req.page - 1) * req.size, req.size);
        let with_groups = entry.meta.name == st.engine().host_model();
        Ok(st
            .store()
            .blocking(move |c| {
                let matching = entry.count(c, &query)?;
                let total = total_beside(c, &query, matching, entry.meta.table, |c| {
                    entry.count(c, &Query::all())
                })?;
                let window = Window {
                    order,
                    id_field: entry.meta.id,
                    offset,
                    size,
                    matching,
                };
                let objects = window.load(
                    c,
                    query,
                    |c, q| entry.load(c, q),
                    |a, b, field| {
                        compare(
                            &a.field(field).unwrap_or(Value::Null),
                            &b.field(field).unwrap_or(Value::Null),
                        )
                    },
                )?;
                let ids: Vec<i64> = objects.iter().map(|o| o.id()).collect();
                let latest = minke_store::latest_sessions(c, entry.meta.name, &ids)?
                    .into_iter()
                    .map(|s| (s.object_id, s))
                    .collect();
                let groups = if with_groups {
                    minke_store::list_groups(c)?
                } else {
                    Vec::new()
                };
                Ok(Listed {
                    total,
                    matching,
                    objects,
                    latest,
                    groups,
                })
            })
            .await?)
    }
}

/// A filter of the filter form: a text input, or a menu for booleans.
struct Filter {
    field: &'static str,
    name: String,
    value: String,
    placeholder: &'static str,
    choices: Vec<Choice>,
}

/// A session the user may run here.
struct SessionChoice {
    name: &'static str,
    label: String,
    /// Its name and help, shown on hover.
    tip: String,
    /// It asks for parameters or a confirmation first.
    asks: bool,
}

/// The sessions of one group of the menu.
struct SessionGroup {
    label: Option<String>,
    sessions: Vec<SessionChoice>,
}

/// A column head that sorts.
struct Column {
    field: &'static str,
    sort_url: String,
    arrow: &'static str,
}

/// The latest session of an object, as a badge.
struct LastSession {
    url: String,
    /// `status` for a completed session, else `state`.
    kind: &'static str,
    value: &'static str,
}

/// A row of the table.
struct Row {
    id: i64,
    url: String,
    session_id: Option<i64>,
    /// Field and value, in the listed order.
    cells: Vec<(&'static str, String)>,
    last: Option<LastSession>,
    /// The live cells of the run shown (`None` without a run).
    live: Option<Option<LiveSession>>,
}

#[derive(Template)]
#[template(path = "changelist.html")]
struct ChangelistPage {
    layout: Layout,
    model: &'static str,
    verbose_name: String,
    csrf: String,
    add_url: Option<String>,
    list_url: String,
    run_url: String,
    run_id: Option<RunId>,
    q: String,
    search_fields: String,
    filters: Vec<Filter>,
    last_status: Vec<Choice>,
    groups: Vec<Choice>,
    filter: String,
    run_panel: Option<RunPanel>,
    /// The selection, carried to the run form.
    carry: Vec<(String, String)>,
    sessions: Vec<SessionGroup>,
    matching: i64,
    total: String,
    columns: Vec<Column>,
    live: bool,
    rows: Vec<Row>,
    pager: Pager,
}

fn filters(meta: &ModelMeta, p: &Pairs) -> Vec<Filter> {
    meta.filter
        .iter()
        .filter_map(|f| meta.field(f))
        .map(|field| {
            let name = format!("f_{}", field.name);
            let value = p.get(&name).unwrap_or_default().to_owned();
            Filter {
                field: field.name,
                choices: if field.type_name == "boolean" {
                    Choice::menu([("", "any"), ("true", "yes"), ("false", "no")], &value)
                } else {
                    Vec::new()
                },
                placeholder: if field.is_text { "contains" } else { "equals" },
                name,
                value,
            }
        })
        .collect()
}

fn session_menu(st: &AppState, auth: &Auth, model: &str) -> Vec<SessionGroup> {
    let mut groups: BTreeMap<Option<String>, Vec<SessionChoice>> = BTreeMap::new();
    for s in st.engine().sessions().iter() {
        let m = &s.meta;
        if !(m.works_on(model) && auth.can_run(m)) {
            continue;
        }
        let tip = if m.help.is_empty() {
            m.verbose_name.clone()
        } else {
            format!("{}\n\n{}", m.verbose_name, m.help)
        };
        groups
            .entry(m.group.clone())
            .or_default()
            .push(SessionChoice {
                name: m.name,
                label: m.verbose_name.clone(),
                tip,
                asks: m.confirm || !m.params.is_empty(),
            });
    }
    groups
        .into_iter()
        .map(|(label, sessions)| SessionGroup { label, sessions })
        .collect()
}

fn columns(meta: &ModelMeta, path: &str, p: &Pairs, order: Option<&Order>) -> Vec<Column> {
    let listed = if meta.list.is_empty() {
        vec![meta.label]
    } else {
        meta.list.clone()
    };
    listed
        .into_iter()
        .map(|field| {
            let (next, arrow) = match order {
                Some(o) if o.field == field && !o.descending => (format!("-{field}"), " ▲"),
                Some(o) if o.field == field => (field.to_owned(), " ▼"),
                _ => (field.to_owned(), ""),
            };
            let mut pairs: Vec<(&str, &str)> =
                p.0.iter()
                    .filter(|(k, _)| k != "o" && k != "page")
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
            pairs.push(("o", &next));
            Column {
                field,
                sort_url: format!("{path}?{}", encode(pairs)),
                arrow,
            }
        })
        .collect()
}

fn row(
    st: &AppState,
    meta: &ModelMeta,
    columns: &[Column],
    o: &dyn ModelObject,
    latest: Option<&SessionRecord>,
    live: Option<Option<&SessionRecord>>,
) -> Row {
    let id = o.id();
    let cells = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let v = cell(meta, o, c.field);
            // The first cell links to the object: never empty.
            let v = if i == 0 && v.is_empty() {
                id.to_string()
            } else {
                v
            };
            (c.field, v)
        })
        .collect();
    Row {
        id,
        url: st.url(&format!("/models/{}/{id}", segment(meta.name))),
        session_id: live.flatten().map(|s| s.id.get()),
        cells,
        last: latest.map(|s| {
            let completed = s.state == minke_core::State::Completed;
            LastSession {
                url: st.url(&format!("/sessions/{}", s.id)),
                kind: if completed { "status" } else { "state" },
                value: match (completed, s.status) {
                    (true, Some(status)) => status.as_str(),
                    _ => s.state.as_str(),
                },
            }
        }),
        live: live.map(|s| live_cells(st, s)),
    }
}

/// `GET /models/{model}`: the changelist.
pub(crate) async fn changelist(
    State(st): State<AppState>,
    auth: Auth,
    Path(model): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    let entry = model_entry(&st, &model)?;
    auth.need_view(&model)?;
    let meta = &entry.meta;
    let req = ListRequest::read(&st, meta, &p).await?;
    let listed = Listed::load(&st, &entry, &req).await?;
    let list_url = st.url(&format!("/models/{}", segment(meta.name)));
    let columns = columns(meta, &list_url, &p, req.order.as_ref());
    let rows = listed
        .objects
        .iter()
        .map(|o| {
            let live = req.run.as_ref().map(|(_, by)| by.get(&o.id()));
            row(
                &st,
                meta,
                &columns,
                o.as_ref(),
                listed.latest.get(&o.id()),
                live,
            )
        })
        .collect();
    let pages = (listed.matching + req.size - 1) / req.size;
    let group = p.get("group").unwrap_or_default();
    let mut groups = Vec::new();
    if !listed.groups.is_empty() {
        let ids: Vec<String> = listed.groups.iter().map(|g| g.id.to_string()).collect();
        let mut items = vec![("", "any")];
        items.extend(
            ids.iter()
                .map(String::as_str)
                .zip(listed.groups.iter().map(|g| g.name.as_str())),
        );
        groups = Choice::menu(items, group);
    }
    let page = ChangelistPage {
        layout: Layout::new(&st, Some(&auth), meta.verbose_name.clone()),
        model: meta.name,
        verbose_name: meta.verbose_name.clone(),
        csrf: auth.csrf.clone().unwrap_or_default(),
        add_url: (meta.writable && auth.may(ModelAction::Add, meta.name))
            .then(|| st.url(&format!("/models/{}/add", segment(meta.name)))),
        run_url: st.url(&format!("/models/{}/run", segment(meta.name))),
        run_id: req.run.as_ref().map(|(r, _)| r.id),
        q: p.get("q").unwrap_or_default().to_owned(),
        search_fields: meta.search.join(", "),
        filters: filters(meta, &p),
        last_status: Choice::menu(
            [
                ("", "any"),
                ("success", "success"),
                ("warning", "warning"),
                ("error", "error"),
            ],
            p.get("last_status").unwrap_or_default(),
        ),
        groups,
        filter: p.get("filter").unwrap_or_default().to_owned(),
        run_panel: req
            .run
            .as_ref()
            .map(|(run, _)| run_panel(&st, run, st.engine().active_runs().contains(&run.id))),
        carry: selection_pairs(&p),
        sessions: session_menu(&st, &auth, meta.name),
        matching: listed.matching,
        total: listed.total,
        live: req.run.is_some(),
        rows,
        pager: Pager::new(&list_url, &p.0, req.page, pages.max(1)),
        list_url,
        columns,
    };
    render(StatusCode::OK, &page)
}
