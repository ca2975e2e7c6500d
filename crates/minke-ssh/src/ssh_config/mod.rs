//! Reading an OpenSSH client configuration the way `ssh -G ALIAS` does (OpenSSH 9.2,
//! Debian's build), to import hosts from it.
//!
//! ```
//! use minke_ssh::ssh_config::{Config, Local};
//!
//! let text = r#"
//! Host web1 web2
//!     HostName %h.example.org
//!     IdentityFile ~/.ssh/deploy
//! Host db
//!     HostName 10.0.0.5
//!     ProxyJump ops@bastion:2222
//! Match user root
//!     ServerAliveInterval 30
//! Host *
//!     User deploy
//!     IdentityFile ~/.ssh/id_ed25519
//! "#;
//! let local = Local::new("me", "/home/me", "laptop");
//! let config = Config::parse(text, "config", &local)?;
//! assert_eq!(config.aliases(), ["web1", "web2", "db"]);
//!
//! let web1 = config.resolve("web1")?;
//! assert_eq!(web1.hostname, "web1.example.org");
//! assert_eq!(web1.user, "deploy");
//! assert_eq!(web1.identity_files, ["/home/me/.ssh/deploy", "/home/me/.ssh/id_ed25519"]);
//!
//! let db = config.resolve("db")?;
//! assert_eq!(db.proxy_jump.as_deref(), Some("ops@bastion:2222"));
//! assert_eq!(db.server_alive_interval, 0); // the user so far is `me`, not root
//! # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
//! ```
//!
//! # What is reproduced
//!
//! - Lines: `Key value`, `Key=value`, `Key = "quoted value"`, keywords in any case,
//!   comments, OpenSSH's quoting and escapes; `ProxyCommand` takes the rest of its
//!   line as written.
//! - The first value obtained for an option wins; `IdentityFile` and
//!   `CertificateFile` accumulate (each file once, at most 100); the first `SetEnv`
//!   line that applies gives all the variables; a `ProxyJump` prevents a later
//!   `ProxyCommand` and the other way round.
//! - `Host` patterns (`*`, `?`, `!` excludes), `Match` with `all`, `host`,
//!   `originalhost`, `user`, `localuser` (pattern-lists), `canonical`, `final` and `!`;
//!   a second reading of the files when a `Match` has `final` or
//!   `CanonicalizeHostname` is on, matching `Host` lines against the final host name.
//! - `Include` with globs, `~`, paths relative to `~/.ssh`, nested at most 16 deep,
//!   inside `Host`/`Match` blocks (then conditional); a loop is an error naming the
//!   chain.
//! - Tokens (`%h %p %r %u %n %d %i %k %l %L %C %%`) and `${VAR}` where OpenSSH expands
//!   them (`HostName`: `%h %%`; `ProxyCommand`/`ProxyJump`: `%h %n %p %r %%`; file
//!   names: all of them), `~` and `~user`.
//! - The final host name: lowercased unless it is an address, numeric addresses
//!   canonical (`127.1` is `127.0.0.1`).
//! - Bad values of the options Minke reads are errors naming file and line, in
//!   every block (applying or not), as `ssh` refuses them.
//!
//! # What is not
//!
//! - `Match exec` is not run: a `Match` line with `exec` never applies, and
//!   [`Config::warnings`] says so ([`resolve_with_ssh`] asks `ssh`, which runs it).
//! - Host names are not canonicalized through DNS (`CanonicalDomains`); a warning
//!   says when a config asks for it.
//! - Options Minke does not use are not checked (OpenSSH would refuse, say,
//!   `Compression maybe`); they are listed in [`Config::warnings`]. Keywords
//!   OpenSSH 9.2 does not know are warnings, not errors (`ssh` refuses them unless
//!   `IgnoreUnknown` names them), so a config written for a newer `ssh` imports.
//! - File permissions are not checked (`ssh` refuses a config others can write).
//! - `ForwardAgent no` followed by a socket path: `ssh -G` prints the path although
//!   `ssh` does not forward; [`Resolved`] says not forwarded.
//! - Relative `Include` paths are taken as in a user's configuration (`~/.ssh`),
//!   never as in the system one (`/etc/ssh`).

