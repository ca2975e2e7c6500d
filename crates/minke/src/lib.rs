//! Minke: remote control and configuration management of server landscapes.
//!
//! Model hosts, servers and applications as diesel structs, derive Minke's traits on
//! them, write sessions that run shell commands over SSH for one object, and run them
//! concurrently on many hosts with a full history in SQLite or PostgreSQL.

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
