//! `Host` and `Match` lines: what they say, and whether they apply.
//!
//! `Host` patterns are matched, case-sensitively, against the name given (in the
//! final pass, against the final host name); one matching negated pattern excludes
//! the host. `Match` criteria must all hold: `all`, `canonical` and `final` (true in
//! the second pass only), `host` (the host name so far, after `HostName`),
//! `originalhost` (the name given) — both case-insensitive pattern-lists —, `user`
//! (the remote user so far) and `localuser` (pattern-lists), each negatable with
//! `!`. `exec` is not run: a `Match` line with `exec` never applies.

use super::lexer::delimited;
use super::pattern::{has_wildcard, list_matches, matches};

/// The patterns of a `Host` line.
#[derive(Clone, Debug)]
pub(crate) struct HostLine {
    /// `(negated, pattern)`, in order.
    patterns: Vec<(bool, String)>,
}

impl HostLine {
    /// From the line's arguments (non-empty).
    pub(crate) fn new(args: Vec<String>) -> HostLine {
        let patterns = args
            .into_iter()
            .map(|a| match a.strip_prefix('!') {
                Some(p) => (true, p.to_owned()),
                None => (false, a),
            })
            .collect();
        HostLine { patterns }
    }

    /// Whether the block applies to `name`.
    pub(crate) fn applies_to(&self, name: &str) -> bool {
        let mut hit = false;
        for (negated, p) in &self.patterns {
            if matches(p, name) {
                if *negated {
                    return false;
                }
                hit = true;
            }
        }
        hit
    }

    /// The only names this line can apply to, when all its positive patterns are
    /// literal (`None` when one has a wildcard).
    pub(crate) fn literal_names(&self) -> Option<Vec<&str>> {
        let positive = self.patterns.iter().filter(|(neg, _)| !neg);
        let mut names = Vec::new();
        for (_, p) in positive {
            if has_wildcard(p) {
                return None;
            }
            names.push(p.as_str());
        }
        Some(names)
    }

    /// The positive patterns without wildcards: the concrete aliases.
    pub(crate) fn concrete(&self) -> impl Iterator<Item = &str> {
        self.patterns
            .iter()
            .filter(|(neg, p)| !neg && !has_wildcard(p))
            .map(|(_, p)| p.as_str())
    }
}

/// One criterion of a `Match` line.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Criterion {
    All,
    Canonical,
    Final,
    Exec(String),
    Host(String),
    OriginalHost(String),
    User(String),
    LocalUser(String),
}

/// A parsed `Match` line.
#[derive(Clone, Debug)]
pub(crate) struct MatchLine {
    /// `(negated, criterion)`, in order.
    criteria: Vec<(bool, Criterion)>,
}

/// What a `Match` line is evaluated against.
pub(crate) struct MatchFacts<'a> {
    /// Whether this is the second (final) pass.
    pub(crate) final_pass: bool,
    /// The name given.
    pub(crate) original_host: &'a str,
    /// The remote user so far (the local user when none is set yet).
    pub(crate) user: &'a str,
    /// The local user.
    pub(crate) local_user: &'a str,
}

