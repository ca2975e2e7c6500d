//! The permissions an app's models and sessions define, decided once for the users
//! page, `users grant` and the checks: `view_<model>` for each model (its objects
//! and history), `change_host` (hosts and host groups), and each session's own
//! (`run_<session>` first, then those it declares).

use crate::Engine;

/// The permission to change hosts and host groups.
pub const CHANGE_HOST: &str = "change_host";

/// What a row of permissions is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A model: its objects and their history.
    Model,
    /// A session: running it.
    Session,
}

/// One permission of a row: what it allows (`view`, `run`, ...) and its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// What it allows, short: `view`, `change`, `run`, or the name itself for the
    /// ones a session declares.
    pub action: String,
    /// The permission's name, as granted: `view_server`.
    pub name: String,
}

/// The permissions of one model or session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionGroup {
    /// A model or a session.
    pub subject: Subject,
    /// Its name.
    pub name: String,
    /// Its name for people.
    pub label: String,
    /// Its permissions, in order.
    pub permissions: Vec<Permission>,
}

impl Engine {
    /// The permissions of the app's models and sessions, models first.
    pub fn permissions(&self) -> Vec<PermissionGroup> {
        let mut out: Vec<PermissionGroup> = Vec::new();
        let mut host_seen = false;
        for m in self.models().iter() {
            let mut permissions = vec![Permission {
                action: "view".into(),
                name: format!("view_{}", m.meta.name),
            }];
            if m.meta.name == "host" {
                host_seen = true;
                permissions.push(Permission {
                    action: "change".into(),
                    name: CHANGE_HOST.into(),
                });
            }
            out.push(PermissionGroup {
                subject: Subject::Model,
                name: m.meta.name.to_owned(),
                label: m.meta.verbose_name.clone(),
                permissions,
            });
        }
        if !host_seen {
            out.push(PermissionGroup {
                subject: Subject::Model,
                name: "host".into(),
                label: "host".into(),
                permissions: vec![Permission {
                    action: "change".into(),
                    name: CHANGE_HOST.into(),
                }],
            });
        }
        for s in self.sessions().iter() {
            let run = format!("run_{}", s.meta.name);
            let permissions = s
                .meta
                .permissions
                .iter()
                .map(|p| Permission {
                    action: if *p == run { "run".into() } else { p.clone() },
                    name: p.clone(),
                })
                .collect();
            out.push(PermissionGroup {
                subject: Subject::Session,
                name: s.meta.name.to_owned(),
                label: s.meta.verbose_name.clone(),
                permissions,
            });
        }
        out
    }

    /// Every permission something checks, sorted, without repeats.
    pub fn known_permissions(&self) -> std::collections::BTreeSet<String> {
        self.permissions()
            .into_iter()
            .flat_map(|g| g.permissions)
            .map(|p| p.name)
            .collect()
    }
}
