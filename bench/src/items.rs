//! The app the engine and queue benchmarks run: items on hosts (ten per host), a
//! `command` session on them, the engine on the mock transport.

use std::sync::Arc;

use diesel::prelude::*;
use minke::prelude::*;
use minke::runtime::{Config, Engine, HostSource, MockTransport, Models, RunRequest};
use minke::store::{Query, with_conn};
use minke::{AppMigration, HostRecord, Params, Registry, Store};

mod schema {
    #![allow(missing_docs)]
    diesel::table! {
        items (id) {
            id -> BigInt,
            name -> Text,
            host_id -> BigInt,
        }
    }
}
use schema::items;

/// The `items` table.
pub const MIGRATIONS: &[AppMigration] = &[AppMigration::new(
    "bench_0001_items",
    "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL, host_id BIGINT NOT NULL)",
    "CREATE TABLE items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, host_id BIGINT NOT NULL)",
)];

/// An object on a host.
#[derive(Clone, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = items)]
#[minke(table = items, host = host_id)]
pub struct Item {
    id: i64,
    name: String,
    host_id: i64,
}

/// Run a command
#[derive(Session)]
#[minke(work_on(Item), command = "{cmd}")]
pub struct Command {
    cmd: String,
}

/// The app's engine on the mock transport, 1000 sessions at once.
pub fn engine(store: Store) -> anyhow::Result<Engine> {
    let mut registry = Registry::default();
    registry.add::<Command>()?;
    let mut models = Models::default();
    models.add::<HostRecord>()?;
    models.add::<Item>()?;
    Ok(Engine::with_transport(
        store,
        registry,
        models,
        HostSource::of::<HostRecord>(),
        Config {
            concurrency: 1000,
            ..Config::default()
        },
        Arc::new(MockTransport::default()),
    ))
}

/// `command` with `cmd=true` on the items `query` selects.
pub fn request(query: Query) -> RunRequest {
    RunRequest {
        session: "command".into(),
        model: "item".into(),
        query,
        params: Params::from_pairs([("cmd", "true")]),
        username: "bench".into(),
    }
}

/// `hosts` hosts and `sessions` items spread over them.
pub async fn fill(store: &Store, hosts: usize, sessions: usize) -> anyhow::Result<()> {
    store
        .write(move |c| {
            with_conn!(c, |c, B| {
                use minke::store::schema::minke_hosts as h;
                let rows: Vec<_> = (0..hosts)
                    .map(|i| {
                        (
                            h::name.eq(format!("h{i:06}")),
                            h::hostname.eq("127.0.0.1"),
                            h::host_key_policy.eq("off"),
                        )
                    })
                    .collect();
                for chunk in rows.chunks(5000) {
                    diesel::insert_into(h::table)
                        .values(chunk)
                        .execute(c)
                        .map_err(minke::store::Error::query("hosts"))?;
                }
                let items: Vec<_> = (0..sessions)
                    .map(|i| {
                        (
                            items::name.eq(format!("item{i:07}")),
                            items::host_id.eq((i % hosts) as i64 + 1),
                        )
                    })
                    .collect();
                for chunk in items.chunks(5000) {
                    diesel::insert_into(items::table)
                        .values(chunk)
                        .execute(c)
                        .map_err(minke::store::Error::query("items"))?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(())
}
