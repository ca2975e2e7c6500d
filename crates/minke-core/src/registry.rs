//! The sessions an app knows, by name.

use crate::{DynSession, Error, Params, Result, Session, SessionMeta};

/// A registered session: its metadata and how to build it from parameters.
pub struct SessionEntry {
    /// Everything known about the session.
    pub meta: SessionMeta,
    make: fn(&Params) -> Result<Box<dyn DynSession>>,
}

impl SessionEntry {
    /// The entry for session type `S`.
    pub fn of<S: Session>() -> Self {
        SessionEntry {
            meta: S::meta(),
            make: |p| Ok(Box::new(S::from_params(p)?)),
        }
    }

    /// Checks the parameters and builds the session.
    pub fn instantiate(&self, params: &Params) -> Result<Box<dyn DynSession>> {
        params.check(&self.meta)?;
        (self.make)(params)
    }
}

impl std::fmt::Debug for SessionEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEntry")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// The sessions of an app, in registration order; names are unique.
///
/// ```
/// use minke_core::Registry;
/// let r = Registry::default();
/// let err = r.get("nope").unwrap_err().to_string();
/// assert!(err.contains("unknown session `nope`"), "{err}");
/// ```
#[derive(Debug, Default)]
pub struct Registry {
    sessions: Vec<SessionEntry>,
}

impl Registry {
    /// Registers session `S`; a second session of the same name is an error.
    pub fn add<S: Session>(&mut self) -> Result<()> {
        self.add_entry(SessionEntry::of::<S>())
    }

    /// Registers an entry; a second session of the same name is an error.
    pub fn add_entry(&mut self, entry: SessionEntry) -> Result<()> {
        if self.sessions.iter().any(|s| s.meta.name == entry.meta.name) {
            return Err(Error::Setup(format!(
                "a session named `{}` is registered twice",
                entry.meta.name
            )));
        }
        self.sessions.push(entry);
        Ok(())
    }

    /// The session of that name, or an error listing the known names.
    pub fn get(&self, name: &str) -> Result<&SessionEntry> {
        self.sessions
            .iter()
            .find(|s| s.meta.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.sessions.iter().map(|s| s.meta.name).collect();
                Error::Setup(format!(
                    "unknown session `{name}` (known: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }

    /// All sessions, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &SessionEntry> {
        self.sessions.iter()
    }
}
