//! Following a run that another process executes (a worker, another command line,
//! another server): its sessions read from the database at an interval and turned
//! into the same live events an in-process run sends.

use std::collections::BTreeMap;
use std::time::Duration;

use minke_core::{State, Status};
use tokio::sync::broadcast;

use crate::{Engine, Event, Result};

/// The least interval of [`Engine::follow`].
const MIN_EVERY: Duration = Duration::from_millis(50);

impl Engine {
    /// The live events of a run executed anywhere, read from the database every
    /// `every`: a `SessionState` for each change of a session's state, then
    /// `RunFinished` once the run ended (every session's end sent before it). The
    /// receiver closes after `RunFinished`, or when reading fails (the error is
    /// logged). Fails at once for an unknown run.
    pub async fn follow(&self, run_id: i64, every: Duration) -> Result<broadcast::Receiver<Event>> {
        let sessions = self
            .store()
            .blocking(move |c| minke_store::run_sessions(c, run_id))
            .await?;
        let (tx, rx) = broadcast::channel((sessions.len() * 2).max(1024));
        let engine = self.clone();
        tokio::spawn(async move {
            let mut seen = BTreeMap::new();
            let mut tick = tokio::time::interval(every.max(MIN_EVERY));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match engine.follow_step(run_id, &mut seen, &tx).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = tx.send(Event::RunFinished { run_id });
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(run_id, "following the run failed: {e}");
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    /// Sends the changes since the last look; false once the run has ended.
    async fn follow_step(
        &self,
        run_id: i64,
        seen: &mut BTreeMap<i64, (State, Option<Status>)>,
        tx: &broadcast::Sender<Event>,
    ) -> Result<bool> {
        // The run's state first: when it had ended, the sessions read after it are
        // final.
        let (run, sessions) = self
            .store()
            .blocking(move |c| {
                let run = minke_store::get_run(c, run_id)?;
                Ok((run, minke_store::run_sessions(c, run_id)?))
            })
            .await?;
        for s in sessions {
            let now = (s.state, s.status);
            if seen.get(&s.id) == Some(&now) {
                continue;
            }
            seen.insert(s.id, now);
            if s.state == State::Initialized {
                continue;
            }
            let _ = tx.send(Event::SessionState {
                run_id,
                session_id: s.id,
                host: s.host_name,
                object: s.object_label,
                state: s.state,
                status: s.status,
                reason: s.reason,
            });
        }
        Ok(!run.state.is_done())
    }
}
