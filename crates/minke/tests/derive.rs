//! The derives at run time: models over an in-memory SQLite database (Minke's host
//! table <- servers <- web apps), a user host model, and sessions run against a fake
//! executor.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use minke::{
    CommandOutput, Context, ExecRequest, Executor, ExitStatus, Host, HostId, HostKeyPolicy,
    HostRecord, Keepalive, Message, MessageBody, MinkeModel, Params, Query, Result, Secret,
    Session, SessionInfo, Status, StoredModel, Value,
};
use minke_store::{Conn, DatabaseUrl, NewHost, upsert_host, with_conn};

mod schema {
    diesel::table! {
        servers (id) {
            id -> BigInt,
            name -> Text,
            hostname -> Text,
            host_id -> Nullable<BigInt>,
            port -> Integer,
            load -> Double,
            active -> Bool,
            kernel -> Nullable<Text>,
        }
    }

    diesel::table! {
        webapps (id) {
            id -> BigInt,
            name -> Text,
            server_id -> Nullable<BigInt>,
            version -> Nullable<Text>,
            notes -> Nullable<Text>,
        }
    }

    diesel::table! {
        vaults (id) {
            id -> BigInt,
            name -> Text,
            host_id -> BigInt,
            token -> Text,
        }
    }

    diesel::table! {
        my_hosts (id) {
            id -> BigInt,
            name -> Text,
            ip -> Nullable<Text>,
            ssh_port -> Integer,
            login -> Nullable<Text>,
            key -> Nullable<Text>,
            policy -> Text,
            kh -> Nullable<Text>,
            off -> Bool,
        }
    }

    diesel::table! {
        fleet_hosts (id) {
            id -> BigInt,
            name -> Text,
            address -> Text,
            keys -> Text,
            certs -> Nullable<Text>,
            proxy -> Nullable<Text>,
            agent -> Integer,
            env -> Nullable<Text>,
            sudo_user -> Nullable<Text>,
            alive -> Nullable<Text>,
            alive_max -> Nullable<Integer>,
            via -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        bare_hosts (id) {
            id -> BigInt,
            name -> Text,
            keys -> Nullable<Text>,
            agent -> Bool,
            alive -> Integer,
            via -> BigInt,
        }
    }
}

use schema::{bare_hosts, fleet_hosts, my_hosts, servers, vaults, webapps};

/// A server.
///
/// Runs web applications.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, minke::MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id, list(name, hostname, kernel), search(name, hostname, kernel))]
struct Server {
    id: i64,
    name: String,
    hostname: String,
    host_id: Option<i64>,
    port: i32,
    load: f64,
    active: bool,
    kernel: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, minke::MinkeModel)]
#[diesel(table_name = webapps)]
#[minke(
    table = webapps,
    name = "webapp",
    verbose_name = "web application",
    host(via = server_id, model = Server),
    filter(name, server_id, release)
)]
struct WebApp {
    id: i64,
    name: String,
    server_id: Option<i64>,
    #[diesel(column_name = version)]
    #[minke(column = version)]
    release: Option<String>,
    #[minke(skip)]
    notes: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, minke::MinkeModel, minke::Host)]
#[diesel(table_name = my_hosts)]
#[minke(
    table = my_hosts,
    host = id,
    address = ip,
    port = ssh_port,
    user = login,
    identity_file = key,
    host_key_policy = policy,
    known_hosts = kh,
    disabled = off
)]
struct MyHost {
    id: i64,
    name: String,
    ip: Option<String>,
    ssh_port: i32,
    login: Option<String>,
    key: Option<String>,
    policy: String,
    kh: Option<String>,
    off: bool,
}

/// Every connection option of a host, in fields of several types.
#[derive(Clone, Debug, Queryable, Selectable, minke::MinkeModel, minke::Host)]
#[diesel(table_name = fleet_hosts)]
#[minke(table = fleet_hosts, host = id, address = address)]
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
    agent: i32,
    env: Option<String>,
    sudo_user: Option<String>,
    alive: Option<String>,
    alive_max: Option<i32>,
    via: Option<i64>,
}

/// The same options from plain columns: a `bool`, an integer interval without a
/// count, a jump host id that is 0 for none.
#[derive(Clone, Debug, Queryable, Selectable, minke::MinkeModel, minke::Host)]
#[diesel(table_name = bare_hosts)]
#[minke(
    table = bare_hosts,
    host = id,
    address = name,
    identity_files = keys,
    forward_agent = agent,
    keepalive_interval = alive,
    jump_host = via
)]
struct BareHost {
    id: i64,
    name: String,
    keys: Option<String>,
    agent: bool,
    alive: i32,
    via: i64,
}

/// A model with a secret field.
#[derive(Clone, Debug, Queryable, Selectable, minke::MinkeModel)]
#[diesel(table_name = vaults)]
#[minke(table = vaults, host = host_id)]
struct Vault {
    id: i64,
    name: String,
    host_id: i64,
    token: Secret,
}

