//! The app of `docs/getting-started.md` as its steps 2 and 3 write it (models and
//! sessions): the guide's later blocks go on from there, and start with a hidden
//! `# use minke_e2e::guide::*;` to compile as doctests.

use diesel::prelude::*;
use minke::AppMigration;
pub use minke::prelude::*;

diesel::table! {
    servers (id) {
        id -> BigInt,
        name -> Text,
        host_id -> BigInt,
        kernel -> Nullable<Text>,
    }
}

pub const MIGRATIONS: &[AppMigration] = &[AppMigration::new(
    "0001_servers",
    "CREATE TABLE servers (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
        host_id BIGINT NOT NULL REFERENCES minke_hosts (id), kernel TEXT)",
    "CREATE TABLE servers (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
        host_id BIGINT NOT NULL REFERENCES minke_hosts (id), kernel TEXT)",
)];

/// A server.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id, list(name, kernel))]
pub struct Server {
    pub id: i64,
    pub name: String,
    pub host_id: i64,
    pub kernel: Option<String>,
}

/// Record kernel version
#[derive(Session)]
#[minke(work_on(Server))]
pub struct Kernel;

impl Session for Kernel {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.update_field("kernel", "uname -r", None).await?;
        Ok(())
    }
}

/// Run a command
#[derive(Session)]
#[minke(work_on(HostRecord, Server), command = "{cmd}", confirm)]
pub struct Command {
    /// The shell command to run.
    #[minke(multiline)]
    pub cmd: String,
}
