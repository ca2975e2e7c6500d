//! The smallest Minke app: one model, one session and `main`. Copy it to start yours.
//!
//! ```sh
//! cargo run -p minimal -- hosts import-ssh-config ~/.ssh/config
//! sqlite3 minke.db "INSERT INTO servers (name, host_id) VALUES ('web', 1)"
//! cargo run -p minimal -- run kernel --model server --all
//! cargo run -p minimal -- serve        # the admin, with the servers to edit
//! ```

use diesel::prelude::*;
use minke::prelude::*;

/// The app's table, as diesel sees it.
mod schema {
    diesel::table! {
        servers (id) {
            id -> BigInt,
            name -> Text,
            host_id -> BigInt,
            kernel -> Nullable<Text>,
        }
    }
}
use schema::servers;

/// A server, on one of Minke's hosts.
#[derive(Clone, Debug, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id)]
pub struct Server {
    /// Its key.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The host it runs on.
    pub host_id: i64,
    /// Its kernel, as the `kernel` session last saw it.
    pub kernel: Option<String>,
}

/// Record the kernel
#[derive(Session)]
#[minke(work_on(Server))]
pub struct Kernel;

impl Session for Kernel {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.update_field("kernel", "uname -r", None).await?;
        Ok(())
    }
}

/// The app's table, created when the database is (SQLite, then PostgreSQL).
const MIGRATIONS: &[minke::AppMigration] = &[minke::AppMigration::new(
    "minimal_0001_servers",
    "CREATE TABLE servers (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL,
        host_id BIGINT NOT NULL REFERENCES minke_hosts (id), kernel TEXT);
     CREATE INDEX servers_host ON servers (host_id);",
    "CREATE TABLE servers (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
        host_id BIGINT NOT NULL REFERENCES minke_hosts (id), kernel TEXT);
     CREATE INDEX servers_host ON servers (host_id);",
)];

fn main() -> std::process::ExitCode {
    minke::app!()
        .migrations(MIGRATIONS)
        .model::<Server>()
        .session::<Kernel>()
        .main()
}
