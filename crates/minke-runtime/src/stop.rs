//! Stopping runs and sessions, in two steps: first after the current command, then at
//! once.

use minke_core::RunId;
use std::sync::Arc;
use std::time::Duration;

use minke_store::Store;
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::Engine;
use crate::changes::{Changed, changed};

/// How soon a run or a session stops. Ordered: a stop is only ever raised, never
/// lowered.
///
/// ```
/// use minke_runtime::Stop;
/// assert!(Stop::AfterCommand < Stop::Now);
/// assert_eq!(Stop::after(None), Stop::AfterCommand);
/// assert_eq!(Stop::after(Some(Stop::AfterCommand)), Stop::Now);
/// assert_eq!(Stop::Now.level(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Sessions not started yet are canceled; running ones stop after their current
    /// command.
    AfterCommand,
    /// Running commands are killed at once (their remote process groups too).
    Now,
}

impl Stop {
    /// The stop that one more request makes of `current`: the first stops after the
    /// current command, every further one at once.
    pub fn after(current: Option<Stop>) -> Stop {
        match current {
            None => Stop::AfterCommand,
            Some(_) => Stop::Now,
        }
    }

    /// The number the admin's JSON answers carry: 1 after the current command, 2 at
    /// once.
    pub fn level(self) -> u8 {
        match self {
            Stop::AfterCommand => 1,
            Stop::Now => 2,
        }
    }
}

/// Where a stop asked with [`Engine::request_stop`](crate::Engine::request_stop)
/// went.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopRequest {
    /// The run goes on in this process: stopping now, so far.
    Here(Stop),
    /// The run goes on in another process, which was asked through the database
    /// (it looks every half second): the stop asked so far.
    Elsewhere(Stop),
    /// The run had already ended, in this state.
    Ended(minke_core::RunState),
    /// Nothing of the run had started (its work was still queued): it ended now, in
    /// this state.
    Finished(minke_core::RunState),
}

/// Stops a run (or one session of it): the first call lets running sessions finish
/// their current command, the second kills running commands at once.
#[derive(Clone, Debug)]
pub struct Canceller {
    stop: Arc<watch::Sender<Option<Stop>>>,
}

impl Canceller {
    /// A canceller and what its sessions watch.
    pub(crate) fn new() -> (Self, watch::Receiver<Option<Stop>>) {
        let (tx, rx) = watch::channel(None);
        (Canceller { stop: Arc::new(tx) }, rx)
    }

    /// Raises the stop by one step and returns it: [`Stop::AfterCommand`] the first
    /// time, [`Stop::Now`] after that.
    pub fn cancel(&self) -> Stop {
        let mut now = Stop::AfterCommand;
        self.stop.send_modify(|s| {
            now = Stop::after(*s);
            *s = Some(now);
        });
        now
    }

    /// Stops at once ([`Stop::Now`]).
    pub fn kill(&self) {
        self.stop.send_replace(Some(Stop::Now));
    }

    /// Raises the stop to at least `stop`; returns the stop now in force.
    pub(crate) fn raise_to(&self, stop: Stop) -> Stop {
        let mut now = stop;
        self.stop.send_if_modified(|s| {
            now = s.map_or(stop, |old| old.max(stop));
            let changed = *s != Some(now);
            *s = Some(now);
            changed
        });
        now
    }

    /// The stop asked for so far.
    pub(crate) fn current(&self) -> Option<Stop> {
        *self.stop.borrow()
    }
}

impl Stop {
    /// The stop of a level (1 after the current command, 2 or more at once).
    pub(crate) fn from_level(level: i16) -> Option<Stop> {
        match level {
            ..=0 => None,
            1 => Some(Stop::AfterCommand),
            _ => Some(Stop::Now),
        }
    }
}

/// What one session watches: its run's stop and its own.
#[derive(Clone, Debug)]
pub(crate) struct Stops {
    run: watch::Receiver<Option<Stop>>,
    own: watch::Receiver<Option<Stop>>,
}

