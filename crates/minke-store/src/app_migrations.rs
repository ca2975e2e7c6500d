//! Migrations of an app's own tables (its models), applied once each, in order.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::schema::minke_app_migrations as am;
use crate::{Conn, Error, Result, now_micros, with_conn};

/// One schema change of an app's own tables, as SQL for each backend.
///
/// ```
/// let m = minke_store::AppMigration::new(
///     "0001_servers",
///     "CREATE TABLE servers (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL)",
///     "CREATE TABLE servers (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)",
/// );
/// assert_eq!(m.name, "0001_servers");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppMigration {
    /// Unique name; migrations are applied in the order they are given.
    pub name: &'static str,
    /// SQL for SQLite (several statements allowed).
    pub sqlite: &'static str,
    /// SQL for PostgreSQL (several statements allowed).
    pub postgres: &'static str,
}

impl AppMigration {
    /// A migration with the same name on both backends.
    pub const fn new(name: &'static str, sqlite: &'static str, postgres: &'static str) -> Self {
        AppMigration {
            name,
            sqlite,
            postgres,
        }
    }
}

/// Applies the migrations not applied yet, each in its own transaction; returns the
/// names applied now.
pub fn apply_app_migrations(
    conn: &mut Conn,
    migrations: &[AppMigration],
) -> Result<Vec<&'static str>> {
    let mut applied = Vec::new();
    for m in migrations {
        conn.transaction(|conn| {
            let done: i64 = with_conn!(&mut *conn, |c, B| am::table
                .filter(am::name.eq(m.name))
                .count()
                .get_result(c)
                .map_err(Error::query("reading app migrations")))?;
            if done > 0 {
                return Ok(());
            }
            let run = match conn {
                Conn::Sqlite(c) => c.batch_execute(m.sqlite),
                Conn::Pg(c) => c.batch_execute(m.postgres),
            };
            run.map_err(|e| Error::Migration(format!("app migration `{}` failed: {e}", m.name)))?;
            with_conn!(&mut *conn, |c, B| diesel::insert_into(am::table)
                .values((am::name.eq(m.name), am::applied_at.eq(now_micros())))
                .execute(c)
                .map_err(Error::query("recording an app migration")))?;
            applied.push(m.name);
            Ok(())
        })?;
    }
    Ok(applied)
}

/// The SQLite migration of a model's search index: an FTS5 table with the trigram
/// tokenizer over the searched columns of `table` (its rowid the table's integer key
/// `id`), filled from the rows there are, and triggers that keep it as rows are added,
/// changed and deleted. Name the index on the model with `#[minke(search_index =
/// ...)]`; on PostgreSQL, `pg_trgm` indexes serve the same searches.
///
/// ```
/// const SQL: &str = minke_store::sqlite_search_index!(
///     index = "servers_search", table = "servers", id = "id", columns = ["name", "role"]
/// );
/// assert!(SQL.starts_with(
///     "CREATE VIRTUAL TABLE servers_search USING fts5(name, role, content = 'servers', \
///      content_rowid = 'id', tokenize = 'trigram');"
/// ));
/// assert!(SQL.contains("VALUES ('delete', old.id, old.name, old.role);"));
/// let migration = minke_store::AppMigration::new("0002_search", SQL, "SELECT 1");
/// # let _ = migration;
/// ```
#[macro_export]
macro_rules! sqlite_search_index {
    (index = $index:literal, table = $table:literal, id = $id:literal, columns = [$first:literal $(, $col:literal)* $(,)?] $(,)?) => {
        concat!(
            "CREATE VIRTUAL TABLE ", $index, " USING fts5(", $first, $(", ", $col,)*
            ", content = '", $table, "', content_rowid = '", $id, "', tokenize = 'trigram');\n",
            "INSERT INTO ", $index, " (", $index, ") VALUES ('rebuild');\n",
            "CREATE TRIGGER ", $index, "_insert AFTER INSERT ON ", $table, " BEGIN\n",
            "    INSERT INTO ", $index, " (rowid, ", $first, $(", ", $col,)* ")\n",
            "    VALUES (new.", $id, ", new.", $first, $(", new.", $col,)* ");\n",
            "END;\n",
            "CREATE TRIGGER ", $index, "_delete AFTER DELETE ON ", $table, " BEGIN\n",
            "    INSERT INTO ", $index, " (", $index, ", rowid, ", $first, $(", ", $col,)* ")\n",
            "    VALUES ('delete', old.", $id, ", old.", $first, $(", old.", $col,)* ");\n",
            "END;\n",
            "CREATE TRIGGER ", $index, "_update AFTER UPDATE ON ", $table, " BEGIN\n",
            "    INSERT INTO ", $index, " (", $index, ", rowid, ", $first, $(", ", $col,)* ")\n",
            "    VALUES ('delete', old.", $id, ", old.", $first, $(", old.", $col,)* ");\n",
            "    INSERT INTO ", $index, " (rowid, ", $first, $(", ", $col,)* ")\n",
            "    VALUES (new.", $id, ", new.", $first, $(", new.", $col,)* ");\n",
            "END;\n",
        )
    };
}
