//! Client authentication: agent, key files, password — in that order. Certificates
//! (OpenSSH's `CertificateFile`, `KEY-cert.pub`, or held by the agent) are offered
//! before the plain key they certify.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;

use minke_core::{HostTarget, Secret};
use russh::client::{AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Certificate, HashAlg, PrivateKey, PrivateKeyWithHashAlg};
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
        self.record_noting(what, result, None)
    }

    /// [`record`](Self::record), with a likely reason added to a refusal.
    fn record_noting(
        &mut self,
        what: String,
        result: Result<AuthResult, String>,
        likely: Option<String>,
    ) -> bool {
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
                let likely = likely.map(|l| format!(" ({l})")).unwrap_or_default();
                self.tried.push(format!("{what}: refused{extra}{likely}"));
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

    let mut certs = Certificates::read(target.certificate_files.clone()).await;

    if opts.use_agent && try_agent(handle, user, opts, &mut certs, &mut at).await {
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
        for (cert_path, cert) in certs.for_identity(path, &key, &mut at).await {
            let Some((what, likely)) =
                certs.offering(&cert_path.display().to_string(), &cert, user, &mut at)
            else {
                continue;
            };
            let result = handle
                .authenticate_openssh_cert(user, key.clone(), cert)
                .await
                .map_err(|e| closed(&e));
            if at.record_noting(what, result, likely) {
                return Ok(());
            }
        }
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

    certs.note_unused(&mut at);

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

/// Tries every identity of the agent (`opts.agent_socket`, else `$SSH_AUTH_SOCK`):
/// the certificates it holds, and each plain key after the target's certificates for
/// that key (the agent signs for them with the key).
async fn try_agent(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    opts: &ConnectOptions,
    certs: &mut Certificates,
    at: &mut Attempts,
) -> bool {
    let Some(socket) = opts.agent_path() else {
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
        let hash = if matches!(public.algorithm(), russh::keys::Algorithm::Rsa { .. }) {
            rsa_hash(handle).await
        } else {
            None
        };
        if let AgentIdentity::Certificate { certificate, .. } = id {
            let Some((what, likely)) = certs.offering("held by ssh-agent", &certificate, user, at)
            else {
                continue;
            };
            let result = handle
                .authenticate_certificate_with(user, certificate, hash, &mut agent)
                .await
                .map_err(|e| format!("agent error: {e}"));
            if at.record_noting(what, result, likely) {
                return true;
            }
            continue;
        }
        for (cert_path, cert) in certs.matching(public.key_data()) {
            let Some((what, likely)) =
                certs.offering(&cert_path.display().to_string(), &cert, user, at)
            else {
                continue;
            };
            let what = format!("{what} with its key in ssh-agent");
            let result = handle
                .authenticate_certificate_with(user, cert, hash, &mut PlainKeySigner(&mut agent))
                .await
                .map_err(|e| format!("agent error: {e}"));
            if at.record_noting(what, result, likely) {
                return true;
            }
        }
        let what = format!("ssh-agent key {}", crate::known_hosts::describe(&public));
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

/// The target's certificate files, read once, and the certificates offered so far.
struct Certificates {
    files: Vec<CertificateFile>,
    /// Offered already (a certificate is offered once, however many ways lead to it).
    offered: Vec<Certificate>,
}

/// One of the target's `certificate_files`.
struct CertificateFile {
    path: PathBuf,
    /// The certificate, or why it can't be used.
    cert: Result<Certificate, String>,
    /// Offered with a key of the agent or of an identity file.
    used: bool,
}

impl Certificates {
    /// Reads the certificate files off the async threads.
    async fn read(paths: Vec<PathBuf>) -> Certificates {
        let files = tokio::task::spawn_blocking(move || {
            paths
                .into_iter()
                .map(|path| CertificateFile {
                    cert: read_certificate(&path),
                    path,
                    used: false,
                })
                .collect()
        })
        .await
        .unwrap_or_default();
        Certificates {
            files,
            offered: Vec::new(),
        }
    }

    /// The target's certificates of `key`, in order, now counted as used.
    fn matching(&mut self, key: &KeyData) -> Vec<(PathBuf, Certificate)> {
        let mut out = Vec::new();
        for file in &mut self.files {
            if let Ok(cert) = &file.cert
                && cert.public_key() == key
            {
                file.used = true;
                out.push((file.path.clone(), cert.clone()));
            }
        }
        out
    }

    /// The certificates to offer with the identity file at `path` holding `key`: the
    /// target's for that key, then `PATH-cert.pub` when it exists (as `ssh` does).
    async fn for_identity(
        &mut self,
        path: &Path,
        key: &PrivateKey,
        at: &mut Attempts,
    ) -> Vec<(PathBuf, Certificate)> {
        let mut out = self.matching(key.public_key().key_data());
        let mut beside = path.as_os_str().to_owned();
        beside.push("-cert.pub");
        let beside = PathBuf::from(beside);
        if out.iter().any(|(p, _)| *p == beside) {
            return out;
        }
        let read = {
            let beside = beside.clone();
            tokio::task::spawn_blocking(move || beside.exists().then(|| read_certificate(&beside)))
                .await
                .unwrap_or_else(|e| Some(Err(format!("reading failed ({e})"))))
        };
        match read {
            None => {}
            Some(Err(note)) => at
                .tried
                .push(format!("certificate {}: {note}", beside.display())),
            Some(Ok(cert)) if cert.public_key() != key.public_key().key_data() => {
                at.tried.push(format!(
                    "certificate {} ({}): skipped, it certifies another key than {}",
                    beside.display(),
                    crate::known_hosts::describe_certificate(&cert),
                    path.display()
                ));
            }
            Some(Ok(cert)) => out.push((beside, cert)),
        }
        out
    }

    /// What to call `cert` (from `source`) in the list of what was tried, and a likely
    /// reason should the server refuse it; `None` when it is not to be offered
    /// (offered already, or not a user certificate: noted).
    fn offering(
        &mut self,
        source: &str,
        cert: &Certificate,
        user: &str,
        at: &mut Attempts,
    ) -> Option<(String, Option<String>)> {
        if self
            .offered
            .iter()
            .any(|c| c.signature() == cert.signature())
        {
            return None;
        }
        let what = format!(
            "certificate {source} ({})",
            crate::known_hosts::describe_certificate(cert)
        );
        if cert.cert_type() != CertType::User {
            at.tried
                .push(format!("{what}: skipped, it is not a user certificate"));
            return None;
        }
        self.offered.push(cert.clone());
        Some((what, likely_refusal(cert, user)))
    }

    /// Notes the target's certificate files that could not be read, or whose key no
    /// identity had.
    fn note_unused(&self, at: &mut Attempts) {
        for file in self.files.iter().filter(|f| !f.used) {
            let path = file.path.display();
            at.tried.push(match &file.cert {
                Err(note) => format!("certificate {path}: {note}"),
                Ok(cert) => format!(
                    "certificate {path} ({}): not offered, no usable identity file or agent key holds its key",
                    crate::known_hosts::describe_certificate(cert)
                ),
            });
        }
    }
}

/// Reads an OpenSSH certificate file. `Err` is a note for the authentication error.
fn read_certificate(path: &Path) -> Result<Certificate, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it ({e})"))?;
    Certificate::from_openssh(text.trim())
        .map_err(|e| format!("cannot read it as an OpenSSH certificate ({e})"))
}

/// Why a server would likely refuse a user certificate: outside its validity period,
/// or `user` not among its principals.
fn likely_refusal(cert: &Certificate, user: &str) -> Option<String> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let principals = cert.valid_principals();
    if now < cert.valid_after() {
        Some(format!(
            "it is not valid before {}",
            crate::known_hosts::utc(cert.valid_after())
        ))
    } else if now >= cert.valid_before() {
        Some(format!(
            "it expired at {}",
            crate::known_hosts::utc(cert.valid_before())
        ))
    } else if !principals.is_empty() && !principals.iter().any(|p| p == user) {
        Some(format!(
            "`{user}` is not among its principals (`{}`)",
            principals.join("`, `")
        ))
    } else {
        None
    }
}

/// Has the agent sign for a certificate it does not hold with the certificate's plain
/// key, which it does hold (a `CertificateFile` for an agent's key, as `ssh` allows).
struct PlainKeySigner<'a>(&'a mut AgentClient<tokio::net::UnixStream>);

impl russh::Signer for PlainKeySigner<'_> {
    type Error = russh::AgentAuthError;

    async fn auth_sign(
        &mut self,
        key: &AgentIdentity,
        hash_alg: Option<HashAlg>,
        to_sign: Vec<u8>,
    ) -> Result<Vec<u8>, Self::Error> {
        let plain = AgentIdentity::from(key.public_key().into_owned());
        self.0
            .sign_request(&plain, hash_alg, to_sign)
            .await
            .map_err(Into::into)
    }
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
