//! Errors of the SSH layer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use minke_core::{CommandOutput, FailReason};

/// What is wrong with a host's key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostKeyProblem {
    /// The key is not in known_hosts and the policy is strict.
    Unknown,
    /// known_hosts holds another key of the same type for this host, at this line.
    Changed {
        /// The line (from 1) of the key on record.
        line: usize,
    },
    /// The key is marked `@revoked` in known_hosts, at this line.
    Revoked {
        /// The line (from 1).
        line: usize,
    },
    /// The host presented a certificate signed by an authority that no
    /// `@cert-authority` line trusts for it, and its plain key is not in known_hosts
    /// (policy strict).
    UnknownCertificateAuthority,
    /// The authority that signed the host's certificate is marked `@revoked` in
    /// known_hosts, at this line.
    CertificateAuthorityRevoked {
        /// The line (from 1).
        line: usize,
    },
    /// The host's certificate, from a trusted authority, is a user certificate.
    CertificateNotForHosts,
    /// The authority's signature on the host's certificate does not verify, or uses an
    /// algorithm OpenSSH no longer accepts from authorities (SHA-1 RSA, DSA).
    CertificateSignature,
    /// The host's certificate, from a trusted authority, is not valid yet.
    CertificateNotYetValid,
    /// The host's certificate, from a trusted authority, has expired.
    CertificateExpired,
    /// The host's certificate, from a trusted authority, does not list the host's name
    /// among its principals.
    CertificateWrongPrincipal,
    /// The host's certificate, from a trusted authority, carries critical options
    /// (none is defined for host certificates, so OpenSSH refuses them all).
    CertificateCriticalOptions,
}

/// What the SFTP server said is wrong with a remote file.
///
/// ```
/// assert_eq!(minke_ssh::RemoteFileProblem::NoSuchFile.to_string(), "no such file or directory");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteFileProblem {
    /// The file, or a directory on its path, does not exist.
    NoSuchFile,
    /// The remote user may not read, create or replace it.
    PermissionDenied,
    /// A component of the path is a file, not a directory.
    NotADirectory,
    /// The path names a directory where a file was expected.
    IsADirectory,
    /// The remote file system is full.
    NoSpace,
    /// The server does not support what was asked.
    Unsupported,
    /// The server reported a failure without saying which (SFTP's `SSH_FX_FAILURE`).
    Failure,
}

impl std::fmt::Display for RemoteFileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RemoteFileProblem::NoSuchFile => "no such file or directory",
            RemoteFileProblem::PermissionDenied => "permission denied",
            RemoteFileProblem::NotADirectory => "a component of the path is not a directory",
            RemoteFileProblem::IsADirectory => "it is a directory",
            RemoteFileProblem::NoSpace => "no space left on the remote file system",
            RemoteFileProblem::Unsupported => "the SFTP server does not support the operation",
            RemoteFileProblem::Failure => "the SFTP server reported a failure",
        })
    }
}