impl MatchLine {
    /// Parses the text after `Match`.
    pub(crate) fn parse(rest: &str) -> Result<MatchLine, String> {
        let tokens = delimited(rest);
        let mut tokens = tokens.iter().peekable();
        let mut criteria = Vec::new();
        while let Some(token) = tokens.next() {
            if token.starts_with('#') {
                break;
            }
            let (negated, name) = match token.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, token.as_str()),
            };
            let lower = name.to_ascii_lowercase();
            if lower == "all" {
                let trailing = tokens.peek().is_some_and(|t| !t.starts_with('#'));
                if criteria.len() > 1 || trailing {
                    return Err(format!(
                        "`{token}` cannot be combined with other Match criteria"
                    ));
                }
                criteria.push((negated, Criterion::All));
                break;
            }
            if lower == "canonical" || lower == "final" {
                let c = if lower == "final" {
                    Criterion::Final
                } else {
                    Criterion::Canonical
                };
                criteria.push((negated, c));
                continue;
            }
            let arg = match tokens.next() {
                Some(a) if !a.starts_with('#') => a.clone(),
                _ => return Err(format!("Match `{name}` needs an argument")),
            };
            let c = match lower.as_str() {
                "exec" => Criterion::Exec(arg),
                "host" => Criterion::Host(arg),
                "originalhost" => Criterion::OriginalHost(arg),
                "user" => Criterion::User(arg),
                "localuser" => Criterion::LocalUser(arg),
                _ => {
                    return Err(format!(
                        "unknown Match criterion `{name}` (all, canonical, final, exec, \
                         host, originalhost, user, localuser)"
                    ));
                }
            };
            criteria.push((negated, c));
        }
        if criteria.is_empty() {
            return Err("Match needs at least one criterion".to_owned());
        }
        Ok(MatchLine { criteria })
    }

    /// Whether the line has an `exec` criterion (never evaluated here).
    pub(crate) fn has_exec(&self) -> bool {
        self.criteria
            .iter()
            .any(|(_, c)| matches!(c, Criterion::Exec(_)))
    }

    /// Whether the line has a `final` criterion, which makes `ssh` read the
    /// configuration a second time.
    pub(crate) fn has_final(&self) -> bool {
        self.criteria.iter().any(|(_, c)| *c == Criterion::Final)
    }

    /// Whether the block applies. `host` gives the host name so far (it may fail on
    /// a bad `HostName` token, and is asked only when a `host` criterion needs it).
    pub(crate) fn applies<H: AsRef<str>, E>(
        &self,
        facts: &MatchFacts<'_>,
        host: impl FnOnce() -> Result<H, E>,
    ) -> Result<bool, E> {
        if self.has_exec() {
            return Ok(false);
        }
        let mut host = Some(host);
        let mut host_name: Option<H> = None;
        for (negated, c) in &self.criteria {
            let hit = match c {
                Criterion::All => true,
                Criterion::Canonical | Criterion::Final => facts.final_pass,
                Criterion::Exec(_) => false,
                Criterion::Host(list) => {
                    if host_name.is_none()
                        && let Some(f) = host.take()
                    {
                        host_name = Some(f()?);
                    }
                    list_matches(list, host_name.as_ref().map_or("", AsRef::as_ref), true)
                }
                Criterion::OriginalHost(list) => list_matches(list, facts.original_host, true),
                Criterion::User(list) => list_matches(list, facts.user, false),
                Criterion::LocalUser(list) => list_matches(list, facts.local_user, false),
            };
            if hit == *negated {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(line: &str) -> HostLine {
        HostLine::new(line.split(' ').map(str::to_owned).collect())
    }

    #[test]
    fn host_lines() {
        assert!(host("web db").applies_to("db"));
        assert!(!host("web").applies_to("WEB"));
        assert!(host("* !web").applies_to("db"));
        assert!(!host("* !web").applies_to("web"));
        assert!(!host("!web *").applies_to("web"));
        assert!(!host("!nomatch").applies_to("web"));
        assert!(!host("a,web").applies_to("web"));
        assert_eq!(host("web db !x*").literal_names(), Some(vec!["web", "db"]));
        assert_eq!(host("web *.org").literal_names(), None);
        assert_eq!(host("!web").literal_names(), Some(vec![]));
        assert_eq!(
            host("web *.org !db").concrete().collect::<Vec<_>>(),
            ["web"]
        );
    }

    fn facts(final_pass: bool) -> MatchFacts<'static> {
        MatchFacts {
            final_pass,
            original_host: "WEB",
            user: "deploy",
            local_user: "me",
        }
    }

    fn applies(line: &str, final_pass: bool) -> bool {
        let m = MatchLine::parse(line).unwrap();
        m.applies(&facts(final_pass), || {
            Ok::<_, ()>("web.example.org".to_owned())
        })
        .unwrap()
    }

    #[test]
    fn criteria() {
        assert!(applies("all", false));
        assert!(!applies("!all", false));
        assert!(applies("host *.example.org", false));
        assert!(applies("HOST WEB.example.org", false));
        assert!(applies("host=web.example.org", false));
        assert!(applies("originalhost web", false));
        assert!(applies("user deploy,root localuser m?", false));
        assert!(!applies("user DEPLOY", false));
        assert!(applies("!user root", false));
        assert!(applies("host a,!b,*.org", false));
        assert!(!applies("host !web.example.org,*", false));
        assert!(!applies("final", false));
        assert!(applies("final", true));
        assert!(applies("canonical", true));
        assert!(applies("!final", false));
        assert!(applies("final all", true));
        assert!(applies("host *.org all", false));
        assert!(!applies("host nomatch all", false));
        assert!(applies("user deploy # a comment", false));
        assert!(!applies("exec true", false));
        assert!(!applies("!exec false", false));
    }

    #[test]
    fn flags() {
        assert!(MatchLine::parse("host x final").unwrap().has_final());
        assert!(MatchLine::parse("!final").unwrap().has_final());
        assert!(MatchLine::parse("exec \"test -f x\"").unwrap().has_exec());
    }

    #[test]
    fn bad_lines() {
        for (line, wants) in [
            ("all host web", "cannot be combined"),
            ("canonical final all", "cannot be combined"),
            ("all all", "cannot be combined"),
            ("host", "needs an argument"),
            ("user #c", "needs an argument"),
            ("host a b", "needs an argument"),
            ("foo bar", "unknown Match criterion `foo`"),
            ("tagged x", "unknown Match criterion"),
            ("#c", "at least one"),
        ] {
            let e = MatchLine::parse(line).unwrap_err();
            assert!(e.contains(wants), "{line}: {e}");
        }
    }

    #[test]
    fn host_is_asked_only_when_needed() {
        let m = MatchLine::parse("user deploy").unwrap();
        assert_eq!(
            m.applies(&facts(false), || Err::<String, _>("asked")),
            Ok(true)
        );
        let m = MatchLine::parse("host x").unwrap();
        assert_eq!(
            m.applies(&facts(false), || Err::<String, _>("asked")),
            Err("asked")
        );
    }
}
