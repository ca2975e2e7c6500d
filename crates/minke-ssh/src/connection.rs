//! Connections: TCP, the SSH handshake with host key checking, authentication.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use minke_core::{CommandOutput, HostKeyPolicy, HostTarget, Secret};
use russh::client::{self, Handle};
use russh::keys::{Algorithm, PublicKey, PublicKeyOrCertificate};
use russh::{Preferred, kex};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::error::{Error, HostKeyProblem, Result};
use crate::exec::{ExecOptions, OutputSink};
use crate::known_hosts::{self, Verdict};

/// How to connect, beyond what the [`HostTarget`] says.
///
/// ```
/// use std::time::Duration;
/// let opts = minke_ssh::ConnectOptions { connect_timeout: Duration::from_secs(5), ..Default::default() };
/// assert!(opts.use_agent);
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Limit for name resolution, the TCP connect and the SSH handshake together, and
    /// again for authentication. Default 10 s.
    pub connect_timeout: Duration,
    /// Send a keepalive when the server has been silent this long; after 3 unanswered
    /// ones the connection counts as lost. Default `None` (no keepalives).
    pub keepalive_interval: Option<Duration>,
    /// Offer the keys of the ssh-agent first. Default `true`.
    pub use_agent: bool,
    /// The agent's socket; `None` means `$SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    /// Passphrase for encrypted identity files. Without it they are skipped.
    pub key_passphrase: Option<Secret>,
    /// Password, tried last (method `password`, else `keyboard-interactive`).
    pub password: Option<Secret>,
    /// Most channels open at once on one connection, like the server's `MaxSessions`
    /// (OpenSSH's default is 10, the default here). One is kept for killing commands
    /// (see [`track_process_group`](Self::track_process_group)), so up to
    /// `max_channels - 1` commands run at once; more wait their turn.
    pub max_channels: usize,
    /// Learn each command's process group, to kill it for sure on timeout or stop.
    ///
    /// The command is sent after a first line, `printf 'minke-pgid:%s\n' "$$" >&2`,
    /// whose output is taken out of stderr. On timeout or stop the process group is
    /// then killed with `kill -KILL -- -PGID` over a second channel, besides the SSH
    /// `signal` request (which OpenSSH's sshd refuses for root logins: it runs root
    /// sessions without privilege separation). Needs a POSIX login shell (sh, bash,
    /// dash, zsh, ksh); turn it off for others (fish, csh, Windows). Default `true`.
    pub track_process_group: bool,
}

impl ConnectOptions {
    /// The agent's socket: `agent_socket`, else `$SSH_AUTH_SOCK`; `None` when neither
    /// names one.
    pub(crate) fn agent_path(&self) -> Option<PathBuf> {
        self.agent_socket
            .clone()
            .or_else(|| std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from))
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: None,
            use_agent: true,
            agent_socket: None,
            key_passphrase: None,
            password: None,
            max_channels: 10,
            track_process_group: true,
        }
    }
}

/// How long to keep asking for a channel the server refuses.
const CHANNEL_RETRY: Duration = Duration::from_secs(5);

