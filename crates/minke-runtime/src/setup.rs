//! What an app registers before its engine is built: models, sessions, the host
//! model, its own migrations and the engine's configuration. The `App` of the
//! `minke` facade and the command line are built on it.

use minke_core::{Host, Registry, Session};
use minke_store::{AppMigration, HostRecord, OpenMode, Store, StoredModel};

use crate::{Config, Engine, HostSource, Models, Result};

/// An app's registrations and settings, checked and turned into an [`Engine`].
///
/// Registration errors (a name used twice) are kept and reported by
/// [`check`](Self::check), so that a builder chain never has to stop halfway.
///
/// ```no_run
/// # async fn demo() -> minke_runtime::Result<()> {
/// use minke_runtime::Setup;
/// use minke_store::OpenMode;
/// let engine = Setup::new().engine("minke.db", OpenMode::Migrate).await?;
/// # let _ = engine;
/// # Ok(()) }
/// ```
pub struct Setup {
    sessions: Registry,
    models: Models,
    hosts: HostSource,
    config: Config,
    migrations: Vec<AppMigration>,
    errors: Vec<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

impl Setup {
    /// Minke's own host table as the host model (registered as `host`), nothing else.
    pub fn new() -> Self {
        let mut setup = Setup {
            sessions: Registry::default(),
            models: Models::default(),
            hosts: HostSource::of::<HostRecord>(),
            config: Config::default(),
            migrations: Vec::new(),
            errors: Vec::new(),
        };
        setup.add_model::<HostRecord>();
        setup
    }

    /// Registers a model.
    pub fn add_model<T: StoredModel>(&mut self) {
        if let Err(e) = self.models.add::<T>() {
            self.errors.push(e.to_string());
        }
    }

    /// Registers a session.
    pub fn add_session<S: Session>(&mut self) {
        if let Err(e) = self.sessions.add::<S>() {
            self.errors.push(e.to_string());
        }
    }

    /// Uses another host model than Minke's own table (register it as a model too).
    pub fn set_hosts<T: StoredModel + Host>(&mut self) {
        self.hosts = HostSource::of::<T>();
    }

    /// Adds migrations of the app's own tables, applied in order after Minke's own.
    pub fn add_migrations(&mut self, migrations: &[AppMigration]) {
        self.migrations.extend_from_slice(migrations);
    }

    /// The engine's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine's configuration, to change.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The registered sessions.
    pub fn sessions(&self) -> &Registry {
        &self.sessions
    }

    /// Checks the registrations: no name twice, and every session's `work_on` names
    /// a registered model.
    pub fn check(&self) -> std::result::Result<(), String> {
        let mut errors = self.errors.clone();
        for s in self.sessions.iter() {
            for m in &s.meta.work_on {
                if self.models.get(m).is_err() {
                    errors.push(format!(
                        "session `{}` works on model `{m}`, which is not registered",
                        s.meta.name
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Checks the registrations, opens the database as `mode` allows and builds
    /// the engine.
    pub async fn engine(self, url: &str, mode: OpenMode) -> Result<Engine> {
        self.check()
            .map_err(|e| crate::Error::Core(minke_core::Error::Setup(e)))?;
        let store = Store::open_as(url, &self.migrations, mode).await?;
        if mode == OpenMode::Migrate && !store.url().is_memory() {
            let tables: Vec<_> = self
                .models
                .iter()
                .map(|m| (m.meta.name, m.meta.table, m.meta.id))
                .collect();
            store
                .write(move |c| {
                    for (model, table, id) in tables {
                        minke_store::keep_last_sessions_exact(c, model, table, id)?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(Engine::new(
            store,
            self.sessions,
            self.models,
            self.hosts,
            self.config,
        ))
    }
}
