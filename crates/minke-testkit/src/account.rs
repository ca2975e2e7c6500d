//! Throwaway local accounts with a password, for password logins against real sshd.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Error, Result};

/// A local account with a password and a home directory, removed (with its
/// processes) on drop. Creating one needs root, as in CI; without root it fails
/// loudly instead of skipping.
///
/// Pair it with a [`Fleet`](crate::Fleet) started with `PasswordAuthentication yes`
/// in [`ServerOptions::extra_config`](crate::ServerOptions).
///
/// ```no_run
/// let user = minke_testkit::PasswordUser::create("pw-Tr0ub4dor-&3").unwrap();
/// assert!(user.name().starts_with("minkepw"));
/// ```
#[derive(Debug)]
pub struct PasswordUser {
    name: String,
}

fn run(what: &str, cmd: &mut Command, stdin: Option<&str>) -> Result<()> {
    let failed = |detail: String| Error::Command {
        command: what.to_owned(),
        detail,
    };
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// True when this process runs as root (the real user id, from `/proc`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|r| r.split_whitespace().next())
            == Some("0")
    })
}

impl PasswordUser {
    /// Creates the account `minkepwNNNNN` (unique in this process) with `password`.
    pub fn create(password: &str) -> Result<PasswordUser> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        if !is_root() {
            return Err(Error::Command {
                command: "useradd".into(),
                detail: "a throwaway account needs root (as in CI)".into(),
            });
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("minkepw{}{n}", std::process::id() % 10_000);
        let _ = Command::new("userdel")
            .args(["-r", &name])
            .stderr(Stdio::null())
            .status();
        run(
            "useradd",
            Command::new("useradd").args(["-m", "-s", "/bin/sh", &name]),
            None,
        )?;
        let user = PasswordUser { name };
        run(
            "chpasswd",
            &mut Command::new("chpasswd"),
            Some(&format!("{}:{password}\n", user.name)),
        )?;
        Ok(user)
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PasswordUser {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.name])
            .status();
        let _ = Command::new("userdel")
            .args(["-r", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}
