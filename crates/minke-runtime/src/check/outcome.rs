//! The outcome of checking one host, decided once from the SSH error.

use minke_ssh::HostKeyProblem;
use serde::Serialize;

/// How checking one host came out: reached and logged in, not checked, or the one
/// reason it could not be reached. Every [`minke_ssh::Error`] maps to one
/// ([`of`](Self::of)).
///
/// ```
/// use minke_runtime::CheckOutcome;
/// let e = minke_ssh::Error::ConnectRefused {
///     host: "web1 (127.0.0.1:2222)".into(),
///     addr: "127.0.0.1:2222".parse().unwrap(),
/// };
/// assert_eq!(CheckOutcome::of(&e), CheckOutcome::Refused);
/// assert_eq!(CheckOutcome::Refused.as_str(), "refused");
/// assert_eq!(CheckOutcome::AuthFailed.words(), "auth failed");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckOutcome {
    /// Connected, the host key accepted, logged in.
    Ok,
    /// Nothing listens on the port: the TCP connection was refused.
    Refused,
    /// Connecting, the handshake or authentication took longer than allowed.
    Timeout,
    /// The host name could not be resolved.
    Dns,
    /// The TCP connection failed otherwise (no route to the host or network).
    Unreachable,
    /// The SSH handshake failed: not an SSH server, no common algorithm, closed.
    HandshakeFailed,
    /// The proxy command could not start or ended before the handshake was done.
    ProxyCommandFailed,
    /// The jump host could not be reached, or could not reach the host.
    JumpHostFailed,
    /// No credential offered was accepted.
    AuthFailed,
    /// The host's key is not on record (and not learned).
    HostKeyUnknown,
    /// Another key of the same type is on record for the host.
    HostKeyChanged,
    /// The host's key, or the authority that signed its certificate, is revoked.
    HostKeyRevoked,
    /// The host's certificate, from a trusted authority, is not valid for it.
    HostCertificateInvalid,
    /// The known_hosts file could not be read or written.
    KnownHostsError,
    /// The connection broke while it was being opened.
    Disconnected,
    /// Not checked: the host is disabled.
    Disabled,
    /// Anything else (a host record that cannot be used, say).
    Other,
}