/// An authenticated SSH connection to one host.
///
/// Cheap to clone: clones share the connection, and several commands may run on it
/// at once (each in its own channel), up to [`ConnectOptions::max_channels`]. The
/// connection closes when [`close`](Self::close) is called or the last clone is
/// dropped.
///
/// ```no_run
/// # async fn demo(target: minke_core::HostTarget) -> Result<(), minke_ssh::Error> {
/// use minke_ssh::{ConnectOptions, Connection, ExecOptions, Stream};
///
/// let conn = Connection::connect(&target, &ConnectOptions::default()).await?;
/// let mut live = |stream: Stream, bytes: &[u8]| eprint!("{stream:?}: {}", String::from_utf8_lossy(bytes));
/// let out = conn.exec("uname -r", &ExecOptions::default(), &mut live).await?;
/// println!("{} -> {:?}", out.stdout_text().trim(), out.exit);
/// conn.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle<ClientHandler>,
    host: String,
    /// Permits for commands: `max_channels - 1` (one channel is kept for kills).
    channels: tokio::sync::Semaphore,
    /// At most one kill channel at a time (it uses the kept channel).
    kill_lock: tokio::sync::Mutex<()>,
    track_process_group: bool,
    /// The jump host's connection, kept open as long as this one.
    _jump: Option<Connection>,
    /// The proxy command carrying this connection, killed with it.
    _proxy: Option<crate::proxy::ProxyProcess>,
    /// Variables set for each command (`SetEnv`).
    env: Vec<(String, String)>,
    /// Ask for agent forwarding on each command's channel.
    forward_agent: bool,
    /// The host key the handshake accepted.
    host_key: Arc<SeenKey>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.inner.host)
            .field("closed", &self.inner.handle.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects and authenticates.
    ///
    /// Resolves `target.address`, connects over TCP, checks the host key against
    /// known_hosts (`target.known_hosts`, default `~/.ssh/known_hosts`) as
    /// `target.host_key_policy` says, then offers, in order: the agent's keys, each
    /// identity file (default `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` when the target
    /// names none), the password.
    pub async fn connect(target: &HostTarget, opts: &ConnectOptions) -> Result<Connection> {
        Self::connect_through(None, target, opts).await
    }

    /// Connects through a jump host (like OpenSSH's `ProxyJump`): the jump host opens
    /// a TCP connection to the host (a `direct-tcpip` channel) and the SSH session to
    /// the host runs inside it, end to end. Many hosts may share one jump connection.
    pub async fn connect_via(
        jump: &Connection,
        target: &HostTarget,
        opts: &ConnectOptions,
    ) -> Result<Connection> {
        Self::connect_through(Some(jump), target, opts).await
    }

    /// [`connect_via`](Self::connect_via) the jump host's connection when there is
    /// one, else [`connect`](Self::connect).
    pub async fn connect_through(
        jump: Option<&Connection>,
        target: &HostTarget,
        opts: &ConnectOptions,
    ) -> Result<Connection> {
        let host = host_label(target);
        let started = Instant::now();
        let deadline = started + opts.connect_timeout;
        let timeout = opts.connect_timeout;

        let known_hosts_path = target
            .known_hosts
            .clone()
            .unwrap_or_else(known_hosts::default_path);
        let lookup = known_hosts::lookup_name(&target.address, target.port);
        let entries = if target.host_key_policy == HostKeyPolicy::Off {
            Default::default()
        } else {
            known_hosts::read(&known_hosts_path).map_err(|source| Error::KnownHosts {
                host: host.clone(),
                path: known_hosts_path.clone(),
                source,
            })?
        };
        let known_algorithms = known_hosts::known_algorithms(&entries, &lookup);

        let config = Arc::new(client_config(opts, &known_algorithms, target));
        let agent = target.forward_agent.then(|| opts.agent_path()).flatten();
        if target.forward_agent && agent.is_none() {
            tracing::warn!(host = %host, "agent forwarding is on but there is no agent (SSH_AUTH_SOCK is not set)");
        }
        let forward_agent = agent.is_some();
        let seen = Arc::new(SeenKey::default());
        let handler = ClientHandler {
            agent,
            host: host.clone(),
            check: HostKeyCheck {
                host: host.clone(),
                lookup,
                policy: target.host_key_policy,
                path: known_hosts_path,
                entries,
                seen: seen.clone(),
            },
        };
        let mut proxy = None;
        let mut handle = match (jump, target.proxy_command.as_deref()) {
            (None, None) => {
                let stream = tcp_connect(target, &host, deadline, timeout).await?;
                handshake(config, stream, handler, &host, deadline, timeout).await?
            }
            (None, Some(command)) => {
                let (stream, mut process) = crate::proxy::spawn(command, target, &host)?;
                match handshake(config, stream, handler, &host, deadline, timeout).await {
                    Ok(h) => {
                        proxy = Some(process);
                        h
                    }
                    Err(e) => {
                        // A proxy that ended says why better than the handshake.
                        return Err(match process.ended().await {
                            Some(detail) if !matches!(e, Error::HostKey { .. }) => {
                                Error::Proxy { host, detail }
                            }
                            _ => e,
                        });
                    }
                }
            }
            (Some(j), _) => {
                let channel = match timeout_at(
                    deadline,
                    j.inner.handle.channel_open_direct_tcpip(
                        target.address.clone(),
                        u32::from(target.port),
                        "127.0.0.1",
                        0,
                    ),
                )
                .await
                {
                    Err(_) => {
                        return Err(Error::ConnectTimeout {
                            host,
                            stage: "connecting through the jump host",
                            timeout,
                        });
                    }
                    Ok(Err(e)) => {
                        return Err(Error::Jump {
                            host,
                            jump: j.inner.host.clone(),
                            detail: e.to_string(),
                        });
                    }
                    Ok(Ok(c)) => c,
                };
                handshake(
                    config,
                    channel.into_stream(),
                    handler,
                    &host,
                    deadline,
                    timeout,
                )
                .await?
            }
        };
        tracing::debug!(host = %host, "SSH handshake done in {:?}", started.elapsed());

        let auth_deadline = Instant::now() + opts.connect_timeout;
        match timeout_at(
            auth_deadline,
            crate::auth::authenticate(&mut handle, target, opts),
        )
        .await
        {
            Err(_) => {
                return Err(Error::ConnectTimeout {
                    host,
                    stage: "authentication",
                    timeout,
                });
            }
            Ok(Err(tried)) => {
                return Err(Error::Authentication {
                    host,
                    user: target.user.clone(),
                    tried,
                });
            }
            Ok(Ok(())) => {}
        }
        tracing::debug!(host = %host, user = %target.user, "connected in {:?}", started.elapsed());
        Ok(Connection {
            inner: Arc::new(Inner {
                handle,
                host,
                channels: tokio::sync::Semaphore::new(opts.max_channels.saturating_sub(1).max(1)),
                kill_lock: tokio::sync::Mutex::new(()),
                track_process_group: opts.track_process_group,
                _jump: jump.cloned(),
                _proxy: proxy,
                env: target.env.clone(),
                forward_agent,
                host_key: seen,
            }),
        })
    }

    /// Runs `command` (through the remote user's shell) to its end.
    ///
    /// Every chunk of output goes to `sink` as it arrives; the returned
    /// [`CommandOutput`] keeps stdout and stderr apart, as bytes, up to
    /// [`ExecOptions::output_cap`] each. A non-zero exit or a signal is `Ok`.
    ///
    /// On timeout or kill the remote command's process group gets `SIGKILL` (through
    /// the SSH `signal` request, which OpenSSH's sshd delivers with `killpg`), and the
    /// error carries what it printed until then. If this future is dropped before the
    /// command ends, the command is killed the same way.
    pub async fn exec(
        &self,
        command: &str,
        opts: &ExecOptions,
        sink: &mut (dyn OutputSink + Send),
    ) -> Result<CommandOutput> {
        crate::exec::run(self, command, opts, sink).await
    }

    /// Closes the connection (for every clone). Commands still running lose it.
    pub async fn close(&self) {
        let _ = self
            .inner
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    /// True once the connection is closed or lost.
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed()
    }

    /// The host, as `name (address:port)`.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The key the host presented and that was accepted, like `ssh-ed25519
    /// SHA256:...` (for a host certificate, the key it certifies).
    pub fn host_key(&self) -> Option<&str> {
        self.inner.host_key.fingerprint.get().map(String::as_str)
    }

    /// True when this connection wrote the host's key to known_hosts: the policy is
    /// accept-new and the key was not on record.
    pub fn learned_host_key(&self) -> bool {
        self.inner.host_key.learned.load(Ordering::Relaxed)
    }

    pub(crate) fn channels(&self) -> &tokio::sync::Semaphore {
        &self.inner.channels
    }

    pub(crate) fn kill_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.kill_lock
    }

    pub(crate) fn track_process_group(&self) -> bool {
        self.inner.track_process_group
    }

    /// Variables set for each command (the target's `env`).
    pub(crate) fn env(&self) -> &[(String, String)] {
        &self.inner.env
    }

    /// True when commands may use the local agent (the target's `forward_agent`,
    /// with an agent to forward).
    pub(crate) fn forward_agent(&self) -> bool {
        self.inner.forward_agent
    }

    /// Opens a session channel, retrying for a while when the server refuses (its
    /// `MaxSessions` slots are freed a little after a channel closes). `command` is
    /// what the channel is for: a lost connection means it was never sent.
    pub(crate) async fn open_channel(
        &self,
        command: &str,
    ) -> Result<russh::Channel<russh::client::Msg>> {
        let deadline = Instant::now() + CHANNEL_RETRY;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.inner.handle.channel_open_session().await {
                Ok(channel) => return Ok(channel),
                Err(russh::Error::ChannelOpenFailure(reason)) => {
                    if Instant::now() + pause > deadline {
                        return Err(Error::Channel {
                            host: self.inner.host.clone(),
                            detail: format!(
                                "the server refused a session channel ({reason:?}) for {CHANNEL_RETRY:?}; \
                                 is its MaxSessions lower than max_channels?"
                            ),
                        });
                    }
                    tracing::debug!(host = %self.inner.host, "channel refused ({reason:?}), trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(other) => {
                    return Err(Error::NotSent {
                        host: self.inner.host.clone(),
                        command: command.to_owned(),
                        detail: format!("opening a session channel: {other}"),
                    });
                }
            }
        }
    }
}

