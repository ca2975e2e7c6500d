//! Selections of model objects: filters, search, ids.

use std::fmt;
use std::str::FromStr;

use minke_core::Status;
use serde::{Deserialize, Serialize};

use crate::{Conn, Error, Result};

/// The most conditions a filter may have (a longer one is refused with
/// [`Error::BadQuery`]: SQL engines limit how deep an expression may be).
pub const MAX_FILTER_TERMS: usize = 100;
/// The longest filter (or search text) accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8192;
/// How many ids one statement binds at most: a longer selection is loaded in slices
/// of this many (SQLite allows 32,766 variables in a statement).
pub const IDS_PER_QUERY: usize = 10_000;

/// A comparison in a filter condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `~`: contains (text fields only)
    Contains,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "~",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition `FIELD OP VALUE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The field's name.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The value as text, parsed as the field's type when the query is built.
    pub value: String,
}

/// Which objects of a model to load.
///
/// ```
/// use minke_store::{Op, Query};
/// let q = Query::filter("name ~ web and port >= 2200").unwrap();
/// assert_eq!(q.conditions.len(), 2);
/// assert_eq!(q.conditions[1].op, Op::Ge);
/// assert_eq!(q.conditions[1].value, "2200");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// All must hold.
    pub conditions: Vec<Condition>,
    /// Text looked for in the model's search fields.
    pub search: Option<String>,
    /// Only these ids.
    pub ids: Option<Vec<i64>>,
    /// At most this many objects.
    pub limit: Option<i64>,
    /// Skip this many objects.
    pub offset: Option<i64>,
    /// The order: by a field, then by id the same way; by id ascending when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    /// Only objects whose latest session ended with this status (the store keeps
    /// each object's latest session, so this costs no look through the history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<Status>,
    /// Only objects whose host or parent (the field `host = ...` or `host(via = ...)`
    /// names) is one of these ids: an object's dependents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parents: Option<Vec<i64>>,
    /// Only Minke's hosts that are members of each of these host groups (by id),
    /// selected by the database when the query runs, however large the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_groups: Vec<i64>,
}

/// The order of a [`Query`]: a field of the model, either way; ties go by id, the
/// same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The field's name (any field of the model, its id too).
    pub field: String,
    /// Largest first.
    pub descending: bool,
}

impl Order {
    /// Parses `FIELD` (ascending) or `-FIELD` (descending), as a changelist's `o`.
    ///
    /// ```
    /// let o = minke_store::Order::parse("-port");
    /// assert_eq!((o.field.as_str(), o.descending), ("port", true));
    /// ```
    pub fn parse(text: &str) -> Order {
        match text.strip_prefix('-') {
            Some(field) => Order {
                field: field.to_owned(),
                descending: true,
            },
            None => Order {
                field: text.to_owned(),
                descending: false,
            },
        }
    }

    /// The other way round.
    pub fn reversed(&self) -> Order {
        Order {
            field: self.field.clone(),
            descending: !self.descending,
        }
    }
}

