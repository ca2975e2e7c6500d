//! Minke: remote control and configuration management of server landscapes.
//!
//! Model hosts, servers and applications as diesel structs, derive Minke's traits on
//! them, write sessions that run shell commands over SSH for one object, and run them
//! concurrently on many hosts with a full history in SQLite or PostgreSQL.
//!
//! This page is a tour of one small app: its models, its sessions, running them, and
//! the web admin. The [getting started] guide walks through the same app at more
//! length; `examples/minimal` in the repository is the smallest app, in one file.
//!
//! # Models
//!
//! A model is a diesel struct that sessions work on. Each object reaches exactly one
//! host: through a column holding the id of a host in Minke's own table
//! ([`HostRecord`], model name `host`), as here, or through a parent model
//! (`host(via = server_id, model = Server)`). [`derive(MinkeModel)`](derive@MinkeModel)
//! implements [`MinkeModel`](trait@MinkeModel) and [`StoredModel`] from the fields:
//! loading with filters and search, saving changed fields, and the admin's forms.
//! The app creates its tables with [`AppMigration`]s, SQL for SQLite and for
//! PostgreSQL, applied once each after Minke's own.
//!
//! ```
//! use diesel::prelude::*;
//! use minke::prelude::*;
//! use minke::AppMigration;
//!
//! diesel::table! {
//!     servers (id) { id -> BigInt, name -> Text, host_id -> BigInt, kernel -> Nullable<Text> }
//! }
//!
//! pub const MIGRATIONS: &[AppMigration] = &[AppMigration::new(
//!     "0001_servers",
//!     "CREATE TABLE servers (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
//!         host_id BIGINT NOT NULL REFERENCES minke_hosts (id), kernel TEXT)",
//!     "CREATE TABLE servers (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
//!         host_id BIGINT NOT NULL REFERENCES minke_hosts (id), kernel TEXT)",
//! )];
//!
//! /// A server.
//! #[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
//! #[diesel(table_name = servers)]
//! #[minke(table = servers, host = host_id, list(name, kernel))]
//! pub struct Server {
//!     pub id: i64,
//!     pub name: String,
//!     pub host_id: i64,
//!     pub kernel: Option<String>,
//! }
//!
//! // The model's name is the snake_case type name, for the command line and the admin.
//! assert_eq!(<Server as minke::MinkeModel>::NAME, "server");
//! ```
//!
//! An app with a host table of its own derives [`Host`](derive@Host) on its model and
//! registers it with [`App::hosts`].
//!
//! # Sessions
//!
//! A session is remote work for one object: a struct with
//! [`derive(Session)`](derive@Session), whose fields are its typed parameters, and an
//! async [`Session::process`] that works through a [`Context`]. It runs commands
//! ([`Context::run`], [`Context::sudo`]), saves what they print into the object's
//! fields ([`Context::update_field`]), transfers files ([`Context::put`],
//! [`Context::get`]) and adds [`Message`]s, all recorded in the history. A command
//! that exits non-zero is a recorded result, not an `Err`: the session reads it, or
//! lets [`Context::xrun`] make it a message and the session's [`Status`];
//! `process` returns `Err` only when it cannot go on. Sessions made of commands alone
//! (`command = "..."`) need no code.
//!
//! ```
//! # use diesel::prelude::*;
//! # diesel::table! { servers (id) { id -> BigInt, name -> Text, host_id -> BigInt, kernel -> Nullable<Text> } }
//! # #[derive(Clone, Queryable, Selectable, MinkeModel)]
//! # #[diesel(table_name = servers)]
//! # #[minke(table = servers, host = host_id)]
//! # pub struct Server { pub id: i64, pub name: String, pub host_id: i64, pub kernel: Option<String> }
//! use minke::prelude::*;
//!
//! /// Record kernel version
//! #[derive(Session)]
//! #[minke(work_on(Server))]
//! pub struct Kernel;
//!
//! impl Session for Kernel {
//!     async fn process(&self, cx: &mut Context) -> Result<()> {
//!         cx.update_field("kernel", "uname -r", None).await?; // saved when it ends
//!         Ok(())
//!     }
//! }
//!
//! /// Show disk usage
//! #[derive(Session)]
//! #[minke(work_on(HostRecord, Server), command = "df -h {path}")]
//! pub struct Disk {
//!     /// The path to look at.
//!     #[minke(default = "/")]
//!     pub path: String,
//! }
//!
//! // Named after the type; the doc comment's first line is the verbose name.
//! assert_eq!(Disk::meta().name, "disk");
//! assert_eq!(Disk::meta().verbose_name, "Show disk usage");
//! ```
//!
//! # Running
//!
//! An [`App`] declares the models, sessions and migrations. As the program's `main`,
//! [`App::main`] gives it Minke's whole command line, in the app's own binary: `run`
//! (concurrently across hosts, one session after another on each host, over one SSH
//! connection per host), `history`, `show`, `hosts import-ssh-config`, `worker`,
//! `serve` and more (the [command line] guide).
//!
//! ```no_run
//! # use diesel::prelude::*;
//! # use minke::prelude::*;
//! # diesel::table! { servers (id) { id -> BigInt, name -> Text, host_id -> BigInt, kernel -> Nullable<Text> } }
//! # #[derive(Clone, Queryable, Selectable, MinkeModel)]
//! # #[diesel(table_name = servers)]
//! # #[minke(table = servers, host = host_id)]
//! # pub struct Server { pub id: i64, pub name: String, pub host_id: i64, pub kernel: Option<String> }
//! # #[derive(Session)]
//! # #[minke(work_on(Server), command = "uname -r")]
//! # pub struct Kernel;
//! # const MIGRATIONS: &[minke::AppMigration] = &[];
//! fn main() -> std::process::ExitCode {
//!     // myapp run kernel --model server --filter "name ~ web"
//!     minke::app!()
//!         .migrations(MIGRATIONS)
//!         .model::<Server>()
//!         .session::<Kernel>()
//!         .main()
//! }
//! ```
//!
//! As a library, [`App::engine`] opens the database and gives the
//! [`Engine`](runtime::Engine) that starts runs ([`RunRequest`](runtime::RunRequest):
//! a session, a model, a [`Query`] selecting objects, [`Params`]), stops them and
//! reads the history; [`runtime::Config`] holds its limits and timeouts. The database
//! is SQLite (a file path such as `minke.db`) or PostgreSQL (a `postgres://` URL),
//! where workers on other machines can execute queued runs
//! ([`Engine::submit`](runtime::Engine::submit)).
//!
//! ```no_run
//! use minke::prelude::*;
//! use minke::runtime::RunRequest;
//! use minke::{App, Params, Query};
//!
//! /// Show uptime
//! #[derive(Session)]
//! #[minke(work_on(HostRecord), command = "uptime")]
//! pub struct Uptime;
//!
//! async fn uptime_of_web_hosts() -> Result<(), Box<dyn std::error::Error>> {
//!     let engine = App::new().session::<Uptime>().engine("minke.db").await?;
//!     let run = engine
//!         .start(RunRequest {
//!             session: "uptime".into(),
//!             model: "host".into(),
//!             query: Query::filter("name ~ web")?,
//!             params: Params::new(),
//!             username: "ops".into(),
//!         })
//!         .await?;
//!     for s in run.wait().await?.sessions {
//!         println!("{}: {:?} {:?}", s.object, s.state, s.status);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # The admin
//!
//! `myapp serve` is a web admin over the same database (the `admin` feature): people
//! log in, add, change and delete the objects of the app's models through forms made
//! from their fields, select objects, run sessions with their parameters and watch
//! them live, stop them, and read the history and the audit log. Users and their
//! permissions are managed with `myapp users` or in the admin; a JSON API offers the
//! same with the same permissions (the [admin] guide).
//!
//! ```sh
//! MINKE_PASSWORD=... myapp users add admin --superuser
//! myapp serve --listen 127.0.0.1:8000
//! ```
//!
//! # Features
//!
//! - `cli` (default): [`App::main`], the command line.
//! - `admin` (default, needs `cli`): `serve` and `users`, the web admin.
//! - `bundled-libpq` (default): PostgreSQL's client library built from source and
//!   linked in; without it the system's libpq is linked (`libpq-dev`).
//!
//! A program that only starts and reads runs through [`App::engine`] needs neither
//! `cli` nor `admin`, and builds without the web stack and clap.
//!
//! [getting started]: https://example.invalid/minke/blob/main/docs/getting-started.md
//! [command line]: https://example.invalid/minke/blob/main/docs/cli.md
//! [admin]: https://example.invalid/minke/blob/main/docs/admin.md

