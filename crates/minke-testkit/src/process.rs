//! Finding and ending processes through `/proc`, without `unsafe`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};

/// The parent of every live process, read from `/proc/<pid>/stat`.
fn parents() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            map.insert(pid, ppid);
        }
    }
    map
}

/// Every live descendant of `roots` (children, grandchildren, ...), roots excluded.
pub fn descendants(roots: &[u32]) -> Vec<u32> {
    let parents = parents();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in &parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut seen: HashSet<u32> = roots.iter().copied().collect();
    let mut stack: Vec<u32> = roots.to_vec();
    let mut out = Vec::new();
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(c) {
                out.push(c);
                stack.push(c);
            }
        }
    }
    out
}

/// Processes that came in through sshd on 127.0.0.1 at one of `ports` (their
/// `SSH_CONNECTION` says so), the calling process excluded. Catches session commands
/// that outlived their sshd and so are no longer its descendants.
pub(crate) fn session_processes(ports: &[u16]) -> Vec<u32> {
    let mut out = Vec::new();
    if ports.is_empty() {
        return out;
    }
    for (pid, dir) in other_processes() {
        let Ok(environ) = std::fs::read(dir.join("environ")) else {
            continue;
        };
        for var in environ.split(|&b| b == 0) {
            let Some(value) = var.strip_prefix(b"SSH_CONNECTION=") else {
                continue;
            };
            // `client_ip client_port server_ip server_port`
            let value = String::from_utf8_lossy(value);
            let fields: Vec<&str> = value.split(' ').collect();
            if let [_, _, "127.0.0.1", port] = fields.as_slice()
                && port.parse().is_ok_and(|p: u16| ports.contains(&p))
            {
                out.push(pid);
            }
        }
    }
    out
}

/// Sends SIGKILL to `pids` with `/usr/bin/kill` (already exited ones are ignored).
pub(crate) fn kill_pids(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let kill = if Path::new("/usr/bin/kill").exists() {
        "/usr/bin/kill"
    } else {
        "kill"
    };
    for chunk in pids.chunks(2000) {
        let status = Command::new(kill)
            .arg("-KILL")
            .arg("--")
            .args(chunk.iter().map(u32::to_string))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = status {
            tracing::warn!("could not run {kill}: {e}");
        }
    }
}

/// The ids of live processes whose command line contains `needle`
/// (arguments joined by spaces), the calling process excluded.
///
/// Tests use it to check that a remote command is really gone after a timeout
/// or a kill: the "remote" host is this machine.
///
/// ```
/// assert!(minke_testkit::find_processes("no process has this in its command line 7f3a").is_empty());
/// ```
pub fn find_processes(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for (pid, dir) in other_processes() {
        let Ok(raw) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let cmdline: Vec<u8> = raw.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// The ids of live processes whose whole command line (arguments joined by spaces)
/// is `cmdline`: `find_command("sleep 61.5")` finds that `sleep`, not the shell that
/// started it with `sh -c 'sleep 61.5; echo done'`.
///
/// ```
/// assert!(minke_testkit::find_command("sleep 9.1234567").is_empty());
/// ```
pub fn find_command(cmdline: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for (pid, dir) in other_processes() {
        let Ok(raw) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = raw
            .strip_suffix(b"\0")
            .unwrap_or(&raw)
            .split(|b| *b == 0)
            .collect();
        if args.join(&b' ') == cmdline.as_bytes() {
            out.push(pid);
        }
    }
    out
}

/// Every process but this one, as (pid, its /proc directory).
fn other_processes() -> impl Iterator<Item = (u32, std::path::PathBuf)> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(move |entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            (pid != me).then(|| (pid, entry.path()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_own_children() {
        let mut child = Command::new("sleep").arg("30.4242").spawn().unwrap();
        let me = std::process::id();
        assert!(descendants(&[me]).contains(&child.id()));
        // Until the child has exec'd, /proc shows this test's command line.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while find_command("sleep 30.4242").is_empty() {
            assert!(std::time::Instant::now() < deadline, "sleep never started");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(find_processes("sleep 30.4242"), vec![child.id()]);
        assert_eq!(find_command("sleep 30.4242"), vec![child.id()]);
        assert!(
            find_command("sleep 30.424").is_empty(),
            "whole command lines only"
        );
        kill_pids(&[child.id()]);
        child.wait().unwrap();
        assert!(find_processes("sleep 30.4242").is_empty());
    }
}