/// The selection in a line, as the audit log and messages tell it: the filter in
/// the grammar of `--filter`, the search, the ids (the first ten), the window.
///
/// ```
/// use minke_store::Query;
/// let mut q = Query::filter("name ~ web and port >= 2200").unwrap();
/// q.ids = Some(vec![1, 2, 3]);
/// assert_eq!(q.to_string(), "name ~ web and port >= 2200; ids 1, 2, 3");
/// assert_eq!(Query::all().to_string(), "all");
/// assert_eq!(Query::ids(1..=12).to_string(), "ids 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more");
/// ```
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if !self.conditions.is_empty() {
            let terms: Vec<String> = self
                .conditions
                .iter()
                .map(|c| format!("{} {} {}", c.field, c.op, c.value))
                .collect();
            parts.push(terms.join(" and "));
        }
        if let Some(s) = &self.search {
            parts.push(format!("search {s:?}"));
        }
        if let Some(ids) = &self.ids {
            let shown: Vec<String> = ids.iter().take(10).map(i64::to_string).collect();
            let more = ids.len().saturating_sub(10);
            let rest = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            parts.push(format!("ids {}{rest}", shown.join(", ")));
        }
        if let Some(status) = self.last_status {
            parts.push(format!("last status {status}"));
        }
        if !self.in_groups.is_empty() {
            let ids: Vec<String> = self.in_groups.iter().map(i64::to_string).collect();
            parts.push(format!("in host group {}", ids.join(" and ")));
        }
        if let Some(o) = &self.order {
            let way = if o.descending {
                "descending"
            } else {
                "ascending"
            };
            parts.push(format!("by {} {way}", o.field));
        }
        if let Some(n) = self.limit {
            parts.push(format!("at most {n}"));
        }
        if let Some(n) = self.offset {
            parts.push(format!("from the {}th", n + 1));
        }
        if parts.is_empty() {
            f.write_str("all")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

impl Query {
    /// Every object.
    pub fn all() -> Self {
        Query::default()
    }

    /// Objects with these ids.
    pub fn ids<I: Into<i64>>(ids: impl IntoIterator<Item = I>) -> Self {
        Query {
            ids: Some(ids.into_iter().map(Into::into).collect()),
            ..Query::default()
        }
    }

    /// What the query selects: itself without its order, limit and offset (which a
    /// count leaves aside).
    pub fn selection(&self) -> Query {
        Query {
            order: None,
            limit: None,
            offset: None,
            ..self.clone()
        }
    }

    /// Objects whose search fields contain `text`.
    pub fn search(text: impl Into<String>) -> Self {
        Query {
            search: Some(text.into()),
            ..Query::default()
        }
    }

    /// Parses `FIELD OP VALUE [and FIELD OP VALUE]...`; OP is one of
    /// `= != < <= > >= ~`. Values may be quoted with `'` or `"` to hold spaces or `and`.
    ///
    /// ```
    /// use minke_store::Query;
    /// let q = Query::filter(r#"name = "web 1" and disabled = false"#).unwrap();
    /// assert_eq!(q.conditions[0].value, "web 1");
    /// let err = Query::filter("name is web").unwrap_err().to_string();
    /// assert!(err.contains("expected an operator"), "{err}");
    /// ```
    pub fn filter(expr: &str) -> Result<Self> {
        if expr.len() > MAX_FILTER_LEN {
            return Err(too_long("filter", expr.len()));
        }
        let q = Query {
            conditions: parse_filter(expr)?,
            ..Query::default()
        };
        q.check_size()?;
        Ok(q)
    }

    /// Refuses a query larger than the limits: more than [`MAX_FILTER_TERMS`]
    /// conditions, or conditions or a search text longer than [`MAX_FILTER_LEN`] in
    /// all. Every load and count checks it, whichever way the query was made.
    ///
    /// ```
    /// use minke_store::Query;
    /// let big = vec!["port > 1"; 101].join(" and ");
    /// let e = Query::filter(&big).unwrap_err().to_string();
    /// assert!(e.contains("101 conditions") && e.contains("at most 100"), "{e}");
    /// ```
    pub fn check_size(&self) -> Result<()> {
        let n = self.conditions.len();
        if n > MAX_FILTER_TERMS {
            return Err(Error::BadQuery(format!(
                "the filter has {n} conditions; at most {MAX_FILTER_TERMS} are allowed"
            )));
        }
        let len: usize = self
            .conditions
            .iter()
            .map(|c| c.field.len() + c.value.len() + 2)
            .sum();
        if len > MAX_FILTER_LEN {
            return Err(too_long("filter", len));
        }
        match &self.search {
            Some(s) if s.len() > MAX_FILTER_LEN => Err(too_long("search text", s.len())),
            _ => Ok(()),
        }
    }
}

fn too_long(what: &str, len: usize) -> Error {
    Error::BadQuery(format!(
        "the {what} is {len} bytes long; at most {MAX_FILTER_LEN} are allowed"
    ))
}

/// Loads a selection with `load`, once per slice of [`IDS_PER_QUERY`] ids when it
/// has more (each slice ordered by id, the limit and offset applied to the whole),
/// after checking its size ([`Query::check_size`]). Stored models load through it.
pub fn load_in_chunks<T>(
    conn: &mut Conn,
    query: &Query,
    mut load: impl FnMut(&mut Conn, &Query) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    query.check_size()?;
    let Some(slices) = id_slices(query) else {
        return load(conn, query);
    };
    let mut out = Vec::new();
    for part in slices {
        out.extend(load(conn, &part)?);
    }
    let skip = usize::try_from(query.offset.unwrap_or(0)).unwrap_or(0);
    let take = query
        .limit
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(0));
    Ok(out.into_iter().skip(skip).take(take).collect())
}

