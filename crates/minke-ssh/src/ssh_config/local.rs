//! Facts of the importing machine that resolution needs (who, where, which machine),
//! read the way `ssh` reads them.

use std::path::{Path, PathBuf};

/// Facts of the importing machine that resolution needs.
///
/// [`Local::current`] reads them as OpenSSH does: the user name and home directory
/// from the password database entry of the process's uid (not `$USER`/`$HOME`: `ssh`
/// uses `getpwuid`), except [`include_home`](Self::include_home), which comes from
/// `$HOME` because OpenSSH expands `Include` paths with glob(3), whose `~` is `$HOME`.
///
/// ```
/// use minke_ssh::ssh_config::Local;
///
/// let local = Local::new("me", "/home/me", "box.example.org").with_uid(1000);
/// assert_eq!(local.short_host_name(), "box");
/// assert_eq!(local.include_home, std::path::Path::new("/home/me"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Local {
    /// The local user: the default remote user, `%u`, `Match localuser`.
    pub user: String,
    /// The local user's home directory: `~` and `%d` in file names.
    pub home: PathBuf,
    /// The machine's name as gethostname(2) gives it: `%l`; `%L` is its part before
    /// the first dot.
    pub host_name: String,
    /// The local user id: `%i`.
    pub uid: u32,
    /// The directory `~` means in `Include` paths, and whose `.ssh` holds relative
    /// ones (`$HOME` for `ssh`; usually [`home`](Self::home)).
    pub include_home: PathBuf,
}

impl Local {
    /// Facts given by the caller; the uid is the process's, `include_home` is `home`.
    pub fn new(
        user: impl Into<String>,
        home: impl Into<PathBuf>,
        host_name: impl Into<String>,
    ) -> Local {
        let home = home.into();
        Local {
            user: user.into(),
            include_home: home.clone(),
            home,
            host_name: host_name.into(),
            uid: current_uid().unwrap_or(0),
        }
    }

    /// The facts of this process and machine (see the type's documentation).
    pub fn current() -> Local {
        let uid = current_uid();
        let entry = uid.and_then(|uid| passwd_entry(|e| e.uid == uid));
        let env_home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let (user, home) = match entry {
            Some(e) => (e.name, e.home),
            None => (
                minke_core::local_user(),
                env_home.clone().unwrap_or_else(|| PathBuf::from("/")),
            ),
        };
        Local {
            user,
            include_home: env_home.unwrap_or_else(|| home.clone()),
            home,
            host_name: current_host_name(),
            uid: uid.unwrap_or(0),
        }
    }

    /// Sets the uid (`%i`).
    pub fn with_uid(mut self, uid: u32) -> Local {
        self.uid = uid;
        self
    }

    /// Sets the directory `Include` paths start from (see
    /// [`include_home`](Self::include_home)).
    pub fn with_include_home(mut self, dir: impl Into<PathBuf>) -> Local {
        self.include_home = dir.into();
        self
    }

    /// The host name up to its first dot: `%L`.
    pub fn short_host_name(&self) -> &str {
        self.host_name.split('.').next().unwrap_or(&self.host_name)
    }

    /// The directory relative `Include` paths are resolved in: `~/.ssh`.
    pub(crate) fn include_dir(&self) -> PathBuf {
        self.include_home.join(".ssh")
    }
}

/// One line of `/etc/passwd`.
struct PasswdEntry {
    name: String,
    uid: u32,
    home: PathBuf,
}

fn passwd_entry(pick: impl Fn(&PasswdEntry) -> bool) -> Option<PasswdEntry> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: (*f.first()?).to_owned(),
                uid: f.get(2)?.parse().ok()?,
                home: PathBuf::from(f.get(5)?),
            })
        })
        .find(|e| pick(e))
}

/// The home directory of a named user (for `~user`), from the password database.
pub(crate) fn home_of(user: &str) -> Option<PathBuf> {
    passwd_entry(|e| e.name == user).map(|e| e.home)
}

fn current_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok();
    if let Some(uid) = status.as_deref().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|u| u.parse().ok())
    }) {
        return Some(uid);
    }
    command_output("id", &["-u"]).and_then(|s| s.parse().ok())
}

fn current_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| command_output("uname", &["-n"]))
        .unwrap_or_else(|| "localhost".to_owned())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// `home` as a string, for token and tilde expansion.
pub(crate) fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_is_filled() {
        let l = Local::current();
        assert!(!l.user.is_empty());
        assert!(!l.host_name.is_empty());
        assert!(l.home.is_absolute());
    }

    #[test]
    fn short_name_stops_at_the_first_dot() {
        assert_eq!(Local::new("u", "/h", "a.b.c").short_host_name(), "a");
        assert_eq!(Local::new("u", "/h", "abc").short_host_name(), "abc");
    }
}
