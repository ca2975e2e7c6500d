//! Live monitoring: a hub that follows the engine's events and keeps, per run going
//! on, each session's state, messages and a bounded tail of its running command's
//! output; and the SSE streams built on it.
//!
//! A stream first attaches to the hub (taking the hub's view of the run and a
//! receiver of later events at one moment, under the hub's lock), then loads the run
//! from the database and sends one `snapshot`, then the live events. So a page
//! opened mid-run, or a reconnecting one, misses nothing and sees no output twice.
//! States only move forward (initialized → running → done), so a state seen both in
//! the database and as an event is harmless.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use minke_core::{Message, MessageBody, MessageLevel, RunId, SessionId, State, Status};
use minke_runtime::{Engine, Event, OutputStream};
use minke_store::{CommandRow, MessageRow, RunRecord, SessionRecord};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, broadcast, mpsc};

use crate::auth::Auth;
use crate::state::AppState;
use crate::{Error, Result};

/// Bytes of running output kept per session.
const TAIL_BYTES: usize = 16 * 1024;
/// Messages kept per session in memory.
const MESSAGES_KEPT: usize = 50;
/// Finished runs are forgotten this long after their end.
const KEEP_FINISHED: Duration = Duration::from_secs(600);
/// At most this many runs are followed at once.
const MAX_RUNS: usize = 200;

/// What the hub passes on to streams.
#[derive(Clone, Debug)]
pub(crate) enum HubMsg {
    /// An engine event.
    Event(Arc<Event>),
    /// The hub missed events: streams send a fresh snapshot.
    Resync,
    /// Another process announced that this run changed (PostgreSQL): streams of a
    /// run going on elsewhere send a fresh snapshot.
    Changed(RunId),
}

/// How often a stream of a run going on in another process looks at the database
/// without being told: on SQLite (no notifications) this is how it follows; on
/// PostgreSQL announcements wake it and this only covers what a reconnect missed.
fn recheck_every(url: &minke_store::DatabaseUrl) -> Duration {
    if url.is_sqlite() {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(30)
    }
}

/// The last bytes of a session's running command.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tail {
    parts: VecDeque<(OutputStream, Vec<u8>)>,
    len: usize,
}

impl Tail {
    fn push(&mut self, stream: OutputStream, data: &[u8]) {
        let data = if data.len() > TAIL_BYTES {
            &data[data.len() - TAIL_BYTES..]
        } else {
            data
        };
        match self.parts.back_mut() {
            Some((s, buf)) if *s == stream => buf.extend_from_slice(data),
            _ => self.parts.push_back((stream, data.to_vec())),
        }
        self.len += data.len();
        while self.len > TAIL_BYTES {
            let Some((_, front)) = self.parts.front_mut() else {
                break;
            };
            let over = self.len - TAIL_BYTES;
            if front.len() <= over {
                self.len -= front.len();
                self.parts.pop_front();
            } else {
                front.drain(..over);
                self.len -= over;
            }
        }
    }

    fn to_json(&self) -> Vec<serde_json::Value> {
        self.parts
            .iter()
            .map(|(s, b)| json!({"stream": s, "text": String::from_utf8_lossy(b)}))
            .collect()
    }
}

/// The hub's view of one session.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionLive {
    state: Option<State>,
    status: Option<Status>,
    reason: Option<String>,
    messages: VecDeque<(MessageLevel, String)>,
    dropped: usize,
    command: Option<String>,
    tail: Tail,
}

/// The hub's view of one run.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunLive {
    /// The hub saw the run start and missed none of its events.
    complete: bool,
    finished: Option<Instant>,
    sessions: HashMap<SessionId, SessionLive>,
}

#[derive(Default)]
struct HubState {
    runs: HashMap<RunId, RunLive>,
}