/// Counts a selection with `count`, once per slice of [`IDS_PER_QUERY`] ids when
/// it has more, after checking its size.
pub fn count_in_chunks(
    conn: &mut Conn,
    query: &Query,
    mut count: impl FnMut(&mut Conn, &Query) -> Result<i64>,
) -> Result<i64> {
    query.check_size()?;
    let Some(slices) = id_slices(query) else {
        return count(conn, query);
    };
    let mut total = 0;
    for part in slices {
        total += count(conn, &part)?;
    }
    Ok(total)
}

/// The query split by ascending, distinct ids into slices without limit or offset,
/// or `None` when its ids fit one statement.
fn id_slices(query: &Query) -> Option<Vec<Query>> {
    let ids = query.ids.as_ref().filter(|ids| ids.len() > IDS_PER_QUERY)?;
    let mut ids = ids.clone();
    ids.sort_unstable();
    ids.dedup();
    Some(
        ids.chunks(IDS_PER_QUERY)
            .map(|chunk| Query {
                ids: Some(chunk.to_vec()),
                limit: None,
                offset: None,
                ..query.clone()
            })
            .collect(),
    )
}

impl FromStr for Query {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Query::filter(s)
    }
}

fn bad(expr: &str, pos: usize, what: &str) -> Error {
    Error::BadQuery(format!(
        "invalid filter `{expr}` at character {}: {what}",
        pos + 1
    ))
}

fn parse_filter(expr: &str) -> Result<Vec<Condition>> {
    let b = expr.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if start == i {
            return Err(bad(expr, i, "expected a field name"));
        }
        let field = expr[start..i].to_owned();
        skip_ws(&mut i);
        let op = match (b.get(i), b.get(i + 1)) {
            (Some(b'!'), Some(b'=')) => (Op::Ne, 2),
            (Some(b'<'), Some(b'=')) => (Op::Le, 2),
            (Some(b'>'), Some(b'=')) => (Op::Ge, 2),
            (Some(b'='), Some(b'=')) => (Op::Eq, 2),
            (Some(b'='), _) => (Op::Eq, 1),
            (Some(b'<'), _) => (Op::Lt, 1),
            (Some(b'>'), _) => (Op::Gt, 1),
            (Some(b'~'), _) => (Op::Contains, 1),
            _ => return Err(bad(expr, i, "expected an operator (= != < <= > >= ~)")),
        };
        i += op.1;
        skip_ws(&mut i);
        let value = match b.get(i) {
            Some(q @ (b'\'' | b'"')) => {
                let end = expr[i + 1..]
                    .find(*q as char)
                    .ok_or_else(|| bad(expr, i, "unclosed quote"))?;
                let v = expr[i + 1..i + 1 + end].to_owned();
                i += end + 2;
                v
            }
            Some(_) => {
                let s = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                expr[s..i].to_owned()
            }
            None => return Err(bad(expr, i, "expected a value")),
        };
        out.push(Condition {
            field,
            op: op.0,
            value,
        });
        skip_ws(&mut i);
        if i >= b.len() {
            return Ok(out);
        }
        let word_end = expr[i..]
            .find(|c: char| c.is_whitespace())
            .map_or(b.len(), |e| i + e);
        if !expr[i..word_end].eq_ignore_ascii_case("and") {
            return Err(bad(expr, i, "expected `and` between conditions"));
        }
        i = word_end;
    }
}
