//! Host groups: named sets of hosts in `minke_host_groups` and
//! `minke_host_group_members`.

use diesel::prelude::*;
use minke_core::HostId;
use serde::Serialize;

use crate::schema::{minke_host_group_members as mem, minke_host_groups as grp};
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
}
