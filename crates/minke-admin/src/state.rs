//! What every handler shares: the engine, the configuration and the live hub.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use minke_core::AuditAction;
use minke_runtime::Engine;
use minke_store::{Actor, Store};
use tokio::sync::watch;

use crate::auth::{Auth, LoginTokens};
use crate::live::Hub;
use crate::login_limits::LoginLimits;
use crate::password_pool::PasswordPool;
use crate::ssh_paths::SshDirs;

/// How the admin is served.
///
/// ```
/// let c = minke_admin::AdminConfig {
///     base_path: "/minke".into(),
///     ..minke_admin::AdminConfig::default()
/// };
/// assert!(!c.secure_cookies);
/// ```
#[derive(Clone, Debug)]
pub struct AdminConfig {
    /// The path prefix the admin is mounted under, like `/minke` (default: none).
    /// Every link and cookie respects it. Letters, digits, `/`, `-`, `_` and `.` only.
    pub base_path: String,
    /// Set the `Secure` flag on cookies: turn it on when the admin is reached over
    /// HTTPS (default off, for plain http on localhost).
    pub secure_cookies: bool,
    /// How long a login lasts (default 12 hours).
    pub session_ttl: Duration,
    /// The site's title in pages (default `Minke`).
    pub title: String,
    /// Rows per changelist page unless asked otherwise (default 50).
    pub page_size: usize,
    /// Password checks running at once, each on its own thread with its own 19 MiB
    /// of Argon2 memory (default: twice the cores, from 2 to 8).
    pub login_workers: usize,
    /// Logins waiting for a free password checker at most; more are answered `503`
    /// with `Retry-After` at once (default 64).
    pub login_queue: usize,
    /// How long a login waits for a free password checker before it is answered
    /// `503` with `Retry-After` (default 5 seconds).
    pub login_queue_wait: Duration,
    /// Failed logins from one client address per [`login_window`](Self::login_window),
    /// whatever the user name; more are answered `429` with `Retry-After` (default 50).
    pub login_failures_per_addr: u32,
    /// Failed logins for one user name from one client address per
    /// [`login_window`](Self::login_window) (default 10). The same user from another
    /// address is not affected, so nobody can lock a user out from everywhere.
    pub login_failures_per_user: u32,
    /// The window of the failed-login limits (default 60 seconds).
    pub login_window: Duration,
    /// Reverse proxies whose `X-Forwarded-For` header names the client (default
    /// none: the client is the address the connection comes from).
    pub trusted_proxies: Vec<IpAddr>,
    /// Bytes of events queued for one live-view subscriber at most (default
    /// 256 KiB); a subscriber that falls further behind gets a `lagged` event with
    /// the bytes of output it skipped, then continues from the present.
    pub live_buffer_bytes: usize,
    /// Directories the identity and certificate files and `known_hosts` of hosts may lie in when
    /// set from the admin (default: none given, meaning the serving user's
    /// `~/.ssh`). The command line is not limited.
    pub ssh_dirs: Vec<PathBuf>,
    /// Queue the runs started in the admin and the API for workers instead of
    /// running them in this process (PostgreSQL; default off).
    pub submit: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            base_path: String::new(),
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            title: "Minke".into(),
            page_size: 50,
            login_workers: default_login_workers(),
            login_queue: 64,
            login_queue_wait: Duration::from_secs(5),
            login_failures_per_addr: 50,
            login_failures_per_user: 10,
            login_window: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            live_buffer_bytes: 256 * 1024,
            ssh_dirs: Vec::new(),
            submit: false,
        }
    }
}

/// Twice the cores, from 2 to 8: enough to keep the cores busy, while the memory
/// stays bounded (19 MiB each).
fn default_login_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(2, 8)
}

impl AdminConfig {
    /// The base path without a trailing slash (`""` at the root), or an error naming
    /// what is wrong with it.
    ///
    /// ```
    /// use minke_admin::AdminConfig;
    /// let c = |p: &str| AdminConfig { base_path: p.into(), ..AdminConfig::default() };
    /// assert_eq!(c("/minke/").normalized_base().unwrap(), "/minke");
    /// assert_eq!(c("minke").normalized_base().unwrap(), "/minke");
    /// assert_eq!(c("/").normalized_base().unwrap(), "");
    /// assert!(c("/a b").normalized_base().is_err());
    /// ```
    pub fn normalized_base(&self) -> crate::Result<String> {
        let trimmed = self.base_path.trim().trim_matches('/');
        if trimmed.is_empty() {
            return Ok(String::new());
        }
        if let Some(bad) = trimmed
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "/-_.".contains(*c)))
        {
            return Err(crate::Error::Config(format!(
                "base path `{}` holds `{bad}`: use letters, digits, `/`, `-`, `_` and `.`",
                self.base_path
            )));
        }
        if trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(crate::Error::Config(format!(
                "base path `{}` has an empty, `.` or `..` segment",
                self.base_path
            )));
        }
        Ok(format!("/{trimmed}"))
    }
}

