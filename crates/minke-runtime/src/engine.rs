//! The engine: runs a session on a selection of objects, host by host. A run goes
//! through named steps: the request is checked, the selection planned
//! ([`plan`](crate::plan)), the run recorded ([`record`](crate::record)), its sessions
//! scheduled by host ([`schedule`](crate::schedule)) and executed over one connection
//! a host ([`execute`](crate::execute)).

use std::collections::BTreeMap;
use std::sync::Arc;

use minke_core::{DynSession, Registry, RunId, SessionId, SessionMeta};
use minke_store::Store;
use tokio::sync::{Semaphore, broadcast};

use crate::connect::Connector;
use crate::events::EventBus;
use crate::execute::RunCtx;
use crate::models::{HostSource, ModelEntry, Models};
use crate::plan::Selection;
use crate::pool::Pool;
use crate::record;
use crate::schedule::Schedule;
use crate::transport::{SshTransport, Transport};
use crate::{
    Canceller, Config, Error, Event, Result, RunHandle, RunObserver, RunRequest, SessionSummary,
    Stop, StopRequest, Submitted,
};

/// The controls of a run that is going on.
struct Active {
    canceller: Canceller,
    sessions: BTreeMap<SessionId, Canceller>,
}

/// What every run of an engine shares.
pub(crate) struct Inner {
    active: std::sync::Mutex<BTreeMap<RunId, Active>>,
    pub(crate) connector: Arc<Connector>,
    /// Connections kept between runs (`Config::keep_connections`).
    pub(crate) pool: Arc<Pool>,
    pub(crate) store: Store,
    sessions: Registry,
    models: Models,
    hosts: HostSource,
    pub(crate) config: Config,
    pub(crate) events: EventBus,
    /// Sessions running at once over every run of this engine (`Config::concurrency`).
    pub(crate) permits: Arc<Semaphore>,
    /// Announces the runs that change to other processes (PostgreSQL).
    notifier: crate::notify::Notifier,
    /// Hears other processes announce the runs that change (PostgreSQL).
    pub(crate) changes: crate::changes::RunChanges,
}

impl Inner {
    /// Forgets a run that ended.
    pub(crate) fn deactivate(&self, run_id: RunId) {
        if let Ok(mut active) = self.active.lock() {
            active.remove(&run_id);
        }
    }
}

/// Runs sessions. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

/// A request that passed its checks.
pub(crate) struct Checked {
    pub(crate) meta: SessionMeta,
    pub(crate) model: ModelEntry,
    pub(crate) session: Arc<dyn DynSession>,
    /// The values of secret parameters, hidden wherever output is shown.
    pub(crate) secrets: Vec<String>,
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
                connector: Arc::new(Connector::new(transport, &config)),
                pool: Arc::new(Pool::new(&config)),
                permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
                store,
                sessions,
                models,
                hosts,
                config,
                events: Default::default(),
                notifier: Default::default(),
                changes: Default::default(),
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

    /// The columns each model lists (and so a changelist sorts by) that start no
    /// index of its table, by model: ordering a big table by one of them sorts every
    /// row. Columns are taken to be named as their fields; the id and secret fields
    /// are left out. `serve` and `migrate` warn about them.
    pub async fn unindexed_list_columns(&self) -> Result<Vec<(String, Vec<String>)>> {
        let wanted: Vec<(String, &'static str, Vec<&'static str>)> = self
            .models()
            .iter()
            .map(|m| {
                let listed = if m.meta.list.is_empty() {
                    vec![m.meta.label]
                } else {
                    m.meta.list.clone()
                };
                let columns = listed
                    .into_iter()
                    .filter(|f| *f != m.meta.id)
                    .filter(|f| m.meta.field(f).is_some_and(|f| f.type_name != "secret"))
                    .collect();
                (m.meta.name.to_owned(), m.meta.table, columns)
            })
            .collect();
        self.unindexed(wanted).await
    }

    /// Of each model's `(table, columns)`, the columns that start no index.
    async fn unindexed(
        &self,
        wanted: Vec<(String, &'static str, Vec<&'static str>)>,
    ) -> Result<Vec<(String, Vec<String>)>> {
        Ok(self
            .inner
            .store
            .blocking(move |c| {
                let mut out = Vec::new();
                for (model, table, columns) in &wanted {
                    let missing = minke_store::unindexed_columns(c, table, columns)?;
                    if !missing.is_empty() {
                        out.push((model.clone(), missing));
                    }
                }
                Ok(out)
            })
            .await?)
    }

    /// The models whose searches read every row on SQLite: they search text fields but
    /// name no trigram index (`#[minke(search_index = ...)]`). Empty on PostgreSQL,
    /// where `pg_trgm` indexes serve searches without the model saying so. `serve` and
    /// `migrate` warn about them.
    pub fn unindexed_searches(&self) -> Vec<String> {
        if !self.store().url().is_sqlite() {
            return Vec::new();
        }
        self.models()
            .iter()
            .filter(|m| !m.meta.search.is_empty() && m.meta.search_index.is_none())
            .map(|m| m.meta.name.to_owned())
            .collect()
    }

