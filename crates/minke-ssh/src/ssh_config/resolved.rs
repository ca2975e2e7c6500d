//! What an alias resolves to, built the same way from the resolver's work and from
//! `ssh -G`'s output: both first give what `ssh -G` prints ([`Printed`]), then
//! [`finish`] expands and normalizes it into a [`Resolved`].

use std::sync::Arc;

use super::ConfigError;
use super::jump::{Jump, JumpHop, parse_jump};
use super::local::Local;
use super::tokens::{Conn, PathExpander, expand, tilde};
use super::value::{Strict, Tty};

/// What `ssh -G ALIAS` would use for the options Minke reads, ready to connect with.
///
/// Defaults are OpenSSH's. Two rules keep values comparable with `ssh -G`, which
/// prints a default as if it had been written: a list equal to OpenSSH's default
/// list is reported empty (`identity_files`, `user_known_hosts_files`), and an
/// option set to OpenSSH's default word is reported `None` (`StrictHostKeyChecking
/// ask`, `RequestTTY auto`).
///
/// ```
/// use minke_ssh::ssh_config::{Config, Local};
///
/// let local = Local::new("me", "/home/me", "box");
/// let text = "Host web\n  HostName %h.example.org\n  IdentityFile ~/.ssh/web\nHost *\n  User deploy\n";
/// let web = Config::parse(text, "cfg", &local)?.resolve("web")?;
/// assert_eq!((web.hostname.as_str(), web.port, web.user.as_str()), ("web.example.org", 22, "deploy"));
/// assert_eq!(web.identity_files, ["/home/me/.ssh/web"]);
/// assert_eq!(web.server_alive_count_max, 3);
/// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolved {
    /// The name resolved (`%n`).
    pub alias: String,
    /// `HostName` with `%h` expanded (default: the alias), lowercased unless it is an
    /// address, numeric addresses in canonical form (`127.1` gives `127.0.0.1`).
    pub hostname: String,
    /// `Port` (default 22).
    pub port: u16,
    /// `User` (default: the local user).
    pub user: String,
    /// Every `IdentityFile` that applies, in order, each once, `~`, tokens and
    /// `${VAR}` expanded. Empty when none is configured: OpenSSH then tries
    /// `~/.ssh/id_rsa`, `id_ecdsa`, `id_ecdsa_sk`, `id_ed25519`, `id_ed25519_sk`,
    /// `id_xmss` and `id_dsa` (and `ssh -G` prints those).
    pub identity_files: Vec<String>,
    /// Every `CertificateFile` that applies, in order, each once, expanded like
    /// identity files.
    pub certificate_files: Vec<String>,
    /// `ProxyJump` as hops joined by commas, each `[user@]host[:port]` (`ssh://` URIs
    /// rewritten so), `%h %n %p %r %%` expanded; `None` when absent or `none`.
    pub proxy_jump: Option<String>,
    /// The hops of [`proxy_jump`](Self::proxy_jump), in the order visited.
    pub proxy_jump_hops: Vec<JumpHop>,
    /// `ProxyCommand`, the rest of its line, with `%h %n %p %r %%` expanded (`ssh -G`
    /// prints it unexpanded; `ssh` expands it so before running it); `None` when
    /// absent, `none`, or when a `ProxyJump` came first.
    pub proxy_command: Option<String>,
    /// Whether the agent is forwarded (`ForwardAgent yes`, or a socket).
    pub forward_agent: bool,
    /// The agent socket to forward when `ForwardAgent` names one (a path, `~` and
    /// tokens expanded, or a `$VARIABLE` naming one).
    pub forward_agent_socket: Option<String>,
    /// `SetEnv` pairs: those of the first `SetEnv` line that applies (later lines add
    /// nothing, as in OpenSSH 9.2), a name repeated on it kept once.
    pub set_env: Vec<(String, String)>,
    /// `ServerAliveInterval` in seconds, 0 = off (default 0, or 300 with
    /// `BatchMode yes`, as Debian's OpenSSH does).
    pub server_alive_interval: u32,
    /// `ServerAliveCountMax` (default 3).
    pub server_alive_count_max: u32,
    /// `StrictHostKeyChecking` as `yes`, `no` (also for `off`) or `accept-new`;
    /// `None` when absent or `ask` (OpenSSH's default).
    pub strict_host_key_checking: Option<String>,
    /// `UserKnownHostsFile` entries, `~` and tokens expanded (`["none"]` for none);
    /// empty when absent (OpenSSH's `~/.ssh/known_hosts ~/.ssh/known_hosts2`).
    pub user_known_hosts_files: Vec<String>,
    /// `RequestTTY` as `yes`, `no` or `force`; `None` when absent or `auto`.
    pub request_tty: Option<String>,
    /// `ConnectTimeout` in seconds; `None` when absent.
    pub connect_timeout: Option<u32>,
    /// `HostKeyAlias` (the name looked up in known_hosts instead of the host name).
    pub host_key_alias: Option<String>,
}

/// OpenSSH 9.2's identity files when none is configured, as `ssh -G` prints them.
const DEFAULT_IDENTITY_FILES: [&str; 7] = [
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

/// OpenSSH's user known-hosts files when none is configured (before `~`).
const DEFAULT_KNOWN_HOSTS: [&str; 2] = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sourced {
    pub(crate) value: String,
    pub(crate) file: Arc<str>,
    pub(crate) line: usize,
}

impl Sourced {
    fn error(&self, what: &str, problem: &str) -> ConfigError {
        ConfigError::new(
            &*self.file,
            self.line,
            format!("{what} `{}`: {problem}", self.value),
        )
    }
}

/// `ForwardAgent` as `ssh -G` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PrintedAgent {
    No,
    Yes,
    /// The socket, expanded.
    Socket(String),
}

