//! The engine: runs a session on a selection of objects, host by host.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use minke_core::{
    DynSession, Error as CoreError, FailReason, HostTarget, Message, MessageLevel, ModelObject,
    Params, Registry, State, Status,
};
use minke_ssh::ConnectOptions;
use minke_store::{MessageRow, NewRun, NewSession, Query, Store, now_micros};
use serde::Serialize;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinSet;

use crate::RunObserver;
use crate::connect::Connector;
use crate::executor::SshExecutor;
use crate::models::{HostSource, ModelEntry, Models};
use crate::stop::{Canceller, Stop, Stops};
use crate::transport::{Link, SshTransport, Transport};
use crate::{Error, Event, Result};

/// How the engine works; every limit has a default.
#[derive(Clone, Debug)]
pub struct Config {
    /// Sessions running at once, over all hosts and all runs of this engine (default 100).
    pub concurrency: usize,
    /// How to connect (timeouts, agent, passphrase).
    pub connect: ConnectOptions,
    /// Time limit of one command (default 10 minutes).
    pub command_timeout: Duration,
    /// Time limit of one session (default 1 hour).
    pub session_timeout: Duration,
    /// Bytes of each output stream kept per command (default 1 MiB).
    pub output_cap: usize,
    /// How long a host lock lives without a heartbeat (default 60 s).
    pub lock_ttl: Duration,
    /// SSH handshakes in flight at once (default 64), so that a burst of thousands of
    /// hosts does not trip `MaxStartups` on bastions or the local network stack.
    pub connect_concurrency: usize,
    /// New connections per second at most (default: no limit).
    pub connect_rate: Option<f64>,
    /// Further tries after a refused or dropped connect (default 2).
    pub connect_retries: u32,
    /// Pause before the first retry, doubled for each further one (default 200 ms).
    pub connect_backoff: Duration,
    /// Handshakes in flight at once through one jump host (default 8).
    pub connect_per_jump: usize,
    /// Handshakes in flight at once to one SSH server (one address and port, behind
    /// the same jump host if any; default 8): sshd's default `MaxStartups 10:30:100`
    /// starts dropping unauthenticated connections at 10, so many host records that
    /// share one server (a gateway, a port-forwarding NAT) must not all knock at once.
    pub connect_per_server: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            concurrency: 100,
            connect: ConnectOptions::default(),
            command_timeout: Duration::from_secs(600),
            session_timeout: Duration::from_secs(3600),
            output_cap: 1 << 20,
            lock_ttl: Duration::from_secs(60),
            connect_concurrency: 64,
            connect_rate: None,
            connect_retries: 2,
            connect_backoff: Duration::from_millis(200),
            connect_per_jump: 8,
            connect_per_server: 8,
        }
    }
}

/// What to run: a session on a selection of a model's objects.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The session's name.
    pub session: String,
    /// The model's name.
    pub model: String,
    /// Which objects.
    pub query: Query,
    /// Parameters as text.
    pub params: Params,
    /// Who starts it.
    pub username: String,
}

/// How one session of a run ended (or where it stands).
#[derive(Clone, Debug, Serialize)]
pub struct SessionSummary {
    /// The session's id in the history.
    pub session_id: i64,
    /// The object's id.
    pub object_id: i64,
    /// The object's label.
    pub object: String,
    /// The host's name.
    pub host: Option<String>,
    /// Final state.
    pub state: State,
    /// Status (for completed sessions; error for failed ones).
    pub status: Option<Status>,
    /// Why it failed or was canceled.
    pub reason: Option<String>,
}

/// How a run ended.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The run's id in the history.
    pub run_id: i64,
    /// One entry per object, in selection order.
    pub sessions: Vec<SessionSummary>,
}

impl RunSummary {
    /// The worst outcome: `None` when every session completed with success.
    pub fn worst(&self) -> Option<Status> {
        self.sessions
            .iter()
            .map(|s| match s.state {
                State::Completed => s.status.unwrap_or(Status::Success),
                _ => Status::Error,
            })
            .max()
    }

