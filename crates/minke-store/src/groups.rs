//! Host groups: named sets of hosts in `minke_host_groups` and
//! `minke_host_group_members`. Besides whole lists for small sets, groups and their
//! members are read a page at a time and counted by the database, so that a group of
//! a million hosts is never loaded to be shown.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use minke_core::HostId;
use serde::Serialize;

use crate::schema::{minke_host_group_members as mem, minke_host_groups as grp, minke_hosts as h};
use crate::{Conn, Error, Result, with_conn};

/// A group of hosts.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = grp)]
pub struct HostGroupRecord {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub comment: Option<String>,
}

fn check_group_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::BadQuery("a host group needs a name".into()));
    }
    Ok(())
}

/// All groups, by name.
pub fn list_groups(conn: &mut Conn) -> Result<Vec<HostGroupRecord>> {
    with_conn!(conn, |c, B| grp::table
        .order(grp::name.asc())
        .select(HostGroupRecord::as_select())
        .load(c)
        .map_err(Error::query("listing host groups")))
}

/// One group.
pub fn get_group(conn: &mut Conn, id: i64) -> Result<HostGroupRecord> {
    with_conn!(conn, |c, B| grp::table
        .find(id)
        .select(HostGroupRecord::as_select())
        .first(c)
        .optional()
        .map_err(Error::query(format!("loading host group {id}"))))?
    .ok_or(Error::NotFound {
        model: "host group".into(),
        id,
    })
}

/// The id of the host group of that name.
pub fn group_named(conn: &mut Conn, name: &str) -> Result<Option<i64>> {
    with_conn!(conn, |c, B| grp::table
        .filter(grp::name.eq(name))
        .select(grp::id)
        .first(c)
        .optional()
        .map_err(Error::query("looking up a host group")))
}

/// Adds a group; a taken or empty name is an error. Returns its id.
pub fn create_group(conn: &mut Conn, name: &str, comment: Option<&str>) -> Result<i64> {
    check_group_name(name)?;
    if group_named(conn, name)?.is_some() {
        return Err(Error::BadQuery(format!(
            "host group `{name}` exists already"
        )));
    }
    with_conn!(conn, |c, B| diesel::insert_into(grp::table)
        .values((grp::name.eq(name), grp::comment.eq(comment)))
        .returning(grp::id)
        .get_result(c)
        .map_err(Error::query(format!("adding host group `{name}`"))))
}

/// Renames a group or changes its comment.
pub fn update_group(conn: &mut Conn, id: i64, name: &str, comment: Option<&str>) -> Result<()> {
    check_group_name(name)?;
    get_group(conn, id)?;
    if group_named(conn, name)?.is_some_and(|other| other != id) {
        return Err(Error::BadQuery(format!(
            "host group `{name}` exists already"
        )));
    }
    with_conn!(conn, |c, B| diesel::update(grp::table.find(id))
        .set((grp::name.eq(name), grp::comment.eq(comment)))
        .execute(c)
        .map(drop)
        .map_err(Error::query(format!("changing host group {id}"))))
}

/// Deletes a group (its hosts stay).
pub fn delete_group(conn: &mut Conn, id: i64) -> Result<()> {
    with_conn!(conn, |c, B| {
        diesel::delete(mem::table.filter(mem::group_id.eq(id)))
            .execute(c)
            .map_err(Error::query(format!("emptying host group {id}")))?;
        diesel::delete(grp::table.find(id))
            .execute(c)
            .map(drop)
            .map_err(Error::query(format!("deleting host group {id}")))
    })
}

/// The ids of a group's hosts, sorted.
pub fn group_members(conn: &mut Conn, group_id: i64) -> Result<Vec<HostId>> {
    with_conn!(conn, |c, B| mem::table
        .filter(mem::group_id.eq(group_id))
        .order(mem::host_id.asc())
        .select(mem::host_id)
        .load(c)
        .map_err(Error::query(format!(
            "loading the hosts of group {group_id}"
        ))))
}