/// Why Minke could not connect to a host or run a command on it.
///
/// Every variant names the host as `name (address:port)`; [`reason`](Self::reason)
/// gives the failure class a session records. A command that ran and exited non-zero
/// is not an error: it is a [`CommandOutput`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host name could not be resolved.
    #[error("{host}: cannot resolve `{name}`: {detail}")]
    Dns {
        /// The host, as `name (address:port)`.
        host: String,
        /// The name that was looked up.
        name: String,
        /// The resolver's answer.
        detail: String,
    },
    /// The TCP connection was refused: nothing listens on the port.
    #[error("{host}: connection refused by {addr}")]
    ConnectRefused {
        /// The host, as `name (address:port)`.
        host: String,
        /// The address that refused.
        addr: SocketAddr,
    },
    /// The jump host could not open a connection to the host.
    #[error("{host}: the jump host {jump} could not connect to it: {detail}")]
    Jump {
        /// The host, as `name (address:port)`.
        host: String,
        /// The jump host, as `name (address:port)`.
        jump: String,
        /// What the jump host answered.
        detail: String,
    },
    /// The proxy command (OpenSSH's `ProxyCommand`) could not be started, or ended
    /// before the SSH handshake was done.
    #[error("{host}: the proxy command failed: {detail}")]
    Proxy {
        /// The host, as `name (address:port)`.
        host: String,
        /// Why: the start error, or its exit and the end of what it printed to stderr.
        detail: String,
    },
    /// The TCP connection failed for another reason (unreachable network or host...).
    #[error("{host}: cannot connect to {addr}: {source}")]
    Connect {
        /// The host, as `name (address:port)`.
        host: String,
        /// The address tried.
        addr: SocketAddr,
        /// The system's error.
        source: std::io::Error,
    },
    /// Connecting, the SSH handshake or authentication took longer than allowed.
    #[error("{host}: {stage} took longer than {timeout:?}")]
    ConnectTimeout {
        /// The host, as `name (address:port)`.
        host: String,
        /// What was going on: `TCP connect`, `SSH handshake`, `authentication`.
        stage: &'static str,
        /// The limit (`ConnectOptions::connect_timeout`).
        timeout: Duration,
    },
    /// The SSH handshake failed (not an SSH server, no common algorithm, closed).
    #[error("{host}: SSH handshake failed: {detail}")]
    Handshake {
        /// The host, as `name (address:port)`.
        host: String,
        /// What happened.
        detail: String,
    },
    /// The host's key is unknown (strict policy), changed or revoked.
    #[error("{host}: {detail}")]
    HostKey {
        /// The host, as `name (address:port)`.
        host: String,
        /// What is wrong.
        problem: HostKeyProblem,
        /// The key the server presented, like `ssh-ed25519 SHA256:...`.
        fingerprint: String,
        /// The known_hosts file checked.
        known_hosts: PathBuf,
        /// The whole explanation, for people.
        detail: String,
    },
    /// The known_hosts file could not be read or written.
    #[error("{host}: cannot use known_hosts file {}: {source}", .path.display())]
    KnownHosts {
        /// The host, as `name (address:port)`.
        host: String,
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// No credential offered was accepted. Lists what was tried, never a secret.
    #[error("{host}: authentication as `{user}` failed; tried: {tried}")]
    Authentication {
        /// The host, as `name (address:port)`.
        host: String,
        /// The remote user.
        user: String,
        /// What was offered and what became of it.
        tried: String,
    },
    /// The connection broke (or was closed) while in use.
    #[error("{host}: connection lost: {detail}")]
    Disconnected {
        /// The host, as `name (address:port)`.
        host: String,
        /// What was going on.
        detail: String,
        /// What a command had printed before the connection broke, if one was running.
        output: Option<Box<CommandOutput>>,
    },
    /// The connection was found closed or lost before a command could be sent (its
    /// channel could not be opened, or the request could not leave this process):
    /// the command never started on the host, so running it again over a new
    /// connection is safe.
    #[error("{host}: connection lost before `{command}` was sent: {detail}")]
    NotSent {
        /// The host, as `name (address:port)`.
        host: String,
        /// The command that was not sent.
        command: String,
        /// What was going on.
        detail: String,
    },
    /// The server refused to open a session channel or to run the command.
    #[error("{host}: {detail}")]
    Channel {
        /// The host, as `name (address:port)`.
        host: String,
        /// What was refused.
        detail: String,
    },
    /// A command ran longer than its timeout; it was killed.
    #[error("{host}: `{}` ran longer than {timeout:?} and was killed", .output.command)]
    CommandTimeout {
        /// The host, as `name (address:port)`.
        host: String,
        /// The limit.
        timeout: Duration,
        /// What it printed until then (`exit` is the signal it died of, if reported).
        output: Box<CommandOutput>,
    },
    /// A command was killed because a stop was asked for.
    #[error("{host}: `{}` was stopped", .output.command)]
    Killed {
        /// The host, as `name (address:port)`.
        host: String,
        /// What it printed until then.
        output: Box<CommandOutput>,
    },
    /// The server has no SFTP subsystem, so files cannot be transferred.
    #[error(
        "{host} has no SFTP subsystem (sshd_config `Subsystem sftp`); cannot transfer `{path}`"
    )]
    NoSftp {
        /// The host, as `name (address:port)`.
        host: String,
        /// The remote path of the transfer.
        path: String,
    },
    /// The SFTP server refused an operation on a remote file.
    #[error("{host}: cannot {action} `{path}`: {problem}{}", server_said(.message))]
    RemoteFile {
        /// The host, as `name (address:port)`.
        host: String,
        /// The remote path of the transfer.
        path: String,
        /// What was being done: `open`, `create a temporary file beside`, `write`,
        /// `read`, `set the mode of`, `rename into place`...
        action: &'static str,
        /// What is wrong, in words.
        problem: RemoteFileProblem,
        /// The server's own message (OpenSSH's repeats the problem: `No such file`).
        message: String,
    },
    /// Reading the local data to send, or writing the data received, failed.
    #[error("{host}: cannot {action} `{path}`: {source}")]
    LocalIo {
        /// The host, as `name (address:port)`.
        host: String,
        /// The remote path of the transfer.
        path: String,
        /// `read the local data to put into` or `write the local copy of`.
        action: &'static str,
        /// The error of the source or sink.
        source: std::io::Error,
    },
    /// The SFTP server did not answer a request in time.
    #[error(
        "{host}: the SFTP server did not answer within {timeout:?} while transferring `{path}`"
    )]
    TransferTimeout {
        /// The host, as `name (address:port)`.
        host: String,
        /// The remote path of the transfer.
        path: String,
        /// How long one request may wait for its answer.
        timeout: Duration,
    },
    /// The SFTP conversation broke: an answer that makes no sense, or the SFTP
    /// server's channel closed while the connection stayed up.
    #[error("{host}: SFTP failed while transferring `{path}`: {detail}")]
    Sftp {
        /// The host, as `name (address:port)`.
        host: String,
        /// The remote path of the transfer.
        path: String,
        /// What happened.
        detail: String,
    },
}