    /// Counts per state.
    pub fn count(&self, state: State) -> usize {
        self.sessions.iter().filter(|s| s.state == state).count()
    }
}

/// A started run.
#[derive(Debug)]
pub struct RunHandle {
    /// The run's id in the history.
    pub run_id: i64,
    /// How many sessions it has.
    pub sessions: usize,
    canceller: Canceller,
    join: tokio::task::JoinHandle<RunSummary>,
}

impl RunHandle {
    /// Something that can stop this run from elsewhere.
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Waits for the end of the run; everything is recorded when it returns.
    pub async fn wait(self) -> Result<RunSummary> {
        self.join.await.map_err(|e| {
            Error::Core(CoreError::Setup(format!(
                "the run's driver task failed: {e}"
            )))
        })
    }
}

/// The controls of a run that is going on.
struct Active {
    canceller: Canceller,
    sessions: BTreeMap<i64, Canceller>,
}

struct Inner {
    active: std::sync::Mutex<BTreeMap<i64, Active>>,
    connector: Connector,
    store: Store,
    sessions: Registry,
    models: Models,
    hosts: HostSource,
    config: Config,
    events: crate::events::EventBus,
    /// Sessions running at once over every run of this engine (`Config::concurrency`).
    permits: Arc<Semaphore>,
}

/// Runs sessions. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

/// One object to work on, once the run is recorded.
struct Job {
    session_id: i64,
    object: Box<dyn ModelObject>,
    label: String,
    /// This session's own stop.
    stop: watch::Receiver<Option<Stop>>,
}

/// What `prepare` found about one object.
struct Planned {
    object: Box<dyn ModelObject>,
    host: std::result::Result<HostTarget, String>,
}

impl Engine {
    /// An engine over a store, with the app's sessions, models and host model.
    pub fn new(
        store: Store,
        sessions: Registry,
        models: Models,
        hosts: HostSource,
        config: Config,
    ) -> Self {
        Self::with_transport(
            store,
            sessions,
            models,
            hosts,
            config,
            Arc::new(SshTransport::default()),
        )
    }