pub use minke_core::*;
pub use minke_derive::{Host, MinkeModel, Session};
pub use minke_store::{AppMigration, HostRecord, NewHost, Query, Store, StoredModel};

/// The database layer (connections, schema of Minke's tables, history queries).
pub use minke_store as store;

/// The engine: runs, configuration, events.
pub use minke_runtime as runtime;

/// The SSH layer: connection options, errors.
pub use minke_ssh as ssh;

mod app;
pub use app::App;

/// Everything a session or model module needs.
pub mod prelude {
    pub use minke_core::{
        Context, Error, Host as _, Message, MessageLevel, MinkeModel as _, Result, Secret, Session,
        SessionInfo as _, Status, Sudo,
    };
    pub use minke_derive::{Host, MinkeModel, Session};
    pub use minke_store::HostRecord;
}

/// Paths used by the code the derives generate. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use minke_core as core;
    pub use minke_store as store;
    pub use minke_store::__diesel as diesel;
    pub use minke_store::with_conn;

    pub use std;
    pub use std::clone::Clone;
    pub use std::default::Default;
    pub use std::option::Option::{self, None, Some};
    pub use std::path::PathBuf;
    pub use std::result::Result::{self, Err, Ok};
    pub use std::string::{String, ToString};
    pub use std::time::Duration;
    pub use std::vec;
    pub use std::vec::Vec;
    pub use std::{format, unimplemented};
}
