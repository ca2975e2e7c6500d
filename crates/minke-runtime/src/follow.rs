//! Following a run that another process executes (a worker, another command line,
//! another server): its sessions read from the database at an interval and turned
//! into the same live events an in-process run sends.

use std::collections::BTreeMap;
use std::time::Duration;

use minke_core::{RunId, SessionId, State, Status};
use tokio::sync::broadcast;

use std::sync::Arc;

use crate::{Engine, Event, OutputStream, Result, RunObserver};

/// The least interval of [`Engine::follow`].
const MIN_EVERY: Duration = Duration::from_millis(50);

impl Engine {
    /// The live events of a run executed anywhere, read from the database every
    /// `every`: a `SessionState` for each change of a session's state, then
    /// `RunFinished` once the run ended (every session's end sent before it). The
    /// receiver closes after `RunFinished`, or when reading fails (the error is
    /// logged). Fails at once for an unknown run.
    pub async fn follow(
        &self,
        run_id: RunId,
        every: Duration,
    ) -> Result<broadcast::Receiver<Event>> {
        self.follow_observed(run_id, every, None).await
    }

    /// Like [`follow`](Self::follow), with an observer that gets each session's
    /// output as the history keeps it (the first MiB of each stream of each
    /// command) once the session has ended.
    pub async fn follow_observed(
        &self,
        run_id: RunId,
        every: Duration,
        observer: Option<Arc<dyn RunObserver>>,
    ) -> Result<broadcast::Receiver<Event>> {
        let sessions = self
            .store()
            .blocking(move |c| minke_store::run_sessions(c, run_id))
            .await?;
        let (tx, rx) = broadcast::channel((sessions.len() * 2).max(1024));
        let engine = self.clone();
        // On PostgreSQL the run's announcements wake the follower at once; the
        // interval covers what a reconnect missed (and is all there is on SQLite).
        let mut changes = self.run_changes();
        tokio::spawn(async move {
            let mut seen = BTreeMap::new();
            let mut tick = tokio::time::interval(every.max(MIN_EVERY));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = crate::changes::changed(&mut changes, run_id) => {}
                }
                match engine
                    .follow_step(run_id, &mut seen, &tx, observer.as_deref())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = tx.send(Event::RunFinished { run_id });
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%run_id, "following the run failed: {e}");
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
        run_id: RunId,
        seen: &mut BTreeMap<SessionId, (State, Option<Status>)>,
        tx: &broadcast::Sender<Event>,
        observer: Option<&dyn RunObserver>,
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
            if let Some(observer) = observer
                && s.state.is_done()
            {
                self.replay_output(s.id, s.host_name.as_deref().unwrap_or_default(), observer)
                    .await?;
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

impl Engine {
    /// Gives an ended session's recorded output to an observer, command by command.
    async fn replay_output(
        &self,
        session_id: SessionId,
        host: &str,
        observer: &dyn RunObserver,
    ) -> Result<()> {
        let commands = self
            .store()
            .blocking(move |c| minke_store::session_commands(c, session_id))
            .await?;
        for c in commands {
            if !c.stdout.is_empty() {
                observer.output(session_id, host, OutputStream::Stdout, &c.stdout);
            }
            if !c.stderr.is_empty() {
                observer.output(session_id, host, OutputStream::Stderr, &c.stderr);
            }
            observer.command_finished(session_id, host);
        }
        Ok(())
    }
}
