//! The derive input as a typed model: the struct, its fields, their types and doc
//! comments, and the resolved definitions that code generation works from.

use syn::ext::IdentExt;
use syn::{
    Attribute, Data, DeriveInput, Expr, Fields, GenericArgument, Generics, Ident, LitStr, Path,
    PathArguments, Type,
};

/// What a derive accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    /// Structs with named fields only.
    Named,
    /// Structs with named fields and unit structs.
    NamedOrUnit,
}

/// The struct a derive is applied to.
pub(crate) struct Container<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: &'a [Attribute],
    pub(crate) doc: Doc,
    pub(crate) unit: bool,
    pub(crate) fields: Vec<Field<'a>>,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    /// The name as text (raw identifiers unescaped).
    pub(crate) name: String,
    pub(crate) ty: &'a Type,
    /// The type without `Option`.
    pub(crate) inner: &'a Type,
    pub(crate) kind: TypeKind,
    pub(crate) attrs: &'a [Attribute],
    pub(crate) doc: Doc,
}

/// What a field's (inner) type looks like, as far as the syntax tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TypeKind {
    Text,
    Integer,
    Boolean,
    Number,
    Secret,
    /// Anything else (an alias, a custom type): only the compiler knows.
    Other,
}

impl TypeKind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            TypeKind::Text => "text",
            TypeKind::Integer => "an integer",
            TypeKind::Boolean => "a boolean",
            TypeKind::Number => "a number",
            TypeKind::Secret => "a secret",
            TypeKind::Other => "of another type",
        }
    }

    /// Types a filter may compare.
    pub(crate) fn filterable(self) -> bool {
        matches!(
            self,
            TypeKind::Text | TypeKind::Integer | TypeKind::Boolean | TypeKind::Number
        )
    }
}

impl<'a> Container<'a> {
    /// Reads the input; anything but a struct of the accepted shape is an error.
    pub(crate) fn from_ast(
        input: &'a DeriveInput,
        derive: &str,
        accept: Accept,
    ) -> syn::Result<Self> {
        let shape = match accept {
            Accept::Named => "a struct with named fields",
            Accept::NamedOrUnit => "a struct with named fields or a unit struct",
        };
        let fields = match &input.data {
            Data::Struct(s) => &s.fields,
            Data::Enum(e) => {
                return Err(syn::Error::new_spanned(
                    e.enum_token,
                    format!("`#[derive({derive})]` needs {shape}, not an enum"),
                ));
            }
            Data::Union(u) => {
                return Err(syn::Error::new_spanned(
                    u.union_token,
                    format!("`#[derive({derive})]` needs {shape}, not a union"),
                ));
            }
        };
        let (unit, fields) = match fields {
            Fields::Named(named) => (false, named.named.iter().collect::<Vec<_>>()),
            Fields::Unit if accept == Accept::NamedOrUnit => (true, Vec::new()),
            Fields::Unit => {
                return Err(syn::Error::new_spanned(
                    &input.ident,
                    format!("`#[derive({derive})]` needs {shape}, not a unit struct"),
                ));
            }
            Fields::Unnamed(u) => {
                return Err(syn::Error::new_spanned(
                    u,
                    format!("`#[derive({derive})]` needs {shape}, not a tuple struct"),
                ));
            }
        };
        let fields = fields
            .into_iter()
            .filter_map(|f| {
                let ident = f.ident.as_ref()?;
                let inner = option_inner(&f.ty).unwrap_or(&f.ty);
                Some(Field {
                    ident,
                    name: ident.unraw().to_string(),
                    ty: &f.ty,
                    inner,
                    kind: classify(inner),
                    attrs: &f.attrs,
                    doc: Doc::from_attrs(&f.attrs),
                })
            })
            .collect();
        Ok(Container {
            ident: &input.ident,
            generics: &input.generics,
            attrs: &input.attrs,
            doc: Doc::from_attrs(&input.attrs),
            unit,
            fields,
        })
    }

    /// The field of that name.
    pub(crate) fn field(&self, name: &Ident) -> Option<&Field<'a>> {
        let name = name.unraw().to_string();
        self.fields.iter().find(|f| f.name == name)
    }

    /// The type's name split into lower-case words: `WebApp` gives `web app`.
    pub(crate) fn words(&self) -> String {
        heck::ToSnakeCase::to_snake_case(self.ident.unraw().to_string().as_str()).replace('_', " ")
    }

    /// The type's name in snake case: `WebApp` gives `web_app`.
    pub(crate) fn snake_name(&self) -> String {
        heck::ToSnakeCase::to_snake_case(self.ident.unraw().to_string().as_str())
    }
}

fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(g) => ty = &g.elem,
            Type::Paren(p) => ty = &p.elem,
            _ => return ty,
        }
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ungroup(ty) {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

/// `T` of `Option<T>`.
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    let seg = last_segment(ty)?;
    if seg.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    match (args.args.len(), args.args.first()) {
        (1, Some(GenericArgument::Type(t))) => Some(t),
        _ => None,
    }
}

/// What the syntax tells of a type.
pub(crate) fn classify(ty: &Type) -> TypeKind {
    let Some(seg) = last_segment(ty).filter(|s| s.arguments.is_none()) else {
        return TypeKind::Other;
    };
    match seg.ident.to_string().as_str() {
        "String" => TypeKind::Text,
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => TypeKind::Integer,
        "bool" => TypeKind::Boolean,
        "f32" | "f64" => TypeKind::Number,
        "Secret" => TypeKind::Secret,
        _ => TypeKind::Other,
    }
}

/// A doc comment, line by line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Doc {
    lines: Vec<String>,
}

impl Doc {
    pub(crate) fn from_attrs(attrs: &[Attribute]) -> Doc {
        let mut lines = Vec::new();
        for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
            if let syn::Meta::NameValue(nv) = &attr.meta
                && let Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) = &nv.value
            {
                for line in s.value().split('\n') {
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    lines.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned());
                }
            }
        }
        Doc { lines }
    }

    fn paragraphs(&self) -> (Vec<&str>, Vec<&str>) {
        let start = self
            .lines
            .iter()
            .position(|l| !l.trim().is_empty())
            .unwrap_or(self.lines.len());
        let rest = &self.lines[start..];
        let end = rest
            .iter()
            .position(|l| l.trim().is_empty())
            .unwrap_or(rest.len());
        (
            rest[..end].iter().map(String::as_str).collect(),
            rest[end..].iter().map(String::as_str).collect(),
        )
    }

    /// The summary: the first paragraph on one line, without a final period.
    pub(crate) fn summary(&self) -> Option<String> {
        let (first, _) = self.paragraphs();
        let text = first.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        let text = text
            .strip_suffix('.')
            .filter(|t| !t.ends_with('.'))
            .unwrap_or(&text)
            .trim()
            .to_owned();
        (!text.is_empty()).then_some(text)
    }

    /// Everything after the summary.
    pub(crate) fn rest(&self) -> String {
        let (_, rest) = self.paragraphs();
        rest.join("\n").trim().to_owned()
    }

    /// The whole text.
    pub(crate) fn text(&self) -> String {
        self.lines.join("\n").trim().to_owned()
    }
}

/// True for names usable on a command line: lower-case letters, digits, `_` and `-`,
/// starting with a letter.
pub(crate) fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A model field as code generation sees it.
pub(crate) struct ModelField<'a> {
    pub(crate) field: &'a Field<'a>,
    /// The diesel column (the field's name unless `column = ...`).
    pub(crate) column: Ident,
    /// Never written by forms or the API (`read_only`).
    pub(crate) read_only: bool,
    /// The values forms and the API accept (`choices(...)`); empty for any.
    pub(crate) choices: Vec<LitStr>,
}

/// How a model reaches its host, resolved.
pub(crate) enum HostLink<'a> {
    /// The field holds the host's id.
    Direct(&'a Field<'a>),
    /// The field holds the parent's id; the parent reaches the host.
    Via { field: &'a Field<'a>, model: Path },
}

/// Everything `#[derive(MinkeModel)]` generates from.
pub(crate) struct ModelDef<'a> {
    pub(crate) cont: &'a Container<'a>,
    pub(crate) table: Path,
    pub(crate) name: String,
    pub(crate) verbose_name: String,
    /// Given by `verbose_name_plural`; else made from the singular at run time.
    pub(crate) verbose_name_plural: Option<String>,
    /// The fields that are not skipped, in order.
    pub(crate) fields: Vec<ModelField<'a>>,
    /// Index of the id field in `fields`.
    pub(crate) id: usize,
    pub(crate) label: String,
    pub(crate) list: Vec<String>,
    pub(crate) search: Vec<String>,
    pub(crate) filter: Vec<String>,
    pub(crate) host: HostLink<'a>,
    /// No adding, changing or deleting through Minke (`read_only`).
    pub(crate) read_only: bool,
    /// Deleted with the host or parent it points at (`cascade`).
    pub(crate) cascade: bool,
    /// SQLite's FTS5 trigram table over the searched columns (`search_index`).
    pub(crate) search_index: Option<String>,
}

impl<'a> ModelDef<'a> {
    pub(crate) fn id_field(&self) -> &ModelField<'a> {
        &self.fields[self.id]
    }

    pub(crate) fn field(&self, name: &str) -> Option<&ModelField<'a>> {
        self.fields.iter().find(|f| f.field.name == name)
    }

    /// The field naming the host or parent (never skipped: `check` resolved it
    /// among the model's fields).
    pub(crate) fn parent_field(&self) -> &ModelField<'a> {
        let name = match &self.host {
            HostLink::Direct(f) | HostLink::Via { field: f, .. } => &f.name,
        };
        self.field(name)
            .expect("the host link is one of the model's fields")
    }
}