const SCHEMA: &str = "
    CREATE TABLE vaults (
        id INTEGER PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        host_id BIGINT NOT NULL,
        token TEXT NOT NULL
    );
    CREATE TABLE servers (
        id INTEGER PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        hostname TEXT NOT NULL,
        host_id BIGINT REFERENCES minke_hosts (id),
        port INTEGER NOT NULL,
        load DOUBLE NOT NULL,
        active BOOLEAN NOT NULL,
        kernel TEXT
    );
    CREATE TABLE webapps (
        id INTEGER PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        server_id BIGINT,
        version TEXT,
        notes TEXT
    );
    CREATE TABLE my_hosts (
        id INTEGER PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        ip TEXT,
        ssh_port INTEGER NOT NULL,
        login TEXT,
        key TEXT,
        policy TEXT NOT NULL,
        kh TEXT,
        off BOOLEAN NOT NULL
    );
";

/// Hosts h1 (id 1) and h2 (id 2); servers 1..3 (server 3 has no host); web apps 1..4
/// (on server 1, on no server, on a missing server 99, on server 3).
fn db() -> Conn {
    let mut conn = Conn::open(&DatabaseUrl::parse(":memory:").unwrap()).unwrap();
    minke_store::migrate(&mut conn).unwrap();
    assert_eq!(
        upsert_host(&mut conn, &NewHost::new("h1")).unwrap(),
        HostId::new(1)
    );
    assert_eq!(
        upsert_host(&mut conn, &NewHost::new("h2")).unwrap(),
        HostId::new(2)
    );
    with_conn!(&mut conn, |c, B| c.batch_execute(SCHEMA)).unwrap();
    let rows = "
        INSERT INTO servers VALUES (1, 'web1', 'web1.example.com', 1, 22, 0.5, 1, '6.1.0');
        INSERT INTO servers VALUES (2, 'web2', '10.0.0.2', 2, 2222, 1.5, 0, NULL);
        INSERT INTO servers VALUES (3, 'db_1%', 'db.example.com', NULL, 22, 3.0, 1, '5.15');
        INSERT INTO webapps VALUES (1, 'shop', 1, '1.2', 'secret notes');
        INSERT INTO webapps VALUES (2, 'orphan', NULL, NULL, NULL);
        INSERT INTO webapps VALUES (3, 'lost', 99, '2.0', NULL);
        INSERT INTO webapps VALUES (4, 'stats', 3, '1.0', NULL);
        INSERT INTO vaults VALUES (1, 'main', 1, 's3cr3t-token');
        INSERT INTO my_hosts VALUES (7, 'box', '192.0.2.7', 2200, 'admin', '/keys/box', 'accept-new', NULL, 0);
    ";
    with_conn!(&mut conn, |c, B| c.batch_execute(rows)).unwrap();
    conn
}

fn ids<T: MinkeModel>(objects: &[T]) -> Vec<i64> {
    objects.iter().map(MinkeModel::id).collect()
}

fn servers(conn: &mut Conn, filter: &str) -> Vec<i64> {
    ids(&Server::load(conn, &Query::filter(filter).unwrap()).unwrap())
}

fn load_err<T: StoredModel>(conn: &mut Conn, query: Query) -> String {
    T::load(conn, &query).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn secret_fields_are_loaded_but_shown_as_stars_and_never_filtered() {
    let mut conn = db();
    let m = Vault::meta();
    assert_eq!(m.field("token").unwrap().type_name, "secret");
    assert_eq!(m.list, ["id", "name", "host_id", "token"]);
    assert!(!m.filter.contains(&"token") && !m.search.contains(&"token"));
    let vaults = Vault::load(&mut conn, &Query::all()).unwrap();
    assert_eq!(vaults[0].token.expose(), "s3cr3t-token");
    assert_eq!(vaults[0].field("token"), Some(Value::Text("***".into())));
    assert!(!format!("{:?}", vaults[0]).contains("s3cr3t"));
    // Guessing through a filter or a search is refused or finds nothing.
    let err = load_err::<Vault>(&mut conn, Query::filter("token = s3cr3t-token").unwrap());
    assert!(err.contains("no filterable field `token`"), "{err}");
    let found = Vault::load(&mut conn, &Query::search("s3cr3t")).unwrap();
    assert!(found.is_empty());
}

#[test]
fn model_meta_defaults() {
    assert_eq!(Server::NAME, "server");
    let m = Server::meta();
    assert_eq!(m.name, "server");
    assert_eq!(m.verbose_name, "A server");
    assert_eq!(m.label, "name");
    assert_eq!(m.list, ["name", "hostname", "kernel"]);
    assert_eq!(m.search, ["name", "hostname", "kernel"]);
    assert_eq!(
        m.filter,
        [
            "id", "name", "hostname", "host_id", "port", "load", "active", "kernel"
        ]
    );
    let kernel = m.field("kernel").unwrap();
    assert_eq!(
        (kernel.type_name, kernel.is_text, kernel.optional),
        ("text", true, true)
    );
    let port = m.field("port").unwrap();
    assert_eq!(
        (port.type_name, port.is_text, port.optional),
        ("integer", false, false)
    );
    assert_eq!(m.field("load").unwrap().type_name, "number");
    assert_eq!(m.field("active").unwrap().type_name, "boolean");

    let w = WebApp::meta();
    assert_eq!(WebApp::NAME, "webapp");
    assert_eq!(w.verbose_name, "web application");
    let names: Vec<&str> = w.fields.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        ["id", "name", "server_id", "release"],
        "skipped fields are invisible"
    );
    assert_eq!(w.list, names);
    assert_eq!(w.search, ["name", "release"]);
    assert_eq!(w.filter, ["name", "server_id", "release"]);

    let h = MyHost::meta();
    assert_eq!(
        (h.name, h.verbose_name.as_str(), h.label),
        ("my_host", "my host", "name")
    );
}

