//! Cross-attribute rules: each derive's attributes checked against each other and
//! against the struct's fields, then resolved (defaults applied) into the definitions
//! of `ast`. Every problem is recorded in [`Errors`]; `None` means there were some.

use syn::ext::IdentExt;
use syn::{Ident, LitStr};

use crate::ast::{
    BreakState, Container, Field, HostDef, HostLink, Kind, ModelDef, ModelField, Param, SessionDef,
    TypeKind, valid_name,
};
use crate::attr::{
    Errors, HostAttr, HostAttrs, KindAttr, ModelAttrs, ModelFieldAttrs, SessionAttrs,
    SessionFieldAttrs,
};

fn field_names<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = fields.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The name given, else `default` (the snake_case type name), checked; errors point at
/// the text, else at the type's name.
fn checked_name(
    lit: Option<&LitStr>,
    cont: &Container<'_>,
    what: &str,
    errs: &mut Errors,
) -> String {
    let default = cont.snake_name();
    let name = lit.map_or(default, LitStr::value);
    if !valid_name(&name) {
        let msg = format!(
            "invalid {what} name `{name}`: use lower-case letters, digits, `_` and `-`, starting with a letter"
        );
        match lit {
            Some(lit) => errs.spanned(lit, msg),
            None => errs.spanned(cont.ident, format!("{msg}; set one with `name = \"...\"`")),
        }
    }
    name
}

/// The rules of `#[derive(MinkeModel)]`.
pub(crate) fn model<'a>(cont: &'a Container<'a>, errs: &mut Errors) -> Option<ModelDef<'a>> {
    let attrs = ModelAttrs::parse(cont.attrs, errs);
    let mut fields = Vec::new();
    let mut skipped = Vec::new();
    for f in &cont.fields {
        let fa = ModelFieldAttrs::parse(f.attrs, errs);
        if fa.skip {
            skipped.push(f.name.as_str());
            continue;
        }
        let mut choices = Vec::new();
        if let Some((at, values)) = fa.choices {
            if f.kind != TypeKind::Text && f.kind != TypeKind::Other {
                errs.spanned(
                    &at,
                    format!(
                        "`choices` needs a text field, but `{}` is {}",
                        f.name,
                        f.kind.describe()
                    ),
                );
            } else if values.is_empty() {
                errs.spanned(&at, "`choices(...)` needs at least one value");
            }
            choices = values;
        }
        fields.push(ModelField {
            field: f,
            column: fa.column.unwrap_or_else(|| f.ident.clone()),
            read_only: fa.read_only,
            choices,
        });
    }
    let known = field_names(fields.iter().map(|f| f.field.name.as_str()));
    let resolve = |ident: &Ident, errs: &mut Errors| -> Option<usize> {
        let name = ident.unraw().to_string();
        let found = fields.iter().position(|f| f.field.name == name);
        if found.is_none() {
            if skipped.contains(&name.as_str()) {
                errs.spanned(
                    ident,
                    format!("field `{name}` is `#[minke(skip)]`, so the model can't use it here"),
                );
            } else {
                errs.spanned(
                    ident,
                    format!(
                        "`{}` has no field `{name}`; its fields are {known}",
                        cont.ident
                    ),
                );
            }
        }
        found
    };
    let resolve_list = |list: &[Ident], errs: &mut Errors| -> Vec<usize> {
        list.iter().filter_map(|i| resolve(i, errs)).collect()
    };

    let given = |key: &str| attrs.given.iter().any(|k| k == key);
    let table = attrs.table.clone();
    if !given("table") {
        errs.spanned(
            cont.ident,
            "missing `table`: name the model's diesel table, as in `#[minke(table = servers)]`",
        );
    }
    let name = checked_name(attrs.name.as_ref(), cont, "model", errs);
    let verbose_name = attrs
        .verbose_name
        .as_ref()
        .map(LitStr::value)
        .or_else(|| cont.doc.summary())
        .unwrap_or_else(|| cont.words());

    let id = match &attrs.id {
        Some(i) => resolve(i, errs),
        None => {
            let found = fields.iter().position(|f| f.field.name == "id");
            if found.is_none() {
                errs.spanned(
                    cont.ident,
                    "this model has no `id` field: name its key with `#[minke(id = field)]`",
                );
            }
            found
        }
    };
    let label = match &attrs.label {
        Some(i) => resolve(i, errs),
        None => fields.iter().position(|f| f.field.name == "name").or(id),
    };
    let list = match &attrs.list {
        Some(l) => resolve_list(l, errs),
        None => (0..fields.len()).collect(),
    };
    let search = match &attrs.search {
        Some(l) => l
            .iter()
            .filter_map(|ident| {
                let i = resolve(ident, errs)?;
                let kind = fields[i].field.kind;
                if kind != TypeKind::Text && kind != TypeKind::Other {
                    errs.spanned(
                        ident,
                        format!(
                            "`search` needs text fields, but `{}` is {}",
                            fields[i].field.name,
                            kind.describe()
                        ),
                    );
                }
                Some(i)
            })
            .collect(),
        None => (0..fields.len())
            .filter(|&i| fields[i].field.kind == TypeKind::Text)
            .collect(),
    };
    let filter = match &attrs.filter {
        Some(l) => resolve_list(l, errs),
        None => (0..fields.len())
            .filter(|&i| fields[i].field.kind.filterable())
            .collect(),
    };
    let host = match &attrs.host {
        None if given("host") => None,
        None => {
            errs.spanned(
                cont.ident,
                "missing `host`: tell how the model reaches its host, with `#[minke(host = host_id)]` \
                 or `#[minke(host(via = server_id, model = Server))]`",
            );
            None
        }
        Some(HostAttr::Direct(f)) => resolve(f, errs).map(|i| HostLink::Direct(fields[i].field)),
        Some(HostAttr::Via { field, model }) => resolve(field, errs).map(|i| HostLink::Via {
            field: fields[i].field,
            model: model.clone(),
        }),
    };

    let names = |idx: Vec<usize>| {
        idx.into_iter()
            .map(|i| fields[i].field.name.clone())
            .collect::<Vec<_>>()
    };
    let (list, search, filter) = (names(list), names(search), names(filter));
    if let Some(index) = &attrs.search_index
        && search.is_empty()
    {
        errs.spanned(
            index,
            "`search_index` needs fields to search: this model searches none",
        );
    }
    let label = fields[label?].field.name.clone();
    Some(ModelDef {
        cont,
        table: table?,
        name,
        verbose_name,
        verbose_name_plural: attrs.verbose_name_plural.as_ref().map(LitStr::value),
        id: id?,
        label,
        list,
        search,
        filter,
        host: host?,
        read_only: attrs.read_only,
        cascade: attrs.cascade,
        search_index: attrs.search_index.as_ref().map(|i| i.unraw().to_string()),
        fields,
    })
}