/// Makes exactly these hosts the members of a group.
pub fn set_group_members(conn: &mut Conn, group_id: i64, host_ids: &[HostId]) -> Result<()> {
    with_conn!(conn, |c, B| {
        diesel::delete(mem::table.filter(mem::group_id.eq(group_id)))
            .execute(c)
            .map_err(Error::query(format!("emptying host group {group_id}")))?;
        for chunk in host_ids.chunks(1000) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|h| (mem::host_id.eq(*h), mem::group_id.eq(group_id)))
                .collect();
            diesel::insert_into(mem::table)
                .values(rows)
                .on_conflict_do_nothing()
                .execute(c)
                .map_err(Error::query(format!("filling host group {group_id}")))?;
        }
        Ok(())
    })
}

/// Makes a host a member of exactly these groups.
pub fn set_host_groups(conn: &mut Conn, host_id: HostId, group_ids: &[i64]) -> Result<()> {
    with_conn!(conn, |c, B| {
        diesel::delete(mem::table.filter(mem::host_id.eq(host_id)))
            .execute(c)
            .map_err(Error::query(format!(
                "leaving the groups of host {host_id}"
            )))?;
        let rows: Vec<_> = group_ids
            .iter()
            .map(|g| (mem::host_id.eq(host_id), mem::group_id.eq(*g)))
            .collect();
        diesel::insert_into(mem::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(c)
            .map(drop)
            .map_err(Error::query(format!("joining groups for host {host_id}")))
    })
}

/// `(host_id, group_id)` for every membership of the given hosts.
pub fn groups_of_hosts(conn: &mut Conn, host_ids: &[HostId]) -> Result<Vec<(HostId, i64)>> {
    let mut out = Vec::new();
    for chunk in host_ids.chunks(1000) {
        let rows: Vec<(HostId, i64)> = with_conn!(&mut *conn, |c, B| mem::table
            .filter(mem::host_id.eq_any(chunk))
            .order((mem::host_id.asc(), mem::group_id.asc()))
            .select((mem::host_id, mem::group_id))
            .load(c)
            .map_err(Error::query("loading host group memberships")))?;
        out.extend(rows);
    }
    Ok(out)
}

/// A host by id and name: a member of a group, or a host found by its name.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Serialize)]
pub struct NamedHost {
    /// Id.
    pub id: HostId,
    /// Unique name.
    pub name: String,
}

/// The hosts that names given by a user stand for: [`hosts_named`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostsNamed {
    /// The hosts found, in the order their names were given, each once.
    pub found: Vec<NamedHost>,
    /// The names no host has, in the order given, each once.
    pub unknown: Vec<String>,
}

/// How many names or ids one statement looks up at most.
const PER_STATEMENT: usize = 1000;

/// A page of groups by name: `limit` from `offset`.
pub fn list_groups_page(conn: &mut Conn, offset: i64, limit: i64) -> Result<Vec<HostGroupRecord>> {
    with_conn!(conn, |c, B| grp::table
        .order(grp::name.asc())
        .select(HostGroupRecord::as_select())
        .limit(limit)
        .offset(offset)
        .load(c)
        .map_err(Error::query("listing host groups")))
}

/// How many groups there are.
pub fn count_groups(conn: &mut Conn) -> Result<i64> {
    with_conn!(conn, |c, B| grp::table
        .count()
        .get_result(c)
        .map_err(Error::query("counting host groups")))
}

/// How many hosts each of `group_ids` has, counted by the database (its members are
/// never loaded): `(group id, count)` in the order given, 0 for an empty or unknown
/// group.
pub fn group_member_counts(conn: &mut Conn, group_ids: &[i64]) -> Result<Vec<(i64, i64)>> {
    let mut counted: BTreeMap<i64, i64> = BTreeMap::new();
    for chunk in group_ids.chunks(PER_STATEMENT) {
        let rows: Vec<(i64, i64)> = with_conn!(&mut *conn, |c, B| mem::table
            .filter(mem::group_id.eq_any(chunk))
            .group_by(mem::group_id)
            .select((mem::group_id, diesel::dsl::count_star()))
            .load(c)
            .map_err(Error::query("counting the hosts of host groups")))?;
        counted.extend(rows);
    }
    Ok(group_ids
        .iter()
        .map(|g| (*g, counted.get(g).copied().unwrap_or(0)))
        .collect())
}

