//! `worker`: executes runs from the queue in the database until stopped.

use std::time::Duration;

use clap::Args;
use minke_runtime::{DEFAULT_GRACE, DEFAULT_LEASE, Engine, Worker, WorkerConfig};

use crate::CliError;
use crate::exit;

/// The flags of `worker`.
#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    /// Hosts worked on at once (each host's sessions run one after another); the
    /// sessions at once are bounded by the app's concurrency as well [default: the
    /// app's concurrency].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: Option<u32>,
    /// The worker's name in the queue, unique among running workers [default:
    /// HOSTNAME:PID].
    #[arg(long)]
    name: Option<String>,
    /// Seconds the worker holds work between heartbeats (renewed every third); when
    /// it dies, another worker takes its work not started after this long.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_LEASE.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    lease: u64,
    /// On SIGTERM or Ctrl-C: seconds running commands have to finish before they
    /// are killed; sessions not started go back to the queue at once.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_GRACE.as_secs())]
    grace: u64,
    /// Seconds a host's SSH connection stays open after its work, for the next run
    /// on that host; 0 closes it at once [default: 60, or what the app configured].
    #[arg(long, value_name = "SECS")]
    pub(crate) keep_connections: Option<u64>,
}

/// Refuses what needs several processes on one database when it is SQLite.
pub(crate) fn needs_postgres(engine: &Engine, what: &str) -> Result<(), CliError> {
    let url = engine.store().url();
    if url.is_sqlite() {
        return Err(CliError::Usage(format!(
            "{what} needs PostgreSQL (workers share the queue in the database); {} is \
             SQLite: use --database postgres://..., or run without the queue",
            url.redacted()
        )));
    }
    Ok(())
}

/// Runs a worker until the first SIGTERM, SIGHUP or Ctrl-C, then drains it.
pub(crate) async fn worker(engine: Engine, args: WorkerArgs) -> Result<u8, CliError> {
    needs_postgres(&engine, "worker")?;
    let mut signals = crate::signals::Signals::new();
    let defaults = WorkerConfig::default();
    let config = WorkerConfig {
        name: args.name.clone().unwrap_or(defaults.name.clone()),
        concurrency: args
            .concurrency
            .map_or(engine.config().concurrency, |n| n as usize),
        lease: Duration::from_secs(args.lease),
        grace: Duration::from_secs(args.grace),
        ..defaults
    };
    let line = format!(
        "worker {} on {}: {} hosts at once, lease {}s, grace {}s",
        config.name,
        engine.store().url().redacted(),
        config.concurrency,
        args.lease,
        args.grace
    );
    let worker = Worker::new(engine.clone(), config).map_err(CliError::from)?;
    crate::output::say(format_args!("{line}"))?;
    let report = worker
        .run(async move {
            signals.next().await;
            eprintln!("stopping: running commands may finish, the rest goes back to the queue");
        })
        .await?;
    engine.close_kept_connections().await;
    crate::output::say(format_args!(
        "worker stopped: {} hosts done, {} handed back, {} lost",
        report.items_done, report.items_handed_back, report.items_lost
    ))?;
    Ok(exit::SUCCESS)
}
