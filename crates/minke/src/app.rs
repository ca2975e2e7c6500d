//! The `App` builder: what a user's binary declares, then runs as a command line, or
//! uses as a library.

#[cfg(feature = "cli")]
use std::process::ExitCode;

use minke_core::{Host, Session};
use minke_runtime::{Config, Engine, Setup};
use minke_store::{AppMigration, OpenMode, StoredModel};

/// A Minke app: its models, sessions, host model and settings.
///
/// As a program, [`main`](Self::main) gives it Minke's whole command line (`run`,
/// `history`, `show`, `serve`, ...). As a library, [`engine`](Self::engine) opens its
/// database and gives the [`Engine`] that starts, stops and reads runs.
///
/// ```no_run
/// use minke::{App, HostRecord};
///
/// fn main() -> std::process::ExitCode {
///     App::new().model::<HostRecord>().main()
/// }
/// ```
///
/// ```no_run
/// use minke::prelude::*;
/// use minke::runtime::RunRequest;
/// use minke::{App, Params, Query};
///
/// /// Show the load
/// #[derive(Session)]
/// #[minke(work_on(HostRecord), command = "uptime")]
/// pub struct Load;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = App::new().session::<Load>().engine("minke.db").await?;
/// let handle = engine
///     .start(RunRequest {
///         session: "load".into(),
///         model: "host".into(),
///         query: Query::all(),
///         params: Params::new(),
///         username: "ops".into(),
///     })
///     .await?;
/// let summary = handle.wait().await?;
/// let detail = engine.run_detail(summary.run_id).await?;
/// for s in &detail.sessions {
///     println!("{}: {:?}", s.session.object_label, s.session.state);
/// }
/// # Ok(()) }
/// ```
pub struct App {
    setup: Setup,
    database: Option<String>,
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    name: String,
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    version: Option<String>,
}

/// An [`App`] with the calling crate's package version (`CARGO_PKG_VERSION`), which
/// `--version` prints beside Minke's: `App::new().version(env!("CARGO_PKG_VERSION"))`.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     minke::app!().model::<minke::HostRecord>().main()
/// }
/// ```
#[macro_export]
macro_rules! app {
    () => {
        $crate::App::new().version(::core::env!("CARGO_PKG_VERSION"))
    };
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with Minke's own host table as its host model (registered as `host`).
    pub fn new() -> Self {
        App {
            setup: Setup::new(),
            database: None,
            name: executable_name(),
            version: None,
        }
    }

    /// The app's version, which `--version` prints beside Minke's (`fleet 1.4.0
    /// (Minke 0.1.0)`); [`app!`](crate::app) sets the calling crate's package version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The database URL when neither `--database`, `MINKE_DATABASE_URL` nor the
    /// config file (`database` in `minke.toml`) gives one (default `minke.db` in the
    /// current directory).
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    /// Registers a model.
    pub fn model<T: StoredModel>(mut self) -> Self {
        self.setup.add_model::<T>();
        self
    }

    /// Registers a session.
    pub fn session<S: Session>(mut self) -> Self {
        self.setup.add_session::<S>();
        self
    }

    /// Uses another host model than Minke's own table (register it with
    /// [`model`](Self::model) too, to run sessions on hosts).
    pub fn hosts<T: StoredModel + Host>(mut self) -> Self {
        self.setup.set_hosts::<T>();
        self
    }

    /// Adds migrations of the app's own tables, applied in order after Minke's own
    /// whenever the database is opened to start work.
    pub fn migrations(mut self, migrations: &[AppMigration]) -> Self {
        self.setup.add_migrations(migrations);
        self
    }

    /// Sets the engine's limits and timeouts: the app's defaults, which the config
    /// file (`minke.toml`), the environment and flags override for the settings they
    /// name (concurrency, timeouts, connect limits; `fleet config` lists them).
    pub fn config(mut self, config: Config) -> Self {
        *self.setup.config_mut() = config;
        self
    }

    /// Checks the registrations: every session's `work_on` names a registered model,
    /// no name is registered twice.
    pub fn check(&self) -> Result<(), String> {
        self.setup.check()
    }

    /// Opens the database at `url`, creating and migrating it when needed, and
    /// builds the engine: for programs that start and read runs without the
    /// command line.
    pub async fn engine(self, url: &str) -> minke_runtime::Result<Engine> {
        self.setup.engine(url, OpenMode::Migrate).await
    }

    /// Parses the process's arguments and runs the command; returns the exit code.
    #[cfg(feature = "cli")]
    pub fn main(self) -> ExitCode {
        self.main_from(std::env::args_os())
    }

    /// Like [`main`](Self::main) with given arguments (the first is the program name).
    #[cfg(feature = "cli")]
    pub fn main_from<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut program = minke_cli::Program::new(self.setup, self.name, self.database);
        if let Some(v) = self.version {
            program = program.version(v);
        }
        program.main_from(args)
    }
}

/// The name the program was started as (its file name), `minke` when unknown: what
/// its help and messages call it.
fn executable_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "minke".into())
}