/// A page of a group's hosts in order of host id (the order they were added to
/// Minke): `limit` from `offset`, read from an index however big the group is.
pub fn group_member_page(
    conn: &mut Conn,
    group_id: i64,
    offset: i64,
    limit: i64,
) -> Result<Vec<NamedHost>> {
    // The page's ids first, from the index alone (the rows skipped are never joined),
    // then their names.
    let ids: Vec<HostId> = with_conn!(&mut *conn, |c, B| mem::table
        .filter(mem::group_id.eq(group_id))
        .order(mem::host_id.asc())
        .select(mem::host_id)
        .limit(limit)
        .offset(offset)
        .load(c)
        .map_err(Error::query(format!(
            "loading a page of the hosts of group {group_id}"
        ))))?;
    let mut page = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(PER_STATEMENT) {
        let named: Vec<NamedHost> = with_conn!(&mut *conn, |c, B| h::table
            .filter(h::id.eq_any(chunk))
            .order(h::id.asc())
            .select((h::id, h::name))
            .load(c)
            .map_err(Error::query(format!(
                "naming a page of the hosts of group {group_id}"
            ))))?;
        page.extend(named);
    }
    Ok(page)
}

/// The hosts of these names (exact names, as [`host_named`](crate::host_named) finds
/// one), and the names no host has. Blank names are skipped, and a name given twice
/// counts once.
pub fn hosts_named(conn: &mut Conn, names: &[String]) -> Result<HostsNamed> {
    let mut seen = BTreeSet::new();
    let wanted: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !n.trim().is_empty() && seen.insert(*n))
        .collect();
    let mut ids: BTreeMap<String, HostId> = BTreeMap::new();
    for chunk in wanted.chunks(PER_STATEMENT) {
        let rows: Vec<(HostId, String)> = with_conn!(&mut *conn, |c, B| h::table
            .filter(h::name.eq_any(chunk))
            .select((h::id, h::name))
            .load(c)
            .map_err(Error::query("looking up hosts by name")))?;
        ids.extend(rows.into_iter().map(|(id, name)| (name, id)));
    }
    let mut out = HostsNamed::default();
    for name in wanted {
        match ids.get(name) {
            Some(id) => out.found.push(NamedHost {
                id: *id,
                name: name.to_owned(),
            }),
            None => out.unknown.push(name.to_owned()),
        }
    }
    Ok(out)
}

