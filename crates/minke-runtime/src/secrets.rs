//! Secret parameters of runs executed by workers: sealed with the key submitters and
//! workers share (`MINKE_SECRET_KEY`) when the run is recorded, unsealed by the
//! worker that runs it, erased from the database when the run ends. Never in clear
//! in the database, the logs or the errors.

use std::collections::BTreeMap;

use std::sync::Arc;

use minke_core::{Params, RunId, SecretKey, SessionMeta};
use zeroize::Zeroizing;

use crate::{Config, Error, Result};

/// What the sealed text of run `run_id` is bound to: it opens for no other run.
fn context(run_id: RunId) -> Vec<u8> {
    format!("minke run {run_id} secret parameters").into_bytes()
}

/// The names of the session's secret parameters that were given.
fn secret_names(meta: &SessionMeta, given: impl Fn(&str) -> bool) -> Vec<&str> {
    meta.params
        .iter()
        .filter(|p| p.secret && given(p.name))
        .map(|p| p.name)
        .collect()
}

/// A run's secret parameters, ready to be sealed once the run has an id.
pub(crate) struct Sealer {
    key: Arc<SecretKey>,
    plain: Zeroizing<Vec<u8>>,
}

impl Sealer {
    /// `None` when the run has no secret parameters; an error, before anything is
    /// recorded, when it has some and there is no key to seal them with.
    pub(crate) fn new(
        config: &Config,
        meta: &SessionMeta,
        params: &Params,
    ) -> Result<Option<Sealer>> {
        let names = secret_names(meta, |n| params.get(n).is_some());
        if names.is_empty() {
            return Ok(None);
        }
        let Some(key) = &config.secret_key else {
            return Err(Error::Secrets(format!(
                "session `{}` has secret parameters ({}); to hand them to workers set {} \
                 to the key the workers share (the same on every submitter and worker), \
                 or run it without the queue",
                meta.name,
                names.join(", "),
                SecretKey::ENV,
            )));
        };
        let values: BTreeMap<&str, &str> = names
            .iter()
            .filter_map(|n| params.get(n).map(|v| (*n, v)))
            .collect();
        Ok(Some(Sealer {
            key: key.clone(),
            plain: Zeroizing::new(serde_json::to_vec(&values).unwrap_or_default()),
        }))
    }

    /// The sealed text, bound to the run.
    pub(crate) fn seal(&self, run_id: RunId) -> String {
        self.key.seal(&self.plain, &context(run_id))
    }
}

/// Puts a run's secret parameters, unsealed, into its parameters (read from its row,
/// where they are redacted). An error names the run and what is missing or wrong,
/// never a value.
pub(crate) fn unseal_into(
    config: &Config,
    run_id: RunId,
    meta: &SessionMeta,
    sealed: Option<&str>,
    params: &mut BTreeMap<String, String>,
) -> Result<()> {
    let names = secret_names(meta, |n| params.contains_key(n));
    if names.is_empty() {
        return Ok(());
    }
    let Some(sealed) = sealed else {
        return Err(Error::Secrets(format!(
            "run {run_id} has secret parameters ({}) but none were sealed for workers \
             (it ended, or it was recorded to run in its own process)",
            names.join(", ")
        )));
    };
    let Some(key) = &config.secret_key else {
        return Err(Error::Secrets(format!(
            "run {run_id} has secret parameters ({}): set {} to the key it was \
             submitted with",
            names.join(", "),
            SecretKey::ENV,
        )));
    };
    let plain = key.open(sealed, &context(run_id)).map_err(|e| {
        Error::Secrets(format!(
            "the secret parameters of run {run_id} cannot be unsealed with this \
             worker's key ({}): {e}",
            key.fingerprint()
        ))
    })?;
    // The error of the parse is not shown: it could quote a value.
    let values: BTreeMap<String, String> = serde_json::from_slice(&plain).map_err(|_| {
        Error::Secrets(format!(
            "the secret parameters of run {run_id} are not a JSON object of texts"
        ))
    })?;
    for name in names {
        match values.get(name) {
            Some(v) => {
                params.insert(name.to_owned(), v.clone());
            }
            None => {
                return Err(Error::Secrets(format!(
                    "run {run_id}: secret parameter `{name}` is missing from what was sealed"
                )));
            }
        }
    }
    Ok(())
}
