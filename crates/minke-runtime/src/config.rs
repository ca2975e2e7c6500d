//! The engine's configuration: every limit, with its default.

use std::sync::Arc;
use std::time::Duration;

use minke_core::SecretKey;

use minke_ssh::ConnectOptions;

/// How the engine works; every limit has a default.
#[derive(Clone, Debug)]
pub struct Config {
    /// Sessions running at once, over all hosts and all runs of this engine (default 100).
    pub concurrency: usize,
    /// How to connect (timeouts, agent, passphrase).
    pub connect: ConnectOptions,
    /// Time limit of one command (default 10 minutes).
    pub command_timeout: Duration,
    /// Time limit of one session (default 1 hour).
    pub session_timeout: Duration,
    /// Bytes of each output stream kept per command (default 1 MiB).
    pub output_cap: usize,
    /// How long a host lock lives without a heartbeat (default 60 s).
    pub lock_ttl: Duration,
    /// SSH handshakes in flight at once (default 64), so that a burst of thousands of
    /// hosts does not trip `MaxStartups` on bastions or the local network stack.
    pub connect_concurrency: usize,
    /// New connections per second at most (default: no limit).
    pub connect_rate: Option<f64>,
    /// Further tries after a refused or dropped connect (default 2).
    pub connect_retries: u32,
    /// Pause before the first retry, doubled for each further one (default 200 ms).
    pub connect_backoff: Duration,
    /// Handshakes in flight at once through one jump host (default 8).
    pub connect_per_jump: usize,
    /// Handshakes in flight at once to one SSH server (one address and port, behind
    /// the same jump host if any; default 8): sshd's default `MaxStartups 10:30:100`
    /// starts dropping unauthenticated connections at 10, so many host records that
    /// share one server (a gateway, a port-forwarding NAT) must not all knock at once.
    pub connect_per_server: usize,
    /// Keep each host's connection open after a run, for the next run on that host,
    /// closing it once it has been idle this long (default `None`: every run closes
    /// its connections at its end, right for short-lived processes). A kept
    /// connection is used again only while its host's record is unchanged; one found
    /// dead is replaced without a failure. `fleet serve` keeps them for 60 s
    /// ([`DEFAULT_KEEP_CONNECTIONS`]).
    pub keep_connections: Option<Duration>,
    /// Kept connections at most (default 1000); beyond it the least recently used
    /// is closed.
    pub max_kept_connections: usize,
    /// The key that seals secret session parameters for workers
    /// ([`Engine::submit`](crate::Engine::submit)) and unseals them in a worker
    /// (default: none, from `MINKE_SECRET_KEY` in the command line tools).
    pub secret_key: Option<Arc<SecretKey>>,
    /// The password `sudo` commands get when the session gives none (default: none,
    /// from `MINKE_SUDO_PASSWORD` in the command line tools). Never recorded: it
    /// goes to sudo's standard input and is hidden like secret parameters.
    pub sudo_password: Option<minke_core::Secret>,
}

/// The idle time after which long-lived processes close a kept connection: 60 s.
pub const DEFAULT_KEEP_CONNECTIONS: Duration = Duration::from_secs(60);

impl Default for Config {
    fn default() -> Self {
        Config {
            concurrency: 100,
            connect: ConnectOptions::default(),
            command_timeout: Duration::from_secs(600),
            session_timeout: Duration::from_secs(3600),
            output_cap: 1 << 20,
            lock_ttl: Duration::from_secs(60),
            connect_concurrency: 64,
            connect_rate: None,
            connect_retries: 2,
            connect_backoff: Duration::from_millis(200),
            connect_per_jump: 8,
            connect_per_server: 8,
            keep_connections: None,
            max_kept_connections: 1000,
            secret_key: None,
            sudo_password: None,
        }
    }
}
