//! What the engine writes to the history: a run with its sessions and their notes
//! in one write, then the ends of sessions and of the run.

use std::collections::BTreeMap;
use std::time::Duration;

use minke_core::{HostId, Message, MessageLevel, RunId, RunState, SessionId, SessionMeta};
use minke_store::{Conn, MessageRow, NewRun, NewSession, SessionEnd, Store, now_micros};

use crate::outcome::Outcome;
use crate::plan::{Planned, Selection};
use crate::{Result, RunRequest};

/// Who executes a run.
pub(crate) enum Execution {
    /// The process that records it.
    InProcess,
    /// Workers, through the queue.
    Queue {
        /// The run's secret parameters to seal, if any.
        sealer: Option<crate::secrets::Sealer>,
        /// Its hosts worked on at once over all workers, if limited.
        concurrency: Option<u32>,
    },
}

/// A recorded run: its id and its sessions (each with its id), in selection order.
pub(crate) struct Recorded {
    pub(crate) run_id: RunId,
    pub(crate) sessions: Vec<(SessionId, Planned)>,
}

/// Records a run in one write: runs whose process died are closed first, then the
/// run, its host locks, each object's fate (decided here, where the locks are known)
/// and its session row, and a note for each session that never runs.
pub(crate) async fn record(
    store: &Store,
    req: &RunRequest,
    meta: &SessionMeta,
    selection: Selection,
    lock_ttl: Duration,
    execution: Execution,
) -> Result<Recorded> {
    let run = NewRun {
        session: meta.name.to_owned(),
        model: req.model.clone(),
        username: req.username.clone(),
        params: serde_json::to_string(&req.params.redacted(meta)).unwrap_or_default(),
        selection: serde_json::to_string(&req.query).unwrap_or_default(),
        state: RunState::Running,
        created_at: now_micros(),
    };
    let ttl = i64::try_from(lock_ttl.as_micros()).unwrap_or(i64::MAX);
    let recorded = store
        .write(move |c| {
            // Runs whose process died would otherwise stay `running` for ever.
            close_interrupted(c)?;
            let run_id = minke_store::insert_run(c, &run)?;
            let locked: BTreeMap<HostId, RunId> =
                minke_store::acquire_host_locks(c, run_id, &selection.hosts_to_lock(), ttl)?
                    .into_iter()
                    .collect();
            let plan = Planned::decide_all(selection, &locked);
            let now = now_micros();
            let rows: Vec<NewSession> = plan
                .iter()
                .map(|p| session_row(run_id, &run.session, p, now))
                .collect();
            let ids = minke_store::insert_sessions(c, &rows)?;
            for (p, &id) in plan.iter().zip(&ids) {
                if let Some((level, text)) = p.fate.note() {
                    minke_store::insert_message(c, &message_row(id, 1, level, text, now))?;
                    let o = p.fate.recorded();
                    minke_store::finish_session(
                        c,
                        id,
                        o.state,
                        o.status,
                        o.reason.as_deref(),
                        now,
                    )?;
                }
            }
            if let Execution::Queue {
                sealer,
                concurrency,
            } = &execution
            {
                if let Some(sealer) = sealer {
                    minke_store::seal_run_params(c, run_id, &sealer.seal(run_id))?;
                }
                if let Some(n) = concurrency {
                    minke_store::set_run_concurrency(c, run_id, *n)?;
                }
                minke_store::enqueue_run(c, run_id)?;
                // Nothing to run (disabled or locked hosts): it ends now.
                minke_store::finish_run_if_complete(c, run_id, now)?;
            }
            Ok(Recorded {
                run_id,
                sessions: ids.into_iter().zip(plan).collect(),
            })
        })
        .await?;
    Ok(recorded)
}

/// Closes the runs whose process died, as `interrupted`, and says so in the log.
pub(crate) fn close_interrupted(c: &mut Conn) -> minke_store::Result<Vec<RunId>> {
    let ids = minke_store::close_interrupted_runs(c, now_micros())?;
    if !ids.is_empty() {
        tracing::warn!(runs = ?ids, "closed runs whose process ended before them (interrupted)");
    }
    Ok(ids)
}

/// The row of a planned session.
fn session_row(run_id: RunId, session: &str, p: &Planned, now: i64) -> NewSession {
    let Outcome {
        state,
        status,
        reason,
    } = p.fate.recorded();
    let host = p.fate.host();
    NewSession {
        run_id,
        session: session.to_owned(),
        model: p.object.model_name().to_owned(),
        object_id: p.object.id(),
        object_label: p.label.clone(),
        host_id: host.map(|h| h.id),
        host_name: host.map(|h| h.name.clone()),
        state,
        status,
        reason,
        created_at: now,
    }
}

/// The row of a text message.
pub(crate) fn message_row(
    session_id: SessionId,
    seq: i32,
    level: MessageLevel,
    text: String,
    at: i64,
) -> MessageRow {
    MessageRow {
        session_id,
        seq,
        level: level.to_string(),
        body: serde_json::to_string(&Message::text(level, text).body).unwrap_or_default(),
        created_at: at,
    }
}

/// Records the end of a session.
pub(crate) fn session_end(session_id: SessionId, o: &Outcome, at: i64) -> SessionEnd {
    SessionEnd {
        id: session_id,
        state: o.state,
        status: o.status,
        reason: o.reason.clone(),
        at,
    }
}

/// Records the end of a run and releases the host locks it still holds.
pub(crate) fn finish_run(
    c: &mut Conn,
    run_id: RunId,
    stopped: bool,
    at: i64,
) -> minke_store::Result<()> {
    let state = if stopped {
        RunState::Canceled
    } else {
        RunState::Done
    };
    minke_store::release_host_locks(c, run_id)?;
    minke_store::finish_run(c, run_id, state, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_row_holds_the_text_as_a_json_body() {
        let row = message_row(
            SessionId::new(7),
            1,
            MessageLevel::Warning,
            "host `a` is disabled".into(),
            5,
        );
        assert_eq!(
            (row.session_id, row.seq, row.created_at),
            (SessionId::new(7), 1, 5)
        );
        assert_eq!(row.level, "warning");
        assert!(row.body.contains("host `a` is disabled"), "{}", row.body);
    }
}
