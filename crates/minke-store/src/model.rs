//! How Minke models are loaded from and saved to the database.

use minke_core::{FieldType, HostId, MinkeModel, ModelMeta, Status};

use crate::{Condition, Conn, Error, Op, Query, Result};

/// A Minke model stored in a diesel table: implemented by `#[derive(MinkeModel)]`.
///
/// Every method takes a [`Conn`] and runs on a blocking thread (never on the async
/// runtime): the store calls them through `Store::blocking`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a stored Minke model",
    note = "add `#[derive(MinkeModel)]` with `#[minke(table = ...)]` to `{Self}`"
)]
pub trait StoredModel: MinkeModel + Sized {
    /// Loads the objects a query selects, ordered by id.
    fn load(conn: &mut Conn, query: &Query) -> Result<Vec<Self>>;
    /// Counts the objects a query selects (limit and offset ignored).
    fn count(conn: &mut Conn, query: &Query) -> Result<i64>;
    /// Writes the named fields of this object to its row.
    fn save_fields(&self, conn: &mut Conn, fields: &[&str]) -> Result<()>;
    /// The id of the host this object reaches (through its parents if it has any).
    fn host_id(&self, conn: &mut Conn) -> Result<HostId>;

    /// Adds an object with these values (checked with [`check_values`](crate::check_values)
    /// first) and returns its id. Fields left out are `NULL` or the column's default.
    fn insert(conn: &mut Conn, values: &crate::FieldValues) -> Result<i64> {
        let _ = (conn, values);
        Err(Error::NotWritable {
            model: Self::NAME.to_owned(),
        })
    }

    /// Writes the given values to object `id` (checked first); fields left out stay.
    fn update(conn: &mut Conn, id: i64, values: &crate::FieldValues) -> Result<()> {
        let _ = (conn, id, values);
        Err(Error::NotWritable {
            model: Self::NAME.to_owned(),
        })
    }

    /// Deletes the objects of these ids (and nothing else: what depends on them is
    /// the caller's to decide) and returns how many went.
    fn delete(conn: &mut Conn, ids: &[i64]) -> Result<usize> {
        let _ = (conn, ids);
        Err(Error::NotWritable {
            model: Self::NAME.to_owned(),
        })
    }

    /// Loads one object by id.
    fn load_one(conn: &mut Conn, id: i64) -> Result<Self> {
        Self::load(conn, &Query::ids([id]))?
            .pop()
            .ok_or_else(|| Error::NotFound {
                model: Self::NAME.to_owned(),
                id,
            })
    }
}

/// Checks a query against a model before it is turned into SQL: every condition must
/// name a filterable field, `~` needs a text field, and each value must parse as the
/// field's type. Unknown fields never reach SQL.
pub fn check_query(meta: &ModelMeta, query: &Query) -> Result<()> {
    for c in &query.conditions {
        let Some(field) = meta
            .field(&c.field)
            .filter(|_| meta.filter.contains(&c.field.as_str()))
        else {
            return Err(Error::BadQuery(format!(
                "model `{}` has no filterable field `{}` (filterable: {})",
                meta.name,
                c.field,
                meta.filter.join(", ")
            )));
        };
        if c.op == Op::Contains && !field.is_text {
            return Err(Error::BadQuery(format!(
                "`~` needs a text field, but `{}` of model `{}` is {}",
                c.field, meta.name, field.type_name
            )));
        }
    }
    if query.search.is_some() && meta.search.is_empty() {
        return Err(Error::BadQuery(format!(
            "model `{}` has no search fields",
            meta.name
        )));
    }
    Ok(())
}

/// Parses a condition's value as the field's (inner) type, for generated code.
pub fn condition_value<T: FieldType>(model: &str, c: &Condition) -> Result<T> {
    T::parse(&c.value).map_err(|e| {
        Error::BadQuery(format!(
            "filter `{} {} {}` on model `{model}`: {e}",
            c.field, c.op, c.value
        ))
    })
}

/// [`last_status_is`]: a condition in SQL with its values bound.
pub type LastStatusIs = diesel::expression::SqlLiteral<
    diesel::sql_types::Bool,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<
            diesel::sql_types::Bool,
            diesel::expression::UncheckedBind<
                diesel::expression::SqlLiteral<diesel::sql_types::Bool>,
                diesel::dsl::AsExprOf<String, diesel::sql_types::Text>,
            >,
        >,
        diesel::dsl::AsExprOf<&'static str, diesel::sql_types::Text>,
    >,
>;

