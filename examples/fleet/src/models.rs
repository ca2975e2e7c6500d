//! The fleet's models: each web application runs on a server, each server on a host.

use diesel::prelude::*;
use minke::prelude::*;
use minke::{AppMigration, HostRecord};

diesel::table! {
    servers (id) {
        id -> BigInt,
        name -> Text,
        host_id -> BigInt,
        role -> Text,
        kernel -> Nullable<Text>,
        uptime -> Nullable<Text>,
    }
}

diesel::table! {
    webapps (id) {
        id -> BigInt,
        name -> Text,
        server_id -> BigInt,
        path -> Text,
        state -> Nullable<Text>,
    }
}

/// The fleet's own tables.
pub(crate) const MIGRATIONS: &[AppMigration] = &[AppMigration::new(
    "fleet_0001_servers_webapps",
    "CREATE TABLE servers (
        id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
        name TEXT NOT NULL UNIQUE,
        host_id BIGINT NOT NULL REFERENCES minke_hosts (id),
        role TEXT NOT NULL DEFAULT 'web',
        kernel TEXT,
        uptime TEXT
    );
    CREATE TABLE webapps (
        id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
        name TEXT NOT NULL UNIQUE,
        server_id BIGINT NOT NULL REFERENCES servers (id),
        path TEXT NOT NULL,
        state TEXT
    );",
    "CREATE TABLE servers (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        host_id BIGINT NOT NULL REFERENCES minke_hosts (id),
        role TEXT NOT NULL DEFAULT 'web',
        kernel TEXT,
        uptime TEXT
    );
    CREATE TABLE webapps (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        server_id BIGINT NOT NULL REFERENCES servers (id),
        path TEXT NOT NULL,
        state TEXT
    );",
)];

/// A server, reached through its host.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id, verbose_name = "server", list(name, role, kernel, uptime))]
pub(crate) struct Server {
    /// Primary key.
    pub(crate) id: i64,
    /// Unique name.
    pub(crate) name: String,
    /// The host it runs on.
    pub(crate) host_id: i64,
    /// What it is for.
    pub(crate) role: String,
    /// Kernel release, recorded by the `kernel` session.
    pub(crate) kernel: Option<String>,
    /// Uptime, recorded by the `uptime` session.
    pub(crate) uptime: Option<String>,
}

/// A web application on a server.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = webapps)]
#[minke(table = webapps, host(via = server_id, model = Server), verbose_name = "web application", list(name, path, state))]
pub(crate) struct WebApp {
    /// Primary key.
    pub(crate) id: i64,
    /// Unique name.
    pub(crate) name: String,
    /// The server it runs on.
    pub(crate) server_id: i64,
    /// Where it is installed.
    pub(crate) path: String,
    /// What the `app_state` session found.
    pub(crate) state: Option<String>,
}

/// Keeps `HostRecord` in view for sessions that work on hosts.
pub(crate) type Host = HostRecord;
