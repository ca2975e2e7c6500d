//! Adding, changing and deleting objects of an app's models, for the admin and the
//! API alike: values checked by the model, the change and its audit entry in one
//! transaction, and a deletion that says what goes with the object and refuses while
//! others depend on it.

use minke_core::{AuditAction, ModelMeta, ModelObject, References, Value};
use minke_store::{Actor, Conn, FieldValues, Query};
use serde::Serialize;

use crate::{Engine, Error, ModelEntry, Models, Result};

/// How many objects of each kind a deletion names (the count is always whole).
pub const SHOWN_DEPENDENTS: usize = 20;
/// How deep dependents are followed (models pointing at models pointing at ...).
const MAX_DEPTH: usize = 16;

/// Objects of one model that point at an object being deleted.
#[derive(Clone, Debug, Serialize)]
pub struct Dependents {
    /// Their model.
    pub model: &'static str,
    /// Its name for people.
    pub verbose_name: String,
    /// How many there are.
    pub count: usize,
    /// The count with the model's name: `2 web applications`.
    pub what: String,
    /// The first [`SHOWN_DEPENDENTS`] of them: id and label.
    pub objects: Vec<(i64, String)>,
    /// All their ids (to delete them with the object).
    #[serde(skip)]
    ids: Vec<i64>,
}

/// What deleting an object means: what goes with it, and what keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct Deletion {
    /// The object's model.
    pub model: &'static str,
    /// The object's id.
    pub id: i64,
    /// The object's label (its history keeps it).
    pub label: String,
    /// Objects deleted with it: models that declare `#[minke(cascade)]`, nearest
    /// first.
    pub with: Vec<Dependents>,
    /// Objects that point at it, or at what would go with it, and do not go with it:
    /// while there are any, the object cannot be deleted (as Django's protected
    /// relations).
    pub protected_by: Vec<Dependents>,
}

impl Deletion {
    /// True when nothing keeps the object.
    pub fn allowed(&self) -> bool {
        self.protected_by.is_empty()
    }

    /// The refusal as one sentence.
    pub fn refusal(&self) -> String {
        let by: Vec<String> = self
            .protected_by
            .iter()
            .map(|d| {
                let names: Vec<&str> = d.objects.iter().map(|(_, l)| l.as_str()).collect();
                let more = if d.count > names.len() { ", ..." } else { "" };
                format!("{} ({}{more})", d.what, names.join(", "))
            })
            .collect();
        format!(
            "{} `{}` cannot be deleted: objects point at it: {}; delete or change them \
             first (or declare `#[minke(cascade)]` on their model)",
            self.model,
            self.label,
            by.join("; ")
        )
    }
}

impl Models {
    /// The models whose objects point at objects of `model` (`host_model` is the
    /// app's host model, which `host = field` points at).
    pub fn children_of(&self, model: &str, host_model: &str) -> Vec<&ModelEntry> {
        self.iter()
            .filter(|e| match e.meta.parent() {
                Some((_, References::Host)) => model == host_model,
                Some((_, References::Model(m))) => m == model,
                None => false,
            })
            .collect()
    }
}

/// The values as the audit log tells them: secret fields masked.
fn describe_values(meta: &ModelMeta, values: &FieldValues) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k}={}", shown(meta, k, v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn shown(meta: &ModelMeta, field: &str, v: &Value) -> String {
    match v {
        _ if meta.field(field).is_some_and(|f| f.type_name == "secret") => "***".into(),
        Value::Null => "empty".into(),
        Value::Text(t) => format!("{t:?}"),
        other => other.to_string(),
    }
}

