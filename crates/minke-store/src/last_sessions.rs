//! The latest session of each object (`minke_last_sessions`, kept by triggers on the
//! sessions) without objects that are gone: triggers on each model's table forget an
//! object's row when the object is deleted (or its key changes, or the table is
//! truncated), so that "how many objects ended their last session in error" is a
//! count of the latest sessions alone, read from their index, instead of a join over
//! the model's whole table.

use crate::model::quoted;
use crate::schema::minke_last_sessions as last;
use crate::{Conn, Error, Query, Result};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// The name of the trigger that forgets `model`'s deleted objects.
fn trigger_name(model: &str) -> String {
    format!("minke_forget_{model}")
}

/// `text` as a quoted SQL string.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Gives `table` (the table of `model`, keyed by `id_column`) the triggers that
/// forget the latest session of a deleted object, and forgets those of objects
/// deleted before; nothing when it has them. True when they were added.
///
/// Done for every model when an app opens its database to write. Without them (a
/// database only read so far) counts by last status join the model's table instead,
/// which gives the same numbers more slowly.
pub fn keep_last_sessions_exact(
    conn: &mut Conn,
    model: &str,
    table: &str,
    id_column: &str,
) -> Result<bool> {
    if last_sessions_exact(conn, model, table)? || !crate::schema_check::has_table(conn, table)? {
        return Ok(false);
    }
    let (name, table_q, id_q, model_l) = (
        trigger_name(model),
        quoted(table),
        quoted(id_column),
        literal(model),
    );
    let statements = match conn {
        Conn::Pg(_) => vec![
            format!(
                "CREATE TRIGGER {} AFTER DELETE OR UPDATE OF {id_q} ON {table_q} \
                 FOR EACH ROW EXECUTE FUNCTION minke_forget_last_session({model_l}, {})",
                quoted(&name),
                literal(id_column)
            ),
            format!(
                "CREATE TRIGGER {} AFTER TRUNCATE ON {table_q} \
                 FOR EACH STATEMENT EXECUTE FUNCTION minke_forget_last_sessions({model_l})",
                quoted(&format!("{name}_all"))
            ),
        ],
        // SQLite has no TRUNCATE: `DELETE FROM t` runs the row trigger for every row.
        Conn::Sqlite(_) => vec![
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {table_q} BEGIN \
                 DELETE FROM minke_last_sessions WHERE model = {model_l} \
                 AND object_id = old.{id_q}; END",
                quoted(&name)
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER UPDATE OF {id_q} ON {table_q} \
                 WHEN old.{id_q} IS NOT new.{id_q} BEGIN \
                 DELETE FROM minke_last_sessions WHERE model = {model_l} \
                 AND object_id = old.{id_q}; END",
                quoted(&format!("{name}_id"))
            ),
        ],
    };
    let orphans = format!(
        "DELETE FROM minke_last_sessions WHERE model = {model_l} AND NOT EXISTS \
         (SELECT 1 FROM {table_q} t WHERE t.{id_q} = minke_last_sessions.object_id)"
    );
    conn.transaction(|c| {
        let context = || format!("adding the triggers that forget deleted {model} objects");
        crate::with_conn!(c, |c, B| {
            for s in statements.iter().chain([&orphans]) {
                diesel::sql_query(s.as_str())
                    .execute(c)
                    .map_err(Error::query(context()))?;
            }
            Ok::<_, Error>(())
        })?;
        Ok(true)
    })
}

/// True when `table` has the triggers of [`keep_last_sessions_exact`] for `model`.
pub fn last_sessions_exact(conn: &mut Conn, model: &str, table: &str) -> Result<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let name = trigger_name(model);
    let context = || format!("looking for the triggers of `{table}`");
    let found: Found = match conn {
        Conn::Pg(pg) => diesel::sql_query(
            "SELECT count(*) AS n FROM pg_trigger \
             WHERE tgname = $1 AND tgrelid = to_regclass($2)",
        )
        .bind::<Text, _>(&name)
        .bind::<Text, _>(quoted(table))
        .get_result(pg),
        Conn::Sqlite(lite) => diesel::sql_query(
            "SELECT count(*) AS n FROM sqlite_master \
             WHERE type = 'trigger' AND name = ? AND tbl_name = ?",
        )
        .bind::<Text, _>(&name)
        .bind::<Text, _>(table)
        .get_result(lite),
    }
    .map_err(Error::query(context()))?;
    Ok(found.n > 0)
}

/// How many objects of `model` a query selects when it selects by last status alone
/// and the model's table keeps the latest sessions exact: counted from the latest
/// sessions' index. `None` otherwise (count the model's table).
pub fn count_by_last_status(
    conn: &mut Conn,
    model: &str,
    table: &str,
    query: &Query,
) -> Result<Option<i64>> {
    let Some(status) = query.last_status else {
        return Ok(None);
    };
    let alone = Query {
        last_status: Some(status),
        ..Query::all()
    };
    if query.selection() != alone || !last_sessions_exact(conn, model, table)? {
        return Ok(None);
    }
    let status: &str = status.as_str();
    crate::with_conn!(conn, |c, B| last::table
        .filter(last::model.eq(model))
        .filter(last::status.eq(status))
        .count()
        .get_result(c)
        .map(Some)
        .map_err(Error::query(format!(
            "counting {model} objects by last status"
        ))))
}
