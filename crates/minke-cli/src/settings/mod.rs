//! The settings of a command, in layers: built in, set by the app (`minke::App`),
//! from the config file (`minke.toml`), from the environment, from flags; each later
//! layer wins. Every value keeps where it came from, for `config` and for errors.

mod file;
mod value;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use minke_runtime::Config;

pub(crate) use file::Chosen;
use value::SettingValue;
pub(crate) use value::{BasePath, Count, DatabaseUrl, Dirs, Limit, Rate, Times};

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Minke's default.
    BuiltIn,
    /// The app's own code (`App::database`, `App::config`).
    App,
    /// The config file.
    File(PathBuf),
    /// This environment variable.
    Env(&'static str),
    /// This flag.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::BuiltIn => f.write_str("built-in"),
            Source::App => f.write_str("app"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(l) => write!(f, "flag {l}"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Sourced<T> {
    /// The value.
    pub(crate) value: T,
    /// Its layer.
    pub(crate) source: Source,
    /// The setting's names.
    pub(crate) key: &'static Key,
}

/// A setting's names: its key in the file, its environment variable, its flag.
#[derive(Debug)]
pub(crate) struct Key {
    /// The key in the file, like `run.concurrency`.
    pub(crate) name: &'static str,
    /// The environment variable, like `MINKE_CONCURRENCY`.
    pub(crate) env: &'static str,
    /// The flag, if there is one.
    pub(crate) flag: Option<&'static str>,
}

/// Declares the settings' names, once.
macro_rules! keys {
    ($($id:ident = $name:literal, $env:literal $(, $flag:literal)?;)*) => {
        $(const $id: &Key = &Key { name: $name, env: $env, flag: keys!(@flag $($flag)?) };)*
    };
    (@flag) => { None };
    (@flag $flag:literal) => { Some($flag) };
}

keys! {
    DATABASE = "database", "MINKE_DATABASE_URL", "--database";
    CONCURRENCY = "run.concurrency", "MINKE_CONCURRENCY", "--concurrency";
    COMMAND_TIMEOUT = "run.command_timeout", "MINKE_COMMAND_TIMEOUT", "--command-timeout";
    SESSION_TIMEOUT = "run.session_timeout", "MINKE_SESSION_TIMEOUT";
    CONNECT_TIMEOUT = "connect.timeout", "MINKE_CONNECT_TIMEOUT";
    CONNECT_CONCURRENCY = "connect.concurrency", "MINKE_CONNECT_CONCURRENCY";
    CONNECT_PER_SERVER = "connect.per_server", "MINKE_CONNECT_PER_SERVER";
    CONNECT_PER_JUMP = "connect.per_jump", "MINKE_CONNECT_PER_JUMP";
    CONNECT_RATE = "connect.rate", "MINKE_CONNECT_RATE";
    CONNECT_RETRIES = "connect.retries", "MINKE_CONNECT_RETRIES";
    ADMIN_LISTEN = "admin.listen", "MINKE_ADMIN_LISTEN", "--listen";
    ADMIN_BASE_PATH = "admin.base_path", "MINKE_ADMIN_BASE_PATH", "--base-path";
    SSH_DIRS = "ssh.dirs", "MINKE_SSH_DIRS", "--ssh-dir";
}

/// The values the command line gave (`None`: not given).
#[derive(Debug, Default)]
pub(crate) struct Flags {
    pub(crate) database: Option<String>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) command_timeout: Option<u64>,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) base_path: Option<String>,
    pub(crate) ssh_dirs: Vec<PathBuf>,
}

/// The effective settings.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The config file read, if any.
    pub(crate) file: Chosen,
    pub(crate) database: Sourced<DatabaseUrl>,
    pub(crate) concurrency: Sourced<Count>,
    pub(crate) command_timeout: Sourced<Limit>,
    pub(crate) session_timeout: Sourced<Limit>,
    pub(crate) connect_timeout: Sourced<Limit>,
    pub(crate) connect_concurrency: Sourced<Count>,
    pub(crate) connect_per_server: Sourced<Count>,
    pub(crate) connect_per_jump: Sourced<Count>,
    pub(crate) connect_rate: Sourced<Rate>,
    pub(crate) connect_retries: Sourced<Times>,
    pub(crate) admin_listen: Sourced<SocketAddr>,
    pub(crate) admin_base_path: Sourced<BasePath>,
    pub(crate) ssh_dirs: Sourced<Dirs>,
}

