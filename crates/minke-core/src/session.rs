//! Sessions: units of remote work for one object.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use crate::{Context, Error, FieldType, Result};

/// A typed parameter of a session, from one field of its struct.
#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    /// The field's name, as in `--param name=value`.
    pub name: &'static str,
    /// `text`, `integer`, `boolean`, `number` or `secret`.
    pub type_name: &'static str,
    /// Help text (the field's doc comment unless set).
    pub help: String,
    /// The default, as text.
    pub default: Option<String>,
    /// True when it must be given (no default and not an `Option`).
    pub required: bool,
    /// True for [`Secret`](crate::Secret) fields: redacted everywhere.
    pub secret: bool,
    /// True for text that spans lines (a command, a script).
    pub multiline: bool,
}

/// What `#[derive(Session)]` knows about a session.
#[derive(Clone, Debug, Serialize)]
pub struct SessionMeta {
    /// Unique name (snake_case type name unless set), as in `run NAME`.
    pub name: &'static str,
    /// Human name (the doc comment's first line unless set).
    pub verbose_name: String,
    /// The rest of the doc comment.
    pub help: String,
    /// Group shown in session selects.
    pub group: Option<String>,
    /// Names of the models it works on.
    pub work_on: Vec<&'static str>,
    /// Permissions needed, `run_<name>` always among them.
    pub permissions: Vec<String>,
    /// Ask before running.
    pub confirm: bool,
    /// Sessions on one host may run at the same time.
    pub parallel_per_host: bool,
    /// Time limit for one session (the runtime's default if `None`).
    pub timeout: Option<Duration>,
    /// The typed parameters.
    pub params: Vec<ParamSpec>,
}

impl SessionMeta {
    /// True when it works on the model of that name.
    pub fn works_on(&self, model: &str) -> bool {
        self.work_on.contains(&model)
    }
}

/// Parameter values as text, by name: what the CLI's `--param` and the admin's form give.
///
/// ```
/// use minke_core::Params;
/// let p = Params::from_pairs([("count", "3")]);
/// assert_eq!(p.value::<u32>("count", None).unwrap(), 3);
/// assert_eq!(p.value::<u32>("other", Some("7")).unwrap(), 7);
/// assert!(p.value::<u32>("missing", None).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Params::default()
    }

    /// Parameters from name/value pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Reads `name=value` (as given to `--param`).
    ///
    /// ```
    /// let mut p = minke_core::Params::new();
    /// p.insert_pair("cmd=uname -a").unwrap();
    /// assert_eq!(p.get("cmd"), Some("uname -a"));
    /// assert!(p.insert_pair("novalue").is_err());
    /// // A name given twice is an error, not a silent choice of one value.
    /// assert!(p.insert_pair("cmd=hostname").is_err());
    /// ```
    pub fn insert_pair(&mut self, pair: &str) -> Result<()> {
        let (k, v) = pair.split_once('=').ok_or_else(|| Error::Param {
            name: pair.to_owned(),
            problem: "expected NAME=VALUE".into(),
        })?;
        let name = k.trim();
        if self.0.contains_key(name) {
            return Err(Error::Param {
                name: name.to_owned(),
                problem: "is given more than once".into(),
            });
        }
        self.0.insert(name.to_owned(), v.to_owned());
        Ok(())
    }

    /// Sets a value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The raw text of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// All values by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A parameter parsed as `T`, else its default, else `None` for `Option`, else an error.
    pub fn value<T: FieldType>(&self, name: &str, default: Option<&str>) -> Result<T> {
        let problem = |e: Error| Error::Param {
            name: name.to_owned(),
            problem: e.to_string(),
        };
        match self.get(name).or(default) {
            Some(text) => T::parse(text).map_err(problem),
            None if T::OPTIONAL => T::from_value(crate::Value::Null).map_err(problem),
            None => Err(Error::Param {
                name: name.to_owned(),
                problem: "is required".into(),
            }),
        }
    }

    /// Checks the values against a session's parameters: unknown names, missing
    /// required ones and values of the wrong type are errors.
    pub fn check(&self, meta: &SessionMeta) -> Result<()> {
        for name in self.0.keys() {
            if !meta.params.iter().any(|p| p.name == name) {
                let known: Vec<&str> = meta.params.iter().map(|p| p.name).collect();
                return Err(Error::Param {
                    name: name.clone(),
                    problem: format!(
                        "session `{}` has no such parameter (it takes: {})",
                        meta.name,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                });
            }
        }
        for p in &meta.params {
            if p.required && self.get(p.name).is_none() && p.default.is_none() {
                return Err(Error::Param {
                    name: p.name.to_owned(),
                    problem: "is required".into(),
                });
            }
        }
        Ok(())
    }

    /// A copy with the secret parameters replaced by `***`, for history and logs.
    pub fn redacted(&self, meta: &SessionMeta) -> Params {
        let mut out = self.clone();
        for p in meta.params.iter().filter(|p| p.secret) {
            if let Some(v) = out.0.get_mut(p.name) {
                *v = "***".into();
            }
        }
        out
    }
}

/// The derived half of a session: metadata and construction from parameters.
///
/// Implemented by `#[derive(Session)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Minke session",
    note = "add `#[derive(Session)]` to `{Self}`"
)]
pub trait SessionInfo: Sized {
    /// Everything known about the session.
    fn meta() -> SessionMeta;
    /// Builds the session from its parameters, parsing each field.
    fn from_params(params: &Params) -> Result<Self>;
}

/// A unit of remote work for one object.
///
/// Derive [`SessionInfo`] with `#[derive(Session)]` and write `process` by hand, or let
/// the derive write it too for the ready-made kinds (`command`, `commands`, `chain`).
///
/// ```
/// use minke_core::{Context, Result, Session};
/// # use minke_core::{SessionInfo, SessionMeta, Params};
/// # struct Uptime;
/// # impl SessionInfo for Uptime {
/// #     fn meta() -> SessionMeta { unimplemented!() }
/// #     fn from_params(_: &Params) -> Result<Self> { Ok(Uptime) }
/// # }
/// impl Session for Uptime {
///     async fn process(&self, cx: &mut Context) -> Result<()> {
///         cx.update_field("uptime", "uptime -p", None).await?;
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a runnable Minke session",
    note = "write `impl Session for {Self} {{ async fn process(&self, cx: &mut Context) -> Result<()> {{ ... }} }}`, or give `#[minke(...)]` a kind: `command`, `commands(...)` or `chain(...)`"
)]
pub trait Session: SessionInfo + Send + Sync + 'static {
    /// Does the work, through the context.
    fn process(&self, cx: &mut Context) -> impl Future<Output = Result<()>> + Send;
}

/// A boxed future, as dynamic sessions return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A session without its type, as the registry holds it.
pub trait DynSession: Send + Sync {
    /// Runs `process`.
    fn process_dyn<'a>(&'a self, cx: &'a mut Context) -> BoxFuture<'a, Result<()>>;
}

impl<S: Session> DynSession for S {
    fn process_dyn<'a>(&'a self, cx: &'a mut Context) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.process(cx))
    }
}
