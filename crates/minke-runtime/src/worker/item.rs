//! Executing one claimed item: its run's context, its host and its sessions' objects
//! loaded, the item started, its sessions run over one connection by the engine's
//! host task, then the item finished (or its unstarted rest handed back), the run's
//! lock of the host released and the run ended when nothing of it is left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use minke_core::{FailReason, HostTarget, ModelObject, SessionId};
use minke_store::{Query, SessionRecord, WorkItem, now_micros};

use super::{Held, Shared};
use crate::execute::{Job, RunCtx};
use crate::hold::{Holding, ItemHold};
use crate::{Canceller, Event, Result};

/// What an item needs to run.
struct Ready {
    ctx: RunCtx,
    target: HostTarget,
    jobs: Vec<Job>,
    stops: Vec<Canceller>,
}

impl Shared {
    /// Runs one claimed item to its end, whatever happens to it.
    pub(super) async fn execute(self: Arc<Self>, item: WorkItem) {
        let hold = Arc::new(ItemHold::new(
            self.queue.clone(),
            item.clone(),
            self.draining.subscribe(),
        ));
        if hold.draining() {
            self.hand_back(&item).await;
            return;
        }
        match self.prepare(&item).await {
            Ok(Some(ready)) => self.work(&item, hold, ready).await,
            Ok(None) => {}
            Err(e) => self.refuse(&item, &e.to_string()).await,
        }
    }

    /// Gives back an item not started.
    async fn hand_back(&self, item: &WorkItem) {
        let (queue, id) = (self.queue.clone(), item.id);
        match self
            .engine
            .store()
            .write(move |c| queue.hand_back(c, id))
            .await
        {
            Ok(true) => self.count(|r| r.items_handed_back += 1),
            Ok(false) => {}
            Err(e) => tracing::warn!(item = %id, "handing back a work item failed: {e}"),
        }
    }

    /// Starts the item and loads what it needs; `None` when it is no longer this
    /// worker's (the reaper handed it back meanwhile).
    async fn prepare(&self, item: &WorkItem) -> Result<Option<Ready>> {
        let (queue, it) = (self.queue.clone(), item.clone());
        // Ahead of the history's writes: the item's handshake waits for it.
        let started = self
            .engine
            .store()
            .write_urgent(move |c| queue.start(c, it.id))
            .await?;
        if !started {
            return Ok(None);
        }
        let (ctx, _run_stop) = self.runs.enter(&self.engine, item.run_id).await?;
        let loaded = self.load(item, &ctx).await;
        let (target, sessions, objects) = match loaded {
            Ok(l) => l,
            Err(e) => {
                self.runs.leave(item.run_id);
                return Err(e);
            }
        };
        let mut jobs = Vec::with_capacity(sessions.len());
        let mut stops = Vec::with_capacity(sessions.len());
        let mut objects: BTreeMap<i64, Box<dyn ModelObject>> = objects;
        for s in sessions {
            let Some(object) = objects.remove(&s.object_id) else {
                let why = format!("{} {} no longer exists", s.model, s.object_id);
                self.fail_sessions(item, &[s.id], &why).await;
                continue;
            };
            let (stop, rx) = Canceller::new();
            stops.push(stop);
            jobs.push(Job {
                session_id: s.id,
                object,
                label: s.object_label,
                stop: rx,
            });
        }
        Ok(Some(Ready {
            ctx,
            target,
            jobs,
            stops,
        }))
    }