/// The admin's shared state. Cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: AdminConfig,
    base: String,
    hub: Arc<Hub>,
    closing: watch::Sender<bool>,
    /// `None` when its threads could not be started (logins answer 503 then).
    passwords: Option<PasswordPool>,
    limits: LoginLimits,
    /// `None` when the system's random numbers failed (logins answer 500 then).
    login_tokens: Option<LoginTokens>,
    ssh_dirs: SshDirs,
}

impl AppState {
    pub(crate) fn new(engine: Engine, config: AdminConfig, base: String) -> Self {
        let hub = Arc::new(Hub::new(&engine));
        let passwords = PasswordPool::new(
            config.login_workers,
            config.login_queue,
            config.login_queue_wait,
        )
        .inspect_err(|e| tracing::error!(error = %e, "cannot start the password checkers"))
        .ok();
        let login_tokens = LoginTokens::new()
            .inspect_err(|e| tracing::error!(error = %e, "cannot make the login token key"))
            .ok();
        let limits = LoginLimits::new(
            config.login_failures_per_addr,
            config.login_failures_per_user,
            config.login_window,
        );
        let ssh_dirs = SshDirs::new(&config.ssh_dirs);
        AppState {
            inner: Arc::new(Inner {
                engine,
                config,
                base,
                hub,
                closing: watch::channel(false).0,
                passwords,
                limits,
                login_tokens,
                ssh_dirs,
            }),
        }
    }

    /// The password checkers.
    pub(crate) fn passwords(&self) -> Option<&PasswordPool> {
        self.inner.passwords.as_ref()
    }

    /// The failed-login limits.
    pub(crate) fn limits(&self) -> &LoginLimits {
        &self.inner.limits
    }

    /// The login form's CSRF tokens.
    pub(crate) fn login_tokens(&self) -> crate::Result<&LoginTokens> {
        self.inner
            .login_tokens
            .as_ref()
            .ok_or_else(|| crate::Error::Internal("no login token key".into()))
    }

    /// Where host files may lie when set from the admin.
    pub(crate) fn ssh_dirs(&self) -> &SshDirs {
        &self.inner.ssh_dirs
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Starts a run for `auth`'s user here, or queues it for workers with
    /// [`AdminConfig::submit`], and writes it in the audit log.
    pub(crate) async fn start_run(
        &self,
        auth: &Auth,
        req: minke_runtime::RunRequest,
    ) -> minke_runtime::Result<minke_runtime::Submitted> {
        let what = format!("session {} on {}: {}", req.session, req.model, req.query);
        let started = if self.inner.config.submit {
            self.inner.engine.submit(req).await?
        } else {
            let handle = self.inner.engine.start(req).await?;
            minke_runtime::Submitted {
                run_id: handle.run_id,
                sessions: handle.sessions,
            }
        };
        self.audit(
            auth.actor(),
            AuditAction::RunStarted,
            format!("run {}", started.run_id),
            format!("{what}: {} sessions", started.sessions),
        );
        Ok(started)
    }

    /// Writes an entry of the audit log without waiting (a failure is logged and
    /// counted with the history's failed writes, which every page shows).
    pub(crate) fn audit(
        &self,
        actor: Actor,
        action: AuditAction,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) {
        let (target, detail) = (target.into(), detail.into());
        self.store()
            .write_statement_later("an entry of the audit log", move |c| {
                minke_store::record_audit(c, &actor, action, &target, &detail)
            });
    }

    pub(crate) fn store(&self) -> &Store {
        self.inner.engine.store()
    }

    pub(crate) fn config(&self) -> &AdminConfig {
        &self.inner.config
    }

    /// The base path, `""` at the root.
    pub(crate) fn base(&self) -> &str {
        &self.inner.base
    }

    /// A URL path under the base path.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base)
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// True for paths of the JSON API.
    pub(crate) fn is_api(&self, path: &str) -> bool {
        path.strip_prefix(self.base())
            .is_some_and(|p| p == "/api" || p.starts_with("/api/"))
    }

    /// Resolves when the server shuts down (ends live streams).
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Tells live streams to end.
    pub(crate) fn close(&self) {
        self.inner.closing.send_replace(true);
    }
}