/// Follows the engine's events for the live views.
pub(crate) struct Hub {
    state: Mutex<HubState>,
    tx: broadcast::Sender<HubMsg>,
    engine_rx: Mutex<Option<broadcast::Receiver<Event>>>,
    url: minke_store::DatabaseUrl,
    /// Announcements of runs that change in other processes (PostgreSQL).
    listening: Mutex<Option<minke_store::Listening>>,
}

fn rank(s: State) -> u8 {
    match s {
        State::Initialized => 0,
        State::Running => 1,
        _ => 2,
    }
}

fn message_text(m: &Message) -> String {
    m.to_plain_text()
}

impl Hub {
    /// A hub subscribed to the engine now (events queue up until [`start`](Self::start)).
    pub(crate) fn new(engine: &Engine) -> Self {
        Hub {
            state: Mutex::new(HubState::default()),
            tx: broadcast::channel(16_384).0,
            engine_rx: Mutex::new(Some(engine.subscribe())),
            url: engine.store().url().clone(),
            listening: Mutex::new(None),
        }
    }

    /// Passes on the announcements of runs that change in other processes, as
    /// [`HubMsg::Changed`] (a reconnect, which may have missed some, as
    /// [`HubMsg::Resync`]).
    fn listen(self: &Arc<Self>) {
        let tx = self.tx.clone();
        let listening =
            minke_store::Listener::spawn(&self.url, &[minke_store::RUN_CHANNEL], move |n| {
                let msg = match n {
                    None => Some(HubMsg::Resync),
                    Some(n) => n.payload.parse().ok().map(HubMsg::Changed),
                };
                if let Some(msg) = msg {
                    let _ = tx.send(msg);
                }
            });
        *self
            .listening
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = listening;
    }

    /// Starts following the engine (once; later calls do nothing). Needs a Tokio
    /// runtime.
    pub(crate) fn start(self: &Arc<Self>) {
        let rx = self
            .engine_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut rx) = rx else { return };
        self.listen();
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let got = rx.recv().await;
                let Some(hub) = hub.upgrade() else { return };
                match got {
                    Ok(ev) => hub.apply(ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "the admin's live view fell behind the engine");
                        hub.lagged();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lagged(&self) {
        let mut st = self.lock();
        for r in st.runs.values_mut() {
            r.complete = false;
        }
        let _ = self.tx.send(HubMsg::Resync);
    }

    fn apply(&self, ev: Event) {
        let mut st = self.lock();
        let run_id = ev.run_id();
        match &ev {
            Event::RunStarted { .. } => {
                st.runs.insert(
                    run_id,
                    RunLive {
                        complete: true,
                        ..RunLive::default()
                    },
                );
            }
            Event::RunFinished { .. } => {
                if let Some(r) = st.runs.get_mut(&run_id) {
                    r.finished = Some(Instant::now());
                }
                Self::evict(&mut st);
            }
            _ => {}
        }
        let run = st.runs.entry(run_id).or_default();
        match &ev {
            Event::SessionState {
                session_id,
                state,
                status,
                reason,
                ..
            } => {
                let s = run.sessions.entry(*session_id).or_default();
                if s.state.is_none_or(|old| rank(*state) >= rank(old)) {
                    s.state = Some(*state);
                    s.status = *status;
                    s.reason.clone_from(reason);
                }
                if state.is_done() {
                    s.tail = Tail::default();
                    s.command = None;
                }
            }
            Event::CommandStarted {
                session_id,
                command,
                ..
            } => {
                let s = run.sessions.entry(*session_id).or_default();
                s.command = Some(command.clone());
                s.tail = Tail::default();
            }
            Event::Output {
                session_id,
                stream,
                data,
                ..
            } => {
                run.sessions
                    .entry(*session_id)
                    .or_default()
                    .tail
                    .push(*stream, data);
            }
            Event::Message {
                session_id,
                message,
                ..
            } => {
                let s = run.sessions.entry(*session_id).or_default();
                s.messages.push_back((message.level, message_text(message)));
                if s.messages.len() > MESSAGES_KEPT {
                    s.messages.pop_front();
                    s.dropped += 1;
                }
            }
            _ => {}
        }
        let _ = self.tx.send(HubMsg::Event(Arc::new(ev)));
    }

    fn evict(st: &mut HubState) {
        let now = Instant::now();
        st.runs.retain(|_, r| {
            r.finished
                .is_none_or(|t| now.duration_since(t) < KEEP_FINISHED)
        });
        while st.runs.len() > MAX_RUNS {
            let oldest = st
                .runs
                .iter()
                .filter_map(|(id, r)| r.finished.map(|t| (t, *id)))
                .min();
            match oldest {
                Some((_, id)) => {
                    st.runs.remove(&id);
                }
                None => break,
            }
        }
    }

    /// The hub's view of a run and a receiver of everything after it, taken at one
    /// moment.
    pub(crate) fn attach(&self, run_id: RunId) -> (Option<RunLive>, broadcast::Receiver<HubMsg>) {
        let st = self.lock();
        (st.runs.get(&run_id).cloned(), self.tx.subscribe())
    }
}

/// One session as the live views show it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SessionView {
    pub(crate) id: SessionId,
    pub(crate) object_id: i64,
    pub(crate) object: String,
    pub(crate) host: Option<String>,
    pub(crate) state: State,
    pub(crate) status: Option<Status>,
    pub(crate) reason: Option<String>,
    pub(crate) messages: Vec<serde_json::Value>,
    pub(crate) earlier_messages: usize,
    pub(crate) command: Option<String>,
    pub(crate) output: Vec<serde_json::Value>,
    pub(crate) url: String,
}

