//! A user's binary as the command line sees it.

use std::process::ExitCode;

use minke_runtime::Setup;

/// A program with Minke's command set: the app's registrations, its name (for
/// messages) and the database it uses when neither `--database` nor
/// `MINKE_DATABASE_URL` says otherwise. Apps build it through `minke::App`.
///
/// ```no_run
/// let setup = minke_runtime::Setup::new();
/// let code = minke_cli::Program::new(setup, "fleet", None).main();
/// # let _ = code;
/// ```
pub struct Program {
    pub(crate) setup: Setup,
    pub(crate) name: String,
    pub(crate) database: Option<String>,
    pub(crate) version: Option<String>,
}

impl Program {
    /// A program named `name` (as in `NAME: error: ...`), with a default database.
    pub fn new(setup: Setup, name: impl Into<String>, database: Option<String>) -> Self {
        Program {
            setup,
            name: name.into(),
            database,
            version: None,
        }
    }

    /// The app's version, printed by `--version` beside Minke's.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// What `--version` prints after the name: `1.4.0 (Minke 0.1.0)`, or `(Minke
    /// 0.1.0)` for an app that gives no version.
    pub(crate) fn version_line(&self) -> String {
        let minke = format!("(Minke {})", env!("CARGO_PKG_VERSION"));
        match &self.version {
            Some(v) => format!("{v} {minke}"),
            None => minke,
        }
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
