//! Live progress of a run on a terminal: a line for each finished session above a
//! bar with the counts so far.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use minke_core::{RunId, State, Status};
use minke_runtime::Event;
use tokio::sync::broadcast;

use crate::color::Paint;
use crate::term::escape_controls;

/// Sessions by how they ended, so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    running: usize,
    success: usize,
    warning: usize,
    error: usize,
}

impl Counts {
    /// Counts a session's new state.
    fn saw(&mut self, state: State, status: Option<Status>) {
        match state {
            State::Running => self.running += 1,
            State::Initialized => {}
            _ => {
                // A session canceled before it started was never counted as running.
                if self.running > 0 && state != State::Canceled {
                    self.running -= 1;
                }
                match (state, status) {
                    (State::Completed, Some(Status::Success)) => self.success += 1,
                    (State::Completed, Some(Status::Warning)) => self.warning += 1,
                    _ => self.error += 1,
                }
            }
        }
    }

    /// `success 3 · warning 1 · error 0`.
    fn outcomes(&self, paint: Paint) -> String {
        format!(
            "{} · {} · {}",
            paint.status(&format!("success {}", self.success), Some(Status::Success)),
            paint.status(&format!("warning {}", self.warning), Some(Status::Warning)),
            paint.status(&format!("error {}", self.error), Some(Status::Error)),
        )
    }

    /// The bar's message: short, so that the bar fits one line of 80 columns.
    fn text(&self, paint: Paint) -> String {
        format!("running {} · {}", self.running, self.outcomes(paint))
    }
}

/// The line of a finished session: a mark, host, object, state, status and reason,
/// names and reasons escaped (they come from hosts and the database).
fn finished_line(
    paint: Paint,
    host: &str,
    object: &str,
    state: State,
    status: Option<Status>,
    reason: Option<&str>,
) -> String {
    let mark = match (state, status) {
        (State::Completed, Some(Status::Success)) => "ok  ",
        (State::Completed, Some(Status::Warning)) => "WARN",
        _ => "FAIL",
    };
    format!(
        "{} {:<20} {:<24} {state}{}{}",
        paint.outcome(mark, state, status),
        escape_controls(host),
        escape_controls(object),
        status.map(|s| format!(" {s}")).unwrap_or_default(),
        reason
            .map(|r| format!(" ({})", escape_controls(r)))
            .unwrap_or_default()
    )
}

/// The bar on standard error, redrawn five times a second at most.
fn bar(total: usize, paint: Paint) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(total).unwrap_or(u64::MAX)),
        ProgressDrawTarget::stderr_with_hz(5),
    );
    let template = if paint.is_on() {
        "{elapsed:>4} {bar:16.cyan/blue} {pos}/{len} · {msg}"
    } else {
        "{elapsed:>4} {bar:16} {pos}/{len} · {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Shows the run's progress until it finishes (or the events end).
pub(crate) async fn progress(mut events: broadcast::Receiver<Event>, run_id: RunId, total: usize) {
    let paint = Paint::stderr();
    let bar = bar(total, paint);
    let mut counts = Counts::default();
    bar.set_message(counts.text(paint));
    loop {
        match events.recv().await {
            Ok(Event::SessionState {
                run_id: r,
                host,
                object,
                state,
                status,
                reason,
                ..
            }) if r == run_id => {
                counts.saw(state, status);
                if state.is_done() {
                    bar.inc(1);
                    bar.println(finished_line(
                        paint,
                        host.as_deref().unwrap_or_default(),
                        &object,
                        state,
                        status,
                        reason.as_deref(),
                    ));
                }
                bar.set_message(counts.text(paint));
            }
            Ok(Event::RunFinished { run_id: r }) if r == run_id => break,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    // The bar goes; a line with the end result stays.
    bar.finish_and_clear();
    eprintln!(
        "done {}/{total} in {:.1}s · {}",
        bar.position(),
        bar.elapsed().as_secs_f64(),
        counts.outcomes(paint)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_states() {
        let mut c = Counts::default();
        c.saw(State::Running, None);
        c.saw(State::Running, None);
        c.saw(State::Completed, Some(Status::Success));
        c.saw(State::Failed, None);
        c.saw(State::Canceled, None);
        assert_eq!(
            c,
            Counts {
                running: 0,
                success: 1,
                warning: 0,
                error: 2
            }
        );
        let off = Paint::stderr();
        let line = finished_line(
            off,
            "web\u{1b}[2J",
            "app",
            State::Failed,
            None,
            Some("connect"),
        );
        assert!(
            line.contains("web\\x1b[2J") && line.ends_with("failed (connect)"),
            "{line}"
        );
    }
}
