//! The `#[minke(...)]` attribute grammar, parsed into typed attribute sets.
//!
//! Every key has one of four forms: a flag (`confirm`), `key = value`, a list
//! (`work_on(Server, Host)`) or a nested list (`host(via = server_id, model = Server)`).
//! This module reads the items of each form and turns the keys of each derive into
//! typed values; errors are collected, never returned early, so that one compilation
//! reports every mistake.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, Lit, LitInt, LitStr, Path, Token};

/// Errors gathered while reading the input, reported together.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub(crate) fn new() -> Self {
        Errors::default()
    }

    /// Records an error.
    pub(crate) fn push(&mut self, e: syn::Error) {
        self.errors.push(e);
    }

    /// Records an error spanned at `at`.
    pub(crate) fn spanned(&mut self, at: impl ToTokens, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(at, msg));
    }

    /// Records the error of a result, giving back its value.
    pub(crate) fn take<T>(&mut self, r: syn::Result<T>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }

    /// All errors as one, if there were any.
    pub(crate) fn finish(self) -> syn::Result<()> {
        let mut it = self.errors.into_iter();
        match it.next() {
            None => Ok(()),
            Some(mut first) => {
                first.extend(it);
                Err(first)
            }
        }
    }
}

/// One `key`, `key = value` or `key(...)` inside `#[minke(...)]`.
pub(crate) struct Item {
    pub(crate) key: Ident,
    pub(crate) value: ItemValue,
}

/// What follows a key.
pub(crate) enum ItemValue {
    /// Nothing: a flag.
    Flag,
    /// `= value`.
    Value(Expr),
    /// `( ... )`, kept as tokens to be parsed by the key's own rule.
    List(TokenStream),
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            ItemValue::Value(input.parse()?)
        } else if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            ItemValue::List(content.parse()?)
        } else {
            ItemValue::Flag
        };
        Ok(Item { key, value })
    }
}

impl Item {
    /// The key as written (raw identifiers unescaped).
    pub(crate) fn name(&self) -> String {
        self.key.unraw().to_string()
    }

    fn tokens(&self) -> TokenStream {
        let key = &self.key;
        match &self.value {
            ItemValue::Flag => key.to_token_stream(),
            ItemValue::Value(v) => quote::quote!(#key = #v),
            ItemValue::List(l) => quote::quote!(#key(#l)),
        }
    }

    fn expected(&self, usage: &str) -> syn::Error {
        syn::Error::new_spanned(self.tokens(), format!("expected `{usage}`"))
    }

    /// A flag: `confirm`.
    pub(crate) fn flag(&self, usage: &str) -> syn::Result<()> {
        match self.value {
            ItemValue::Flag => Ok(()),
            _ => Err(self.expected(usage)),
        }
    }

    fn value(&self, usage: &str) -> syn::Result<&Expr> {
        match &self.value {
            ItemValue::Value(v) => Ok(v),
            _ => Err(self.expected(usage)),
        }
    }

    /// A Rust path: `table = schema::servers`.
    pub(crate) fn path(&self, usage: &str) -> syn::Result<Path> {
        match self.value(usage)? {
            Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Ok(p.path.clone()),
            other => Err(syn::Error::new_spanned(
                other,
                format!("expected a Rust path, as in `{usage}`"),
            )),
        }
    }

    /// A field name: `label = name`.
    pub(crate) fn ident(&self, usage: &str) -> syn::Result<Ident> {
        match self.value(usage)? {
            Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => {
                p.path.get_ident().cloned().ok_or_else(|| {
                    syn::Error::new_spanned(p, format!("expected a field name, as in `{usage}`"))
                })
            }
            other => Err(syn::Error::new_spanned(
                other,
                format!("expected a field name, as in `{usage}`"),
            )),
        }
    }

    /// Quoted text: `name = "kernel"`.
    pub(crate) fn string(&self, usage: &str) -> syn::Result<LitStr> {
        match self.value(usage)? {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.clone()),
            other => Err(syn::Error::new_spanned(
                other,
                format!("expected quoted text, as in `{usage}`"),
            )),
        }
    }

    /// A literal turned into text: strings, integers, floats and booleans.
    pub(crate) fn literal_text(&self, usage: &str) -> syn::Result<LitStr> {
        let e = self.value(usage)?;
        let Expr::Lit(syn::ExprLit { lit, .. }) = e else {
            return Err(syn::Error::new_spanned(
                e,
                format!("expected a literal, as in `{usage}`"),
            ));
        };
        let text = match lit {
            Lit::Str(s) => return Ok(s.clone()),
            Lit::Int(i) => i.base10_digits().to_owned(),
            Lit::Float(f) => f.base10_digits().to_owned(),
            Lit::Bool(b) => b.value.to_string(),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    format!("expected a literal, as in `{usage}`"),
                ));
            }
        };
        Ok(LitStr::new(&text, lit.span()))
    }

    /// A whole number: `timeout = 300`.
    pub(crate) fn int(&self, usage: &str) -> syn::Result<LitInt> {
        match self.value(usage)? {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(i), ..
            }) => Ok(i.clone()),
            other => Err(syn::Error::new_spanned(
                other,
                format!("expected a whole number, as in `{usage}`"),
            )),
        }
    }

    /// The tokens of a list: `list(a, b)`.
    pub(crate) fn list_tokens(&self, usage: &str) -> syn::Result<&TokenStream> {
        match &self.value {
            ItemValue::List(l) => Ok(l),
            _ => Err(self.expected(usage)),
        }
    }

    /// A list of `T`: `list(a, b)`.
    pub(crate) fn list<T: Parse>(&self, usage: &str) -> syn::Result<Vec<T>> {
        let tokens = self.list_tokens(usage)?;
        Ok(Punctuated::<T, Token![,]>::parse_terminated
            .parse2(tokens.clone())?
            .into_iter()
            .collect())
    }

    /// A nested list of items: `host(via = server_id, model = Server)`.
    pub(crate) fn nested(&self, usage: &str) -> syn::Result<Vec<Item>> {
        self.list::<Item>(usage)
    }

    /// True for the `key(...)` form.
    pub(crate) fn is_list(&self) -> bool {
        matches!(self.value, ItemValue::List(_))
    }
}

