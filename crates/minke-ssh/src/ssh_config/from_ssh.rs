//! Asking OpenSSH itself: `ssh -G -F FILE ALIAS` prints every option it would use,
//! one `keyword value` line each; this reads that into a [`Resolved`], with the same
//! expansion and normalization as the resolver, so the two can be compared.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::ConfigError;
use super::local::Local;
use super::resolved::{Printed, PrintedAgent, Resolved, Sourced, finish};
use super::value::{Strict, Tty, parse_port};

/// The name errors about `ssh -G` output carry as their file.
const SSH_G: &str = "ssh -G";

/// Runs `ssh -G -F config alias` with the `ssh` binary given (e.g. `ssh`, found on
/// `PATH`) and reads its output, with [`Local::current`]'s facts for expanding
/// identity files: OpenSSH's own answer, `Match exec` run and DNS canonicalization
/// done as `ssh` does them.
///
/// An `ssh` that fails (a bad option, an unreadable file) gives an error carrying
/// its message, with the line it names when it names one.
///
/// ```no_run
/// use std::path::Path;
///
/// let web = minke_ssh::ssh_config::resolve_with_ssh(Path::new("ssh"), Path::new("/home/me/.ssh/config"), "web")?;
/// println!("{}@{}:{}", web.user, web.hostname, web.port);
/// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
/// ```
pub fn resolve_with_ssh(ssh: &Path, config: &Path, alias: &str) -> Result<Resolved, ConfigError> {
    let shown = config.display().to_string();
    let out = Command::new(ssh)
        .arg("-G")
        .arg("-F")
        .arg(config)
        .arg("--")
        .arg(alias)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            ConfigError::new(
                shown.clone(),
                0,
                format!("cannot run {}: {e}", ssh.display()),
            )
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Pseudo-terminal"))
            .collect();
        let line = message.iter().find_map(|l| named_line(l)).unwrap_or(0);
        return Err(ConfigError::new(
            shown,
            line,
            format!(
                "{} -G {alias} failed ({}): {}",
                ssh.display(),
                out.status,
                message.join("; ")
            ),
        ));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| ConfigError::new(SSH_G, 0, "the output is not UTF-8 text"))?;
    parse_ssh_g(alias, &text)
}

/// The line number in an OpenSSH message like `file line 12: Bad port 'x'.`.
fn named_line(message: &str) -> Option<usize> {
    let after = message.split(" line ").nth(1)?;
    after.split(':').next()?.trim().parse().ok()
}

/// Reads `ssh -G` output (for `alias`) into a [`Resolved`], expanding identity
/// files with [`Local::current`]'s facts.
///
/// ```
/// let out = "host web\nuser deploy\nhostname web.example.org\nport 2222\n\
///            identityfile ~/.ssh/id_ed25519\nserveralivecountmax 3\nserveraliveinterval 0\n\
///            stricthostkeychecking accept-new\nrequesttty auto\nforwardagent no\n\
///            connecttimeout none\nuserknownhostsfile /k\n";
/// let web = minke_ssh::ssh_config::parse_ssh_g("web", out)?;
/// assert_eq!((web.hostname.as_str(), web.port), ("web.example.org", 2222));
/// assert_eq!(web.strict_host_key_checking.as_deref(), Some("accept-new"));
/// assert_eq!(web.request_tty, None);
/// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
/// ```
pub fn parse_ssh_g(alias: &str, text: &str) -> Result<Resolved, ConfigError> {
    parse_ssh_g_with(alias, text, &Local::current())
}