mod addr;
mod directive;
mod error;
mod from_ssh;
mod include;
mod jump;
mod keyword;
mod lexer;
mod local;
mod matching;
mod pattern;
mod resolve;
mod resolved;
pub(crate) mod tokens;
mod value;

use std::path::Path;

pub use error::ConfigError;
pub use from_ssh::{parse_ssh_g, parse_ssh_g_with, resolve_with_ssh};
pub use jump::JumpHop;
pub use local::Local;
pub use resolved::Resolved;

/// Most bytes read from one file of a configuration (100,000 hosts fit).
pub const MAX_FILE_SIZE: u64 = include::MAX_FILE;
/// Longest line accepted.
pub const MAX_LINE_LENGTH: usize = include::MAX_LINE;

/// A parsed configuration: the file and everything it includes, laid out to resolve
/// aliases quickly (each in time proportional to the blocks that may apply to it).
///
/// ```
/// use minke_ssh::ssh_config::{Config, Local};
///
/// let local = Local::new("me", "/home/me", "laptop");
/// let config = Config::parse("Host web\n  Port 2222\n  Compression yes\n", "cfg", &local)?;
/// assert_eq!(config.resolve("web")?.port, 2222);
/// assert_eq!(config.resolve("other")?.port, 22);
/// assert_eq!(config.warnings(), ["Minke does not use `Compression`: on 1 line (cfg:3)"]);
/// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Config {
    files: include::Files,
    program: resolve::Program,
    local: Local,
}

impl Config {
    /// Reads the configuration in the file at `path` and the files it includes.
    /// A file larger than [`MAX_FILE_SIZE`], a line longer than
    /// [`MAX_LINE_LENGTH`], text that is not UTF-8 or a bad value is an error.
    ///
    /// ```no_run
    /// use minke_ssh::ssh_config::{Config, Local};
    ///
    /// let local = Local::current();
    /// let config = Config::load(&local.home.join(".ssh/config"), &local)?;
    /// for alias in config.aliases() {
    ///     let host = config.resolve(&alias)?;
    ///     println!("{alias}: {}@{}:{}", host.user, host.hostname, host.port);
    /// }
    /// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
    /// ```
    pub fn load(path: &Path, local: &Local) -> Result<Config, ConfigError> {
        let text = include::read_text(path)?;
        Self::build(&text, &path.display().to_string(), Some(path), local)
    }

    /// Parses configuration text named `name` (for messages); its `Include`s are read
    /// from the file system, relative ones in `local.include_home`'s `.ssh`.
    ///
    /// ```
    /// use minke_ssh::ssh_config::{Config, Local};
    ///
    /// let local = Local::new("me", "/home/me", "laptop");
    /// let err = Config::parse("Host a\n  Port x\n", "cfg", &local).unwrap_err();
    /// assert_eq!(err.to_string(), "cfg:2: bad port `x` (a number from 1 to 65535 or a service name)");
    /// ```
    pub fn parse(text: &str, name: &str, local: &Local) -> Result<Config, ConfigError> {
        Self::build(text, name, None, local)
    }

    fn build(
        text: &str,
        name: &str,
        path: Option<&Path>,
        local: &Local,
    ) -> Result<Config, ConfigError> {
        let files = include::load(text, name, path, local)?;
        let program = resolve::Program::new(&files)?;
        Ok(Config {
            files,
            program,
            local: local.clone(),
        })
    }

