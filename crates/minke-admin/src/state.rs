//! What every handler shares: the engine, the configuration and the live hub.

use std::sync::Arc;
use std::time::Duration;

use minke_runtime::Engine;
use minke_store::Store;
use tokio::sync::watch;

use crate::live::Hub;

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
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            base_path: String::new(),
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            title: "Minke".into(),
            page_size: 50,
        }
    }
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
}

impl AppState {
    pub(crate) fn new(engine: Engine, config: AdminConfig, base: String) -> Self {
        let hub = Arc::new(Hub::new(&engine));
        AppState {
            inner: Arc::new(Inner {
                engine,
                config,
                base,
                hub,
                closing: watch::channel(false).0,
            }),
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
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
