//! Minke models: the objects sessions work on.

use std::any::Any;

use serde::Serialize;

use crate::{Result, Value};

/// What the admin and the CLI know about one field of a model.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FieldMeta {
    /// The field's name.
    pub name: &'static str,
    /// `text`, `integer`, `boolean`, `number` or `secret`.
    pub type_name: &'static str,
    /// True for text fields (`~` and `--search` apply).
    pub is_text: bool,
    /// True for `Option` fields.
    pub optional: bool,
    /// The only values forms and the API accept (`#[minke(choices("web", "db"))]`);
    /// empty when any value of the type is fine.
    pub choices: Vec<&'static str>,
    /// Shown, never written by forms or the API (`#[minke(read_only)]`); sessions
    /// may still set it.
    pub read_only: bool,
    /// What the field's value is the id of: the host or the parent model the model
    /// reaches its host through.
    pub references: Option<References>,
    /// The first line of the field's doc comment, shown as help beside form fields.
    pub help: &'static str,
}

/// What a field holding an id points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum References {
    /// A host of the app's host model (`#[minke(host = host_id)]`).
    Host,
    /// An object of the named model (`#[minke(host(via = server_id, model = Server))]`).
    Model(&'static str),
}

/// What the admin and the CLI know about a model: produced by `#[derive(MinkeModel)]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelMeta {
    /// The model's name (snake_case type name unless set), used on the command line.
    pub name: &'static str,
    /// Human name, like `web application`.
    pub verbose_name: String,
    /// Human name of several, like `web applications` (`verbose_name_plural = "..."`,
    /// else [`plural_of`] the singular).
    pub verbose_name_plural: String,
    /// Every field that can be read by name.
    pub fields: Vec<FieldMeta>,
    /// The field that holds the object's id (its key).
    pub id: &'static str,
    /// The table's name as its diesel schema names it.
    pub table: &'static str,
    /// The field shown as the object's label.
    pub label: &'static str,
    /// The fields listed in tables, in order.
    pub list: Vec<&'static str>,
    /// The text fields `--search` looks in.
    pub search: Vec<&'static str>,
    /// The fields `--filter` accepts.
    pub filter: Vec<&'static str>,
    /// True when objects may be added, changed and deleted through the admin and
    /// the API (false for `#[minke(read_only)]` models).
    pub writable: bool,
    /// True when the model's objects are deleted with the object they point at
    /// (`#[minke(cascade)]`); otherwise they protect it from deletion.
    pub cascade: bool,
    /// The SQLite FTS5 trigram table searches look in (`#[minke(search_index = ...)]`).
    pub search_index: Option<&'static str>,
}

/// The plural of an English noun phrase by the common rules (its last word:
/// `-s`, `-x`, `-z`, `-ch`, `-sh` take `-es`; a consonant and `-y` become `-ies`);
/// models whose name goes otherwise set `verbose_name_plural`.
///
/// ```
/// use minke_core::plural_of;
/// assert_eq!(plural_of("web application"), "web applications");
/// assert_eq!(plural_of("box"), "boxes");
/// assert_eq!(plural_of("proxy"), "proxies");
/// assert_eq!(plural_of("gateway"), "gateways");
/// ```
pub fn plural_of(noun: &str) -> String {
    let lower = noun.to_ascii_lowercase();
    let consonant_y = lower.ends_with('y')
        && lower
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| c.is_ascii_alphabetic() && !"aeiou".contains(c));
    if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

impl ModelMeta {
    /// A count with the model's name: `1 server`, `3 servers`.
    pub fn counted(&self, n: usize) -> String {
        if n == 1 {
            format!("1 {}", self.verbose_name)
        } else if self.verbose_name_plural.is_empty() {
            format!("{n} {}", plural_of(&self.verbose_name))
        } else {
            format!("{n} {}", self.verbose_name_plural)
        }
    }

    /// The field of that name.
    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields forms and the API write: all but the id and read-only ones.
    pub fn editable(&self) -> impl Iterator<Item = &FieldMeta> {
        self.fields
            .iter()
            .filter(|f| f.name != self.id && !f.read_only)
    }

