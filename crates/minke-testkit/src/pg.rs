//! Throwaway PostgreSQL databases on a running server.

use diesel::RunQueryDsl;
use minke_store::{Conn, DatabaseUrl};

use crate::{Error, Result};

/// A fresh database created on a PostgreSQL server for one test, dropped on drop.
///
/// The server is the one the admin URL names (the test script starts the machine's
/// cluster and exports it as `MINKE_TEST_PG_URL`).
///
/// ```no_run
/// let admin = std::env::var("MINKE_TEST_PG_URL").unwrap();
/// let db = minke_testkit::PgDatabase::create(&admin, "example").unwrap();
/// println!("use {}", db.url());
/// ```
#[derive(Debug)]
pub struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

fn admin_conn(admin: &str) -> Result<Conn> {
    let url = DatabaseUrl::parse(admin).map_err(|e| Error::Postgres(e.to_string()))?;
    if url.is_sqlite() {
        return Err(Error::Postgres(format!(
            "`{admin}` is not a postgres:// URL"
        )));
    }
    Conn::open(&url).map_err(|e| {
        Error::Postgres(format!(
            "{e} (is PostgreSQL running? scripts/pg-start.sh starts it)"
        ))
    })
}

fn exec(conn: &mut Conn, sql: &str) -> Result<()> {
    let Conn::Pg(pg) = conn else {
        return Err(Error::Postgres("not a PostgreSQL connection".into()));
    };
    diesel::sql_query(sql)
        .execute(pg)
        .map(drop)
        .map_err(|e| Error::Postgres(format!("`{sql}`: {e}")))
}

impl PgDatabase {
    /// Creates `minke_<tag>_<pid>_<n>` on the server of `admin_url`.
    pub fn create(admin_url: &str, tag: &str) -> Result<PgDatabase> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let name = format!(
            "minke_{tag}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = admin_conn(admin_url)?;
        exec(&mut conn, &format!("DROP DATABASE IF EXISTS {name}"))?;
        exec(&mut conn, &format!("CREATE DATABASE {name}"))?;
        let (base, _) = admin_url
            .rsplit_once('/')
            .ok_or_else(|| Error::Postgres(format!("`{admin_url}` has no database part")))?;
        let url = format!("{base}/{name}");
        Ok(PgDatabase {
            admin: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// The new database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = admin_conn(&self.admin) {
            let _ = exec(
                &mut c,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}
