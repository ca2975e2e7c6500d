//! `#[derive(Session)]`: `SessionInfo`, and `Session` for the ready-made kinds.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, LitStr};

use super::{private, wrap};
use crate::ast::{Accept, BreakState, Container, Kind, SessionDef};
use crate::attr::Errors;
use crate::check;

pub(crate) fn derive_session_inner(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let cont = Container::from_ast(&input, "Session", Accept::NamedOrUnit)?;
    let mut errs = Errors::new();
    let def = check::session(&cont, &mut errs);
    errs.finish()?;
    let def = def.ok_or_else(|| {
        syn::Error::new_spanned(&input.ident, "invalid `#[minke(...)]` attributes")
    })?;
    let info = session_info(&def);
    let session = session(&def);
    Ok(wrap(quote!(#info #session)))
}

fn session_info(def: &SessionDef<'_>) -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
    let ident = def.cont.ident;
    let (ig, tg, wc) = def.cont.generics.split_for_impl();
    let (name, verbose, help) = (&def.name, &def.verbose_name, &def.help);
    let group = match &def.group {
        Some(g) => quote!(#p::Some(#p::String::from(#g))),
        None => quote!(#p::None),
    };
    let work_on = def
        .work_on
        .iter()
        .map(|m| quote_spanned!(m.span()=> <#m as #core::MinkeModel>::NAME));
    let permissions = &def.permissions;
    let (confirm, parallel) = (def.confirm, def.parallel_per_host);
    let timeout = match def.timeout {
        Some(secs) => quote!(#p::Some(#p::Duration::from_secs(#secs))),
        None => quote!(#p::None),
    };

    let specs = def.params.iter().map(|param| {
        let (n, ty) = (&param.field.name, param.field.ty);
        let help = &param.help;
        let default = option_text(param.default.as_ref());
        let required = match param.default {
            Some(_) => quote!(false),
            None => quote!(!<#ty as #core::FieldType>::OPTIONAL),
        };
        let secret = match param.secret {
            true => quote!(true),
            false => quote!(<#ty as #core::FieldType>::TYPE_NAME == "secret"),
        };
        let multiline = param.multiline;
        quote_spanned! {ty.span()=>
            #core::ParamSpec {
                name: #n,
                type_name: <#ty as #core::FieldType>::TYPE_NAME,
                help: #p::String::from(#help),
                default: #default,
                required: #required,
                secret: #secret,
                multiline: #multiline,
            }
        }
    });
    let sub_params = match &def.kind {
        Kind::Chain(subs) => {
            let subs = subs
                .iter()
                .map(|s| quote_spanned!(s.span()=> <#s as #core::SessionInfo>::meta().params));
            quote! {
                #(
                    for spec in #subs {
                        if !params.iter().any(|known: &#core::ParamSpec| known.name == spec.name) {
                            params.push(spec);
                        }
                    }
                )*
            }
        }
        _ => quote!(),
    };

    let build = if def.cont.unit {
        quote!(Self)
    } else {
        let values = def.params.iter().map(|param| {
            let (fi, n, ty) = (param.field.ident, &param.field.name, param.field.ty);
            let default = match &param.default {
                Some(d) => quote!(#p::Some(#d)),
                None => quote!(#p::None),
            };
            quote_spanned!(ty.span()=> #fi: params.value::<#ty>(#n, #default)?)
        });
        let skipped = def.skipped.iter().map(|f| {
            let fi = f.ident;
            quote_spanned!(f.ty.span()=> #fi: #p::Default::default())
        });
        quote!(Self { #(#values,)* #(#skipped,)* })
    };

    quote! {
        #[automatically_derived]
        impl #ig #core::SessionInfo for #ident #tg #wc {
            fn meta() -> #core::SessionMeta {
                #[allow(unused_mut)]
                let mut params: #p::Vec<#core::ParamSpec> = #p::vec![#(#specs),*];
                #sub_params
                #core::SessionMeta {
                    name: #name,
                    verbose_name: #p::String::from(#verbose),
                    help: #p::String::from(#help),
                    group: #group,
                    work_on: #p::vec![#(#work_on),*],
                    permissions: #p::vec![#(#p::String::from(#permissions)),*],
                    confirm: #confirm,
                    parallel_per_host: #parallel,
                    timeout: #timeout,
                    params,
                }
            }

            fn from_params(params: &#core::Params) -> #core::Result<Self> {
                #p::Ok(#build)
            }
        }
    }
}

fn option_text(s: Option<&LitStr>) -> TokenStream {
    let p = private();
    match s {
        Some(s) => quote!(#p::Some(#p::String::from(#s))),
        None => quote!(#p::None),
    }
}

fn break_states(def: &SessionDef<'_>) -> TokenStream {
    let p = private();
    let states = def.break_on.iter().map(|s| match s {
        BreakState::Success => quote!(#p::core::Status::Success),
        BreakState::Warning => quote!(#p::core::Status::Warning),
        BreakState::Error => quote!(#p::core::Status::Error),
    });
    quote!([#(#states),*])
}

/// The command for one template: a template that is exactly one `{placeholder}` is the
/// value itself (an ad-hoc command), any other has its placeholders shell-quoted.
fn command_for(template: &LitStr) -> TokenStream {
    let text = template.value();
    let sole = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .filter(|n| n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    match sole {
        Some(name) => quote!(raw(cx, #name, #template)?),
        None => quote!(render(cx, #template)?),
    }
}

/// Looks placeholders up: the session's parameters (with their defaults), then the
/// object's fields.
fn helpers(def: &SessionDef<'_>) -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
    let defaults: Vec<TokenStream> = def
        .params
        .iter()
        .filter_map(|param| {
            let d = param.default.as_ref()?;
            let n = &param.field.name;
            Some(quote!(#n => #p::Some(#p::String::from(cx.params().get(#n).unwrap_or(#d))),))
        })
        .collect();
    let fallback = quote! {
        cx.params()
            .get(name)
            .map(#p::String::from)
            .or_else(|| cx.object_dyn().field(name).map(|v| #p::ToString::to_string(&v)))
    };
    let lookup = if defaults.is_empty() {
        fallback
    } else {
        quote! {
            match name {
                #(#defaults)*
                _ => #fallback,
            }
        }
    };
    quote! {
        fn lookup(cx: &#core::Context, name: &str) -> #p::Option<#p::String> {
            #lookup
        }

        #[allow(dead_code)]
        fn render(cx: &#core::Context, template: &str) -> #core::Result<#p::String> {
            #core::format_template(template, |name| lookup(cx, name))
        }

        #[allow(dead_code)]
        fn raw(cx: &#core::Context, name: &str, template: &str) -> #core::Result<#p::String> {
            lookup(cx, name).ok_or_else(|| #core::Error::UnknownPlaceholder {
                name: #p::String::from(name),
                command: #p::String::from(template),
            })
        }
    }
}

/// Runs one session of a chain; `false` when the chain must stop.
fn chain_step() -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
    quote! {
        async fn step<S: #core::Session>(
            cx: &mut #core::Context,
            states: &[#core::Status],
        ) -> #core::Result<bool> {
            let meta = <S as #core::SessionInfo>::meta();
            cx.info(#p::format!("Run {}", meta.verbose_name)).await?;
            let session = <S as #core::SessionInfo>::from_params(cx.params())?;
            #core::Session::process(&session, cx).await?;
            let status = cx.status();
            if states.contains(&status) {
                cx.add_msg(#core::Message::text(
                    #core::MessageLevel::Error,
                    #p::format!("{} finished with status {}", meta.verbose_name, status),
                ))
                .await?;
                return #p::Ok(false);
            }
            #p::Ok(true)
        }
    }
}

fn session(def: &SessionDef<'_>) -> TokenStream {
    let p = private();
    let core = quote!(#p::core);
    let body = match &def.kind {
        Kind::Manual => return quote!(),
        Kind::Command(template) => {
            let command = command_for(template);
            quote! {
                let command = #command;
                let out = cx.run(&command).await?;
                cx.add_msg(#core::Message::command(&out)).await?;
                cx.set_status(out.status());
                #p::Ok(())
            }
        }
        Kind::Commands(templates) => {
            let states = break_states(def);
            let steps = templates.iter().map(|t| {
                let command = command_for(t);
                quote! {
                    let command = #command;
                    let out = cx.run(&command).await?;
                    cx.add_msg(#core::Message::command(&out)).await?;
                    let status = out.status();
                    cx.set_status(status);
                    if #states.contains(&status) {
                        return #p::Ok(());
                    }
                }
            });
            quote! {
                #({ #steps })*
                #p::Ok(())
            }
        }
        Kind::Chain(subs) => {
            let states = break_states(def);
            // Spanned at the session's path, so that a type that is not a session gets
            // one error there.
            let steps = subs
                .iter()
                .map(|s| quote_spanned!(s.span()=> step::<#s>(cx, &states).await));
            quote! {
                let states = #states;
                #(
                    if !#steps? {
                        return #p::Ok(());
                    }
                )*
                #p::Ok(())
            }
        }
    };
    let helpers = match def.kind {
        Kind::Command(_) | Kind::Commands(_) => helpers(def),
        Kind::Chain(_) => chain_step(),
        Kind::Manual => quote!(),
    };
    let ident = def.cont.ident;
    let (ig, tg, wc) = def.cont.generics.split_for_impl();
    // The parameters reach commands and sub-sessions as text, through the context;
    // reading the fields here keeps the compiler from calling them unused.
    let fields = def.params.iter().map(|param| param.field.ident);
    quote! {
        #helpers

        #[automatically_derived]
        impl #ig #core::Session for #ident #tg #wc {
            async fn process(&self, cx: &mut #core::Context) -> #core::Result<()> {
                let _ = (#(&self.#fields,)*);
                #body
            }
        }
    }
}