    /// The field pointing at the host or parent, with what it points at.
    pub fn parent(&self) -> Option<(&FieldMeta, References)> {
        self.fields
            .iter()
            .find_map(|f| f.references.map(|r| (f, r)))
    }

    /// Takes secret fields out of `search` and `filter`: a filter like
    /// `token = guess` would tell whether a guess is right. `#[derive(MinkeModel)]`
    /// calls it.
    ///
    /// ```
    /// use minke_core::{FieldMeta, ModelMeta};
    /// let field = |name, type_name| FieldMeta { name, type_name, is_text: true, ..FieldMeta::default() };
    /// let meta = ModelMeta {
    ///     name: "vault",
    ///     verbose_name: "vault".into(),
    ///     fields: vec![field("id", "integer"), field("name", "text"), field("token", "secret")],
    ///     id: "id",
    ///     table: "vaults",
    ///     label: "name",
    ///     list: vec!["name", "token"],
    ///     search: vec!["name", "token"],
    ///     filter: vec!["name", "token"],
    ///     ..ModelMeta::default()
    /// }
    /// .without_secrets();
    /// assert_eq!((meta.search, meta.filter), (vec!["name"], vec!["name"]));
    /// assert_eq!(meta.list, ["name", "token"]); // listed, shown as ***
    /// ```
    pub fn without_secrets(mut self) -> Self {
        let secret: Vec<&'static str> = self
            .fields
            .iter()
            .filter(|f| f.type_name == "secret")
            .map(|f| f.name)
            .collect();
        self.search.retain(|n| !secret.contains(n));
        self.filter.retain(|n| !secret.contains(n));
        self
    }
}

/// An object that sessions work on: implemented by `#[derive(MinkeModel)]`.
///
/// Each object reaches exactly one host, directly or through other models; how it is
/// loaded and saved is the store's part (`minke_store::StoredModel`, also derived).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Minke model",
    label = "not a Minke model",
    note = "add `#[derive(MinkeModel)]` to `{Self}` (or use `minke::HostRecord` for hosts)"
)]
pub trait MinkeModel: Clone + Send + Sync + 'static {
    /// The model's name, as on the command line (`server`).
    const NAME: &'static str;
    /// Everything known about the model's fields.
    fn meta() -> ModelMeta;
    /// The primary key.
    fn id(&self) -> i64;
    /// The object's label: its name for people.
    fn label(&self) -> String;
    /// A field's value by name; `None` for unknown names.
    fn field(&self, name: &str) -> Option<Value>;
    /// Sets a field by name.
    fn set_field(&mut self, name: &str, value: Value) -> Result<()>;
}

/// A model object without its type: what a session's [`Context`](crate::Context) holds.
pub trait ModelObject: Any + Send + Sync {
    /// The model's name.
    fn model_name(&self) -> &'static str;
    /// The primary key.
    fn id(&self) -> i64;
    /// The label.
    fn label(&self) -> String;
    /// A field by name.
    fn field(&self, name: &str) -> Option<Value>;
    /// Sets a field by name.
    fn set_field(&mut self, name: &str, value: Value) -> Result<()>;
    /// The names of all fields.
    fn field_names(&self) -> Vec<&'static str>;
    /// A copy in a box.
    fn clone_object(&self) -> Box<dyn ModelObject>;
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: MinkeModel> ModelObject for T {
    fn model_name(&self) -> &'static str {
        T::NAME
    }
    fn id(&self) -> i64 {
        MinkeModel::id(self)
    }
    fn label(&self) -> String {
        MinkeModel::label(self)
    }
    fn field(&self, name: &str) -> Option<Value> {
        MinkeModel::field(self, name)
    }
    fn set_field(&mut self, name: &str, value: Value) -> Result<()> {
        MinkeModel::set_field(self, name, value)
    }
    fn field_names(&self) -> Vec<&'static str> {
        T::meta().fields.iter().map(|f| f.name).collect()
    }
    fn clone_object(&self) -> Box<dyn ModelObject> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
