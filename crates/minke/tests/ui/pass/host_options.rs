//! Every connection option key of `#[derive(Host)]`, in fields of the types each takes;
//! and a host with a few of them, whose generated code must not warn either.
#![deny(warnings)]

use diesel::prelude::*;
use minke::{Host, HostId, MinkeModel};

mod schema {
    diesel::table! {
        fleet (id) {
            id -> BigInt,
            name -> Text,
            address -> Text,
            keys -> Text,
            certs -> Nullable<Text>,
            proxy -> Nullable<Text>,
            agent -> Bool,
            env -> Nullable<Text>,
            sudo_user -> Nullable<Text>,
            alive -> Nullable<Integer>,
            alive_max -> SmallInt,
            via -> Nullable<BigInt>,
        }
    }
    diesel::table! {
        edges (id) {
            id -> Integer,
            name -> Text,
            agent -> Text,
            alive -> Text,
            via -> Integer,
        }
    }
}

#[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
#[diesel(table_name = schema::fleet)]
#[minke(table = schema::fleet, host = id, address = address)]
#[minke(
    identity_files = keys,
    certificate_files = certs,
    proxy_command = proxy,
    forward_agent = agent,
    environment = env,
    become_user = sudo_user,
    keepalive_interval = alive,
    keepalive_count_max = alive_max,
    jump_host = via
)]
struct FleetHost {
    id: i64,
    name: String,
    address: String,
    keys: String,
    certs: Option<String>,
    proxy: Option<String>,
    agent: bool,
    env: Option<String>,
    sudo_user: Option<String>,
    alive: Option<i32>,
    alive_max: i16,
    via: Option<i64>,
}

/// Text for the flag and the interval, a plain integer for the jump host, no count.
#[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
#[diesel(table_name = schema::edges)]
#[minke(table = schema::edges, host = id, address = name)]
#[minke(forward_agent = agent, keepalive_interval = alive, jump_host = via)]
struct Edge {
    id: i32,
    name: String,
    agent: String,
    alive: String,
    via: i32,
}

fn main() {
    let h = FleetHost {
        id: 1,
        name: "db".into(),
        address: "10.0.0.1".into(),
        keys: "/keys/a\n/keys/b".into(),
        certs: None,
        proxy: None,
        agent: true,
        env: Some("LANG=C".into()),
        sudo_user: None,
        alive: Some(10),
        alive_max: 4,
        via: Some(2),
    };
    let t = h.target();
    assert_eq!(t.identity_files.len(), 2);
    assert!(t.forward_agent);
    assert_eq!(t.keepalive.map(|k| k.count_max), Some(4));
    assert_eq!(h.jump_host_id(), Some(HostId::new(2)));

    let e = Edge {
        id: 2,
        name: "edge".into(),
        agent: "off".into(),
        alive: "20".into(),
        via: 0,
    };
    assert!(!e.target().forward_agent);
    assert_eq!(e.target().keepalive.map(|k| k.count_max), Some(3));
    assert_eq!(e.jump_host_id(), None);
    assert_eq!(Edge::NAME, "edge");
}