/// A run with all its sessions, merged from the database and the hub.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Snapshot {
    pub(crate) run: RunRecord,
    /// The run is going on in this process (stop buttons work).
    pub(crate) active: bool,
    pub(crate) sessions: Vec<SessionView>,
}

/// A stored message as level and text.
pub(crate) fn stored_message(m: &MessageRow) -> (String, String) {
    let text = serde_json::from_str::<MessageBody>(&m.body)
        .map(|body| {
            Message {
                level: m.level.parse().unwrap_or(MessageLevel::Info),
                body,
            }
            .to_plain_text()
        })
        .unwrap_or_else(|_| m.body.clone());
    (m.level.clone(), text)
}

fn msg_json(level: &str, text: &str) -> serde_json::Value {
    json!({"level": level, "text": text})
}

/// Builds the snapshot of a run from the database and the hub's view.
pub(crate) async fn snapshot(
    st: &AppState,
    run_id: RunId,
    live: Option<RunLive>,
) -> Result<Snapshot> {
    let followed = live.is_some();
    let (run, sessions, messages, running) = st
        .store()
        .blocking(move |c| {
            let run = minke_store::get_run(c, run_id)?;
            let sessions = minke_store::run_sessions(c, run_id)?;
            let messages = minke_store::run_messages(c, run_id)?;
            // A run this process does not follow: its running commands as the
            // process that runs them writes them now and then.
            let running = if followed || run.state.is_done() {
                Vec::new()
            } else {
                minke_store::running_commands(c, run_id)?
            };
            Ok((run, sessions, messages, running))
        })
        .await?;
    let mut running: HashMap<SessionId, CommandRow> =
        running.into_iter().map(|r| (r.session_id, r)).collect();
    let mut stored: BTreeMap<SessionId, Vec<(String, String)>> = BTreeMap::new();
    for m in &messages {
        stored
            .entry(m.session_id)
            .or_default()
            .push(stored_message(m));
    }
    let active = st.engine().active_runs().contains(&run_id);
    let complete = live.as_ref().is_some_and(|l| l.complete);
    let views = sessions
        .into_iter()
        .map(|s| {
            let command = running.remove(&s.id);
            session_view(st, s, live.as_ref(), complete, &mut stored, command)
        })
        .collect();
    Ok(Snapshot {
        run,
        active,
        sessions: views,
    })
}

