//! Writing model objects from values people give (forms, the JSON API): the values
//! checked against the model's fields, turned into the fields' types, and the
//! database's refusals (a duplicate, a missing parent) told as problems of fields.

use std::collections::BTreeMap;
use std::fmt;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use minke_core::{FieldMeta, FieldType, ModelMeta, Value};
use serde::{Deserialize, Serialize};

use crate::schema::minke_last_sessions as ls;
use crate::{Conn, Error, Result};

/// Field values by name: what adding or changing an object writes. Fields left out
/// keep their value when changing, and are empty (`NULL`, or the column's default)
/// when adding.
pub type FieldValues = BTreeMap<String, Value>;

/// What is wrong with one field's value, or with the object as a whole (an empty
/// `field`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field's name; empty for the object as a whole.
    pub field: String,
    /// What is wrong, as a sentence fragment: `is required`.
    pub problem: String,
}

impl FieldProblem {
    /// A problem of the named field.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldProblem {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "`{}` {}", self.field, self.problem)
        }
    }
}

/// Whether values are for a new object or an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writing {
    /// Adding: every required field must be given.
    Add,
    /// Changing: fields left out stay as they are.
    Change,
}

/// True when a value counts as not given: `NULL` or empty text.
fn blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Text(t) => t.trim().is_empty(),
        _ => false,
    }
}

/// Checks values against the model before they are converted: every name must be a
/// field that may be written, a required field must be given (when adding) and not
/// blank, and a field with choices takes one of them. Every problem is reported, not
/// only the first.
pub fn check_values(meta: &ModelMeta, values: &FieldValues, writing: Writing) -> Result<()> {
    let mut problems = Vec::new();
    if !meta.writable {
        return Err(Error::NotWritable {
            model: meta.name.to_owned(),
        });
    }
    for name in values.keys() {
        match meta.field(name) {
            None => problems.push(FieldProblem::new(name, "is not a field of this model")),
            Some(f) if f.name == meta.id => {
                problems.push(FieldProblem::new(
                    name,
                    "is the id, which the database assigns",
                ));
            }
            Some(f) if f.read_only => problems.push(FieldProblem::new(name, "is read-only")),
            Some(_) => {}
        }
    }
    for f in meta.editable() {
        let given = values.get(f.name);
        let required = !f.optional && f.type_name != "boolean";
        match given {
            None if writing == Writing::Add && required => {
                problems.push(FieldProblem::new(f.name, "is required"));
            }
            Some(v) if required && blank(v) => {
                problems.push(FieldProblem::new(f.name, "is required"));
            }
            Some(Value::Text(t)) if !f.choices.is_empty() && !f.choices.contains(&t.as_str()) => {
                problems.push(FieldProblem::new(
                    f.name,
                    format!("must be one of {}", f.choices.join(", ")),
                ));
            }
            _ => {}
        }
    }
    invalid_unless_empty(meta.name, problems)
}

/// `Err(Error::Invalid)` when there are problems.
pub fn invalid_unless_empty(model: &str, problems: Vec<FieldProblem>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid {
            model: model.to_owned(),
            problems,
        })
    }
}

/// The value of field `name` as its type, or `None` with the problem recorded. A
/// field left out reads as `NULL` (fine for `Option` fields; the others were
/// checked by [`check_values`]).
pub fn value_of<T: FieldType>(
    values: &FieldValues,
    name: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    let v = match values.get(name) {
        Some(v) if blank(v) && T::OPTIONAL => Value::Null,
        Some(v) => v.clone(),
        None => Value::Null,
    };
    match T::from_value(v) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(FieldProblem::new(name, e.to_string()));
            None
        }
    }
}

/// Turns what a form field holds into a value of the field's kind: empty text is
/// `NULL`, a checkbox is `on` or absent. The problem names what was expected.
pub fn value_from_text(field: &FieldMeta, text: &str) -> std::result::Result<Value, String> {
    let t = text.trim();
    if field.type_name == "boolean" {
        return match t.to_ascii_lowercase().as_str() {
            "" | "false" | "off" | "no" | "0" => Ok(Value::Bool(false)),
            "true" | "on" | "yes" | "1" => Ok(Value::Bool(true)),
            _ => Err(format!("must be true or false, not `{t}`")),
        };
    }
    if t.is_empty() {
        return Ok(Value::Null);
    }
    match field.type_name {
        "integer" => t
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("must be a whole number, not `{t}`")),
        "number" => t
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Value::Float)
            .ok_or_else(|| format!("must be a number, not `{t}`")),
        _ => Ok(Value::Text(text.to_owned())),
    }
}

