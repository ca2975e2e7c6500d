//! Messages that sessions leave for people.

use serde::{Deserialize, Serialize};

use crate::{CommandOutput, MessageLevel};

/// A message attached to a session: text, a table or a command's result.
///
/// ```
/// use minke_core::{Message, MessageLevel};
/// let m = Message::text(MessageLevel::Warning, "disk 91% full");
/// assert_eq!(m.level, MessageLevel::Warning);
/// assert_eq!(m.to_plain_text(), "disk 91% full");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// How important it is.
    pub level: MessageLevel,
    /// What it says.
    pub body: MessageBody,
}

/// The content of a [`Message`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageBody {
    /// Preformatted text.
    Text {
        /// The text.
        text: String,
    },
    /// Rows of cells, the first row may be a header.
    Table {
        /// The rows.
        rows: Vec<Vec<String>>,
    },
    /// A summary of a command's result.
    Command {
        /// The command line.
        command: String,
        /// Exit code, if the command exited.
        exit_code: Option<i32>,
        /// Signal name, if the command was killed by one.
        exit_signal: Option<String>,
        /// Standard output (lossy UTF-8, capped).
        stdout: String,
        /// Standard error (lossy UTF-8, capped).
        stderr: String,
    },
}

/// How many bytes of a stream a command message keeps.
const COMMAND_MESSAGE_CAP: usize = 64 * 1024;

impl Message {
    /// A text message.
    pub fn text(level: MessageLevel, text: impl Into<String>) -> Self {
        Message {
            level,
            body: MessageBody::Text { text: text.into() },
        }
    }

    /// A table message.
    ///
    /// ```
    /// use minke_core::{Message, MessageLevel};
    /// let m = Message::table(MessageLevel::Info, [["mount", "use"], ["/", "42%"]]);
    /// assert_eq!(m.to_plain_text(), "mount  use\n/      42%");
    /// ```
    pub fn table<R, C>(level: MessageLevel, rows: R) -> Self
    where
        R: IntoIterator,
        R::Item: IntoIterator<Item = C>,
        C: Into<String>,
    {
        let rows = rows
            .into_iter()
            .map(|r| r.into_iter().map(Into::into).collect())
            .collect();
        Message {
            level,
            body: MessageBody::Table { rows },
        }
    }

    /// A message summarising a command's result, at the level of its status.
    pub fn command(output: &CommandOutput) -> Self {
        Self::command_at(output.status().into(), output)
    }

    /// A message summarising a command's result at a given level.
    pub fn command_at(level: MessageLevel, output: &CommandOutput) -> Self {
        let cap =
            |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(COMMAND_MESSAGE_CAP)]).into_owned();
        Message {
            level,
            body: MessageBody::Command {
                command: output.command.clone(),
                exit_code: output.exit.code(),
                exit_signal: output.exit.signal().map(str::to_owned),
                stdout: cap(&output.stdout),
                stderr: cap(&output.stderr),
            },
        }
    }

    /// The message as plain text, for terminals and logs.
    pub fn to_plain_text(&self) -> String {
        match &self.body {
            MessageBody::Text { text } => text.clone(),
            MessageBody::Table { rows } => {
                let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
                let widths: Vec<usize> = (0..cols)
                    .map(|c| {
                        rows.iter()
                            .filter_map(|r| r.get(c))
                            .map(|s| s.chars().count())
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                rows.iter()
                    .map(|r| {
                        let cells: Vec<String> = r
                            .iter()
                            .enumerate()
                            .map(|(i, cell)| {
                                if i + 1 == r.len() {
                                    cell.clone()
                                } else {
                                    format!("{cell:<w$}", w = widths[i])
                                }
                            })
                            .collect();
                        cells.join("  ")
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            MessageBody::Command {
                command,
                exit_code,
                exit_signal,
                stdout,
                stderr,
            } => {
                let exit = match (exit_code, exit_signal) {
                    (Some(c), _) => format!("exit {c}"),
                    (None, Some(s)) => format!("killed by SIG{s}"),
                    _ => "no exit status".to_owned(),
                };
                let mut out = format!("$ {command}  [{exit}]");
                for part in [stdout, stderr] {
                    let t = part.trim_end();
                    if !t.is_empty() {
                        out.push('\n');
                        out.push_str(t);
                    }
                }
                out
            }
        }
    }
}