impl Stops {
    pub(crate) fn new(
        run: watch::Receiver<Option<Stop>>,
        own: watch::Receiver<Option<Stop>>,
    ) -> Self {
        Stops { run, own }
    }

    /// The strongest stop asked for, of the run or of this session.
    pub(crate) fn current(&self) -> Option<Stop> {
        (*self.run.borrow()).max(*self.own.borrow())
    }

    /// Returns once a stop at once is asked for (at once if it already is); never
    /// when nobody is left who could ask.
    pub(crate) async fn now(&mut self) {
        // Whether the stop came (false: the sender is gone); no borrow outlives it.
        async fn came(rx: &mut watch::Receiver<Option<Stop>>) -> bool {
            rx.wait_for(|s| *s == Some(Stop::Now)).await.is_ok()
        }
        let (mut run_open, mut own_open) = (true, true);
        loop {
            tokio::select! {
                came = came(&mut self.run), if run_open => if came { return } else { run_open = false },
                came = came(&mut self.own), if own_open => if came { return } else { own_open = false },
                else => std::future::pending::<()>().await,
            }
        }
    }
}

/// How often a run looks for a stop asked through the database (`cancel` from
/// another process) where nothing tells it (SQLite).
const STOP_POLL: Duration = Duration::from_millis(500);
/// How often it looks all the same where the stop is announced (PostgreSQL): for an
/// announcement a reconnect missed.
const STOP_POLL_TOLD: Duration = Duration::from_secs(5);

/// Applies the stops asked of the run through the database, until aborted: at once
/// when they are announced (PostgreSQL), else when it next looks.
pub(crate) fn watch_stop_requests(
    engine: &Engine,
    run_id: RunId,
    canceller: Option<Canceller>,
) -> JoinHandle<()> {
    watch_stops(
        engine.store().clone(),
        engine.run_changes(),
        run_id,
        canceller,
        STOP_POLL_TOLD,
    )
}

fn watch_stops(
    store: Store,
    mut changes: Option<broadcast::Receiver<Changed>>,
    run_id: RunId,
    canceller: Option<Canceller>,
    told_poll: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(canceller) = canceller else { return };
        let poll = if changes.is_some() {
            told_poll
        } else {
            STOP_POLL
        };
        let mut every = interval(poll);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = changed(&mut changes, run_id) => {
                    if changes.is_none() && poll != STOP_POLL {
                        // No more announcements: looking often again.
                        every = interval(STOP_POLL);
                    }
                }
            }
            if canceller.current() == Some(Stop::Now) {
                return;
            }
            let asked = store
                .blocking(move |c| minke_store::run_stop_requested(c, run_id))
                .await;
            match asked.map(|l| l.and_then(Stop::from_level)) {
                Ok(Some(stop)) => {
                    if canceller.current() < Some(stop) {
                        tracing::info!(%run_id, ?stop, "stop asked through the database");
                        canceller.raise_to(stop);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(%run_id, "looking for a stop request failed: {e}"),
            }
        }
    })
}