impl CheckOutcome {
    /// Every outcome, in order.
    pub const ALL: &'static [CheckOutcome] = &[
        CheckOutcome::Ok,
        CheckOutcome::Refused,
        CheckOutcome::Timeout,
        CheckOutcome::Dns,
        CheckOutcome::Unreachable,
        CheckOutcome::HandshakeFailed,
        CheckOutcome::ProxyCommandFailed,
        CheckOutcome::JumpHostFailed,
        CheckOutcome::AuthFailed,
        CheckOutcome::HostKeyUnknown,
        CheckOutcome::HostKeyChanged,
        CheckOutcome::HostKeyRevoked,
        CheckOutcome::HostCertificateInvalid,
        CheckOutcome::KnownHostsError,
        CheckOutcome::Disconnected,
        CheckOutcome::Disabled,
        CheckOutcome::Other,
    ];

    /// The outcome of a connect that failed with `e`.
    pub fn of(e: &minke_ssh::Error) -> Self {
        use minke_ssh::Error as E;
        match e {
            E::Dns { .. } => CheckOutcome::Dns,
            E::ConnectRefused { .. } => CheckOutcome::Refused,
            E::Jump { .. } => CheckOutcome::JumpHostFailed,
            E::Proxy { .. } => CheckOutcome::ProxyCommandFailed,
            E::Connect { source, .. } if source.kind() == std::io::ErrorKind::TimedOut => {
                CheckOutcome::Timeout
            }
            E::Connect { .. } => CheckOutcome::Unreachable,
            E::ConnectTimeout { .. } => CheckOutcome::Timeout,
            E::Handshake { .. } => CheckOutcome::HandshakeFailed,
            E::HostKey { problem, .. } => Self::of_host_key(problem),
            E::KnownHosts { .. } => CheckOutcome::KnownHostsError,
            E::Authentication { .. } => CheckOutcome::AuthFailed,
            E::Disconnected { .. } | E::NotSent { .. } | E::Channel { .. } => {
                CheckOutcome::Disconnected
            }
            // Failures of commands and transfers: a connect never gives them.
            E::CommandTimeout { .. }
            | E::Killed { .. }
            | E::NoSftp { .. }
            | E::RemoteFile { .. }
            | E::LocalIo { .. }
            | E::TransferTimeout { .. }
            | E::Sftp { .. } => CheckOutcome::Other,
            _ => CheckOutcome::Other,
        }
    }

    fn of_host_key(problem: &HostKeyProblem) -> Self {
        use HostKeyProblem as P;
        match problem {
            P::Unknown | P::UnknownCertificateAuthority => CheckOutcome::HostKeyUnknown,
            P::Changed { .. } => CheckOutcome::HostKeyChanged,
            P::Revoked { .. } | P::CertificateAuthorityRevoked { .. } => {
                CheckOutcome::HostKeyRevoked
            }
            P::CertificateNotForHosts
            | P::CertificateSignature
            | P::CertificateNotYetValid
            | P::CertificateExpired
            | P::CertificateWrongPrincipal
            | P::CertificateCriticalOptions => CheckOutcome::HostCertificateInvalid,
            _ => CheckOutcome::Other,
        }
    }

    /// The snake_case name, as in JSON: `ok`, `refused`, `host_key_changed`...
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Ok => "ok",
            CheckOutcome::Refused => "refused",
            CheckOutcome::Timeout => "timeout",
            CheckOutcome::Dns => "dns",
            CheckOutcome::Unreachable => "unreachable",
            CheckOutcome::HandshakeFailed => "handshake_failed",
            CheckOutcome::ProxyCommandFailed => "proxy_command_failed",
            CheckOutcome::JumpHostFailed => "jump_host_failed",
            CheckOutcome::AuthFailed => "auth_failed",
            CheckOutcome::HostKeyUnknown => "host_key_unknown",
            CheckOutcome::HostKeyChanged => "host_key_changed",
            CheckOutcome::HostKeyRevoked => "host_key_revoked",
            CheckOutcome::HostCertificateInvalid => "host_certificate_invalid",
            CheckOutcome::KnownHostsError => "known_hosts_error",
            CheckOutcome::Disconnected => "disconnected",
            CheckOutcome::Disabled => "disabled",
            CheckOutcome::Other => "other",
        }
    }

    /// In words, for people: `ok`, `refused`, `host key changed`...
    pub fn words(self) -> &'static str {
        match self {
            CheckOutcome::Ok => "ok",
            CheckOutcome::Refused => "refused",
            CheckOutcome::Timeout => "timeout",
            CheckOutcome::Dns => "DNS failure",
            CheckOutcome::Unreachable => "unreachable",
            CheckOutcome::HandshakeFailed => "handshake failed",
            CheckOutcome::ProxyCommandFailed => "proxy command failed",
            CheckOutcome::JumpHostFailed => "jump host failed",
            CheckOutcome::AuthFailed => "auth failed",
            CheckOutcome::HostKeyUnknown => "host key unknown",
            CheckOutcome::HostKeyChanged => "host key changed",
            CheckOutcome::HostKeyRevoked => "host key revoked",
            CheckOutcome::HostCertificateInvalid => "host certificate invalid",
            CheckOutcome::KnownHostsError => "known_hosts error",
            CheckOutcome::Disconnected => "disconnected",
            CheckOutcome::Disabled => "disabled",
            CheckOutcome::Other => "failed",
        }
    }

    /// True when the host was reached and logged in to.
    pub fn is_ok(self) -> bool {
        self == CheckOutcome::Ok
    }

    /// True when the host was checked and not reached: not ok, not disabled.
    pub fn is_failure(self) -> bool {
        !matches!(self, CheckOutcome::Ok | CheckOutcome::Disabled)
    }
}

