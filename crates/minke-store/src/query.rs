//! Selections of model objects: filters, search, ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

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
}

impl Query {
    /// Every object.
    pub fn all() -> Self {
        Query::default()
    }

    /// Objects with these ids.
    pub fn ids(ids: impl IntoIterator<Item = i64>) -> Self {
        Query {
            ids: Some(ids.into_iter().collect()),
            ..Query::default()
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
        Ok(Query {
            conditions: parse_filter(expr)?,
            ..Query::default()
        })
    }
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
