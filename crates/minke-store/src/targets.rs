//! Narrowing a selection by what is known of its objects besides their fields: the
//! outcome of their latest session, and for Minke's hosts the groups they are in.
//! The admin's changelists, the API and the command line select through these.

use std::collections::BTreeSet;

use minke_core::Status;

use crate::{Conn, Error, Query, Result};

/// The name under which Minke's own host table is registered: host groups apply to it.
const HOST_MODEL: &str = "host";

/// Keeps in `query` only the objects of `model` whose latest session ended with
/// `status`.
pub fn narrow_to_last_status(
    conn: &mut Conn,
    model: &str,
    query: &mut Query,
    status: Status,
) -> Result<()> {
    let ids = crate::objects_with_last_status(conn, model, status)?;
    keep_only(query, ids);
    Ok(())
}

/// Keeps in `query` only the members of host group `group` (by id). Groups hold
/// Minke's own hosts: for another model it is an error that says so.
pub fn narrow_to_group(conn: &mut Conn, model: &str, query: &mut Query, group: i64) -> Result<()> {
    if model != HOST_MODEL {
        return Err(Error::BadQuery(format!(
            "model `{model}` has no host groups: a group selects hosts"
        )));
    }
    crate::get_group(conn, group)?;
    let members = crate::group_members(conn, group)?;
    keep_only(query, members.into_iter().map(i64::from));
    Ok(())
}

/// The id of the host group named `name`; an unknown name is an error naming it.
pub fn group_id(conn: &mut Conn, name: &str) -> Result<i64> {
    crate::group_named(conn, name)?
        .ok_or_else(|| Error::BadQuery(format!("no host group named `{name}`")))
}

/// Intersects the ids a query keeps with `ids` (sets them when it kept all).
fn keep_only(query: &mut Query, ids: impl IntoIterator<Item = i64>) {
    let ids: BTreeSet<i64> = ids.into_iter().collect();
    query.ids = Some(match query.ids.take() {
        Some(kept) => kept.into_iter().filter(|i| ids.contains(i)).collect(),
        None => ids.into_iter().collect(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_intersects_what_was_kept() {
        let mut q = Query::all();
        keep_only(&mut q, [3, 1, 2]);
        assert_eq!(q.ids.as_deref(), Some(&[1, 2, 3][..]));
        keep_only(&mut q, [2, 3, 9]);
        assert_eq!(q.ids.as_deref(), Some(&[2, 3][..]));
        keep_only(&mut q, []);
        assert_eq!(q.ids.as_deref(), Some(&[][..]));
    }
}