/// Ticks every `period`, the first at once; late ticks are not caught up.
fn interval(period: Duration) -> tokio::time::Interval {
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A stop asked through the database (as `cancel` from another process does) is
    /// announced and applied at once: the watcher here would otherwise look only
    /// after an hour.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_announced_stop_is_applied_without_waiting_to_look() {
        use crate::changes::RunChanges;
        let admin = std::env::var("MINKE_TEST_PG_URL").expect(
            "MINKE_TEST_PG_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL",
        );
        let db = minke_testkit::PgDatabase::create(&admin, "stopheard").unwrap();
        let store = Store::open(db.url()).await.unwrap();
        let run_id = store
            .write(|c| {
                minke_store::insert_run(
                    c,
                    &minke_store::NewRun {
                        session: "s".into(),
                        model: "host".into(),
                        username: "u".into(),
                        params: "{}".into(),
                        selection: "all".into(),
                        state: minke_core::RunState::Running,
                        created_at: 0,
                    },
                )
            })
            .await
            .unwrap();
        let changes = RunChanges::default();
        let mut connected = changes.subscribe(store.url()).unwrap();
        // The listener says so when it listens.
        let first = tokio::time::timeout(Duration::from_secs(30), connected.recv()).await;
        assert!(matches!(first, Ok(Ok(Changed::Unknown))), "{first:?}");
        let ask = |level: i16| {
            let store = store.clone();
            async move {
                store
                    .write(move |c| minke_store::request_run_stop(c, run_id, Some(level)))
                    .await
                    .unwrap()
            }
        };
        let wait_for = |stop: Stop, canceller: Canceller| async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while canceller.current() != Some(stop) && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            canceller.current()
        };
        // A stop asked before the watcher starts: its first look finds it.
        ask(1).await;
        let (canceller, _rx) = Canceller::new();
        let watcher = watch_stops(
            store.clone(),
            changes.subscribe(store.url()),
            run_id,
            Some(canceller.clone()),
            Duration::from_secs(3600),
        );
        assert_eq!(
            wait_for(Stop::AfterCommand, canceller.clone()).await,
            Some(Stop::AfterCommand)
        );
        // Asked now: only the announcement can tell it within the hour.
        ask(2).await;
        assert_eq!(
            wait_for(Stop::Now, canceller.clone()).await,
            Some(Stop::Now)
        );
        watcher.abort();
        store.close().await.unwrap();
    }

    #[test]
    fn a_stop_only_rises() {
        assert!(Stop::AfterCommand < Stop::Now);
        assert!(None < Some(Stop::AfterCommand));
        assert_eq!(Stop::after(None), Stop::AfterCommand);
        assert_eq!(Stop::after(Some(Stop::AfterCommand)), Stop::Now);
        assert_eq!(Stop::after(Some(Stop::Now)), Stop::Now);
        assert_eq!((Stop::AfterCommand.level(), Stop::Now.level()), (1, 2));
    }

    #[test]
    fn cancel_goes_up_one_step_a_call() {
        let (c, rx) = Canceller::new();
        assert_eq!(*rx.borrow(), None);
        assert_eq!(c.cancel(), Stop::AfterCommand);
        assert_eq!(*rx.borrow(), Some(Stop::AfterCommand));
        assert_eq!(c.cancel(), Stop::Now);
        assert_eq!(c.cancel(), Stop::Now);
        assert_eq!(*rx.borrow(), Some(Stop::Now));
        let (c, rx) = Canceller::new();
        c.kill();
        assert_eq!(*rx.borrow(), Some(Stop::Now));
    }

    #[tokio::test]
    async fn stops_take_the_strongest_and_wait_for_now() {
        let (run, run_rx) = Canceller::new();
        let (own, own_rx) = Canceller::new();
        let mut stops = Stops::new(run_rx, own_rx);
        assert_eq!(stops.current(), None);
        run.cancel();
        assert_eq!(stops.current(), Some(Stop::AfterCommand));
        let at_once = tokio::select! {
            biased;
            () = stops.now() => true,
            () = std::future::ready(()) => false,
        };
        assert!(!at_once, "a first stop is not a stop at once");
        own.kill();
        assert_eq!(stops.current(), Some(Stop::Now));
        tokio::time::timeout(Duration::from_secs(5), stops.now())
            .await
            .expect("a session's own stop at once is seen");
    }

    #[tokio::test]
    async fn a_stop_at_once_of_the_run_is_seen_after_the_session_lets_go() {
        let (run, run_rx) = Canceller::new();
        let (own, own_rx) = Canceller::new();
        let mut stops = Stops::new(run_rx, own_rx);
        drop(own);
        let waiter = tokio::spawn(async move { stops.now().await });
        run.cancel();
        run.cancel();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the run's stop at once is seen")
            .expect("the waiter ends");
    }
}