fn session_view(
    st: &AppState,
    s: SessionRecord,
    live: Option<&RunLive>,
    complete: bool,
    stored: &mut BTreeMap<SessionId, Vec<(String, String)>>,
    running: Option<CommandRow>,
) -> SessionView {
    let hub = live.and_then(|l| l.sessions.get(&s.id));
    let db_state: State = s.state;
    let (mut state, mut status, mut reason) = (db_state, s.status, s.reason.clone());
    if let Some(h) = hub
        && let Some(hs) = h.state
        && rank(hs) >= rank(db_state)
    {
        state = hs;
        if h.status.is_some() || !hs.is_done() {
            status = h.status;
        }
        if h.reason.is_some() {
            reason.clone_from(&h.reason);
        }
    }
    // Messages of a session that ran come from the hub when it followed the whole
    // run (no duplicates with what the stream sends next); sessions canceled before
    // they started have only the messages written with the run.
    let never_started = s.started_at.is_none() && db_state.is_done();
    let (messages, earlier) = match hub {
        Some(h) if complete && !never_started => (
            h.messages
                .iter()
                .map(|(l, t)| msg_json(l.as_str(), t))
                .collect(),
            h.dropped,
        ),
        _ if complete && !never_started => (Vec::new(), 0),
        _ => {
            let all = stored.remove(&s.id).unwrap_or_default();
            let skip = all.len().saturating_sub(MESSAGES_KEPT);
            (
                all[skip..].iter().map(|(l, t)| msg_json(l, t)).collect(),
                skip,
            )
        }
    };
    SessionView {
        id: s.id,
        object_id: s.object_id,
        object: s.object_label,
        host: s.host_name,
        state,
        status,
        reason,
        messages,
        earlier_messages: earlier,
        command: hub
            .and_then(|h| h.command.clone())
            .or_else(|| running.as_ref().map(|r| r.command.clone())),
        output: match (hub, &running) {
            (Some(h), _) => h.tail.to_json(),
            (None, Some(r)) => recorded_tail(r),
            (None, None) => Vec::new(),
        },
        url: st.url(&format!("/sessions/{}", s.id)),
    }
}

/// The output of a running command as recorded so far, as the live views show a
/// tail: standard output, then standard error (their order between each other is
/// not recorded).
fn recorded_tail(r: &CommandRow) -> Vec<serde_json::Value> {
    let mut tail = Tail::default();
    tail.push(OutputStream::Stdout, &r.stdout);
    tail.push(OutputStream::Stderr, &r.stderr);
    tail.to_json()
}

/// An engine event as the live views get it (`None` for events they don't show).
fn event_json(ev: &Event) -> Option<(&'static str, serde_json::Value)> {
    Some(match ev {
        Event::SessionState {
            session_id,
            state,
            status,
            reason,
            ..
        } => (
            "state",
            json!({"session_id": session_id, "state": state, "status": status, "reason": reason}),
        ),
        Event::CommandStarted {
            session_id,
            command,
            ..
        } => (
            "command",
            json!({"session_id": session_id, "command": command}),
        ),
        Event::Output {
            session_id,
            stream,
            data,
            ..
        } => (
            "output",
            json!({"session_id": session_id, "stream": stream, "text": String::from_utf8_lossy(data)}),
        ),
        Event::CommandFinished {
            session_id,
            exit_code,
            exit_signal,
            ..
        } => (
            "command_finished",
            json!({"session_id": session_id, "exit_code": exit_code, "exit_signal": exit_signal}),
        ),
        Event::Message {
            session_id,
            message,
            ..
        } => (
            "message",
            json!({"session_id": session_id, "level": message.level, "text": message_text(message)}),
        ),
        Event::RunFinished { run_id } => ("run_finished", json!({"run_id": run_id})),
        _ => return None,
    })
}

