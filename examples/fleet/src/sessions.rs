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
    /// The sudo password of the SSH user.
    #[minke(secret)]
    pub(crate) password: Secret,
}

impl Session for Sudo {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        let out = cx.sudo(&self.cmd, Some(&self.password)).await?;
        if !out.ok() {
            cx.error(format!("sudo failed: {:?}", out.exit)).await?;
        }
        Ok(())
    }
}
