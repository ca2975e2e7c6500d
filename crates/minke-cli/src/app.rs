//! The `App` builder: what a user's binary declares, then runs.

use std::process::ExitCode;

use minke_core::{Host, Registry, Session};
use minke_runtime::{Config, Engine, HostSource, Models};
use minke_store::{AppMigration, HostRecord, OpenMode, Store, StoredModel};

/// A Minke app: its models, sessions, host model and settings.
///
/// ```no_run
/// # use minke_cli::App;
/// # use minke_store::HostRecord;
/// fn main() -> std::process::ExitCode {
///     App::new().model::<HostRecord>().main()
/// }
/// ```
pub struct App {
    pub(crate) database: Option<String>,
    pub(crate) sessions: Registry,
    pub(crate) models: Models,
    pub(crate) hosts: HostSource,
    pub(crate) config: Config,
    pub(crate) errors: Vec<String>,
    pub(crate) name: String,
    pub(crate) migrations: Vec<AppMigration>,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with Minke's own host table as its host model (registered as `host`).
    pub fn new() -> Self {
        let mut models = Models::default();
        let mut errors = Vec::new();
        if let Err(e) = models.add::<HostRecord>() {
            errors.push(e.to_string());
        }
        App {
            database: None,
            sessions: Registry::default(),
            models,
            hosts: HostSource::of::<HostRecord>(),
            config: Config::default(),
            errors,
            migrations: Vec::new(),
            name: std::env::args().next().map_or_else(
                || "minke".into(),
                |a| {
                    std::path::Path::new(&a)
                        .file_name()
                        .map_or(a.clone(), |f| f.to_string_lossy().into_owned())
                },
            ),
        }
    }

    /// The database URL when neither `--database` nor `MINKE_DATABASE_URL` is given
    /// (default `minke.db` in the current directory).
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    /// Registers a model.
    pub fn model<T: StoredModel>(mut self) -> Self {
        if let Err(e) = self.models.add::<T>() {
            self.errors.push(e.to_string());
        }
        self
    }

    /// Registers a session.
    pub fn session<S: Session>(mut self) -> Self {
        if let Err(e) = self.sessions.add::<S>() {
            self.errors.push(e.to_string());
        }
        self
    }

    /// Uses another host model than Minke's own table (register it with
    /// [`model`](Self::model) too, to run sessions on hosts).
    pub fn hosts<T: StoredModel + Host>(mut self) -> Self {
        self.hosts = HostSource::of::<T>();
        self
    }

    /// Adds migrations of the app's own tables, applied in order after Minke's own
    /// whenever the database is opened.
    pub fn migrations(mut self, migrations: &[AppMigration]) -> Self {
        self.migrations.extend_from_slice(migrations);
        self
    }

    /// Sets the engine's limits and timeouts.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Checks the registrations: every session's `work_on` names a registered model.
    pub fn check(&self) -> Result<(), String> {
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

    /// Opens the database (creating it when missing and running migrations) and
    /// builds the engine.
    pub async fn engine(self, url: &str) -> Result<Engine, crate::CliError> {
        self.engine_as(url, OpenMode::Migrate).await
    }

    /// Opens the database as `mode` allows and builds the engine. A database URL
    /// that cannot be used, a missing file or a database that is not Minke's (for a
    /// command that only reads) is a usage error.
    pub async fn engine_as(self, url: &str, mode: OpenMode) -> Result<Engine, crate::CliError> {
        use minke_store::Error as E;
        self.check().map_err(crate::CliError::Setup)?;
        let store = Store::open_as(url, &self.migrations, mode)
            .await
            .map_err(|e| match e {
                E::Url(_) | E::InvalidUrl { .. } | E::Missing { .. } | E::NotMinke { .. } => {
                    crate::CliError::Usage(e.to_string())
                }
                other => crate::CliError::Database(other),
            })?;
        Ok(Engine::new(
            store,
            self.sessions,
            self.models,
            self.hosts,
            self.config,
        ))
    }

    /// Parses the process's arguments and runs the command; returns the exit code.
    pub fn main(self) -> ExitCode {
        self.main_from(std::env::args_os())
    }

    /// Like [`main`](Self::main) with given arguments (the first is the program name).
    pub fn main_from<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        crate::cli::main(self, args)
    }
}
