//! The permissions an app's models and sessions define, decided once for the users
//! page, `users grant` and the checks: `view_<model>` for each model (its objects
//! and history), `add_`, `change_` and `delete_<model>` for models written through
//! Minke (the host model too), the same for host groups (`add_group`, ...), and each
//! session's own (`run_<session>` first, then those it declares).

use crate::Engine;

/// What a model permission allows: `view_<model>`, `add_<model>`, `change_<model>`,
/// `delete_<model>`.
///
/// ```
/// use minke_runtime::ModelAction;
/// assert_eq!(ModelAction::Delete.on("server"), "delete_server");
/// assert_eq!(ModelAction::ALL.map(ModelAction::name), ["view", "add", "change", "delete"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelAction {
    /// See its objects and their history.
    View,
    /// Add objects.
    Add,
    /// Change objects.
    Change,
    /// Delete objects.
    Delete,
}

impl ModelAction {
    /// Every action, in the order pages show them.
    pub const ALL: [ModelAction; 4] = [
        ModelAction::View,
        ModelAction::Add,
        ModelAction::Change,
        ModelAction::Delete,
    ];

    /// Its name: `view`, `add`, `change`, `delete`.
    pub fn name(self) -> &'static str {
        match self {
            ModelAction::View => "view",
            ModelAction::Add => "add",
            ModelAction::Change => "change",
            ModelAction::Delete => "delete",
        }
    }

    /// The permission for this action on `model`: `change_server`.
    pub fn on(self, model: &str) -> String {
        format!("{}_{model}", self.name())
    }
}

/// The name host groups have in permissions: `add_group`, `change_group`,
/// `delete_group`.
pub const GROUP: &str = "group";

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
        let row = |name: &str, actions: &[ModelAction]| -> Vec<Permission> {
            actions
                .iter()
                .map(|a| Permission {
                    action: a.name().into(),
                    name: a.on(name),
                })
                .collect()
        };
        let host_model = self.host_source().model;
        let mut out: Vec<PermissionGroup> = Vec::new();
        for m in self.models().iter() {
            // Hosts are written through their own pages, with the same permissions.
            let actions: &[ModelAction] = if m.meta.writable || m.meta.name == host_model {
                &ModelAction::ALL
            } else {
                &ModelAction::ALL[..1]
            };
            out.push(PermissionGroup {
                subject: Subject::Model,
                name: m.meta.name.to_owned(),
                label: m.meta.verbose_name.clone(),
                permissions: row(m.meta.name, actions),
            });
        }
        out.push(PermissionGroup {
            subject: Subject::Model,
            name: GROUP.into(),
            label: "host group".into(),
            permissions: row(GROUP, &ModelAction::ALL[1..]),
        });
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
