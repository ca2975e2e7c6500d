//! Every model key and the first host keys: a user host table, a server on it, an app on
//! the server (the connection option keys of hosts are in `host_options.rs`).
#![deny(warnings)]

use diesel::prelude::*;
use minke::{Host, MinkeModel, Query, StoredModel};

mod schema {
    diesel::table! {
        own_hosts (key) {
            key -> Integer,
            name -> Text,
            address -> Text,
            port -> Nullable<Integer>,
            login -> Text,
            key_file -> Nullable<Text>,
            policy -> Nullable<Text>,
            known -> Nullable<Text>,
            disabled -> Bool,
        }
    }
    diesel::table! {
        servers (id) {
            id -> BigInt,
            name -> Text,
            hostname -> Nullable<Text>,
            host_key -> Nullable<Integer>,
            kernel -> Nullable<Text>,
            cores -> SmallInt,
            ratio -> Float,
            blob -> Binary,
        }
    }
    diesel::table! {
        tags (id) {
            id -> BigInt,
        }
    }
    diesel::table! {
        apps (id) {
            id -> BigInt,
            title -> Text,
            server_id -> BigInt,
            r#type -> Text,
        }
    }
}

use schema::{apps, servers, tags};

/// A host of our own.
#[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
#[diesel(table_name = schema::own_hosts)]
#[minke(table = schema::own_hosts, id = key, host = key)]
#[minke(address = address, port = port, user = login, identity_file = key_file)]
#[minke(host_key_policy = policy, known_hosts = known, disabled = disabled)]
struct OwnHost {
    key: i32,
    name: String,
    address: String,
    port: Option<i32>,
    login: String,
    key_file: Option<String>,
    policy: Option<String>,
    known: Option<String>,
    disabled: bool,
}

#[derive(Clone, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(
    table = servers,
    name = "srv",
    verbose_name = "server",
    host = host_key,
    label = hostname,
    list(name, hostname),
    search(name, hostname),
    filter(name, hostname, cores, ratio)
)]
struct Server {
    id: i64,
    name: String,
    hostname: Option<String>,
    host_key: Option<i32>,
    kernel: Option<String>,
    cores: i16,
    ratio: f32,
    #[minke(skip)]
    blob: Vec<u8>,
}

#[derive(Clone, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = apps)]
#[minke(table = apps, host(via = server_id, model = Server))]
struct App {
    id: i64,
    #[diesel(column_name = title)]
    #[minke(column = title)]
    name: String,
    server_id: i64,
    r#type: String,
}

/// Nothing to filter, search, list or write.
#[derive(Clone, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = tags)]
#[minke(table = tags, host = id, list(), search(), filter())]
struct Tag {
    id: i64,
}

fn main() {
    assert_eq!(Tag::meta().label, "id");
    assert!(
        Tag { id: 1 }
            .clone()
            .set_field("id", minke::Value::Int(2))
            .is_err()
    );
    assert_eq!(OwnHost::NAME, "own_host");
    // A host model is its own host: its key points at no parent, so deleting one of
    // its objects is not kept by the object itself.
    assert!(OwnHost::meta().parent().is_none());
    assert_eq!(
        Server::meta().parent().map(|(f, r)| (f.name, r)),
        Some(("host_key", minke::References::Host))
    );
    assert_eq!(OwnHost::meta().verbose_name, "A host of our own");
    assert_eq!(Server::NAME, "srv");
    assert_eq!(App::meta().label, "name");
    assert_eq!(App::meta().search, ["name", "type"]);
    let own = OwnHost {
        key: 1,
        name: "h".into(),
        address: "a".into(),
        port: None,
        login: "me".into(),
        key_file: None,
        policy: None,
        known: None,
        disabled: false,
    };
    assert_eq!(own.target().user, "me");
    let server = Server {
        id: 1,
        name: "s".into(),
        hostname: None,
        host_key: None,
        kernel: None,
        cores: 4,
        ratio: 0.5,
        blob: Vec::new(),
    };
    assert!(server.blob.is_empty() && server.field("blob").is_none());
    let _: fn(&mut minke_store::Conn, &Query) -> minke_store::Result<Vec<App>> = App::load;
}
