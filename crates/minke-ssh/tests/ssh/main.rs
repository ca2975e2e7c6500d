//! minke-ssh against real OpenSSH servers from minke-testkit.
//!
//! Every test starts its own servers; a missing sshd fails them (never skips).

mod auth;
mod certs;
mod connect_errors;
mod exec;
mod host_keys;
mod kill;
mod options;
mod protocol;
mod scale;
mod sftp;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use minke_core::{CommandOutput, HostTarget};
use minke_ssh::{ConnectOptions, Connection, Discard, ExecOptions};
use minke_testkit::Fleet;

/// Options without the agent, so results don't depend on who runs the tests.
pub fn opts() -> ConnectOptions {
    ConnectOptions {
        use_agent: false,
        ..ConnectOptions::default()
    }
}

/// Starts `n` throwaway servers.
pub fn fleet(n: usize) -> Fleet {
    Fleet::start(n).expect("starting throwaway sshd servers (needs openssh-server)")
}

/// Connects to a target with [`opts`], or panics.
pub async fn connect(target: &HostTarget) -> Connection {
    Connection::connect(target, &opts())
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", target.name))
}

/// Runs a command with default options, or panics.
pub async fn run(conn: &Connection, command: &str) -> CommandOutput {
    conn.exec(command, &ExecOptions::default(), &mut Discard)
        .await
        .unwrap_or_else(|e| panic!("`{command}`: {e}"))
}

/// A string no other process has in its command line.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "minke-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A `sleep` whose argument is unique: `sleep 300.<digits>` (its own command line
/// identifies it, even after the shell execs it).
pub fn unique_sleep() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "sleep 300.{}{:04}{:09}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// Waits (at most `limit`) until some process has `needle` in its command line.
pub async fn wait_present(needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while minke_testkit::find_processes(needle).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no process `{needle}` appeared within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most `limit`) until no process has `needle` in its command line.
pub async fn wait_gone(needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let pids = minke_testkit::find_processes(needle);
        if pids.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} with `{needle}` still alive after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