/// Runs the SSH handshake over any byte stream (TCP, or a channel of a jump host).
async fn handshake<S>(
    config: Arc<client::Config>,
    stream: S,
    handler: ClientHandler,
    host: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<Handle<ClientHandler>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match timeout_at(deadline, client::connect_stream(config, stream, handler)).await {
        Err(_) => Err(Error::ConnectTimeout {
            host: host.to_owned(),
            stage: "SSH handshake",
            timeout,
        }),
        Ok(Err(HandlerError::HostKey(e))) => Err(*e),
        Ok(Err(HandlerError::Ssh(e))) => Err(Error::Handshake {
            host: host.to_owned(),
            detail: handshake_detail(&e),
        }),
        Ok(Ok(h)) => Ok(h),
    }
}

/// `name (address:port)`.
pub(crate) fn host_label(target: &HostTarget) -> String {
    if target.address.contains(':') {
        format!("{} ([{}]:{})", target.name, target.address, target.port)
    } else {
        format!("{} ({}:{})", target.name, target.address, target.port)
    }
}

/// Resolves the address and connects to the first address that answers.
async fn tcp_connect(
    target: &HostTarget,
    host: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<TcpStream> {
    let name = target.address.as_str();
    let addrs: Vec<SocketAddr> =
        match timeout_at(deadline, tokio::net::lookup_host((name, target.port))).await {
            Err(_) => {
                return Err(Error::Dns {
                    host: host.to_owned(),
                    name: name.to_owned(),
                    detail: format!("no answer within {timeout:?}"),
                });
            }
            Ok(Err(e)) => {
                return Err(Error::Dns {
                    host: host.to_owned(),
                    name: name.to_owned(),
                    detail: e.to_string(),
                });
            }
            Ok(Ok(a)) => a.collect(),
        };
    if addrs.is_empty() {
        return Err(Error::Dns {
            host: host.to_owned(),
            name: name.to_owned(),
            detail: "no address".into(),
        });
    }
    let mut last = None;
    for addr in addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(Error::ConnectTimeout {
                    host: host.to_owned(),
                    stage: "TCP connect",
                    timeout,
                });
            }
            Ok(Ok(stream)) => {
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!("set_nodelay: {e}");
                }
                return Ok(stream);
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = Some(Error::ConnectRefused {
                    host: host.to_owned(),
                    addr,
                });
            }
            Ok(Err(source)) => {
                last = Some(Error::Connect {
                    host: host.to_owned(),
                    addr,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::Dns {
        host: host.to_owned(),
        name: name.to_owned(),
        detail: "no address".into(),
    }))
}