    /// The fields pointing at a host or parent (`host = field`, `host(via = field)`)
    /// whose column starts no index, by model: deleting a host or a parent looks for
    /// the objects that point at it by that column, and without an index reads the
    /// whole table. `serve` and `migrate` warn about them.
    pub async fn unindexed_parent_columns(&self) -> Result<Vec<(String, String)>> {
        let wanted = self
            .models()
            .iter()
            .filter_map(|m| {
                let (field, _) = m.meta.parent()?;
                Some((m.meta.name.to_owned(), m.meta.table, vec![field.name]))
            })
            .collect();
        Ok(self
            .unindexed(wanted)
            .await?
            .into_iter()
            .flat_map(|(model, columns)| columns.into_iter().map(move |c| (model.clone(), c)))
            .collect())
    }

    /// Closes the runs whose process died, as `interrupted` (see
    /// [`minke_store::close_interrupted_runs`]); every run start does it too. Returns
    /// their ids. On a database opened read-only it records nothing (reads show such
    /// runs as interrupted all the same).
    pub async fn close_interrupted_runs(&self) -> minke_store::Result<Vec<RunId>> {
        if self.inner.store.is_read_only() {
            return Ok(Vec::new());
        }
        self.inner.store.write(record::close_interrupted).await
    }

    /// How many connections are kept open for the next runs now (see
    /// [`Config::keep_connections`]; always 0 without it).
    pub fn kept_connections(&self) -> usize {
        self.inner.pool.len()
    }

    /// Closes every connection kept for the next runs (the ones in use by runs
    /// going on are given back, or closed, when their host is done).
    pub async fn close_kept_connections(&self) {
        self.inner.pool.clear().await;
    }

