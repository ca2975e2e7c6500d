//! The host form's values: a stored host's, or what was typed, read and checked field
//! by field, each problem kept for the field it belongs to.

use std::collections::{BTreeMap, BTreeSet};

use minke_core::{HostKeyPolicy, Lines};
use minke_store::{HostOptions, HostRecord, NewHost};

use super::sentence;
use crate::Result;
use crate::forms::Pairs;

/// The name of the jump host's field: a host's name, typed or picked.
pub(super) const JUMP: &str = "jump_host";

/// The host form's values and problems.
pub(super) struct HostForm {
    /// The host; its jump host is set from [`HostForm::jump`] once resolved.
    pub(super) host: NewHost,
    /// The port as typed (kept when it is wrong).
    pub(super) port_text: String,
    /// The jump host's name as typed or stored; empty for none.
    pub(super) jump: String,
    pub(super) groups: BTreeSet<i64>,
    pub(super) errors: BTreeMap<&'static str, String>,
}

impl HostForm {
    /// The form of a new host: port 22, in no group.
    pub(super) fn blank() -> HostForm {
        HostForm {
            host: NewHost::new(""),
            port_text: "22".into(),
            jump: String::new(),
            groups: BTreeSet::new(),
            errors: BTreeMap::new(),
        }
    }

    /// The form of a stored host in its groups, behind the jump host named `jump`.
    pub(super) fn stored(
        h: HostRecord,
        jump: String,
        groups: impl IntoIterator<Item = i64>,
    ) -> HostForm {
        HostForm {
            port_text: h.port.to_string(),
            host: NewHost {
                name: h.name,
                hostname: h.hostname,
                port: h.port,
                username: h.username,
                identity_files: h.identity_files,
                host_key_policy: h.host_key_policy,
                known_hosts: h.known_hosts,
                disabled: h.disabled,
                comment: h.comment,
                jump_host_id: h.jump_host_id,
                jump_only: h.jump_only,
                options: h.options,
            },
            jump,
            groups: groups.into_iter().collect(),
            errors: BTreeMap::new(),
        }
    }
}

/// The fields that act on the serving machine (a command run there, its agent, its
/// files, what commands inherit): only superusers set them.
const SUPERUSER_FIELDS: [&str; 4] = [
    "proxy_command",
    "forward_agent",
    "environment",
    "certificate_files",
];

/// Problems found reading the form, by field (`form` for the form as a whole).
type Errors = BTreeMap<&'static str, String>;

fn opt(p: &Pairs, name: &str) -> Option<String> {
    p.text(name).map(str::to_owned)
}

/// A box of the form: ticked or not.
fn ticked(p: &Pairs, name: &str) -> bool {
    p.get(name).is_some_and(|v| v == "1" || v == "on")
}

/// Reads the host form. The options only superusers set are taken from it for a
/// superuser; for others, one given is refused, and the stored ones stay (see
/// [`super::save`]). The jump host is only read as a name here: it is resolved and
/// checked against the database when saving.
pub(super) fn read_host(p: &Pairs, superuser: bool) -> Result<HostForm> {
    let mut errors = Errors::new();
    let name = read_name(p, &mut errors);
    let port_text = p.text("port").unwrap_or("22");
    let port = read_port(port_text, &mut errors);
    let policy = read_policy(p, &mut errors);
    let groups: BTreeSet<i64> = p.ids("groups")?.into_iter().collect();
    let options = read_options(p, superuser, &mut errors);
    if p.get("jump_host_id").is_some() {
        // The form's field was an id once: refused rather than dropped unseen.
        errors.insert(
            "form",
            format!("The jump host is given by its name (`{JUMP}`), not by its id."),
        );
    }
    Ok(HostForm {
        host: NewHost {
            name,
            hostname: opt(p, "hostname"),
            port,
            username: opt(p, "username"),
            identity_files: Lines::parse(p.text("identity_files").unwrap_or_default()),
            host_key_policy: policy,
            known_hosts: opt(p, "known_hosts"),
            disabled: ticked(p, "disabled"),
            comment: opt(p, "comment"),
            jump_host_id: None,
            jump_only: ticked(p, "jump_only"),
            options,
        },
        port_text: port_text.to_owned(),
        jump: p.text(JUMP).unwrap_or_default().to_owned(),
        groups,
        errors,
    })
}

/// The host's name: not empty, without spaces, one the store takes.
fn read_name(p: &Pairs, errors: &mut Errors) -> String {
    let name = p.text("name").unwrap_or_default().to_owned();
    if name.is_empty() {
        errors.insert("name", "A host needs a name.".to_owned());
    } else if name.chars().any(char::is_whitespace) {
        errors.insert("name", "No spaces in a host name.".to_owned());
    } else if let Err(e) = minke_store::check_host_name(&name) {
        errors.insert("name", sentence(&e.to_string()));
    }
    name
}

/// The port: 1 to 65535 (22 when wrong, with the problem said).
fn read_port(text: &str, errors: &mut Errors) -> i32 {
    match text.parse::<i32>() {
        Ok(n) if (1..=65535).contains(&n) => n,
        _ => {
            errors.insert(
                "port",
                format!("`{text}` is not a port: use a number from 1 to 65535."),
            );
            22
        }
    }
}

/// The host key policy: strict, accept-new or off.
fn read_policy(p: &Pairs, errors: &mut Errors) -> String {
    let policy = p.text("host_key_policy").unwrap_or("strict");
    if policy.parse::<HostKeyPolicy>().is_err()
        || !matches!(policy, "strict" | "accept-new" | "off")
    {
        errors.insert(
            "host_key_policy",
            format!("`{policy}` is not a host key policy: use strict, accept-new or off."),
        );
    }
    policy.to_owned()
}

/// A count field of the form: empty is 0.
fn count_field(p: &Pairs, name: &'static str, errors: &mut Errors) -> u32 {
    let text = p.text(name).unwrap_or("0");
    text.parse().unwrap_or_else(|_| {
        errors.insert(
            name,
            format!("`{text}` is not a whole number of 0 or more."),
        );
        0
    })
}

/// The connection options; those only superusers set are read for a superuser, and
/// refused (said above the form) when another user gives one.
fn read_options(p: &Pairs, superuser: bool, errors: &mut Errors) -> HostOptions {
    let mut options = HostOptions {
        become_user: opt(p, "become_user"),
        keepalive_interval: count_field(p, "keepalive_interval", errors),
        keepalive_count_max: count_field(p, "keepalive_count_max", errors),
        ..Default::default()
    };
    if superuser {
        options.proxy_command = opt(p, "proxy_command");
        options.forward_agent = ticked(p, "forward_agent");
        options.environment = Lines::parse(p.text("environment").unwrap_or_default());
        options.certificate_files = Lines::parse(p.text("certificate_files").unwrap_or_default());
        for entry in options.environment.iter() {
            if let Err(e) = minke_store::environment_entry(entry) {
                errors.insert("environment", sentence(&e));
                break;
            }
        }
    } else if let Some(name) = SUPERUSER_FIELDS.iter().find(|n| p.get(n).is_some()) {
        // Not a field of this user's form: said above the form.
        errors.insert(
            "form",
            format!(
                "Only superusers may set a host's proxy command, agent forwarding, environment or certificate files (`{name}` was given)."
            ),
        );
    }
    options
}
