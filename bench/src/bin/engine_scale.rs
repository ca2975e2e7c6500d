//! Scale of the engine itself: N sessions on N/10 hosts through the mock transport,
//! with the full history in SQLite. Prints engine CPU per session and memory per
//! queued session for each N, to show both stay flat.
//!
//! `cargo run --release -p minke-bench --bin engine-scale` (sizes 1000, 10000, 100000)
//! or `... -- --sizes 1000,5000`. Each size runs in a fresh process.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use anyhow::{Context as _, bail};
use diesel::prelude::*;
use minke::Store;
use minke::prelude::*;
use minke::store::{Query, with_conn};
use minke_bench::items::{MIGRATIONS, engine, fill, request};

/// CPU seconds of this process so far: the sum over its live threads of the time they
/// ran (`/proc/self/task/*/schedstat`, nanoseconds). Every thread that works for the
/// engine (runtime workers, the writer, the blocking pool) lives to the end of a size.
fn cpu_seconds() -> anyhow::Result<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task")? {
        let path = task?.path().join("schedstat");
        // A thread that ended between listing and reading is skipped.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        ns += stat
            .split_whitespace()
            .next()
            .context("odd schedstat")?
            .parse::<u64>()?;
    }
    Ok(ns as f64 / 1e9)
}

/// A value in kB from /proc/self/status.
fn status_kb(key: &str) -> anyhow::Result<f64> {
    let s = std::fs::read_to_string("/proc/self/status")?;
    let line = s
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("no {key}"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("odd status line")?
        .parse()?)
}

async fn one(sessions: usize) -> anyhow::Result<()> {
    let hosts = (sessions / 10).max(1);
    let dir = tempfile::tempdir()?;
    let url = dir.path().join("scale.db").to_string_lossy().into_owned();
    let store = Store::open_with(&url, MIGRATIONS).await?;
    fill(&store, hosts, sessions).await?;
    let engine = engine(store.clone())?;
    let rss0 = status_kb("VmRSS:")?;
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    let handle = engine.start(request(Query::all())).await?;
    let queued_rss = status_kb("VmRSS:")?;
    let summary = handle.wait().await?;
    store.flush().await?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu0;
    let peak = status_kb("VmHWM:")?;
    let ok = summary
        .sessions
        .iter()
        .filter(|s| s.status == Some(Status::Success))
        .count();
    if ok != sessions {
        bail!("only {ok} of {sessions} sessions succeeded");
    }
    let run_id = summary.run_id;
    let recorded: i64 = store
        .blocking(move |c| {
            with_conn!(c, |c, B| {
                use minke::store::schema::{minke_commands as cmd, minke_sessions as ses};
                cmd::table
                    .inner_join(ses::table)
                    .filter(ses::run_id.eq(run_id))
                    .count()
                    .get_result(c)
                    .map_err(minke::store::Error::query("counting"))
            })
        })
        .await?;
    if recorded != sessions as i64 {
        bail!("history has {recorded} commands for {sessions} sessions");
    }
    println!(
        "{sessions}\t{hosts}\t{wall:.3}\t{cpu:.3}\t{:.1}\t{:.2}\t{:.0}",
        cpu * 1e6 / sessions as f64,
        (queued_rss - rss0).max(0.0) * 1024.0 / sessions as f64 / 1024.0,
        peak / 1024.0,
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--one") {
        let n: usize = args.get(i + 1).context("--one N")?.parse()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return rt.block_on(one(n));
    }
    let sizes: Vec<usize> = match args.iter().position(|a| a == "--sizes") {
        Some(i) => args
            .get(i + 1)
            .context("--sizes A,B,C")?
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?,
        None => vec![1_000, 10_000, 100_000],
    };
    println!("mock transport, SQLite history, 10 sessions per host, concurrency 1000");
    println!(
        "sessions\thosts\twall_s\tcpu_s\tcpu_us_per_session\tqueued_KiB_per_session\tpeak_MiB"
    );
    for n in sizes {
        let status = std::process::Command::new(&args[0])
            .arg("--one")
            .arg(n.to_string())
            .status()?;
        if !status.success() {
            bail!("size {n} failed");
        }
    }
    Ok(())
}