    /// The item's host, its sessions not started and their objects.
    async fn load(
        &self,
        item: &WorkItem,
        ctx: &RunCtx,
    ) -> Result<(
        HostTarget,
        Vec<SessionRecord>,
        BTreeMap<i64, Box<dyn ModelObject>>,
    )> {
        let (it, model, hosts) = (item.clone(), ctx.model.clone(), self.engine.host_source());
        Ok(self
            .engine
            .store()
            .blocking(move |c| {
                let sessions = minke_store::work_item_sessions(c, &it)?;
                let target = hosts.targets(c, &[it.host_id])?.into_iter().next();
                let target = target.ok_or_else(|| {
                    minke_store::Error::BadQuery(format!(
                        "host {} of run {} no longer exists",
                        it.host_id, it.run_id
                    ))
                })?;
                let ids: Vec<i64> = sessions.iter().map(|s| s.object_id).collect();
                let objects = model
                    .load(c, &Query::ids(ids))?
                    .into_iter()
                    .map(|o| (o.id(), o))
                    .collect();
                Ok((target, sessions, objects))
            })
            .await?)
    }

    /// Runs the item's sessions, then ends the item.
    async fn work(&self, item: &WorkItem, hold: Arc<ItemHold>, ready: Ready) {
        let Ready {
            ctx,
            target,
            jobs,
            stops,
        } = ready;
        if let Ok(mut held) = self.held.lock() {
            held.insert(
                item.id,
                Held {
                    run_id: item.run_id,
                    hold: hold.clone(),
                    claimed: Instant::now(),
                    sessions: stops,
                },
            );
        }
        let permits = self.engine.permits();
        ctx.clone()
            .host_task(target, jobs, permits, Holding::Item(hold.clone()))
            .await;
        if hold.is_lost() {
            self.count(|r| r.items_lost += 1);
        } else {
            self.end_item(item).await;
        }
        self.release(item);
    }

    /// Finishes an item (its unstarted sessions, if any, back to the queue), releases
    /// the run's lock of the host when nothing of it is left there, and ends the run
    /// when nothing of it is left at all.
    async fn end_item(&self, item: &WorkItem) {
        let ended = self
            .engine
            .store()
            .end_work_item(&self.queue, item, now_micros())
            .await;
        match ended {
            Ok(Some(end)) => {
                if end.new_item.is_some() {
                    self.count(|r| r.items_handed_back += 1);
                } else {
                    self.count(|r| r.items_done += 1);
                }
                if end.run_ended.is_some() {
                    let run_id = item.run_id;
                    self.engine.events().send(|| Event::RunFinished { run_id });
                }
            }
            Ok(None) => self.count(|r| r.items_lost += 1),
            Err(e) => tracing::error!(
                item = %item.id,
                "recording the end of a work item failed: {e}"
            ),
        }
    }

    /// An item that cannot run at all (its session is unknown here, its parameters
    /// do not fit, its host is gone): its sessions fail with why, and it ends.
    async fn refuse(&self, item: &WorkItem, why: &str) {
        tracing::error!(
            item = %item.id,
            run_id = %item.run_id,
            "cannot run a work item: {why}"
        );
        let it = item.clone();
        let ids = self
            .engine
            .store()
            .blocking(move |c| minke_store::work_item_sessions(c, &it))
            .await
            .map(|s| s.iter().map(|s| s.id).collect::<Vec<_>>())
            .unwrap_or_default();
        self.fail_sessions(item, &ids, why).await;
        self.end_item(item).await;
    }

    /// Ends sessions of an item as failed (reason `setup`), with why as a message.
    async fn fail_sessions(&self, item: &WorkItem, ids: &[SessionId], why: &str) {
        let (ids, at, why_owned) = (ids.to_vec(), now_micros(), why.to_owned());
        let reason = FailReason::Setup.as_str();
        let written = self
            .engine
            .store()
            .write(move |c| {
                let ended = minke_store::fail_unfinished_sessions(c, &ids, reason, at)?;
                for &id in &ended {
                    let row = crate::record::message_row(
                        id,
                        1,
                        minke_core::MessageLevel::Error,
                        why_owned.clone(),
                        at,
                    );
                    minke_store::insert_message(c, &row)?;
                }
                Ok(ended)
            })
            .await;
        if let Err(e) = written {
            tracing::error!(
                item = %item.id,
                "recording the failure of sessions failed: {e}"
            );
        }
    }
}
