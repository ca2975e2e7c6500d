//! Dummy impls emitted next to `compile_error!`, so that code using the type does not
//! add errors of its own ("`Server` is not a Minke model") to the real one.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use super::{private, wrap};
use crate::attr::{Errors, items};

pub(crate) fn model(input: &DeriveInput) -> TokenStream {
    let p = private();
    let (core, store) = (quote!(#p::core), quote!(#p::store));
    let ident = &input.ident;
    let name = heck::ToSnakeCase::to_snake_case(ident.to_string().as_str());
    let (ig, tg, wc) = input.generics.split_for_impl();
    wrap(quote! {
        impl #ig #core::MinkeModel for #ident #tg #wc {
            const NAME: &'static str = #name;
            fn meta() -> #core::ModelMeta { #p::unimplemented!() }
            fn id(&self) -> i64 { #p::unimplemented!() }
            fn label(&self) -> #p::String { #p::unimplemented!() }
            fn field(&self, _: &str) -> #p::Option<#core::Value> { #p::unimplemented!() }
            fn set_field(&mut self, _: &str, _: #core::Value) -> #core::Result<()> { #p::unimplemented!() }
        }
        impl #ig #store::StoredModel for #ident #tg #wc {
            fn load(_: &mut #store::Conn, _: &#store::Query) -> #store::Result<#p::Vec<Self>> { #p::unimplemented!() }
            fn count(_: &mut #store::Conn, _: &#store::Query) -> #store::Result<i64> { #p::unimplemented!() }
            fn save_fields(&self, _: &mut #store::Conn, _: &[&str]) -> #store::Result<()> { #p::unimplemented!() }
            fn host_id(&self, _: &mut #store::Conn) -> #store::Result<#core::HostId> { #p::unimplemented!() }
        }
    })
}

pub(crate) fn host(input: &DeriveInput) -> TokenStream {
    let p = private();
    let ident = &input.ident;
    let (ig, tg, wc) = input.generics.split_for_impl();
    wrap(quote! {
        impl #ig #p::core::Host for #ident #tg #wc {
            fn target(&self) -> #p::core::HostTarget { #p::unimplemented!() }
        }
    })
}

pub(crate) fn session(input: &DeriveInput) -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
    let ident = &input.ident;
    let (ig, tg, wc) = input.generics.split_for_impl();
    // The derive writes `process` for these keys; without them the user does.
    let has_kind = items(&input.attrs, &mut Errors::new())
        .iter()
        .any(|i| matches!(i.name().as_str(), "command" | "commands" | "chain"));
    let process = has_kind.then(|| {
        quote! {
            impl #ig #core::Session for #ident #tg #wc {
                async fn process(&self, _: &mut #core::Context) -> #core::Result<()> { #p::unimplemented!() }
            }
        }
    });
    wrap(quote! {
        impl #ig #core::SessionInfo for #ident #tg #wc {
            fn meta() -> #core::SessionMeta { #p::unimplemented!() }
            fn from_params(_: &#core::Params) -> #core::Result<Self> { #p::unimplemented!() }
        }
        #process
    })
}
