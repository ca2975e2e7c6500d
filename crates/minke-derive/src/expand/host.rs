//! `#[derive(Host)]`: `Host::target` from the fields named in `#[minke(...)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use super::{private, wrap};
use crate::ast::{Accept, Container, Field, HostDef};
use crate::attr::Errors;
use crate::check;

pub(crate) fn derive_host_inner(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let cont = Container::from_ast(&input, "Host", Accept::Named)?;
    let mut errs = Errors::new();
    let def = check::host(&cont, &mut errs);
    errs.finish()?;
    let def = def.ok_or_else(|| {
        syn::Error::new_spanned(&input.ident, "invalid `#[minke(...)]` attributes")
    })?;
    Ok(wrap(expand(&def)))
}

fn expand(def: &HostDef<'_>) -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
    let ident = def.cont.ident;
    let (ig, tg, wc) = def.cont.generics.split_for_impl();
    let value = |f: &Field<'_>| {
        let (fi, ty) = (f.ident, f.ty);
        quote!(<#ty as #core::FieldType>::to_value(&self.#fi))
    };
    let address = value(def.address);
    let port = def.port.map(|f| {
        let v = value(f);
        quote! {
            let port = match #v {
                #core::Value::Int(port) => u16::try_from(port).ok(),
                #core::Value::Text(port) => port.trim().parse::<u16>().ok(),
                _ => #p::None,
            };
            if let #p::Some(port) = port.filter(|p| *p != 0) {
                t.port = port;
            }
        }
    });
    let user = def.user.map(|f| {
        let v = value(f);
        quote!(if let #p::Some(user) = text(#v) { t.user = user; })
    });
    let identity = def.identity_file.map(|f| {
        let v = value(f);
        quote!(if let #p::Some(file) = text(#v) { t.identity_files = #p::vec![path(&file)]; })
    });
    let policy = def.host_key_policy.map(|f| {
        let v = value(f);
        quote! {
            if let #p::Some(policy) = text(#v) {
                t.host_key_policy = policy.parse().unwrap_or_default();
            }
        }
    });
    let known_hosts = def.known_hosts.map(|f| {
        let v = value(f);
        quote!(if let #p::Some(file) = text(#v) { t.known_hosts = #p::Some(path(&file)); })
    });
    let disabled = def.disabled.map(|f| {
        let v = value(f);
        quote! {
            t.disabled = match #v {
                #core::Value::Bool(b) => b,
                #core::Value::Int(i) => i != 0,
                #core::Value::Text(s) => <bool as #core::FieldType>::parse(&s).unwrap_or(false),
                _ => false,
            };
        }
    });
    let path_fn = (def.identity_file.is_some() || def.known_hosts.is_some()).then(|| {
        quote! {
            fn path(p: &str) -> #p::PathBuf {
                match (p.strip_prefix("~/"), #p::std::env::var_os("HOME")) {
                    (#p::Some(rest), #p::Some(home)) => #p::PathBuf::from(home).join(rest),
                    _ => #p::PathBuf::from(p),
                }
            }
        }
    });

    quote! {
        #[automatically_derived]
        impl #ig #core::Host for #ident #tg #wc {
            fn target(&self) -> #core::HostTarget {
                fn text(v: #core::Value) -> #p::Option<#p::String> {
                    match v {
                        #core::Value::Null => #p::None,
                        v => #p::Some(#p::ToString::to_string(&v)).filter(|s| !s.trim().is_empty()),
                    }
                }
                #path_fn
                let name = <Self as #core::MinkeModel>::label(self);
                let address = text(#address).unwrap_or_else(|| #p::Clone::clone(&name));
                #[allow(unused_mut)]
                let mut t = #core::HostTarget::new(
                    #core::HostId::new(<Self as #core::MinkeModel>::id(self)),
                    name,
                    address,
                );
                #port
                #user
                #identity
                #policy
                #known_hosts
                #disabled
                t
            }
        }
    }
}
