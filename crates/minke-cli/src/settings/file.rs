//! `minke.toml`: the settings file, as written. Every table and key is known; any
//! other is an error that names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::value::{BasePath, Count, DatabaseUrl, Dirs, Limit, Rate, Times};

/// The file's contents; a key left out keeps the value of the layers below.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsFile {
    /// `database = "fleet.db"`.
    pub(crate) database: Option<DatabaseUrl>,
    /// `[run]`.
    #[serde(default)]
    pub(crate) run: RunTable,
    /// `[connect]`.
    #[serde(default)]
    pub(crate) connect: ConnectTable,
    /// `[admin]`.
    #[serde(default)]
    pub(crate) admin: AdminTable,
    /// `[ssh]`.
    #[serde(default)]
    pub(crate) ssh: SshTable,
}

/// `[run]`: how sessions run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunTable {
    pub(crate) concurrency: Option<Count>,
    pub(crate) command_timeout: Option<Limit>,
    pub(crate) session_timeout: Option<Limit>,
}

/// `[connect]`: how connections are opened.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectTable {
    pub(crate) timeout: Option<Limit>,
    pub(crate) concurrency: Option<Count>,
    pub(crate) per_server: Option<Count>,
    pub(crate) per_jump: Option<Count>,
    pub(crate) rate: Option<Rate>,
    pub(crate) retries: Option<Times>,
}

/// `[admin]`: the web admin of `serve`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminTable {
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) base_path: Option<BasePath>,
}

/// `[ssh]`: where SSH files may lie.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SshTable {
    pub(crate) dirs: Option<Dirs>,
}

/// The file's name in the working directory, read when it is there.
pub(crate) const DEFAULT_NAME: &str = "minke.toml";

/// Which file, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Chosen {
    /// `--config PATH` or `MINKE_CONFIG`: it must exist.
    Named(PathBuf, &'static str),
    /// `minke.toml` in the working directory.
    WorkingDir(PathBuf),
    /// None is there.
    None,
}

impl Chosen {
    /// `--config`, else `MINKE_CONFIG` (unset or empty: none), else `./minke.toml`
    /// when there is one.
    pub(crate) fn pick(flag: Option<&Path>, env: Option<&std::ffi::OsStr>) -> Self {
        if let Some(p) = flag {
            return Chosen::Named(p.to_owned(), "--config");
        }
        if let Some(p) = env.filter(|p| !p.is_empty()) {
            return Chosen::Named(PathBuf::from(p), "MINKE_CONFIG");
        }
        let here = PathBuf::from(DEFAULT_NAME);
        if here.is_file() {
            Chosen::WorkingDir(here)
        } else {
            Chosen::None
        }
    }

    /// The path, if any.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Chosen::Named(p, _) | Chosen::WorkingDir(p) => Some(p),
            Chosen::None => None,
        }
    }

    /// Reads and checks the file: one named but missing, unreadable or not valid TOML
    /// of known keys is an error naming the file (and the key, line and column).
    pub(crate) fn read(&self) -> Result<SettingsFile, String> {
        let Some(path) = self.path() else {
            return Ok(SettingsFile::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| match self {
            Chosen::Named(_, by) if e.kind() == std::io::ErrorKind::NotFound => {
                format!(
                    "the config file {} (from {by}) does not exist",
                    path.display()
                )
            }
            _ => format!("cannot read the config file {}: {e}", path.display()),
        })?;
        parse(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }
}

/// The file's text read as settings.
pub(crate) fn parse(text: &str) -> Result<SettingsFile, String> {
    toml::from_str(text).map_err(|e| {
        // One paragraph: the message and where, without the source excerpt.
        let at = e.span().map(|s| line_col(text, s.start));
        let message = e.message().trim().to_owned();
        match at {
            Some((line, col)) => format!("line {line}, column {col}: {message}"),
            None => message,
        }
    })
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_file_reads() {
        let f = parse(
            r#"
database = "postgres://minke:pw@db/minke"
[run]
concurrency = 50
command_timeout = "5m"
session_timeout = 7200
[connect]
timeout = "20s"
concurrency = 16
per_server = 4
per_jump = 2
rate = 25.0
retries = 0
[admin]
listen = "0.0.0.0:9000"
base_path = "/minke"
[ssh]
dirs = ["/etc/minke/ssh"]
"#,
        )
        .unwrap();
        assert_eq!(f.run.concurrency, Some(Count(50)));
        assert_eq!(
            f.run.session_timeout.unwrap().0,
            std::time::Duration::from_secs(7200)
        );
        assert_eq!(f.connect.retries, Some(Times(0)));
        assert_eq!(f.admin.listen.unwrap().port(), 9000);
        assert_eq!(f.ssh.dirs.unwrap().0, vec![PathBuf::from("/etc/minke/ssh")]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = parse("[run]\nconcurency = 5\n").unwrap_err();
        assert!(e.contains("concurency") && e.contains("line 2"), "{e}");
        let e = parse("[runs]\nconcurrency = 5\n").unwrap_err();
        assert!(e.contains("runs"), "{e}");
        let e = parse("[run]\ncommand_timeout = \"soon\"\n").unwrap_err();
        assert!(e.contains("soon") && e.contains("line 2"), "{e}");
        let e = parse("[admin]\nlisten = \"here\"\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn a_named_file_must_exist() {
        let gone = Chosen::Named("/nonexistent/minke.toml".into(), "--config");
        let e = gone.read().unwrap_err();
        assert!(
            e.contains("/nonexistent/minke.toml") && e.contains("--config"),
            "{e}"
        );
        assert!(Chosen::None.read().is_ok());
    }
}