/// The options Minke reads, exactly as `ssh -G` prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Printed {
    pub(crate) alias: String,
    pub(crate) hostname: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    /// As written; OpenSSH's defaults when none applies.
    pub(crate) identity_files: Vec<Sourced>,
    /// As written.
    pub(crate) certificate_files: Vec<Sourced>,
    /// As written (hops), `None` when absent or `none`.
    pub(crate) proxy_jump: Option<Sourced>,
    /// As written, `None` when absent or `none`.
    pub(crate) proxy_command: Option<Sourced>,
    pub(crate) forward_agent: PrintedAgent,
    /// Whether the agent is forwarded, when known (`ssh -G` prints a socket even
    /// after `ForwardAgent no`; the resolver knows better).
    pub(crate) forward_agent_flag: Option<bool>,
    pub(crate) set_env: Vec<(String, String)>,
    pub(crate) server_alive_interval: u32,
    pub(crate) server_alive_count_max: u32,
    pub(crate) strict_host_key_checking: Strict,
    /// Expanded; OpenSSH's defaults when none applies.
    pub(crate) user_known_hosts_files: Vec<String>,
    pub(crate) request_tty: Tty,
    pub(crate) connect_timeout: Option<u32>,
    pub(crate) host_key_alias: Option<String>,
}

/// OpenSSH's default user known-hosts files, expanded.
pub(crate) fn default_known_hosts(local: &Local) -> Vec<String> {
    DEFAULT_KNOWN_HOSTS
        .iter()
        .filter_map(|p| tilde(p, &local.home).ok())
        .collect()
}

/// Whether `list` is OpenSSH's default user known-hosts files, expanded.
fn is_default_known_hosts(list: &[String], local: &Local) -> bool {
    list.len() == DEFAULT_KNOWN_HOSTS.len()
        && list
            .iter()
            .all(|f| f.ends_with("known_hosts") || f.ends_with("known_hosts2"))
        && list == default_known_hosts(local)
}

/// OpenSSH's default identity files, as `ssh -G` prints them.
pub(crate) fn default_identity_files() -> impl Iterator<Item = &'static str> {
    DEFAULT_IDENTITY_FILES.iter().copied()
}

/// Expands and normalizes what `ssh -G` prints into a [`Resolved`].
pub(crate) fn finish(p: Printed, local: &Local) -> Result<Resolved, ConfigError> {
    let key_alias = p.host_key_alias.as_deref().unwrap_or(&p.alias);
    let paths = PathExpander::new(Conn {
        host: &p.hostname,
        port: p.port,
        user: &p.user,
        alias: &p.alias,
        key_alias,
        local,
    });
    let expand_all = |list: &[Sourced], what: &str| -> Result<Vec<String>, ConfigError> {
        list.iter()
            .map(|s| paths.expand(&s.value).map_err(|e| s.error(what, &e)))
            .collect()
    };
    let identity_files = if p
        .identity_files
        .iter()
        .map(|s| s.value.as_str())
        .eq(default_identity_files())
    {
        Vec::new()
    } else {
        expand_all(&p.identity_files, "IdentityFile")?
    };
    let certificate_files = expand_all(&p.certificate_files, "CertificateFile")?;
    let proxy_tokens = paths.conn().proxy_tokens();
    let proxy_command = p
        .proxy_command
        .as_ref()
        .map(|s| expand(&s.value, &proxy_tokens, false).map_err(|e| s.error("ProxyCommand", &e)))
        .transpose()?;
    let proxy_jump_hops = match &p.proxy_jump {
        None => Vec::new(),
        Some(s) => match parse_jump(&s.value) {
            Some(Jump::Hops(hops)) => hops
                .into_iter()
                .map(|h| expand_hop(h, &proxy_tokens))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|e| s.error("ProxyJump", &e))?,
            Some(Jump::None) => Vec::new(),
            None => return Err(s.error("ProxyJump", "not a ProxyJump value")),
        },
    };
    let proxy_jump = (!proxy_jump_hops.is_empty()).then(|| {
        proxy_jump_hops
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    });
    let (printed_yes, socket) = match p.forward_agent {
        PrintedAgent::No => (false, None),
        PrintedAgent::Yes => (true, None),
        PrintedAgent::Socket(s) => (true, Some(s)),
    };
    let forward_agent = p.forward_agent_flag.unwrap_or(printed_yes);
    let user_known_hosts_files = if is_default_known_hosts(&p.user_known_hosts_files, local) {
        Vec::new()
    } else {
        p.user_known_hosts_files
    };
    Ok(Resolved {
        identity_files,
        certificate_files,
        proxy_jump,
        proxy_jump_hops,
        proxy_command,
        forward_agent,
        forward_agent_socket: socket.filter(|_| forward_agent),
        set_env: p.set_env,
        server_alive_interval: p.server_alive_interval,
        server_alive_count_max: p.server_alive_count_max,
        strict_host_key_checking: p.strict_host_key_checking.resolved(),
        user_known_hosts_files,
        request_tty: p.request_tty.resolved(),
        connect_timeout: p.connect_timeout,
        host_key_alias: p.host_key_alias,
        alias: p.alias,
        hostname: p.hostname,
        port: p.port,
        user: p.user,
    })
}

fn expand_hop(hop: JumpHop, tokens: &[(char, String)]) -> Result<JumpHop, String> {
    Ok(JumpHop {
        user: hop.user.map(|u| expand(&u, tokens, false)).transpose()?,
        host: expand(&hop.host, tokens, false)?,
        port: hop.port,
    })
}