/// russh's client configuration: curve25519 key exchange first (russh's default puts
/// the slower post-quantum `mlkem768x25519-sha256` first), host key types already
/// known for this host first (as OpenSSH does, so a host with several keys presents
/// the one on record).
/// Ciphers for a CPU with AES instructions: AES-GCM there decrypts several times
/// faster than ChaCha20-Poly1305 (on the project's machine, 67 MB of output cost 0.05 s
/// less client CPU), with the same security.
const AES_FIRST: &[russh::cipher::Name] = &[
    russh::cipher::AES_256_GCM,
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_128_CTR,
];

/// Ciphers for a CPU without them: ChaCha20-Poly1305 first (constant time and fast in
/// software), as OpenSSH orders them.
const CHACHA_FIRST: &[russh::cipher::Name] = &[
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_GCM,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_128_CTR,
];

/// Whether this CPU has AES and carry-less multiplication instructions (what AES-GCM
/// needs to be fast and constant time).
fn hardware_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// russh's client configuration for `target` (see the constants above for the
/// ciphers). Certificate host key types are offered only when known_hosts trusts an
/// authority for the host (`@cert-authority`): a server with a certificate presents
/// it then, and [`HostKeyCheck`] checks it against those authorities.
fn client_config(
    opts: &ConnectOptions,
    known: &known_hosts::HostKeyTypes,
    target: &HostTarget,
) -> client::Config {
    let mut preferred = Preferred {
        kex: Cow::Owned(vec![
            kex::CURVE25519,
            kex::CURVE25519_PRE_RFC_8731,
            kex::MLKEM768X25519_SHA256,
            kex::DH_GEX_SHA256,
            kex::DH_G16_SHA512,
            kex::DH_G14_SHA256,
            kex::EXTENSION_SUPPORT_AS_CLIENT,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
        ]),
        cipher: Cow::Borrowed(if hardware_aes() {
            AES_FIRST
        } else {
            CHACHA_FIRST
        }),
        ..Preferred::default()
    };
    if !known.keys.is_empty() {
        preferred.key = Cow::Owned(types_first(&preferred.key, &known.keys));
    }
    if !known.authorities.is_empty() {
        // A certificate's type is that of the host key it certifies, which the
        // authority's type does not tell: every type is offered, the authorities'
        // first (a fleet often uses one key type throughout).
        preferred.host_key_certificates =
            Cow::Owned(types_first(&preferred.key, &known.authorities));
    }
    client::Config {
        preferred,
        keepalive_interval: target
            .keepalive
            .map(|k| k.interval)
            .or(opts.keepalive_interval),
        keepalive_max: target
            .keepalive
            .map_or(3, |k| usize::try_from(k.count_max).unwrap_or(3)),
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    }
}