/// The database of an app that names none.
pub(crate) const DEFAULT_DATABASE: &str = "minke.db";
/// Where `serve` listens unless told otherwise.
pub(crate) const DEFAULT_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 8000);

/// The layers below the flags, to read one setting through.
struct Layers<'a> {
    file: Option<PathBuf>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Layers<'_> {
    /// The value of the highest layer that has one, checked.
    fn pick<T: SettingValue>(
        &self,
        key: &'static Key,
        built_in: T,
        app: Option<T>,
        file: Option<T>,
        flag: Option<T>,
    ) -> Result<Sourced<T>, String> {
        let mut s = Sourced {
            value: built_in,
            source: Source::BuiltIn,
            key,
        };
        if let Some(value) = app {
            s = Sourced {
                value,
                source: Source::App,
                key,
            };
        }
        if let (Some(value), Some(path)) = (file, &self.file) {
            s = Sourced {
                value,
                source: Source::File(path.clone()),
                key,
            };
        }
        if let Some(text) = (self.env)(key.env).filter(|t| !t.is_empty()) {
            let value = T::parse(&text).map_err(|e| format!("{}: {e}", key.env))?;
            s = Sourced {
                value,
                source: Source::Env(key.env),
                key,
            };
        }
        if let (Some(value), Some(flag)) = (flag, key.flag) {
            s = Sourced {
                value,
                source: Source::Flag(flag),
                key,
            };
        }
        s.value.check().map_err(|e| match &s.source {
            Source::Flag(f) => format!("{f} {e}"),
            Source::Env(v) => format!("{v} {e}"),
            Source::File(p) => format!("`{}` in {} {e}", key.name, p.display()),
            Source::App | Source::BuiltIn => format!("the app's `{}` {e}", key.name),
        })?;
        Ok(s)
    }
}

/// `Some(value)` when the app's value differs from Minke's default.
fn set_by_app<T: PartialEq>(app: T, default: T) -> Option<T> {
    (app != default).then_some(app)
}

