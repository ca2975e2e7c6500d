//! Models an app derives, written through the admin's forms and the JSON API: forms
//! from the fields, errors beside them, the relation's autocomplete, a deletion that
//! names what goes and what keeps the object, every permission, API parity.

use axum::http::{Request, StatusCode, header};
use diesel::prelude::*;
use minke::MinkeModel;
use minke_runtime::Models;
use minke_store::{AppMigration, AuditFilter, NewHost};
use serde_json::json;

use crate::support::{Client, Env, NOBODY, ROOT};

mod schema {
    diesel::table! {
        servers (id) {
            id -> BigInt,
            name -> Text,
            host_id -> BigInt,
            role -> Text,
            cores -> Integer,
            load -> Nullable<Double>,
            active -> Bool,
            kernel -> Nullable<Text>,
            token -> Nullable<Text>,
        }
    }
    diesel::table! {
        apps (id) {
            id -> BigInt,
            name -> Text,
            server_id -> BigInt,
        }
    }
    diesel::table! {
        disks (id) {
            id -> BigInt,
            name -> Text,
            server_id -> BigInt,
        }
    }
    diesel::table! {
        volumes (id) {
            id -> BigInt,
            name -> Text,
            disk_id -> BigInt,
        }
    }
    diesel::table! {
        reports (id) {
            id -> BigInt,
            name -> Text,
            host_id -> BigInt,
        }
    }
}
use schema::{apps, disks, reports, servers, volumes};

/// A server on a host.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id, verbose_name = "server")]
pub struct Server {
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The host it runs on.
    pub host_id: i64,
    /// What it is for.
    #[minke(choices("web", "db"))]
    pub role: String,
    pub cores: i32,
    pub load: Option<f64>,
    pub active: bool,
    /// Found by a session.
    #[minke(read_only)]
    pub kernel: Option<String>,
    pub token: Option<minke::Secret>,
}

/// An application: it keeps its server from being deleted.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = apps)]
#[minke(table = apps, host(via = server_id, model = Server), verbose_name = "app")]
pub struct App {
    pub id: i64,
    pub name: String,
    pub server_id: i64,
}

/// A disk: deleted with its server.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = disks)]
#[minke(table = disks, host(via = server_id, model = Server), verbose_name = "disk", cascade)]
pub struct Disk {
    pub id: i64,
    pub name: String,
    pub server_id: i64,
}

/// A volume: deleted with its disk.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = volumes)]
#[minke(table = volumes, host(via = disk_id, model = Disk), verbose_name = "volume", cascade)]
pub struct Volume {
    pub id: i64,
    pub name: String,
    pub disk_id: i64,
}

/// A report: read-only here.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = reports)]
#[minke(table = reports, host = host_id, verbose_name = "report", read_only)]
pub struct Report {
    pub id: i64,
    pub name: String,
    pub host_id: i64,
}

const SQLITE: &str = "
CREATE TABLE servers (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL UNIQUE,
    host_id BIGINT NOT NULL REFERENCES minke_hosts (id), role TEXT NOT NULL,
    cores INTEGER NOT NULL, load DOUBLE, active BOOLEAN NOT NULL, kernel TEXT, token TEXT);
CREATE TABLE apps (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
    server_id BIGINT NOT NULL REFERENCES servers (id));
CREATE TABLE disks (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
    server_id BIGINT NOT NULL REFERENCES servers (id));
CREATE TABLE volumes (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
    disk_id BIGINT NOT NULL REFERENCES disks (id));
CREATE TABLE reports (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
    host_id BIGINT NOT NULL);";

const POSTGRES: &str = "
CREATE TABLE servers (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    host_id BIGINT NOT NULL REFERENCES minke_hosts (id), role TEXT NOT NULL,
    cores INTEGER NOT NULL, load DOUBLE PRECISION, active BOOLEAN NOT NULL, kernel TEXT, token TEXT);
CREATE TABLE apps (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
    server_id BIGINT NOT NULL REFERENCES servers (id));
CREATE TABLE disks (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
    server_id BIGINT NOT NULL REFERENCES servers (id));
CREATE TABLE volumes (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
    disk_id BIGINT NOT NULL REFERENCES disks (id));
CREATE TABLE reports (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, host_id BIGINT NOT NULL);";