    /// An engine that reaches hosts through another transport (a mock, say).
    pub fn with_transport(
        store: Store,
        sessions: Registry,
        models: Models,
        hosts: HostSource,
        config: Config,
        transport: Arc<dyn Transport>,
    ) -> Self {
        Engine {
            inner: Arc::new(Inner {
                active: Default::default(),
                connector: Connector::new(transport, &config),
                permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
                store,
                sessions,
                models,
                hosts,
                config,
                events: Default::default(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The registered sessions.
    pub fn sessions(&self) -> &Registry {
        &self.inner.sessions
    }

    /// The registered models.
    pub fn models(&self) -> &Models {
        &self.inner.models
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Live events of every run; slow receivers miss events (`Lagged`), the history
    /// has everything.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Closes the runs whose process died, as `interrupted` (see
    /// [`minke_store::close_interrupted_runs`]); every run start does it too. Returns
    /// their ids.
    pub async fn close_interrupted_runs(&self) -> minke_store::Result<Vec<i64>> {
        let ids = self
            .inner
            .store
            .write(|c| minke_store::close_interrupted_runs(c, now_micros()))
            .await?;
        log_interrupted(&ids);
        Ok(ids)
    }

    /// The ids of the runs going on in this engine.
    pub fn active_runs(&self) -> Vec<i64> {
        self.inner
            .active
            .lock()
            .map(|a| a.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Stops a run going on in this engine, like [`Canceller::cancel`]: the first call
    /// stops after the current commands, the second at once. `None` when the run is
    /// not going on here.
    pub fn cancel_run(&self, run_id: i64) -> Option<Stop> {
        let c = self
            .inner
            .active
            .lock()
            .ok()?
            .get(&run_id)?
            .canceller
            .clone();
        Some(c.cancel())
    }

    /// Stops one session of a run going on in this engine: a queued session is
    /// canceled; a running one stops after its current command, or at once on the
    /// second call. `None` when the session is not going on here.
    pub fn cancel_session(&self, run_id: i64, session_id: i64) -> Option<Stop> {
        let c = self
            .inner
            .active
            .lock()
            .ok()?
            .get(&run_id)?
            .sessions
            .get(&session_id)?
            .clone();
        Some(c.cancel())
    }

    /// Checks a request, records the run and its sessions, and starts it.
    pub async fn start(&self, req: RunRequest) -> Result<RunHandle> {
        self.start_observed(req, None).await
    }

    /// Like [`start`](Self::start), with an observer that sees every byte of output
    /// as it arrives (unlike event subscribers, it never lags and never misses any).
    pub async fn start_observed(
        &self,
        req: RunRequest,
        observer: Option<Arc<dyn RunObserver>>,
    ) -> Result<RunHandle> {
        let inner = &self.inner;
        let entry = inner
            .sessions
            .get(&req.session)
            .map_err(|e| Error::UnknownSession(e.to_string()))?;
        let meta = entry.meta.clone();
        let model = inner.models.get(&req.model)?.clone();
        if !meta.works_on(&req.model) {
            return Err(Error::WrongModel {
                session: req.session.clone(),
                model: req.model.clone(),
                works_on: meta.work_on.join(", "),
            });
        }
        let session: Arc<dyn DynSession> =
            Arc::from(entry.instantiate(&req.params).map_err(Error::Params)?);
        let secrets: Vec<String> = meta
            .params
            .iter()
            .filter(|p| p.secret)
            .filter_map(|p| req.params.get(p.name).map(str::to_owned))
            .collect();

        let planned = self.plan(&model, &req.query).await?;
        let new_run = NewRun {
            session: meta.name.to_owned(),
            model: req.model.clone(),
            username: req.username.clone(),
            params: serde_json::to_string(&req.params.redacted(&meta)).unwrap_or_default(),
            selection: serde_json::to_string(&req.query).unwrap_or_default(),
            state: "running".into(),
            created_at: now_micros(),
        };
        let ttl = i64::try_from(inner.config.lock_ttl.as_micros()).unwrap_or(i64::MAX);
        let hosts_wanted: Vec<i64> = {
            let mut v: Vec<i64> = planned
                .iter()
                .filter_map(|p| p.host.as_ref().ok())
                .filter(|t| !t.disabled)
                .map(|t| t.id)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let rows: Vec<(String, Option<i64>, Option<String>, String)> = planned
            .iter()
            .map(|p| {
                let (hid, hname) = match &p.host {
                    Ok(t) => (Some(t.id), Some(t.name.clone())),
                    Err(_) => (None, None),
                };
                (
                    p.object.label(),
                    hid,
                    hname,
                    p.object.model_name().to_owned(),
                )
            })
            .collect();
        let object_ids: Vec<i64> = planned.iter().map(|p| p.object.id()).collect();
        let host_errors: Vec<Option<String>> = planned
            .iter()
            .map(|p| match &p.host {
                Err(e) => Some(e.clone()),
                Ok(t) if t.disabled => Some(format!("host `{}` is disabled", t.name)),
                Ok(_) => None,
            })
            .collect();
        let session_name = meta.name.to_owned();
        let (run_id, session_ids, locked) = inner
            .store
            .write(move |c| {
                // Runs whose process died would otherwise stay `running` for ever.
                let interrupted = minke_store::close_interrupted_runs(c, now_micros())?;
                log_interrupted(&interrupted);
                let run_id = minke_store::insert_run(c, &new_run)?;
                let held: BTreeMap<i64, i64> =
                    minke_store::acquire_host_locks(c, run_id, &hosts_wanted, ttl)?
                        .into_iter()
                        .collect();
                let now = now_micros();
                let mut news = Vec::with_capacity(rows.len());
                let mut notes = Vec::new();
                for (i, (label, hid, hname, model)) in rows.into_iter().enumerate() {
                    let why = host_errors[i].clone().or_else(|| {
                        hid.and_then(|h| held.get(&h)).map(|other| {
                            format!(
                                "host `{}` is locked by run {other}",
                                hname.clone().unwrap_or_default()
                            )
                        })
                    });
                    let (state, status, reason) = match (&why, hid) {
                        (Some(_), None) => (
                            "failed",
                            Some("error"),
                            Some(FailReason::Setup.as_str().to_owned()),
                        ),
                        (Some(w), Some(_)) => ("canceled", None, Some(w.clone())),
                        (None, _) => ("initialized", None, None),
                    };
                    if let Some(w) = why {
                        notes.push((i, w));
                    }
                    news.push(NewSession {
                        run_id,
                        session: session_name.clone(),
                        model,
                        object_id: object_ids[i],
                        object_label: label,
                        host_id: hid,
                        host_name: hname,
                        state: state.into(),
                        status: status.map(Into::into),
                        reason,
                        created_at: now,
                    });
                }
                let ids = minke_store::insert_sessions(c, &news)?;
                for (i, text) in &notes {
                    let level = if news[*i].state == "failed" {
                        MessageLevel::Error
                    } else {
                        MessageLevel::Warning
                    };
                    let body = serde_json::to_string(&Message::text(level, text.clone()).body)
                        .unwrap_or_default();
                    minke_store::insert_message(
                        c,
                        &MessageRow {
                            session_id: ids[*i],
                            seq: 1,
                            level: level.to_string(),
                            body,
                            created_at: now,
                        },
                    )?;
                }
                if !notes.is_empty() {
                    for (i, _) in &notes {
                        if news[*i].state == "canceled" || news[*i].state == "failed" {
                            minke_store::finish_session(
                                c,
                                ids[*i],
                                &news[*i].state,
                                news[*i].status.as_deref(),
                                news[*i].reason.as_deref(),
                                now,
                            )?;
                        }
                    }
                }
                Ok((run_id, ids, held))
            })
            .await?;

        inner.events.send(|| Event::RunStarted {
            run_id,
            sessions: session_ids.len(),
        });
        let (canceller, level_rx) = Canceller::new();

        // Group runnable sessions by host; record the others' outcome for the summary.
        let mut summaries: Vec<SessionSummary> = Vec::with_capacity(planned.len());
        let mut groups: BTreeMap<i64, (HostTarget, Vec<Job>)> = BTreeMap::new();
        let mut controls: BTreeMap<i64, Canceller> = BTreeMap::new();
        for (p, sid) in planned.into_iter().zip(session_ids) {
            let label = p.object.label();
            let object_id = p.object.id();
            match p.host {
                Err(e) => summaries.push(SessionSummary {
                    session_id: sid,
                    object_id,
                    object: label,
                    host: None,
                    state: State::Failed,
                    status: Some(Status::Error),
                    reason: Some(format!("{}: {e}", FailReason::Setup)),
                }),
                Ok(t) if t.disabled || locked.contains_key(&t.id) => {
                    summaries.push(SessionSummary {
                        session_id: sid,
                        object_id,
                        object: label,
                        host: Some(t.name.clone()),
                        state: State::Canceled,
                        status: None,
                        reason: Some(if t.disabled {
                            format!("host `{}` is disabled", t.name)
                        } else {
                            format!("host `{}` is locked by run {}", t.name, locked[&t.id])
                        }),
                    })
                }
                Ok(t) => {
                    summaries.push(SessionSummary {
                        session_id: sid,
                        object_id,
                        object: label.clone(),
                        host: Some(t.name.clone()),
                        state: State::Initialized,
                        status: None,
                        reason: None,
                    });
                    let (control, stop) = Canceller::new();
                    controls.insert(sid, control);
                    groups
                        .entry(t.id)
                        .or_insert_with(|| (t, Vec::new()))
                        .1
                        .push(Job {
                            session_id: sid,
                            object: p.object,
                            label,
                            stop,
                        });
                }
            }
        }
        for s in summaries.iter().filter(|s| s.state.is_done()) {
            inner.events.send(|| Event::SessionState {
                run_id,
                session_id: s.session_id,
                host: s.host.clone(),
                object: s.object.clone(),
                state: s.state,
                status: s.status,
                reason: s.reason.clone(),
            });
        }

        let total = summaries.len();
        let run = RunCtx {
            engine: self.clone(),
            run_id,
            model,
            session,
            params: req.params.clone(),
            secrets,
            parallel: meta.parallel_per_host,
            session_timeout: meta.timeout.unwrap_or(inner.config.session_timeout),
            cancel: level_rx,
            observer,
        };
        if let Ok(mut active) = inner.active.lock() {
            active.insert(
                run_id,
                Active {
                    canceller: canceller.clone(),
                    sessions: controls,
                },
            );
        }
        let join = tokio::spawn(run.drive(groups, summaries));
        Ok(RunHandle {
            run_id,
            sessions: total,
            canceller,
            join,
        })
    }

    /// Loads the selection and resolves each object's host.
    async fn plan(&self, model: &ModelEntry, query: &Query) -> Result<Vec<Planned>> {
        let model = model.clone();
        let hosts = self.inner.hosts;
        let query = query.clone();
        let name = model.meta.name.to_owned();
        let planned = self
            .inner
            .store
            .blocking(move |c| {
                let objects = model.load(c, &query)?;
                let mut host_ids = Vec::with_capacity(objects.len());
                for o in &objects {
                    host_ids.push(model.host_id(&**o, c).map_err(|e| e.to_string()));
                }
                let mut wanted: Vec<i64> = host_ids
                    .iter()
                    .filter_map(|h| h.as_ref().ok().copied())
                    .collect();
                wanted.sort_unstable();
                wanted.dedup();
                let targets: BTreeMap<i64, HostTarget> = hosts
                    .targets(c, &wanted)?
                    .into_iter()
                    .map(|t| (t.id, t))
                    .collect();
                Ok(objects
                    .into_iter()
                    .zip(host_ids)
                    .map(|(object, hid)| {
                        let host = hid.and_then(|h| {
                            targets.get(&h).cloned().ok_or_else(|| {
                                format!(
                                    "{} {} points at host {h}, which does not exist",
                                    object.model_name(),
                                    object.id()
                                )
                            })
                        });
                        Planned { object, host }
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        if planned.is_empty() {
            return Err(Error::EmptySelection { model: name });
        }
        Ok(planned)
    }
}

/// Everything the tasks of one run share.
#[derive(Clone)]
struct RunCtx {
    engine: Engine,
    run_id: i64,
    model: ModelEntry,
    session: Arc<dyn DynSession>,
    params: Params,
    secrets: Vec<String>,
    parallel: bool,
    session_timeout: Duration,
    cancel: watch::Receiver<Option<Stop>>,
    observer: Option<Arc<dyn RunObserver>>,
}

/// The end of one session, as the host task reports it.
struct Outcome {
    session_id: i64,
    state: State,
    status: Option<Status>,
    reason: Option<String>,
}

impl RunCtx {
    fn inner(&self) -> &Inner {
        &self.engine.inner
    }

    fn stopped(&self) -> bool {
        self.cancel.borrow().is_some()
    }

    async fn drive(
        self,
        groups: BTreeMap<i64, (HostTarget, Vec<Job>)>,
        mut summaries: Vec<SessionSummary>,
    ) -> RunSummary {
        let store = self.inner().store.clone();
        let run_id = self.run_id;
        let ttl = self.inner().config.lock_ttl;
        let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        let heartbeat = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(ttl / 3);
                every.tick().await;
                loop {
                    every.tick().await;
                    store.write_statement_later("a lock heartbeat", move |c| {
                        minke_store::refresh_host_locks(c, run_id, ttl_us)
                    });
                }
            })
        };
        // One limit for the whole engine: runs going on together share it.
        let permits = self.inner().permits.clone();
        let mut tasks = JoinSet::new();
        let mut host_of_task = BTreeMap::new();
        for (host_id, (target, jobs)) in groups {
            let ids: Vec<i64> = jobs.iter().map(|j| j.session_id).collect();
            let handle = tasks.spawn(self.clone().host_task(target, jobs, permits.clone()));
            host_of_task.insert(handle.id(), (host_id, ids));
        }
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next_with_id().await {
            match done {
                Ok((_, outs)) => outcomes.extend(outs),
                Err(e) => {
                    // A host task itself died: its unfinished sessions fail, never vanish.
                    if let Some((host_id, ids)) = host_of_task.get(&e.id()) {
                        tracing::error!(run_id, host_id, "host task failed: {e}");
                        for id in ids {
                            outcomes.push(Outcome {
                                session_id: *id,
                                state: State::Failed,
                                status: Some(Status::Error),
                                reason: Some(format!(
                                    "{}: the host's worker task died: {e}",
                                    FailReason::SessionError
                                )),
                            });
                        }
                    }
                }
            }
        }
        heartbeat.abort();
        let canceled = self.stopped();
        let done_at = now_micros();
        // Record every outcome the tasks could not (only after a task died).
        let by_id: BTreeMap<i64, &Outcome> = outcomes.iter().map(|o| (o.session_id, o)).collect();
        for s in summaries.iter_mut() {
            if let Some(o) = by_id.get(&s.session_id) {
                s.state = o.state;
                s.status = o.status;
                s.reason = o.reason.clone();
            }
        }
        let finished = store
            .write(move |c| {
                minke_store::release_host_locks(c, run_id)?;
                minke_store::finish_run(
                    c,
                    run_id,
                    if canceled { "canceled" } else { "done" },
                    done_at,
                )
            })
            .await;
        if let Err(e) = finished {
            tracing::error!(run_id, "recording the end of the run failed: {e}");
        }
        if let Ok(mut active) = self.inner().active.lock() {
            active.remove(&run_id);
        }
        self.inner().events.send(|| Event::RunFinished { run_id });
        RunSummary {
            run_id,
            sessions: summaries,
        }
    }

    fn finish(&self, job_id: i64, host: &HostTarget, label: &str, o: &Outcome) {
        let (state, status, reason) = (o.state, o.status, o.reason.clone());
        let at = now_micros();
        let rs = reason.clone();
        self.inner()
            .store
            .write_statement_later("the end of a session", move |c| {
                minke_store::finish_session(
                    c,
                    job_id,
                    state.as_str(),
                    status.map(Status::as_str),
                    rs.as_deref(),
                    at,
                )
            });
        self.inner().events.send(|| Event::SessionState {
            run_id: self.run_id,
            session_id: job_id,
            host: Some(host.name.clone()),
            object: label.to_owned(),
            state,
            status,
            reason,
        });
    }

    fn note(&self, session_id: i64, level: MessageLevel, text: String) {
        let body =
            serde_json::to_string(&Message::text(level, text.clone()).body).unwrap_or_default();
        let row = MessageRow {
            session_id,
            seq: 0,
            level: level.to_string(),
            body,
            created_at: now_micros(),
        };
        self.inner()
            .store
            .write_statement_later("a message", move |c| minke_store::insert_message(c, &row));
        self.inner().events.send(|| Event::Message {
            run_id: self.run_id,
            session_id,
            message: Message::text(level, text),
        });
    }

    async fn host_task(
        self,
        target: HostTarget,
        jobs: Vec<Job>,
        permits: Arc<Semaphore>,
    ) -> Vec<Outcome> {
        let run_id = self.run_id;
        let conn: Arc<tokio::sync::Mutex<Option<Arc<dyn Link>>>> =
            Arc::new(tokio::sync::Mutex::new(None));
        let outcomes = if self.parallel {
            let mut set = JoinSet::new();
            for job in jobs {
                let me = self.clone();
                let (target, conn, permits) = (target.clone(), conn.clone(), permits.clone());
                set.spawn(async move { me.one(&target, job, &conn, &permits).await });
            }
            let mut v = Vec::new();
            while let Some(r) = set.join_next().await {
                match r {
                    Ok(o) => v.push(o),
                    Err(e) => tracing::error!(run_id, "session task failed: {e}"),
                }
            }
            v
        } else {
            let mut v = Vec::new();
            for job in jobs {
                v.push(self.one(&target, job, &conn, &permits).await);
            }
            v
        };
        let host_id = target.id;
        self.inner()
            .store
            .write_statement_later("a host lock release", move |c| {
                minke_store::release_host_lock(c, run_id, host_id)
            });
        if let Some(c) = conn.lock().await.take() {
            c.close().await;
        }
        outcomes
    }

    /// Runs one session: waits for a permit, connects if needed, runs `process`, records.
    async fn one(
        &self,
        target: &HostTarget,
        job: Job,
        conn: &tokio::sync::Mutex<Option<Arc<dyn Link>>>,
        permits: &Semaphore,
    ) -> Outcome {
        let Job {
            session_id,
            object,
            label,
            stop,
        } = job;
        let stops = Stops::new(self.cancel.clone(), stop);
        let canceled = |why: &str| Outcome {
            session_id,
            state: State::Canceled,
            status: None,
            reason: Some(why.to_owned()),
        };
        if stops.current().is_some() {
            let o = canceled("canceled before it started");
            self.finish(session_id, target, &label, &o);
            return o;
        }
        let _permit = match permits.acquire().await {
            Ok(p) => p,
            Err(_) => {
                let o = canceled("the engine shut down");
                self.finish(session_id, target, &label, &o);
                return o;
            }
        };
        if stops.current().is_some() {
            let o = canceled("canceled before it started");
            self.finish(session_id, target, &label, &o);
            return o;
        }
        let mut retries = None;
        let connection = {
            let mut guard = conn.lock().await;
            match &*guard {
                Some(c) => Ok(c.clone()),
                None => {
                    let (result, tries) = self.inner().connector.connect(target).await;
                    retries = tries.describe(result.is_ok());
                    if let Ok(c) = &result {
                        *guard = Some(c.clone());
                    }
                    result
                }
            }
        };
        let at = now_micros();
        self.inner()
            .store
            .write_statement_later("a session start", move |c| {
                minke_store::start_session(c, session_id, at)
            });
        self.inner().events.send(|| Event::SessionState {
            run_id: self.run_id,
            session_id,
            host: Some(target.name.clone()),
            object: label.clone(),
            state: State::Running,
            status: None,
            reason: None,
        });
        if let Some(text) = retries {
            self.note(session_id, MessageLevel::Info, text);
        }
        let connection = match connection {
            Ok(c) => c,
            Err(e) => {
                let reason = e.reason();
                self.inner().events.send(|| Event::HostFailed {
                    run_id: self.run_id,
                    host: target.name.clone(),
                    reason,
                });
                self.note(session_id, MessageLevel::Error, e.to_string());
                let o = Outcome {
                    session_id,
                    state: State::Failed,
                    status: Some(Status::Error),
                    reason: Some(reason.as_str().to_owned()),
                };
                self.finish(session_id, target, &label, &o);
                return o;
            }
        };
        let o = self
            .process(session_id, &target.name, object, connection, conn, stops)
            .await;
        self.finish(session_id, target, &label, &o);
        o
    }

    #[allow(clippy::too_many_arguments)]
    async fn process(
        &self,
        session_id: i64,
        host: &str,
        object: Box<dyn ModelObject>,
        connection: Arc<dyn Link>,
        shared: &tokio::sync::Mutex<Option<Arc<dyn Link>>>,
        mut stops: Stops,
    ) -> Outcome {
        let inner = self.inner();
        let (kill_tx, kill_rx) = watch::channel(false);
        let exec = SshExecutor {
            conn: connection,
            store: inner.store.clone(),
            events: inner.events.clone(),
            run_id: self.run_id,
            session_id,
            command_timeout: inner.config.command_timeout,
            output_cap: inner.config.output_cap,
            stops: stops.clone(),
            kill: kill_rx,
            command_seq: 0,
            message_seq: 0,
            observer: self.observer.clone(),
            host: Arc::from(host),
        };
        let mut cx = minke_core::Context::new(
            object,
            self.params.clone(),
            self.secrets.clone(),
            Box::new(exec),
        );
        let session = self.session.clone();
        let mut task = tokio::spawn(async move {
            let r = session.process_dyn(&mut cx).await;
            (r, cx)
        });
        let deadline = tokio::time::sleep(self.session_timeout);
        tokio::pin!(deadline);
        let mut timed_out = false;
        let mut killed = false;
        let joined = {
            let now = stops.now();
            tokio::pin!(now);
            loop {
                tokio::select! {
                    r = &mut task => break r,
                    () = &mut deadline, if !timed_out => {
                        timed_out = true;
                        let _ = kill_tx.send(true);
                        // Give the killed command a moment to be recorded, then give up on it.
                        let grace = tokio::time::timeout(Duration::from_secs(10), &mut task).await;
                        match grace {
                            Ok(r) => break r,
                            Err(_) => { task.abort(); break (&mut task).await; }
                        }
                    }
                    () = &mut now, if !killed => {
                        killed = true;
                        let _ = kill_tx.send(true);
                    }
                }
            }
        };
        let failed = |reason: FailReason, status| Outcome {
            session_id,
            state: State::Failed,
            status: Some(status),
            reason: Some(reason.as_str().to_owned()),
        };
        let (result, cx) = match joined {
            Ok(v) => v,
            Err(e) if timed_out => {
                self.note(
                    session_id,
                    MessageLevel::Error,
                    format!("session timed out after {:?}: {e}", self.session_timeout),
                );
                return failed(FailReason::SessionTimeout, Status::Error);
            }
            Err(e) => {
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
                return failed(FailReason::SessionError, Status::Error);
            }
        };
        let mut status = cx.status();
        let outcome = match result {
            _ if timed_out => {
                self.note(
                    session_id,
                    MessageLevel::Error,
                    format!("session timed out after {:?}", self.session_timeout),
                );
                failed(FailReason::SessionTimeout, Status::Error)
            }
            Ok(()) => Outcome {
                session_id,
                state: State::Completed,
                status: Some(status),
                reason: None,
            },
            Err(CoreError::Stopped) => {
                self.note(
                    session_id,
                    MessageLevel::Warning,
                    "stopped by request".into(),
                );
                // A stopped session has no status of its own: it did not finish.
                Outcome {
                    session_id,
                    state: State::Stopped,
                    status: None,
                    reason: Some("stopped by request".to_owned()),
                }
            }
            Err(CoreError::Session(text)) => {
                self.note(session_id, MessageLevel::Error, text);
                Outcome {
                    session_id,
                    state: State::Completed,
                    status: Some(Status::Error),
                    reason: None,
                }
            }
            Err(CoreError::Remote { reason, detail }) => {
                self.note(session_id, MessageLevel::Error, detail);
                if matches!(reason, FailReason::Disconnected) {
                    shared.lock().await.take();
                }
                failed(reason, Status::Error)
            }
            Err(e) => {
                self.note(session_id, MessageLevel::Error, e.to_string());
                failed(FailReason::SessionError, Status::Error)
            }
        };
        // Save what the session changed, whatever the outcome of its commands.
        let changed: Vec<&'static str> = cx.changed_fields();
        if !changed.is_empty() {
            let model = self.model.clone();
            let object = cx.into_object();
            let names = changed.join(", ");
            let saved = inner
                .store
                .write(move |c| model.save(&*object, c, &changed))
                .await;
            if let Err(e) = saved {
                status = Status::Error;
                self.note(
                    session_id,
                    MessageLevel::Error,
                    format!("could not save fields {names}: {e}"),
                );
                return Outcome {
                    status: Some(status),
                    ..outcome
                };
            }
        }
        outcome
    }
}

/// Says which runs were closed as `interrupted`, if any.
fn log_interrupted(ids: &[i64]) {
    if !ids.is_empty() {
        tracing::warn!(runs = ?ids, "closed runs whose process ended before them (interrupted)");
    }
}