impl Settings {
    /// Reads the layers: the app's `config` and `database`, the file `chosen`, the
    /// environment through `env`, and the flags.
    pub(crate) fn load(
        app: &Config,
        app_database: Option<&str>,
        chosen: Chosen,
        env: &dyn Fn(&str) -> Option<String>,
        flags: Flags,
    ) -> Result<Self, String> {
        let f = chosen.read()?;
        let layers = Layers {
            file: chosen.path().map(ToOwned::to_owned),
            env,
        };
        let d = Config::default();
        let limit = |d: std::time::Duration| Limit(d);
        Ok(Settings {
            database: layers.pick(
                DATABASE,
                DatabaseUrl(DEFAULT_DATABASE.into()),
                app_database.map(|u| DatabaseUrl(u.to_owned())),
                f.database,
                flags.database.map(DatabaseUrl),
            )?,
            concurrency: layers.pick(
                CONCURRENCY,
                Count(d.concurrency),
                set_by_app(Count(app.concurrency), Count(d.concurrency)),
                f.run.concurrency,
                flags.concurrency.map(Count),
            )?,
            command_timeout: layers.pick(
                COMMAND_TIMEOUT,
                limit(d.command_timeout),
                set_by_app(limit(app.command_timeout), limit(d.command_timeout)),
                f.run.command_timeout,
                flags
                    .command_timeout
                    .map(|s| limit(std::time::Duration::from_secs(s))),
            )?,
            session_timeout: layers.pick(
                SESSION_TIMEOUT,
                limit(d.session_timeout),
                set_by_app(limit(app.session_timeout), limit(d.session_timeout)),
                f.run.session_timeout,
                None,
            )?,
            connect_timeout: layers.pick(
                CONNECT_TIMEOUT,
                limit(d.connect.connect_timeout),
                set_by_app(
                    limit(app.connect.connect_timeout),
                    limit(d.connect.connect_timeout),
                ),
                f.connect.timeout,
                None,
            )?,
            connect_concurrency: layers.pick(
                CONNECT_CONCURRENCY,
                Count(d.connect_concurrency),
                set_by_app(Count(app.connect_concurrency), Count(d.connect_concurrency)),
                f.connect.concurrency,
                None,
            )?,
            connect_per_server: layers.pick(
                CONNECT_PER_SERVER,
                Count(d.connect_per_server),
                set_by_app(Count(app.connect_per_server), Count(d.connect_per_server)),
                f.connect.per_server,
                None,
            )?,
            connect_per_jump: layers.pick(
                CONNECT_PER_JUMP,
                Count(d.connect_per_jump),
                set_by_app(Count(app.connect_per_jump), Count(d.connect_per_jump)),
                f.connect.per_jump,
                None,
            )?,
            connect_rate: layers.pick(
                CONNECT_RATE,
                Rate(d.connect_rate),
                set_by_app(Rate(app.connect_rate), Rate(d.connect_rate)),
                f.connect.rate,
                None,
            )?,
            connect_retries: layers.pick(
                CONNECT_RETRIES,
                Times(d.connect_retries),
                set_by_app(Times(app.connect_retries), Times(d.connect_retries)),
                f.connect.retries,
                None,
            )?,
            admin_listen: layers.pick(
                ADMIN_LISTEN,
                SocketAddr::from(DEFAULT_LISTEN),
                None,
                f.admin.listen,
                flags.listen,
            )?,
            admin_base_path: layers.pick(
                ADMIN_BASE_PATH,
                BasePath(String::new()),
                None,
                f.admin.base_path,
                flags.base_path.map(BasePath),
            )?,
            ssh_dirs: layers.pick(
                SSH_DIRS,
                Dirs::default(),
                None,
                f.ssh.dirs,
                (!flags.ssh_dirs.is_empty()).then_some(Dirs(flags.ssh_dirs)),
            )?,
            file: chosen,
        })
    }

    /// Sets the engine's configuration from these settings.
    pub(crate) fn apply(&self, config: &mut Config) {
        config.concurrency = self.concurrency.value.0;
        config.command_timeout = self.command_timeout.value.0;
        config.session_timeout = self.session_timeout.value.0;
        config.connect.connect_timeout = self.connect_timeout.value.0;
        config.connect_concurrency = self.connect_concurrency.value.0;
        config.connect_per_server = self.connect_per_server.value.0;
        config.connect_per_jump = self.connect_per_jump.value.0;
        config.connect_rate = self.connect_rate.value.0;
        config.connect_retries = self.connect_retries.value.0;
    }

    /// Each setting as `config` lists it: key, value shown, source, variable.
    pub(crate) fn rows(&self) -> Vec<Row> {
        fn row<T: SettingValue>(s: &Sourced<T>) -> Row {
            Row {
                key: s.key.name,
                value: s.value.show(),
                source: s.source.to_string(),
                env: s.key.env,
            }
        }
        vec![
            row(&self.database),
            row(&self.concurrency),
            row(&self.command_timeout),
            row(&self.session_timeout),
            row(&self.connect_timeout),
            row(&self.connect_concurrency),
            row(&self.connect_per_server),
            row(&self.connect_per_jump),
            row(&self.connect_rate),
            row(&self.connect_retries),
            row(&self.admin_listen),
            row(&self.admin_base_path),
            row(&self.ssh_dirs),
        ]
    }
}

/// One line of `config`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Row {
    /// The key in the file, like `run.concurrency`.
    pub(crate) key: &'static str,
    /// The value, a password masked.
    pub(crate) value: String,
    /// Where it came from, like `file minke.toml`.
    pub(crate) source: String,
    /// The environment variable that sets it.
    pub(crate) env: &'static str,
}

#[cfg(test)]
mod tests;
