//! OpenSSH certificates signed with `ssh-keygen -s`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result, io};
use crate::keys::{KeyPair, SSH_KEYGEN, check_program};

/// What a certificate says: its key id, principals, kind and validity period.
///
/// ```
/// let request = minke_testkit::CertificateRequest::host("web1", &["127.0.0.1"])
///     .validity("20200101:20200102");
/// assert!(format!("{request:?}").contains("20200101"));
/// ```
#[derive(Clone, Debug)]
pub struct CertificateRequest {
    key_id: String,
    principals: Vec<String>,
    host: bool,
    validity: Option<String>,
}

impl CertificateRequest {
    /// A user certificate for `principals` (user names; none means any user, which
    /// sshd refuses with `TrustedUserCAKeys`), valid forever.
    pub fn user(key_id: &str, principals: &[&str]) -> CertificateRequest {
        CertificateRequest {
            key_id: key_id.to_owned(),
            principals: principals.iter().map(|&p| p.to_owned()).collect(),
            host: false,
            validity: None,
        }
    }

    /// A host certificate (`-h`) for `principals` (the names or addresses clients
    /// connect to; none means any host), valid forever.
    pub fn host(key_id: &str, principals: &[&str]) -> CertificateRequest {
        CertificateRequest {
            host: true,
            ..CertificateRequest::user(key_id, principals)
        }
    }

    /// The validity period, as `ssh-keygen -V` takes it: `-5m:+1h`,
    /// `20200101:20200102` (local time), `always:forever`.
    pub fn validity(mut self, validity: &str) -> CertificateRequest {
        self.validity = Some(validity.to_owned());
        self
    }
}

impl KeyPair {
    /// Signs the public key file `public` with this key pair as the certificate
    /// authority (`ssh-keygen -s`). Returns the certificate file, which `ssh-keygen`
    /// writes beside it: `public` without `.pub`, plus `-cert.pub` (so
    /// `id_ed25519.pub` gives `id_ed25519-cert.pub`, where `ssh` looks for it).
    ///
    /// Fails (never skips) when `ssh-keygen` is missing, naming the package.
    ///
    /// ```no_run
    /// use minke_testkit::{CertificateRequest, KeyPair};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let ca = KeyPair::generate(&dir.path().join("ca"), None).unwrap();
    /// let key = KeyPair::generate(&dir.path().join("id_ed25519"), None).unwrap();
    /// let cert = ca.certify(&key.public, &CertificateRequest::user("me", &["root"])).unwrap();
    /// assert_eq!(cert, dir.path().join("id_ed25519-cert.pub"));
    /// ```
    pub fn certify(&self, public: &Path, request: &CertificateRequest) -> Result<PathBuf> {
        check_program(SSH_KEYGEN, "ssh-keygen", "openssh-client")?;
        let mut command = Command::new(SSH_KEYGEN);
        command
            .arg("-q")
            .arg("-s")
            .arg(&self.private)
            .args(["-I", &request.key_id]);
        if !request.principals.is_empty() {
            command.args(["-n", &request.principals.join(",")]);
        }
        if request.host {
            command.arg("-h");
        }
        if let Some(validity) = &request.validity {
            command.args(["-V", validity]);
        }
        let out = command
            .arg(public)
            .stdin(Stdio::null())
            .output()
            .map_err(io("running ssh-keygen", SSH_KEYGEN))?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!(
                    "ssh-keygen -s {} -I {} {}",
                    self.private.display(),
                    request.key_id,
                    public.display()
                ),
                detail: format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(certificate_path(public))
    }
}

/// Where `ssh-keygen -s` writes the certificate of `public`.
fn certificate_path(public: &Path) -> PathBuf {
    let stem = if public.extension().is_some_and(|e| e == "pub") {
        public.with_extension("")
    } else {
        public.to_owned()
    };
    let mut path = stem.into_os_string();
    path.push("-cert.pub");
    PathBuf::from(path)
}
