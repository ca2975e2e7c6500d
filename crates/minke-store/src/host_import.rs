//! Many hosts written at once (an ssh_config import): new ones inserted in batches,
//! existing ones (by name) updated, then the jump hosts set by position.

use std::collections::HashMap;

use diesel::prelude::*;
use minke_core::HostId;

use crate::schema::minke_hosts as h;
use crate::{Conn, Error, NewHost, Result, with_conn};

/// Rows per insert statement (13 values each, well under both databases' limits).
const ROWS_PER_INSERT: usize = 500;

/// Names per lookup statement.
const NAMES_PER_LOOKUP: usize = 5_000;

/// Writes `hosts` (each validated; a host of the same name is updated, never
/// duplicated) and gives each the jump host `jumps` names by its index in `hosts`.
/// Returns the hosts' ids in order. Meant to run in one transaction with the audit
/// entry (the store's writer does).
///
/// A jump host is set after every host is written, so a host may name one that
/// comes later; a host naming itself is an error.
pub fn import_hosts(
    conn: &mut Conn,
    hosts: &[NewHost],
    jumps: &[Option<usize>],
) -> Result<Vec<HostId>> {
    if jumps.len() != hosts.len() {
        return Err(Error::BadQuery(format!(
            "{} hosts but {} jump hosts",
            hosts.len(),
            jumps.len()
        )));
    }
    for host in hosts {
        host.validate()?;
    }
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let mut ids = ids_of(conn, &names)?;
    let (old, new): (Vec<&NewHost>, Vec<&NewHost>) =
        hosts.iter().partition(|h| ids.contains_key(&h.name));
    with_conn!(conn, |c, B| {
        for host in &old {
            let mut host = (*host).clone();
            host.jump_host_id = None;
            diesel::update(h::table.find(ids[&host.name]))
                .set(&host)
                .execute(c)
                .map_err(Error::query(format!("updating host `{}`", host.name)))?;
        }
        for chunk in new.chunks(ROWS_PER_INSERT) {
            let rows: Vec<NewHost> = chunk
                .iter()
                .map(|host| NewHost {
                    jump_host_id: None,
                    ..(*host).clone()
                })
                .collect();
            diesel::insert_into(h::table)
                .values(&rows)
                .execute(c)
                .map_err(Error::query(format!(
                    "adding {} hosts from `{}`",
                    rows.len(),
                    rows.first().map_or("", |r| r.name.as_str())
                )))?;
        }
        Ok::<_, Error>(())
    })?;
    let added: Vec<&str> = new.iter().map(|h| h.name.as_str()).collect();
    ids.extend(ids_of(conn, &added)?);
    let ordered: Vec<HostId> = hosts.iter().map(|h| ids[&h.name]).collect();
    with_conn!(conn, |c, B| {
        for (i, jump) in jumps.iter().enumerate() {
            let Some(j) = *jump else { continue };
            let target = ordered.get(j).copied().ok_or_else(|| {
                Error::BadQuery(format!("host `{}`: no jump host number {j}", hosts[i].name))
            })?;
            if j == i {
                return Err(Error::BadQuery(format!(
                    "host `{}` cannot be its own jump host",
                    hosts[i].name
                )));
            }
            diesel::update(h::table.find(ordered[i]))
                .set(h::jump_host_id.eq(target))
                .execute(c)
                .map_err(Error::query(format!(
                    "setting the jump host of `{}`",
                    hosts[i].name
                )))?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(ordered)
}

/// The ids of the hosts of these names that exist.
fn ids_of(conn: &mut Conn, names: &[&str]) -> Result<HashMap<String, HostId>> {
    let mut out = HashMap::with_capacity(names.len());
    for chunk in names.chunks(NAMES_PER_LOOKUP) {
        let found: Vec<(String, HostId)> = with_conn!(conn, |c, B| h::table
            .filter(h::name.eq_any(chunk))
            .select((h::name, h::id))
            .load(c)
            .map_err(Error::query("looking up hosts by name")))?;
        out.extend(found);
    }
    Ok(out)
}
