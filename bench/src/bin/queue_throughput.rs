//! Throughput of the queue: N sessions on N/10 hosts submitted to PostgreSQL and
//! executed by 1, 2 and 4 worker processes whose engines have the mock transport
//! compiled in (so the queue and the history are what is measured, not SSH). Also
//! the time from a submit to its first session's start with idle workers. Checks
//! that every session ran exactly once.
//!
//! ```text
//! scripts/pg-start.sh            # prints the URL; or set MINKE_TEST_PG_URL
//! cargo run --release -p minke-bench --bin queue-throughput [-- --sessions 100000 --workers 1,2,4]
//! ```
//!
//! Each worker count gets a fresh database. On 2 cores, 4 workers show contention,
//! not scaling.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use diesel::prelude::*;
use minke::Store;
use minke::runtime::{Engine, Worker, WorkerConfig};
use minke::store::{Query, with_conn};
use minke_bench::KillOnDrop;
use minke_bench::items::{MIGRATIONS, engine, fill, request};

/// The longest a measured run may take.
const RUN_LIMIT: Duration = Duration::from_secs(1800);
/// Submits measured for the time to the first session's start.
const LATENCY_SAMPLES: usize = 21;

/// A worker process: works until SIGTERM.
async fn worker(url: &str, name: &str) -> anyhow::Result<()> {
    let store = Store::open_with(url, MIGRATIONS).await?;
    let worker = Worker::new(
        engine(store.clone())?,
        WorkerConfig {
            name: name.into(),
            concurrency: 1000,
            ..WorkerConfig::default()
        },
    )?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let report = worker
        .run(async move {
            term.recv().await;
        })
        .await?;
    store.close().await?;
    eprintln!("{name}: {report:?}");
    Ok(())
}

/// Waits for the end of a run; its state.
async fn wait_run(store: &Store, run_id: minke::RunId) -> anyhow::Result<minke::RunState> {
    let start = Instant::now();
    loop {
        let run = store
            .blocking(move |c| minke::store::get_run(c, run_id))
            .await?;
        if run.state.is_done() {
            return Ok(run.state);
        }
        if start.elapsed() > RUN_LIMIT {
            bail!("run {run_id} did not end within {RUN_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks that every session of the run completed and ran its command exactly once.
async fn check_once(store: &Store, run_id: minke::RunId, sessions: usize) -> anyhow::Result<()> {
    let (completed, once): (i64, i64) = store
        .blocking(move |c| {
            with_conn!(c, |c, B| {
                use minke::store::schema::{minke_commands as cmd, minke_sessions as ses};
                let completed = ses::table
                    .filter(ses::run_id.eq(run_id))
                    .filter(ses::state.eq("completed"))
                    .count()
                    .get_result::<i64>(c)
                    .map_err(minke::store::Error::query("counting sessions"))?;
                let per_session: Vec<i64> = cmd::table
                    .inner_join(ses::table)
                    .filter(ses::run_id.eq(run_id))
                    .group_by(cmd::session_id)
                    .select(diesel::dsl::count_star())
                    .load(c)
                    .map_err(minke::store::Error::query("counting commands"))?;
                let once = per_session.iter().filter(|&&n| n == 1).count() as i64;
                if per_session.iter().any(|&n| n != 1) {
                    return Err(minke::store::Error::BadQuery(
                        "a session ran its command more than once".into(),
                    ));
                }
                Ok((completed, once))
            })
        })
        .await?;
    if completed != sessions as i64 || once != sessions as i64 {
        bail!("run {run_id}: {completed} of {sessions} completed, {once} ran once");
    }
    Ok(())
}

/// Median time from a submit to its session's start, with idle workers.
async fn latency(engine: &Engine) -> anyhow::Result<f64> {
    let mut ms = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES {
        let t0 = minke::store::now_micros();
        let id = i64::try_from(i % 100)? + 1;
        let run = engine.submit(request(Query::ids([id]))).await?;
        wait_run(engine.store(), run.run_id).await?;
        let run_id = run.run_id;
        let sessions = engine
            .store()
            .blocking(move |c| minke::store::run_sessions(c, run_id))
            .await?;
        let started = sessions
            .first()
            .and_then(|s| s.started_at)
            .context("the session never started")?;
        ms.push((started - t0) as f64 / 1000.0);
        // Idle again: the workers wait for a notification.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

async fn one(admin: &str, workers: usize, sessions: usize, hosts: usize) -> anyhow::Result<()> {
    let db = minke_testkit::PgDatabase::create(admin, "queuebench")?;
    let store = Store::open_with(db.url(), MIGRATIONS).await?;
    fill(&store, hosts, sessions).await?;
    let engine = engine(store.clone())?;
    let me = std::env::current_exe()?;
    let procs: Vec<KillOnDrop> = (0..workers)
        .map(|i| {
            std::process::Command::new(&me)
                .args(["--worker", db.url(), &format!("w{i}")])
                .spawn()
                .map(KillOnDrop)
        })
        .collect::<Result<_, _>>()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let median_ms = latency(&engine).await?;
    let t0 = Instant::now();
    let run = engine.submit(request(Query::all())).await?;
    let recorded = t0.elapsed().as_secs_f64();
    let state = wait_run(&store, run.run_id).await?;
    let wall = t0.elapsed().as_secs_f64();
    if state != minke::RunState::Done {
        bail!("the run ended {state}");
    }
    check_once(&store, run.run_id, sessions).await?;
    for p in &procs {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status();
    }
    drop(procs);
    store.close().await?;
    println!(
        "{workers}\t{sessions}\t{hosts}\t{recorded:.2}\t{wall:.2}\t{:.0}\t{median_ms:.1}",
        sessions as f64 / wall
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        let url = args.get(i + 1).context("--worker URL NAME")?;
        let name = args.get(i + 2).context("--worker URL NAME")?;
        return rt.block_on(worker(url, name));
    }
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let sessions: usize = arg("--sessions").map_or(Ok(100_000), |s| s.parse())?;
    let hosts = (sessions / 10).max(1);
    let workers: Vec<usize> = match arg("--workers") {
        Some(w) => w.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1, 2, 4],
    };
    let admin = std::env::var("MINKE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres".into());
    println!("mock transport, history and queue on PostgreSQL, 10 sessions per host");
    println!(
        "workers\tsessions\thosts\trecord_s\twall_s\tsessions_per_s\tsubmit_to_start_median_ms"
    );
    for w in workers {
        rt.block_on(one(&admin, w, sessions, hosts))?;
    }
    Ok(())
}
