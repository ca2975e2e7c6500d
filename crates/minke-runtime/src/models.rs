//! The models an app knows, usable without their types.

use minke_core::{Host, HostId, HostTarget, ModelMeta, ModelObject};
use minke_store::{Conn, FieldValues, Query, StoredModel};

use crate::{Error, Result};

type LoadFn = fn(&mut Conn, &Query) -> minke_store::Result<Vec<Box<dyn ModelObject>>>;
type CountFn = fn(&mut Conn, &Query) -> minke_store::Result<i64>;
type HostIdFn = fn(&dyn ModelObject, &mut Conn) -> minke_store::Result<HostId>;
type SaveFn = fn(&dyn ModelObject, &mut Conn, &[&str]) -> minke_store::Result<()>;
type InsertFn = fn(&mut Conn, &FieldValues) -> minke_store::Result<i64>;
type UpdateFn = fn(&mut Conn, i64, &FieldValues) -> minke_store::Result<()>;
type DeleteFn = fn(&mut Conn, &[i64]) -> minke_store::Result<usize>;
type TargetsFn = fn(&mut Conn, &[HostId]) -> minke_store::Result<Vec<(HostTarget, Option<HostId>)>>;

/// How many jump hosts may stand in a row before a host (a loop is an error).
const MAX_JUMPS: usize = 8;

/// A registered model: its metadata and how to load, resolve and save its objects.
#[derive(Clone)]
pub struct ModelEntry {
    /// Everything known about the model.
    pub meta: ModelMeta,
    load: LoadFn,
    count: CountFn,
    host_id: HostIdFn,
    save: SaveFn,
    insert: InsertFn,
    update: UpdateFn,
    delete: DeleteFn,
}

fn downcast<T: 'static>(o: &dyn ModelObject) -> minke_store::Result<&T> {
    o.as_any().downcast_ref::<T>().ok_or_else(|| {
        minke_store::Error::Core(minke_core::Error::Setup(format!(
            "object of model `{}` has another type",
            o.model_name()
        )))
    })
}

impl ModelEntry {
    /// The entry of model `T`.
    pub fn of<T: StoredModel>() -> Self {
        ModelEntry {
            meta: T::meta(),
            load: |c, q| {
                Ok(T::load(c, q)?
                    .into_iter()
                    .map(|o| Box::new(o) as Box<dyn ModelObject>)
                    .collect())
            },
            count: |c, q| T::count(c, q),
            host_id: |o, c| downcast::<T>(o)?.host_id(c),
            save: |o, c, f| downcast::<T>(o)?.save_fields(c, f),
            insert: T::insert,
            update: T::update,
            delete: T::delete,
        }
    }

    /// Adds an object with these values (checked first) and returns its id.
    pub fn insert(&self, conn: &mut Conn, values: &FieldValues) -> minke_store::Result<i64> {
        (self.insert)(conn, values)
    }

    /// Writes the given values to object `id` (checked first).
    pub fn update(
        &self,
        conn: &mut Conn,
        id: i64,
        values: &FieldValues,
    ) -> minke_store::Result<()> {
        (self.update)(conn, id, values)
    }

    /// Deletes the objects of these ids, nothing else.
    pub fn delete(&self, conn: &mut Conn, ids: &[i64]) -> minke_store::Result<usize> {
        (self.delete)(conn, ids)
    }

    /// Loads the objects a query selects.
    pub fn load(
        &self,
        conn: &mut Conn,
        query: &Query,
    ) -> minke_store::Result<Vec<Box<dyn ModelObject>>> {
        (self.load)(conn, query)
    }

    /// The object of that id, if there is one.
    pub fn find(
        &self,
        conn: &mut Conn,
        id: i64,
    ) -> minke_store::Result<Option<Box<dyn ModelObject>>> {
        Ok((self.load)(conn, &Query::ids([id]))?.pop())
    }

    /// The query a run's selection makes of `query`: for Minke's hosts, without the
    /// hosts that are only jump hosts unless the query names ids or groups or says
    /// something of `jump_only` ("all hosts" means the hosts to work on). Other models' queries
    /// are left as they are.
    pub fn targets(&self, query: &Query) -> Query {
        use minke_core::MinkeModel as _;
        let mut query = query.clone();
        if self.meta.name == minke_store::HostRecord::NAME
            && query.ids.is_none()
            && query.in_groups.is_empty()
            && !query.conditions.iter().any(|c| c.field == "jump_only")
        {
            query.conditions.push(minke_store::Condition {
                field: "jump_only".into(),
                op: minke_store::Op::Eq,
                value: "false".into(),
            });
        }
        query
    }

    /// Counts the objects a query selects (by last status alone: from the latest
    /// sessions, when the model's table keeps them exact).
    pub fn count(&self, conn: &mut Conn, query: &Query) -> minke_store::Result<i64> {
        if let Some(n) =
            minke_store::count_by_last_status(conn, self.meta.name, self.meta.table, query)?
        {
            return Ok(n);
        }
        (self.count)(conn, query)
    }