/// The keys one derive understands, with their usage (shown in errors).
pub(crate) type Keys = &'static [(&'static str, &'static str)];

fn usage_of(keys: Keys, name: &str) -> Option<&'static str> {
    keys.iter().find(|(k, _)| *k == name).map(|(_, u)| *u)
}

fn key_list(keys: Keys) -> String {
    keys.iter()
        .map(|(k, _)| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the items of every `#[minke(...)]` attribute.
pub(crate) fn items(attrs: &[Attribute], errs: &mut Errors) -> Vec<Item> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("minke")) {
        let parsed = match &attr.meta {
            syn::Meta::List(l) => {
                l.parse_args_with(Punctuated::<Item, Token![,]>::parse_terminated)
            }
            other => Err(syn::Error::new_spanned(other, "expected `#[minke(...)]`")),
        };
        if let Some(list) = errs.take(parsed) {
            out.extend(list);
        }
    }
    out
}

/// Walks the items of one derive: each known key is handed to `each` once with its
/// usage; a duplicate key is an error; an unknown key is an error listing the valid
/// ones unless `others` (keys of a sibling derive sharing the attribute) has it.
pub(crate) fn walk(
    items: Vec<Item>,
    what: &str,
    keys: Keys,
    others: Option<Keys>,
    errs: &mut Errors,
    mut each: impl FnMut(&Item, &'static str, &mut Errors),
) -> Vec<String> {
    let mut seen: Vec<(String, bool)> = Vec::new();
    for item in items {
        let name = item.name();
        let Some(usage) = usage_of(keys, &name) else {
            if others.is_none_or(|o| usage_of(o, &name).is_none()) {
                let mut valid = key_list(keys);
                if let Some(o) = others {
                    valid = format!("{valid}, {}", key_list(o));
                }
                errs.spanned(
                    &item.key,
                    format!("unknown {what} key `{name}`; valid keys are {valid}"),
                );
            }
            continue;
        };
        if let Some((_, was_list)) = seen.iter().find(|(k, _)| *k == name) {
            if name == "host" && *was_list != item.is_list() {
                errs.spanned(
                    &item.key,
                    "give either `host = field` or `host(via = field, model = Parent)`, not both",
                );
            } else {
                errs.spanned(&item.key, format!("duplicate key `{name}`"));
            }
            continue;
        }
        seen.push((name, item.is_list()));
        each(&item, usage, errs);
    }
    seen.into_iter().map(|(k, _)| k).collect()
}

/// How a model reaches its host.
pub(crate) enum HostAttr {
    /// `host = field`: the field holds the host's id.
    Direct(Ident),
    /// `host(via = field, model = Parent)`: the field holds the parent's id.
    Via { field: Ident, model: Path },
}

/// The container keys of `#[derive(MinkeModel)]`.
pub(crate) const MODEL_KEYS: Keys = &[
    ("table", "table = servers"),
    ("name", "name = \"server\""),
    ("verbose_name", "verbose_name = \"server\""),
    ("verbose_name_plural", "verbose_name_plural = \"servers\""),
    ("id", "id = id"),
    ("label", "label = name"),
    ("list", "list(name, hostname)"),
    ("search", "search(name, hostname)"),
    ("filter", "filter(name, hostname)"),
    (
        "host",
        "host = host_id` or `host(via = server_id, model = Server)",
    ),
    ("read_only", "read_only"),
    ("cascade", "cascade"),
    ("search_index", "search_index = servers_search"),
];

/// The field keys of `#[derive(MinkeModel)]`.
pub(crate) const MODEL_FIELD_KEYS: Keys = &[
    ("skip", "skip"),
    ("column", "column = name"),
    ("read_only", "read_only"),
    ("choices", "choices(\"web\", \"db\")"),
];

/// The container keys of `#[derive(Host)]`.
pub(crate) const HOST_KEYS: Keys = &[
    ("address", "address = hostname"),
    ("port", "port = port"),
    ("user", "user = username"),
    ("identity_file", "identity_file = identity_file"),
    ("identity_files", "identity_files = identity_files"),
    ("certificate_files", "certificate_files = certificate_files"),
    ("host_key_policy", "host_key_policy = host_key_policy"),
    ("known_hosts", "known_hosts = known_hosts"),
    ("disabled", "disabled = disabled"),
    ("proxy_command", "proxy_command = proxy_command"),
    ("forward_agent", "forward_agent = forward_agent"),
    ("environment", "environment = environment"),
    ("become_user", "become_user = become_user"),
    (
        "keepalive_interval",
        "keepalive_interval = keepalive_interval",
    ),
    (
        "keepalive_count_max",
        "keepalive_count_max = keepalive_count_max",
    ),
    ("jump_host", "jump_host = jump_host_id"),
];

/// The container keys of `#[derive(Session)]`.
pub(crate) const SESSION_KEYS: Keys = &[
    ("work_on", "work_on(Server, HostRecord)"),
    ("name", "name = \"kernel\""),
    ("verbose_name", "verbose_name = \"Update kernel\""),
    ("help", "help = \"...\""),
    ("group", "group = \"Info\""),
    ("permissions", "permissions(\"ops\")"),
    ("confirm", "confirm"),
    ("parallel_per_host", "parallel_per_host"),
    ("timeout", "timeout = 300"),
    ("command", "command = \"uname -a\""),
    ("commands", "commands(\"uname -a\", \"uptime\")"),
    ("chain", "chain(Uptime, Kernel)"),
    ("break_on", "break_on(error, warning)"),
];

/// The field keys of `#[derive(Session)]`.
pub(crate) const SESSION_FIELD_KEYS: Keys = &[
    ("default", "default = \"/\""),
    ("help", "help = \"...\""),
    ("secret", "secret"),
    ("multiline", "multiline"),
    ("skip", "skip"),
];

/// `#[minke(...)]` on a model struct.
#[derive(Default)]
pub(crate) struct ModelAttrs {
    /// The keys given, valid or not (a bad value is not also a missing key).
    pub(crate) given: Vec<String>,
    pub(crate) table: Option<Path>,
    pub(crate) name: Option<LitStr>,
    pub(crate) verbose_name: Option<LitStr>,
    pub(crate) verbose_name_plural: Option<LitStr>,
    pub(crate) id: Option<Ident>,
    pub(crate) label: Option<Ident>,
    pub(crate) list: Option<Vec<Ident>>,
    pub(crate) search: Option<Vec<Ident>>,
    pub(crate) filter: Option<Vec<Ident>>,
    pub(crate) host: Option<HostAttr>,
    pub(crate) read_only: bool,
    pub(crate) cascade: bool,
    pub(crate) search_index: Option<Ident>,
}

impl ModelAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errs: &mut Errors) -> Self {
        let mut out = ModelAttrs::default();
        let items = items(attrs, errs);
        out.given = walk(
            items,
            "model",
            MODEL_KEYS,
            Some(HOST_KEYS),
            errs,
            |item, usage, errs| match item.name().as_str() {
                "table" => out.table = errs.take(item.path(usage)),
                "name" => out.name = errs.take(item.string(usage)),
                "verbose_name" => out.verbose_name = errs.take(item.string(usage)),
                "verbose_name_plural" => {
                    out.verbose_name_plural = errs.take(item.string(usage));
                }
                "id" => out.id = errs.take(item.ident(usage)),
                "label" => out.label = errs.take(item.ident(usage)),
                "list" => out.list = errs.take(item.list(usage)),
                "search" => out.search = errs.take(item.list(usage)),
                "filter" => out.filter = errs.take(item.list(usage)),
                "host" => out.host = errs.take(parse_host(item, usage)),
                "read_only" => out.read_only = errs.take(item.flag(usage)).is_some(),
                "cascade" => out.cascade = errs.take(item.flag(usage)).is_some(),
                "search_index" => out.search_index = errs.take(item.ident(usage)),
                _ => {}
            },
        );
        out
    }
}

