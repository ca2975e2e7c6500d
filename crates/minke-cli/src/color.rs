//! Colour on terminals: `--color auto|always|never`, and `NO_COLOR` (any value but
//! empty turns colour off unless `--color always` says otherwise). Colour marks
//! outcomes only (success, warning, error...); it never carries meaning that the
//! words do not.

use std::io::IsTerminal;
use std::sync::OnceLock;

use anstyle::{AnsiColor, Style};
use minke_core::{State, Status};

/// When to colour: `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set or `TERM` is `dumb`.
    #[default]
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    /// Whether a stream gets colour.
    fn decide(self, terminal: bool, no_color: bool, dumb: bool) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => terminal && !no_color && !dumb,
        }
    }
}

/// The process's choice, set once by `main`.
static CHOICE: OnceLock<ColorWhen> = OnceLock::new();

/// Sets the process's choice (the first call wins).
pub(crate) fn init(when: ColorWhen) {
    let _ = CHOICE.set(when);
}

/// Colours for one stream: off, or on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Paint {
    on: bool,
}

impl Paint {
    /// For standard output.
    pub(crate) fn stdout() -> Self {
        Self::for_stream(std::io::stdout().is_terminal())
    }

    /// For standard error.
    pub(crate) fn stderr() -> Self {
        Self::for_stream(std::io::stderr().is_terminal())
    }

    fn for_stream(terminal: bool) -> Self {
        let when = CHOICE.get().copied().unwrap_or_default();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Paint {
            on: when.decide(terminal, no_color, dumb),
        }
    }

    /// Whether colours are on.
    pub(crate) fn is_on(self) -> bool {
        self.on
    }

    /// `text` in `style`, or as it is when colours are off.
    pub(crate) fn paint(self, text: &str, style: Style) -> String {
        if self.on && !text.is_empty() {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    /// `text` in the colour of a session's outcome.
    pub(crate) fn outcome(self, text: &str, state: State, status: Option<Status>) -> String {
        self.paint(text, outcome_style(state, status))
    }

    /// `text` in the colour of a status.
    pub(crate) fn status(self, text: &str, status: Option<Status>) -> String {
        self.paint(text, status_style(status))
    }

    /// `error:` as the start of an error line.
    pub(crate) fn error_word(self) -> String {
        self.paint("error:", AnsiColor::Red.on_default().bold())
    }
}

/// Green for success, yellow for warning, red for error; none otherwise.
pub(crate) fn status_style(status: Option<Status>) -> Style {
    match status {
        Some(Status::Success) => AnsiColor::Green.on_default(),
        Some(Status::Warning) => AnsiColor::Yellow.on_default(),
        Some(Status::Error) => AnsiColor::Red.on_default(),
        None => Style::new(),
    }
}

/// A finished session's colour: its status's when it completed, bold red when it
/// failed, magenta when stopped or canceled, cyan while running.
pub(crate) fn outcome_style(state: State, status: Option<Status>) -> Style {
    match state {
        State::Completed => status_style(status),
        State::Failed => AnsiColor::Red.on_default().bold(),
        State::Stopped | State::Canceled => AnsiColor::Magenta.on_default(),
        State::Running => AnsiColor::Cyan.on_default(),
        _ => Style::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_and_the_flag_decide() {
        use ColorWhen::*;
        assert!(Auto.decide(true, false, false));
        assert!(!Auto.decide(false, false, false), "not a terminal");
        assert!(!Auto.decide(true, true, false), "NO_COLOR");
        assert!(!Auto.decide(true, false, true), "TERM=dumb");
        assert!(Always.decide(false, true, true), "--color always wins");
        assert!(!Never.decide(true, false, false));
    }

    #[test]
    fn paint_wraps_only_when_on() {
        let on = Paint { on: true };
        let off = Paint { on: false };
        assert_eq!(off.status("error", Some(Status::Error)), "error");
        let red = on.status("error", Some(Status::Error));
        assert!(red.starts_with("\u{1b}[") && red.contains("error") && red.ends_with("\u{1b}[0m"));
        assert_eq!(on.status("", Some(Status::Error)), "");
        assert_eq!(on.outcome("done", State::Completed, None), "done");
    }
}