/// `all`, those of the `first` types ahead, each part in its order.
fn types_first(all: &[Algorithm], first: &[Algorithm]) -> Vec<Algorithm> {
    let is_first = |a: &&Algorithm| first.iter().any(|f| known_hosts::same_type(f, a));
    let mut out: Vec<Algorithm> = all.iter().filter(is_first).cloned().collect();
    out.extend(all.iter().filter(|a| !is_first(a)).cloned());
    out
}

fn handshake_detail(e: &russh::Error) -> String {
    match e {
        russh::Error::IO(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the server closed the connection (not an SSH server, or too busy: MaxStartups?)".into()
        }
        russh::Error::Disconnect | russh::Error::HUP => "the server closed the connection".into(),
        other => other.to_string(),
    }
}

/// What the handler knows to check the host key.
struct HostKeyCheck {
    host: String,
    lookup: String,
    policy: HostKeyPolicy,
    path: PathBuf,
    entries: std::sync::Arc<known_hosts::KnownHosts>,
    /// What the check saw, for the connection to tell.
    seen: Arc<SeenKey>,
}

/// The host key a handshake accepted, and whether it was learned into known_hosts.
#[derive(Debug, Default)]
struct SeenKey {
    /// Like `ssh-ed25519 SHA256:...` (for a certificate, the key it certifies).
    fingerprint: std::sync::OnceLock<String>,
    /// True once the key was written to known_hosts (policy accept-new).
    learned: AtomicBool,
}