/// The rules of `#[derive(Host)]`.
pub(crate) fn host<'a>(cont: &'a Container<'a>, errs: &mut Errors) -> Option<HostDef<'a>> {
    let attrs = HostAttrs::parse(cont.attrs, errs);
    let known = field_names(cont.fields.iter().map(|f| f.name.as_str()));
    let resolve = |ident: Option<Ident>, errs: &mut Errors| -> Option<&'a Field<'a>> {
        let ident = ident?;
        let found = cont.field(&ident);
        if found.is_none() {
            errs.spanned(
                &ident,
                format!(
                    "`{}` has no field `{}`; its fields are {known}",
                    cont.ident,
                    ident.unraw()
                ),
            );
        }
        found
    };
    let address = match attrs.address.clone() {
        Some(a) => resolve(Some(a), errs),
        None if attrs.key("address").is_some() => None,
        None => {
            errs.spanned(
                cont.ident,
                "missing `address`: name the field holding the host's address, as in `#[minke(address = hostname)]`",
            );
            None
        }
    };
    // Of `identity_file` and `identity_files`, the one written second is the mistake.
    if attrs.key("identity_file").is_some()
        && attrs.key("identity_files").is_some()
        && let Some(second) = attrs.keys.iter().rfind(|k| {
            let k = k.unraw();
            k == "identity_file" || k == "identity_files"
        })
    {
        errs.spanned(
            second,
            "give either `identity_file = field` (one path) or `identity_files = field` \
             (one path per line), not both",
        );
    }
    if let Some(count) = attrs.key("keepalive_count_max")
        && attrs.key("keepalive_interval").is_none()
    {
        errs.spanned(
            count,
            "`keepalive_count_max` needs `keepalive_interval = field`: without an interval \
             no keepalives are sent",
        );
    }
    let port = resolve(attrs.port, errs);
    let user = resolve(attrs.user, errs);
    let identity_file = resolve(attrs.identity_file, errs);
    let identity_files = resolve(attrs.identity_files, errs);
    let certificate_files = resolve(attrs.certificate_files, errs);
    let host_key_policy = resolve(attrs.host_key_policy, errs);
    let known_hosts = resolve(attrs.known_hosts, errs);
    let disabled = resolve(attrs.disabled, errs);
    let proxy_command = resolve(attrs.proxy_command, errs);
    let forward_agent = resolve(attrs.forward_agent, errs);
    let environment = resolve(attrs.environment, errs);
    let become_user = resolve(attrs.become_user, errs);
    let keepalive_interval = resolve(attrs.keepalive_interval, errs);
    let keepalive_count_max = resolve(attrs.keepalive_count_max, errs);
    let jump_host = resolve(attrs.jump_host.clone(), errs);
    if let (Some(ident), Some(f)) = (&attrs.jump_host, jump_host)
        && !matches!(f.kind, TypeKind::Integer | TypeKind::Other)
    {
        errs.spanned(
            ident,
            format!(
                "`jump_host` needs an integer field holding a host id (or `Option` of one), but `{}` is {}",
                f.name,
                f.kind.describe()
            ),
        );
    }
    Some(HostDef {
        port,
        user,
        identity_file,
        identity_files,
        certificate_files,
        host_key_policy,
        known_hosts,
        disabled,
        proxy_command,
        forward_agent,
        environment,
        become_user,
        keepalive: keepalive_interval.map(|i| (i, keepalive_count_max)),
        jump_host,
        address: address?,
        cont,
    })
}

