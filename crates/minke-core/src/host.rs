//! Hosts: everything needed to open an SSH connection.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::HostId;

/// What to do with the key a host presents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// The key must be in known_hosts already; a changed key is refused.
    #[default]
    Strict,
    /// An unknown host's key is learned into known_hosts; a changed key is refused.
    AcceptNew,
    /// Any key is accepted (tests and throwaway hosts only).
    Off,
}

impl HostKeyPolicy {
    /// `strict`, `accept-new` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            HostKeyPolicy::Strict => "strict",
            HostKeyPolicy::AcceptNew => "accept-new",
            HostKeyPolicy::Off => "off",
        }
    }
}

impl fmt::Display for HostKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HostKeyPolicy {
    type Err = crate::Error;
    /// Reads Minke's names and OpenSSH's `StrictHostKeyChecking` values.
    ///
    /// ```
    /// use minke_core::HostKeyPolicy;
    /// assert_eq!("yes".parse::<HostKeyPolicy>().unwrap(), HostKeyPolicy::Strict);
    /// assert_eq!("accept-new".parse::<HostKeyPolicy>().unwrap(), HostKeyPolicy::AcceptNew);
    /// assert_eq!("no".parse::<HostKeyPolicy>().unwrap(), HostKeyPolicy::Off);
    /// assert!("maybe".parse::<HostKeyPolicy>().is_err());
    /// ```
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "strict" | "yes" | "ask" => Ok(HostKeyPolicy::Strict),
            "accept-new" => Ok(HostKeyPolicy::AcceptNew),
            "off" | "no" => Ok(HostKeyPolicy::Off),
            _ => Err(crate::Error::InvalidValue {
                what: "host key policy",
                value: s.to_owned(),
                expected: "strict, accept-new or off".into(),
            }),
        }
    }
}

/// Where and how to connect: what a [`Host`] gives the SSH layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTarget {
    /// The host's id in its table (the key for locks and history).
    pub id: HostId,
    /// The host's name.
    pub name: String,
    /// Address or DNS name to connect to.
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// Remote user name.
    pub user: String,
    /// Private key files to offer, in order (after the agent).
    pub identity_files: Vec<PathBuf>,
    /// What to do with the host's key.
    pub host_key_policy: HostKeyPolicy,
    /// The known_hosts file (default `~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// Disabled hosts are never contacted.
    pub disabled: bool,
    /// The host to connect through (like OpenSSH's `ProxyJump`), if any.
    pub jump: Option<Box<HostTarget>>,
    /// OpenSSH user certificates offered with the identity files (`CertificateFile`),
    /// in order; a `KEY-cert.pub` beside an identity file is offered without being
    /// named here, as `ssh` does.
    #[serde(default)]
    pub certificate_files: Vec<PathBuf>,
    /// A local command whose standard input and output carry the connection instead
    /// of TCP (OpenSSH's `ProxyCommand`, run by `sh -c`, `%h`, `%p`, `%r`, `%n` and
    /// `%%` expanded). It replaces `jump`.
    #[serde(default)]
    pub proxy_command: Option<String>,
    /// Lets the host's commands use the local ssh-agent (`ForwardAgent`): whoever is
    /// root there can use its keys while a command runs. Off by default.
    #[serde(default)]
    pub forward_agent: bool,
    /// Variables set for each command (`SetEnv`), in order. OpenSSH's sshd applies
    /// only those its `AcceptEnv` names and ignores the others without a word.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// The user a session's [`become`](crate::Context) commands run as (through
    /// sudo); root when unset.
    #[serde(default)]
    pub become_user: Option<String>,
    /// Keepalives for this host (`ServerAliveInterval`, `ServerAliveCountMax`),
    /// instead of the engine's.
    #[serde(default)]
    pub keepalive: Option<Keepalive>,
}

/// Keepalives on a connection: a request after `interval` of silence, and the
/// connection counted as lost after `count_max` unanswered ones (OpenSSH's
/// `ServerAliveInterval` and `ServerAliveCountMax`).
///
/// ```
/// let k = minke_core::Keepalive::new(std::time::Duration::from_secs(15));
/// assert_eq!(k.count_max, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keepalive {
    /// Silence before a keepalive is sent.
    pub interval: std::time::Duration,
    /// Unanswered keepalives before the connection counts as lost.
    pub count_max: u32,
}

impl Keepalive {
    /// Keepalives every `interval`, lost after 3 unanswered (OpenSSH's default).
    pub fn new(interval: std::time::Duration) -> Self {
        Keepalive {
            interval,
            count_max: 3,
        }
    }
}

impl HostTarget {
    /// A target with defaults: port 22, the current user, strict host keys.
    ///
    /// ```
    /// let t = minke_core::HostTarget::new(minke_core::HostId::new(1), "web1", "127.0.0.1");
    /// assert_eq!(t.port, 22);
    /// ```
    pub fn new(id: HostId, name: impl Into<String>, address: impl Into<String>) -> Self {
        HostTarget {
            id,
            name: name.into(),
            address: address.into(),
            port: 22,
            user: local_user(),
            identity_files: Vec::new(),
            host_key_policy: HostKeyPolicy::Strict,
            known_hosts: None,
            disabled: false,
            jump: None,
            certificate_files: Vec::new(),
            proxy_command: None,
            forward_agent: false,
            env: Vec::new(),
            become_user: None,
            keepalive: None,
        }
    }
}

/// A model that is a host: implemented by `#[derive(Host)]` or by Minke's own
/// `HostRecord`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Minke host",
    note = "add `#[derive(Host)]` to `{Self}`, or use `minke::HostRecord`"
)]
pub trait Host: crate::MinkeModel {
    /// How to reach this host (without its jump host: see `jump_host_id`).
    fn target(&self) -> HostTarget;

    /// The id of the host to connect through, if any (resolved by the engine).
    fn jump_host_id(&self) -> Option<HostId> {
        None
    }
}

/// The name of the local user: `$USER`, else `$LOGNAME`, else looked up by uid in
/// `/etc/passwd`, else `root`.
///
/// ```
/// assert!(!minke_core::local_user().is_empty());
/// ```
pub fn local_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .and_then(|r| r.split_whitespace().next().map(str::to_owned))
            })
        });
    if let (Some(uid), Ok(passwd)) = (uid, std::fs::read_to_string("/etc/passwd")) {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() > 2 && f[2] == uid {
                return f[0].to_owned();
            }
        }
    }
    "root".to_owned()
}
