//! Warm connections: the wall time of a run of `uname -a` on N sshd hosts on loopback
//! through the engine, cold (every host connects and logs in) against warm (the same
//! run again, over the connections the engine kept), alternately, with medians.
//! Every host's output is checked, and sshd's logins counted to show which runs
//! logged in.
//!
//! `cargo run --release -p minke-bench --bin warm-runs` (50 hosts, 5 of each) or
//! `... -- --hosts 100 --reps 9`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use minke::prelude::*;
use minke::runtime::{Config, Engine, HostSource, Models, RunRequest};
use minke::store::Query;
use minke::{HostRecord, Params, Registry, Status, Store};

/// Run a command
#[derive(Session)]
#[minke(work_on(HostRecord), command = "{cmd}")]
struct Command {
    cmd: String,
}

struct Options {
    hosts: usize,
    reps: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options { hosts: 50, reps: 5 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--hosts" => o.hosts = value.parse().context("--hosts")?,
            "--reps" => o.reps = value.parse().context("--reps")?,
            other => bail!("unknown option {other} (--hosts N, --reps N)"),
        }
    }
    if o.hosts == 0 || o.reps == 0 {
        bail!("--hosts and --reps must be at least 1");
    }
    Ok(o)
}

/// One run of `uname -a` on every host; its wall time. Fails unless every host
/// printed its kernel's name.
async fn timed_run(engine: &Engine) -> anyhow::Result<Duration> {
    let req = RunRequest {
        session: "command".into(),
        model: "host".into(),
        query: Query::all(),
        params: Params::from_pairs([("cmd", "uname -a")]),
        username: "bench".into(),
    };
    let t0 = Instant::now();
    let summary = engine.start(req).await?.wait().await?;
    let wall = t0.elapsed();
    if let Some(bad) = summary
        .sessions
        .iter()
        .find(|s| s.status != Some(Status::Success))
    {
        bail!("a session did not succeed: {bad:?}");
    }
    engine.store().flush().await?;
    let ids: Vec<i64> = summary.sessions.iter().map(|s| s.session_id).collect();
    let outputs = engine
        .store()
        .blocking(move |c| {
            ids.iter()
                .map(|&id| minke::store::session_commands(c, id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    for commands in outputs {
        let ok = commands.len() == 1 && commands[0].stdout.starts_with(b"Linux ");
        if !ok {
            bail!("unexpected output: {commands:?}");
        }
    }
    Ok(wall)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let options = minke_testkit::ServerOptions {
        extra_config: vec!["MaxStartups 200".into()],
        ..minke_testkit::ServerOptions::default()
    };
    let hosts = o.hosts;
    println!("starting {hosts} sshd servers on 127.0.0.1 ...");
    let fleet =
        tokio::task::spawn_blocking(move || minke_testkit::Fleet::start_with(hosts, &options))
            .await??;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("warm.db").to_string_lossy()).await?;
    let new_hosts = fleet.new_hosts();
    store
        .write(move |c| {
            for h in &new_hosts {
                minke::store::upsert_host(c, h)?;
            }
            Ok(())
        })
        .await?;
    let mut sessions = Registry::default();
    sessions.add::<Command>()?;
    let mut models = Models::default();
    models.add::<HostRecord>()?;
    let config = Config {
        keep_connections: Some(Duration::from_secs(600)),
        ..Config::default()
    };
    let engine = Engine::new(
        store,
        sessions,
        models,
        HostSource::of::<HostRecord>(),
        config,
    );
    let logins = || -> usize { fleet.servers().iter().map(|s| s.login_count()).sum() };
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for rep in 0..o.reps {
        engine.close_kept_connections().await;
        let before = logins();
        cold.push(timed_run(&engine).await?.as_secs_f64());
        let after_cold = logins();
        warm.push(timed_run(&engine).await?.as_secs_f64());
        let after_warm = logins();
        println!(
            "rep {rep}: cold {:.3} s ({} logins), warm {:.3} s ({} logins)",
            cold[rep],
            after_cold - before,
            warm[rep],
            after_warm - after_cold
        );
    }
    let (c, w) = (median(cold), median(warm));
    println!(
        "{hosts} hosts, `uname -a`, median of {}: cold {c:.3} s, warm {w:.3} s, warm/cold {:.2}",
        o.reps,
        w / c
    );
    engine.close_kept_connections().await;
    engine.store().close().await?;
    Ok(())
}
