//! Narrowing a selection by what is known of its objects besides their fields: the
//! outcome of their latest session, and for Minke's hosts the groups they are in.
//! The admin's changelists, the API and the command line select through these.

use minke_core::Status;

use crate::{Conn, Error, Query, Result};

/// The name under which Minke's own host table is registered: host groups apply to it.
const HOST_MODEL: &str = "host";

/// Keeps in `query` only the objects whose latest session ended with `status`: the
/// database selects them when the query runs (asked for two different statuses,
/// nothing is left).
pub fn narrow_to_last_status(query: &mut Query, status: Status) {
    match query.last_status {
        Some(other) if other != status => query.ids = Some(Vec::new()),
        _ => query.last_status = Some(status),
    }
}

/// Keeps in `query` only the members of host group `group` (by id), as a condition
/// the database evaluates ([`Query::in_groups`]). Groups hold Minke's own hosts: for
/// another model it is an error that says so.
pub fn narrow_to_group(conn: &mut Conn, model: &str, query: &mut Query, group: i64) -> Result<()> {
    if model != HOST_MODEL {
        return Err(Error::BadQuery(format!(
            "model `{model}` has no host groups: a group selects hosts"
        )));
    }
    crate::get_group(conn, group)?;
    if !query.in_groups.contains(&group) {
        query.in_groups.push(group);
    }
    Ok(())
}

/// Refuses a query that names host groups, for a model that is not Minke's host
/// table (groups hold only its hosts).
pub fn no_groups(model: &str, query: &Query) -> Result<()> {
    if query.in_groups.is_empty() {
        return Ok(());
    }
    Err(Error::BadQuery(format!(
        "model `{model}` has no host groups: a group selects hosts"
    )))
}

/// The id of the host group named `name`; an unknown name is an error naming it.
pub fn group_id(conn: &mut Conn, name: &str) -> Result<i64> {
    crate::group_named(conn, name)?
        .ok_or_else(|| Error::BadQuery(format!("no host group named `{name}`")))
}

/// What a selection names besides the model's fields: a host group (by name) and the
/// outcome of each object's latest session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    /// Members of the host group of this name.
    pub group: Option<String>,
    /// Objects whose latest session ended so.
    pub last_status: Option<Status>,
}

impl Targets {
    /// True when it names nothing.
    pub fn is_empty(&self) -> bool {
        self.group.is_none() && self.last_status.is_none()
    }
}

/// Takes `group = NAME` and `last_status = STATUS` out of a query's conditions (when
/// the model has no field of that name), for [`narrow`]: a filter expression may name
/// them like fields. Only `=` applies to them; a term given twice is an error.
pub fn take_targets(model: &minke_core::ModelMeta, query: &mut Query) -> Result<Targets> {
    let mut targets = Targets::default();
    let mut kept = Vec::with_capacity(query.conditions.len());
    for c in std::mem::take(&mut query.conditions) {
        let name = c.field.as_str();
        if !matches!(name, "group" | "last_status") || model.field(name).is_some() {
            kept.push(c);
            continue;
        }
        if c.op != crate::Op::Eq {
            return Err(Error::BadQuery(format!(
                "`{name}` takes `=` only, as in `{name} = {}`",
                c.value
            )));
        }
        let twice = || Error::BadQuery(format!("`{name}` is given twice"));
        if name == "group" {
            if targets.group.replace(c.value).is_some() {
                return Err(twice());
            }
        } else {
            let status = parse_last_status(&c.value)?;
            if targets.last_status.replace(status).is_some() {
                return Err(twice());
            }
        }
    }
    query.conditions = kept;
    Ok(targets)
}

/// A last status as given by people: `success`, `warning` or `error`; anything else
/// is an error that says so.
pub fn parse_last_status(s: &str) -> Result<Status> {
    s.parse().map_err(|_| {
        Error::BadQuery(format!(
            "`last_status` must be success, warning or error, not `{s}`"
        ))
    })
}

/// Narrows `query` to what `targets` names ([`narrow_to_group`] by the group's name,
/// [`narrow_to_last_status`]).
pub fn narrow(conn: &mut Conn, model: &str, query: &mut Query, targets: &Targets) -> Result<()> {
    if let Some(name) = &targets.group {
        let id = group_id(conn, name)?;
        narrow_to_group(conn, model, query, id)?;
    }
    if let Some(status) = targets.last_status {
        narrow_to_last_status(query, status);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_last_status_come_out_of_a_filter_unless_the_model_has_them() {
        let meta = minke_core::ModelMeta {
            name: "server",
            verbose_name: "server".into(),
            fields: vec![],
            id: "id",
            table: "servers",
            label: "name",
            list: vec![],
            search: vec![],
            filter: vec![],
            ..Default::default()
        };
        let mut q = Query::filter("group = edge and last_status = error").unwrap();
        let t = take_targets(&meta, &mut q).unwrap();
        assert!(q.conditions.is_empty());
        assert_eq!(t.group.as_deref(), Some("edge"));
        assert_eq!(t.last_status, Some(Status::Error));
        for (bad, says) in [
            ("group != edge", "takes `=` only"),
            ("last_status = fine", "not `fine`"),
            ("group = a and group = b", "given twice"),
        ] {
            let e = take_targets(&meta, &mut Query::filter(bad).unwrap()).unwrap_err();
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }
}
