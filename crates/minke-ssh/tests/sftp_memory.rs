//! Transfers stream: 256 MiB up and down over SFTP while the process's peak memory
//! barely moves.
//!
//! A test binary of its own, so that no other test's allocations blur the figure.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use minke_ssh::{ConnectOptions, Connection, Discard, ExecOptions};
use minke_testkit::Fleet;
use ring::digest;
use tokio::io::AsyncWrite;

const SIZE: u64 = 256 * 1024 * 1024;
/// How much the peak resident set may grow over both transfers.
const ALLOWED_GROWTH_KIB: u64 = 64 * 1024;

/// Counts and hashes what it is given, keeping none of it.
struct HashingSink {
    bytes: u64,
    hash: digest::Context,
}

impl AsyncWrite for HashingSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.hash.update(buf);
        self.bytes += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn hex(d: digest::Digest) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("unreadable {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_fifty_six_mib_each_way_in_little_memory() {
    let fleet = Fleet::start(1).expect("starting a throwaway sshd (needs openssh-server)");
    let opts = ConnectOptions {
        use_agent: false,
        ..ConnectOptions::default()
    };
    let conn = Connection::connect(&fleet.targets()[0], &opts)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("big.bin").to_str().unwrap().to_owned();
    // Warm up: the first transfer sets up what every later one reuses.
    conn.put(&b"warm"[..], &remote, 0o600).await.unwrap();
    let before = status_kib("VmHWM:");

    let mut hash = digest::Context::new(&digest::SHA256);
    let source = minke_testkit::Noise::new(SIZE).watched(|b: &[u8]| hash.update(b));
    let put = conn.put(source, &remote, 0o600).await.unwrap();
    let generated = hex(hash.finish());
    eprintln!(
        "put {} MiB in {:?} ({:.0} MiB/s)",
        put.bytes >> 20,
        put.duration,
        (put.bytes >> 20) as f64 / put.duration.as_secs_f64()
    );
    assert_eq!(put.bytes, SIZE);
    assert_eq!(put.sha256, generated);
    assert_eq!(std::fs::metadata(&remote).unwrap().len(), SIZE);

    let mut sink = HashingSink {
        bytes: 0,
        hash: digest::Context::new(&digest::SHA256),
    };
    let got = conn.get(&remote, &mut sink).await.unwrap();
    eprintln!(
        "got {} MiB in {:?} ({:.0} MiB/s)",
        got.bytes >> 20,
        got.duration,
        (got.bytes >> 20) as f64 / got.duration.as_secs_f64()
    );
    assert_eq!(got.bytes, SIZE);
    assert_eq!(sink.bytes, SIZE);
    assert_eq!(got.sha256, generated);
    assert_eq!(hex(sink.hash.finish()), generated);

    let after = status_kib("VmHWM:");
    eprintln!("peak RSS {before} KiB before, {after} KiB after");
    assert!(
        after.saturating_sub(before) < ALLOWED_GROWTH_KIB,
        "peak RSS grew by {} KiB (from {before} to {after} KiB)",
        after - before
    );

    let out = conn
        .exec(
            &format!("rm -f '{remote}'"),
            &ExecOptions::default(),
            &mut Discard,
        )
        .await
        .unwrap();
    assert!(out.ok(), "{out:?}");
    assert!(!std::path::Path::new(&remote).exists());
}
