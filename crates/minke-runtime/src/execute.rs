//! Executing one host's sessions over one connection: one after another (or side by
//! side for `parallel_per_host` sessions), each under the engine's limit of sessions
//! at once, its session timeout and its stops, a panic kept to its own session.

use std::sync::Arc;
use std::time::Duration;

use minke_core::{
    Context, DynSession, Error as CoreError, FailReason, HostTarget, MessageLevel, ModelObject,
    Params, RunId, SessionId, Status,
};
use minke_store::{HistoryRow, now_micros};
use tokio::sync::{Mutex, Semaphore, SemaphorePermit, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use crate::Event;
use crate::RunObserver;
use crate::engine::{Engine, Inner};
use crate::executor::SshExecutor;
use crate::hold::Holding;
use crate::models::ModelEntry;
use crate::outcome::{NOT_STARTED, Outcome, STOPPED};
use crate::pool::{HostLink, Pool};
use crate::record;
use crate::stop::{Stop, Stops};
use crate::transport::Link;

/// How long a session killed at its timeout has to record its command.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// Everything the tasks of one run share.
#[derive(Clone)]
pub(crate) struct RunCtx {
    pub(crate) engine: Engine,
    pub(crate) run_id: RunId,
    pub(crate) model: ModelEntry,
    pub(crate) session: Arc<dyn DynSession>,
    pub(crate) params: Params,
    pub(crate) secrets: Vec<String>,
    pub(crate) parallel: bool,
    pub(crate) session_timeout: Duration,
    /// The run's stop.
    pub(crate) cancel: watch::Receiver<Option<Stop>>,
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
}

impl RunCtx {
    /// The context of a run whose request passed its checks.
    pub(crate) fn new(
        engine: Engine,
        run_id: RunId,
        checked: crate::engine::Checked,
        params: Params,
        cancel: watch::Receiver<Option<Stop>>,
        observer: Option<Arc<dyn RunObserver>>,
    ) -> Self {
        let session_timeout = checked
            .meta
            .timeout
            .unwrap_or(engine.config().session_timeout);
        RunCtx {
            run_id,
            parallel: checked.meta.parallel_per_host,
            session_timeout,
            model: checked.model,
            session: checked.session,
            params,
            secrets: checked.secrets,
            cancel,
            observer,
            engine,
        }
    }
}

/// One object to work on, once the run is recorded.
pub(crate) struct Job {
    pub(crate) session_id: SessionId,
    pub(crate) object: Box<dyn ModelObject>,
    pub(crate) label: String,
    /// This session's own stop.
    pub(crate) stop: watch::Receiver<Option<Stop>>,
}

/// What the sessions of one host share: the host, its connection (taken from the
/// kept ones or opened by the first session that needs it, reused by the next), the
/// engine's limit.
struct HostSlot {
    target: HostTarget,
    link: Mutex<Option<Arc<HostLink>>>,
    permits: Arc<Semaphore>,
    holding: Holding,
}

type Connected = Result<Arc<dyn Link>, minke_ssh::Error>;

impl HostSlot {
    /// The host's connection: the one in use, a kept one, or a new one (with a note
    /// on the retries the opening took).
    async fn link(&self, inner: &Inner) -> (Connected, Option<String>) {
        let mut link = self.link.lock().await;
        if let Some(c) = &*link {
            return (Ok(c.clone()), None);
        }
        let connector = inner.connector.clone();
        if let Some(kept) = inner.pool.take(&self.target).await {
            let c = Arc::new(HostLink::kept(self.target.clone(), connector, kept));
            *link = Some(c.clone());
            return (Ok(c), None);
        }
        let (result, tries) = connector.connect(&self.target).await;
        let retries = tries.describe(result.is_ok());
        let result = result.map(|c| {
            let c = Arc::new(HostLink::opened(self.target.clone(), connector, c));
            *link = Some(c.clone());
            c as Arc<dyn Link>
        });
        (result, retries)
    }

    /// Drops a broken connection: the next session opens a new one.
    async fn forget(&self) {
        self.link.lock().await.take();
    }

    /// Gives the connection back to the pool, which keeps or closes it.
    async fn release(&self, pool: &Arc<Pool>) {
        if let Some(c) = self.link.lock().await.take() {
            pool.give_back(self.target.clone(), c.link()).await;
        }
    }
}

/// What a session's task gives back: `process`'s result and its context.
type Ran = (minke_core::Result<()>, Context);

impl RunCtx {
    pub(crate) fn inner(&self) -> &Inner {
        &self.engine.inner
    }

    fn store(&self) -> &minke_store::Store {
        &self.engine.inner.store
    }

    /// Runs one host's sessions, releases its lock (when the run holds it itself)
    /// and gives its connection back (kept for the next run, or closed). Returns the
    /// outcomes of the sessions it ended; a session of a queue item that it did not
    /// start (the worker drains, or lost the item) has none.
    pub(crate) async fn host_task(
        self,
        target: HostTarget,
        jobs: Vec<Job>,
        permits: Arc<Semaphore>,
        holding: Holding,
    ) -> Vec<(SessionId, Outcome)> {
        let host = Arc::new(HostSlot {
            target,
            link: Mutex::new(None),
            permits,
            holding,
        });
        let outcomes = if self.parallel {
            self.side_by_side(&host, jobs).await
        } else {
            let mut v = Vec::with_capacity(jobs.len());
            for job in jobs {
                v.extend(self.one(&host, job).await);
            }
            v
        };
        if matches!(host.holding, Holding::Run) {
            let (run_id, host_id) = (self.run_id, host.target.id);
            self.inner()
                .store
                .write_statement_later("a host lock release", move |c| {
                    minke_store::release_host_lock(c, run_id, host_id)
                });
        }
        host.release(&self.inner().pool).await;
        outcomes
    }

    /// Runs one host's sessions at the same time, over its one connection.
    async fn side_by_side(
        &self,
        host: &Arc<HostSlot>,
        jobs: Vec<Job>,
    ) -> Vec<(SessionId, Outcome)> {
        let mut set = JoinSet::new();
        for job in jobs {
            let (me, host) = (self.clone(), host.clone());
            set.spawn(async move { me.one(&host, job).await });
        }
        let mut v = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(o) => v.extend(o),
                Err(e) => tracing::error!(run_id = %self.run_id, "session task failed: {e}"),
            }
        }
        v
    }

    /// Runs one session and records its end. `None` when a session of a queue item
    /// is left alone: the worker drains (the session goes back to the queue) or lost
    /// the item, or another took it.
    async fn one(&self, host: &HostSlot, job: Job) -> Option<(SessionId, Outcome)> {
        let Job {
            session_id,
            object,
            label,
            stop,
        } = job;
        let stops = Stops::new(self.cancel.clone(), stop);
        if host.holding.draining() {
            return None;
        }
        // The permit is held until the end is recorded.
        let admitted = self.admit(host, &stops).await;
        let mut connected = None;
        if let Holding::Item(item) = &host.holding {
            let mine = match &admitted {
                // The start is recorded while the connection opens: the handshake
                // does not wait for the database.
                Ok(_) => {
                    let start = async {
                        !item.draining() && item.start_session(self.store(), session_id).await
                    };
                    let (mine, link) = tokio::join!(start, host.link(self.inner()));
                    connected = Some(link);
                    mine
                }
                Err(_) => !item.is_lost(),
            };
            if !mine {
                return None;
            }
        }
        let outcome = match &admitted {
            Ok(_permit) => {
                self.work(session_id, host, object, &label, stops, connected)
                    .await
            }
            Err(why) => Outcome::canceled(*why),
        };
        if let Holding::Item(item) = &host.holding
            && item.is_lost()
        {
            // The lease ran out: the reaper's verdict (`interrupted`) is the end
            // recorded; what the session's commands recorded stays.
            return None;
        }
        self.finish(session_id, &host.target, &label, &outcome);
        drop(admitted);
        Some((session_id, outcome))
    }

    /// Waits for a permit to run; `Err` says why the session never starts.
    async fn admit<'h>(
        &self,
        host: &'h HostSlot,
        stops: &Stops,
    ) -> Result<SemaphorePermit<'h>, &'static str> {
        if stops.current().is_some() {
            return Err(NOT_STARTED);
        }
        let permit = host
            .permits
            .acquire()
            .await
            .map_err(|_| "the engine shut down")?;
        if stops.current().is_some() {
            return Err(NOT_STARTED);
        }
        Ok(permit)
    }

    /// Connects if needed (unless `connected` already did) and runs the session.
    async fn work(
        &self,
        session_id: SessionId,
        host: &HostSlot,
        object: Box<dyn ModelObject>,
        label: &str,
        stops: Stops,
        connected: Option<(Connected, Option<String>)>,
    ) -> Outcome {
        let (connection, retries) = match connected {
            Some(c) => c,
            None => host.link(self.inner()).await,
        };
        self.started(session_id, host, label);
        if let Some(text) = retries {
            self.note(session_id, MessageLevel::Info, text);
        }
        match connection {
            Ok(c) => self.process(session_id, host, object, c, stops).await,
            Err(e) => self.unreachable(session_id, &host.target, &e),
        }
    }

    /// Records (unless its queue item's start did) and announces that a session
    /// started.
    fn started(&self, session_id: SessionId, host: &HostSlot, label: &str) {
        let target = &host.target;
        if matches!(host.holding, Holding::Run) {
            let at = now_micros();
            self.inner()
                .store
                .record_later("a session start", move || HistoryRow::SessionStart {
                    id: session_id,
                    at,
                });
        }
        self.inner().events.send(|| Event::SessionState {
            run_id: self.run_id,
            session_id,
            host: Some(target.name.clone()),
            object: label.to_owned(),
            state: minke_core::State::Running,
            status: None,
            reason: None,
        });
    }

    /// The end of a session whose host could not be reached.
    fn unreachable(
        &self,
        session_id: SessionId,
        target: &HostTarget,
        e: &minke_ssh::Error,
    ) -> Outcome {
        let reason = e.reason();
        self.inner().events.send(|| Event::HostFailed {
            run_id: self.run_id,
            host: target.name.clone(),
            reason,
        });
        self.note(session_id, MessageLevel::Error, e.to_string());
        Outcome::failed(reason)
    }

    /// Runs the session's `process` on its own task, watches its time and stops,
    /// judges how it ended and saves what it changed.
    async fn process(
        &self,
        session_id: SessionId,
        host: &HostSlot,
        object: Box<dyn ModelObject>,
        connection: Arc<dyn Link>,
        stops: Stops,
    ) -> Outcome {
        let (kill, kill_rx) = watch::channel(false);
        let exec = SshExecutor {
            conn: connection,
            store: self.inner().store.clone(),
            events: self.inner().events.clone(),
            run_id: self.run_id,
            session_id,
            command_timeout: self.inner().config.command_timeout,
            output_cap: self.inner().config.output_cap,
            stops: stops.clone(),
            kill: kill_rx,
            command_seq: 0,
            message_seq: 0,
            observer: self.observer.clone(),
            host: Arc::from(host.target.name.as_str()),
        };
        let mut cx = Context::new(
            object,
            self.params.clone(),
            self.secrets.clone(),
            Box::new(exec),
        )
        .with_sudo(
            host.target.become_user.clone(),
            self.inner().config.sudo_password.clone(),
        );
        let session = self.session.clone();
        let task = tokio::spawn(async move {
            let r = session.process_dyn(&mut cx).await;
            (r, cx)
        });
        let (joined, timed_out) = self.supervise(task, &kill, stops).await;
        let (result, cx) = match joined {
            Ok(ran) => ran,
            Err(e) => return self.lost(session_id, e, timed_out),
        };
        let status = cx.status();
        let outcome = self
            .judge(session_id, result, status, timed_out, host)
            .await;
        self.save_changes(session_id, cx, outcome).await
    }

    /// Waits for the session's task: kills its running command on a stop at once,
    /// and at the session timeout (then gives it a grace period to record the
    /// command before giving up on it). Says whether it timed out.
    async fn supervise(
        &self,
        mut task: JoinHandle<Ran>,
        kill: &watch::Sender<bool>,
        mut stops: Stops,
    ) -> (Result<Ran, JoinError>, bool) {
        let deadline = tokio::time::sleep(self.session_timeout);
        tokio::pin!(deadline);
        let now = stops.now();
        tokio::pin!(now);
        let mut killed = false;
        loop {
            tokio::select! {
                r = &mut task => return (r, false),
                () = &mut deadline => {
                    let _ = kill.send(true);
                    let r = match tokio::time::timeout(KILL_GRACE, &mut task).await {
                        Ok(r) => r,
                        Err(_) => {
                            task.abort();
                            (&mut task).await
                        }
                    };
                    return (r, true);
                }
                () = &mut now, if !killed => {
                    killed = true;
                    let _ = kill.send(true);
                }
            }
        }
    }

    /// The end of a session whose task did not come back: timed out, panicked or
    /// aborted.
    fn lost(&self, session_id: SessionId, e: JoinError, timed_out: bool) -> Outcome {
        if timed_out {
            let text = format!("session timed out after {:?}: {e}", self.session_timeout);
            self.note(session_id, MessageLevel::Error, text);
            return Outcome::failed(FailReason::SessionTimeout);
        }
        let what = if e.is_panic() {
            let p = e.into_panic();
            let text = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic".into());
            format!("the session panicked: {text}")
        } else {
            format!("the session's task was stopped: {e}")
        };
        self.note(session_id, MessageLevel::Error, what);
        Outcome::failed(FailReason::SessionError)
    }

    /// The end of a session whose `process` returned, with the status it set.
    async fn judge(
        &self,
        session_id: SessionId,
        result: minke_core::Result<()>,
        status: Status,
        timed_out: bool,
        host: &HostSlot,
    ) -> Outcome {
        match result {
            _ if timed_out => {
                let text = format!("session timed out after {:?}", self.session_timeout);
                self.note(session_id, MessageLevel::Error, text);
                Outcome::failed(FailReason::SessionTimeout)
            }
            Ok(()) => Outcome::completed(status),
            Err(CoreError::Stopped) => {
                self.note(session_id, MessageLevel::Warning, STOPPED.into());
                Outcome::stopped()
            }
            Err(CoreError::Session(text)) => {
                self.note(session_id, MessageLevel::Error, text);
                Outcome::completed(Status::Error)
            }
            Err(CoreError::Remote { reason, detail }) => {
                self.note(session_id, MessageLevel::Error, detail);
                if matches!(reason, FailReason::Disconnected) {
                    host.forget().await;
                }
                Outcome::failed(reason)
            }
            Err(e) => {
                self.note(session_id, MessageLevel::Error, e.to_string());
                Outcome::failed(FailReason::SessionError)
            }
        }
    }

    /// Saves the fields the session changed, whatever the outcome of its commands;
    /// a failed save makes the status `error`.
    async fn save_changes(&self, session_id: SessionId, cx: Context, outcome: Outcome) -> Outcome {
        let changed: Vec<&'static str> = cx.changed_fields();
        if changed.is_empty() {
            return outcome;
        }
        let model = self.model.clone();
        let object = cx.into_object();
        let names = changed.join(", ");
        let saved = self
            .inner()
            .store
            .write(move |c| model.save(&*object, c, &changed))
            .await;
        match saved {
            Ok(()) => outcome,
            Err(e) => {
                let text = format!("could not save fields {names}: {e}");
                self.note(session_id, MessageLevel::Error, text);
                Outcome {
                    status: Some(Status::Error),
                    ..outcome
                }
            }
        }
    }

    /// Records and announces the end of a session.
    fn finish(&self, session_id: SessionId, host: &HostTarget, label: &str, o: &Outcome) {
        let at = now_micros();
        let end = record::session_end(session_id, o, at);
        self.inner()
            .store
            .record_later("the end of a session", move || HistoryRow::SessionEnd(end));
        self.inner().events.send(|| Event::SessionState {
            run_id: self.run_id,
            session_id,
            host: Some(host.name.clone()),
            object: label.to_owned(),
            state: o.state,
            status: o.status,
            reason: o.reason.clone(),
        });
    }

    /// Adds a message of the engine's own to a session.
    pub(crate) fn note(&self, session_id: SessionId, level: MessageLevel, text: String) {
        let row = record::message_row(session_id, 0, level, text.clone(), now_micros());
        self.inner()
            .store
            .record_later("a message", move || HistoryRow::Message(row));
        self.inner().events.send(|| Event::Message {
            run_id: self.run_id,
            session_id,
            message: minke_core::Message::text(level, text),
        });
    }
}