#[test]
fn load_with_every_operator() {
    let mut conn = db();
    assert_eq!(
        ids(&Server::load(&mut conn, &Query::all()).unwrap()),
        [1, 2, 3]
    );
    assert_eq!(servers(&mut conn, "port = 22"), [1, 3]);
    assert_eq!(servers(&mut conn, "port != 22"), [2]);
    assert_eq!(servers(&mut conn, "port < 2222"), [1, 3]);
    assert_eq!(servers(&mut conn, "port <= 2222"), [1, 2, 3]);
    assert_eq!(servers(&mut conn, "port > 22"), [2]);
    assert_eq!(servers(&mut conn, "port >= 2222"), [2]);
    assert_eq!(servers(&mut conn, "id >= 2"), [2, 3]);
    assert_eq!(servers(&mut conn, "load > 1"), [2, 3]);
    assert_eq!(servers(&mut conn, "load <= 0.5"), [1]);
    assert_eq!(servers(&mut conn, "active = false"), [2]);
    assert_eq!(servers(&mut conn, "active = yes"), [1, 3]);
    assert_eq!(servers(&mut conn, "host_id = 1"), [1]);
    assert_eq!(servers(&mut conn, "hostname < m"), [2, 3]);
    assert_eq!(servers(&mut conn, "hostname > e"), [1]);
    assert_eq!(servers(&mut conn, "name = web1 and port = 22"), [1]);
    assert_eq!(servers(&mut conn, "kernel = 5.15"), [3]);
    assert_eq!(
        servers(&mut conn, "kernel != 5.15"),
        [1],
        "NULL never compares"
    );
}

#[test]
fn contains_filter_escapes_like_wildcards() {
    let mut conn = db();
    assert_eq!(servers(&mut conn, "name ~ web"), [1, 2]);
    assert_eq!(
        servers(&mut conn, "name ~ EB"),
        [1, 2],
        "LIKE is case-insensitive on SQLite"
    );
    assert_eq!(servers(&mut conn, "name ~ %"), [3]);
    assert_eq!(servers(&mut conn, "name ~ _"), [3]);
    assert_eq!(servers(&mut conn, "kernel ~ 6."), [1]);
    assert_eq!(servers(&mut conn, "hostname ~ example and name ~ web"), [1]);
    assert_eq!(
        ids(&WebApp::load(&mut conn, &Query::filter("release ~ 1.").unwrap()).unwrap()),
        [1, 4]
    );
}

