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
pub(crate) const MIGRATIONS: &[AppMigration] = &[
    AppMigration::new(
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
    ),
    // The columns the changelists list, in order either way with ties by id: a page
    // of a million servers sorted by any of them comes from an index.
    AppMigration::new("fleet_0002_list_indexes", LIST_INDEXES, LIST_INDEXES),
    // Searches look for text anywhere in the text fields: on PostgreSQL trigram
    // indexes find it (Minke's migrations create the pg_trgm extension when they
    // can); SQLite scans.
    AppMigration::new(
        "fleet_0003_search_indexes",
        "SELECT 1",
        "DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
                CREATE INDEX servers_name_trgm ON servers USING gin (name gin_trgm_ops);
                CREATE INDEX servers_role_trgm ON servers USING gin (role gin_trgm_ops);
                CREATE INDEX servers_kernel_trgm ON servers USING gin (kernel gin_trgm_ops);
                CREATE INDEX servers_uptime_trgm ON servers USING gin (uptime gin_trgm_ops);
                CREATE INDEX webapps_name_trgm ON webapps USING gin (name gin_trgm_ops);
                CREATE INDEX webapps_path_trgm ON webapps USING gin (path gin_trgm_ops);
                CREATE INDEX webapps_state_trgm ON webapps USING gin (state gin_trgm_ops);
            END IF;
        END
        $$;",
    ),
    // What points at a host or a server: deleting one looks for its dependents.
    AppMigration::new("fleet_0004_parent_indexes", PARENT_INDEXES, PARENT_INDEXES),
    // SQLite finds text anywhere in the searched columns through FTS5 trigram
    // indexes (named by `search_index`), kept by triggers; PostgreSQL has pg_trgm's.
    AppMigration::new("fleet_0005_sqlite_search", SQLITE_SEARCH, "SELECT 1"),
];

/// The searched columns of servers and web applications in trigram indexes.
const SQLITE_SEARCH: &str = concat!(
    minke::store::sqlite_search_index!(
        index = "servers_search",
        table = "servers",
        id = "id",
        columns = ["name", "role", "kernel", "uptime"],
    ),
    minke::store::sqlite_search_index!(
        index = "webapps_search",
        table = "webapps",
        id = "id",
        columns = ["name", "path", "state"],
    ),
);

/// The same on both backends.
const PARENT_INDEXES: &str = "CREATE INDEX servers_host ON servers (host_id);
    CREATE INDEX webapps_server ON webapps (server_id);";

/// The same on both backends.
const LIST_INDEXES: &str = "CREATE INDEX servers_role ON servers (role, id);
    CREATE INDEX servers_kernel ON servers (kernel, id);
    CREATE INDEX servers_uptime ON servers (uptime, id);
    CREATE INDEX webapps_path ON webapps (path, id);
    CREATE INDEX webapps_state ON webapps (state, id);";

/// A server, reached through its host.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id, verbose_name = "server", list(name, role, kernel, uptime))]
#[minke(search_index = servers_search)]
pub(crate) struct Server {
    /// Primary key.
    pub(crate) id: i64,
    /// Unique name.
    pub(crate) name: String,
    /// The host it runs on.
    pub(crate) host_id: i64,
    /// What it is for.
    #[minke(choices("web", "db", "cache", "queue"))]
    pub(crate) role: String,
    /// Kernel release, recorded by the `kernel` session.
    #[minke(read_only)]
    pub(crate) kernel: Option<String>,
    /// Uptime, recorded by the `uptime` session.
    #[minke(read_only)]
    pub(crate) uptime: Option<String>,
}

/// A web application on a server.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = webapps)]
#[minke(table = webapps, host(via = server_id, model = Server), verbose_name = "web application", list(name, path, state))]
#[minke(search_index = webapps_search)]
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
    #[minke(read_only)]
    pub(crate) state: Option<String>,
}

/// Keeps `HostRecord` in view for sessions that work on hosts.
pub(crate) type Host = HostRecord;
