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
use minke_core::{Message, MessageBody, MessageLevel, State, Status};
use minke_runtime::{Engine, Event, OutputStream};
use minke_store::{MessageRow, RunRecord, SessionRecord};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use crate::auth::Auth;
use crate::state::AppState;
use crate::{Error, Result, db};

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
    sessions: HashMap<i64, SessionLive>,
}

#[derive(Default)]
struct HubState {
    runs: HashMap<i64, RunLive>,
}

/// Follows the engine's events for the live views.
pub(crate) struct Hub {
    state: Mutex<HubState>,
    tx: broadcast::Sender<HubMsg>,
    engine_rx: Mutex<Option<broadcast::Receiver<Event>>>,
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
        }
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
    pub(crate) fn attach(&self, run_id: i64) -> (Option<RunLive>, broadcast::Receiver<HubMsg>) {
        let st = self.lock();
        (st.runs.get(&run_id).cloned(), self.tx.subscribe())
    }
}

/// One session as the live views show it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SessionView {
    pub(crate) id: i64,
    pub(crate) object_id: i64,
    pub(crate) object: String,
    pub(crate) host: Option<String>,
    pub(crate) state: String,
    pub(crate) status: Option<String>,
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
    run_id: i64,
    live: Option<RunLive>,
) -> Result<Snapshot> {
    let (run, sessions, messages) = st
        .store()
        .blocking(move |c| {
            let run = minke_store::get_run(c, run_id)?;
            let sessions = minke_store::run_sessions(c, run_id)?;
            let messages = db::run_messages(c, run_id)?;
            Ok((run, sessions, messages))
        })
        .await?;
    let mut stored: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
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
        .map(|s| session_view(st, s, live.as_ref(), complete, &mut stored))
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
    stored: &mut BTreeMap<i64, Vec<(String, String)>>,
) -> SessionView {
    let hub = live.and_then(|l| l.sessions.get(&s.id));
    let db_state: State = s.state.parse().unwrap_or(State::Initialized);
    let (mut state, mut status, mut reason) = (db_state, s.status.clone(), s.reason.clone());
    if let Some(h) = hub
        && let Some(hs) = h.state
        && rank(hs) >= rank(db_state)
    {
        state = hs;
        if h.status.is_some() || !hs.is_done() {
            status = h.status.map(|x| x.as_str().to_owned());
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
        state: state.as_str().to_owned(),
        status,
        reason,
        messages,
        earlier_messages: earlier,
        command: hub.and_then(|h| h.command.clone()),
        output: hub.map(|h| h.tail.to_json()).unwrap_or_default(),
        url: st.url(&format!("/sessions/{}", s.id)),
    }
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

fn sse(name: &str, data: &serde_json::Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}

/// The SSE answer: what a stream task sends, kept alive with comments.
struct Stream(mpsc::Receiver<SseEvent>);

impl futures_core::Stream for Stream {
    type Item = std::result::Result<SseEvent, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

/// Checks that the user may watch a run (view permission on its model).
pub(crate) async fn check_run_access(st: &AppState, auth: &Auth, run_id: i64) -> Result<RunRecord> {
    let run = st
        .store()
        .blocking(move |c| minke_store::get_run(c, run_id))
        .await?;
    auth.need_view(&run.model)?;
    Ok(run)
}

/// The event stream of a run: `snapshot`, then `state`, `command`, `output`,
/// `command_finished`, `message` and finally `run_finished`.
pub(crate) async fn events(
    st: AppState,
    auth: Auth,
    run_id: i64,
) -> Result<Sse<impl futures_core::Stream<Item = std::result::Result<SseEvent, Infallible>>>> {
    check_run_access(&st, &auth, run_id).await?;
    st.hub().start();
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    tokio::spawn(async move {
        if let Err(e) = follow(&st, run_id, &tx).await {
            tracing::warn!(run_id, error = %e, "a live stream ended early");
            let _ = tx
                .send(sse("failure", &json!({"message": e.public_message()})))
                .await;
        }
    });
    Ok(Sse::new(Stream(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Sends a run's snapshot and its live events until the run ends, the client goes
/// away or the server shuts down.
async fn follow(st: &AppState, run_id: i64, tx: &mpsc::Sender<SseEvent>) -> Result<()> {
    let mut closing = st.closing();
    'snapshot: loop {
        let (live, mut rx) = st.hub().attach(run_id);
        let snap = snapshot(st, run_id, live).await?;
        let done = !snap.active && snap.run.state != "running";
        let foreign = !snap.active && snap.run.state == "running";
        // Serialized straight to text and dropped before the stream goes on: a
        // snapshot of a big run kept for a stream's whole life costs much memory.
        let data = serde_json::to_string(&snap).map_err(|e| Error::Internal(e.to_string()))?;
        drop(snap);
        if tx
            .send(SseEvent::default().event("snapshot").data(data))
            .await
            .is_err()
        {
            return Ok(());
        }
        if done {
            let _ = tx
                .send(sse("run_finished", &json!({"run_id": run_id})))
                .await;
            return Ok(());
        }
        // A run going on in another process sends no events here: look again now
        // and then until it ends.
        let recheck = tokio::time::sleep(if foreign {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(3600 * 24 * 365)
        });
        tokio::pin!(recheck);
        loop {
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(HubMsg::Event(first)) => {
                        // Take what else is queued, to merge output chunks.
                        let mut batch = vec![first];
                        let mut resync = false;
                        while batch.len() < BATCH {
                            match rx.try_recv() {
                                Ok(HubMsg::Event(e)) => batch.push(e),
                                Ok(HubMsg::Resync)
                                | Err(broadcast::error::TryRecvError::Lagged(_)) => {
                                    resync = true;
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        match send_batch(tx, run_id, &batch).await {
                            Flow::Go if resync => continue 'snapshot,
                            Flow::Go => {}
                            Flow::Stop => return Ok(()),
                        }
                    }
                    Ok(HubMsg::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        continue 'snapshot;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                () = &mut recheck => continue 'snapshot,
                _ = closing.changed() => return Ok(()),
                () = tx.closed() => return Ok(()),
            }
        }
    }
}

/// Events taken from the hub at once at most.
const BATCH: usize = 512;

/// Whether a stream goes on.
enum Flow {
    Go,
    Stop,
}

/// Sends a batch of events of one run, in order per session, with each session's
/// adjacent output chunks of one stream merged into one event.
async fn send_batch(tx: &mpsc::Sender<SseEvent>, run_id: i64, batch: &[Arc<Event>]) -> Flow {
    let mut pending: Vec<(i64, OutputStream, Vec<u8>)> = Vec::new();
    async fn flush(
        tx: &mpsc::Sender<SseEvent>,
        pending: &mut Vec<(i64, OutputStream, Vec<u8>)>,
        session: Option<i64>,
    ) -> bool {
        let (now, keep): (Vec<_>, Vec<_>) = std::mem::take(pending)
            .into_iter()
            .partition(|(s, _, _)| session.is_none_or(|x| x == *s));
        *pending = keep;
        for (sid, stream, data) in now {
            let ev = json!({"session_id": sid, "stream": stream, "text": String::from_utf8_lossy(&data)});
            if tx.send(sse("output", &ev)).await.is_err() {
                return false;
            }
        }
        true
    }
    for ev in batch.iter().filter(|e| e.run_id() == run_id) {
        if let Event::Output {
            session_id,
            stream,
            data,
            ..
        } = &**ev
        {
            match pending.iter_mut().rev().find(|(s, _, _)| s == session_id) {
                Some((_, st, buf)) if st == stream => buf.extend_from_slice(data),
                _ => pending.push((*session_id, *stream, data.to_vec())),
            }
            continue;
        }
        let Some((name, data)) = event_json(ev) else {
            continue;
        };
        let session = match &**ev {
            Event::RunFinished { .. } => None,
            other => session_of(other),
        };
        if !flush(tx, &mut pending, session).await || tx.send(sse(name, &data)).await.is_err() {
            return Flow::Stop;
        }
        if name == "run_finished" {
            return Flow::Stop;
        }
    }
    if flush(tx, &mut pending, None).await {
        Flow::Go
    } else {
        Flow::Stop
    }
}

fn session_of(ev: &Event) -> Option<i64> {
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
}
