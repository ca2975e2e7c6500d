//! Key pairs made with `ssh-keygen`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result, io};

/// Where `ssh-keygen` lives on Debian (package `openssh-client`).
pub const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// An ed25519 key pair in two files: `private` and `private` + `.pub`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    /// The private key file (OpenSSH format).
    pub private: PathBuf,
    /// The public key file (`ssh-ed25519 AAAA... comment`).
    pub public: PathBuf,
}

impl KeyPair {
    /// Generates a fresh ed25519 key pair at `path` (and `path.pub`), replacing any
    /// existing files, with no passphrase or with `passphrase`.
    ///
    /// The passphrase is passed to `ssh-keygen` on its command line: throwaway test
    /// keys only.
    ///
    /// ```no_run
    /// let dir = tempfile::tempdir().unwrap();
    /// let key = minke_testkit::KeyPair::generate(&dir.path().join("id"), Some("secret")).unwrap();
    /// assert!(key.public_line().unwrap().starts_with("ssh-ed25519 "));
    /// ```
    pub fn generate(path: &Path, passphrase: Option<&str>) -> Result<KeyPair> {
        check_program(SSH_KEYGEN, "ssh-keygen", "openssh-client")?;
        let public = pub_path(path);
        for p in [path, public.as_path()] {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing an old key", p)(e)),
            }
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating the key directory", parent))?;
        }
        let out = Command::new(SSH_KEYGEN)
            .args([
                "-q",
                "-t",
                "ed25519",
                "-C",
                "minke-testkit",
                "-N",
                passphrase.unwrap_or(""),
            ])
            .arg("-f")
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(io("running ssh-keygen", SSH_KEYGEN))?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("ssh-keygen -t ed25519 -f {}", path.display()),
                detail: format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(KeyPair {
            private: path.to_owned(),
            public,
        })
    }

    /// The public key's line, without its trailing newline.
    pub fn public_line(&self) -> Result<String> {
        let text = std::fs::read_to_string(&self.public)
            .map_err(io("reading a public key", &self.public))?;
        Ok(text.trim().to_owned())
    }

    /// The public key's type and base64 blob (`ssh-ed25519 AAAA...`), without comment.
    pub fn public_key(&self) -> Result<String> {
        let line = self.public_line()?;
        Ok(line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "))
    }
}

fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Fails with an error naming the Debian package when `path` does not exist.
pub(crate) fn check_program(
    path: &str,
    program: &'static str,
    package: &'static str,
) -> Result<()> {
    if Path::new(path).exists() {
        Ok(())
    } else {
        Err(Error::MissingProgram {
            program,
            path: path.into(),
            package,
        })
    }
}