/// What changed, field by field, as the audit log tells it.
fn describe_changes(meta: &ModelMeta, old: &dyn ModelObject, values: &FieldValues) -> String {
    values
        .iter()
        .filter_map(|(k, new)| {
            let before = old.field(k).unwrap_or(Value::Null);
            let same = match (&before, new) {
                (Value::Null, Value::Text(t)) => t.is_empty(),
                (a, b) => a == b,
            };
            (!same).then(|| format!("{k}: {} → {}", shown(meta, k, &before), shown(meta, k, new)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn target(meta: &ModelMeta, label: &str, id: i64) -> String {
    format!("{} {label} ({id})", meta.name)
}

fn load_one(
    entry: &ModelEntry,
    conn: &mut Conn,
    id: i64,
) -> minke_store::Result<Box<dyn ModelObject>> {
    entry
        .find(conn, id)?
        .ok_or_else(|| minke_store::Error::NotFound {
            model: entry.meta.name.to_owned(),
            id,
        })
}

/// Checks values before they are written: what the model says of each field
/// ([`minke_store::check_values`]) and that the objects they point at (the host or
/// parent) exist, a problem of the field rather than a database's foreign key error.
/// Every problem is told at once.
fn validate(
    models: &Models,
    host_model: &str,
    meta: &ModelMeta,
    conn: &mut Conn,
    values: &FieldValues,
    writing: minke_store::Writing,
) -> minke_store::Result<()> {
    let mut problems = match minke_store::check_values(meta, values, writing) {
        Ok(()) => Vec::new(),
        Err(minke_store::Error::Invalid { problems, .. }) => problems,
        Err(e) => return Err(e),
    };
    for f in meta.editable() {
        let (Some(r), Some(Value::Int(id))) = (f.references, values.get(f.name)) else {
            continue;
        };
        let model = match r {
            References::Host => host_model,
            References::Model(m) => m,
        };
        let Ok(entry) = models.get(model) else {
            continue;
        };
        if entry.count(conn, &Query::ids([*id]))? == 0 {
            problems.push(minke_store::FieldProblem::new(
                f.name,
                format!("points at {model} {id}, which does not exist"),
            ));
        }
    }
    minke_store::invalid_unless_empty(meta.name, problems)
}

/// Works out what deleting `id` of `entry` takes with it and what keeps it.
fn plan(
    models: &Models,
    host_model: &str,
    entry: &ModelEntry,
    conn: &mut Conn,
    id: i64,
) -> minke_store::Result<Deletion> {
    let object = load_one(entry, conn, id)?;
    let mut deletion = Deletion {
        model: entry.meta.name,
        id,
        label: object.label(),
        with: Vec::new(),
        protected_by: Vec::new(),
    };
    let mut frontier: Vec<(&'static str, Vec<i64>, usize)> = vec![(entry.meta.name, vec![id], 0)];
    while let Some((parent, ids, depth)) = frontier.pop() {
        if depth >= MAX_DEPTH {
            return Err(minke_store::Error::Core(minke_core::Error::Setup(format!(
                "models point at each other more than {MAX_DEPTH} deep below `{}`",
                entry.meta.name
            ))));
        }
        for child in models.children_of(parent, host_model) {
            let mut found = Dependents {
                model: child.meta.name,
                verbose_name: child.meta.verbose_name.clone(),
                count: 0,
                what: String::new(),
                objects: Vec::new(),
                ids: Vec::new(),
            };
            for chunk in ids.chunks(minke_store::IDS_PER_QUERY) {
                let q = Query {
                    parents: Some(chunk.to_vec()),
                    ..Query::default()
                };
                if child.meta.cascade {
                    for o in child.load(conn, &q)? {
                        if found.objects.len() < SHOWN_DEPENDENTS {
                            found.objects.push((o.id(), o.label()));
                        }
                        found.ids.push(o.id());
                    }
                    found.count = found.ids.len();
                } else {
                    found.count += usize::try_from(child.count(conn, &q)?).unwrap_or(0);
                    if found.objects.len() < SHOWN_DEPENDENTS {
                        let q = Query {
                            limit: Some((SHOWN_DEPENDENTS - found.objects.len()) as i64),
                            ..q
                        };
                        found
                            .objects
                            .extend(child.load(conn, &q)?.iter().map(|o| (o.id(), o.label())));
                    }
                }
            }
            if found.count == 0 {
                continue;
            }
            found.what = child.meta.counted(found.count);
            if child.meta.cascade {
                frontier.push((child.meta.name, found.ids.clone(), depth + 1));
                deletion.with.push(found);
            } else {
                deletion.protected_by.push(found);
            }
        }
    }
    Ok(deletion)
}

impl Engine {
    fn writable_model(&self, model: &str) -> Result<ModelEntry> {
        let entry = self.models().get(model)?.clone();
        if !entry.meta.writable {
            return Err(minke_store::Error::NotWritable {
                model: model.to_owned(),
            }
            .into());
        }
        Ok(entry)
    }

    /// A model whose objects may be deleted here: a writable one, or the host model
    /// (added and changed through its own pages).
    fn deletable_model(&self, model: &str) -> Result<ModelEntry> {
        let entry = self.models().get(model)?.clone();
        if !entry.meta.writable && entry.meta.name != self.host_source().model {
            return Err(minke_store::Error::NotWritable {
                model: model.to_owned(),
            }
            .into());
        }
        Ok(entry)
    }

    /// Adds an object of `model` with these values and returns its id; the audit
    /// entry is written in the same transaction. Bad values are
    /// [`minke_store::Error::Invalid`], naming each field's problem.
    pub async fn add_object(&self, model: &str, values: FieldValues, actor: &Actor) -> Result<i64> {
        let entry = self.writable_model(model)?;
        let actor = actor.clone();
        let (models, host_model) = (self.models().clone(), self.host_model());
        let id = self
            .store()
            .write(move |c| {
                validate(
                    &models,
                    host_model,
                    &entry.meta,
                    c,
                    &values,
                    minke_store::Writing::Add,
                )?;
                let id = entry.insert(c, &values)?;
                let label = load_one(&entry, c, id)?.label();
                minke_store::record_audit(
                    c,
                    &actor,
                    AuditAction::ObjectAdded,
                    &target(&entry.meta, &label, id),
                    &describe_values(&entry.meta, &values),
                )?;
                Ok(id)
            })
            .await?;
        Ok(id)
    }

    /// Writes the given values to object `id` of `model` (fields left out stay),
    /// audited in the same transaction with what changed.
    pub async fn change_object(
        &self,
        model: &str,
        id: i64,
        values: FieldValues,
        actor: &Actor,
    ) -> Result<()> {
        let entry = self.writable_model(model)?;
        let actor = actor.clone();
        let (models, host_model) = (self.models().clone(), self.host_model());
        self.store()
            .write(move |c| {
                let old = load_one(&entry, c, id)?;
                validate(
                    &models,
                    host_model,
                    &entry.meta,
                    c,
                    &values,
                    minke_store::Writing::Change,
                )?;
                entry.update(c, id, &values)?;
                let label = load_one(&entry, c, id)?.label();
                let changes = describe_changes(&entry.meta, old.as_ref(), &values);
                minke_store::record_audit(
                    c,
                    &actor,
                    AuditAction::ObjectChanged,
                    &target(&entry.meta, &label, id),
                    if changes.is_empty() {
                        "nothing changed"
                    } else {
                        &changes
                    },
                )
            })
            .await?;
        Ok(())
    }

    /// What deleting object `id` of `model` would take with it, and what keeps it.
    pub async fn deletion(&self, model: &str, id: i64) -> Result<Deletion> {
        let entry = self.deletable_model(model)?;
        let models = self.models().clone();
        let host_model = self.host_model();
        Ok(self
            .store()
            .blocking(move |c| plan(&models, host_model, &entry, c, id))
            .await?)
    }

    /// Deletes object `id` of `model` and the objects that go with it (decided again
    /// in the same transaction, with the audit entry); refused with
    /// [`Error::Protected`] while others point at it. Their history stays, under the
    /// labels they had.
    pub async fn delete_object(&self, model: &str, id: i64, actor: &Actor) -> Result<Deletion> {
        let entry = self.deletable_model(model)?;
        let models = self.models().clone();
        let host_model = self.host_model();
        let actor = actor.clone();
        let done = self
            .store()
            .write(move |c| {
                let d = plan(&models, host_model, &entry, c, id)?;
                if !d.allowed() {
                    return Ok(Err(d));
                }
                for dep in d.with.iter().rev() {
                    let e = models.get(dep.model).map_err(|e| {
                        minke_store::Error::Core(minke_core::Error::Setup(e.to_string()))
                    })?;
                    e.delete(c, &dep.ids)?;
                    minke_store::forget_last_sessions(c, dep.model, &dep.ids)?;
                }
                entry.delete(c, &[id])?;
                minke_store::forget_last_sessions(c, entry.meta.name, &[id])?;
                let with: Vec<String> = d.with.iter().map(|w| w.what.clone()).collect();
                minke_store::record_audit(
                    c,
                    &actor,
                    AuditAction::ObjectDeleted,
                    &target(&entry.meta, &d.label, id),
                    &if with.is_empty() {
                        String::new()
                    } else {
                        format!("with {}", with.join(", "))
                    },
                )?;
                Ok(Ok(d))
            })
            .await?;
        done.map_err(|d| Error::Protected(Box::new(d)))
    }
}