fn parse_host(item: &Item, usage: &'static str) -> syn::Result<HostAttr> {
    if !item.is_list() {
        return item.ident(usage).map(HostAttr::Direct);
    }
    const SUB: Keys = &[("via", "via = server_id"), ("model", "model = Server")];
    let mut errs = Errors::new();
    let (mut field, mut model) = (None, None);
    walk(
        item.nested(usage)?,
        "`host(...)`",
        SUB,
        None,
        &mut errs,
        |sub, usage, errs| match sub.name().as_str() {
            "via" => field = errs.take(sub.ident(usage)),
            "model" => model = errs.take(sub.path(usage)),
            _ => {}
        },
    );
    errs.finish()?;
    match (field, model) {
        (Some(field), Some(model)) => Ok(HostAttr::Via { field, model }),
        (None, _) => Err(syn::Error::new_spanned(
            item.tokens(),
            "`host(...)` needs `via = field`",
        )),
        (_, None) => Err(syn::Error::new_spanned(
            item.tokens(),
            "`host(...)` needs `model = Parent`",
        )),
    }
}

/// `#[minke(...)]` on a model field.
#[derive(Default)]
pub(crate) struct ModelFieldAttrs {
    pub(crate) skip: bool,
    pub(crate) column: Option<Ident>,
    pub(crate) read_only: bool,
    /// The key's span and its values.
    pub(crate) choices: Option<(proc_macro2::TokenStream, Vec<LitStr>)>,
}

