//! Splitting ssh_config lines as OpenSSH does.
//!
//! A line is a keyword and its arguments. The keyword ends at whitespace, a double
//! quote or one `=` (so `Key value`, `Key=value` and `Key = value` are alike); empty
//! lines and lines whose keyword starts with `#` are comments. Then:
//!
//! - most keywords split the rest into arguments like a shell would, a little:
//!   whitespace separates, `"..."` and `'...'` quote, `\` escapes a quote, a
//!   backslash or a space, and an argument starting with `#` ends the line
//!   ([`arguments`]);
//! - `Match` splits its criteria like the keyword itself (whitespace, one `=`,
//!   double quotes only: [`delimited`]);
//! - `ProxyCommand` and `ProxyJump` take the raw rest of the line ([`command_text`]).

/// What OpenSSH calls whitespace between keyword and arguments.
const WHITESPACE: [char; 4] = [' ', '\t', '\r', '\n'];

/// A line's keyword, lowercased, and the text after it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Keyword<'a> {
    /// The keyword in lower case.
    pub(crate) name: String,
    /// The rest of the line, leading whitespace skipped (may be empty).
    pub(crate) rest: &'a str,
}

/// A line that cannot be split.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LexError {
    /// A quote is not closed.
    UnterminatedQuote,
}

/// Takes one token off `s`: up to whitespace, a double quote (then up to the closing
/// quote) or, with `split_equals`, one `=`. `None` when `s` is exhausted or a quote is
/// not closed; the rest is `None` when no delimiter followed the token.
fn strdelim(s: &str, split_equals: bool) -> Option<(String, Option<&str>)> {
    let at = s.find(|c: char| WHITESPACE.contains(&c) || c == '"' || (split_equals && c == '='));
    let Some(at) = at else {
        return Some((s.to_owned(), None));
    };
    if s[at..].starts_with('"') {
        let inner = &s[at + 1..];
        let close = inner.find('"')?;
        let token = format!("{}{}", &s[..at], &inner[..close]);
        let rest = inner[close + 1..].trim_start_matches(WHITESPACE);
        return Some((token, Some(rest)));
    }
    let was_equals = s[at..].starts_with('=');
    let mut rest = s[at + 1..].trim_start_matches(WHITESPACE);
    if split_equals
        && !was_equals
        && let Some(r) = rest.strip_prefix('=')
    {
        rest = r.trim_start_matches(WHITESPACE);
    }
    Some((s[..at].to_owned(), Some(rest)))
}

/// The keyword of a line, or `None` for a blank line or a comment.
pub(crate) fn keyword(line: &str) -> Option<Keyword<'_>> {
    let line = line.trim_end_matches(|c: char| WHITESPACE.contains(&c) || c == '\x0c');
    let (mut word, mut rest) = strdelim(line, true)?;
    if word.is_empty() {
        (word, rest) = strdelim(rest?, true)?;
    }
    if word.is_empty() || word.starts_with('#') {
        return None;
    }
    Some(Keyword {
        name: word.to_ascii_lowercase(),
        rest: rest.map_or("", |r| r.trim_start_matches(WHITESPACE)),
    })
}

/// Splits arguments: whitespace separates; `"` and `'` quote; `\` escapes `"`, `'`,
/// `\` and (outside quotes) a space; an argument starting with `#` ends the line.
pub(crate) fn arguments(rest: &str) -> Result<Vec<String>, LexError> {
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        match chars.peek() {
            None | Some('#') => return Ok(args),
            Some(_) => {}
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => match chars.peek().copied() {
                    Some(n @ ('\'' | '"' | '\\')) => {
                        chars.next();
                        arg.push(n);
                    }
                    Some(' ') if quote.is_none() => {
                        chars.next();
                        arg.push(' ');
                    }
                    _ => arg.push('\\'),
                },
                (' ' | '\t', None) => break,
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, _) => arg.push(c),
            }
        }
        if quote.is_some() {
            return Err(LexError::UnterminatedQuote);
        }
        args.push(arg);
    }
}

