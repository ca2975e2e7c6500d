//! Small hand-written HTML helpers: escaping, the page layout, badges, times.
//!
//! Every piece of text that does not come from this crate goes through [`esc`].

use std::fmt::Write as _;

use crate::auth::Auth;
use crate::state::AppState;

/// Escapes text for HTML content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) use crate::layout::respond;

/// A full page: head, navigation (when logged in), title and body (HTML built
/// before, escaped by its builder).
pub(crate) fn page(st: &AppState, auth: Option<&Auth>, title: &str, body: &str) -> String {
    use askama::Template as _;
    crate::layout::PageTemplate {
        layout: crate::layout::Layout::new(st, auth, title),
        body,
    }
    .render()
    .unwrap_or_else(|e| format!("the page could not be rendered: {}", esc(&e.to_string())))
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf_field(auth: &Auth) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(auth.csrf.as_deref().unwrap_or_default())
    )
}

/// `<option>`s with one selected; values and labels are escaped.
pub(crate) fn options<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a str)>,
    selected: &str,
) -> String {
    let mut out = String::new();
    for (value, label) in items {
        let _ = write!(
            out,
            r#"<option value="{}"{}>{}</option>"#,
            esc(value),
            if value == selected { " selected" } else { "" },
            esc(label)
        );
    }
    out
}

/// A state badge: `<span class="state state-running">running</span>`.
pub(crate) fn state_badge(state: &str) -> String {
    format!(
        r#"<span class="state state-{s}">{s}</span>"#,
        s = esc(state)
    )
}

/// A status badge (empty when there is none yet).
pub(crate) fn status_badge(status: Option<minke_core::Status>) -> String {
    match status.map(minke_core::Status::as_str) {
        Some(s) => format!(r#"<span class="status status-{s}">{s}</span>"#),
        None => r#"<span class="status"></span>"#.to_owned(),
    }
}

pub(crate) use minke_core::time::format_utc as time;

/// An optional time, empty when missing.
pub(crate) fn time_opt(us: Option<i64>) -> String {
    us.map(time).unwrap_or_default()
}

/// A duration in microseconds for people: `850 ms`, `12.3 s`, `4 min 2 s`.
pub(crate) fn duration(us: i64) -> String {
    if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else if us < 60_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else {
        format!("{} min {} s", us / 60_000_000, us % 60_000_000 / 1_000_000)
    }
}

/// A byte count for people.
pub(crate) fn bytes(n: i64) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else if n < 1 << 20 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }

    #[test]
    fn times() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_764_072_000_000_000), "2025-11-25 12:00:00");
        let d = minke_core::time::parse_date("2025-11-25").unwrap_or_default();
        assert_eq!(time(d), "2025-11-25 00:00:00");
        assert_eq!(minke_core::time::parse_date("2025-13-01"), None);
        assert_eq!(minke_core::time::parse_date("yesterday"), None);
        assert_eq!(duration(1_500), "1 ms");
        assert_eq!(duration(12_300_000), "12.3 s");
        assert_eq!(bytes(20 << 20), "20.0 MiB");
    }
}