/// The rules of `#[derive(Session)]`.
pub(crate) fn session<'a>(cont: &'a Container<'a>, errs: &mut Errors) -> Option<SessionDef<'a>> {
    let a = SessionAttrs::parse(cont.attrs, errs);

    let work_on = match a.work_on {
        None if a.given.iter().any(|k| k == "work_on") => None,
        None => {
            errs.spanned(
                cont.ident,
                "missing `work_on`: list the models the session works on, as in `#[minke(work_on(Server))]`",
            );
            None
        }
        Some((key, list)) if list.is_empty() => {
            errs.spanned(key, "`work_on()` needs at least one model");
            None
        }
        Some((_, list)) => Some(list),
    };

    let name = checked_name(a.name.as_ref(), cont, "session", errs);
    let summary = cont.doc.summary();
    let verbose_name = a
        .verbose_name
        .as_ref()
        .map(LitStr::value)
        .or_else(|| summary.clone())
        .unwrap_or_else(|| cont.words());
    let help = match (&a.help, &a.verbose_name) {
        (Some(h), _) => h.value(),
        (None, Some(_)) => cont.doc.text(),
        (None, None) => cont.doc.rest(),
    };

    let mut kind = Some(Kind::Manual);
    let mut kinds = a.kinds.into_iter();
    if let Some((key, k)) = kinds.next() {
        kind = match k {
            None => None,
            Some(KindAttr::Command(c)) => Some(Kind::Command(c)),
            Some(KindAttr::Commands(c)) if c.is_empty() => {
                errs.spanned(&key, "`commands()` needs at least one command");
                None
            }
            Some(KindAttr::Commands(c)) => Some(Kind::Commands(c)),
            Some(KindAttr::Chain(c)) if c.is_empty() => {
                errs.spanned(&key, "`chain()` needs at least one session");
                None
            }
            Some(KindAttr::Chain(c)) => Some(Kind::Chain(c)),
        };
        for (second, _) in kinds {
            errs.spanned(
                &second,
                format!("`{second}` conflicts with `{key}`: give one of `command`, `commands` and `chain`"),
            );
            kind = None;
        }
    }

    let mut break_on = vec![BreakState::Error];
    if let Some((key, states)) = a.break_on {
        if matches!(kind, Some(Kind::Manual | Kind::Command(_))) {
            errs.spanned(
                &key,
                "`break_on` applies only to `commands(...)` and `chain(...)`",
            );
        }
        break_on = states
            .iter()
            .filter_map(|s| {
                let found = BreakState::from_name(&s.unraw().to_string());
                if found.is_none() {
                    errs.spanned(
                        s,
                        format!("unknown state `{s}` in `break_on`; valid states are `success`, `warning`, `error`"),
                    );
                }
                found
            })
            .collect();
    }

    let mut params = Vec::new();
    let mut skipped = Vec::new();
    for f in &cont.fields {
        let fa = SessionFieldAttrs::parse(f.attrs, errs);
        if fa.skip.is_some() {
            skipped.push(f);
            continue;
        }
        params.push(Param {
            field: f,
            help: fa.help.as_ref().map_or_else(|| f.doc.text(), LitStr::value),
            default: fa.default,
            secret: fa.secret,
            multiline: fa.multiline,
        });
    }

    let run = format!("run_{name}");
    let mut permissions = vec![run.clone()];
    permissions.extend(
        a.permissions
            .iter()
            .map(LitStr::value)
            .filter(|p| *p != run),
    );

    Some(SessionDef {
        cont,
        name,
        verbose_name,
        help,
        group: a.group.as_ref().map(LitStr::value),
        work_on: work_on?,
        permissions,
        confirm: a.confirm,
        parallel_per_host: a.parallel_per_host,
        timeout: a.timeout,
        params,
        skipped,
        kind: kind?,
        break_on,
    })
}
