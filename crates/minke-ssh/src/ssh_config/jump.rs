//! `ProxyJump` values: `none`, or hops separated by commas, each
//! `[user@]host[:port]` (`[...]` around an IPv6 address) or
//! `ssh://[user@]host[:port]`.

use std::fmt;

use super::value::parse_port;

/// One hop of a `ProxyJump` chain.
///
/// ```
/// use minke_ssh::ssh_config::{Config, Local};
///
/// let local = Local::new("me", "/home/me", "box");
/// let config = Config::parse("Host web\n  ProxyJump ops@bastion:2222,ssh://gw\n", "cfg", &local)?;
/// let hops = config.resolve("web")?.proxy_jump_hops;
/// assert_eq!(hops[0].user.as_deref(), Some("ops"));
/// assert_eq!((hops[0].host.as_str(), hops[0].port), ("bastion", Some(2222)));
/// assert_eq!(hops[1].to_string(), "gw");
/// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JumpHop {
    /// The user to log in as on the hop, when given.
    pub user: Option<String>,
    /// The hop's host name or address (an alias of the config, or a real name).
    pub host: String,
    /// The hop's port, when given.
    pub port: Option<u16>,
}

impl fmt::Display for JumpHop {
    /// `[user@]host[:port]`, the host in brackets when it holds a `:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// A parsed `ProxyJump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Jump {
    /// `none`: no jump host (and later `ProxyJump` lines are ignored).
    None,
    /// The hops, in the order they are visited.
    Hops(Vec<JumpHop>),
}

/// Parses the raw text after `ProxyJump`, as OpenSSH does: `none` (any case) alone
/// is none; otherwise the text up to a `#` and then up to whitespace is the chain.
pub(crate) fn parse_jump(raw: &str) -> Option<Jump> {
    if raw.eq_ignore_ascii_case("none") {
        return Some(Jump::None);
    }
    let chain = raw.split('#').next().unwrap_or_default().trim();
    let chain = chain.split([' ', '\t']).next().unwrap_or_default();
    if chain.is_empty() {
        return None;
    }
    chain
        .split(',')
        .map(parse_hop)
        .collect::<Option<Vec<_>>>()
        .map(Jump::Hops)
}

/// One hop.
pub(crate) fn parse_hop(hop: &str) -> Option<JumpHop> {
    if let Some(uri) = hop.strip_prefix("ssh://") {
        return parse_uri(uri);
    }
    let (user, host_port) = match hop.rfind('@') {
        Some(at) => (Some(&hop[..at]), &hop[at + 1..]),
        None => (None, hop),
    };
    if user.is_some_and(str::is_empty) {
        return None;
    }
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let close = bracketed.find(']')?;
        let after = &bracketed[close + 1..];
        let port = match after {
            "" => None,
            _ => Some(parse_port(after.strip_prefix(':')?)?),
        };
        (&bracketed[..close], port)
    } else {
        match host_port.split_once(':') {
            None => (host_port, None),
            Some((_, p)) if p.contains(':') => return None,
            Some((h, p)) => (h, Some(parse_port(p)?)),
        }
    };
    (!host.is_empty()).then(|| JumpHop {
        user: user.map(str::to_owned),
        host: host.to_owned(),
        port,
    })
}

/// `ssh://[user[;params]@]host[:port][/]`, user and host %-decoded.
fn parse_uri(uri: &str) -> Option<JumpHop> {
    let uri = uri.strip_suffix('/').unwrap_or(uri);
    if uri.contains('/') {
        return None;
    }
    let (user, host_port) = match uri.rfind('@') {
        Some(at) => (Some(&uri[..at]), &uri[at + 1..]),
        None => (None, uri),
    };
    let user = match user {
        Some(u) => {
            Some(url_decode(u.split(';').next().unwrap_or_default())?).filter(|u| !u.is_empty())
        }
        None => None,
    };
    if user.is_none() && uri.contains('@') || host_port.starts_with('[') {
        return None;
    }
    let (host, port) = match host_port.split_once(':') {
        None => (host_port, None),
        Some((_, p)) if p.contains(':') => return None,
        Some((h, p)) => (h, Some(parse_port(p)?)),
    };
    let host = url_decode(host)?;
    (!host.is_empty()).then_some(JumpHop { user, host, port })
}

fn url_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(raw: &str) -> Option<String> {
        match parse_jump(raw)? {
            Jump::None => Some("none".into()),
            Jump::Hops(h) => Some(
                h.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        }
    }

    #[test]
    fn forms_as_ssh_prints_them() {
        assert_eq!(shown("bastion").as_deref(), Some("bastion"));
        assert_eq!(shown("me@bastion:2222").as_deref(), Some("me@bastion:2222"));
        assert_eq!(shown("u@a:1,v@b:2").as_deref(), Some("u@a:1,v@b:2"));
        assert_eq!(shown("ssh://u@h:33").as_deref(), Some("u@h:33"));
        assert_eq!(shown("ssh://u;x@a").as_deref(), Some("u@a"));
        assert_eq!(shown("ssh://u@a:1,ssh://v@b").as_deref(), Some("u@a:1,v@b"));
        assert_eq!(shown("[::1]:22").as_deref(), Some("[::1]:22"));
        assert_eq!(shown("u@[fe80::1]").as_deref(), Some("u@[fe80::1]"));
        assert_eq!(shown("[a]:5").as_deref(), Some("a:5"));
        assert_eq!(shown("a:05").as_deref(), Some("a:5"));
        assert_eq!(shown("u@a@b").as_deref(), Some("u@a@b"));
        assert_eq!(shown("u:p@a").as_deref(), Some("u:p@a"));
        assert_eq!(shown("a # comment").as_deref(), Some("a"));
        assert_eq!(shown("a b").as_deref(), Some("a"));
        assert_eq!(shown("%h").as_deref(), Some("%h"));
        assert_eq!(shown("NONE").as_deref(), Some("none"));
        assert_eq!(shown("none # c").as_deref(), Some("none"));
        assert!(matches!(parse_jump("none # c"), Some(Jump::Hops(_))));
    }

    #[test]
    fn invalid_forms() {
        for bad in [
            "a:1:2",
            "a, b",
            "a,,b",
            ",a",
            "a,",
            "u@",
            "@a",
            "a:0",
            "a:65536",
            "a:x",
            "::1",
            "u@::1",
            "ssh://a:5/path",
            "SSH://a",
            "ssh://u@[::1]:5",
            "%r@%h:%p",
            "#x",
        ] {
            assert_eq!(parse_jump(bad), None, "{bad}");
        }
    }
}