impl HostKeyCheck {
    /// Checks a plain host key against known_hosts as the policy says. `cert` is the
    /// certificate it came in when no authority trusted for the host signed that: the
    /// key counts as a plain one then (as OpenSSH does), and the error says so.
    fn check_key(&self, key: &PublicKey, cert: Option<&russh::keys::Certificate>) -> Result<()> {
        let fingerprint = known_hosts::describe(key);
        let verdict = match self.policy {
            HostKeyPolicy::Off => {
                tracing::debug!(host = %self.host, "host key {fingerprint} accepted unchecked (policy off)");
                return Ok(());
            }
            _ => known_hosts::check(&self.entries, &self.lookup, key),
        };
        let verdict = match (verdict, self.policy) {
            (Verdict::Unknown, HostKeyPolicy::AcceptNew) => {
                let learned =
                    known_hosts::learn(&self.path, &self.lookup, key).map_err(|source| {
                        Error::KnownHosts {
                            host: self.host.clone(),
                            path: self.path.clone(),
                            source,
                        }
                    })?;
                if learned == Verdict::Known {
                    self.seen.learned.store(true, Ordering::Relaxed);
                    tracing::info!(
                        host = %self.host,
                        "learned host key {fingerprint} for {} into {}",
                        self.lookup,
                        self.path.display()
                    );
                }
                learned
            }
            (v, _) => v,
        };
        let path = self.path.display();
        let lookup = &self.lookup;
        let (problem, detail) = match verdict {
            Verdict::Known => return Ok(()),
            Verdict::Unknown => match cert {
                None => (
                    HostKeyProblem::Unknown,
                    format!(
                        "host key not known: the server presents {fingerprint}, and {path} has no key for `{lookup}` \
                         (policy strict: connect once with policy accept-new, or add the host's key to that file)"
                    ),
                ),
                Some(cert) => (
                    HostKeyProblem::UnknownCertificateAuthority,
                    format!(
                        "host certificate from an unknown authority: the server presents an {}, certifying {fingerprint}, \
                         signed by {}, which no @cert-authority line of {path} trusts for `{lookup}`, and {path} has \
                         no key for `{lookup}` (policy strict: add that authority as `@cert-authority PATTERN KEY`, \
                         or the host's key, to that file)",
                        known_hosts::describe_certificate(cert),
                        authority(cert),
                    ),
                ),
            },
            Verdict::Changed { line } => {
                let other = known_hosts::key_at(&self.entries, line)
                    .map(known_hosts::describe)
                    .map_or_else(
                        || "another key".to_owned(),
                        |k| format!("another key, {k},"),
                    );
                (
                    HostKeyProblem::Changed { line },
                    format!(
                        "HOST KEY CHANGED: the server presents {fingerprint}, but {path} line {line} holds {other} \
                         of that type for `{lookup}`; someone may be intercepting the connection. If the change is \
                         expected, remove line {line} and connect again"
                    ),
                )
            }
            Verdict::Revoked { line } => (
                HostKeyProblem::Revoked { line },
                format!(
                    "host key REVOKED: the server presents {fingerprint}, marked @revoked at {path} line {line}"
                ),
            ),
        };
        Err(self.refusal(problem, fingerprint, detail))
    }

