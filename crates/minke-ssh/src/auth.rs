//! Client authentication: agent, key files, password — in that order.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;

use minke_core::{HostTarget, Secret};
use russh::client::{AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use russh::{MethodKind, MethodSet};

use crate::ConnectOptions;
use crate::connection::ClientHandler;

/// At most this many keyboard-interactive rounds are answered.
const MAX_KBD_ROUNDS: usize = 5;

/// Private keys already loaded (and decrypted) in this process, so a fleet of hosts
/// sharing one encrypted key pays for its key derivation once.
static KEY_CACHE: LazyLock<Mutex<Vec<CachedKey>>> = LazyLock::new(|| Mutex::new(Vec::new()));

struct CachedKey {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
    /// The passphrase it was decrypted with (`None` for a plain key).
    passphrase: Option<Secret>,
    key: Arc<PrivateKey>,
}

/// Where authentication stands: what was tried, what the server still accepts.
struct Attempts {
    tried: Vec<String>,
    allowed: Option<MethodSet>,
}

impl Attempts {
    fn allows(&self, kind: MethodKind) -> bool {
        self.allowed.as_ref().is_none_or(|m| m.contains(&kind))
    }

    /// Records a failed attempt; `Ok(true)` means authenticated.
    fn record(&mut self, what: String, result: Result<AuthResult, String>) -> bool {
        match result {
            Ok(AuthResult::Success) => true,
            Ok(AuthResult::Failure {
                remaining_methods,
                partial_success,
            }) => {
                let extra = if partial_success {
                    " (partial success: more factors required, unsupported)"
                } else {
                    ""
                };
                self.tried.push(format!("{what}: refused{extra}"));
                self.allowed = Some(remaining_methods);
                false
            }
            Err(e) => {
                self.tried.push(format!("{what}: {e}"));
                false
            }
        }
    }

    fn summary(mut self) -> String {
        if let Some(allowed) = &self.allowed {
            let names: Vec<&str> = allowed.iter().map(<&str>::from).collect();
            self.tried.push(format!(
                "the server accepts: {}",
                if names.is_empty() {
                    "nothing more".into()
                } else {
                    names.join(", ")
                }
            ));
        }
        if self.tried.is_empty() {
            "nothing (no agent, no key file, no password)".to_owned()
        } else {
            self.tried.join("; ")
        }
    }
}

/// Authenticates as `target.user`. `Err` holds the list of what was tried.
pub(crate) async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    target: &HostTarget,
    opts: &ConnectOptions,
) -> Result<(), String> {
    let user = target.user.as_str();
    let mut at = Attempts {
        tried: Vec::new(),
        allowed: None,
    };

    if opts.use_agent && try_agent(handle, user, opts, &mut at).await {
        return Ok(());
    }

    let files = if target.identity_files.is_empty() {
        default_identity_files()
    } else {
        target.identity_files.clone()
    };
    for path in &files {
        if !at.allows(MethodKind::PublicKey) {
            at.tried.push(format!(
                "key {}: skipped, the server does not accept public keys",
                path.display()
            ));
            continue;
        }
        let key = match load_key(path.clone(), opts.key_passphrase.clone()).await {
            Ok(k) => k,
            Err(note) => {
                at.tried.push(format!("key {}: {note}", path.display()));
                continue;
            }
        };
        let what = format!("key {} ({})", path.display(), describe_private(&key));
        let hash = if matches!(key.algorithm(), russh::keys::Algorithm::Rsa { .. }) {
            rsa_hash(handle).await
        } else {
            None
        };
        let result = handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(|e| closed(&e));
        if at.record(what, result) {
            return Ok(());
        }
    }

    if let Some(password) = &opts.password {
        if at.allows(MethodKind::Password) {
            let result = handle
                .authenticate_password(user, password.expose())
                .await
                .map_err(|e| closed(&e));
            if at.record("password".to_owned(), result) {
                return Ok(());
            }
        } else if at.allows(MethodKind::KeyboardInteractive) {
            if keyboard_interactive(handle, user, password, &mut at).await {
                return Ok(());
            }
        } else {
            at.tried.push(
                "password: skipped, the server accepts neither password nor keyboard-interactive"
                    .into(),
            );
        }
    }

    Err(at.summary())
}