/// Raw output bytes in one `output` event at most: adjacent chunks are merged up
/// to this, bigger ones are split (never inside a UTF-8 character).
const OUTPUT_EVENT_BYTES: usize = 16 * 1024;

/// What a queued event costs beyond its data (name, framing).
const EVENT_OVERHEAD: usize = 64;

/// A subscriber's queue: events wait here until the client reads them, up to a
/// budget of bytes. A client that reads nothing holds at most the budget (and
/// what the connection itself buffers).
struct Outbox {
    tx: mpsc::UnboundedSender<(SseEvent, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
    budget: u32,
}

/// What became of an event put into an [`Outbox`].
#[derive(Debug, PartialEq, Eq)]
enum Push {
    Queued,
    /// The budget is used up: the client is behind.
    Full,
    /// The client is gone.
    Gone,
}

impl Outbox {
    fn new(budget: usize) -> (Self, Stream) {
        let budget = u32::try_from(budget.max(EVENT_OVERHEAD * 4)).unwrap_or(u32::MAX);
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(budget as usize));
        (Outbox { tx, room, budget }, Stream(rx))
    }

    fn cost(&self, name: &str, data: &str) -> u32 {
        let n = data.len() + name.len() + EVENT_OVERHEAD;
        u32::try_from(n).unwrap_or(u32::MAX).min(self.budget)
    }

    fn queue(&self, name: &str, data: String, permit: OwnedSemaphorePermit) -> Push {
        let ev = SseEvent::default().event(name).data(data);
        match self.tx.send((ev, permit)) {
            Ok(()) => Push::Queued,
            Err(_) => Push::Gone,
        }
    }

    /// Queues an event if the budget allows.
    fn try_push(&self, name: &str, data: String) -> Push {
        match Arc::clone(&self.room).try_acquire_many_owned(self.cost(name, &data)) {
            Ok(permit) => self.queue(name, data, permit),
            Err(TryAcquireError::NoPermits) => Push::Full,
            Err(TryAcquireError::Closed) => Push::Gone,
        }
    }

    /// Queues an event once the budget allows (an event bigger than the budget,
    /// like a big run's snapshot, once the queue is empty). False: the client is gone.
    async fn push(&self, name: &str, data: String) -> bool {
        let cost = self.cost(name, &data);
        tokio::select! {
            permit = Arc::clone(&self.room).acquire_many_owned(cost) => match permit {
                Ok(p) => self.queue(name, data, p) == Push::Queued,
                Err(_) => false,
            },
            () = self.tx.closed() => false,
        }
    }

    /// Resolves once the client has taken everything queued.
    async fn drained(&self) {
        let _ = self.room.acquire_many(self.budget).await;
    }

    /// Resolves when the client is gone.
    async fn closed(&self) {
        self.tx.closed().await;
    }
}

fn sse_data(data: &serde_json::Value) -> String {
    data.to_string()
}

/// The SSE answer: what a stream task queued, kept alive with comments. An event's
/// share of the budget returns when the connection takes it.
struct Stream(mpsc::UnboundedReceiver<(SseEvent, OwnedSemaphorePermit)>);

impl futures_core::Stream for Stream {
    type Item = std::result::Result<SseEvent, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(|(ev, _permit)| Ok(ev)))
    }
}

/// Checks that the user may watch a run (view permission on its model).
pub(crate) async fn check_run_access(
    st: &AppState,
    auth: &Auth,
    run_id: RunId,
) -> Result<RunRecord> {
    let run = st
        .store()
        .blocking(move |c| minke_store::get_run(c, run_id))
        .await?;
    auth.need_view(&run.model)?;
    Ok(run)
}