impl Error {
    /// The failure class a session records for this error.
    ///
    /// ```
    /// use minke_core::FailReason;
    /// let e = minke_ssh::Error::Dns { host: "web1 (web1.invalid:22)".into(), name: "web1.invalid".into(), detail: "not found".into() };
    /// assert_eq!(e.reason(), FailReason::Dns);
    /// ```
    pub fn reason(&self) -> FailReason {
        match self {
            Error::Dns { .. } => FailReason::Dns,
            Error::ConnectRefused { .. } | Error::Jump { .. } | Error::Proxy { .. } => {
                FailReason::ConnectRefused
            }
            Error::Connect { source, .. } => match source.kind() {
                std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable => FailReason::ConnectTimeout,
                _ => FailReason::ConnectRefused,
            },
            Error::ConnectTimeout { .. } => FailReason::ConnectTimeout,
            Error::HostKey { .. } | Error::KnownHosts { .. } => FailReason::HostKey,
            Error::Authentication { .. } => FailReason::Authentication,
            Error::Handshake { .. }
            | Error::Disconnected { .. }
            | Error::NotSent { .. }
            | Error::Channel { .. } => FailReason::Disconnected,
            Error::CommandTimeout { .. } => FailReason::CommandTimeout,
            // A stop is not a failure of the host; sessions record it as stopped.
            Error::Killed { .. } => FailReason::SessionError,
            // A transfer that cannot be done; one stuck on the host is a timeout.
            Error::NoSftp { .. } | Error::RemoteFile { .. } | Error::LocalIo { .. } => {
                FailReason::Transfer
            }
            Error::TransferTimeout { .. } => FailReason::CommandTimeout,
            Error::Sftp { .. } => FailReason::Disconnected,
        }
    }

