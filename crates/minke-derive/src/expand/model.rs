//! `#[derive(MinkeModel)]`: `MinkeModel` and `StoredModel`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use super::{private, wrap};
use crate::ast::{Accept, Container, HostLink, ModelDef, ModelField, TypeKind};
use crate::attr::Errors;
use crate::check;

pub(crate) fn derive_model_inner(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let cont = Container::from_ast(&input, "MinkeModel", Accept::Named)?;
    let mut errs = Errors::new();
    let def = check::model(&cont, &mut errs);
    errs.finish()?;
    let def = def.ok_or_else(|| {
        syn::Error::new_spanned(&input.ident, "invalid `#[minke(...)]` attributes")
    })?;
    Ok(wrap(expand(&def)))
}

fn expand(def: &ModelDef<'_>) -> TokenStream {
    let model = minke_model(def);
    let stored = stored_model(def);
    quote!(#model #stored)
}

fn minke_model(def: &ModelDef<'_>) -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
    let ident = def.cont.ident;
    let (ig, tg, wc) = def.cont.generics.split_for_impl();
    let (name, verbose, label_name) = (&def.name, &def.verbose_name, &def.label);
    let (list, search, filter) = (&def.list, &def.search, &def.filter);

    let metas = def.fields.iter().map(|f| {
        let (n, ty) = (&f.field.name, f.field.ty);
        let choices = &f.choices;
        let read_only = f.read_only;
        let help = f.field.doc.summary().unwrap_or_default();
        let references = match &def.host {
            // A host model keyed by itself (`host = id`) points at no other object.
            HostLink::Direct(h) if h.name == *n && *n != def.id_field().field.name => {
                quote!(#p::Some(#core::References::Host))
            }
            HostLink::Via { field, model } if field.name == *n => {
                let parent = quote_spanned!(model.span()=> <#model as #core::MinkeModel>::NAME);
                quote!(#p::Some(#core::References::Model(#parent)))
            }
            _ => quote!(#p::None),
        };
        quote_spanned! {ty.span()=>
            #core::FieldMeta {
                name: #n,
                type_name: <#ty as #core::FieldType>::TYPE_NAME,
                is_text: <#ty as #core::FieldType>::IS_TEXT,
                optional: <#ty as #core::FieldType>::OPTIONAL,
                choices: #p::vec![#(#choices),*],
                read_only: #read_only,
                references: #references,
                help: #help,
            }
        }
    });
    let (writable_model, cascade) = (!def.read_only, def.cascade);
    let search_index_meta = match &def.search_index {
        Some(index) => quote!(#p::Some(#index)),
        None => quote!(#p::None),
    };
    let plural = match &def.verbose_name_plural {
        Some(given) => quote!(#p::String::from(#given)),
        None => quote!(#core::plural_of(#verbose)),
    };
    let id = def.id_field().field.ident;
    let id_name = &def.id_field().field.name;
    let table_name = def
        .table
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    let label = def.field(label_name).map(|f| {
        let (fi, ty) = (f.field.ident, f.field.ty);
        quote!(#p::ToString::to_string(&<#ty as #core::FieldType>::to_value(&self.#fi)))
    });
    let reads = def.fields.iter().map(|f| {
        let (n, fi, ty) = (&f.field.name, f.field.ident, f.field.ty);
        quote!(#n => <#ty as #core::FieldType>::to_value(&self.#fi),)
    });
    let writable: Vec<&ModelField<'_>> = writable(def).collect();
    let writes = writable.iter().map(|f| {
        let (n, fi, ty) = (&f.field.name, f.field.ident, f.field.ty);
        quote!(#n => self.#fi = <#ty as #core::FieldType>::from_value(value).map_err(wrap)?,)
    });
    let not_writable = quote! {
        #p::Err(#core::Error::Field {
            model: #p::String::from(#name),
            field: #p::String::from(name),
            problem: #p::String::from("no such writable field"),
        })
    };
    let set_body = if writable.is_empty() {
        quote! {
            let _ = value;
            #not_writable
        }
    } else {
        quote! {
            let wrap = |e: #core::Error| #core::Error::Field {
                model: #p::String::from(#name),
                field: #p::String::from(name),
                problem: #p::ToString::to_string(&e),
            };
            match name {
                #(#writes)*
                _ => return #not_writable,
            }
            #p::Ok(())
        }
    };

    quote! {
        #[automatically_derived]
        impl #ig #core::MinkeModel for #ident #tg #wc {
            const NAME: &'static str = #name;

            fn meta() -> #core::ModelMeta {
                #core::ModelMeta {
                    name: #name,
                    verbose_name: #p::String::from(#verbose),
                    verbose_name_plural: #plural,
                    fields: #p::vec![#(#metas),*],
                    id: #id_name,
                    table: #table_name,
                    label: #label_name,
                    list: #p::vec![#(#list),*],
                    search: #p::vec![#(#search),*],
                    filter: #p::vec![#(#filter),*],
                    writable: #writable_model,
                    cascade: #cascade,
                    search_index: #search_index_meta,
                }
                .without_secrets()
            }

            fn id(&self) -> i64 {
                #p::Option::unwrap_or_default(#p::store::AsId::as_id(&self.#id))
            }

            fn label(&self) -> #p::String {
                #label
            }

            fn field(&self, name: &str) -> #p::Option<#core::Value> {
                #p::Some(match name {
                    #(#reads)*
                    _ => return #p::None,
                })
            }

            fn set_field(&mut self, name: &str, value: #core::Value) -> #core::Result<()> {
                #set_body
            }
        }
    }
}

/// Fields `set_field` and `save_fields` accept: all but the id.
fn writable<'d, 'a>(def: &'d ModelDef<'a>) -> impl Iterator<Item = &'d ModelField<'a>> {
    def.fields
        .iter()
        .enumerate()
        .filter(move |(i, _)| *i != def.id)
        .map(|(_, f)| f)
}

/// The block selecting what a query asks for, as a boxed query `q` for backend `B`.
fn filtered(def: &ModelDef<'_>) -> TokenStream {
    let p = private();
    let (core, store) = (quote!(#p::core), quote!(#p::store));
    let table = &def.table;
    let arms: Vec<TokenStream> = def.filter.iter().filter_map(|n| def.field(n)).map(|f| {
        let (n, col, inner) = (&f.field.name, &f.column, f.field.inner);
        let contains = if f.field.kind == TypeKind::Text {
            quote!(#store::Op::Contains => q.filter(#table::#col.like(#store::like_pattern(&v)).escape('\\')),)
        } else {
            quote! {
                #store::Op::Contains => {
                    return #p::Err(#store::Error::BadQuery(#p::format!(
                        "`~` needs a text field, but `{}` of model `{}` is not text", #n, m
                    )));
                }
            }
        };
        let value = quote_spanned!(inner.span()=> #store::condition_value::<#inner>(m, cond)?);
        quote! {
            #n => {
                let v = #value;
                match cond.op {
                    #store::Op::Eq => q.filter(#table::#col.eq(v)),
                    #store::Op::Ne => q.filter(#table::#col.ne(v)),
                    #store::Op::Lt => q.filter(#table::#col.lt(v)),
                    #store::Op::Le => q.filter(#table::#col.le(v)),
                    #store::Op::Gt => q.filter(#table::#col.gt(v)),
                    #store::Op::Ge => q.filter(#table::#col.ge(v)),
                    #contains
                }
            }
        }
    }).collect();
    let no_field = quote! {
        return #p::Err(#store::Error::BadQuery(#p::format!(
            "model `{}` has no filterable field `{}`", m, other
        )));
    };
    let conditions = if arms.is_empty() {
        quote! {
            if let #p::Some(cond) = query.conditions.first() {
                let other = &cond.field;
                #no_field
            }
        }
    } else {
        quote! {
            for cond in &query.conditions {
                q = match cond.field.as_str() {
                    #(#arms)*
                    other => {
                        #no_field
                    }
                };
            }
        }
    };
    let mut likes = def.search.iter().filter_map(|n| def.field(n)).map(|f| {
        let col = &f.column;
        quote!(#table::#col.like(#p::Clone::clone(&pattern)).escape('\\').nullable())
    });
    let id_col_for_index = &def.id_field().column;
    let search = likes.next().map(|first| {
        let like = quote! {
            let pattern = #store::like_pattern(text);
            q = q.filter(#first #(.or(#likes))*);
        };
        match &def.search_index {
            // SQLite's trigram index finds the rows; PostgreSQL's serve `LIKE`.
            Some(index) => quote! {
                if let #p::Some(text) = &query.search {
                    if sqlite && #store::trigram_searchable(text) {
                        let id_column = <#table::#id_col_for_index as #p::diesel::Column>::NAME;
                        q = q.filter(#store::text_index_has(id_column, #index, text));
                    } else {
                        #like
                    }
                }
            },
            None => quote! {
                let _ = sqlite;
                if let #p::Some(text) = &query.search {
                    #like
                }
            },
        }
    });
    // A model without text fields searches nothing.
    let search = search.unwrap_or_else(|| quote!(let _ = sqlite;));
    let id = def.id_field();
    let (id_col, id_inner) = (&id.column, id.field.inner);
    let parent = def.parent_field();
    let (parent_col, parent_inner) = (&parent.column, parent.field.inner);
    quote! {{
        let m = <Self as #core::MinkeModel>::NAME;
        #store::check_query(&<Self as #core::MinkeModel>::meta(), query)?;
        #store::no_groups(m, query)?;
        let mut q = #table::table.into_boxed::<B>();
        #conditions
        #search
        if let #p::Some(ids) = &query.ids {
            let keys = ids
                .iter()
                .map(|&id| #store::key_from_id::<#id_inner>(m, id))
                .collect::<#store::Result<#p::Vec<_>>>()?;
            q = q.filter(#table::#id_col.eq_any(keys));
        }
        if let #p::Some(ids) = &query.parents {
            let keys = ids
                .iter()
                .map(|&id| #store::key_from_id::<#parent_inner>(m, id))
                .collect::<#store::Result<#p::Vec<_>>>()?;
            q = q.filter(#table::#parent_col.eq_any(keys));
        }
        if let #p::Some(status) = query.last_status {
            let id_column = <#table::#id_col as #p::diesel::Column>::NAME;
            q = q.filter(#store::last_status_is(id_column, m, status));
        }
        q
    }}
}

/// The block ordering the boxed query `q` as `query.order` asks: by any field of the
/// model, then by id the same way.
fn ordered(def: &ModelDef<'_>) -> TokenStream {
    let p = private();
    let store = quote!(#p::store);
    let table = &def.table;
    let id_col = &def.id_field().column;
    let arms: Vec<TokenStream> = def
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (n, col) = (&f.field.name, &f.column);
            if i == def.id {
                quote! {
                    (#n, false) => q.order(#table::#id_col.asc()),
                    (#n, true) => q.order(#table::#id_col.desc()),
                }
            } else {
                quote! {
                    (#n, false) => q.order((#table::#col.asc(), #table::#id_col.asc())),
                    (#n, true) => q.order((#table::#col.desc(), #table::#id_col.desc())),
                }
            }
        })
        .collect();
    quote! {
        match &query.order {
            #p::None => q.order(#table::#id_col.asc()),
            #p::Some(o) => match (o.field.as_str(), o.descending) {
                #(#arms)*
                (other, _) => {
                    return #p::Err(#store::Error::BadQuery(#p::format!(
                        "model `{}` cannot be ordered by `{}`: it has no such field",
                        <Self as #p::core::MinkeModel>::NAME, other
                    )));
                }
            },
        }
    }
}