    /// The host id an object reaches.
    pub fn host_id(
        &self,
        object: &dyn ModelObject,
        conn: &mut Conn,
    ) -> minke_store::Result<HostId> {
        (self.host_id)(object, conn)
    }

    /// Saves the named fields of an object.
    pub fn save(
        &self,
        object: &dyn ModelObject,
        conn: &mut Conn,
        fields: &[&str],
    ) -> minke_store::Result<()> {
        (self.save)(object, conn, fields)
    }
}

impl std::fmt::Debug for ModelEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelEntry")
            .field("name", &self.meta.name)
            .finish_non_exhaustive()
    }
}

/// The host model of an app: how host ids become connection targets.
#[derive(Clone, Copy)]
pub struct HostSource {
    /// The host model's name.
    pub model: &'static str,
    targets: TargetsFn,
}

impl HostSource {
    /// Hosts come from model `T`.
    pub fn of<T: StoredModel + Host>() -> Self {
        HostSource {
            model: T::NAME,
            targets: |c, ids| {
                Ok(T::load(c, &Query::ids(ids.iter().map(|h| h.get())))?
                    .iter()
                    .map(|h| (h.target(), h.jump_host_id()))
                    .collect())
            },
        }
    }

    fn load(
        &self,
        conn: &mut Conn,
        ids: &[HostId],
    ) -> minke_store::Result<Vec<(HostTarget, Option<HostId>)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            out.extend((self.targets)(conn, chunk)?);
        }
        Ok(out)
    }

    /// The targets of the given host ids (unknown ids are left out), each with its
    /// chain of jump hosts resolved. A missing jump host or a loop is an error naming
    /// the host.
    pub fn targets(&self, conn: &mut Conn, ids: &[HostId]) -> minke_store::Result<Vec<HostTarget>> {
        use std::collections::BTreeMap;
        let loaded = self.load(conn, ids)?;
        // Every host on any jump chain, by id, with its own jump host id.
        let mut known: BTreeMap<HostId, (HostTarget, Option<HostId>)> = loaded
            .iter()
            .map(|(t, j)| (t.id, (t.clone(), *j)))
            .collect();
        let mut wanted: Vec<HostId> = loaded
            .iter()
            .filter_map(|(_, j)| *j)
            .filter(|j| !known.contains_key(j))
            .collect();
        for _ in 0..MAX_JUMPS {
            wanted.sort_unstable();
            wanted.dedup();
            if wanted.is_empty() {
                break;
            }
            let more = self.load(conn, &wanted)?;
            wanted.clear();
            for (t, j) in more {
                if let Some(j) = j.filter(|j| !known.contains_key(j)) {
                    wanted.push(j);
                }
                known.insert(t.id, (t, j));
            }
        }
        let setup = |msg: String| minke_store::Error::Core(minke_core::Error::Setup(msg));
        let mut out = Vec::with_capacity(loaded.len());
        for (mut target, jump) in loaded {
            let mut chain = Vec::new();
            let mut next = jump;
            while let Some(j) = next {
                if chain.len() >= MAX_JUMPS || chain.contains(&j) || j == target.id {
                    return Err(setup(format!(
                        "host `{}`: its jump hosts form a loop or a chain longer than {MAX_JUMPS}",
                        target.name
                    )));
                }
                chain.push(j);
                next = known
                    .get(&j)
                    .ok_or_else(|| {
                        setup(format!(
                            "host `{}`: jump host {j} does not exist",
                            target.name
                        ))
                    })?
                    .1;
            }
            // Nest from the outermost jump host inwards.
            let mut via: Option<Box<HostTarget>> = None;
            for j in chain.iter().rev() {
                let mut t = known[j].0.clone();
                t.jump = via.take();
                via = Some(Box::new(t));
            }
            target.jump = via;
            out.push(target);
        }
        Ok(out)
    }
}

impl std::fmt::Debug for HostSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSource")
            .field("model", &self.model)
            .finish()
    }
}

/// The models of an app, by name.
#[derive(Clone, Debug, Default)]
pub struct Models {
    entries: Vec<ModelEntry>,
}

impl Models {
    /// Registers model `T`; a second model of the same name is an error.
    pub fn add<T: StoredModel>(&mut self) -> Result<()> {
        if self.entries.iter().any(|e| e.meta.name == T::NAME) {
            return Err(Error::Core(minke_core::Error::Setup(format!(
                "model `{}` is registered twice",
                T::NAME
            ))));
        }
        self.entries.push(ModelEntry::of::<T>());
        Ok(())
    }

    /// The model of that name.
    pub fn get(&self, name: &str) -> Result<&ModelEntry> {
        self.entries
            .iter()
            .find(|e| e.meta.name == name)
            .ok_or_else(|| Error::UnknownModel {
                name: name.to_owned(),
                known: self
                    .entries
                    .iter()
                    .map(|e| e.meta.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// All models, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &ModelEntry> {
        self.entries.iter()
    }
}