    /// Checks a host certificate: accepted, learning nothing, when an authority
    /// trusted for the host (`@cert-authority`) signed it and it is valid for the host
    /// now. From another authority, its key is checked as a plain key. A certificate
    /// from a trusted authority that is not valid is refused, unless its key is on
    /// record as a plain key (OpenSSH falls back to that key too).
    fn check_certificate(&self, cert: &russh::keys::Certificate) -> Result<()> {
        let key = PublicKey::new(cert.public_key().clone(), "");
        let fingerprint = known_hosts::describe(&key);
        if self.policy == HostKeyPolicy::Off {
            tracing::debug!(host = %self.host, "host certificate for {fingerprint} accepted unchecked (policy off)");
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let what = format!(
            "an {}, certifying {fingerprint}",
            known_hosts::describe_certificate(cert)
        );
        let path = self.path.display();
        let lookup = &self.lookup;
        let (problem, detail) = match known_hosts::check_certificate(
            &self.entries,
            lookup,
            cert,
            now,
        ) {
            known_hosts::CertVerdict::Trusted { line } => {
                tracing::debug!(
                    host = %self.host,
                    "host certificate accepted: {what}, signed by {} (trusted at {path} line {line})",
                    authority(cert)
                );
                return Ok(());
            }
            known_hosts::CertVerdict::UnknownAuthority => return self.check_key(&key, Some(cert)),
            known_hosts::CertVerdict::KeyRevoked { line } => (
                HostKeyProblem::Revoked { line },
                format!(
                    "host key REVOKED: the server presents {what}, whose key is marked @revoked at {path} line {line}"
                ),
            ),
            known_hosts::CertVerdict::AuthorityRevoked { line } => (
                HostKeyProblem::CertificateAuthorityRevoked { line },
                format!(
                    "host certificate authority REVOKED: the server presents {what}, signed by {}, which is \
                         marked @revoked at {path} line {line}",
                    authority(cert)
                ),
            ),
            known_hosts::CertVerdict::Invalid { line, problem } => {
                let (problem, why) =
                    certificate_problem(problem, known_hosts::certificate_name(lookup));
                if known_hosts::check(&self.entries, lookup, &key) == Verdict::Known {
                    tracing::warn!(
                        host = %self.host,
                        "host certificate not valid ({why}); its key is in {path}: accepted as a plain key"
                    );
                    return Ok(());
                }
                (
                    problem,
                    format!(
                        "host certificate not valid: the server presents {what}, signed by {} (trusted for \
                             `{lookup}` at {path} line {line}), but {why}",
                        authority(cert)
                    ),
                )
            }
        };
        Err(self.refusal(problem, fingerprint, detail))
    }

    fn refusal(&self, problem: HostKeyProblem, fingerprint: String, detail: String) -> Error {
        Error::HostKey {
            host: self.host.clone(),
            problem,
            fingerprint,
            known_hosts: self.path.clone(),
            detail,
        }
    }
}

/// The key that signed a certificate, as `ssh-ed25519 SHA256:...`.
fn authority(cert: &russh::keys::Certificate) -> String {
    known_hosts::describe(&PublicKey::new(cert.signature_key().clone(), ""))
}

/// The problem to report for an invalid host certificate, and why in words (`name`
/// is the name it had to list).
fn certificate_problem(problem: known_hosts::CertProblem, name: &str) -> (HostKeyProblem, String) {
    use known_hosts::CertProblem as P;
    match problem {
        P::NotHost => (
            HostKeyProblem::CertificateNotForHosts,
            "it is a user certificate, not a host certificate".into(),
        ),
        P::NotYetValid { valid_after } => (
            HostKeyProblem::CertificateNotYetValid,
            format!("it is not valid before {}", known_hosts::utc(valid_after)),
        ),
        P::Expired { valid_before } => (
            HostKeyProblem::CertificateExpired,
            format!("it expired at {}", known_hosts::utc(valid_before)),
        ),
        P::Principal { principals } => (
            HostKeyProblem::CertificateWrongPrincipal,
            format!(
                "`{name}` is not among its principals (`{}`)",
                principals.join("`, `")
            ),
        ),
        P::CriticalOptions { names } => (
            HostKeyProblem::CertificateCriticalOptions,
            format!(
                "it carries critical options (`{}`), which OpenSSH refuses in host certificates",
                names.join("`, `")
            ),
        ),
        P::Signature => (
            HostKeyProblem::CertificateSignature,
            "the authority's signature on it does not verify".into(),
        ),
        P::WeakSignature { algorithm } => (
            HostKeyProblem::CertificateSignature,
            format!(
                "the authority signed it with {algorithm}, which OpenSSH no longer accepts from authorities"
            ),
        ),
    }
}

/// The russh handler: checks the host key; everything else is read from channels.
pub(crate) struct ClientHandler {
    check: HostKeyCheck,
    /// The local agent's socket, when the host may use it (`ForwardAgent`); the
    /// server's agent channels are refused otherwise.
    agent: Option<PathBuf>,
    host: String,
}

/// The handler's error: russh's, or a refused host key.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Ssh(russh::Error),
    HostKey(Box<Error>),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    /// Joins a channel the server opens for the forwarded agent to the local agent's
    /// socket, when this host may use it; refuses it otherwise.
    async fn server_channel_open_agent_forward(
        &mut self,
        channel: russh::Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), HandlerError> {
        let Some(socket) = self.agent.clone() else {
            tracing::warn!(host = %self.host, "refused an agent channel: agent forwarding is off");
            drop(reply);
            return Ok(());
        };
        reply.accept().await;
        let host = self.host.clone();
        tokio::spawn(async move {
            let mut local = match tokio::net::UnixStream::connect(&socket).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(host = %host, "cannot reach the agent at {}: {e}", socket.display());
                    return;
                }
            };
            let mut remote = channel.into_stream();
            let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
        });
        Ok(())
    }

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, HandlerError> {
        let (checked, fingerprint) = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                (self.check.check_key(key, None), known_hosts::describe(key))
            }
            // Offered only when known_hosts trusts an authority for the host.
            PublicKeyOrCertificate::Certificate(cert) => (
                self.check.check_certificate(cert),
                known_hosts::describe(&PublicKey::new(cert.public_key().clone(), "")),
            ),
        };
        checked.map_err(|e| HandlerError::HostKey(Box::new(e)))?;
        let _ = self.check.seen.fingerprint.set(fingerprint);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_keepalive_overrides_the_engine_one() {
        let opts = ConnectOptions {
            keepalive_interval: Some(Duration::from_secs(60)),
            ..ConnectOptions::default()
        };
        let mut target = HostTarget::new(minke_core::HostId::new(1), "web1", "127.0.0.1");
        let c = client_config(&opts, &Default::default(), &target);
        assert_eq!(
            (c.keepalive_interval, c.keepalive_max),
            (Some(Duration::from_secs(60)), 3)
        );
        target.keepalive = Some(minke_core::Keepalive {
            interval: Duration::from_secs(15),
            count_max: 5,
        });
        let c = client_config(&opts, &Default::default(), &target);
        assert_eq!(
            (c.keepalive_interval, c.keepalive_max),
            (Some(Duration::from_secs(15)), 5)
        );
    }
}
