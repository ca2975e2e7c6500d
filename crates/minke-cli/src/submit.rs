//! `run --submit`: the run is queued for workers; with `--follow` this process shows
//! its progress and its result as an in-process run does, and stops it on Ctrl-C.

use minke_core::RunId;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use minke_runtime::{Engine, RunRequest, RunSummary, SessionSummary, Stop};

use crate::CliError;
use crate::exit;
use crate::signals::{Signals, Stop as Signal};

/// How often a followed run is read from the database without being told that it
/// changed (PostgreSQL announces each change).
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// How `run --submit` shows the run.
pub(crate) struct Follow {
    /// Follow the run to its end (else print its id and return).
    pub(crate) follow: bool,
    /// One JSON document on stdout.
    pub(crate) json: bool,
    /// Remote output and names as they are.
    pub(crate) raw: bool,
    /// Hosts worked on at once over all workers (`--concurrency`).
    pub(crate) concurrency: Option<u32>,
    /// `--stream` and `--output-dir`: each session's output as it ends.
    pub(crate) writer: Option<Arc<crate::run_output::OutputWriter>>,
}

/// Queues the run; prints its id, or follows it to its end.
pub(crate) async fn submit(engine: &Engine, req: RunRequest, how: Follow) -> Result<u8, CliError> {
    crate::worker_cmd::needs_postgres(engine, "run --submit")?;
    if !how.follow && how.writer.is_some() {
        return Err(CliError::Usage(
            "--stream and --output-dir show a queued run's output while following it: add --follow"
                .into(),
        ));
    }
    // Before anything is recorded: from here on a signal stops the run in order.
    let signals = how.follow.then(Signals::new);
    let started = crate::audit::AuditedRun::of(&req);
    let submitted = engine.submit_limited(req, how.concurrency).await?;
    let run_id = submitted.run_id;
    started.record(engine, run_id, submitted.sessions).await?;
    let Some(signals) = signals else {
        if how.json {
            crate::output::print_json(&serde_json::json!(submitted))?;
        } else {
            println!("{run_id}");
            eprintln!(
                "run {run_id} queued with {} sessions for the workers: `show {run_id}` for its state, `cancel {run_id}` to stop it",
                submitted.sessions
            );
        }
        return Ok(exit::SUCCESS);
    };
    let observer = how
        .writer
        .clone()
        .map(|w| w as Arc<dyn minke_runtime::RunObserver>);
    let events = engine
        .follow_observed(run_id, FOLLOW_EVERY, observer)
        .await?;
    let stopper = tokio::spawn(stop_on_signals(engine.clone(), run_id, signals));
    let show_progress = !how.json && how.writer.is_none() && std::io::stderr().is_terminal();
    if show_progress {
        crate::progress::progress(events, run_id, submitted.sessions).await;
    } else {
        wait_for_end(events, run_id).await;
    }
    stopper.abort();
    let summary = summary(engine, run_id).await?;
    let code = crate::cli::report(engine, &summary, how.json, how.raw).await?;
    let output_lost = how.writer.as_ref().is_some_and(|w| w.tell_errors());
    Ok(if output_lost { exit::INTERNAL } else { code })
}

/// Waits until the followed run ends.
async fn wait_for_end(
    mut events: tokio::sync::broadcast::Receiver<minke_runtime::Event>,
    run_id: RunId,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(minke_runtime::Event::RunFinished { run_id: r }) if r == run_id => return,
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// The run's sessions as they ended, from the history.
async fn summary(engine: &Engine, run_id: RunId) -> Result<RunSummary, CliError> {
    let sessions = engine
        .store()
        .blocking(move |c| minke_store::run_sessions(c, run_id))
        .await?;
    Ok(RunSummary {
        run_id,
        sessions: sessions
            .into_iter()
            .map(|s| SessionSummary {
                session_id: s.id,
                object_id: s.object_id,
                object: s.object_label,
                host: s.host_name,
                state: s.state,
                status: s.status,
                reason: s.reason,
            })
            .collect(),
    })
}

/// Stops the followed run on signals, through the database, as an in-process run
/// stops: the first Ctrl-C after the current commands, a second one, SIGTERM or
/// SIGHUP at once.
async fn stop_on_signals(engine: Engine, run_id: RunId, mut signals: Signals) {
    let mut asked: Option<Stop> = None;
    loop {
        let stop = match signals.next().await {
            Signal::Interrupt => Stop::after(asked),
            Signal::Terminate => Stop::Now,
        };
        asked = Some(stop);
        match engine.request_stop(run_id, Some(stop)).await {
            Ok(_) if stop == Stop::Now => {
                eprintln!("\nstopping at once (running commands are killed)");
            }
            Ok(_) => {
                eprintln!("\nstopping after the current commands (Ctrl-C again to stop at once)")
            }
            Err(e) => eprintln!("\ncannot ask run {run_id} to stop: {e}"),
        }
    }
}
