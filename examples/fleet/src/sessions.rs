//! The fleet's sessions.

use minke::prelude::*;

use crate::models::{Host, Server, WebApp};

/// Record uptime
///
/// Stores the server's uptime in its `uptime` field.
#[derive(Session)]
#[minke(work_on(Server), group = "Info")]
pub(crate) struct Uptime;

impl Session for Uptime {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.update_field("uptime", "cat /proc/uptime", Some(r"^(\d+)"))
            .await?;
        Ok(())
    }
}

/// Record kernel version
#[derive(Session)]
#[minke(work_on(Server), group = "Info")]
pub(crate) struct Kernel;

impl Session for Kernel {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.update_field("kernel", "uname -r", None).await?;
        Ok(())
    }
}

/// Show disk usage
///
/// Shows `df` of a path as a table; a warning above the threshold.
#[derive(Session)]
#[minke(work_on(Server, Host), group = "Info")]
pub(crate) struct DiskUsage {
    /// The path to look at.
    #[minke(default = "/")]
    pub(crate) path: String,
    /// Use above this percentage is a warning.
    #[minke(default = "90")]
    pub(crate) threshold: u32,
}

impl Session for DiskUsage {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let out = cx
            .run(&format!("df -P {}", minke::shell_quote(&self.path)))
            .await?;
        if !out.ok() {
            cx.add_msg(Message::command(&out)).await?;
            cx.set_status(Status::Error);
            return Ok(());
        }
        let text = out.stdout_text();
        let rows: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|r| r.len() >= 6)
            .map(|r| vec![r[5].clone(), r[1].clone(), r[2].clone(), r[4].clone()])
            .collect();
        let used: Option<u32> = rows
            .get(1)
            .and_then(|r| r[3].trim_end_matches('%').parse().ok());
        let level = match used {
            Some(u) if u > self.threshold => MessageLevel::Warning,
            _ => MessageLevel::Info,
        };
        cx.add_msg(Message::table(level, rows)).await?;
        if level == MessageLevel::Warning {
            cx.set_status(Status::Warning);
        }
        Ok(())
    }
}

/// Basic health checks
///
/// A command chain: stops at the first command that fails.
#[derive(Session)]
#[minke(
    work_on(Server, Host),
    commands("test -d /tmp", "id -un", "uname -s"),
    break_on(error)
)]
pub(crate) struct Checks;

/// Uptime and kernel
///
/// A chain of sessions: runs `uptime`, then `kernel`.
#[derive(Session)]
#[minke(work_on(Server), chain(Uptime, Kernel))]
pub(crate) struct Inventory;

/// Check a web application's directory
#[derive(Session)]
#[minke(work_on(WebApp))]
pub(crate) struct AppState;

impl Session for AppState {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let out = cx
            .frun("test -d {path} && echo present || echo missing")
            .await?;
        let state = out.stdout_text().trim().to_owned();
        if state != "present" {
            cx.warning(format!("{} is missing", cx.object::<WebApp>()?.path))
                .await?;
        }
        cx.object_mut::<WebApp>()?.state = Some(state);
        Ok(())
    }
}

/// Run a command
///
/// Runs any shell command given as the `cmd` parameter.
#[derive(Session)]
#[minke(work_on(Host, Server, WebApp), command = "{cmd}", confirm)]
pub(crate) struct Command {
    /// The shell command to run.
    #[minke(multiline)]
    pub(crate) cmd: String,
}

/// Run a command with sudo
///
/// Runs the `cmd` parameter through `sudo`; the password goes to sudo's standard
/// input, never to the command line or the history.
#[derive(Session)]
#[minke(work_on(Host, Server), confirm)]
pub(crate) struct Sudo {
    /// The shell command to run as root.
    pub(crate) cmd: String,
    /// The sudo password of the SSH user (else `MINKE_SUDO_PASSWORD`, else none).
    #[minke(secret)]
    pub(crate) password: Option<Secret>,
}

impl Session for Sudo {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let out = cx.sudo(&self.cmd, self.password.as_ref()).await?;
        if !out.ok() {
            cx.error(format!("sudo failed: {:?}", out.exit)).await?;
        }
        Ok(())
    }
}

/// Upload a file
///
/// Sends a file from the upload directory of the machine running the app
/// (`FLEET_UPLOAD_DIR`, default `uploads`) to each host over SFTP. It is written
/// beside `dest` and renamed into place, so a failed upload never leaves half a file;
/// its size and SHA-256 are recorded.
#[derive(Session)]
#[minke(work_on(Host, Server), confirm)]
pub(crate) struct Upload {
    /// The file to send, relative to the upload directory.
    pub(crate) source: String,
    /// Where to put it on the host.
    pub(crate) dest: String,
    /// Its permission bits, in octal.
    #[minke(default = "644")]
    pub(crate) mode: String,
}

impl Session for Upload {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let mode = u32::from_str_radix(self.mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| {
                Error::msg(format!(
                    "mode `{}` is not permission bits in octal, like 644",
                    self.mode
                ))
            })?;
        let source = upload_path(&self.source)?;
        let sent = cx
            .put(minke::Upload::file(&source), &self.dest, mode)
            .await?;
        cx.info(format!(
            "{} → {}: {} bytes, sha256 {}",
            self.source, self.dest, sent.bytes, sent.sha256
        ))
        .await
    }
}

/// `name` within the upload directory: a relative path without `..`, so that a
/// person starting the session from the admin reads nothing else of this machine.
fn upload_path(name: &str) -> Result<std::path::PathBuf> {
    use std::path::Component;
    let relative = std::path::Path::new(name);
    let inside = !name.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(Error::msg(format!(
            "`{name}` must be a path within the upload directory (relative, without `..`)"
        )));
    }
    let dir = std::env::var_os("FLEET_UPLOAD_DIR").unwrap_or_else(|| "uploads".into());
    Ok(std::path::Path::new(&dir).join(relative))
}
