//! OpenSSH patterns: `*` (any run of bytes), `?` (one byte), everything else
//! literal; pattern-lists (comma-separated, `!` negates) for `Match`.

/// Whether `p` has a wildcard (`*` or `?`).
pub(crate) fn has_wildcard(p: &str) -> bool {
    p.contains(['*', '?'])
}

/// Matches `name` against one pattern, byte by byte as OpenSSH does (so `?` is one
/// byte, not one character), case-sensitively.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    matches_bytes(pattern.as_bytes(), name.as_bytes(), false)
}

/// [`matches()`], ignoring ASCII case when `fold_case`.
fn matches_bytes(p: &[u8], n: &[u8], fold_case: bool) -> bool {
    let same = |a: u8, b: u8| a == b || (fold_case && a.eq_ignore_ascii_case(&b));
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was and which byte of `name` it is to swallow next.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || same(c, n[ni]) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches `name` against a pattern-list: true when some pattern matches and no
/// negated (`!`) one does. With `fold_case`, ASCII case is ignored.
pub(crate) fn list_matches(list: &str, name: &str, fold_case: bool) -> bool {
    let mut positive = false;
    for sub in list.split(',') {
        let (negated, pat) = match sub.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, sub),
        };
        if matches_bytes(pat.as_bytes(), name.as_bytes(), fold_case) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", ""));
        assert!(matches("*", "web1"));
        assert!(matches("web?", "web1"));
        assert!(!matches("web?", "web"));
        assert!(matches("*.example.org", "a.example.org"));
        assert!(!matches("*.example.org", "example.org"));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbYbZ"));
        assert!(matches("**x", "abx"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
        assert!(!matches("Web", "web"));
        assert!(matches("caf??", "café"));
        assert!(!matches("caf?", "café"));
        assert!(!matches("a,b", "a"));
    }

    #[test]
    fn lists() {
        assert!(list_matches("a,b", "b", false));
        assert!(!list_matches("a,b", "c", false));
        assert!(!list_matches("!a,*", "a", false));
        assert!(list_matches("!a,*", "b", false));
        assert!(!list_matches("!a", "b", false));
        assert!(list_matches("WEB", "web", true));
        assert!(list_matches("web", "WEB", true));
        assert!(!list_matches("ROOT", "root", false));
        assert!(list_matches("web,", "web", false));
        assert!(list_matches(",web", "web", false));
    }

    #[test]
    fn long_inputs_are_fast() {
        let name = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!matches(&pattern, &name));
    }
}
