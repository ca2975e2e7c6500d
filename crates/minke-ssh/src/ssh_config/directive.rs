//! One line of a config file turned into what it means, its value checked the way
//! `ssh` checks it (in every block, applying or not, as `ssh` does).

use super::jump::{Jump, parse_jump};
use super::keyword::Keyword;
use super::lexer::{self, LexError, arguments, command_text};
use super::matching::{HostLine, MatchLine};
use super::value::{Canonicalize, Strict, Tty, parse_count, parse_flag, parse_port, parse_time};

/// An option Minke reads, with its checked value.
#[derive(Clone, Debug)]
pub(crate) enum Opt {
    HostName(String),
    Port(u16),
    User(String),
    IdentityFile(String),
    CertificateFile(String),
    ProxyJump(Jump),
    /// The raw command (`none` included).
    ProxyCommand(String),
    ForwardAgent(Agent),
    /// `NAME=VALUE` pairs of one line, a repeated name dropped.
    SetEnv(Vec<(String, String)>),
    ServerAliveInterval(u32),
    ServerAliveCountMax(u32),
    StrictHostKeyChecking(Strict),
    UserKnownHostsFile(Vec<String>),
    RequestTty(Tty),
    ConnectTimeout(u32),
    BatchMode(bool),
    CanonicalizeHostname(Canonicalize),
    HostKeyAlias(String),
}

/// A `ForwardAgent` value.
#[derive(Clone, Debug)]
pub(crate) enum Agent {
    /// `yes` or `no`.
    Flag(bool),
    /// A socket path or `$VARIABLE` (which also means yes).
    Socket(String),
}

/// What a line is.
#[derive(Debug)]
pub(crate) enum Directive {
    Host(HostLine),
    Match(MatchLine),
    /// The paths as written.
    Include(Vec<String>),
    Set(Opt),
    /// An `IgnoreUnknown` pattern-list.
    IgnoreUnknown(String),
    /// A keyword Minke does not use (`CanonicalDomains` included).
    Unused(Keyword),
    /// A keyword OpenSSH 9.2 does not know (as written).
    Unknown(String),
}

/// Turns a split line into a directive, or says what is wrong with it.
pub(crate) fn directive(line: &lexer::Keyword<'_>) -> Result<Directive, String> {
    let kw = Keyword::lookup(&line.name);
    let shown: &str = match kw {
        Some(k) => k.name(),
        None => &line.name,
    };
    if line.rest.is_empty() {
        return Err(format!("`{shown}` has no value"));
    }
    let args = arguments(line.rest)
        .map_err(|LexError::UnterminatedQuote| format!("`{shown}`: a quote is not closed"))?;
    let Some(kw) = kw else {
        return Ok(Directive::Unknown(line.name.clone()));
    };
    let one = || single(shown, &args);
    use Keyword as K;
    Ok(match kw {
        K::Host => {
            if args.is_empty() {
                return Err("`Host` has no pattern".to_owned());
            }
            if args.iter().any(String::is_empty) {
                return Err("`Host` has an empty pattern".to_owned());
            }
            Directive::Host(HostLine::new(args))
        }
        K::Match => Directive::Match(MatchLine::parse(line.rest)?),
        K::Include => {
            if args.is_empty() {
                return Err("`Include` names no file".to_owned());
            }
            Directive::Include(args)
        }
        K::IgnoreUnknown => Directive::IgnoreUnknown(one()?),
        K::CanonicalDomains | K::Unused(_) => Directive::Unused(kw),
        K::HostName => Directive::Set(Opt::HostName(one()?)),
        K::User => Directive::Set(Opt::User(one()?)),
        K::HostKeyAlias => Directive::Set(Opt::HostKeyAlias(one()?)),
        K::IdentityFile => Directive::Set(Opt::IdentityFile(one()?)),
        K::CertificateFile => Directive::Set(Opt::CertificateFile(one()?)),
        K::Port => {
            let v = one()?;
            let port = parse_port(&v).ok_or_else(|| {
                format!("bad port `{v}` (a number from 1 to 65535 or a service name)")
            })?;
            Directive::Set(Opt::Port(port))
        }
        K::ProxyCommand => {
            let command = command_text(line.rest);
            if args.is_empty() || command.is_empty() {
                return Err("`ProxyCommand` has no value".to_owned());
            }
            Directive::Set(Opt::ProxyCommand(command.to_owned()))
        }
        K::ProxyJump => {
            let raw = command_text(line.rest);
            if args.is_empty() {
                return Err("`ProxyJump` has no value".to_owned());
            }
            let jump = parse_jump(raw).ok_or_else(|| {
                format!(
                    "bad ProxyJump `{raw}` (none, or [user@]host[:port] or \
                     ssh://[user@]host[:port] hops separated by commas)"
                )
            })?;
            Directive::Set(Opt::ProxyJump(jump))
        }
        K::ForwardAgent => Directive::Set(Opt::ForwardAgent(agent(&one()?)?)),
        K::SetEnv => Directive::Set(Opt::SetEnv(set_env(&args)?)),
        K::ServerAliveInterval | K::ConnectTimeout => {
            let v = one()?;
            let secs = parse_time(&v)
                .ok_or_else(|| format!("`{shown}`: bad time `{v}` (seconds, or e.g. 1m30s)"))?;
            Directive::Set(if kw == K::ConnectTimeout {
                Opt::ConnectTimeout(secs)
            } else {
                Opt::ServerAliveInterval(secs)
            })
        }
        K::ServerAliveCountMax => {
            let v = one()?;
            let n = parse_count(&v).map_err(|why| format!("`{shown}`: `{v}` {why}"))?;
            Directive::Set(Opt::ServerAliveCountMax(n))
        }
        K::StrictHostKeyChecking => {
            let v = one()?;
            let s = Strict::parse(&v).ok_or_else(|| {
                format!("`{shown}`: bad value `{v}` (yes, no, off, ask or accept-new)")
            })?;
            Directive::Set(Opt::StrictHostKeyChecking(s))
        }
        K::RequestTty => {
            let v = one()?;
            let t = Tty::parse(&v)
                .ok_or_else(|| format!("`{shown}`: bad value `{v}` (yes, no, force or auto)"))?;
            Directive::Set(Opt::RequestTty(t))
        }
        K::BatchMode => {
            let v = one()?;
            let b =
                parse_flag(&v).ok_or_else(|| format!("`{shown}`: bad value `{v}` (yes or no)"))?;
            Directive::Set(Opt::BatchMode(b))
        }
        K::CanonicalizeHostname => {
            let v = one()?;
            let c = Canonicalize::parse(&v)
                .ok_or_else(|| format!("`{shown}`: bad value `{v}` (yes, no or always)"))?;
            Directive::Set(Opt::CanonicalizeHostname(c))
        }
        K::UserKnownHostsFile => {
            if args.is_empty() || args.iter().any(String::is_empty) {
                return Err(format!("`{shown}` has no value"));
            }
            if args.len() > 1 && args.iter().any(|a| a == "none") {
                return Err(format!("`{shown}`: `none` must stand alone"));
            }
            Directive::Set(Opt::UserKnownHostsFile(args))
        }
    })
}