impl ModelFieldAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errs: &mut Errors) -> Self {
        let mut out = ModelFieldAttrs::default();
        let items = items(attrs, errs);
        walk(
            items,
            "model field",
            MODEL_FIELD_KEYS,
            None,
            errs,
            |item, usage, errs| match item.name().as_str() {
                "skip" => out.skip = errs.take(item.flag(usage)).is_some(),
                "column" => out.column = errs.take(item.ident(usage)),
                "read_only" => out.read_only = errs.take(item.flag(usage)).is_some(),
                "choices" => {
                    out.choices = errs
                        .take(item.list::<LitStr>(usage))
                        .map(|l| (item.tokens(), l));
                }
                _ => {}
            },
        );
        out
    }
}

/// `#[minke(...)]` on a host struct: which field gives what.
#[derive(Default)]
pub(crate) struct HostAttrs {
    /// The keys given, valid or not, as written (for errors about two keys).
    pub(crate) keys: Vec<Ident>,
    pub(crate) address: Option<Ident>,
    pub(crate) port: Option<Ident>,
    pub(crate) user: Option<Ident>,
    pub(crate) identity_file: Option<Ident>,
    pub(crate) identity_files: Option<Ident>,
    pub(crate) certificate_files: Option<Ident>,
    pub(crate) host_key_policy: Option<Ident>,
    pub(crate) known_hosts: Option<Ident>,
    pub(crate) disabled: Option<Ident>,
    pub(crate) proxy_command: Option<Ident>,
    pub(crate) forward_agent: Option<Ident>,
    pub(crate) environment: Option<Ident>,
    pub(crate) become_user: Option<Ident>,
    pub(crate) keepalive_interval: Option<Ident>,
    pub(crate) keepalive_count_max: Option<Ident>,
    pub(crate) jump_host: Option<Ident>,
}

