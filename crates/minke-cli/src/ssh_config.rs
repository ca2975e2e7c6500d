//! Reading hosts from an OpenSSH client configuration.

use minke_store::NewHost;

/// Most bytes one import reads (a config of 100,000 hosts fits).
pub(crate) const MAX_CONFIG: u64 = 64 << 20;
/// Longest line accepted.
const MAX_LINE: usize = 64 << 10;

/// Reads a config file, refusing one larger than [`MAX_CONFIG`] (or endless, like
/// `/dev/zero`) without reading more than that.
pub(crate) fn read_config(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read as _;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_CONFIG {
        return Err(format!(
            "{shown} is larger than {} MiB, the most one import reads",
            MAX_CONFIG >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{shown} is not UTF-8 text (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// One `Host` block.
struct Block {
    patterns: Vec<String>,
    options: Vec<(String, String)>,
}

/// Matches an ssh_config pattern (`*`, `?`) against a name.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

fn block_matches(patterns: &[String], name: &str) -> bool {
    let mut hit = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if glob(p, name) {
            hit = true;
        }
    }
    hit
}

/// Splits `Key value`, `Key=value` and `Key = "quoted value"`.
fn split_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let key = line[..end].to_ascii_lowercase();
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    let value = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest);
    Some((key, value.to_owned()))
}

/// An error in an ssh_config file.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// The line number.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Reads the hosts an ssh_config text defines: one per concrete `Host` alias (patterns
/// with `*`, `?` or `!` only supply defaults). Options follow OpenSSH's rule: the first
/// value obtained for a key wins.
///
/// ```
/// let text = "Host web1 web2\n  HostName 10.0.0.%h\n  User deploy\nHost *\n  Port 2222\n  User root\n";
/// let hosts = minke_cli::parse_ssh_config(text, "cfg").unwrap();
/// assert_eq!(hosts.len(), 2);
/// assert_eq!(hosts[0].name, "web1");
/// assert_eq!(hosts[0].username.as_deref(), Some("deploy"));
/// assert_eq!(hosts[0].port, 2222);
/// ```
pub fn parse_ssh_config(text: &str, file: &str) -> Result<Vec<NewHost>, ConfigError> {
    Ok(parse_with_jumps(text, file)?
        .into_iter()
        .map(|(h, _)| h)
        .collect())
}

/// Like [`parse_ssh_config`], with each host's `ProxyJump` alias (`none` is none).
/// A `ProxyJump` must name one Host alias of the same file.
pub(crate) fn parse_with_jumps(
    text: &str,
    file: &str,
) -> Result<Vec<(NewHost, Option<String>)>, ConfigError> {
    let mut blocks: Vec<Block> = vec![Block {
        patterns: vec!["*".into()],
        options: Vec::new(),
    }];
    let mut in_match = false;
    for (no, line) in text.lines().enumerate() {
        if line.len() > MAX_LINE {
            return Err(ConfigError {
                file: file.to_owned(),
                line: no + 1,
                problem: format!("the line is longer than {MAX_LINE} bytes"),
            });
        }
        let Some((key, value)) = split_line(line) else {
            continue;
        };
        match key.as_str() {
            "host" => {
                in_match = false;
                blocks.push(Block {
                    patterns: value.split_whitespace().map(str::to_owned).collect(),
                    options: Vec::new(),
                });
            }
            "match" => in_match = true,
            _ if in_match => {}
            _ => {
                if value.is_empty() {
                    return Err(ConfigError {
                        file: file.into(),
                        line: no + 1,
                        problem: format!("`{key}` has no value"),
                    });
                }
                if let Some(b) = blocks.last_mut() {
                    b.options.push((key, value));
                }
            }
        }
    }
    let mut aliases: Vec<String> = Vec::new();
    for b in &blocks[1..] {
        for p in &b.patterns {
            if !p.contains(['*', '?', '!']) && !aliases.contains(p) {
                aliases.push(p.clone());
            }
        }
    }
    let mut hosts = Vec::new();
    for alias in aliases {
        let mut got: Vec<(String, String)> = Vec::new();
        for b in blocks.iter().filter(|b| block_matches(&b.patterns, &alias)) {
            for (k, v) in &b.options {
                if !got.iter().any(|(gk, _)| gk == k) {
                    got.push((k.clone(), v.clone()));
                }
            }
        }
        let get = |k: &str| {
            got.iter()
                .find(|(gk, _)| gk == k)
                .map(|(_, v)| v.replace("%h", &alias))
        };
        let mut h = NewHost::new(alias.clone());
        h.hostname = get("hostname");
        if let Some(p) = get("port") {
            h.port = p.parse().map_err(|_| ConfigError {
                file: file.into(),
                line: 0,
                problem: format!("host `{alias}`: port `{p}` is not a number"),
            })?;
        }
        h.username = get("user");
        h.identity_file = get("identityfile");
        if let Some(s) = get("stricthostkeychecking") {
            h.host_key_policy = s
                .parse::<minke_core::HostKeyPolicy>()
                .map_err(|e| ConfigError {
                    file: file.into(),
                    line: 0,
                    problem: format!("host `{alias}`: {e}"),
                })?
                .as_str()
                .to_owned();
        }
        h.known_hosts = get("userknownhostsfile")
            .map(|v| v.split_whitespace().next().unwrap_or_default().to_owned());
        h.validate().map_err(|e| ConfigError {
            file: file.into(),
            line: 0,
            problem: e.to_string(),
        })?;
        let jump = get("proxyjump").filter(|j| !j.eq_ignore_ascii_case("none"));
        hosts.push((h, jump));
    }
    let names: Vec<String> = hosts.iter().map(|(h, _)| h.name.clone()).collect();
    for (h, jump) in &hosts {
        if let Some(j) = jump
            && (!names.contains(j) || j == &h.name)
        {
            return Err(ConfigError {
                file: file.into(),
                line: 0,
                problem: format!(
                    "host `{}`: ProxyJump `{j}` must name another Host alias of this file \
                     (user@host:port forms and chains are not supported)",
                    h.name
                ),
            });
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_patterns_give_defaults() {
        let text = "# comment\nHost a\n  Port=2200\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile /tmp/kh\nHost a b\n  Port 9\n  IdentityFile ~/.ssh/id\nHost !b *\n  User x\nMatch all\n  User ignored\n";
        let hosts = parse_ssh_config(text, "t").unwrap();
        assert_eq!(hosts.len(), 2);
        let a = &hosts[0];
        assert_eq!(
            (a.port, a.username.as_deref(), a.host_key_policy.as_str()),
            (2200, Some("x"), "accept-new")
        );
        assert_eq!(a.known_hosts.as_deref(), Some("/tmp/kh"));
        assert_eq!(a.identity_file.as_deref(), Some("~/.ssh/id"));
        let b = &hosts[1];
        assert_eq!((b.port, b.username.as_deref()), (9, None));
    }

    #[test]
    fn proxy_jump_names_another_alias() {
        let hosts = parse_with_jumps(
            "Host inner\n ProxyJump bastion\nHost bastion\n ProxyJump none\n",
            "t",
        )
        .unwrap();
        assert_eq!(hosts[0].1.as_deref(), Some("bastion"));
        assert_eq!(hosts[1].1, None);
        let e = parse_with_jumps("Host a\n ProxyJump me@far:22\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ProxyJump `me@far:22`"), "{e}");
        assert!(parse_with_jumps("Host a\n ProxyJump a\n", "t").is_err());
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(
            parse_ssh_config("Host a\n Port x\n", "t")
                .unwrap_err()
                .to_string()
                .contains("port `x`")
        );
        assert!(parse_ssh_config("Host a\n StrictHostKeyChecking maybe\n", "t").is_err());
        assert!(parse_ssh_config("Host a\n Port 70000\n", "t").is_err());
    }
}
