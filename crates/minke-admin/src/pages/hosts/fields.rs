//! The host form's fields as the template shows them: inputs by kind, values as
//! typed or stored, each with its problem. The jump host is a name with the
//! relation's search beside it, never a menu of every host.

use crate::pages::Choice;

use super::form::{HostForm, JUMP};

/// A field of the host form, as the template shows it.
pub(super) struct HostField {
    pub(super) name: &'static str,
    pub(super) label: &'static str,
    /// What was typed or stored (a text input or area).
    pub(super) value: String,
    pub(super) input: Input,
    pub(super) help: &'static str,
    pub(super) error: Option<String>,
}

/// How a field of the host form is entered.
pub(super) enum Input {
    /// One line of text.
    Text,
    /// One entry per line.
    Lines,
    /// A menu of choices.
    Menu(Vec<Choice>),
    /// A box to tick, ticked or not.
    Check(bool),
    /// A host's name, typed (enough without JavaScript) or picked from the hosts the
    /// relation's search finds at this address as it is typed.
    HostName(String),
}

impl HostField {
    /// A text input.
    fn text(
        name: &'static str,
        label: &'static str,
        value: impl Into<String>,
        help: &'static str,
    ) -> HostField {
        HostField {
            name,
            label,
            value: value.into(),
            input: Input::Text,
            help,
            error: None,
        }
    }

    /// A text area, one entry per line.
    fn lines(
        name: &'static str,
        label: &'static str,
        value: &minke_core::Lines,
        help: &'static str,
    ) -> HostField {
        HostField {
            input: Input::Lines,
            ..HostField::text(name, label, value.as_text(), help)
        }
    }

    /// A box to tick.
    fn check(name: &'static str, label: &'static str, on: bool, help: &'static str) -> HostField {
        HostField {
            input: Input::Check(on),
            ..HostField::text(name, label, "", help)
        }
    }

    /// A menu.
    fn menu(
        name: &'static str,
        label: &'static str,
        choices: Vec<Choice>,
        help: &'static str,
    ) -> HostField {
        HostField {
            input: Input::Menu(choices),
            ..HostField::text(name, label, "", help)
        }
    }

    /// A host's name, searched at `choices` as it is typed.
    fn host_name(
        name: &'static str,
        label: &'static str,
        value: &str,
        choices: String,
        help: &'static str,
    ) -> HostField {
        HostField {
            input: Input::HostName(choices),
            ..HostField::text(name, label, value, help)
        }
    }
}

/// The host key policies offered: value and label.
const POLICIES: [(&str, &str); 3] = [
    ("strict", "strict: must be known"),
    ("accept-new", "accept-new: learn unknown keys"),
    ("off", "off: accept any key"),
];

/// The host form's fields in order, each with its problem; `choices` is where the
/// jump host's search asks for hosts.
pub(super) fn host_fields(form: &HostForm, choices: String, superuser: bool) -> Vec<HostField> {
    let mut fields = connection_fields(form, choices);
    if superuser {
        fields.extend(superuser_fields(form));
    }
    for f in &mut fields {
        f.error = form.errors.get(f.name).cloned();
    }
    fields
}

/// The fields every user who may change a host sets.
fn connection_fields(form: &HostForm, choices: String) -> Vec<HostField> {
    let h = &form.host;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        HostField::text("name", "Name", &h.name, "unique, like an ssh_config alias"),
        HostField::text(
            "hostname",
            "Address",
            text(&h.hostname),
            "the name is used when empty",
        ),
        HostField::text("port", "Port", &form.port_text, "1 to 65535"),
        HostField::text(
            "username",
            "User",
            text(&h.username),
            "the local user when empty",
        ),
        HostField::lines(
            "identity_files",
            "Identity files",
            &h.identity_files,
            "private key files on this machine, one per line, tried in order",
        ),
        HostField::menu(
            "host_key_policy",
            "Host keys",
            Choice::menu(POLICIES, &h.host_key_policy),
            "",
        ),
        HostField::text(
            "known_hosts",
            "known_hosts file",
            text(&h.known_hosts),
            "~/.ssh/known_hosts when empty",
        ),
        HostField::host_name(
            JUMP,
            "Jump host",
            &form.jump,
            choices,
            "the name of the host to connect through (ProxyJump); none when empty",
        ),
        HostField::text(
            "become_user",
            "Become user",
            text(&h.options.become_user),
            "the user sudo runs `become` commands as; root when empty",
        ),
        HostField::text(
            "keepalive_interval",
            "Keepalive every (s)",
            h.options.keepalive_interval.to_string(),
            "ServerAliveInterval: 0 uses the engine's setting",
        ),
        HostField::text(
            "keepalive_count_max",
            "Keepalives unanswered",
            h.options.keepalive_count_max.to_string(),
            "ServerAliveCountMax: lost after this many (0: 3)",
        ),
        HostField::check(
            "jump_only",
            "Jump host only",
            h.jump_only,
            "listed, never selected by \"all\"",
        ),
        HostField::text("comment", "Comment", text(&h.comment), ""),
    ]
}

/// The fields that act on the serving machine: only superusers see and set them.
fn superuser_fields(form: &HostForm) -> [HostField; 4] {
    let o = &form.host.options;
    [
        HostField::lines(
            "certificate_files",
            "Certificate files",
            &o.certificate_files,
            "OpenSSH user certificates on this machine, one per line",
        ),
        HostField::text(
            "proxy_command",
            "Proxy command",
            o.proxy_command.clone().unwrap_or_default(),
            "run here by sh -c, its stdio carries the connection (%h %p %r %n); excludes a jump host",
        ),
        HostField::check(
            "forward_agent",
            "Forward agent",
            o.forward_agent,
            "the host's commands may use this machine's ssh-agent",
        ),
        HostField::lines(
            "environment",
            "Environment",
            &o.environment,
            "NAME=value per line (SetEnv; the server's AcceptEnv decides)",
        ),
    ]
}