/// Tries every identity of the agent (`opts.agent_socket`, else `$SSH_AUTH_SOCK`).
async fn try_agent(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    opts: &ConnectOptions,
    at: &mut Attempts,
) -> bool {
    let Some(socket) = opts
        .agent_socket
        .clone()
        .or_else(|| std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from))
    else {
        at.tried
            .push("ssh-agent: not used (SSH_AUTH_SOCK is not set)".into());
        return false;
    };
    let mut agent = match AgentClient::connect_uds(&socket).await {
        Ok(a) => a,
        Err(e) => {
            at.tried.push(format!(
                "ssh-agent at {}: cannot connect ({e})",
                socket.display()
            ));
            return false;
        }
    };
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            at.tried.push(format!("ssh-agent: cannot list keys ({e})"));
            return false;
        }
    };
    if identities.is_empty() {
        at.tried.push("ssh-agent: holds no keys".into());
    }
    for id in identities {
        if !at.allows(MethodKind::PublicKey) {
            break;
        }
        let public = id.public_key().into_owned();
        let what = format!("ssh-agent key {}", crate::known_hosts::describe(&public));
        let hash = if matches!(public.algorithm(), russh::keys::Algorithm::Rsa { .. }) {
            rsa_hash(handle).await
        } else {
            None
        };
        let result = handle
            .authenticate_publickey_with(user, public, hash, &mut agent)
            .await
            .map_err(|e| format!("agent error: {e}"));
        if at.record(what, result) {
            return true;
        }
    }
    false
}

async fn keyboard_interactive(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    password: &Secret,
    at: &mut Attempts,
) -> bool {
    let mut reply = handle
        .authenticate_keyboard_interactive_start(user, None)
        .await;
    for _ in 0..MAX_KBD_ROUNDS {
        match reply {
            Ok(KeyboardInteractiveAuthResponse::Success) => return true,
            Ok(KeyboardInteractiveAuthResponse::Failure {
                remaining_methods, ..
            }) => {
                at.tried
                    .push("password (keyboard-interactive): refused".into());
                at.allowed = Some(remaining_methods);
                return false;
            }
            Ok(KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. }) => {
                let answers = prompts
                    .iter()
                    .map(|_| password.expose().to_owned())
                    .collect();
                reply = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await;
            }
            Err(e) => {
                at.tried
                    .push(format!("password (keyboard-interactive): {}", closed(&e)));
                return false;
            }
        }
    }
    at.tried
        .push("password (keyboard-interactive): too many prompts".into());
    false
}

/// The signature hash to use with an RSA key: the best the server announces.
async fn rsa_hash(handle: &Handle<ClientHandler>) -> Option<HashAlg> {
    match handle.best_supported_rsa_hash().await {
        Ok(Some(hash)) => hash,
        _ => Some(HashAlg::Sha256),
    }
}

fn closed(e: &russh::Error) -> String {
    match e {
        russh::Error::SendError | russh::Error::Disconnect | russh::Error::HUP => {
            "the server closed the connection (too many authentication failures?)".into()
        }
        other => format!("error: {other}"),
    }
}

fn describe_private(key: &PrivateKey) -> String {
    crate::known_hosts::describe(key.public_key())
}

/// `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`: those that exist.
fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = std::env::home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|p| p.exists())
        .collect()
}

/// Loads (and decrypts) a private key off the async threads. `Err` is a note for the
/// authentication error, never holding the passphrase.
async fn load_key(path: PathBuf, passphrase: Option<Secret>) -> Result<Arc<PrivateKey>, String> {
    tokio::task::spawn_blocking(move || load_key_blocking(&path, passphrase))
        .await
        .unwrap_or_else(|e| Err(format!("loading failed ({e})")))
}

fn load_key_blocking(path: &Path, passphrase: Option<Secret>) -> Result<Arc<PrivateKey>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it ({e})"))?;
    let modified = meta.modified().ok();
    let len = meta.len();
    {
        let cache = KEY_CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hit) = cache.iter().find(|c| {
            c.path == path
                && c.modified == modified
                && c.len == len
                && (c.passphrase.is_none() || c.passphrase == passphrase)
        }) {
            return Ok(hit.key.clone());
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it ({e})"))?;
    let encrypted = is_encrypted_openssh(&text) || text.contains("ENCRYPTED");
    let pass = passphrase.as_ref().map(Secret::expose);
    let key = match russh::keys::decode_secret_key(&text, pass) {
        Ok(k) => Arc::new(k),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            return Err("skipped: it is encrypted and no passphrase was given".into());
        }
        Err(_) if encrypted && passphrase.is_none() => {
            return Err("skipped: it is encrypted and no passphrase was given".into());
        }
        Err(e) if encrypted => {
            return Err(format!("cannot decrypt it with the passphrase given ({e})"));
        }
        Err(e) => return Err(format!("cannot load it ({e})")),
    };
    let mut cache = KEY_CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.retain(|c| c.path != path);
    cache.push(CachedKey {
        path: path.to_owned(),
        modified,
        len,
        passphrase: if encrypted { passphrase } else { None },
        key: key.clone(),
    });
    Ok(key)
}

/// True for an OpenSSH-format key that is encrypted.
fn is_encrypted_openssh(text: &str) -> bool {
    text.contains("BEGIN OPENSSH PRIVATE KEY")
        && PrivateKey::from_openssh(text).is_ok_and(|k| k.is_encrypted())
}
