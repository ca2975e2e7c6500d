//! [`Lines`]: a short list of texts kept in one text column.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A list of texts kept in one text column, one per line: a host's identity files,
/// certificate files or `NAME=value` environment, in order.
///
/// Entries are trimmed; empty ones are left out. An entry cannot hold a line break
/// (it would become two): [`Lines::new`] refuses one. Serialized as a JSON array.
///
/// ```
/// use minke_core::Lines;
/// let files = Lines::new(["~/.ssh/id_ed25519", " ~/.ssh/deploy "]).unwrap();
/// assert_eq!(files.iter().collect::<Vec<_>>(), ["~/.ssh/id_ed25519", "~/.ssh/deploy"]);
/// assert_eq!(Lines::parse("a\n\n b \n"), Lines::new(["a", "b"]).unwrap());
/// assert!(Lines::new(["two\nlines"]).is_err());
/// assert!(Lines::default().is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
pub struct Lines {
    /// The entries joined by `\n`.
    text: String,
}

impl Lines {
    /// The entries, in order: trimmed, empty ones left out. An entry holding a line
    /// break is an error naming it.
    pub fn new<I, S>(entries: I) -> crate::Result<Lines>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut kept: Vec<&str> = Vec::new();
        let entries: Vec<S> = entries.into_iter().collect();
        for e in &entries {
            let e = e.as_ref().trim();
            if e.contains(['\n', '\r']) {
                return Err(crate::Error::InvalidValue {
                    what: "list entry",
                    value: e.escape_debug().to_string(),
                    expected: "one line".into(),
                });
            }
            if !e.is_empty() {
                kept.push(e);
            }
        }
        Ok(Lines {
            text: kept.join("\n"),
        })
    }

    /// Entries from text with one per line (a form's text area, a column).
    pub fn parse(text: &str) -> Lines {
        let kept: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Lines {
            text: kept.join("\n"),
        }
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The entries, one per line.
    pub fn as_text(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The entries separated by `, `.
impl fmt::Display for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(e)?;
        }
        Ok(())
    }
}

impl Serialize for Lines {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Lines {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(d)?;
        Lines::new(entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "diesel")]
impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for Lines
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        String::from_sql(bytes).map(|s| Lines::parse(&s))
    }
}

#[cfg(feature = "diesel")]
impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for Lines
where
    DB: diesel::backend::Backend,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, DB>,
    ) -> diesel::serialize::Result {
        self.text.to_sql(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_an_array_and_checked() {
        let l = Lines::new(["a", "b"]).unwrap();
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"["a","b"]"#);
        assert_eq!(serde_json::from_str::<Lines>(&json).unwrap(), l);
        assert!(serde_json::from_str::<Lines>(r#"["x\ny"]"#).is_err());
        assert_eq!(l.to_string(), "a, b");
        assert_eq!(l.len(), 2);
    }
}
