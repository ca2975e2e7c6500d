//! OpenSSH's `ProxyCommand`: a local command whose standard input and output carry
//! the connection (`nc`, `ssh -W`, a cloud provider's tunnel...). It is run by
//! `sh -c` with `%h`, `%p`, `%r`, `%n` and `%%` expanded (by the tokens of
//! [`ssh_config`](crate::ssh_config)), lives as long as the
//! connection and is killed with it; what it prints to stderr is kept (the last
//! [`STDERR_TAIL`] bytes) to say why a connection through it failed.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use minke_core::HostTarget;
use tokio::io::AsyncReadExt as _;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::error::{Error, Result};

/// How much of the command's stderr is kept for error messages.
const STDERR_TAIL: usize = 2048;

/// Expands the tokens of a `ProxyCommand` for `target`: `%h` the address, `%p` the
/// port, `%r` the remote user, `%n` the host's name as given, `%%` a `%`. Another
/// `%` sequence is an error, as in OpenSSH.
pub(crate) fn expand(command: &str, target: &HostTarget) -> std::result::Result<String, String> {
    let tokens = [
        ('h', target.address.clone()),
        ('p', target.port.to_string()),
        ('r', target.user.clone()),
        ('n', target.name.clone()),
    ];
    crate::ssh_config::tokens::expand(command, &tokens, false)
}

/// A running proxy command: killed when dropped.
pub(crate) struct ProxyProcess {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
}

/// The proxy command's standard output and input as one stream.
pub(crate) type ProxyStream = tokio::io::Join<ChildStdout, ChildStdin>;

/// Starts the target's proxy command; `host` names the host in errors.
pub(crate) fn spawn(
    command: &str,
    target: &HostTarget,
    host: &str,
) -> Result<(ProxyStream, ProxyProcess)> {
    let failed = |detail: String| Error::Proxy {
        host: host.to_owned(),
        detail,
    };
    let expanded = expand(command, target).map_err(|e| failed(format!("`{command}`: {e}")))?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&expanded)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start /bin/sh: {e}")))?;
    let (Some(stdin), Some(stdout), Some(mut err)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(failed("its standard streams are missing".into()));
    };
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&stderr);
    let shown = host.to_owned();
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while let Ok(n) = err.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tracing::debug!(host = %shown, "proxy command: {}", String::from_utf8_lossy(&buf[..n]).trim_end());
            if let Ok(mut tail) = kept.lock() {
                tail.extend_from_slice(&buf[..n]);
                let over = tail.len().saturating_sub(STDERR_TAIL);
                tail.drain(..over);
            }
        }
    });
    tracing::debug!(host = %host, "proxy command started");
    Ok((
        tokio::io::join(stdout, stdin),
        ProxyProcess { child, stderr },
    ))
}

impl ProxyProcess {
    /// Why the connection through it failed, when it has ended: its exit and the end
    /// of what it printed; `None` while it runs.
    pub(crate) async fn ended(&mut self) -> Option<String> {
        // Its stdout closed: give it a moment to exit and its stderr to be read.
        let status = tokio::time::timeout(std::time::Duration::from_millis(500), self.child.wait())
            .await
            .ok()?
            .ok()?;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let said = self
            .stderr
            .lock()
            .map(|t| String::from_utf8_lossy(&t).trim().to_owned())
            .unwrap_or_default();
        let exit = match status.code() {
            Some(c) => format!("it exited with {c}"),
            None => "it was killed by a signal".to_owned(),
        };
        Some(if said.is_empty() {
            exit
        } else {
            format!("{exit}: {said}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let mut t = HostTarget::new(minke_core::HostId::new(1), "web1", "10.0.0.1");
        t.port = 2222;
        t.user = "deploy".into();
        assert_eq!(
            expand("ssh -W %h:%p -l %r gw # %n 100%%", &t).unwrap(),
            "ssh -W 10.0.0.1:2222 -l deploy gw # web1 100%"
        );
        assert!(expand("nc %x", &t).unwrap_err().contains("%x"));
    }
}