/// The condition "the object's latest session ended with `status`" on the table of
/// `model`, whose key column is `id_column`, for generated code: a look into the
/// latest sessions the store keeps per object (`minke_last_sessions`), by its index.
pub fn last_status_is(id_column: &str, model: &str, status: Status) -> LastStatusIs {
    use diesel::sql_types::{Bool, Text};
    diesel::dsl::sql::<Bool>(&format!(
        "{} IN (SELECT object_id FROM minke_last_sessions WHERE model = ",
        quoted(id_column)
    ))
    .bind::<Text, _>(model.to_owned())
    .sql(" AND status = ")
    .bind::<Text, _>(status.as_str())
    .sql(")")
}

/// [`text_index_has`]: a condition in SQL with its value bound.
pub type TextIndexHas = diesel::expression::SqlLiteral<
    diesel::sql_types::Bool,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<diesel::sql_types::Bool>,
        diesel::dsl::AsExprOf<String, diesel::sql_types::Text>,
    >,
>;

/// The shortest text a trigram index finds (three characters); shorter searches
/// look with `LIKE`.
pub const TRIGRAM: usize = 3;

/// True when a search for `text` can use a trigram index.
pub fn trigram_searchable(text: &str) -> bool {
    text.chars().count() >= TRIGRAM
}

/// The condition "a searched column contains `text`" on SQLite through an FTS5
/// table with the trigram tokenizer (`index`, kept by triggers with the table's key
/// `id_column` as its rowid), for generated code: the index finds the rows instead of
/// a `LIKE` over every row. `text` needs at least [`TRIGRAM`] characters; it is
/// searched as one phrase (a substring), case-insensitively, as `LIKE` does.
///
/// ```
/// use diesel::query_builder::QueryBuilder as _;
/// let cond = minke_store::text_index_has("id", "servers_search", "web \"1\"");
/// let mut sql = diesel::sqlite::SqliteQueryBuilder::new();
/// diesel::query_builder::QueryFragment::<diesel::sqlite::Sqlite>::to_sql(&cond, &mut sql, &diesel::sqlite::Sqlite).unwrap();
/// assert_eq!(sql.finish(), r#""id" IN (SELECT rowid FROM "servers_search" WHERE "servers_search" MATCH ?)"#);
/// ```
pub fn text_index_has(id_column: &str, index: &str, text: &str) -> TextIndexHas {
    use diesel::sql_types::{Bool, Text};
    diesel::dsl::sql::<Bool>(&format!(
        "{} IN (SELECT rowid FROM {index} WHERE {index} MATCH ",
        quoted(id_column),
        index = quoted(index),
    ))
    .bind::<Text, _>(quoted(text))
    .sql(")")
}

/// `name` in double quotes, inner ones doubled: an SQL identifier (or an FTS5
/// phrase) whatever it holds.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The `LIKE` pattern for "contains `text`", with `%`, `_` and `\` escaped.
///
/// ```
/// assert_eq!(minke_store::like_pattern("50%_a"), r"%50\%\_a%");
/// ```
pub fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Converts an id to a table's key type, for generated code.
pub fn key_from_id<K: TryFrom<i64>>(model: &str, id: i64) -> Result<K> {
    K::try_from(id)
        .map_err(|_| Error::BadQuery(format!("id {id} does not fit the key of model `{model}`")))
}

/// Compiles only when a field of type `T` can be written to a column of SQL type
/// `ST`: `#[derive(MinkeModel)]` calls it for each field forms and the API write, so
/// that a field whose type does not fit its column is an error at the field.
pub fn field_type_matches_its_column<T, ST>()
where
    for<'a> &'a T: diesel::expression::AsExpression<ST>,
    ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType,
{
}

/// Converts a key or a foreign key to an id, for generated code.
pub trait AsId {
    /// The id, or `None` for a missing optional key.
    fn as_id(&self) -> Option<i64>;
}

macro_rules! as_id {
    ($($t:ty),*) => {$(
        impl AsId for $t {
            fn as_id(&self) -> Option<i64> { i64::try_from(*self).ok() }
        }
    )*};
}
as_id!(i16, i32, i64, u16, u32);

impl<T: AsId> AsId for Option<T> {
    fn as_id(&self) -> Option<i64> {
        self.as_ref().and_then(AsId::as_id)
    }
}

/// The host id of an object, or a clear error when it has none, for generated code.
pub fn require_host(model: &str, id: i64, key: Option<i64>, via: &str) -> Result<i64> {
    key.ok_or_else(|| {
        Error::Core(minke_core::Error::Setup(format!(
            "{model} {id} has no host: its `{via}` is empty, so no host can be reached"
        )))
    })
}
