//! SFTP throughput: one file of N MiB put to a test-kit sshd on 127.0.0.1 and got
//! back, through `Connection::put` and `Connection::get`, with MiB/s each way and
//! this process's peak resident memory (VmHWM) before and after.
//!
//! The bytes come from a generator (never held whole) and go to a counting sink; the
//! SHA-256 of both transfers is compared, and with `sha256sum` run on the host.
//!
//! `cargo run --release -p minke-bench --bin sftp-transfer` (1 GiB) or
//! `... -- --mib 256`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use minke::ssh::{ConnectOptions, Connection, Discard, ExecOptions};
use minke_bench::status_kib;
use tokio::io::AsyncWrite;

struct Options {
    mib: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options { mib: 1024 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--mib" => o.mib = value.parse().context("--mib")?,
            other => bail!("unknown option {other} (--mib N)"),
        }
    }
    ensure!(o.mib > 0, "--mib must be at least 1");
    Ok(o)
}

/// Counts what it is given and keeps none of it.
struct Counter(u64);

impl AsyncWrite for Counter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0 += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn rate(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / took.as_secs_f64()
}

fn hwm_mib() -> f64 {
    status_kib(std::process::id(), "VmHWM:").unwrap_or(0) as f64 / 1024.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let size = o.mib * 1024 * 1024;
    let fleet = minke_testkit::Fleet::start(1).context("starting sshd (needs openssh-server)")?;
    let opts = ConnectOptions {
        use_agent: false,
        ..ConnectOptions::default()
    };
    let conn = Connection::connect(&fleet.targets()[0], &opts).await?;
    let dir = tempfile::tempdir()?;
    let remote = dir
        .path()
        .join("sftp-transfer.bin")
        .to_str()
        .context("a UTF-8 temporary path")?
        .to_owned();
    // Unmeasured warm-up: the first channel and SFTP session.
    conn.put(&b"warm-up"[..], &remote, 0o600).await?;
    let hwm_before = hwm_mib();
    println!(
        "{} MiB each way over SFTP, sshd on 127.0.0.1, file {remote}",
        o.mib
    );

    let source = minke_testkit::Noise::new(size);
    let put = conn.put(source, &remote, 0o600).await?;
    ensure!(put.bytes == size, "put moved {} bytes", put.bytes);
    println!(
        "put: {:>8.1} MiB/s  ({} bytes in {:.2?})",
        rate(put.bytes, put.duration),
        put.bytes,
        put.duration
    );

    let mut sink = Counter(0);
    let got = conn.get(&remote, &mut sink).await?;
    ensure!(
        got.bytes == size && sink.0 == size,
        "get moved {} bytes",
        got.bytes
    );
    println!(
        "get: {:>8.1} MiB/s  ({} bytes in {:.2?})",
        rate(got.bytes, got.duration),
        got.bytes,
        got.duration
    );
    let hwm_after = hwm_mib();

    ensure!(
        put.sha256 == got.sha256,
        "SHA-256 differs: put {}, get {}",
        put.sha256,
        got.sha256
    );
    let check = conn
        .exec(
            &format!("sha256sum '{remote}' && rm -f '{remote}'"),
            &ExecOptions::default(),
            &mut Discard,
        )
        .await?;
    let on_host = check.stdout_text();
    ensure!(
        check.ok() && on_host.starts_with(&put.sha256),
        "sha256sum on the host says {on_host:?}, the put {}",
        put.sha256
    );
    println!(
        "sha256 {} (put, get and sha256sum on the host agree)",
        put.sha256
    );
    println!("peak resident memory (VmHWM): {hwm_before:.1} MiB before, {hwm_after:.1} MiB after");
    conn.close().await;
    Ok(())
}