    /// The ids of the runs going on in this engine.
    pub fn active_runs(&self) -> Vec<RunId> {
        self.inner
            .active
            .lock()
            .map(|a| a.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The newest runs first, `limit` of them after skipping `offset`.
    pub async fn history(&self, limit: i64, offset: i64) -> Result<Vec<minke_store::RunRecord>> {
        Ok(self
            .inner
            .store
            .blocking(move |c| minke_store::list_runs(c, limit, offset))
            .await?)
    }

    /// A run with every session, message and command.
    pub async fn run_detail(&self, run_id: RunId) -> Result<minke_store::RunDetail> {
        Ok(self
            .inner
            .store
            .blocking(move |c| minke_store::run_detail(c, run_id))
            .await?)
    }

    /// Other processes' announcements of runs that changed (PostgreSQL).
    pub(crate) fn run_changes(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<crate::changes::Changed>> {
        self.inner.changes.subscribe(self.store().url())
    }

    /// The canceller of a run going on in this engine.
    pub(crate) fn run_canceller(&self, run_id: RunId) -> Option<Canceller> {
        Some(
            self.inner
                .active
                .lock()
                .ok()?
                .get(&run_id)?
                .canceller
                .clone(),
        )
    }

    /// Stops a run wherever it goes on: in this engine at once, in another process
    /// (a `run` at the command line, another `serve`) through the database, where
    /// that process looks every half second. `stop` raises the stop to at least
    /// that; `None` raises it by one step, like [`cancel_run`](Self::cancel_run).
    pub async fn request_stop(&self, run_id: RunId, stop: Option<Stop>) -> Result<StopRequest> {
        if let Some(c) = self.run_canceller(run_id) {
            let now = match stop {
                Some(s) => c.raise_to(s),
                None => c.cancel(),
            };
            return Ok(StopRequest::Here(now));
        }
        let level = stop.map(|s| i16::from(s.level()));
        let answer = self
            .inner
            .store
            .write(move |c| minke_store::request_run_stop(c, run_id, level))
            .await?;
        Ok(match answer {
            minke_store::RunStopRequest::Requested(l) => {
                StopRequest::Elsewhere(Stop::from_level(l).unwrap_or(Stop::AfterCommand))
            }
            minke_store::RunStopRequest::Ended(state) => StopRequest::Ended(state),
            minke_store::RunStopRequest::Finished(state) => StopRequest::Finished(state),
            other => {
                return Err(crate::Error::Core(minke_core::Error::Setup(format!(
                    "unexpected answer to a stop request: {other:?}"
                ))));
            }
        })
    }

    /// Stops a run going on in this engine, like [`Canceller::cancel`]: the first call
    /// stops after the current commands, the second at once. `None` when the run is
    /// not going on here.
    pub fn cancel_run(&self, run_id: RunId) -> Option<Stop> {
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
    pub fn cancel_session(&self, run_id: RunId, session_id: SessionId) -> Option<Stop> {
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
        let checked = self.check(&req)?;
        self.announce_changes();
        let recorded = self
            .record(&req, &checked, record::Execution::InProcess)
            .await?;
        let run_id = recorded.run_id;
        let schedule = Schedule::new(recorded.sessions);
        self.announce(run_id, &schedule.summaries);
        let (canceller, cancel) = Canceller::new();
        self.activate(run_id, &canceller, schedule.controls);
        let run = RunCtx::new(self.clone(), run_id, checked, req.params, cancel, observer);
        let sessions = schedule.summaries.len();
        let join = tokio::spawn(run.drive(schedule.hosts, schedule.summaries));
        Ok(RunHandle::new(run_id, sessions, canceller, join))
    }

    /// Records a run and queues it for workers (see [`Worker`](crate::Worker)):
    /// nothing runs in this process. Secret parameters are sealed with
    /// [`Config::secret_key`] for the workers (refused without one). Returns the
    /// run's id; a run none of whose sessions can run (disabled or locked hosts) has
    /// ended already.
    pub async fn submit(&self, req: RunRequest) -> Result<Submitted> {
        self.submit_limited(req, None).await
    }

    /// Like [`submit`](Self::submit), with a concurrency of the run's own: at most
    /// `hosts` of its hosts worked on at once over all workers (`None`: only the
    /// workers' own limits).
    pub async fn submit_limited(&self, req: RunRequest, hosts: Option<u32>) -> Result<Submitted> {
        let checked = self.check(&req)?;
        let sealer = crate::secrets::Sealer::new(&self.inner.config, &checked.meta, &req.params)?;
        let execution = record::Execution::Queue {
            sealer,
            concurrency: hosts,
        };
        let recorded = self.record(&req, &checked, execution).await?;
        Ok(Submitted {
            run_id: recorded.run_id,
            sessions: recorded.sessions.len(),
        })
    }

    /// Loads the selection and records the run.
    async fn record(
        &self,
        req: &RunRequest,
        checked: &Checked,
        execution: record::Execution,
    ) -> Result<record::Recorded> {
        let inner = &self.inner;
        let selection = Selection::load(&inner.store, inner.hosts, &checked.model, &req.query);
        let selection = selection.await?;
        let ttl = inner.config.lock_ttl;
        record::record(&inner.store, req, &checked.meta, selection, ttl, execution).await
    }

    /// From now on, tells other processes when runs of this engine change
    /// (PostgreSQL `NOTIFY`), so that their live views follow them.
    pub(crate) fn announce_changes(&self) {
        self.inner
            .notifier
            .start(&self.inner.store, &self.inner.events);
    }

    /// The source of the hosts' connection settings.
    pub(crate) fn host_source(&self) -> HostSource {
        self.inner.hosts
    }

    /// The name of the app's host model (`host` for Minke's own hosts): what
    /// `#[minke(host = field)]` points at.
    pub fn host_model(&self) -> &'static str {
        self.inner.hosts.model
    }

    /// The engine's limit of sessions at once.
    pub(crate) fn permits(&self) -> Arc<Semaphore> {
        self.inner.permits.clone()
    }

    /// The engine's live events.
    pub(crate) fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// Checks that the session and the model exist, that the session works on the
    /// model and that the parameters fit.
    pub(crate) fn check(&self, req: &RunRequest) -> Result<Checked> {
        let entry = self
            .inner
            .sessions
            .get(&req.session)
            .map_err(|e| Error::UnknownSession(e.to_string()))?;
        let meta = entry.meta.clone();
        let model = self.inner.models.get(&req.model)?.clone();
        if !meta.works_on(&req.model) {
            return Err(Error::WrongModel {
                session: req.session.clone(),
                model: req.model.clone(),
                works_on: meta.work_on.join(", "),
            });
        }
        let session = Arc::from(entry.instantiate(&req.params).map_err(Error::Params)?);
        let secrets = meta
            .params
            .iter()
            .filter(|p| p.secret)
            .filter_map(|p| req.params.get(p.name).map(str::to_owned))
            .collect();
        Ok(Checked {
            meta,
            model,
            session,
            secrets,
        })
    }

    /// Says that a run starts, and how the sessions that never run ended.
    fn announce(&self, run_id: RunId, summaries: &[SessionSummary]) {
        let events = &self.inner.events;
        events.send(|| Event::RunStarted {
            run_id,
            sessions: summaries.len(),
        });
        for s in summaries.iter().filter(|s| s.state.is_done()) {
            events.send(|| Event::SessionState {
                run_id,
                session_id: s.session_id,
                host: s.host.clone(),
                object: s.object.clone(),
                state: s.state,
                status: s.status,
                reason: s.reason.clone(),
            });
        }
    }

    /// Makes a run's controls reachable by [`cancel_run`](Self::cancel_run) and
    /// [`cancel_session`](Self::cancel_session) until it ends.
    fn activate(
        &self,
        run_id: RunId,
        canceller: &Canceller,
        sessions: BTreeMap<SessionId, Canceller>,
    ) {
        if let Ok(mut active) = self.inner.active.lock() {
            let canceller = canceller.clone();
            active.insert(
                run_id,
                Active {
                    canceller,
                    sessions,
                },
            );
        }
    }
}
