//! Token (`%h`, `%p`, ...), `${VAR}` and `~` expansion, with the token sets OpenSSH
//! gives each keyword.

use std::path::Path;

use super::local::{Local, home_of, path_text};

/// The facts a connection's tokens expand to.
pub(crate) struct Conn<'a> {
    /// The final host name: `%h`.
    pub(crate) host: &'a str,
    /// `%p`.
    pub(crate) port: u16,
    /// The remote user: `%r`.
    pub(crate) user: &'a str,
    /// The name given (the alias): `%n`.
    pub(crate) alias: &'a str,
    /// `HostKeyAlias`, else the alias: `%k`.
    pub(crate) key_alias: &'a str,
    /// The local facts: `%u`, `%d`, `%i`, `%l`, `%L`.
    pub(crate) local: &'a Local,
}

impl Conn<'_> {
    /// `%C` for this connection.
    fn hash(&self) -> String {
        let port = self.port.to_string();
        conn_hash(&self.local.host_name, self.host, &port, self.user)
    }

    /// The tokens of file names and paths (`IdentityFile`, `CertificateFile`,
    /// `UserKnownHostsFile`, `ForwardAgent`, ...) but `%C` ([`hash`](Self::hash), a
    /// SHA-1 worked out only when used): `%% %d %h %i %k %L %l %n %p %r %u`.
    fn file_tokens_but_hash(&self) -> Vec<(char, String)> {
        let port = self.port.to_string();
        vec![
            ('d', path_text(&self.local.home)),
            ('h', self.host.to_owned()),
            ('i', self.local.uid.to_string()),
            ('k', self.key_alias.to_owned()),
            ('L', self.local.short_host_name().to_owned()),
            ('l', self.local.host_name.clone()),
            ('n', self.alias.to_owned()),
            ('p', port),
            ('r', self.user.to_owned()),
            ('u', self.local.user.clone()),
        ]
    }

    /// The tokens of `ProxyCommand` and `ProxyJump`: `%% %h %n %p %r`.
    pub(crate) fn proxy_tokens(&self) -> Vec<(char, String)> {
        vec![
            ('h', self.host.to_owned()),
            ('n', self.alias.to_owned()),
            ('p', self.port.to_string()),
            ('r', self.user.to_owned()),
        ]
    }
}

/// Expands file names for one connection, working the tokens out only when a name
/// has one.
pub(crate) struct PathExpander<'a> {
    conn: Conn<'a>,
    /// The tokens but `%C`, then `%C` added when a name uses it.
    tokens: std::cell::RefCell<Option<Vec<(char, String)>>>,
}

impl<'a> PathExpander<'a> {
    /// For the connection `conn`.
    pub(crate) fn new(conn: Conn<'a>) -> Self {
        PathExpander {
            conn,
            tokens: std::cell::RefCell::new(None),
        }
    }

    /// Expands `~`, then tokens and `${VAR}`.
    pub(crate) fn expand(&self, s: &str) -> Result<String, String> {
        let s = tilde(s, &self.conn.local.home)?;
        if !s.contains('%') && !s.contains("${") {
            return Ok(s);
        }
        let mut tokens = self.tokens.borrow_mut();
        let tokens = tokens.get_or_insert_with(|| self.conn.file_tokens_but_hash());
        if s.contains("%C") && !tokens.iter().any(|(k, _)| *k == 'C') {
            tokens.push(('C', self.conn.hash()));
        }
        expand(&s, tokens, true)
    }

    /// The connection's facts.
    pub(crate) fn conn(&self) -> &Conn<'a> {
        &self.conn
    }
}

/// `%C`: the SHA-1, in hex, of local host name, host, port and remote user.
pub(crate) fn conn_hash(local_host: &str, host: &str, port: &str, user: &str) -> String {
    let text = format!("{local_host}{host}{port}{user}");
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(40);
    for b in digest.as_ref() {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 15)]));
    }
    hex
}

/// Expands `%x` tokens from `tokens` (and `%%`), and with `env` also `${VAR}`.
/// An unknown token, a `%` at the end, an unset variable or a `${` without `}` is
/// an error, as in OpenSSH.
pub(crate) fn expand(s: &str, tokens: &[(char, String)], env: bool) -> Result<String, String> {
    expand_with(s, Some(tokens), env)
}

/// Expands `${VAR}` only (`%` is left alone).
pub(crate) fn expand_env(s: &str) -> Result<String, String> {
    expand_with(s, None, true)
}