/// Makes these hosts members of a group too; a host that is one already stays one
/// (never twice). Returns the hosts that joined, in the order given.
pub fn add_group_members(
    conn: &mut Conn,
    group_id: i64,
    host_ids: &[HostId],
) -> Result<Vec<HostId>> {
    let mut seen = BTreeSet::new();
    let mut joined = Vec::new();
    for chunk in host_ids.chunks(PER_STATEMENT) {
        let members: BTreeSet<HostId> = with_conn!(&mut *conn, |c, B| mem::table
            .filter(mem::group_id.eq(group_id))
            .filter(mem::host_id.eq_any(chunk))
            .select(mem::host_id)
            .load::<HostId>(c)
            .map_err(Error::query(format!(
                "looking for members of host group {group_id}"
            ))))?
        .into_iter()
        .collect();
        let new: Vec<HostId> = chunk
            .iter()
            .copied()
            .filter(|h| !members.contains(h) && seen.insert(*h))
            .collect();
        if new.is_empty() {
            continue;
        }
        let rows: Vec<_> = new
            .iter()
            .map(|h| (mem::host_id.eq(*h), mem::group_id.eq(group_id)))
            .collect();
        with_conn!(&mut *conn, |c, B| diesel::insert_into(mem::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(c)
            .map_err(Error::query(format!(
                "adding hosts to host group {group_id}"
            ))))?;
        joined.extend(new);
    }
    Ok(joined)
}

/// Takes these hosts out of a group (the hosts stay). Returns those that were
/// members, by id.
pub fn remove_group_members(
    conn: &mut Conn,
    group_id: i64,
    host_ids: &[HostId],
) -> Result<Vec<NamedHost>> {
    let mut left = Vec::new();
    for chunk in host_ids.chunks(PER_STATEMENT) {
        let members: Vec<NamedHost> = with_conn!(&mut *conn, |c, B| mem::table
            .inner_join(h::table)
            .filter(mem::group_id.eq(group_id))
            .filter(mem::host_id.eq_any(chunk))
            .select((mem::host_id, h::name))
            .load(c)
            .map_err(Error::query(format!(
                "looking for members of host group {group_id}"
            ))))?;
        if members.is_empty() {
            continue;
        }
        let ids: Vec<HostId> = members.iter().map(|m| m.id).collect();
        with_conn!(&mut *conn, |c, B| diesel::delete(
            mem::table
                .filter(mem::group_id.eq(group_id))
                .filter(mem::host_id.eq_any(&ids))
        )
        .execute(c)
        .map_err(Error::query(format!(
            "taking hosts out of host group {group_id}"
        ))))?;
        left.extend(members);
    }
    left.sort_by_key(|m| m.id);
    left.dedup_by_key(|m| m.id);
    Ok(left)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{DatabaseUrl, NewHost, migrate, upsert_host};

    fn conn() -> Conn {
        let mut c = Conn::open(&DatabaseUrl::parse(":memory:").unwrap()).unwrap();
        migrate(&mut c).unwrap();
        c
    }

    #[test]
    fn groups_and_members() {
        let mut c = conn();
        let h1 = upsert_host(&mut c, &NewHost::new("a")).unwrap();
        let h2 = upsert_host(&mut c, &NewHost::new("b")).unwrap();
        let web = create_group(&mut c, "web", Some("front")).unwrap();
        let db = create_group(&mut c, "db", None).unwrap();
        assert!(create_group(&mut c, "web", None).is_err());
        assert!(create_group(&mut c, " ", None).is_err());
        let names: Vec<String> = list_groups(&mut c)
            .unwrap()
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(names, ["db", "web"]);

        set_group_members(&mut c, web, &[h2, h1, h1]).unwrap();
        assert_eq!(group_members(&mut c, web).unwrap(), [h1, h2]);
        set_host_groups(&mut c, h1, &[db]).unwrap();
        assert_eq!(group_members(&mut c, web).unwrap(), [h2]);
        assert_eq!(
            groups_of_hosts(&mut c, &[h1, h2]).unwrap(),
            [(h1, db), (h2, web)]
        );

        assert!(update_group(&mut c, db, "web", None).is_err());
        update_group(&mut c, db, "databases", Some("pg")).unwrap();
        assert_eq!(get_group(&mut c, db).unwrap().name, "databases");
        delete_group(&mut c, web).unwrap();
        assert!(get_group(&mut c, web).is_err());
        assert_eq!(groups_of_hosts(&mut c, &[h2]).unwrap(), []);
    }

    #[test]
    fn members_by_name_and_by_page() {
        let mut c = conn();
        let a = upsert_host(&mut c, &NewHost::new("a")).unwrap();
        let b = upsert_host(&mut c, &NewHost::new("b")).unwrap();
        let g = create_group(&mut c, "g", None).unwrap();
        let named = hosts_named(&mut c, &["b".into(), "x".into(), "a".into()]).unwrap();
        assert_eq!(named.unknown, ["x"]);
        let ids: Vec<HostId> = named.found.iter().map(|h| h.id).collect();
        assert_eq!(ids, [b, a]);
        assert_eq!(add_group_members(&mut c, g, &ids).unwrap(), [b, a]);
        assert_eq!(add_group_members(&mut c, g, &[a]).unwrap(), []);
        assert_eq!(group_member_counts(&mut c, &[g]).unwrap(), [(g, 2)]);
        let page = group_member_page(&mut c, g, 1, 5).unwrap();
        assert_eq!(
            page,
            [NamedHost {
                id: b,
                name: "b".into()
            }]
        );
        let left = remove_group_members(&mut c, g, &[a, a]).unwrap();
        assert_eq!(
            left,
            [NamedHost {
                id: a,
                name: "a".into()
            }]
        );
        assert_eq!(group_members(&mut c, g).unwrap(), [b]);
    }
}