/// Maps a database error of a write to what people can act on: a duplicate value or
/// a missing object pointed at becomes [`Error::Invalid`] (naming the field when the
/// database says which), anything else stays a query error.
pub fn write_error(
    meta: &ModelMeta,
    doing: impl Into<String>,
) -> impl FnOnce(DieselError) -> Error {
    let (model, doing) = (meta.name, doing.into());
    let fields: Vec<&'static str> = meta.fields.iter().map(|f| f.name).collect();
    move |e| {
        let DieselError::DatabaseError(kind, info) = &e else {
            return Error::Query {
                context: doing,
                source: e,
            };
        };
        let message = info.message();
        // PostgreSQL names the column in its detail (`Key (name)=(x) already
        // exists.`), SQLite in its message (`UNIQUE constraint failed: t.name`).
        let text = format!("{message} {}", info.details().unwrap_or_default());
        let field = info
            .column_name()
            .map(str::to_owned)
            .or_else(|| {
                fields
                    .iter()
                    .find(|f| {
                        text.contains(&format!(".{f}"))
                            || text.contains(&format!("({f})"))
                            || text.contains(&format!("\"{f}\""))
                    })
                    .map(|f| (*f).to_owned())
            })
            .unwrap_or_default();
        let problem = match kind {
            DatabaseErrorKind::UniqueViolation => "is taken: another object has this value",
            DatabaseErrorKind::ForeignKeyViolation => {
                "points at an object that does not exist, or is still pointed at by others"
            }
            DatabaseErrorKind::NotNullViolation => "is required",
            DatabaseErrorKind::CheckViolation => "is refused by the database's checks",
            _ => {
                return Error::Query {
                    context: doing,
                    source: e,
                };
            }
        };
        let problem = if field.is_empty() {
            format!("{problem} ({message})")
        } else {
            problem.to_owned()
        };
        Error::Invalid {
            model: model.to_owned(),
            problems: vec![FieldProblem::new(field, problem)],
        }
    }
}

/// Forgets the latest session of deleted objects (their history stays, under the
/// label they had).
pub fn forget_last_sessions(conn: &mut Conn, model: &str, ids: &[i64]) -> Result<()> {
    use diesel::prelude::*;
    crate::with_conn!(conn, |c, B| {
        for chunk in ids.chunks(crate::IDS_PER_QUERY) {
            diesel::delete(
                ls::table
                    .filter(ls::model.eq(model))
                    .filter(ls::object_id.eq_any(chunk)),
            )
            .execute(c)
            .map_err(Error::query(
                "forgetting the latest sessions of deleted objects",
            ))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ModelMeta {
        let f = |name, type_name, optional| FieldMeta {
            name,
            type_name,
            is_text: type_name == "text",
            optional,
            ..FieldMeta::default()
        };
        ModelMeta {
            name: "server",
            fields: vec![
                f("id", "integer", false),
                f("name", "text", false),
                FieldMeta {
                    choices: vec!["web", "db"],
                    ..f("role", "text", false)
                },
                FieldMeta {
                    read_only: true,
                    ..f("kernel", "text", true)
                },
                f("cores", "integer", true),
                f("active", "boolean", false),
            ],
            id: "id",
            writable: true,
            ..ModelMeta::default()
        }
    }

    fn problems(r: Result<()>) -> Vec<String> {
        match r {
            Ok(()) => vec![],
            Err(Error::Invalid { problems, .. }) => {
                problems.iter().map(|p| p.to_string()).collect()
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn adding_needs_every_required_field_and_says_what_is_wrong_with_each() {
        let mut v = FieldValues::new();
        v.insert("role".into(), Value::Text("mail".into()));
        v.insert("kernel".into(), Value::Text("6.1".into()));
        v.insert("id".into(), Value::Int(9));
        v.insert("colour".into(), Value::Text("red".into()));
        let p = problems(check_values(&meta(), &v, Writing::Add));
        assert_eq!(
            p,
            [
                "`colour` is not a field of this model",
                "`id` is the id, which the database assigns",
                "`kernel` is read-only",
                "`name` is required",
                "`role` must be one of web, db",
            ]
        );
        // Changing leaves out what is not given; blank text is still refused.
        v.clear();
        v.insert("name".into(), Value::Text("  ".into()));
        assert_eq!(
            problems(check_values(&meta(), &v, Writing::Change)),
            ["`name` is required"]
        );
        v.insert("name".into(), Value::Text("web-1".into()));
        assert!(problems(check_values(&meta(), &v, Writing::Change)).is_empty());
    }

    #[test]
    fn a_read_only_model_takes_no_values() {
        let m = ModelMeta {
            writable: false,
            ..meta()
        };
        assert!(matches!(
            check_values(&m, &FieldValues::new(), Writing::Add),
            Err(Error::NotWritable { .. })
        ));
    }

    #[test]
    fn form_text_becomes_the_fields_kind() {
        let m = meta();
        let f = |n| m.field(n).unwrap();
        assert_eq!(value_from_text(f("cores"), " 8 "), Ok(Value::Int(8)));
        assert_eq!(value_from_text(f("cores"), ""), Ok(Value::Null));
        assert!(
            value_from_text(f("cores"), "eight")
                .unwrap_err()
                .contains("whole number")
        );
        assert_eq!(value_from_text(f("active"), "on"), Ok(Value::Bool(true)));
        assert_eq!(value_from_text(f("active"), ""), Ok(Value::Bool(false)));
        assert_eq!(
            value_from_text(f("name"), "web"),
            Ok(Value::Text("web".into()))
        );
        let mut p = Vec::new();
        assert_eq!(
            value_of::<Option<String>>(&FieldValues::new(), "kernel", &mut p),
            Some(None)
        );
        let v = FieldValues::from([("cores".to_owned(), Value::Int(1 << 40))]);
        assert_eq!(value_of::<i32>(&v, "cores", &mut p), None);
        assert_eq!(p.len(), 1, "{p:?}");
    }
}