fn expand_with(s: &str, tokens: Option<&[(char, String)]>, env: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if env && rest.starts_with("${") {
            let inner = &rest[2..];
            let Some(end) = inner.find('}') else {
                return Err(format!("`${{{inner}` has no closing `}}`"));
            };
            let name = &inner[..end];
            if name.is_empty() {
                return Err("`${}` names no environment variable".to_owned());
            }
            match std::env::var(name) {
                Ok(v) => out.push_str(&v),
                Err(_) => return Err(format!("the environment variable `{name}` is not set")),
            }
            rest = &inner[end + 1..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        let Some(tokens) = tokens.filter(|_| c == '%') else {
            out.push(c);
            continue;
        };
        let Some(key) = rest.chars().next() else {
            return Err("a `%` ends the value (write `%%` for a percent sign)".to_owned());
        };
        rest = &rest[key.len_utf8()..];
        if key == '%' {
            out.push('%');
        } else if let Some((_, value)) = tokens.iter().find(|(k, _)| *k == key) {
            out.push_str(value);
        } else {
            return Err(format!("unknown token `%{key}` here"));
        }
    }
    Ok(out)
}

/// Expands a leading `~` (the user's home) or `~user` (that user's home).
pub(crate) fn tilde(s: &str, home: &Path) -> Result<String, String> {
    let Some(rest) = s.strip_prefix('~') else {
        return Ok(s.to_owned());
    };
    let (user, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_start_matches('/')),
        None => (rest, ""),
    };
    let dir = if user.is_empty() {
        path_text(home)
    } else {
        match home_of(user) {
            Some(h) => path_text(&h),
            None => return Err(format!("`~{user}`: there is no user `{user}`")),
        }
    };
    let sep = if dir.ends_with('/') { "" } else { "/" };
    Ok(format!("{dir}{sep}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local::new("me", "/home/me", "box.example.org").with_uid(1000)
    }

    #[test]
    fn hash_is_sha1_of_the_four_facts() {
        // sha1("vmweb22root"), as `ssh -G` printed it for %C.
        assert_eq!(
            conn_hash("vm", "web", "22", "root"),
            "e225cd6185a0b96d5858e5b71b54b721f8304e23"
        );
    }

    #[test]
    fn file_tokens() {
        let l = local();
        let c = Conn {
            host: "h.example",
            port: 2222,
            user: "deploy",
            alias: "web",
            key_alias: "web",
            local: &l,
        };
        let paths = PathExpander::new(c);
        let x = |s: &str| paths.expand(s);
        assert_eq!(
            x("~/.ssh/%r@%h:%p-%n-%u-%i-%L-%l-%k-%d-%%").unwrap(),
            "/home/me/.ssh/deploy@h.example:2222-web-me-1000-box-box.example.org-web-/home/me-%"
        );
        assert_eq!(x("%C").unwrap().len(), 40);
        assert!(x("%j").unwrap_err().contains("%j"));
        assert!(x("100%").is_err());
    }

    #[test]
    fn env_vars() {
        // PATH is set for every test process.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(expand("${PATH}/x", &[], true).unwrap(), format!("{path}/x"));
        assert_eq!(expand("${PATH}", &[], false).unwrap(), "${PATH}");
        assert_eq!(expand("$PATH", &[], true).unwrap(), "$PATH");
        assert!(expand("${NO_SUCH_VARIABLE_SET_HERE}", &[], true).is_err());
        assert!(expand("${PATH", &[], true).is_err());
        assert_eq!(expand_env("%d/${PATH}").unwrap(), format!("%d/{path}"));
    }

    #[test]
    fn proxy_tokens_only() {
        let l = local();
        let c = Conn {
            host: "h",
            port: 22,
            user: "u",
            alias: "a",
            key_alias: "a",
            local: &l,
        };
        assert_eq!(
            expand("nc %h %p %r %n %%", &c.proxy_tokens(), false).unwrap(),
            "nc h 22 u a %"
        );
        assert!(expand("%u", &c.proxy_tokens(), false).is_err());
    }

    #[test]
    fn tilde_forms() {
        let home = Path::new("/home/me");
        assert_eq!(tilde("~/x", home).unwrap(), "/home/me/x");
        assert_eq!(tilde("~", home).unwrap(), "/home/me/");
        assert_eq!(tilde("~//x", home).unwrap(), "/home/me/x");
        assert_eq!(tilde("a/~/x", home).unwrap(), "a/~/x");
        assert_eq!(tilde("~root/x", home).unwrap(), "/root/x");
        assert!(tilde("~no-such-user-here/x", home).is_err());
        assert_eq!(tilde("~/x", Path::new("/")).unwrap(), "/x");
    }
}