const MIGRATIONS: &[AppMigration] = &[AppMigration::new("test_0001", SQLITE, POSTGRES)];

fn add_models(m: &mut Models) {
    m.add::<Server>().unwrap();
    m.add::<App>().unwrap();
    m.add::<Disk>().unwrap();
    m.add::<Volume>().unwrap();
    m.add::<Report>().unwrap();
}

async fn env() -> Env {
    Env::with_models(add_models, MIGRATIONS).await
}

/// Adds a user with these permissions and logs them in.
async fn user(env: &Env, name: &str, perms: &[&str]) -> Client {
    let hash = minke_admin::hash_password("a-long-password").unwrap();
    let (n, perms): (String, Vec<String>) = (
        name.to_owned(),
        perms.iter().map(|p| (*p).to_owned()).collect(),
    );
    env.store
        .write(move |c| {
            minke_store::create_user(c, &n, &hash, false)?;
            for p in &perms {
                minke_store::grant(c, &n, p)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    env.login((name, "a-long-password")).await
}

fn id_of(location: &str) -> i64 {
    location.rsplit('/').next().unwrap().parse().unwrap()
}

/// Adds a server through the form; its id.
async fn add_server(env: &Env, c: &Client, name: &str) -> i64 {
    let r = env
        .send(c.post(
            "/models/server/add",
            &[
                ("name", name),
                ("host_id", "1"),
                ("role", "web"),
                ("cores", "4"),
                ("load", ""),
                ("active", "on"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    id_of(&r.location())
}

async fn audit_actions(env: &Env) -> Vec<(String, String, String)> {
    env.store
        .blocking(|c| {
            minke_store::find_audit(
                c,
                &AuditFilter {
                    limit: 1000,
                    ..AuditFilter::default()
                },
            )
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action.to_string(), a.target, a.detail))
        .collect()
}

async fn count(env: &Env, model: &'static str) -> i64 {
    let entry = env.engine.models().get(model).unwrap().clone();
    env.store
        .blocking(move |c| entry.count(c, &minke_store::Query::all()))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_add_form_comes_from_the_fields_and_keeps_what_was_typed() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let list = env.send(c.get("/models/server")).await.text();
    assert!(list.contains(r#"id="add-object" class="button" href="/models/server/add""#));

    let t = env.send(c.get("/models/server/add")).await.text();
    assert!(
        t.contains(r#"<input id="field-name" name="name" value="" required>"#),
        "{t}"
    );
    assert!(t.contains(r#"<select id="field-role" name="role" required><option value="web">web</option><option value="db">db</option></select>"#), "{t}");
    assert!(t.contains(r#"name="cores" type="number" step="1""#));
    assert!(
        t.contains(r#"name="load" type="number" step="any" value="">"#),
        "optional: {t}"
    );
    assert!(t.contains(r#"<input type="checkbox" id="field-active" name="active" value="on">"#));
    assert!(t.contains(r#"data-choices="/models/host/choices""#), "{t}");
    assert!(
        t.contains(r#"class="help">The host it runs on</span>"#),
        "{t}"
    );
    assert!(
        !t.contains(r#"name="kernel""#),
        "read-only fields have no input"
    );
    assert!(!t.contains(r#"name="id""#));

    // Everything wrong at once: each error beside its field, the text kept.
    let r = env
        .send(c.post(
            "/models/server/add",
            &[
                ("name", ""),
                ("host_id", "99"),
                ("role", "mail"),
                ("cores", "four"),
                ("load", "<b>"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(
        t.contains(r#"id="error-cores">must be a whole number, not `four`"#),
        "{t}"
    );
    assert!(
        t.contains(r#"id="error-load">must be a number, not `&#60;b&#62;`"#),
        "{t}"
    );
    assert!(
        t.contains(r#"name="cores" type="number" step="1" value="four""#),
        "{t}"
    );
    // The store's checks come once the values parse.
    let r = env
        .send(c.post(
            "/models/server/add",
            &[
                ("name", " "),
                ("host_id", "99"),
                ("role", "mail"),
                ("cores", "2"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(t.contains(r#"id="error-name">is required"#), "{t}");
    assert!(
        t.contains(r#"id="error-role">must be one of web, db"#),
        "{t}"
    );
    assert!(
        t.contains(r#"id="error-host_id">points at host 99, which does not exist"#),
        "{t}"
    );
    assert!(
        t.contains(r#"value="99""#) && t.contains("no object with id 99"),
        "{t}"
    );
    assert_eq!(count(&env, "server").await, 0);

    // Right: the object's page, with links to change and delete it.
    let id = add_server(&env, &c, "web-a").await;
    let t = env
        .send(c.get(&format!("/models/server/{id}")))
        .await
        .text();
    assert!(t.contains(r#"<tr data-field="name"><th>name</th><td>web-a</td></tr>"#));
    assert!(
        t.contains(r#"<tr data-field="active"><th>active</th><td>yes</td></tr>"#),
        "{t}"
    );
    assert!(t.contains(&format!(r#"id="change" href="/models/server/{id}/change""#)));
    assert!(t.contains(&format!(
        r#"id="delete" class="danger" href="/models/server/{id}/delete""#
    )));

    // A name taken is the name's error.
    let r = env
        .send(c.post(
            "/models/server/add",
            &[
                ("name", "web-a"),
                ("host_id", "1"),
                ("role", "db"),
                ("cores", "1"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains(r#"id="error-name">is taken"#),
        "{}",
        r.text()
    );
    assert_eq!(count(&env, "server").await, 1);

    let audit = audit_actions(&env).await;
    let added = audit.iter().find(|a| a.0 == "object_added").unwrap();
    assert_eq!(added.1, format!("server web-a ({id})"));
    assert!(
        added.2.contains(r#"name="web-a""#) && added.2.contains("load=empty"),
        "{added:?}"
    );
}

#[tokio::test]
async fn the_change_form_shows_the_object_and_writes_what_changed() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let id = add_server(&env, &c, "web-a").await;
    let t = env
        .send(c.get(&format!("/models/server/{id}/change")))
        .await
        .text();
    assert!(
        t.contains(r#"<input id="field-name" name="name" value="web-a" required>"#),
        "{t}"
    );
    assert!(t.contains(r#"<option value="web" selected>web</option>"#));
    assert!(t.contains(r#"name="active" value="on" checked>"#));
    assert!(
        t.contains(r#"<tr data-field="kernel"><th>kernel</th>"#),
        "read-only shown: {t}"
    );
    assert!(t.contains(r#"id="label-host_id">web-1</span>"#), "{t}");

    let r = env
        .send(c.post(
            &format!("/models/server/{id}/change"),
            &[
                ("name", "web-b"),
                ("host_id", "2"),
                ("role", "db"),
                ("cores", "8"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.location(), format!("/models/server/{id}"));
    let t = env
        .send(c.get(&format!("/models/server/{id}")))
        .await
        .text();
    assert!(t.contains("<td>web-b</td>") && t.contains("<td>db</td>") && t.contains("<td>8</td>"));
    assert!(
        t.contains(r#"<tr data-field="active"><th>active</th><td>no</td></tr>"#),
        "an unchecked box is false: {t}"
    );

    let r = env
        .send(c.post(
            &format!("/models/server/{id}/change"),
            &[
                ("name", "web-b"),
                ("host_id", "2"),
                ("role", "web"),
                ("cores", "-"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains(r#"id="error-cores""#));
    // Fields that are not the form's are refused, not dropped.
    let r = env
        .send(c.post(
            &format!("/models/server/{id}/change"),
            &[("name", "x"), ("kernel", "6.1")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        env.send(c.get("/models/server/99/change")).await.status,
        StatusCode::NOT_FOUND
    );

    let audit = audit_actions(&env).await;
    let changed = audit.iter().find(|a| a.0 == "object_changed").unwrap();
    assert_eq!(changed.1, format!("server web-b ({id})"));
    assert!(changed.2.contains(r#"role: "web" → "db""#), "{changed:?}");
    assert!(changed.2.contains("active: true → false"), "{changed:?}");
    assert!(
        !changed.2.contains("load"),
        "unchanged fields are not told: {changed:?}"
    );
}

#[tokio::test]
async fn a_deletion_names_what_goes_with_the_object_and_what_keeps_it() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let id = add_server(&env, &c, "web-a").await;
    let sid = id.to_string();
    let app = id_of(
        &env.send(c.post("/models/app/add", &[("name", "shop"), ("server_id", &sid)]))
            .await
            .location(),
    );
    let disk = id_of(
        &env.send(c.post("/models/disk/add", &[("name", "sda"), ("server_id", &sid)]))
            .await
            .location(),
    );
    let r = env
        .send(c.post(
            "/models/volume/add",
            &[("name", "root"), ("disk_id", &disk.to_string())],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());

    // The app keeps the server.
    let t = env
        .send(c.get(&format!("/models/server/{id}/delete")))
        .await
        .text();
    assert!(t.contains(r#"id="delete-refused""#), "{t}");
    assert!(
        t.contains(&format!(
            r#"<li data-model="app">1 app: <a href="/models/app/{app}">shop</a></li>"#
        )),
        "{t}"
    );
    assert!(!t.contains("confirm-delete"));
    let r = env
        .send(c.post(&format!("/models/server/{id}/delete"), &[]))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(count(&env, "server").await, 1);
    // The host is kept by the server.
    let t = env.send(c.get("/models/host/1/delete")).await.text();
    assert!(t.contains(r#"<li data-model="server">1 server: "#), "{t}");

    // Without the app, the disk and its volume go with the server.
    let r = env
        .send(c.post(&format!("/models/app/{app}/delete"), &[]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/models/app");
    let t = env
        .send(c.get(&format!("/models/server/{id}/delete")))
        .await
        .text();
    assert!(t.contains(r#"id="delete-question""#), "{t}");
    assert!(
        t.contains(r#"<li data-model="disk">1 disk: "#)
            && t.contains(r#"<li data-model="volume">1 volume: "#),
        "{t}"
    );
    let r = env
        .send(c.post(&format!("/models/server/{id}/delete"), &[]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    for m in ["server", "disk", "volume", "app"] {
        assert_eq!(count(&env, m).await, 0, "{m}");
    }
    assert_eq!(
        env.send(c.get(&format!("/models/server/{id}")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let audit = audit_actions(&env).await;
    let deleted = audit
        .iter()
        .find(|a| a.0 == "object_deleted" && a.1.starts_with("server"))
        .unwrap();
    assert_eq!(deleted.2, "with 1 disk, 1 volume");

    // A host nothing points at goes, with its groups' memberships.
    let r = env.send(c.post("/models/host/3/delete", &[])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.location(), "/hosts");
    assert_eq!(count(&env, "host").await, 2);
}

#[tokio::test]
async fn a_host_used_as_jump_host_is_kept() {
    let env = env().await;
    let c = env.login(ROOT).await;
    env.store
        .write(|c| {
            let mut h = NewHost::new("inner");
            h.jump_host_id = Some(minke_core::HostId::new(2));
            minke_store::insert_host(c, &h)
        })
        .await
        .unwrap();
    let r = env.send(c.post("/models/host/2/delete", &[])).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.text().contains(r#"<li data-model="host">1 host: "#),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn a_read_only_model_offers_no_writing() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let list = env.send(c.get("/models/report")).await.text();
    assert!(!list.contains("add-object"));
    for (uri, status) in [
        ("/models/report/add", StatusCode::METHOD_NOT_ALLOWED),
        ("/models/report/1/change", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        assert_eq!(env.send(c.get(uri)).await.status, status, "{uri}");
    }
    let r = env
        .send(c.post_json(
            "/api/models/report/objects",
            &json!({"fields": {"name": "x", "host_id": 1}}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("cannot be added, changed or deleted")
    );
}

/// Each action needs its own permission, in the pages and in the API alike.
#[tokio::test]
async fn every_action_needs_its_permission() {
    let env = env().await;
    let root = env.login(ROOT).await;
    let id = add_server(&env, &root, "web-a").await;
    let form = [
        ("name", "web-z"),
        ("host_id", "1"),
        ("role", "web"),
        ("cores", "1"),
    ];
    let body = json!({"fields": {"name": "web-z", "host_id": 1, "role": "web", "cores": 1, "active": true}});

    // Viewing only: no links, every write refused.
    let viewer = user(&env, "viewer2", &["view_server"]).await;
    assert!(
        !env.send(viewer.get("/models/server"))
            .await
            .text()
            .contains("add-object")
    );
    let page = env
        .send(viewer.get(&format!("/models/server/{id}")))
        .await
        .text();
    assert!(!page.contains(r#"id="change""#) && !page.contains(r#"id="delete""#));
    let forbidden = |r: &crate::support::Resp, what: &str, perm: &str| {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}");
        assert!(r.text().contains(perm), "{what}: {}", r.text());
    };
    forbidden(
        &env.send(viewer.get("/models/server/add")).await,
        "add form",
        "add_server",
    );
    forbidden(
        &env.send(viewer.post("/models/server/add", &form)).await,
        "add",
        "add_server",
    );
    forbidden(
        &env.send(viewer.get(&format!("/models/server/{id}/change")))
            .await,
        "change form",
        "change_server",
    );
    forbidden(
        &env.send(viewer.post(&format!("/models/server/{id}/change"), &form))
            .await,
        "change",
        "change_server",
    );
    forbidden(
        &env.send(viewer.get(&format!("/models/server/{id}/delete")))
            .await,
        "delete form",
        "delete_server",
    );
    forbidden(
        &env.send(viewer.post(&format!("/models/server/{id}/delete"), &[]))
            .await,
        "delete",
        "delete_server",
    );
    forbidden(
        &env.send(viewer.post_json("/api/models/server/objects", &body))
            .await,
        "API add",
        "add_server",
    );
    forbidden(
        &env.send(json_request(
            &viewer,
            "PATCH",
            &format!("/api/models/server/objects/{id}"),
            &body,
        ))
        .await,
        "API change",
        "change_server",
    );
    forbidden(
        &env.send(json_request(
            &viewer,
            "DELETE",
            &format!("/api/models/server/objects/{id}"),
            &json!(null),
        ))
        .await,
        "API delete",
        "delete_server",
    );
    forbidden(
        &env.send(viewer.get(&format!("/api/models/server/objects/{id}/deletion")))
            .await,
        "API deletion",
        "delete_server",
    );

    // Each permission opens its action only.
    let adder = user(&env, "adder", &["view_server", "add_server"]).await;
    let r = env.send(adder.post("/models/server/add", &form)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let new = id_of(&r.location());
    forbidden(
        &env.send(adder.post(&format!("/models/server/{new}/change"), &form))
            .await,
        "adder changes",
        "change_server",
    );
    let changer = user(&env, "changer", &["view_server", "change_server"]).await;
    forbidden(
        &env.send(changer.post("/models/server/add", &form)).await,
        "changer adds",
        "add_server",
    );
    let r = env
        .send(json_request(
            &changer,
            "PATCH",
            &format!("/api/models/server/objects/{new}"),
            &json!({"fields": {"cores": 16}}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["fields"]["cores"], 16);
    forbidden(
        &env.send(changer.post(&format!("/models/server/{new}/delete"), &[]))
            .await,
        "changer deletes",
        "delete_server",
    );
    let deleter = user(&env, "deleter", &["view_server", "delete_server"]).await;
    let r = env
        .send(deleter.post(&format!("/models/server/{new}/delete"), &[]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Without view, not even the autocomplete.
    let nobody = env.login(NOBODY).await;
    assert_eq!(
        env.send(nobody.get("/models/host/choices?q=web"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // The new permissions are offered by the users page's matrix.
    let t = env.send(root.get("/users/2")).await.text();
    for p in [
        "view_server",
        "add_server",
        "change_server",
        "delete_server",
        "add_group",
        "delete_host",
    ] {
        assert!(t.contains(&format!(r#"data-permission="{p}""#)), "{p}");
    }
    assert!(
        !t.contains(r#"data-permission="add_report""#),
        "read-only models have no add"
    );
}

fn json_request(
    c: &Client,
    method: &str,
    uri: &str,
    body: &serde_json::Value,
) -> Request<axum::body::Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, &c.cookie)
        .header("x-csrf-token", &c.csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

/// The API writes as the forms do, with the problems as data.
#[tokio::test]
async fn the_api_adds_changes_and_deletes_as_the_forms_do() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let r = env
        .send(c.post_json("/api/models/server/objects", &json!({"fields": {"name": "", "host_id": 1, "role": "mail", "cores": 2, "colour": "red"}})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let v = r.json();
    let problems: Vec<(String, String)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["field"].as_str().unwrap().to_owned(),
                p["problem"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        problems.contains(&("colour".into(), "is not a field of this model".into())),
        "{problems:?}"
    );
    assert!(problems.contains(&("name".into(), "is required".into())));
    assert!(problems.contains(&("role".into(), "must be one of web, db".into())));
    for bad in [
        json!({"name": "x"}),
        json!({"fields": {"name": ["x"]}}),
        json!({"fields": {}, "more": 1}),
    ] {
        let r = env
            .send(c.post_json("/api/models/server/objects", &bad))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let r = env
        .send(c.post_json("/api/models/server/objects", &json!({"fields": {"name": "api-1", "host_id": 1, "role": "db", "cores": 2, "load": 0.5, "active": true}})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = r.json();
    let id = v["id"].as_i64().unwrap();
    assert_eq!(
        (v["label"].as_str(), v["fields"]["load"].as_f64()),
        (Some("api-1"), Some(0.5))
    );
    let r = env
        .send(c.get(&format!("/api/models/server/objects/{id}")))
        .await;
    assert_eq!(r.json()["fields"]["role"], "db");
    // A change writes what it is given; the rest stays.
    let r = env
        .send(json_request(
            &c,
            "PATCH",
            &format!("/api/models/server/objects/{id}"),
            &json!({"fields": {"load": null}}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["fields"]["load"], json!(null));
    assert_eq!(r.json()["fields"]["cores"], 2);
    let r = env
        .send(json_request(
            &c,
            "PATCH",
            &format!("/api/models/server/objects/{id}"),
            &json!({"fields": {"kernel": "6.1"}}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["problems"][0]["problem"], "is read-only");
    assert_eq!(
        env.send(json_request(
            &c,
            "PATCH",
            "/api/models/server/objects/999",
            &json!({"fields": {"cores": 1}})
        ))
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // Deleting: refused while an app points at it, with the app named.
    let r = env
        .send(c.post_json(
            "/api/models/app/objects",
            &json!({"fields": {"name": "shop", "server_id": id}}),
        ))
        .await;
    let app = r.json()["id"].as_i64().unwrap();
    let r = env
        .send(c.get(&format!("/api/models/server/objects/{id}/deletion")))
        .await;
    assert_eq!(
        r.json()["deletion"]["protected_by"][0]["objects"],
        json!([[app, "shop"]])
    );
    let r = env
        .send(json_request(
            &c,
            "DELETE",
            &format!("/api/models/server/objects/{id}"),
            &json!(null),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert!(
        v["error"].as_str().unwrap().contains("cannot be deleted"),
        "{v}"
    );
    assert_eq!(v["deletion"]["protected_by"][0]["model"], "app");
    for uri in [
        format!("/api/models/app/objects/{app}"),
        format!("/api/models/server/objects/{id}"),
    ] {
        let r = env
            .send(json_request(&c, "DELETE", &uri, &json!(null)))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    }
    assert_eq!(
        r_status(&env, &c, &format!("/api/models/server/objects/{id}")).await,
        StatusCode::NOT_FOUND
    );
}

async fn r_status(env: &Env, c: &Client, uri: &str) -> StatusCode {
    env.send(c.get(uri)).await.status
}

/// A secret field is written, never shown: not in the form, the page, the API or the
/// audit log; left empty when changing, it keeps what is stored.
#[tokio::test]
async fn a_secret_is_written_and_never_shown() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let form = [
        ("name", "vault-1"),
        ("host_id", "1"),
        ("role", "db"),
        ("cores", "2"),
        ("token", "hunter2-secret"),
    ];
    let r = env.send(c.post("/models/server/add", &form)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let id = id_of(&r.location());
    let store = env.store.clone();
    let stored = || {
        let store = store.clone();
        async move {
            store
                .blocking(move |c| {
                    <Server as minke::StoredModel>::load_one(c, id)
                        .map(|s| s.token.map(|t| t.expose().to_owned()))
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(stored().await.as_deref(), Some("hunter2-secret"));
    let page = env
        .send(c.get(&format!("/models/server/{id}")))
        .await
        .text();
    let form_page = env
        .send(c.get(&format!("/models/server/{id}/change")))
        .await
        .text();
    let api = env
        .send(c.get(&format!("/api/models/server/objects/{id}")))
        .await
        .text();
    for shown in [&page, &form_page, &api] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    assert!(
        form_page.contains(r#"name="token" type="password""#),
        "{form_page}"
    );
    assert!(page.contains("<td>***</td>"), "{page}");
    // Left empty, it stays; given, it changes; the audit log says neither.
    let keep = [
        ("name", "vault-1"),
        ("host_id", "1"),
        ("role", "web"),
        ("cores", "2"),
        ("token", ""),
    ];
    let r = env
        .send(c.post(&format!("/models/server/{id}/change"), &keep))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(stored().await.as_deref(), Some("hunter2-secret"));
    let mut new = keep;
    new[4] = ("token", "correct-horse");
    let r = env
        .send(c.post(&format!("/models/server/{id}/change"), &new))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(stored().await.as_deref(), Some("correct-horse"));
    let audit = audit_actions(&env).await;
    let text = format!("{audit:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("correct-horse"),
        "{text}"
    );
    assert!(
        text.contains("token=***") && text.contains("token: *** → ***"),
        "{text}"
    );
}

/// The columns pointing at a host or parent are named when no index starts with
/// them (deleting looks for dependents by them).
#[tokio::test]
async fn parent_columns_without_an_index_are_named() {
    let env = env().await;
    let mut missing = env.engine.unindexed_parent_columns().await.unwrap();
    missing.sort();
    let expected = [
        ("app", "server_id"),
        ("disk", "server_id"),
        ("report", "host_id"),
        ("server", "host_id"),
        ("volume", "disk_id"),
    ];
    assert_eq!(
        missing,
        expected.map(|(m, c)| (m.to_owned(), c.to_owned())),
        "hosts point at their jump hosts by `jump_host_id`, which Minke indexes"
    );
    env.store
        .write(|c| {
            minke_store::with_conn!(c, |db, B| {
                use diesel::RunQueryDsl as _;
                diesel::sql_query("CREATE INDEX apps_server ON apps (server_id)")
                    .execute(db)
                    .map_err(minke_store::Error::query("indexing"))
            })
        })
        .await
        .unwrap();
    let missing = env.engine.unindexed_parent_columns().await.unwrap();
    assert!(!missing.iter().any(|(m, _)| m == "app"), "{missing:?}");
    // Searches without a trigram index read every row on SQLite; PostgreSQL's are
    // served by pg_trgm indexes, which the model does not name.
    let unsearched = env.engine.unindexed_searches();
    if env.store.url().is_sqlite() {
        assert_eq!(unsearched, ["server", "app", "disk", "volume", "report"]);
    } else {
        assert!(unsearched.is_empty(), "{unsearched:?}");
    }
}

/// The relation's autocomplete pages and searches in the database.
#[tokio::test]
async fn the_autocomplete_pages_and_searches() {
    let env = env().await;
    env.store
        .write(|c| {
            for i in 0..42 {
                minke_store::insert_host(c, &NewHost::new(format!("db-{i:02}")))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let c = env.login(ROOT).await;
    let page = |n: u32| format!("/models/host/choices?q=db-&page={n}");
    let v = env.send(c.get(&page(1))).await.json();
    assert_eq!(v["results"].as_array().unwrap().len(), 20);
    assert_eq!(v["results"][0]["label"], "db-00");
    assert_eq!(v["more"], true);
    let v = env.send(c.get(&page(3))).await.json();
    let labels: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["db-40", "db-41"]);
    assert_eq!(v["more"], false);
    let v = env.send(c.get(&page(4))).await.json();
    assert_eq!(
        (v["results"].as_array().unwrap().len(), &v["more"]),
        (0, &json!(false))
    );
    // Nothing typed: every host, by name; a number finds that id first.
    let v = env.send(c.get("/models/host/choices")).await.json();
    assert_eq!(v["results"][0]["label"], "db-00");
    let v = env.send(c.get("/models/host/choices?q=2")).await.json();
    assert_eq!(v["results"][0], json!({"id": 2, "label": "web-2"}));
    assert_eq!(
        env.send(c.get("/models/host/choices?x=1")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        env.send(c.get("/models/nothing/choices")).await.status,
        StatusCode::NOT_FOUND
    );
}