/// Splits the way `Match` criteria are split: whitespace or one `=` separates,
/// double quotes group; stops at the end, at an empty token or at an unclosed quote.
pub(crate) fn delimited(rest: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut s = Some(rest);
    while let Some(cur) = s {
        let Some((token, next)) = strdelim(cur, true) else {
            break;
        };
        if token.is_empty() {
            break;
        }
        tokens.push(token);
        s = next;
    }
    tokens
}

/// The raw rest of the line for `ProxyCommand` and `ProxyJump`: everything after
/// the keyword's delimiters (whitespace and `=`), quotes and comments kept.
pub(crate) fn command_text(rest: &str) -> &str {
    rest.trim_start_matches(|c: char| WHITESPACE.contains(&c) || c == '=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(line: &str) -> Option<(String, String)> {
        keyword(line).map(|k| (k.name, k.rest.to_owned()))
    }

    fn pair(a: &str, b: &str) -> Option<(String, String)> {
        Some((a.to_owned(), b.to_owned()))
    }

    #[test]
    fn keyword_forms() {
        assert_eq!(kw("User bob"), pair("user", "bob"));
        assert_eq!(kw("User=bob"), pair("user", "bob"));
        assert_eq!(kw("User = bob"), pair("user", "bob"));
        assert_eq!(kw("User =bob"), pair("user", "bob"));
        assert_eq!(kw("User==bob"), pair("user", "=bob"));
        assert_eq!(kw("User = = bob"), pair("user", "= bob"));
        assert_eq!(kw("  HostName\tx  \r"), pair("hostname", "x"));
        assert_eq!(kw("\"User\" bob"), pair("user", "bob"));
        assert_eq!(kw("=User bob"), pair("user", "bob"));
        assert_eq!(kw("User"), pair("user", ""));
        assert_eq!(kw("User   "), pair("user", ""));
    }

    #[test]
    fn comments_and_blanks() {
        assert_eq!(kw(""), None);
        assert_eq!(kw("   \t"), None);
        assert_eq!(kw("# Host x"), None);
        assert_eq!(kw("   #Host x"), None);
        assert_eq!(kw("\"User bob"), None);
    }

    fn args(s: &str) -> Vec<String> {
        arguments(s).unwrap()
    }

    #[test]
    fn argument_splitting() {
        assert_eq!(args("a b\tc"), ["a", "b", "c"]);
        assert_eq!(args("\"a b\" c"), ["a b", "c"]);
        assert_eq!(args("'a b'"), ["a b"]);
        assert_eq!(args("\"bo\"b"), ["bob"]);
        assert_eq!(args("w\"e\"b"), ["web"]);
        assert_eq!(args("a\\ b"), ["a b"]);
        assert_eq!(args("a\\\"b"), ["a\"b"]);
        assert_eq!(args("a\\xb"), ["a\\xb"]);
        assert_eq!(args("\"a\\ b\""), ["a\\ b"]);
        assert_eq!(args("a # comment"), ["a"]);
        assert_eq!(args("a#b"), ["a#b"]);
        assert_eq!(args("#x"), Vec::<String>::new());
        assert_eq!(args("\"\""), [""]);
        assert_eq!(args("B=\"two words\" C=x"), ["B=two words", "C=x"]);
        assert_eq!(arguments("\"open"), Err(LexError::UnterminatedQuote));
        assert_eq!(arguments("a 'open"), Err(LexError::UnterminatedQuote));
    }

    #[test]
    fn match_splitting() {
        assert_eq!(
            delimited("host web user bob"),
            ["host", "web", "user", "bob"]
        );
        assert_eq!(delimited("host=web"), ["host", "web"]);
        assert_eq!(delimited("host = web"), ["host", "web"]);
        assert_eq!(delimited("host \"a b\""), ["host", "a b"]);
        assert_eq!(delimited("host 'web'"), ["host", "'web'"]);
        assert_eq!(delimited("host w\"e\"b"), ["host", "we", "b"]);
        assert_eq!(delimited("host \"web"), ["host"]);
        assert_eq!(delimited("host==web"), ["host"]);
    }

    #[test]
    fn command_text_keeps_the_rest() {
        assert_eq!(command_text("= \"a b\"  # x"), "\"a b\"  # x");
        assert_eq!(command_text(" =  = foo"), "foo");
    }
}