#[test]
fn bad_filters_are_clear_errors() {
    let mut conn = db();
    let e = load_err::<Server>(&mut conn, Query::filter("nope = 1").unwrap());
    assert!(
        e.contains("model `server` has no filterable field `nope`"),
        "{e}"
    );
    assert!(e.contains("filterable: id, name, hostname"), "{e}");
    let e = load_err::<Server>(&mut conn, Query::filter("port = abc").unwrap());
    assert!(e.contains("filter `port = abc` on model `server`"), "{e}");
    assert!(e.contains("expected an integer"), "{e}");
    let e = load_err::<Server>(&mut conn, Query::filter("active = maybe").unwrap());
    assert!(e.contains("expected true or false"), "{e}");
    let e = load_err::<Server>(&mut conn, Query::filter("port ~ 22").unwrap());
    assert!(e.contains("`~` needs a text field"), "{e}");
    let e = load_err::<WebApp>(&mut conn, Query::filter("notes = x").unwrap());
    assert!(
        e.contains("no filterable field `notes`"),
        "skipped fields can't be filtered: {e}"
    );
    let e = load_err::<WebApp>(&mut conn, Query::filter("id = 1").unwrap());
    assert!(
        e.contains("no filterable field `id`"),
        "only the listed filter fields: {e}"
    );
    let e = Server::count(&mut conn, &Query::filter("nope = 1").unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no filterable field `nope`"), "{e}");
}

#[test]
fn search_ids_count_limit_offset() {
    let mut conn = db();
    assert_eq!(
        ids(&Server::load(&mut conn, &Query::search("example")).unwrap()),
        [1, 3]
    );
    assert_eq!(
        ids(&Server::load(&mut conn, &Query::search("6.1")).unwrap()),
        [1],
        "nullable kernel searched"
    );
    assert_eq!(
        ids(&Server::load(&mut conn, &Query::search("10.0")).unwrap()),
        [2]
    );
    assert_eq!(
        ids(&Server::load(&mut conn, &Query::search("%")).unwrap()),
        [3]
    );
    assert_eq!(
        ids(&WebApp::load(&mut conn, &Query::search("2.0")).unwrap()),
        [3],
        "search by column name"
    );
    assert!(
        WebApp::load(&mut conn, &Query::search("secret"))
            .unwrap()
            .is_empty(),
        "skipped fields not searched"
    );

    assert_eq!(
        ids(&Server::load(&mut conn, &Query::ids([3, 1, 42])).unwrap()),
        [1, 3]
    );
    let mut q = Query::filter("port = 22").unwrap();
    q.ids = Some(vec![2, 3]);
    assert_eq!(ids(&Server::load(&mut conn, &q).unwrap()), [3]);

    assert_eq!(Server::count(&mut conn, &Query::all()).unwrap(), 3);
    assert_eq!(
        Server::count(&mut conn, &Query::filter("port = 22").unwrap()).unwrap(),
        2
    );
    assert_eq!(Server::count(&mut conn, &Query::search("web")).unwrap(), 2);
    let page = Query {
        limit: Some(1),
        offset: Some(1),
        ..Query::all()
    };
    assert_eq!(ids(&Server::load(&mut conn, &page).unwrap()), [2]);
    assert_eq!(
        Server::count(&mut conn, &page).unwrap(),
        3,
        "count ignores limit and offset"
    );
    let first = Query {
        limit: Some(2),
        ..Query::all()
    };
    assert_eq!(ids(&Server::load(&mut conn, &first).unwrap()), [1, 2]);

    let one = Server::load_one(&mut conn, 2).unwrap();
    assert_eq!(one.name, "web2");
    assert_eq!(one.kernel, None);
    let e = Server::load_one(&mut conn, 42).unwrap_err().to_string();
    assert_eq!(e, "server with id 42 not found");
}

fn ordered(conn: &mut Conn, order: &str, limit: Option<i64>, offset: Option<i64>) -> Vec<i64> {
    let q = Query {
        order: Some(minke_store::Order::parse(order)),
        limit,
        offset,
        ..Query::all()
    };
    ids(&Server::load(conn, &q).unwrap())
}

#[test]
fn the_database_orders_by_any_field_either_way_ties_by_id() {
    let mut conn = db();
    assert_eq!(ordered(&mut conn, "name", None, None), [3, 1, 2]);
    assert_eq!(ordered(&mut conn, "-name", None, None), [2, 1, 3]);
    // Two servers on port 22: the tie goes by id, the same way.
    assert_eq!(ordered(&mut conn, "port", None, None), [1, 3, 2]);
    assert_eq!(ordered(&mut conn, "-port", None, None), [2, 3, 1]);
    assert_eq!(ordered(&mut conn, "-id", None, None), [3, 2, 1]);
    assert_eq!(ordered(&mut conn, "-load", Some(2), Some(1)), [2, 1]);
    let e = load_err::<Server>(
        &mut conn,
        Query {
            order: Some(minke_store::Order::parse("nope")),
            ..Query::all()
        },
    );
    assert_eq!(
        e,
        "model `server` cannot be ordered by `nope`: it has no such field"
    );
    // The user's own host model too.
    let q = Query {
        order: Some(minke_store::Order::parse("-name")),
        ..Query::all()
    };
    assert_eq!(ids(&MyHost::load(&mut conn, &q).unwrap()), [7]);
}

#[test]
fn the_last_status_filter_reads_the_latest_sessions() {
    let mut conn = db();
    let run = minke_store::insert_run(
        &mut conn,
        &minke_store::NewRun {
            session: "s".into(),
            model: "server".into(),
            username: "u".into(),
            params: "{}".into(),
            selection: "all".into(),
            state: minke::RunState::Running,
            created_at: 1,
        },
    )
    .unwrap();
    let session = |object_id: i64| minke_store::NewSession {
        run_id: run,
        session: "s".into(),
        model: "server".into(),
        object_id,
        object_label: String::new(),
        host_id: None,
        host_name: None,
        state: minke::State::Initialized,
        status: None,
        reason: None,
        created_at: 1,
    };
    let made =
        minke_store::insert_sessions(&mut conn, &[session(1), session(2), session(3)]).unwrap();
    for (id, status) in made
        .iter()
        .zip([Status::Error, Status::Success, Status::Error])
    {
        minke_store::finish_session(
            &mut conn,
            *id,
            minke::State::Completed,
            Some(status),
            None,
            2,
        )
        .unwrap();
    }
    let with = |conn: &mut Conn, status: Status, filter: &str| {
        let mut q = if filter.is_empty() {
            Query::all()
        } else {
            Query::filter(filter).unwrap()
        };
        q.last_status = Some(status);
        (
            ids(&Server::load(conn, &q).unwrap()),
            Server::count(conn, &q).unwrap(),
        )
    };
    assert_eq!(with(&mut conn, Status::Error, ""), (vec![1, 3], 2));
    assert_eq!(with(&mut conn, Status::Error, "port = 2222"), (vec![], 0));
    assert_eq!(with(&mut conn, Status::Success, ""), (vec![2], 1));
    assert_eq!(with(&mut conn, Status::Warning, ""), (vec![], 0));
    // Another model's sessions are another model's.
    let mut q = Query::all();
    q.last_status = Some(Status::Error);
    assert!(WebApp::load(&mut conn, &q).unwrap().is_empty());
    // A newer session of server 1 that is still going: 1 has no last status now.
    minke_store::insert_sessions(&mut conn, &[session(1)]).unwrap();
    assert_eq!(with(&mut conn, Status::Error, ""), (vec![3], 1));
}

#[test]
fn field_and_set_field() {
    let mut conn = db();
    let mut s = Server::load_one(&mut conn, 1).unwrap();
    assert_eq!(MinkeModel::id(&s), 1);
    assert_eq!(s.label(), "web1");
    assert_eq!(s.field("name"), Some(Value::Text("web1".into())));
    assert_eq!(s.field("port"), Some(Value::Int(22)));
    assert_eq!(s.field("load"), Some(Value::Float(0.5)));
    assert_eq!(s.field("active"), Some(Value::Bool(true)));
    assert_eq!(s.field("nope"), None);

    s.set_field("port", Value::Text("2200".into())).unwrap();
    s.set_field("kernel", Value::Null).unwrap();
    s.set_field("active", Value::Text("no".into())).unwrap();
    assert_eq!((s.port, s.kernel.clone(), s.active), (2200, None, false));
    let e = s
        .set_field("port", Value::Text("x".into()))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("model `server` field `port`: invalid value `x`"),
        "{e}"
    );
    let e = s.set_field("name", Value::Null).unwrap_err().to_string();
    assert!(e.contains("field `name`"), "{e}");
    let e = s.set_field("id", Value::Int(5)).unwrap_err().to_string();
    assert_eq!(e, "model `server` field `id`: no such writable field");

    let mut w = WebApp::load_one(&mut conn, 1).unwrap();
    assert_eq!(
        w.notes.as_deref(),
        Some("secret notes"),
        "diesel still loads skipped fields"
    );
    assert_eq!(w.field("notes"), None);
    assert_eq!(w.field("release"), Some(Value::Text("1.2".into())));
    assert!(w.set_field("notes", Value::Text("x".into())).is_err());
    assert_eq!(w.label(), "shop");

    let h = MyHost::load_one(&mut conn, 7).unwrap();
    assert_eq!(h.label(), "box");
}