/// [`parse_ssh_g`] with the local facts given.
///
/// ```
/// use minke_ssh::ssh_config::{Local, parse_ssh_g_with};
///
/// let local = Local::new("me", "/home/me", "box");
/// let out = "user me\nhostname web\nport 22\nidentityfile ~/.ssh/%h\n";
/// let web = parse_ssh_g_with("web", out, &local)?;
/// assert_eq!(web.identity_files, ["/home/me/.ssh/web"]);
/// # Ok::<(), minke_ssh::ssh_config::ConfigError>(())
/// ```
pub fn parse_ssh_g_with(alias: &str, text: &str, local: &Local) -> Result<Resolved, ConfigError> {
    let mut p = Printed {
        alias: alias.to_owned(),
        hostname: String::new(),
        port: 0,
        user: String::new(),
        identity_files: Vec::new(),
        certificate_files: Vec::new(),
        proxy_jump: None,
        proxy_command: None,
        forward_agent: PrintedAgent::No,
        forward_agent_flag: None,
        set_env: Vec::new(),
        server_alive_interval: 0,
        server_alive_count_max: 3,
        strict_host_key_checking: Strict::Ask,
        user_known_hosts_files: Vec::new(),
        request_tty: Tty::Auto,
        connect_timeout: None,
        host_key_alias: None,
    };
    let (mut hostname, mut port, mut user) = (false, false, false);
    for (at, line) in text.lines().enumerate() {
        let number = at + 1;
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let bad = |what: &str| {
            ConfigError::new(
                SSH_G,
                number,
                format!("`{key}` has a bad value `{value}` ({what})"),
            )
        };
        let sourced = || Sourced {
            value: value.to_owned(),
            file: Arc::from(SSH_G),
            line: number,
        };
        match key.to_ascii_lowercase().as_str() {
            "hostname" => {
                p.hostname = value.to_owned();
                hostname = true;
            }
            "port" => {
                p.port = parse_port(value).ok_or_else(|| bad("a port"))?;
                port = true;
            }
            "user" => {
                p.user = value.to_owned();
                user = true;
            }
            "identityfile" => p.identity_files.push(sourced()),
            "certificatefile" => p.certificate_files.push(sourced()),
            "proxyjump" => p.proxy_jump = Some(sourced()),
            "proxycommand" => p.proxy_command = Some(sourced()),
            "forwardagent" => {
                p.forward_agent = match value {
                    "yes" => PrintedAgent::Yes,
                    "no" => PrintedAgent::No,
                    socket => PrintedAgent::Socket(socket.to_owned()),
                }
            }
            "setenv" => {
                let (name, v) = value.split_once('=').ok_or_else(|| bad("NAME=VALUE"))?;
                p.set_env.push((name.to_owned(), v.to_owned()));
            }
            "serveraliveinterval" => {
                p.server_alive_interval = value.parse().map_err(|_| bad("seconds"))?;
            }
            "serveralivecountmax" => {
                p.server_alive_count_max = value.parse().map_err(|_| bad("a count"))?;
            }
            "stricthostkeychecking" => {
                p.strict_host_key_checking = Strict::parse(value).ok_or_else(|| bad("a policy"))?;
            }
            "userknownhostsfile" => {
                p.user_known_hosts_files = value.split_whitespace().map(str::to_owned).collect();
            }
            "requesttty" => p.request_tty = Tty::parse(value).ok_or_else(|| bad("a tty mode"))?,
            "connecttimeout" => {
                p.connect_timeout = match value {
                    "none" => None,
                    n => Some(n.parse().map_err(|_| bad("seconds"))?),
                }
            }
            "hostkeyalias" => p.host_key_alias = Some(value.to_owned()),
            _ => {}
        }
    }
    for (seen, key) in [(hostname, "hostname"), (port, "port"), (user, "user")] {
        if !seen {
            return Err(ConfigError::new(
                SSH_G,
                0,
                format!("no `{key}` line: this is not the output of ssh -G"),
            ));
        }
    }
    finish(p, local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_printed_words() {
        let local = Local::new("me", "/home/me", "box");
        let out = "user u\nhostname h\nport 22\nstricthostkeychecking false\nrequesttty true\n\
                   forwardagent /run/agent\nsetenv A=b=c\nconnecttimeout 5\n\
                   userknownhostsfile /home/me/.ssh/known_hosts /home/me/.ssh/known_hosts2\n\
                   identityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ecdsa\nidentityfile ~/.ssh/id_ecdsa_sk\n\
                   identityfile ~/.ssh/id_ed25519\nidentityfile ~/.ssh/id_ed25519_sk\n\
                   identityfile ~/.ssh/id_xmss\nidentityfile ~/.ssh/id_dsa\n\
                   proxycommand nc %h %p\n";
        let r = parse_ssh_g_with("a", out, &local).unwrap();
        assert_eq!(r.strict_host_key_checking.as_deref(), Some("no"));
        assert_eq!(r.request_tty.as_deref(), Some("yes"));
        assert!(r.forward_agent);
        assert_eq!(r.forward_agent_socket.as_deref(), Some("/run/agent"));
        assert_eq!(r.set_env, [("A".to_owned(), "b=c".to_owned())]);
        assert_eq!(r.connect_timeout, Some(5));
        assert!(r.user_known_hosts_files.is_empty());
        assert!(r.identity_files.is_empty());
        assert_eq!(r.proxy_command.as_deref(), Some("nc h 22"));
    }

    #[test]
    fn refuses_other_text() {
        let e = parse_ssh_g_with("a", "hello\n", &Local::new("me", "/h", "b")).unwrap_err();
        assert!(e.problem.contains("not the output of ssh -G"), "{e}");
        let e = parse_ssh_g_with(
            "a",
            "user u\nhostname h\nport x\n",
            &Local::new("me", "/h", "b"),
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("ssh -G", 3));
    }

    #[test]
    fn line_numbers_in_messages() {
        assert_eq!(named_line("/tmp/cfg line 12: Bad port 'x'."), Some(12));
        assert_eq!(
            named_line("/tmp/cfg: line 3: Bad configuration option: foo"),
            Some(3)
        );
        assert_eq!(
            named_line("Too many recursive configuration includes"),
            None
        );
    }
}
