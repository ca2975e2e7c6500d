//! Text from hosts and users on a terminal: control characters shown escaped, so
//! that remote output or a host name cannot move the cursor, retitle the window or
//! forge lines; raw bytes when the output goes to a file or a pipe, or with `--raw`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// How text that Minke did not write itself is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shown {
    /// As it is (not a terminal, or `--raw`).
    Raw,
    /// Control characters other than newline and tab escaped (`\x1b`, `\u{9b}`).
    Escaped,
}

impl Shown {
    /// For standard output: escaped on a terminal unless `raw`.
    pub(crate) fn stdout(raw: bool) -> Self {
        Self::pick(raw, std::io::stdout().is_terminal())
    }

    /// For standard error: escaped on a terminal unless `raw`.
    pub(crate) fn stderr(raw: bool) -> Self {
        Self::pick(raw, std::io::stderr().is_terminal())
    }

    fn pick(raw: bool, terminal: bool) -> Self {
        if raw || !terminal {
            Shown::Raw
        } else {
            Shown::Escaped
        }
    }

    /// The text as it may be printed.
    pub(crate) fn text(self, s: &str) -> Cow<'_, str> {
        match self {
            Shown::Raw => Cow::Borrowed(s),
            Shown::Escaped => escape_controls(s),
        }
    }

    /// Bytes as they may be printed (escaped text is read as UTF-8, lossily).
    pub(crate) fn bytes(self, b: &[u8]) -> Cow<'_, [u8]> {
        match self {
            Shown::Raw => Cow::Borrowed(b),
            Shown::Escaped => match escape_controls(&String::from_utf8_lossy(b)) {
                Cow::Borrowed(_) if std::str::from_utf8(b).is_ok() => Cow::Borrowed(b),
                other => Cow::Owned(other.into_owned().into_bytes()),
            },
        }
    }
}

/// True for characters a terminal acts on instead of showing: C0 and C1 controls
/// and DEL (but newline and tab), and the bidirectional overrides that reorder
/// what is shown.
fn acts_on_terminal(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Control characters (but newline and tab) as `\xNN` or `\u{NNNN}`.
///
/// The escape is visible text, never a sequence a terminal acts on.
pub(crate) fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(acts_on_terminal) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !acts_on_terminal(c) {
            out.push(c);
        } else if u32::from(c) < 0x80 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_on_a_terminal_only() {
        let title = "host\u{1b}]0;owned\u{7}\nnext\tline\u{9b}31m\u{7f}\u{202e}";
        assert_eq!(
            escape_controls(title),
            "host\\x1b]0;owned\\x07\nnext\tline\\u{9b}31m\\x7f\\u{202e}"
        );
        assert!(matches!(escape_controls("plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(Shown::pick(false, false).text(title), title);
        assert_eq!(Shown::pick(true, true).text(title), title);
        assert_ne!(Shown::pick(false, true).text(title), title);
        assert_eq!(
            &*Shown::Escaped.bytes(b"a\x1b[2Jb\xff"),
            "a\\x1b[2Jb\u{fffd}".as_bytes()
        );
        assert_eq!(&*Shown::Escaped.bytes(b"fine\n"), b"fine\n");
        assert_eq!(&*Shown::Raw.bytes(b"\x1b\xff"), b"\x1b\xff");
    }
}
