//! The models an app knows, usable without their types.

use minke_core::{Host, HostTarget, ModelMeta, ModelObject};
use minke_store::{Conn, Query, StoredModel};

use crate::{Error, Result};

type LoadFn = fn(&mut Conn, &Query) -> minke_store::Result<Vec<Box<dyn ModelObject>>>;
type CountFn = fn(&mut Conn, &Query) -> minke_store::Result<i64>;
type HostIdFn = fn(&dyn ModelObject, &mut Conn) -> minke_store::Result<i64>;
type SaveFn = fn(&dyn ModelObject, &mut Conn, &[&str]) -> minke_store::Result<()>;
type TargetsFn = fn(&mut Conn, &[i64]) -> minke_store::Result<Vec<HostTarget>>;

/// A registered model: its metadata and how to load, resolve and save its objects.
#[derive(Clone)]
pub struct ModelEntry {
    /// Everything known about the model.
    pub meta: ModelMeta,
    load: LoadFn,
    count: CountFn,
    host_id: HostIdFn,
    save: SaveFn,
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
        }
    }

    /// Loads the objects a query selects.
    pub fn load(
        &self,
        conn: &mut Conn,
        query: &Query,
    ) -> minke_store::Result<Vec<Box<dyn ModelObject>>> {
        (self.load)(conn, query)
    }

    /// Counts the objects a query selects.
    pub fn count(&self, conn: &mut Conn, query: &Query) -> minke_store::Result<i64> {
        (self.count)(conn, query)
    }

    /// The host id an object reaches.
    pub fn host_id(&self, object: &dyn ModelObject, conn: &mut Conn) -> minke_store::Result<i64> {
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
                Ok(T::load(c, &Query::ids(ids.iter().copied()))?
                    .iter()
                    .map(Host::target)
                    .collect())
            },
        }
    }

    /// The targets of the given host ids (unknown ids are left out).
    pub fn targets(&self, conn: &mut Conn, ids: &[i64]) -> minke_store::Result<Vec<HostTarget>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            out.extend((self.targets)(conn, chunk)?);
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