#[test]
fn save_fields_writes_only_named_fields() {
    let mut conn = db();
    let mut s = Server::load_one(&mut conn, 2).unwrap();
    s.set_field("kernel", Value::Text("6.9".into())).unwrap();
    s.set_field("port", Value::Int(2022)).unwrap();
    s.set_field("name", Value::Text("renamed".into())).unwrap();
    s.save_fields(&mut conn, &["kernel", "port"]).unwrap();
    let back = Server::load_one(&mut conn, 2).unwrap();
    assert_eq!(
        (back.kernel.as_deref(), back.port, back.name.as_str()),
        (Some("6.9"), 2022, "web2")
    );

    let e = s.save_fields(&mut conn, &["nope"]).unwrap_err().to_string();
    assert_eq!(e, "model `server` has no writable field `nope`");
    assert!(s.save_fields(&mut conn, &["id"]).is_err());

    let mut w = WebApp::load_one(&mut conn, 1).unwrap();
    w.release = Some("1.3".into());
    w.notes = Some("changed".into());
    w.save_fields(&mut conn, &["release"]).unwrap();
    assert!(
        w.save_fields(&mut conn, &["notes"]).is_err(),
        "skipped fields are not saved"
    );
    let back = WebApp::load_one(&mut conn, 1).unwrap();
    assert_eq!(
        (back.release.as_deref(), back.notes.as_deref()),
        (Some("1.3"), Some("secret notes"))
    );
}

#[test]
fn host_id_through_two_levels() {
    let mut conn = db();
    let h1 = HostRecord::load_one(&mut conn, 1).unwrap();
    assert_eq!(h1.host_id(&mut conn).unwrap(), HostId::new(1));
    let s2 = Server::load_one(&mut conn, 2).unwrap();
    assert_eq!(s2.host_id(&mut conn).unwrap(), HostId::new(2));
    let shop = WebApp::load_one(&mut conn, 1).unwrap();
    assert_eq!(shop.host_id(&mut conn).unwrap(), HostId::new(1));
    let h = MyHost::load_one(&mut conn, 7).unwrap();
    assert_eq!(
        h.host_id(&mut conn).unwrap(),
        HostId::new(7),
        "`host = id`: its own host"
    );
}

#[test]
fn unresolvable_hosts_are_clear_errors() {
    let mut conn = db();
    let s3 = Server::load_one(&mut conn, 3).unwrap();
    let e = s3.host_id(&mut conn).unwrap_err().to_string();
    assert_eq!(
        e,
        "invalid setup: server 3 has no host: its `host_id` is empty, so no host can be reached"
    );
    let orphan = WebApp::load_one(&mut conn, 2).unwrap();
    let e = orphan.host_id(&mut conn).unwrap_err().to_string();
    assert!(
        e.contains("webapp 2 has no host: its `server_id` is empty"),
        "{e}"
    );
    let lost = WebApp::load_one(&mut conn, 3).unwrap();
    let e = lost.host_id(&mut conn).unwrap_err().to_string();
    assert_eq!(
        e,
        "invalid setup: webapp 3 has no host: its `server_id` points at server 99, which does not exist"
    );
    let stats = WebApp::load_one(&mut conn, 4).unwrap();
    let e = stats.host_id(&mut conn).unwrap_err().to_string();
    assert!(
        e.contains("server 3 has no host"),
        "the parent's problem is reported: {e}"
    );
}