fn stored_model(def: &ModelDef<'_>) -> TokenStream {
    let p = private();
    let (core, store, diesel) = (quote!(#p::core), quote!(#p::store), quote!(#p::diesel));
    let ident = def.cont.ident;
    let (ig, tg, wc) = def.cont.generics.split_for_impl();
    let (name, table) = (&def.name, &def.table);
    let id = def.id_field();
    let (id_col, id_field) = (&id.column, id.field.ident);
    let filtered = filtered(def);
    let ordered = ordered(def);
    let loading = format!("loading objects of model `{name}`");
    let counting = format!("counting objects of model `{name}`");

    let saves: Vec<TokenStream> = writable(def)
        .map(|f| {
            let (n, col, fi, ty) = (&f.field.name, &f.column, f.field.ident, f.field.ty);
            let eq = quote_spanned!(ty.span()=> #table::#col.eq(&self.#fi));
            quote!(#n => target.set(#eq).execute(db),)
        })
        .collect();
    let unknown_field = quote! {
        #p::Err(#store::Error::BadQuery(#p::format!(
            "model `{}` has no writable field `{}`", #name, other
        )))
    };
    let save_body = if saves.is_empty() {
        quote! {
            let _ = conn;
            match fields.first() {
                #p::Some(other) => #unknown_field,
                #p::None => #p::Ok(()),
            }
        }
    } else {
        quote! {
            let id = <Self as #core::MinkeModel>::id(self);
            #p::with_conn!(conn, |db, B| {
                for f in fields {
                    let target = #diesel::update(#table::table.filter(#table::#id_col.eq(self.#id_field)));
                    let r = match *f {
                        #(#saves)*
                        other => return #unknown_field,
                    };
                    r.map_err(#store::Error::query(#p::format!(
                        "saving field `{}` of {} {}", f, #name, id
                    )))?;
                }
                #p::Ok(())
            })
        }
    };

    let writes = if def.read_only {
        TokenStream::new()
    } else {
        writes(def)
    };

    let host_id = match &def.host {
        HostLink::Direct(f) => {
            let (fi, n) = (f.ident, &f.name);
            quote! {
                let _ = conn;
                #store::require_host(#name, <Self as #core::MinkeModel>::id(self), #store::AsId::as_id(&self.#fi), #n)
                    .map(#core::HostId::new)
            }
        }
        HostLink::Via { field, model } => {
            let (fi, n) = (field.ident, &field.name);
            let parent = quote_spanned!(model.span()=> <#model as #store::StoredModel>);
            quote! {
                let id = <Self as #core::MinkeModel>::id(self);
                let parent_id = #store::require_host(#name, id, #store::AsId::as_id(&self.#fi), #n)?;
                let parent = match #parent::load_one(conn, parent_id) {
                    #p::Ok(parent) => parent,
                    #p::Err(#store::Error::NotFound { model, id: missing }) => {
                        return #p::Err(#store::Error::Core(#core::Error::Setup(#p::format!(
                            "{} {} has no host: its `{}` points at {} {}, which does not exist",
                            #name, id, #n, model, missing
                        ))));
                    }
                    #p::Err(e) => return #p::Err(e),
                };
                #parent::host_id(&parent, conn)
            }
        }
    };

    quote! {
        #[allow(unused_imports)]
        use #diesel::prelude::{
            BoolExpressionMethods as _, EscapeExpressionMethods as _, ExpressionMethods as _,
            NullableExpressionMethods as _, QueryDsl as _, RunQueryDsl as _, TextExpressionMethods as _,
        };

        #[automatically_derived]
        impl #ig #store::StoredModel for #ident #tg #wc {
            fn load(conn: &mut #store::Conn, query: &#store::Query) -> #store::Result<#p::Vec<Self>> {
                #store::load_in_chunks(conn, query, |conn, query| {
                    let sqlite = conn.is_sqlite();
                    #p::with_conn!(conn, |db, B| {
                    let mut q = #filtered;
                    q = #ordered;
                    if let #p::Some(limit) = query.limit {
                        q = q.limit(limit);
                    }
                    if let #p::Some(offset) = query.offset {
                        q = q.offset(offset);
                    }
                    q.select(<Self as #diesel::prelude::SelectableHelper<B>>::as_select())
                        .load(db)
                        .map_err(#store::Error::query(#loading))
                    })
                })
            }

            fn count(conn: &mut #store::Conn, query: &#store::Query) -> #store::Result<i64> {
                #store::count_in_chunks(conn, query, |conn, query| {
                    let sqlite = conn.is_sqlite();
                    #p::with_conn!(conn, |db, B| {
                        let q = #filtered;
                        q.count().get_result(db).map_err(#store::Error::query(#counting))
                    })
                })
            }

            fn save_fields(&self, conn: &mut #store::Conn, fields: &[&str]) -> #store::Result<()> {
                #save_body
            }

            fn host_id(&self, conn: &mut #store::Conn) -> #store::Result<#core::HostId> {
                #host_id
            }

            #writes
        }
    }
}

