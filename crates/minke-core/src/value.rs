//! Dynamic values: model fields and session parameters seen by name.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A field or parameter value seen without its Rust type.
///
/// ```
/// use minke_core::Value;
/// assert_eq!(Value::from(3_i32).to_string(), "3");
/// assert_eq!(Value::Null.to_string(), "");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// No value (`NULL`, `None`).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// Text.
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value { fn from(v: $t) -> Self { Value::Int(i64::from(v)) } }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

/// A Rust type that a model field or a session parameter may have.
///
/// Implemented for `String`, the integer types, `bool`, `f32`, `f64`, [`Secret`] and
/// `Option` of each. The derives call it to read, write and parse fields by name.
///
/// ```
/// use minke_core::{FieldType, Value};
/// assert_eq!(<i32 as FieldType>::parse("42").unwrap(), 42);
/// assert!(<i32 as FieldType>::parse("forty").is_err());
/// assert_eq!(<Option<String> as FieldType>::from_value(Value::Null).unwrap(), None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` can't be used as a Minke field or parameter",
    note = "supported: String, integers, bool, f32, f64, minke::Secret and Option of those; mark other fields `#[minke(skip)]`"
)]
pub trait FieldType: Sized {
    /// The name shown in help texts and errors, like `integer`.
    const TYPE_NAME: &'static str;
    /// True when this is text (the `~` filter and `--search` apply).
    const IS_TEXT: bool = false;
    /// True for `Option<T>`: the value may be left out.
    const OPTIONAL: bool = false;
    /// Converts to a dynamic value.
    fn to_value(&self) -> Value;
    /// Converts from a dynamic value.
    fn from_value(v: Value) -> Result<Self>;
    /// Parses the text given on a command line or in a form.
    fn parse(s: &str) -> Result<Self>;
}

fn mismatch<T>(expected: &'static str, v: impl fmt::Display) -> Result<T> {
    Err(Error::InvalidValue {
        what: "value",
        value: v.to_string(),
        expected: expected.to_owned(),
    })
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl FieldType for $t {
            const TYPE_NAME: &'static str = "integer";
            fn to_value(&self) -> Value { Value::Int(*self as i64) }
            fn from_value(v: Value) -> Result<Self> {
                match v {
                    Value::Int(i) => <$t>::try_from(i).or_else(|_| mismatch(concat!("an integer that fits ", stringify!($t)), i)),
                    Value::Text(s) => Self::parse(&s),
                    other => mismatch("an integer", format!("{other:?}")),
                }
            }
            fn parse(s: &str) -> Result<Self> {
                s.trim().parse::<$t>().or_else(|_| mismatch(concat!("an integer (", stringify!($t), ")"), s))
            }
        }
    )*};
}
int_field!(i16, i32, i64, u16, u32, u64, usize);

macro_rules! float_field {
    ($($t:ty),*) => {$(
        impl FieldType for $t {
            const TYPE_NAME: &'static str = "number";
            fn to_value(&self) -> Value { Value::Float(f64::from(*self)) }
            fn from_value(v: Value) -> Result<Self> {
                match v {
                    Value::Float(x) => Ok(x as $t),
                    Value::Int(i) => Ok(i as $t),
                    Value::Text(s) => Self::parse(&s),
                    other => mismatch("a number", format!("{other:?}")),
                }
            }
            fn parse(s: &str) -> Result<Self> {
                s.trim().parse::<$t>().or_else(|_| mismatch("a number", s))
            }
        }
    )*};
}
float_field!(f32, f64);

impl FieldType for bool {
    const TYPE_NAME: &'static str = "boolean";
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Bool(b) => Ok(b),
            Value::Int(i) => Ok(i != 0),
            Value::Text(s) => Self::parse(&s),
            other => mismatch("a boolean", format!("{other:?}")),
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => mismatch("true or false", s),
        }
    }
}

impl FieldType for String {
    const TYPE_NAME: &'static str = "text";
    const IS_TEXT: bool = true;
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Null => mismatch("text", "nothing"),
            other => Ok(other.to_string()),
        }
    }
    fn parse(s: &str) -> Result<Self> {
        Ok(s.to_owned())
    }
}

impl<T: FieldType> FieldType for Option<T> {
    const TYPE_NAME: &'static str = T::TYPE_NAME;
    const IS_TEXT: bool = T::IS_TEXT;
    const OPTIONAL: bool = true;
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
    fn parse(s: &str) -> Result<Self> {
        T::parse(s).map(Some)
    }
}

/// A secret parameter (password, passphrase, token): never printed, logged or stored.
///
/// `Debug` and `Display` print `***`, and run history keeps `***` in its place.
///
/// ```
/// use minke_core::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "*** ***");
/// assert_eq!(s.expose(), "hunter2");
/// ```
///
/// A model field may be a `Secret` too (a `Text` column, with the `diesel` feature,
/// which Minke's store turns on): lists, the API and the command line show `***`.
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "diesel",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Text)
)]
pub struct Secret(String);

#[cfg(feature = "diesel")]
impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for Secret
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        String::from_sql(bytes).map(Secret)
    }
}

#[cfg(feature = "diesel")]
impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for Secret
where
    DB: diesel::backend::Backend,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, DB>,
    ) -> diesel::serialize::Result {
        self.0.to_sql(out)
    }
}

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: use it where it is needed, never in a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FieldType for Secret {
    const TYPE_NAME: &'static str = "secret";
    fn to_value(&self) -> Value {
        Value::Text("***".into())
    }
    fn from_value(v: Value) -> Result<Self> {
        Ok(Secret(v.to_string()))
    }
    fn parse(s: &str) -> Result<Self> {
        Ok(Secret(s.to_owned()))
    }
}

/// Quotes `s` for a POSIX shell, so it arrives as one word whatever it holds.
///
/// ```
/// use minke_core::shell_quote;
/// assert_eq!(shell_quote("plain-word_1.2/x"), "plain-word_1.2/x");
/// assert_eq!(shell_quote("it's; rm -rf /"), r#"'it'\''s; rm -rf /'"#);
/// assert_eq!(shell_quote(""), "''");
/// ```
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}