#[test]
fn host_derive_builds_the_target() {
    let mut h = MyHost {
        id: 7,
        name: "box".into(),
        ip: Some("192.0.2.7".into()),
        ssh_port: 2200,
        login: Some("admin".into()),
        key: Some("/keys/box".into()),
        policy: "accept-new".into(),
        kh: Some("~/kh".into()),
        off: true,
    };
    let t = h.target();
    assert_eq!(
        (t.id, t.name.as_str(), t.address.as_str(), t.port),
        (HostId::new(7), "box", "192.0.2.7", 2200)
    );
    assert_eq!(t.user, "admin");
    assert_eq!(t.identity_files, [std::path::PathBuf::from("/keys/box")]);
    assert_eq!(t.host_key_policy, HostKeyPolicy::AcceptNew);
    if let Some(home) = std::env::var_os("HOME") {
        assert_eq!(
            t.known_hosts,
            Some(std::path::PathBuf::from(home).join("kh"))
        );
    }
    assert!(t.disabled);

    h.ip = None;
    h.login = Some(String::new());
    h.key = None;
    h.kh = None;
    h.policy = "whatever".into();
    h.ssh_port = 0;
    h.off = false;
    let t = h.target();
    let default = minke::HostTarget::new(HostId::new(7), "box", "box");
    assert_eq!(
        t, default,
        "empty or missing values keep HostTarget::new's defaults"
    );
}

/// `p` with a leading `~/` expanded as the derive does.
fn home(p: &str) -> std::path::PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(p),
    }
}

#[test]
fn host_derive_sets_every_connection_option() {
    let mut h = FleetHost {
        id: 3,
        name: "db".into(),
        address: "10.0.0.3".into(),
        keys: "~/.ssh/db\n\n  /keys/shared  \n".into(),
        certs: Some("~/.ssh/db-cert.pub\n/certs/ops-cert.pub".into()),
        proxy: Some("nc -x proxy:1080 %h %p".into()),
        agent: 1,
        env: Some("LANG=C.UTF-8\nnot an entry\n1X=y\n PATH=/usr/bin:/bin\nEMPTY=".into()),
        sudo_user: Some("deploy".into()),
        alive: Some(" 15 ".into()),
        alive_max: Some(5),
        via: Some(1),
    };
    let t = h.target();
    assert_eq!(
        (t.id, t.name.as_str(), t.address.as_str()),
        (HostId::new(3), "db", "10.0.0.3")
    );
    assert_eq!(
        t.identity_files,
        [home("~/.ssh/db"), "/keys/shared".into()],
        "one per line, in order, blank lines left out, `~/` expanded"
    );
    assert_eq!(
        t.certificate_files,
        [home("~/.ssh/db-cert.pub"), "/certs/ops-cert.pub".into()]
    );
    assert_eq!(t.proxy_command.as_deref(), Some("nc -x proxy:1080 %h %p"));
    assert!(t.forward_agent);
    let env: Vec<(&str, &str)> = t.env.iter().map(|(n, v)| (&**n, &**v)).collect();
    assert_eq!(
        env,
        [
            ("LANG", "C.UTF-8"),
            ("PATH", "/usr/bin:/bin"),
            ("EMPTY", "")
        ],
        "lines that are not NAME=value are left out"
    );
    assert_eq!(t.become_user.as_deref(), Some("deploy"));
    assert_eq!(
        t.keepalive,
        Some(Keepalive {
            interval: std::time::Duration::from_secs(15),
            count_max: 5
        })
    );
    assert_eq!(
        h.jump_host_id(),
        Some(HostId::new(1)),
        "the jump host is not in the target: the engine resolves it"
    );
    assert_eq!(t.jump, None);

    h.alive_max = None;
    assert_eq!(
        h.target().keepalive,
        Some(Keepalive::new(std::time::Duration::from_secs(15))),
        "the count defaults to 3"
    );
    h.alive_max = Some(0);
    assert_eq!(h.target().keepalive.unwrap().count_max, 3);

    h.keys = " \n".into();
    h.certs = None;
    h.proxy = Some("  ".into());
    h.agent = 0;
    h.env = Some(String::new());
    h.sudo_user = None;
    h.alive = Some("0".into());
    h.alive_max = Some(7);
    h.via = None;
    assert_eq!(
        h.target(),
        minke::HostTarget::new(HostId::new(3), "db", "10.0.0.3"),
        "empty or missing values keep HostTarget::new's defaults"
    );
    assert_eq!(h.jump_host_id(), None);
    h.alive = None;
    assert_eq!(h.target().keepalive, None);
}

#[test]
fn host_derive_reads_options_from_plain_columns() {
    let mut h = BareHost {
        id: 4,
        name: "edge".into(),
        keys: Some("/keys/edge".into()),
        agent: true,
        alive: 30,
        via: 2,
    };
    let t = h.target();
    assert_eq!(t.identity_files, [std::path::PathBuf::from("/keys/edge")]);
    assert!(t.forward_agent);
    assert_eq!(
        t.keepalive,
        Some(Keepalive::new(std::time::Duration::from_secs(30)))
    );
    assert_eq!(h.jump_host_id(), Some(HostId::new(2)));

    h.keys = None;
    h.agent = false;
    h.alive = 0;
    h.via = 0;
    assert_eq!(
        h.target(),
        minke::HostTarget::new(HostId::new(4), "edge", "edge")
    );
    assert_eq!(h.jump_host_id(), None, "an id of 0 is no jump host");
    h.alive = -5;
    assert_eq!(h.target().keepalive, None, "a negative interval is none");
}

// ---- sessions --------------------------------------------------------------------

/// Update the kernel field.
///
/// Reads `uname -r`
/// into the kernel field.
#[derive(minke::Session)]
#[minke(
    work_on(Server, WebApp),
    group = "Info",
    permissions("ops", "run_kernel"),
    confirm,
    parallel_per_host,
    timeout = 300
)]
struct Kernel;

impl Session for Kernel {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.update_field("kernel", "uname -r", None).await?;
        Ok(())
    }
}

