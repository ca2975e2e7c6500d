//! What a database's schema holds, read without writing (for commands that only
//! read, which must not create or migrate anything).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::schema::minke_app_migrations as am;
use crate::{Conn, Error, Result, with_conn};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// True when the database has a table of that name (in the search path on
/// PostgreSQL).
pub(crate) fn has_table(conn: &mut Conn, name: &str) -> Result<bool> {
    let found = match conn {
        Conn::Sqlite(c) => diesel::sql_query(
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind::<Text, _>(name)
        .get_result::<Count>(c),
        Conn::Pg(c) => diesel::sql_query(
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_name = $1 AND table_schema = ANY (current_schemas(false))",
        )
        .bind::<Text, _>(name)
        .get_result::<Count>(c),
    };
    found
        .map(|c| c.n > 0)
        .map_err(Error::query("looking for Minke's tables"))
}

/// The migrations the database lacks: Minke's (`embedded` versions) and the app's.
pub(crate) fn missing(
    conn: &mut Conn,
    embedded: &[String],
    app: &[crate::AppMigration],
) -> Result<Vec<String>> {
    let applied: Vec<Version> = if has_table(conn, "__diesel_schema_migrations")? {
        with_conn!(&mut *conn, |c, B| diesel::sql_query(
            "SELECT version FROM __diesel_schema_migrations"
        )
        .load(c)
        .map_err(Error::query("reading the applied migrations")))?
    } else {
        Vec::new()
    };
    let mut missing: Vec<String> = embedded
        .iter()
        .filter(|v| !applied.iter().any(|a| &a.version == *v))
        .cloned()
        .collect();
    if !app.is_empty() {
        let done: Vec<String> = if has_table(conn, "minke_app_migrations")? {
            with_conn!(&mut *conn, |c, B| am::table
                .select(am::name)
                .load(c)
                .map_err(Error::query("reading the app's migrations")))?
        } else {
            Vec::new()
        };
        missing.extend(
            app.iter()
                .filter(|m| !done.iter().any(|d| d == m.name))
                .map(|m| m.name.to_owned()),
        );
    }
    Ok(missing)
}