/// Fields forms and the API write: the writable ones that are not `read_only`.
fn editable<'d, 'a>(def: &'d ModelDef<'a>) -> impl Iterator<Item = &'d ModelField<'a>> {
    writable(def).filter(|f| !f.read_only)
}

/// Diesel takes tuples of at most 16 values: longer lists go in nested tuples.
fn nested_tuples(items: Vec<TokenStream>) -> TokenStream {
    let chunks = items.chunks(16).map(|c| quote!((#(#c,)*)));
    quote!((#(#chunks,)*))
}

/// `insert`, `update` and `delete` of `StoredModel`, column by column: no diesel
/// `Insertable` or `AsChangeset` is needed, only that each field's type can be
/// written to its column, which a spanned bound checks at the field.
fn writes(def: &ModelDef<'_>) -> TokenStream {
    let p = private();
    let (core, store, diesel) = (quote!(#p::core), quote!(#p::store), quote!(#p::diesel));
    let (name, table) = (&def.name, &def.table);
    let id = def.id_field();
    let (id_col, id_inner) = (&id.column, id.field.inner);
    let fields: Vec<&ModelField<'_>> = editable(def).collect();
    let vars: Vec<syn::Ident> = (0..fields.len())
        .map(|i| quote::format_ident!("__minke_v{}", i))
        .collect();
    let checks = fields.iter().map(|f| {
        let (ty, col) = (f.field.ty, &f.column);
        quote_spanned! {ty.span()=>
            #store::field_type_matches_its_column::<#ty, #diesel::dsl::SqlTypeOf<#table::#col>>();
        }
    });
    let takes = fields.iter().zip(&vars).map(|(f, v)| {
        let (n, ty) = (&f.field.name, f.field.ty);
        quote!(let #v = #store::value_of::<#ty>(values, #n, &mut problems);)
    });
    let eqs: Vec<TokenStream> = fields
        .iter()
        .zip(&vars)
        .map(|(f, v)| {
            let (col, ty) = (&f.column, f.field.ty);
            quote_spanned!(ty.span()=> #table::#col.eq(&#v))
        })
        .collect();
    let insert = if eqs.is_empty() {
        quote!(#diesel::insert_into(#table::table).default_values())
    } else {
        let values = nested_tuples(eqs.clone());
        quote!(#diesel::insert_into(#table::table).values(#values))
    };
    let unpack = quote! {
        let (#(#vars,)*) = match (#(#vars,)*) {
            (#(#p::Some(#vars),)*) => (#(#vars,)*),
            _ => return #p::Err(#store::Error::Invalid {
                model: #p::String::from(#name),
                problems,
            }),
        };
    };
    let change_takes = fields.iter().zip(&vars).map(|(f, v)| {
        let (n, ty) = (&f.field.name, f.field.ty);
        quote! {
            let #v: #p::Option<#p::Option<#ty>> = if values.contains_key(#n) {
                #store::value_of::<#ty>(values, #n, &mut problems).map(#p::Some)
            } else {
                #p::Some(#p::None)
            };
        }
    });
    let sets = fields.iter().zip(&vars).map(|(f, v)| {
        let (n, col, ty) = (&f.field.name, &f.column, f.field.ty);
        let eq = quote_spanned!(ty.span()=> #table::#col.eq(#v));
        quote! {
            if let #p::Some(#v) = &#v {
                #diesel::update(#table::table.filter(#table::#id_col.eq(#p::Clone::clone(&key))))
                    .set(#eq)
                    .execute(db)
                    .map_err(#store::write_error(&meta, #p::format!("changing field `{}` of {} {}", #n, #name, id)))?;
            }
        }
    });
    quote! {
        fn insert(conn: &mut #store::Conn, values: &#store::FieldValues) -> #store::Result<i64> {
            #[allow(dead_code)]
            fn __minke_field_types() {
                #(#checks)*
            }
            let meta = <Self as #core::MinkeModel>::meta();
            #store::check_values(&meta, values, #store::Writing::Add)?;
            let mut problems = #p::Vec::new();
            #(#takes)*
            #unpack
            #p::with_conn!(conn, |db, B| {
                let id: #id_inner = #insert
                    .returning(#table::#id_col)
                    .get_result(db)
                    .map_err(#store::write_error(&meta, #p::format!("adding a {}", #name)))?;
                #p::Ok(#p::Option::unwrap_or_default(#store::AsId::as_id(&id)))
            })
        }

        fn update(conn: &mut #store::Conn, id: i64, values: &#store::FieldValues) -> #store::Result<()> {
            let meta = <Self as #core::MinkeModel>::meta();
            #store::check_values(&meta, values, #store::Writing::Change)?;
            let key = #store::key_from_id::<#id_inner>(#name, id)?;
            let mut problems = #p::Vec::new();
            #(#change_takes)*
            #unpack
            #p::with_conn!(conn, |db, B| {
                let found: i64 = #table::table
                    .filter(#table::#id_col.eq(#p::Clone::clone(&key)))
                    .count()
                    .get_result(db)
                    .map_err(#store::Error::query(#p::format!("looking for {} {}", #name, id)))?;
                if found == 0 {
                    return #p::Err(#store::Error::NotFound { model: #p::String::from(#name), id });
                }
                #(#sets)*
                #p::Ok(())
            })
        }

        fn delete(conn: &mut #store::Conn, ids: &[i64]) -> #store::Result<usize> {
            let meta = <Self as #core::MinkeModel>::meta();
            let keys = ids
                .iter()
                .map(|&id| #store::key_from_id::<#id_inner>(#name, id))
                .collect::<#store::Result<#p::Vec<_>>>()?;
            #p::with_conn!(conn, |db, B| {
                let mut gone = 0;
                for chunk in keys.chunks(#store::IDS_PER_QUERY) {
                    gone += #diesel::delete(#table::table.filter(#table::#id_col.eq_any(chunk.to_vec())))
                        .execute(db)
                        .map_err(#store::write_error(&meta, #p::format!("deleting objects of {}", #name)))?;
                }
                #p::Ok(gone)
            })
        }
    }
}