impl std::fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use minke_core::{CommandOutput, ExitStatus};
    use minke_ssh::Error as E;

    use super::*;

    const HOST: &str = "web1 (127.0.0.1:2222)";

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 2222))
    }

    fn host_key(problem: HostKeyProblem) -> E {
        E::HostKey {
            host: HOST.into(),
            problem,
            fingerprint: "ssh-ed25519 SHA256:new".into(),
            known_hosts: PathBuf::from("/k"),
            detail: "d".into(),
        }
    }

    fn output() -> Box<CommandOutput> {
        Box::new(CommandOutput::new(
            "true",
            ExitStatus::Code(0),
            Vec::new(),
            Vec::new(),
        ))
    }

    #[test]
    fn every_ssh_error_maps_to_one_outcome() {
        let io = |kind| std::io::Error::from(kind);
        let cases: Vec<(E, CheckOutcome)> = vec![
            (
                E::Dns {
                    host: HOST.into(),
                    name: "web1.invalid".into(),
                    detail: "not found".into(),
                },
                CheckOutcome::Dns,
            ),
            (
                E::ConnectRefused {
                    host: HOST.into(),
                    addr: addr(),
                },
                CheckOutcome::Refused,
            ),
            (
                E::Jump {
                    host: HOST.into(),
                    jump: "bastion (127.0.0.1:22)".into(),
                    detail: "open failed".into(),
                },
                CheckOutcome::JumpHostFailed,
            ),
            (
                E::Proxy {
                    host: HOST.into(),
                    detail: "exit 255".into(),
                },
                CheckOutcome::ProxyCommandFailed,
            ),
            (
                E::Connect {
                    host: HOST.into(),
                    addr: addr(),
                    source: io(std::io::ErrorKind::TimedOut),
                },
                CheckOutcome::Timeout,
            ),
            (
                E::Connect {
                    host: HOST.into(),
                    addr: addr(),
                    source: io(std::io::ErrorKind::HostUnreachable),
                },
                CheckOutcome::Unreachable,
            ),
            (
                E::ConnectTimeout {
                    host: HOST.into(),
                    stage: "SSH handshake",
                    timeout: Duration::from_secs(1),
                },
                CheckOutcome::Timeout,
            ),
            (
                E::Handshake {
                    host: HOST.into(),
                    detail: "closed".into(),
                },
                CheckOutcome::HandshakeFailed,
            ),
            (
                host_key(HostKeyProblem::Unknown),
                CheckOutcome::HostKeyUnknown,
            ),
            (
                host_key(HostKeyProblem::UnknownCertificateAuthority),
                CheckOutcome::HostKeyUnknown,
            ),
            (
                host_key(HostKeyProblem::Changed { line: 3 }),
                CheckOutcome::HostKeyChanged,
            ),
            (
                host_key(HostKeyProblem::Revoked { line: 1 }),
                CheckOutcome::HostKeyRevoked,
            ),
            (
                host_key(HostKeyProblem::CertificateAuthorityRevoked { line: 1 }),
                CheckOutcome::HostKeyRevoked,
            ),
            (
                host_key(HostKeyProblem::CertificateExpired),
                CheckOutcome::HostCertificateInvalid,
            ),
            (
                host_key(HostKeyProblem::CertificateWrongPrincipal),
                CheckOutcome::HostCertificateInvalid,
            ),
            (
                E::KnownHosts {
                    host: HOST.into(),
                    path: PathBuf::from("/k"),
                    source: io(std::io::ErrorKind::PermissionDenied),
                },
                CheckOutcome::KnownHostsError,
            ),
            (
                E::Authentication {
                    host: HOST.into(),
                    user: "nobody".into(),
                    tried: "publickey /k: refused".into(),
                },
                CheckOutcome::AuthFailed,
            ),
            (
                E::Disconnected {
                    host: HOST.into(),
                    detail: "reset".into(),
                    output: None,
                },
                CheckOutcome::Disconnected,
            ),
            (
                E::NotSent {
                    host: HOST.into(),
                    command: "true".into(),
                    detail: "closed".into(),
                },
                CheckOutcome::Disconnected,
            ),
            (
                E::Channel {
                    host: HOST.into(),
                    detail: "refused".into(),
                },
                CheckOutcome::Disconnected,
            ),
            (
                E::CommandTimeout {
                    host: HOST.into(),
                    timeout: Duration::from_secs(1),
                    output: output(),
                },
                CheckOutcome::Other,
            ),
            (
                E::Killed {
                    host: HOST.into(),
                    output: output(),
                },
                CheckOutcome::Other,
            ),
            (
                E::NoSftp {
                    host: HOST.into(),
                    path: "/p".into(),
                },
                CheckOutcome::Other,
            ),
        ];
        for (e, want) in &cases {
            assert_eq!(CheckOutcome::of(e), *want, "{e:?}");
        }
    }

    #[test]
    fn names_and_words_are_unique_and_json_uses_the_names() {
        let mut names: Vec<&str> = CheckOutcome::ALL.iter().map(|o| o.as_str()).collect();
        let mut words: Vec<&str> = CheckOutcome::ALL.iter().map(|o| o.words()).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        words.sort_unstable();
        words.dedup();
        assert_eq!((names.len(), words.len()), (n, n));
        for o in CheckOutcome::ALL {
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::Value::from(o.as_str())
            );
            assert!(!o.as_str().contains(' '), "{o:?}");
        }
        assert_eq!(CheckOutcome::HostKeyChanged.words(), "host key changed");
        assert!(CheckOutcome::Ok.is_ok() && !CheckOutcome::Ok.is_failure());
        assert!(!CheckOutcome::Disabled.is_ok() && !CheckOutcome::Disabled.is_failure());
        assert!(CheckOutcome::JumpHostFailed.is_failure());
    }
}
