//! The result of one remote command.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Status;

/// How a remote command ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal (name without `SIG`, like `KILL`).
    Signal(String),
    /// The channel closed without an exit status.
    Unknown,
}

impl ExitStatus {
    /// The exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            ExitStatus::Code(c) => Some(*c),
            _ => None,
        }
    }
    /// The signal name, if it was killed by one.
    pub fn signal(&self) -> Option<&str> {
        match self {
            ExitStatus::Signal(s) => Some(s),
            _ => None,
        }
    }
}

/// Everything recorded of one remote command.
///
/// ```
/// use minke_core::{CommandOutput, ExitStatus, Status};
/// let out = CommandOutput::new("echo hi", ExitStatus::Code(0), b"hi\n".to_vec(), vec![]);
/// assert!(out.ok());
/// assert_eq!(out.status(), Status::Success);
/// assert_eq!(out.stdout_text(), "hi\n");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutput {
    /// The command line as sent.
    pub command: String,
    /// How it ended.
    pub exit: ExitStatus,
    /// Standard output bytes (possibly not UTF-8), up to the cap.
    pub stdout: Vec<u8>,
    /// Standard error bytes, up to the cap.
    pub stderr: Vec<u8>,
    /// True when standard output was longer than the cap and was cut.
    pub stdout_truncated: bool,
    /// True when standard error was longer than the cap and was cut.
    pub stderr_truncated: bool,
    /// Wall time from sending the command to the channel's close.
    pub duration: Duration,
}

impl CommandOutput {
    /// A result with no truncation and zero duration (for tests and mocks).
    pub fn new(
        command: impl Into<String>,
        exit: ExitStatus,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    ) -> Self {
        CommandOutput {
            command: command.into(),
            exit,
            stdout,
            stderr,
            stdout_truncated: false,
            stderr_truncated: false,
            duration: Duration::ZERO,
        }
    }

    /// True when it exited with code 0.
    pub fn ok(&self) -> bool {
        self.exit == ExitStatus::Code(0)
    }

    /// `error` if it failed, `warning` if it succeeded but wrote to stderr, else `success`.
    pub fn status(&self) -> Status {
        if !self.ok() {
            Status::Error
        } else if !self.stderr.is_empty() {
            Status::Warning
        } else {
            Status::Success
        }
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}
