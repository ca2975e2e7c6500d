//! Minke's own log on standard error. Logged values often come from outside (a user
//! name typed at the login form, a host's answer): each is shown with control
//! characters escaped, so that it cannot forge a log line or drive a terminal, and cut
//! after [`MAX_VALUE`] characters, so that a huge value is not written out on every
//! attempt.

use std::fmt::{self, Write as _};

use tracing::field::Field;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::format::{self, Writer};

/// Characters of one logged value at most.
pub(crate) const MAX_VALUE: usize = 512;

/// Installs the log: `level` like `warn` or `minke=debug`, lines on standard error,
/// levels coloured when `color`.
pub(crate) fn init(level: &str, color: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fields = format::debug_fn(write_field).delimited(" ");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .fmt_fields(fields)
        .try_init();
}

fn write_field(w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let text = format!("{value:?}");
    let shown = escape_and_cap(&text, MAX_VALUE);
    if field.name() == "message" {
        w.write_str(&shown)
    } else {
        write!(w, "{}={shown}", field.name())
    }
}

/// A value on one line: every control character escaped (newlines too), and at
/// most `max` characters of it, with how much was left out.
pub(crate) fn escape_and_cap(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 16);
    for (shown, (at, c)) in text.char_indices().enumerate() {
        if shown == max {
            let _ = write!(out, "… ({} more bytes)", text.len() - at);
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_and_cap;

    #[test]
    fn values_stay_on_one_line_and_are_capped() {
        assert_eq!(escape_and_cap("alice", 10), "alice");
        assert_eq!(
            escape_and_cap("x\n2026-11-27T00:00:00Z  INFO admin login user=root", 100),
            "x\\n2026-11-27T00:00:00Z  INFO admin login user=root"
        );
        assert_eq!(
            escape_and_cap("\u{1b}[31mred\u{7}", 100),
            "\\u{1b}[31mred\\u{7}"
        );
        assert_eq!(escape_and_cap("abcdef", 3), "abc… (3 more bytes)");
        assert_eq!(escape_and_cap("äöü", 2), "äö… (2 more bytes)");
        let huge = "a".repeat(4 << 20);
        assert!(escape_and_cap(&huge, 512).len() < 600);
    }
}