impl HostAttrs {
    /// Reads the host keys; the model's keys are left to `#[derive(MinkeModel)]`, which
    /// also reports unknown keys (so that one mistake gives one error).
    pub(crate) fn parse(attrs: &[Attribute], errs: &mut Errors) -> Self {
        let mut out = HostAttrs::default();
        let items: Vec<Item> = items(attrs, &mut Errors::new())
            .into_iter()
            .filter(|i| usage_of(HOST_KEYS, &i.name()).is_some())
            .collect();
        walk(items, "host", HOST_KEYS, None, errs, |item, usage, errs| {
            out.keys.push(item.key.clone());
            let v = errs.take(item.ident(usage));
            match item.name().as_str() {
                "address" => out.address = v,
                "port" => out.port = v,
                "user" => out.user = v,
                "identity_file" => out.identity_file = v,
                "identity_files" => out.identity_files = v,
                "certificate_files" => out.certificate_files = v,
                "host_key_policy" => out.host_key_policy = v,
                "known_hosts" => out.known_hosts = v,
                "disabled" => out.disabled = v,
                "proxy_command" => out.proxy_command = v,
                "forward_agent" => out.forward_agent = v,
                "environment" => out.environment = v,
                "become_user" => out.become_user = v,
                "keepalive_interval" => out.keepalive_interval = v,
                "keepalive_count_max" => out.keepalive_count_max = v,
                "jump_host" => out.jump_host = v,
                _ => {}
            }
        });
        out
    }

    /// The key of that name as written, if given (valid or not).
    pub(crate) fn key(&self, name: &str) -> Option<&Ident> {
        self.keys.iter().find(|k| k.unraw() == name)
    }
}

/// What a session's `process` is, when the derive writes it.
pub(crate) enum KindAttr {
    /// `command = "..."`.
    Command(LitStr),
    /// `commands("...", ...)`.
    Commands(Vec<LitStr>),
    /// `chain(A, B)`.
    Chain(Vec<Path>),
}

/// `#[minke(...)]` on a session struct.
#[derive(Default)]
pub(crate) struct SessionAttrs {
    /// The keys given, valid or not.
    pub(crate) given: Vec<String>,
    pub(crate) work_on: Option<(Ident, Vec<Path>)>,
    pub(crate) name: Option<LitStr>,
    pub(crate) verbose_name: Option<LitStr>,
    pub(crate) help: Option<LitStr>,
    pub(crate) group: Option<LitStr>,
    pub(crate) permissions: Vec<LitStr>,
    pub(crate) confirm: bool,
    pub(crate) parallel_per_host: bool,
    pub(crate) timeout: Option<u64>,
    /// Every kind key given, with its key (more than one is an error).
    pub(crate) kinds: Vec<(Ident, Option<KindAttr>)>,
    pub(crate) break_on: Option<(Ident, Vec<Ident>)>,
}

