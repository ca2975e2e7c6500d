//! From a selection to a plan: the objects a query selects, the host each one
//! reaches, and what becomes of each, decided once (when the run is recorded, the
//! only moment its host locks are known) as a typed [`Fate`].

use std::collections::BTreeMap;

use minke_core::{FailReason, HostId, HostTarget, MessageLevel, ModelObject, RunId};
use minke_store::{Query, Store};

use crate::models::{HostSource, ModelEntry};
use crate::outcome::Outcome;
use crate::{Error, Result};

/// One selected object and the host it reaches, or why it reaches none.
pub(crate) struct Selected {
    pub(crate) object: Box<dyn ModelObject>,
    pub(crate) host: std::result::Result<HostTarget, String>,
}

/// The objects a query selects, in selection order, each with its host resolved.
pub(crate) struct Selection(Vec<Selected>);

impl Selection {
    /// Loads the selection and resolves each object's host; an empty selection is
    /// an error.
    pub(crate) async fn load(
        store: &Store,
        hosts: HostSource,
        model: &ModelEntry,
        query: &Query,
    ) -> Result<Self> {
        let (model, query) = (model.clone(), model.targets(query));
        let name = model.meta.name.to_owned();
        let selected = store
            .blocking(move |c| {
                let objects = model.load(c, &query)?;
                let mut host_ids = Vec::with_capacity(objects.len());
                for o in &objects {
                    host_ids.push(model.host_id(&**o, c).map_err(|e| e.to_string()));
                }
                let mut wanted: Vec<HostId> = host_ids
                    .iter()
                    .filter_map(|h| h.as_ref().ok().copied())
                    .collect();
                wanted.sort_unstable();
                wanted.dedup();
                let targets: BTreeMap<HostId, HostTarget> = hosts
                    .targets(c, &wanted)?
                    .into_iter()
                    .map(|t| (t.id, t))
                    .collect();
                Ok(objects
                    .into_iter()
                    .zip(host_ids)
                    .map(|(object, id)| {
                        let host = id.and_then(|h| {
                            targets.get(&h).cloned().ok_or_else(|| {
                                format!(
                                    "{} {} points at host {h}, which does not exist",
                                    object.model_name(),
                                    object.id()
                                )
                            })
                        });
                        Selected { object, host }
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        if selected.is_empty() {
            return Err(Error::EmptySelection { model: name });
        }
        Ok(Selection(selected))
    }

    /// The hosts the run must lock: every resolved host that is not disabled, once.
    pub(crate) fn hosts_to_lock(&self) -> Vec<HostId> {
        let mut ids: Vec<HostId> = self
            .0
            .iter()
            .filter_map(|s| s.host.as_ref().ok())
            .filter(|t| !t.disabled)
            .map(|t| t.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Why a session on a known host never starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The host is disabled.
    Disabled,
    /// Another run (this id) holds the host's lock.
    LockedBy(RunId),
}

/// What becomes of one selected object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// It runs on this host.
    Run(HostTarget),
    /// It never starts: `canceled`, with a warning that says why.
    Canceled {
        /// The host it would have run on.
        host: HostTarget,
        /// Why not.
        skip: Skip,
    },
    /// Minke cannot work on it: `failed`, with an error that says why.
    Failed {
        /// The failure class.
        reason: FailReason,
        /// What happened.
        detail: String,
    },
}

impl Fate {
    /// Decides an object's fate from its host and the host locks other runs hold
    /// (host id → run id).
    pub(crate) fn decide(
        host: std::result::Result<HostTarget, String>,
        locked: &BTreeMap<HostId, RunId>,
    ) -> Fate {
        match host {
            Err(detail) => Fate::Failed {
                reason: FailReason::Setup,
                detail,
            },
            Ok(host) if host.disabled => Fate::Canceled {
                host,
                skip: Skip::Disabled,
            },
            Ok(host) => match locked.get(&host.id) {
                Some(&by) => Fate::Canceled {
                    host,
                    skip: Skip::LockedBy(by),
                },
                None => Fate::Run(host),
            },
        }
    }

    /// The host, when the object has one.
    pub(crate) fn host(&self) -> Option<&HostTarget> {
        match self {
            Fate::Run(host) | Fate::Canceled { host, .. } => Some(host),
            Fate::Failed { .. } => None,
        }
    }

    /// How the session stands once recorded, as summaries and events tell it (a
    /// failure with what happened).
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Fate::Run(_) => Outcome::waiting(),
            Fate::Canceled { .. } => Outcome::canceled(self.why().unwrap_or_default()),
            Fate::Failed { reason, detail } => Outcome::failed_with(*reason, detail),
        }
    }

    /// How the session's row records it: a failure keeps only its class there, what
    /// happened is the note.
    pub(crate) fn recorded(&self) -> Outcome {
        match self {
            Fate::Failed { reason, .. } => Outcome::failed(*reason),
            _ => self.outcome(),
        }
    }

    /// The note that says why the session never runs (`None` when it runs).
    pub(crate) fn note(&self) -> Option<(MessageLevel, String)> {
        let level = match self {
            Fate::Run(_) => return None,
            Fate::Canceled { .. } => MessageLevel::Warning,
            Fate::Failed { .. } => MessageLevel::Error,
        };
        Some((level, self.why()?))
    }

    fn why(&self) -> Option<String> {
        match self {
            Fate::Run(_) => None,
            Fate::Canceled { host, skip } => Some(match skip {
                Skip::Disabled => format!("host `{}` is disabled", host.name),
                Skip::LockedBy(run) => format!("host `{}` is locked by run {run}", host.name),
            }),
            Fate::Failed { detail, .. } => Some(detail.clone()),
        }
    }
}

/// One session of a run, before it is recorded.
pub(crate) struct Planned {
    pub(crate) object: Box<dyn ModelObject>,
    /// The object's label.
    pub(crate) label: String,
    pub(crate) fate: Fate,
}

impl Planned {
    /// The fate of each selected object, in selection order.
    pub(crate) fn decide_all(
        selection: Selection,
        locked: &BTreeMap<HostId, RunId>,
    ) -> Vec<Planned> {
        selection
            .0
            .into_iter()
            .map(|s| Planned {
                label: s.object.label(),
                fate: Fate::decide(s.host, locked),
                object: s.object,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use minke_core::{State, Status};

    use super::*;

    fn host(id: i64, disabled: bool) -> HostTarget {
        let mut t = HostTarget::new(HostId::new(id), format!("web{id}"), "127.0.0.1");
        t.disabled = disabled;
        t
    }

    #[test]
    fn a_free_enabled_host_runs() {
        let fate = Fate::decide(
            Ok(host(1, false)),
            &BTreeMap::from([(HostId::new(2), RunId::new(9))]),
        );
        assert_eq!(fate, Fate::Run(host(1, false)));
        assert_eq!(fate.outcome(), Outcome::waiting());
        assert_eq!(fate.recorded(), Outcome::waiting());
        assert_eq!(fate.note(), None);
    }

    #[test]
    fn a_disabled_host_is_canceled_even_when_locked() {
        let fate = Fate::decide(
            Ok(host(1, true)),
            &BTreeMap::from([(HostId::new(1), RunId::new(9))]),
        );
        assert_eq!(fate.outcome(), Outcome::canceled("host `web1` is disabled"));
        assert_eq!(fate.recorded(), fate.outcome());
        assert_eq!(
            fate.note(),
            Some((MessageLevel::Warning, "host `web1` is disabled".into()))
        );
        assert_eq!(fate.host().map(|h| h.id), Some(HostId::new(1)));
    }

    #[test]
    fn a_host_locked_by_another_run_is_canceled() {
        let fate = Fate::decide(
            Ok(host(1, false)),
            &BTreeMap::from([(HostId::new(1), RunId::new(9))]),
        );
        let o = fate.outcome();
        assert_eq!(o.state, State::Canceled);
        assert_eq!(o.status, None);
        assert_eq!(o.reason.as_deref(), Some("host `web1` is locked by run 9"));
    }

    #[test]
    fn no_host_fails_as_setup_with_the_detail_in_the_note_only() {
        let fate = Fate::decide(Err("server 3 points at host 7".into()), &BTreeMap::new());
        assert_eq!(fate.host(), None);
        let shown = fate.outcome();
        assert_eq!(
            (shown.state, shown.status),
            (State::Failed, Some(Status::Error))
        );
        assert_eq!(
            shown.reason.as_deref(),
            Some("setup: server 3 points at host 7")
        );
        assert_eq!(fate.recorded().reason.as_deref(), Some("setup"));
        assert_eq!(
            fate.note(),
            Some((MessageLevel::Error, "server 3 points at host 7".into()))
        );
    }
}