/// The event stream of a run: `snapshot`, then `state`, `command`, `output`,
/// `command_finished`, `message` and finally `run_finished`. A client that falls
/// behind by more than the subscriber budget gets `lagged` (with the bytes of
/// output it skipped) and a fresh `snapshot`, then the live events again.
pub(crate) async fn events(
    st: AppState,
    auth: Auth,
    run_id: RunId,
) -> Result<Sse<impl futures_core::Stream<Item = std::result::Result<SseEvent, Infallible>>>> {
    check_run_access(&st, &auth, run_id).await?;
    st.hub().start();
    let (out, stream) = Outbox::new(st.config().live_buffer_bytes);
    tokio::spawn(async move {
        if let Err(e) = follow(&st, run_id, &out).await {
            tracing::warn!(%run_id, error = %e, "a live stream ended early");
            let _ = out
                .push("failure", sse_data(&json!({"message": e.public_message()})))
                .await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Sends a run's snapshot and its live events until the run ends, the client goes
/// away or the server shuts down.
async fn follow(st: &AppState, run_id: RunId, out: &Outbox) -> Result<()> {
    let mut closing = st.closing();
    'snapshot: loop {
        let (live, mut rx) = st.hub().attach(run_id);
        let snap = snapshot(st, run_id, live).await?;
        let done = !snap.active && snap.run.state.is_done();
        let foreign = !snap.active && !snap.run.state.is_done();
        // Serialized straight to text and dropped before the stream goes on: a
        // snapshot of a big run kept for a stream's whole life costs much memory.
        let data = serde_json::to_string(&snap).map_err(|e| Error::Internal(e.to_string()))?;
        drop(snap);
        if !out.push("snapshot", data).await {
            return Ok(());
        }
        if done {
            let _ = out
                .push("run_finished", sse_data(&json!({"run_id": run_id})))
                .await;
            return Ok(());
        }
        // A run going on in another process sends no events here: look again now
        // and then until it ends.
        let recheck = tokio::time::sleep(if foreign {
            recheck_every(&st.hub().url)
        } else {
            Duration::from_secs(3600 * 24 * 365)
        });
        tokio::pin!(recheck);
        loop {
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(HubMsg::Event(first)) => {
                        let (batch, resync) = take_batch(first, &mut rx);
                        match send_batch(out, run_id, &batch) {
                            Flow::Go if resync => continue 'snapshot,
                            Flow::Go => {}
                            Flow::Behind(skipped) => {
                                if catch_up(out, &mut rx, run_id, skipped, &mut closing).await {
                                    continue 'snapshot;
                                }
                                return Ok(());
                            }
                            Flow::Stop => return Ok(()),
                        }
                    }
                    Ok(HubMsg::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        continue 'snapshot;
                    }
                    Ok(HubMsg::Changed(r)) if foreign && r == run_id => continue 'snapshot,
                    Ok(HubMsg::Changed(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                () = &mut recheck => continue 'snapshot,
                _ = closing.changed() => return Ok(()),
                () = out.closed() => return Ok(()),
            }
        }
    }
}

/// Takes what else is queued after `first`, to merge output chunks; true when the
/// stream must resync after it.
fn take_batch(first: Arc<Event>, rx: &mut broadcast::Receiver<HubMsg>) -> (Vec<Arc<Event>>, bool) {
    let mut batch = vec![first];
    while batch.len() < BATCH {
        match rx.try_recv() {
            Ok(HubMsg::Event(e)) => batch.push(e),
            Ok(HubMsg::Changed(_)) => {}
            Ok(HubMsg::Resync) | Err(broadcast::error::TryRecvError::Lagged(_)) => {
                return (batch, true);
            }
            Err(_) => break,
        }
    }
    (batch, false)
}

/// Waits, for a client that fell behind, until it has read what is queued, counting
/// the output it skips meanwhile; then sends `lagged`. True: go on with a fresh
/// snapshot; false: the client or the server is gone.
async fn catch_up(
    out: &Outbox,
    rx: &mut broadcast::Receiver<HubMsg>,
    run_id: RunId,
    mut skipped: u64,
    closing: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    let mut missed_events = false;
    loop {
        tokio::select! {
            () = out.drained() => break,
            got = rx.recv() => match got {
                Ok(HubMsg::Event(ev)) => skipped += output_bytes(&ev, run_id),
                Ok(HubMsg::Changed(_)) => {}
                Ok(HubMsg::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    missed_events = true;
                }
                Err(broadcast::error::RecvError::Closed) => return false,
            },
            _ = closing.changed() => return false,
            () = out.closed() => return false,
        }
    }
    tracing::debug!(%run_id, skipped, "a live view fell behind");
    let note = json!({"run_id": run_id, "skipped_bytes": skipped, "exact": !missed_events});
    out.push("lagged", sse_data(&note)).await
}

/// The output bytes of an event of the run (0 for other events).
fn output_bytes(ev: &Event, run_id: RunId) -> u64 {
    match ev {
        Event::Output { data, .. } if ev.run_id() == run_id => {
            u64::try_from(data.len()).unwrap_or(u64::MAX)
        }
        _ => 0,
    }
}

/// Events taken from the hub at once at most.
const BATCH: usize = 512;

/// Whether a stream goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
    /// The client's queue is full; this many bytes of output were not sent.
    Behind(u64),
}

/// Output waiting to be sent: per session and stream, merged chunks.
type Pending = Vec<(SessionId, OutputStream, Vec<u8>)>;

/// Where to cut `data` to keep at most `max` bytes without splitting a UTF-8
/// character (0 when not even one character fits).
fn char_cut(data: &[u8], max: usize) -> usize {
    if data.len() <= max {
        return data.len();
    }
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&i| data.get(i).is_some_and(|b| b & 0xC0 != 0x80))
        .unwrap_or(max)
}

/// Adds output to the pending events: merged into the session's last one while it
/// has room, split into new ones beyond [`OUTPUT_EVENT_BYTES`].
fn add_output(pending: &mut Pending, session: SessionId, stream: OutputStream, mut data: &[u8]) {
    while !data.is_empty() {
        let last = pending.iter_mut().rev().find(|(s, _, _)| *s == session);
        if let Some((_, st, buf)) = last
            && *st == stream
        {
            let cut = char_cut(data, OUTPUT_EVENT_BYTES.saturating_sub(buf.len()));
            if cut > 0 {
                buf.extend_from_slice(&data[..cut]);
                data = &data[cut..];
                continue;
            }
        }
        let cut = char_cut(data, OUTPUT_EVENT_BYTES);
        pending.push((session, stream, data[..cut].to_vec()));
        data = &data[cut..];
    }
}

fn pending_bytes<'a>(
    items: impl IntoIterator<Item = &'a (SessionId, OutputStream, Vec<u8>)>,
) -> u64 {
    items
        .into_iter()
        .map(|(_, _, d)| u64::try_from(d.len()).unwrap_or(u64::MAX))
        .sum()
}

/// Queues the pending output of `session` (all of it for `None`).
fn flush(out: &Outbox, pending: &mut Pending, session: Option<SessionId>) -> Flow {
    let (now, keep): (Vec<_>, Vec<_>) = std::mem::take(pending)
        .into_iter()
        .partition(|(s, _, _)| session.is_none_or(|x| x == *s));
    *pending = keep;
    for (i, (sid, stream, data)) in now.iter().enumerate() {
        let ev =
            json!({"session_id": sid, "stream": stream, "text": String::from_utf8_lossy(data)});
        match out.try_push("output", sse_data(&ev)) {
            Push::Queued => {}
            Push::Full => return Flow::Behind(pending_bytes(&now[i..])),
            Push::Gone => return Flow::Stop,
        }
    }
    Flow::Go
}

/// Queues a batch of events of one run, in order per session, with each session's
/// adjacent output chunks of one stream merged into events of a bounded size.
fn send_batch(out: &Outbox, run_id: RunId, batch: &[Arc<Event>]) -> Flow {
    let mut pending = Pending::new();
    let mine: Vec<&Arc<Event>> = batch.iter().filter(|e| e.run_id() == run_id).collect();
    let behind = |pending: &Pending, skipped: u64, rest: &[&Arc<Event>]| {
        let later: u64 = rest.iter().map(|e| output_bytes(e, run_id)).sum();
        Flow::Behind(skipped + pending_bytes(pending) + later)
    };
    for (i, ev) in mine.iter().enumerate() {
        if let Event::Output {
            session_id,
            stream,
            data,
            ..
        } = &***ev
        {
            add_output(&mut pending, *session_id, *stream, data);
            continue;
        }
        let Some((name, data)) = event_json(ev) else {
            continue;
        };
        let session = match &***ev {
            Event::RunFinished { .. } => None,
            other => session_of(other),
        };
        match flush(out, &mut pending, session) {
            Flow::Go => {}
            Flow::Behind(n) => return behind(&pending, n, &mine[i + 1..]),
            stop => return stop,
        }
        match out.try_push(name, sse_data(&data)) {
            Push::Queued => {}
            Push::Full => return behind(&pending, 0, &mine[i + 1..]),
            Push::Gone => return Flow::Stop,
        }
        if name == "run_finished" {
            return Flow::Stop;
        }
    }
    flush(out, &mut pending, None)
}

fn session_of(ev: &Event) -> Option<SessionId> {
    match ev {
        Event::SessionState { session_id, .. }
        | Event::CommandStarted { session_id, .. }
        | Event::Output { session_id, .. }
        | Event::CommandFinished { session_id, .. }
        | Event::Message { session_id, .. } => Some(*session_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_bounded_and_keeps_the_end() {
        let mut t = Tail::default();
        t.push(OutputStream::Stdout, &vec![b'a'; TAIL_BYTES]);
        t.push(OutputStream::Stderr, b"err");
        t.push(OutputStream::Stderr, b"or");
        assert_eq!(t.len, TAIL_BYTES);
        assert_eq!(t.parts.len(), 2);
        assert_eq!(t.parts[1].1, b"error");
        t.push(OutputStream::Stdout, &vec![b'b'; TAIL_BYTES * 2]);
        assert_eq!(t.len, TAIL_BYTES);
        assert_eq!(t.parts.len(), 1);
    }

    #[test]
    fn output_events_are_capped_and_keep_characters_whole() {
        let mut p = Pending::new();
        let text = "é".repeat(OUTPUT_EVENT_BYTES); // two bytes each
        add_output(
            &mut p,
            SessionId::new(1),
            OutputStream::Stdout,
            text.as_bytes(),
        );
        add_output(&mut p, SessionId::new(1), OutputStream::Stdout, b"tail");
        assert!(p.len() >= 2);
        assert!(p.iter().all(|(_, _, d)| d.len() <= OUTPUT_EVENT_BYTES));
        assert!(p.iter().all(|(_, _, d)| std::str::from_utf8(d).is_ok()));
        let joined: Vec<u8> = p.iter().flat_map(|(_, _, d)| d.clone()).collect();
        assert_eq!(joined, format!("{text}tail").into_bytes());
    }

    #[test]
    fn a_full_outbox_says_how_much_output_was_behind() {
        let (out, stream) = Outbox::new(64 * 1024);
        let batch: Vec<Arc<Event>> = (0..20)
            .map(|_| {
                Arc::new(Event::Output {
                    run_id: RunId::new(7),
                    session_id: SessionId::new(1),
                    stream: OutputStream::Stdout,
                    data: vec![b'x'; 8 * 1024].into(),
                })
            })
            .collect();
        let Flow::Behind(skipped) = send_batch(&out, RunId::new(7), &batch) else {
            panic!("the outbox should be full");
        };
        let queued = (20 * 8 * 1024) - skipped;
        assert!(queued > 0 && queued <= 64 * 1024, "{queued}");
        drop(stream);
        assert_eq!(out.try_push("x", String::new()), Push::Gone);
    }
}
