//! The runs a worker has items of: each run's context loaded once from its row
//! (session, parameters, limits), its stop watched in the database, forgotten when
//! its last item here ends.

use std::collections::BTreeMap;
use std::sync::Mutex;

use minke_core::{Params, RunId};
use minke_store::Query;
use tokio::task::JoinHandle;

use crate::execute::RunCtx;
use crate::{Canceller, Engine, Error, Result, RunRequest};

/// A run some items of which the worker holds.
struct Slot {
    ctx: RunCtx,
    canceller: Canceller,
    items: usize,
    watcher: JoinHandle<()>,
}

/// The runs a worker has items of.
#[derive(Default)]
pub(crate) struct Runs {
    map: Mutex<BTreeMap<RunId, Slot>>,
}

impl Runs {
    /// The context and stop of a run, loaded the first time; one more item of the
    /// run is held until [`leave`](Self::leave).
    pub(crate) async fn enter(
        &self,
        engine: &Engine,
        run_id: RunId,
    ) -> Result<(RunCtx, Canceller)> {
        if let Some(got) = self.join(run_id) {
            return Ok(got);
        }
        let (ctx, canceller) = load(engine, run_id).await?;
        let mut map = self.map.lock().map_err(poisoned)?;
        let slot = map.entry(run_id).or_insert_with(|| Slot {
            watcher: crate::stop::watch_stop_requests(engine, run_id, Some(canceller.clone())),
            ctx,
            canceller,
            items: 0,
        });
        slot.items += 1;
        Ok((slot.ctx.clone(), slot.canceller.clone()))
    }

    fn join(&self, run_id: RunId) -> Option<(RunCtx, Canceller)> {
        let mut map = self.map.lock().ok()?;
        let slot = map.get_mut(&run_id)?;
        slot.items += 1;
        Some((slot.ctx.clone(), slot.canceller.clone()))
    }

    /// One item of the run less; the run is forgotten after its last.
    pub(crate) fn leave(&self, run_id: RunId) {
        let Ok(mut map) = self.map.lock() else { return };
        let Some(slot) = map.get_mut(&run_id) else {
            return;
        };
        slot.items = slot.items.saturating_sub(1);
        if slot.items == 0
            && let Some(slot) = map.remove(&run_id)
        {
            slot.watcher.abort();
        }
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Core(minke_core::Error::Setup(
        "the worker's table of runs is poisoned".into(),
    ))
}

/// A run's context from its row: its session instantiated with its parameters
/// (secret ones unsealed), its limits.
async fn load(engine: &Engine, run_id: RunId) -> Result<(RunCtx, Canceller)> {
    let (run, sealed) = engine
        .store()
        .blocking(move |c| {
            let run = minke_store::get_run(c, run_id)?;
            let sealed = minke_store::sealed_run_params(c, run_id)?;
            Ok((run, sealed))
        })
        .await?;
    let mut params: BTreeMap<String, String> = serde_json::from_str(&run.params).map_err(|e| {
        Error::Params(minke_core::Error::Setup(format!(
            "the parameters of run {run_id} are not readable: {e}"
        )))
    })?;
    let req = RunRequest {
        session: run.session,
        model: run.model,
        query: Query::all(),
        params: Params::default(),
        username: run.username,
    };
    let meta = &engine
        .sessions()
        .get(&req.session)
        .map_err(|e| Error::UnknownSession(e.to_string()))?
        .meta;
    crate::secrets::unseal_into(
        engine.config(),
        run_id,
        meta,
        sealed.as_deref(),
        &mut params,
    )?;
    let req = RunRequest {
        params: Params::from_pairs(params),
        ..req
    };
    let checked = engine.check(&req)?;
    let (canceller, cancel) = Canceller::new();
    let ctx = RunCtx::new(engine.clone(), run_id, checked, req.params, cancel, None);
    Ok((ctx, canceller))
}
