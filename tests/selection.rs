//! A run on a selection of 100,000 ids (as the API and the web form send them), and
//! one on a host group of 15,000 members, on the mock transport with the full history
//! in SQLite: more ids than SQLite binds in one statement.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use diesel::prelude::*;
use minke::prelude::*;
use minke::runtime::{Config, Engine, HostSource, MockTransport, Models, RunRequest};
use minke::store::{Query, with_conn};
use minke::{AppMigration, HostRecord, Params, Registry, Store};

mod schema {
    diesel::table! {
        items (id) {
            id -> BigInt,
            name -> Text,
            host_id -> BigInt,
        }
    }
}
use schema::items;

const MIGRATIONS: &[AppMigration] = &[AppMigration::new(
    "selection_0001_items",
    "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL, host_id BIGINT NOT NULL)",
    "CREATE TABLE items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, host_id BIGINT NOT NULL)",
)];

const OBJECTS: usize = 100_000;
const HOSTS: usize = 100;

/// An object on a host.
#[derive(Clone, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = items)]
#[minke(table = items, host = host_id)]
struct Item {
    id: i64,
    name: String,
    host_id: i64,
}

/// Run a command
#[derive(Session)]
#[minke(work_on(Item, HostRecord), command = "{cmd}")]
struct Command {
    cmd: String,
}

/// Adds `n` hosts named `PREFIX00000`... on 127.0.0.1 (ids 1 to `n` in a fresh
/// database).
fn insert_hosts(c: &mut minke::store::Conn, prefix: &str, n: usize) -> minke::store::Result<()> {
    with_conn!(c, |c, B| {
        use minke::store::schema::minke_hosts as h;
        let hosts: Vec<_> = (0..n)
            .map(|i| {
                (
                    h::name.eq(format!("{prefix}{i:05}")),
                    h::hostname.eq("127.0.0.1"),
                    h::host_key_policy.eq("off"),
                )
            })
            .collect();
        for chunk in hosts.chunks(5000) {
            diesel::insert_into(h::table)
                .values(chunk)
                .execute(c)
                .map_err(minke::store::Error::query("hosts"))?;
        }
        Ok(())
    })
}

/// The engine on `store`, with the mock transport.
fn engine_on(store: &Store) -> Engine {
    let mut registry = Registry::default();
    registry.add::<Command>().unwrap();
    let mut models = Models::default();
    models.add::<HostRecord>().unwrap();
    models.add::<Item>().unwrap();
    Engine::with_transport(
        store.clone(),
        registry,
        models,
        HostSource::of::<HostRecord>(),
        Config {
            concurrency: 1000,
            ..Config::default()
        },
        Arc::new(MockTransport::default()),
    )
}

async fn fill(store: &Store) {
    store
        .write(|c| {
            insert_hosts(c, "h", HOSTS)?;
            with_conn!(c, |c, B| {
                let rows: Vec<_> = (0..OBJECTS)
                    .map(|i| {
                        (
                            items::name.eq(format!("item{i:06}")),
                            items::host_id.eq((i % HOSTS) as i64 + 1),
                        )
                    })
                    .collect();
                for chunk in rows.chunks(5000) {
                    diesel::insert_into(items::table)
                        .values(chunk)
                        .execute(c)
                        .map_err(minke::store::Error::query("items"))?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_100000_ids_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("sel.db").to_string_lossy().into_owned();
    let store = Store::open_with(&url, MIGRATIONS).await.unwrap();
    fill(&store).await;
    let engine = engine_on(&store);
    // Every id, newest first, as a client may send them.
    let ids: Vec<i64> = (1..=OBJECTS as i64).rev().collect();
    let handle = engine
        .start(RunRequest {
            session: "command".into(),
            model: "item".into(),
            query: Query::ids(ids),
            params: Params::from_pairs([("cmd", "true")]),
            username: "test".into(),
        })
        .await
        .unwrap();
    assert_eq!(handle.sessions, OBJECTS);
    let summary = handle.wait().await.unwrap();
    store.flush().await.unwrap();
    let ok = summary
        .sessions
        .iter()
        .filter(|s| s.status == Some(Status::Success))
        .count();
    assert_eq!(ok, OBJECTS);
    let run_id = summary.run_id;
    let recorded: i64 = store
        .blocking(move |c| {
            with_conn!(c, |c, B| {
                use minke::store::schema::minke_sessions as ses;
                ses::table
                    .filter(ses::run_id.eq(run_id))
                    .filter(ses::state.eq("completed"))
                    .count()
                    .get_result(c)
                    .map_err(minke::store::Error::query("counting"))
            })
        })
        .await
        .unwrap();
    assert_eq!(recorded, OBJECTS as i64);
}

/// Selecting a host group leaves it to the database: the run's recorded selection
/// names the group, not its members, and a model other than the hosts refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_group_of_15000_hosts_selects_in_the_database() {
    const GROUP_HOSTS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("group.db").to_string_lossy().into_owned();
    let store = Store::open_with(&url, MIGRATIONS).await.unwrap();
    let (group, members) = store
        .write(|c| {
            insert_hosts(c, "g", GROUP_HOSTS)?;
            let group = minke::store::create_group(c, "big", None)?;
            // Three hosts in four.
            let members: Vec<minke::HostId> = (1..=GROUP_HOSTS as i64)
                .filter(|i| i % 4 != 0)
                .map(minke::HostId::new)
                .collect();
            minke::store::add_group_members(c, group, &members)?;
            Ok((group, members.len()))
        })
        .await
        .unwrap();
    let query = store
        .blocking(move |c| {
            let mut q = Query::all();
            minke::store::narrow_to_group(c, "host", &mut q, group)?;
            Ok(q)
        })
        .await
        .unwrap();
    assert!(query.ids.is_none(), "no member ids in the query");
    assert_eq!(query.in_groups, [group]);
    // Counted from the members' index alone, or with another condition by the hosts.
    let (alone, with_name) = {
        let (q, mut named) = (query.clone(), query.clone());
        named.conditions = Query::filter("name ~ g0").unwrap().conditions;
        store
            .blocking(move |c| {
                use minke::StoredModel as _;
                Ok((HostRecord::count(c, &q)?, HostRecord::count(c, &named)?))
            })
            .await
            .unwrap()
    };
    assert_eq!(alone, members as i64);
    // g00000..g09999 (ids 1 to 10,000), three in four of them members.
    assert_eq!(with_name, 7500);

    let engine = engine_on(&store);
    let on_items = engine
        .start(RunRequest {
            session: "command".into(),
            model: "item".into(),
            query: query.clone(),
            params: Params::from_pairs([("cmd", "true")]),
            username: "test".into(),
        })
        .await;
    let refused = on_items.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("has no host groups"), "{refused}");

    let handle = engine
        .start(RunRequest {
            session: "command".into(),
            model: "host".into(),
            query,
            params: Params::from_pairs([("cmd", "true")]),
            username: "test".into(),
        })
        .await
        .unwrap();
    assert_eq!(handle.sessions, members);
    let summary = handle.wait().await.unwrap();
    store.flush().await.unwrap();
    assert!(
        summary
            .sessions
            .iter()
            .all(|s| s.status == Some(Status::Success))
    );
    let run_id = summary.run_id;
    let selection = store
        .blocking(move |c| minke::store::get_run(c, run_id))
        .await
        .unwrap()
        .selection;
    assert!(
        selection.len() < 200,
        "the selection names the group: {selection}"
    );
    assert!(selection.contains("in_groups"), "{selection}");
}
