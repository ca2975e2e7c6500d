//! The directories a host's identity and certificate files and `known_hosts` may lie in when they
//! are set from the admin.
//!
//! Those paths are read (an identity) and written (`accept-new` appends to
//! known_hosts) by the serving process, so a user who may change hosts must not
//! point them at other files of the server. The operator names the allowed
//! directories (`serve --ssh-dir DIR`, default the serving user's `~/.ssh`); a path
//! is allowed when its directory, with every link resolved, lies in one of them
//! and, when the file is itself a link, where it leads lies there too.

use std::path::{Component, Path, PathBuf};

/// The allowed directories, resolved once at start.
#[derive(Clone, Debug, Default)]
pub(crate) struct SshDirs {
    allowed: Vec<PathBuf>,
}

impl SshDirs {
    /// The configured directories, or `~/.ssh` when none are; those that do not
    /// exist are left out (and logged).
    pub(crate) fn new(configured: &[PathBuf]) -> Self {
        let wanted: Vec<PathBuf> = if configured.is_empty() {
            std::env::home_dir()
                .map(|h| vec![h.join(".ssh")])
                .unwrap_or_default()
        } else {
            configured.to_vec()
        };
        let allowed = wanted
            .iter()
            .filter_map(|d| match d.canonicalize() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "an SSH directory for host files is left out");
                    None
                }
            })
            .collect();
        SshDirs { allowed }
    }

    /// The allowed directories, for messages.
    fn listed(&self) -> String {
        if self.allowed.is_empty() {
            return "none is configured (serve --ssh-dir DIR)".into();
        }
        self.allowed
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks a path for a host field, or says why it is refused (a sentence for
    /// the form or the API). Reads the file system.
    pub(crate) fn check(&self, text: &str) -> Result<(), String> {
        let path = Path::new(text);
        if !path.is_absolute() {
            return Err(format!(
                "`{text}` is not an absolute path: give the whole path, in {}",
                self.listed()
            ));
        }
        if path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        {
            return Err(format!("`{text}` must not contain `.` or `..`"));
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(format!("`{text}` does not name a file"));
        };
        let outside = || {
            format!(
                "`{text}` is outside the directories the admin may use for SSH files: {}",
                self.listed()
            )
        };
        let dir = dir
            .canonicalize()
            .map_err(|_| format!("the directory of `{text}` does not exist or cannot be read"))?;
        if !self.contains(&dir) {
            return Err(outside());
        }
        let file = dir.join(name);
        if file.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            let target = file
                .canonicalize()
                .map_err(|_| format!("`{text}` is a link to a file that does not exist"))?;
            if !self.contains(target.parent().unwrap_or(&target)) {
                return Err(outside());
            }
        }
        if file.is_dir() {
            return Err(format!("`{text}` is a directory, not a file"));
        }
        Ok(())
    }

    fn contains(&self, dir: &Path) -> bool {
        self.allowed.iter().any(|a| dir.starts_with(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_in_the_allowed_directories() {
        let root = tempfile::tempdir().unwrap();
        let ssh = root.path().join("ssh");
        let other = root.path().join("other");
        std::fs::create_dir_all(ssh.join("keys")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("victim.txt"), "x").unwrap();
        let dirs = SshDirs::new(std::slice::from_ref(&ssh));
        let s = |p: &Path| p.to_string_lossy().into_owned();
        assert_eq!(dirs.check(&s(&ssh.join("known_hosts"))), Ok(()));
        assert_eq!(dirs.check(&s(&ssh.join("keys/id_ed25519"))), Ok(()));
        let e = dirs.check(&s(&other.join("victim.txt"))).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let e = dirs
            .check(&format!("{}/../other/victim.txt", s(&ssh)))
            .unwrap_err();
        assert!(e.contains(".."), "{e}");
        assert!(dirs.check("known_hosts").is_err());
        assert!(dirs.check(&s(&ssh.join("keys"))).is_err());
        // A link in the allowed directory to a file elsewhere, and a linked directory.
        std::os::unix::fs::symlink(other.join("victim.txt"), ssh.join("link")).unwrap();
        assert!(
            dirs.check(&s(&ssh.join("link")))
                .unwrap_err()
                .contains("outside")
        );
        std::os::unix::fs::symlink(&other, ssh.join("dirlink")).unwrap();
        let e = dirs.check(&s(&ssh.join("dirlink/new"))).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let none = SshDirs::new(&[root.path().join("missing")]);
        assert!(
            none.check(&s(&ssh.join("known_hosts")))
                .unwrap_err()
                .contains("none")
        );
    }
}