impl SessionAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errs: &mut Errors) -> Self {
        let mut out = SessionAttrs::default();
        let items = items(attrs, errs);
        out.given = walk(
            items,
            "session",
            SESSION_KEYS,
            None,
            errs,
            |item, usage, errs| match item.name().as_str() {
                "work_on" => {
                    out.work_on = errs.take(item.list(usage)).map(|l| (item.key.clone(), l))
                }
                "name" => out.name = errs.take(item.string(usage)),
                "verbose_name" => out.verbose_name = errs.take(item.string(usage)),
                "help" => out.help = errs.take(item.string(usage)),
                "group" => out.group = errs.take(item.string(usage)),
                "permissions" => out.permissions = errs.take(item.list(usage)).unwrap_or_default(),
                "confirm" => out.confirm = errs.take(item.flag(usage)).is_some(),
                "parallel_per_host" => {
                    out.parallel_per_host = errs.take(item.flag(usage)).is_some()
                }
                "timeout" => {
                    let secs = item.int(usage).and_then(|i| {
                        i.base10_parse::<u64>().map_err(|_| {
                            syn::Error::new_spanned(
                                &i,
                                "expected a whole number of seconds, as in `timeout = 300`",
                            )
                        })
                    });
                    out.timeout = errs.take(secs);
                }
                "command" => out.kinds.push((
                    item.key.clone(),
                    errs.take(item.string(usage)).map(KindAttr::Command),
                )),
                "commands" => out.kinds.push((
                    item.key.clone(),
                    errs.take(item.list(usage)).map(KindAttr::Commands),
                )),
                "chain" => out.kinds.push((
                    item.key.clone(),
                    errs.take(item.list(usage)).map(KindAttr::Chain),
                )),
                "break_on" => {
                    out.break_on = errs.take(item.list(usage)).map(|l| (item.key.clone(), l))
                }
                _ => {}
            },
        );
        out
    }
}

/// `#[minke(...)]` on a session field.
#[derive(Default)]
pub(crate) struct SessionFieldAttrs {
    pub(crate) default: Option<LitStr>,
    pub(crate) help: Option<LitStr>,
    pub(crate) secret: bool,
    pub(crate) multiline: bool,
    pub(crate) skip: Option<Span>,
}

impl SessionFieldAttrs {
    pub(crate) fn parse(attrs: &[Attribute], errs: &mut Errors) -> Self {
        let mut out = SessionFieldAttrs::default();
        let items = items(attrs, errs);
        walk(
            items,
            "session field",
            SESSION_FIELD_KEYS,
            None,
            errs,
            |item, usage, errs| match item.name().as_str() {
                "default" => out.default = errs.take(item.literal_text(usage)),
                "help" => out.help = errs.take(item.string(usage)),
                "secret" => out.secret = errs.take(item.flag(usage)).is_some(),
                "multiline" => out.multiline = errs.take(item.flag(usage)).is_some(),
                "skip" => out.skip = errs.take(item.flag(usage)).map(|()| item.key.span()),
                _ => {}
            },
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(attr: TokenStream) -> (Vec<Item>, Errors) {
        let attrs = Attribute::parse_outer.parse2(attr).unwrap();
        let mut errs = Errors::new();
        (items(&attrs, &mut errs), errs)
    }

    #[test]
    fn reads_the_four_forms() {
        let (items, errs) = parse(
            quote::quote!(#[minke(confirm, name = "x", list(a, b), host(via = s, model = S))]),
        );
        assert!(errs.finish().is_ok());
        assert_eq!(items.len(), 4);
        assert!(matches!(items[0].value, ItemValue::Flag));
        assert_eq!(items[1].string("").unwrap().value(), "x");
        assert_eq!(items[2].list::<Ident>("").unwrap().len(), 2);
        assert_eq!(items[3].nested("").unwrap().len(), 2);
    }

    #[test]
    fn unknown_and_duplicate_keys() {
        let attrs = Attribute::parse_outer
            .parse2(quote::quote!(#[minke(table = t, tabel = t, table = u)]))
            .unwrap();
        let mut errs = Errors::new();
        let _ = ModelAttrs::parse(&attrs, &mut errs);
        let msg = errs
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>();
        assert!(
            msg[0].starts_with("unknown model key `tabel`; valid keys are `table`, `name`"),
            "{msg:?}"
        );
        assert!(
            msg[0].contains("`address`"),
            "host keys are listed too: {msg:?}"
        );
        assert_eq!(msg[1], "duplicate key `table`");
    }

    #[test]
    fn literal_defaults_become_text() {
        let attrs = Attribute::parse_outer
            .parse2(quote::quote!(#[minke(default = 42)]))
            .unwrap();
        let mut errs = Errors::new();
        let a = SessionFieldAttrs::parse(&attrs, &mut errs);
        assert!(errs.finish().is_ok());
        assert_eq!(a.default.unwrap().value(), "42");
    }
}