/// Everything `#[derive(Host)]` generates from.
pub(crate) struct HostDef<'a> {
    pub(crate) cont: &'a Container<'a>,
    pub(crate) address: &'a Field<'a>,
    pub(crate) port: Option<&'a Field<'a>>,
    pub(crate) user: Option<&'a Field<'a>>,
    /// One path (`identity_file`).
    pub(crate) identity_file: Option<&'a Field<'a>>,
    /// One path per line (`identity_files`); never given with `identity_file`.
    pub(crate) identity_files: Option<&'a Field<'a>>,
    pub(crate) certificate_files: Option<&'a Field<'a>>,
    pub(crate) host_key_policy: Option<&'a Field<'a>>,
    pub(crate) known_hosts: Option<&'a Field<'a>>,
    pub(crate) disabled: Option<&'a Field<'a>>,
    pub(crate) proxy_command: Option<&'a Field<'a>>,
    pub(crate) forward_agent: Option<&'a Field<'a>>,
    pub(crate) environment: Option<&'a Field<'a>>,
    pub(crate) become_user: Option<&'a Field<'a>>,
    /// The interval and, if given, the count (never given without the interval).
    pub(crate) keepalive: Option<(&'a Field<'a>, Option<&'a Field<'a>>)>,
    /// An integer field (or `Option` of one) holding the jump host's id.
    pub(crate) jump_host: Option<&'a Field<'a>>,
}

/// A session parameter: one field that is not skipped.
pub(crate) struct Param<'a> {
    pub(crate) field: &'a Field<'a>,
    pub(crate) default: Option<LitStr>,
    pub(crate) help: String,
    pub(crate) secret: bool,
    pub(crate) multiline: bool,
}

/// The `process` the derive writes, if any.
pub(crate) enum Kind {
    /// The user writes `impl Session` by hand.
    Manual,
    Command(LitStr),
    Commands(Vec<LitStr>),
    Chain(Vec<Path>),
}

/// A status a command chain or session chain stops at.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakState {
    Success,
    Warning,
    Error,
}

impl BreakState {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "success" => Some(BreakState::Success),
            "warning" => Some(BreakState::Warning),
            "error" => Some(BreakState::Error),
            _ => None,
        }
    }
}

/// Everything `#[derive(Session)]` generates from.
pub(crate) struct SessionDef<'a> {
    pub(crate) cont: &'a Container<'a>,
    pub(crate) name: String,
    pub(crate) verbose_name: String,
    pub(crate) help: String,
    pub(crate) group: Option<String>,
    pub(crate) work_on: Vec<Path>,
    pub(crate) permissions: Vec<String>,
    pub(crate) confirm: bool,
    pub(crate) parallel_per_host: bool,
    pub(crate) timeout: Option<u64>,
    pub(crate) params: Vec<Param<'a>>,
    /// Fields that are not parameters (filled with `Default::default()`).
    pub(crate) skipped: Vec<&'a Field<'a>>,
    pub(crate) kind: Kind,
    pub(crate) break_on: Vec<BreakState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_types() {
        let t = |s: &str| classify(&syn::parse_str::<Type>(s).unwrap());
        assert_eq!(t("String"), TypeKind::Text);
        assert_eq!(t("std::string::String"), TypeKind::Text);
        assert_eq!(t("i64"), TypeKind::Integer);
        assert_eq!(t("minke::Secret"), TypeKind::Secret);
        assert_eq!(t("Vec<u8>"), TypeKind::Other);
        let o = syn::parse_str::<Type>("Option<bool>").unwrap();
        assert_eq!(classify(option_inner(&o).unwrap()), TypeKind::Boolean);
    }

    #[test]
    fn splits_doc_comments() {
        let attrs: Vec<Attribute> = vec![
            syn::parse_quote!(#[doc = " Update the kernel"]),
            syn::parse_quote!(#[doc = " field."]),
            syn::parse_quote!(#[doc = ""]),
            syn::parse_quote!(#[doc = " Longer help."]),
            syn::parse_quote!(#[doc = "   Indented."]),
        ];
        let d = Doc::from_attrs(&attrs);
        assert_eq!(d.summary().unwrap(), "Update the kernel field");
        assert_eq!(d.rest(), "Longer help.\n  Indented.");
        assert!(Doc::default().summary().is_none());
    }

    #[test]
    fn names() {
        assert!(valid_name("kernel_update-2"));
        assert!(!valid_name("Kernel"));
        assert!(!valid_name("2x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
    }
}