    /// For a changed host key ([`HostKeyProblem::Changed`]), the key on record for
    /// the host, like `ssh-ed25519 SHA256:...`, read from its line of the known_hosts
    /// file (parsed once while the file stays the same); `None` for other errors, or
    /// when that line holds no key any more.
    ///
    /// ```
    /// let e = minke_ssh::Error::Dns { host: "web1 (web1.invalid:22)".into(), name: "web1.invalid".into(), detail: "not found".into() };
    /// assert_eq!(e.known_fingerprint(), None);
    /// ```
    pub fn known_fingerprint(&self) -> Option<String> {
        let Error::HostKey {
            problem: HostKeyProblem::Changed { line },
            known_hosts,
            ..
        } = self
        else {
            return None;
        };
        let entries = crate::known_hosts::read(known_hosts).ok()?;
        crate::known_hosts::key_at(&entries, *line).map(crate::known_hosts::describe)
    }

    /// The host, as `name (address:port)`.
    pub fn host(&self) -> &str {
        match self {
            Error::Dns { host, .. }
            | Error::ConnectRefused { host, .. }
            | Error::Jump { host, .. }
            | Error::Proxy { host, .. }
            | Error::Connect { host, .. }
            | Error::ConnectTimeout { host, .. }
            | Error::Handshake { host, .. }
            | Error::HostKey { host, .. }
            | Error::KnownHosts { host, .. }
            | Error::Authentication { host, .. }
            | Error::Disconnected { host, .. }
            | Error::NotSent { host, .. }
            | Error::Channel { host, .. }
            | Error::CommandTimeout { host, .. }
            | Error::Killed { host, .. }
            | Error::NoSftp { host, .. }
            | Error::RemoteFile { host, .. }
            | Error::LocalIo { host, .. }
            | Error::TransferTimeout { host, .. }
            | Error::Sftp { host, .. } => host,
        }
    }

    /// What the command printed before a timeout, a kill or a lost connection.
    pub fn partial_output(&self) -> Option<&CommandOutput> {
        match self {
            Error::CommandTimeout { output, .. } | Error::Killed { output, .. } => Some(output),
            Error::Disconnected { output, .. } => output.as_deref(),
            _ => None,
        }
    }

    /// True when the command certainly never started on the host because the
    /// connection was gone before it could be sent ([`Error::NotSent`]): running it
    /// again over a new connection cannot run it twice.
    ///
    /// ```
    /// let e = minke_ssh::Error::NotSent {
    ///     host: "web1 (127.0.0.1:22)".into(),
    ///     command: "uptime".into(),
    ///     detail: "the connection was closed".into(),
    /// };
    /// assert!(e.never_started());
    /// assert_eq!(e.reason(), minke_core::FailReason::Disconnected);
    /// ```
    pub fn never_started(&self) -> bool {
        matches!(self, Error::NotSent { .. })
    }

    /// True when the command was killed because a stop was asked for.
    pub fn is_killed(&self) -> bool {
        matches!(self, Error::Killed { .. })
    }
}

/// The server's message after the problem, unless it only repeats the SFTP status
/// name (as OpenSSH's do).
fn server_said(message: &str) -> String {
    const STATUS_NAMES: [&str; 9] = [
        "",
        "success",
        "end of file",
        "no such file",
        "permission denied",
        "failure",
        "bad message",
        "operation unsupported",
        "eof",
    ];
    let trimmed = message.trim();
    if STATUS_NAMES.iter().any(|n| trimmed.eq_ignore_ascii_case(n)) {
        String::new()
    } else {
        format!(" (the server said: {trimmed})")
    }
}

/// `Result` with the SSH layer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
