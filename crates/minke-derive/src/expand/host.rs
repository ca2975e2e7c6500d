//! `#[derive(Host)]`: `Host::target` from the fields named in `#[minke(...)]`, and
//! `Host::jump_host_id` when `jump_host` is given.

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
    let address = value(def.address);
    let helpers = helpers(def);
    let settings = settings(def);
    let jump_host = jump_host(def);
    quote! {
        #[automatically_derived]
        impl #ig #core::Host for #ident #tg #wc {
            fn target(&self) -> #core::HostTarget {
                #helpers
                let name = <Self as #core::MinkeModel>::label(self);
                let address = text(#address).unwrap_or_else(|| #p::Clone::clone(&name));
                #[allow(unused_mut)]
                let mut t = #core::HostTarget::new(
                    #core::HostId::new(<Self as #core::MinkeModel>::id(self)),
                    name,
                    address,
                );
                #settings
                t
            }

            #jump_host
        }
    }
}

/// The field's value as a `minke::Value`.
fn value(f: &Field<'_>) -> TokenStream {
    let p = private();
    let (fi, ty) = (f.ident, f.ty);
    quote!(<#ty as #p::core::FieldType>::to_value(&self.#fi))
}

/// The statements setting `t`'s parts from the fields, each keeping `HostTarget::new`'s
/// default when its field is empty.
fn settings(def: &HostDef<'_>) -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
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
    let identities = def.identity_files.map(|f| {
        let v = value(f);
        quote!(if let #p::Some(files) = text(#v) { t.identity_files = paths(&files); })
    });
    let certificates = def.certificate_files.map(|f| {
        let v = value(f);
        quote!(if let #p::Some(files) = text(#v) { t.certificate_files = paths(&files); })
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
        quote!(t.disabled = flag(#v);)
    });
    let proxy_command = def.proxy_command.map(|f| {
        let v = value(f);
        quote!(if let #p::Some(command) = text(#v) { t.proxy_command = #p::Some(command); })
    });
    let forward_agent = def.forward_agent.map(|f| {
        let v = value(f);
        quote!(t.forward_agent = flag(#v);)
    });
    let environment = def.environment.map(|f| {
        let v = value(f);
        quote! {
            if let #p::Some(env) = text(#v) {
                // Lines that are not `NAME=value` are left out, as for Minke's own hosts.
                t.env = #core::Lines::parse(&env)
                    .iter()
                    .filter_map(|e| #p::store::environment_entry(e).ok())
                    .map(|(n, v)| (#p::ToString::to_string(n), #p::ToString::to_string(v)))
                    .collect();
            }
        }
    });
    let become_user = def.become_user.map(|f| {
        let v = value(f);
        quote!(if let #p::Some(user) = text(#v) { t.become_user = #p::Some(user); })
    });
    let keepalive = keepalive(def);
    quote! {
        #port
        #user
        #identity
        #identities
        #certificates
        #policy
        #known_hosts
        #disabled
        #proxy_command
        #forward_agent
        #environment
        #become_user
        #keepalive
    }
}

/// Keepalives when the interval is above 0 s, with the count when it is above 0 (else
/// `Keepalive::new`'s 3).
fn keepalive(def: &HostDef<'_>) -> Option<TokenStream> {
    let p = private();
    let (interval, count_max) = def.keepalive?;
    let v = value(interval);
    let count_max = count_max.map(|f| {
        let v = value(f);
        quote! {
            let n: #p::Option<u32> =
                count(#v).and_then(|n| #p::std::convert::TryFrom::try_from(n).ok());
            if let #p::Some(n) = n.filter(|n| *n != 0) {
                k.count_max = n;
            }
        }
    });
    let mutable = count_max.is_some().then(|| quote!(mut));
    Some(quote! {
        if let #p::Some(secs) = count(#v).filter(|s| *s != 0) {
            let #mutable k = #p::core::Keepalive::new(#p::Duration::from_secs(secs));
            #count_max
            t.keepalive = #p::Some(k);
        }
    })
}

/// `Host::jump_host_id`: the field's id when it is above 0.
fn jump_host(def: &HostDef<'_>) -> Option<TokenStream> {
    let p = private();
    let core = quote!(#p::core);
    let v = value(def.jump_host?);
    Some(quote! {
        fn jump_host_id(&self) -> #p::Option<#core::HostId> {
            let id = match #v {
                #core::Value::Int(id) => #p::Some(id),
                #core::Value::Text(id) => id.trim().parse::<i64>().ok(),
                _ => #p::None,
            };
            id.filter(|id| *id > 0).map(#core::HostId::new)
        }
    })
}

/// The functions `settings` calls, each written only when used (an unused one would be
/// a warning in the user's crate).
fn helpers(def: &HostDef<'_>) -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
    let lists = def.identity_files.is_some() || def.certificate_files.is_some();
    let path = (lists || def.identity_file.is_some() || def.known_hosts.is_some()).then(|| {
        quote! {
            fn path(p: &str) -> #p::PathBuf {
                match (p.strip_prefix("~/"), #p::std::env::var_os("HOME")) {
                    (#p::Some(rest), #p::Some(home)) => #p::PathBuf::from(home).join(rest),
                    _ => #p::PathBuf::from(p),
                }
            }
        }
    });
    let paths = lists.then(|| {
        quote! {
            fn paths(lines: &str) -> #p::Vec<#p::PathBuf> {
                #core::Lines::parse(lines).iter().map(path).collect()
            }
        }
    });
    let flag = (def.disabled.is_some() || def.forward_agent.is_some()).then(|| {
        quote! {
            fn flag(v: #core::Value) -> bool {
                match v {
                    #core::Value::Bool(b) => b,
                    #core::Value::Int(i) => i != 0,
                    #core::Value::Text(s) => <bool as #core::FieldType>::parse(&s).unwrap_or(false),
                    _ => false,
                }
            }
        }
    });
    let count = def.keepalive.is_some().then(|| {
        quote! {
            fn count(v: #core::Value) -> #p::Option<u64> {
                match v {
                    #core::Value::Int(n) => #p::std::convert::TryFrom::try_from(n).ok(),
                    #core::Value::Text(n) => n.trim().parse::<u64>().ok(),
                    _ => #p::None,
                }
            }
        }
    });
    quote! {
        fn text(v: #core::Value) -> #p::Option<#p::String> {
            match v {
                #core::Value::Null => #p::None,
                v => #p::Some(#p::ToString::to_string(&v)).filter(|s| !s.trim().is_empty()),
            }
        }
        #path
        #paths
        #flag
        #count
    }
}