#[derive(minke::Session)]
#[minke(work_on(Server), command = "df -h {path} {name}")]
struct Disk {
    /// Path to check
    #[minke(default = "/")]
    path: String,
}

/// System info.
#[derive(minke::Session)]
#[minke(work_on(Server), commands("uname -a", "warn", "fail", "uptime"))]
struct Info;

#[derive(minke::Session)]
#[minke(
    work_on(Server),
    name = "info-lenient",
    commands("uname -a", "warn", "uptime"),
    break_on(warning)
)]
struct InfoLenient;

/// Everything.
#[derive(minke::Session)]
#[minke(work_on(Server), chain(Disk, Kernel, Info, InfoLenient))]
struct Everything {
    /// The chain's own parameter
    #[minke(default = 1)]
    level: u16,
}

#[derive(minke::Session)]
#[minke(
    work_on(HostRecord, Server),
    verbose_name = "Run a command",
    command = "{cmd}"
)]
/// Runs any command.
struct Command {
    /// The shell command
    #[minke(multiline)]
    cmd: String,
}

#[derive(minke::Session)]
#[minke(work_on(Server))]
struct Settings {
    /// How many
    ///
    /// At least one.
    count: u32,
    #[minke(default = "2.5", help = "A ratio")]
    ratio: f64,
    verbose: Option<bool>,
    password: Secret,
    #[minke(secret)]
    token: Option<String>,
    #[minke(skip)]
    cache: Vec<String>,
    r#type: Option<String>,
}

#[test]
fn session_meta_defaults_and_keys() {
    let m = Kernel::meta();
    assert_eq!(m.name, "kernel");
    assert_eq!(m.verbose_name, "Update the kernel field");
    assert_eq!(m.help, "Reads `uname -r`\ninto the kernel field.");
    assert_eq!(m.group.as_deref(), Some("Info"));
    assert_eq!(m.work_on, ["server", "webapp"]);
    assert_eq!(m.permissions, ["run_kernel", "ops"]);
    assert!(m.confirm && m.parallel_per_host);
    assert_eq!(m.timeout, Some(std::time::Duration::from_secs(300)));
    assert!(m.params.is_empty());

    let d = Disk::meta();
    assert_eq!(
        (d.name, d.verbose_name.as_str(), d.help.as_str()),
        ("disk", "disk", "")
    );
    assert_eq!(
        (d.group, d.confirm, d.parallel_per_host, d.timeout),
        (None, false, false, None)
    );
    assert_eq!(d.permissions, ["run_disk"]);
    let path = &d.params[0];
    assert_eq!(
        (path.name, path.type_name, path.help.as_str()),
        ("path", "text", "Path to check")
    );
    assert_eq!(
        (
            path.default.as_deref(),
            path.required,
            path.secret,
            path.multiline
        ),
        (Some("/"), false, false, false)
    );

    let c = Command::meta();
    assert_eq!(
        (c.verbose_name.as_str(), c.help.as_str()),
        ("Run a command", "Runs any command.")
    );
    assert_eq!(c.work_on, ["host", "server"]);
    assert!(c.params[0].multiline && c.params[0].required);

    assert_eq!(InfoLenient::meta().name, "info-lenient");
    assert_eq!(InfoLenient::meta().verbose_name, "info lenient");

    let s = Settings::meta();
    let names: Vec<&str> = s.params.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        ["count", "ratio", "verbose", "password", "token", "type"]
    );
    let p = |n: &str| s.params.iter().find(|p| p.name == n).unwrap().clone();
    assert_eq!(
        (p("count").help, p("count").required, p("count").type_name),
        ("How many\n\nAt least one.".into(), true, "integer")
    );
    assert_eq!(
        (p("ratio").help, p("ratio").default, p("ratio").required),
        ("A ratio".into(), Some("2.5".into()), false)
    );
    assert_eq!(
        (p("verbose").required, p("verbose").type_name),
        (false, "boolean")
    );
    assert_eq!(
        (
            p("password").secret,
            p("password").type_name,
            p("password").required
        ),
        (true, "secret", true)
    );
    assert_eq!(
        (p("token").secret, p("token").type_name, p("token").required),
        (true, "text", false)
    );

    let e = Everything::meta();
    let names: Vec<&str> = e.params.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        ["level", "path"],
        "a chain takes its sessions' parameters too"
    );
    assert_eq!(e.params[0].default.as_deref(), Some("1"));
}

#[test]
fn from_params_parses_and_reports() {
    let s = Settings::from_params(&Params::from_pairs([
        ("count", "3"),
        ("password", "pw"),
        ("type", "x"),
    ]))
    .unwrap();
    assert_eq!(
        (s.count, s.ratio, s.verbose, s.token.clone()),
        (3, 2.5, None, None)
    );
    assert_eq!(
        (s.password.expose(), s.cache.len(), s.r#type.as_deref()),
        ("pw", 0, Some("x"))
    );
    let s = Settings::from_params(&Params::from_pairs([
        ("count", "1"),
        ("password", ""),
        ("ratio", "0.5"),
        ("verbose", "yes"),
        ("token", "t"),
    ]))
    .unwrap();
    assert_eq!(
        (s.ratio, s.verbose, s.token.as_deref()),
        (0.5, Some(true), Some("t"))
    );

    let e = Settings::from_params(&Params::from_pairs([("password", "pw")]))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(e, "parameter `count`: is required");
    let e = Settings::from_params(&Params::from_pairs([("count", "many"), ("password", "pw")]))
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .starts_with("parameter `count`: invalid value `many`: expected an integer"),
        "{e}"
    );
    let e = Settings::from_params(&Params::from_pairs([
        ("count", "1"),
        ("password", "pw"),
        ("verbose", "perhaps"),
    ]))
    .err()
    .unwrap();
    assert!(
        e.to_string()
            .starts_with("parameter `verbose`: invalid value `perhaps`"),
        "{e}"
    );

    let unknown = Params::from_pairs([("nope", "1")])
        .check(&Disk::meta())
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("session `disk` has no such parameter (it takes: path)"),
        "{unknown}"
    );
}

