//! Code generation: one module per derive, plus the dummy impls emitted next to
//! errors.
//!
//! Generated code names only `::minke::__private::...` paths, lives in
//! `const _: () = { ... };` and marks its impls `#[automatically_derived]`.

pub(crate) mod dummy;
mod host;
mod model;
mod session;

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) use host::derive_host_inner;
pub(crate) use model::derive_model_inner;
pub(crate) use session::derive_session_inner;

/// Runs a derive: its code, or its errors as `compile_error!` next to a dummy impl so
/// that one mistake gives one error.
pub(crate) fn emit(
    input: TokenStream,
    inner: fn(TokenStream) -> syn::Result<TokenStream>,
    dummy: fn(&DeriveInput) -> TokenStream,
) -> TokenStream {
    match inner(input.clone()) {
        Ok(code) => code,
        Err(e) => {
            let errors = e.into_compile_error();
            let dummy = syn::parse2::<DeriveInput>(input)
                .map(|i| dummy(&i))
                .unwrap_or_default();
            quote!(#errors #dummy)
        }
    }
}

/// Wraps generated items in an anonymous constant.
pub(crate) fn wrap(items: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(unused_qualifications, non_upper_case_globals, clippy::needless_borrow)]
        const _: () = {
            #items
        };
    }
}

/// `::minke::__private`.
pub(crate) fn private() -> TokenStream {
    quote!(::minke::__private)
}