/// The one argument of a keyword that takes one.
fn single(shown: &str, args: &[String]) -> Result<String, String> {
    match args {
        [] => Err(format!("`{shown}` has no value")),
        [a] if a.is_empty() => Err(format!("`{shown}` has no value")),
        [a] => Ok(a.clone()),
        [_, extra, ..] => Err(format!(
            "`{shown}` takes one value; `{extra}` is one too many (quote a value with spaces)"
        )),
    }
}

fn agent(v: &str) -> Result<Agent, String> {
    if let Some(flag) = parse_flag(v) {
        return Ok(Agent::Flag(flag));
    }
    if let Some(name) = v.strip_prefix('$')
        && !name.starts_with('{')
        && (name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(format!(
            "`ForwardAgent`: `{v}` is not a valid environment variable name"
        ));
    }
    // OpenSSH requires `${...}` variables to exist already when it reads the line.
    super::tokens::expand_env(v).map_err(|e| format!("`ForwardAgent` `{v}`: {e}"))?;
    Ok(Agent::Socket(v.to_owned()))
}

fn set_env(args: &[String]) -> Result<Vec<(String, String)>, String> {
    if args.is_empty() {
        return Err("`SetEnv` has no value".to_owned());
    }
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(args.len());
    for a in args {
        let Some((name, value)) = a.split_once('=') else {
            return Err(format!("`SetEnv`: `{a}` is not NAME=VALUE"));
        };
        if !pairs.iter().any(|(n, _)| n == name) {
            pairs.push((name.to_owned(), value.to_owned()));
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Directive, String> {
        directive(&lexer::keyword(line).unwrap())
    }

    #[test]
    fn values_are_checked() {
        for (line, wants) in [
            ("Port x", "bad port `x`"),
            ("Port 0", "bad port"),
            ("Port 1 2", "one too many"),
            ("Port", "has no value"),
            ("User #c", "has no value"),
            ("User \"\"", "has no value"),
            ("User \"bob", "not closed"),
            ("StrictHostKeyChecking maybe", "bad value `maybe`"),
            ("ServerAliveInterval -1", "bad time"),
            ("ServerAliveCountMax 5m", "not a number"),
            ("SetEnv X", "not NAME=VALUE"),
            ("UserKnownHostsFile none ~/x", "stand alone"),
            ("ProxyJump a:x", "bad ProxyJump"),
            ("ProxyJump #c", "no value"),
            ("ForwardAgent $HOME/x", "not a valid environment variable"),
            ("ForwardAgent ${NO_SUCH_VARIABLE_SET_HERE}", "not set"),
            ("Host \"\"", "empty pattern"),
            ("Match foo bar", "unknown Match criterion"),
            ("Compression \"x", "not closed"),
        ] {
            let e = parse(line).unwrap_err();
            assert!(e.contains(wants), "{line}: {e}");
        }
    }

    #[test]
    fn kinds() {
        assert!(matches!(
            parse("Port=2222"),
            Ok(Directive::Set(Opt::Port(2222)))
        ));
        assert!(matches!(
            parse("ControlMaster auto"),
            Ok(Directive::Unused(_))
        ));
        assert!(
            matches!(parse("UseKeychain yes"), Ok(Directive::Unknown(n)) if n == "usekeychain")
        );
        assert!(matches!(
            parse("ProxyCommand = nc %h %p # c"),
            Ok(Directive::Set(Opt::ProxyCommand(c))) if c == "nc %h %p # c"
        ));
        let Ok(Directive::Set(Opt::SetEnv(pairs))) = parse("SetEnv A=1 \"B=two words\" A=3") else {
            panic!("SetEnv");
        };
        assert_eq!(
            pairs,
            [("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert!(matches!(
            parse("ForwardAgent $SSH_AUTH_SOCK"),
            Ok(Directive::Set(Opt::ForwardAgent(Agent::Socket(_))))
        ));
        assert!(matches!(
            parse("ForwardAgent YES"),
            Ok(Directive::Set(Opt::ForwardAgent(Agent::Flag(true))))
        ));
    }
}