    /// The concrete aliases of `Host` lines (patterns without `*`, `?` or `!`), in
    /// file order (included files where they are included), each once. Names `ssh`
    /// cannot be asked about (`user@host`, spaces, shell characters) are left out,
    /// with a warning.
    ///
    /// ```
    /// use minke_ssh::ssh_config::{Config, Local};
    ///
    /// let local = Local::new("me", "/home/me", "laptop");
    /// let config = Config::parse("Host a b *.org !c\nHost b d?\n", "cfg", &local)?;
    /// assert_eq!(config.aliases(), ["a", "b"]);
    /// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
    /// ```
    pub fn aliases(&self) -> Vec<String> {
        self.program.aliases().to_vec()
    }

    /// What `ssh -G alias` would use (see [`Resolved`] for how defaults show).
    ///
    /// ```
    /// use minke_ssh::ssh_config::{Config, Local};
    ///
    /// let local = Local::new("me", "/home/me", "laptop");
    /// let config = Config::parse("Host web\n  HostName Web.Example.ORG\n  User=\"ops\"\n", "cfg", &local)?;
    /// let web = config.resolve("web")?;
    /// assert_eq!((web.hostname.as_str(), web.user.as_str()), ("web.example.org", "ops"));
    /// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
    /// ```
    pub fn resolve(&self, alias: &str) -> Result<Resolved, ConfigError> {
        let printed = self.program.resolve(&self.files, &self.local, alias)?;
        resolved::finish(printed, &self.local)
    }

    /// Problems that do not stop an import, each once: `Match exec` lines (not run),
    /// options Minke does not use (once per option, with where), keywords OpenSSH
    /// does not know, aliases left out, DNS canonicalization not done, included
    /// files that cannot be read.
    ///
    /// ```
    /// use minke_ssh::ssh_config::{Config, Local};
    ///
    /// let local = Local::new("me", "/home/me", "laptop");
    /// let config = Config::parse("Match exec \"test -f /x\"\n  Port 2\n", "cfg", &local)?;
    /// assert!(config.warnings()[0].starts_with("cfg:1: Match exec is not run"));
    /// assert_eq!(config.resolve("any")?.port, 22);
    /// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        let mut out = self.files.warnings.clone();
        out.extend(self.program.warnings().iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Config>();
        shareable::<Resolved>();
        shareable::<ConfigError>();
    }

    #[test]
    fn long_lines_and_bad_text_are_refused() {
        let local = Local::new("me", "/home/me", "box");
        let long = format!("Host a\n  User {}\n", "x".repeat(MAX_LINE_LENGTH));
        let e = Config::parse(&long, "cfg", &local).unwrap_err();
        assert_eq!((e.line, e.problem.contains("longer than")), (2, true));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, b"Host a\n  User \xff\n").unwrap();
        let e = Config::load(&path, &local).unwrap_err();
        assert!(e.problem.contains("not UTF-8"), "{e}");
        let e = Config::load(&dir.path().join("missing"), &local).unwrap_err();
        assert!(e.problem.contains("cannot read"), "{e}");
    }

    #[test]
    fn includes_apply_where_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let ssh = dir.path().join(".ssh");
        std::fs::create_dir_all(ssh.join("conf.d")).unwrap();
        std::fs::write(ssh.join("conf.d/b.conf"), "Host *\n  Port 2\n").unwrap();
        std::fs::write(
            ssh.join("conf.d/a.conf"),
            "User from-a\nHost other\n  Port 9\n",
        )
        .unwrap();
        let local = Local::new("me", "/nonexistent", "box").with_include_home(dir.path());
        let text = "Host web\n  Include conf.d/*.conf\n  IdentityFile ~/k\nHost *\n  User last\n";
        let config = Config::parse(text, "cfg", &local).unwrap();
        let web = config.resolve("web").unwrap();
        assert_eq!((web.user.as_str(), web.port), ("from-a", 2));
        assert_eq!(web.identity_files, ["/nonexistent/k"]);
        let db = config.resolve("db").unwrap();
        assert_eq!((db.user.as_str(), db.port), ("last", 22));
        assert_eq!(config.aliases(), ["web", "other"]);
    }
}