// ---- a fake executor ---------------------------------------------------------------

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Records commands and messages. `fail` exits 1, `warn` writes to stderr, `uname -r`
/// prints a kernel version; everything else succeeds silently.
struct FakeExec(Log);

#[minke::async_trait]
impl Executor for FakeExec {
    async fn exec(&mut self, req: ExecRequest<'_>) -> Result<CommandOutput> {
        self.0.0.lock().unwrap().push(format!("$ {}", req.display));
        let (exit, stdout, stderr) = match req.command {
            "fail" => (1, "", "boom"),
            "warn" => (0, "", "careful"),
            "uname -r" => (0, "6.9.1\n", ""),
            _ => (0, "ok", ""),
        };
        Ok(CommandOutput::new(
            req.command,
            ExitStatus::Code(exit),
            stdout.into(),
            stderr.into(),
        ))
    }

    async fn message(&mut self, msg: &Message) -> Result<()> {
        let line = match &msg.body {
            MessageBody::Text { text } => format!("{}: {text}", msg.level),
            MessageBody::Command { command, .. } => format!("{}: command {command}", msg.level),
            MessageBody::Table { .. } => format!("{}: table", msg.level),
        };
        self.0.0.lock().unwrap().push(line);
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        false
    }
}

fn server() -> Server {
    Server {
        id: 1,
        name: "web 1".into(),
        hostname: "web1.example.com".into(),
        host_id: Some(1),
        port: 22,
        load: 0.0,
        active: true,
        kernel: None,
    }
}

async fn run<S: Session>(params: Params) -> (Log, Context) {
    let log = Log::default();
    let mut cx = Context::new(
        Box::new(server()),
        params.clone(),
        vec![],
        Box::new(FakeExec(log.clone())),
    );
    let session = S::from_params(&params).unwrap();
    session.process(&mut cx).await.unwrap();
    (log, cx)
}

#[tokio::test]
async fn single_command_session() {
    let (log, cx) = run::<Disk>(Params::new()).await;
    assert_eq!(
        log.lines(),
        ["$ df -h / 'web 1'", "info: command df -h / 'web 1'"]
    );
    assert_eq!(cx.status(), Status::Success);

    let (log, _) = run::<Disk>(Params::from_pairs([("path", "/var/my dir")])).await;
    assert_eq!(log.lines()[0], "$ df -h '/var/my dir' 'web 1'");
}

#[tokio::test]
async fn adhoc_command_runs_as_given() {
    let (log, cx) = run::<Command>(Params::from_pairs([("cmd", "uname -a && id")])).await;
    assert_eq!(
        log.lines(),
        ["$ uname -a && id", "info: command uname -a && id"]
    );
    assert_eq!(cx.status(), Status::Success);
    let (log, cx) = run::<Command>(Params::from_pairs([("cmd", "fail")])).await;
    assert_eq!(log.lines(), ["$ fail", "error: command fail"]);
    assert_eq!(cx.status(), Status::Error);
}

#[tokio::test]
async fn command_chain_stops_at_break_states() {
    let (log, cx) = run::<Info>(Params::new()).await;
    assert_eq!(
        log.lines(),
        [
            "$ uname -a",
            "info: command uname -a",
            "$ warn",
            "warning: command warn",
            "$ fail",
            "error: command fail"
        ],
        "break_on(error) by default: uptime never runs"
    );
    assert_eq!(cx.status(), Status::Error);

    let (log, cx) = run::<InfoLenient>(Params::new()).await;
    assert_eq!(
        log.lines(),
        [
            "$ uname -a",
            "info: command uname -a",
            "$ warn",
            "warning: command warn"
        ]
    );
    assert_eq!(cx.status(), Status::Warning);
}

#[tokio::test]
async fn session_chain_runs_each_then_breaks() {
    let (log, cx) = run::<Everything>(Params::from_pairs([("path", "/srv")])).await;
    assert_eq!(
        log.lines(),
        [
            "info: Run disk",
            "$ df -h /srv 'web 1'",
            "info: command df -h /srv 'web 1'",
            "info: Run Update the kernel field",
            "$ uname -r",
            "info: Run System info",
            "$ uname -a",
            "info: command uname -a",
            "$ warn",
            "warning: command warn",
            "$ fail",
            "error: command fail",
            "error: System info finished with status error",
        ]
    );
    assert_eq!(cx.status(), Status::Error);
    assert_eq!(
        cx.changed_fields(),
        ["kernel"],
        "the sub-session changed the object"
    );
    let server = cx.object::<Server>().unwrap();
    assert_eq!(server.kernel.as_deref(), Some("6.9.1"));
}
