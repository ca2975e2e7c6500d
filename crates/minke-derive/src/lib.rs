//! Derive macros of [Minke](https://docs.rs/minke): `MinkeModel`, `Host` and `Session`.
//!
//! Use them through the `minke` crate, which re-exports them; the code they generate
//! names only paths of `minke`. All three read one attribute, `#[minke(...)]`, on the
//! struct and on its fields, with four forms: a flag (`confirm`), `key = value`, a list
//! (`work_on(Server, HostRecord)`) and a nested list (`host(via = server_id, model =
//! Server)`). Rust paths and field names are written bare (`table = servers`), human
//! text quoted (`verbose_name = "web application"`).
//!
//! Mistakes are compile errors pointing at the offending token, all reported at once;
//! an unknown key lists the valid ones. The examples below are compiled by the `minke`
//! crate's tests (`crates/minke/tests/ui/pass`).

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro::TokenStream;

/// Makes a diesel struct a Minke model: implements `minke::MinkeModel` and
/// `minke::StoredModel` (loading with filters, search, ids, limit and offset, counting,
/// saving fields, finding the object's host, and adding, changing and deleting objects
/// from values, as the admin's forms and the API do).
///
/// Writing goes column by column (no diesel `Insertable` or `AsChangeset` is needed):
/// each field must have a type diesel can write to its column, else the compile error
/// points at the field. Adding leaves out the id (the database assigns it) and
/// `read_only` fields (`NULL` or the column's default).
///
/// The struct needs named fields and diesel's `Queryable` and `Selectable` derives for
/// its table; every field that is not `#[minke(skip)]` must be one of Minke's field
/// types (`String`, the integers, `bool`, `f32`, `f64` and `Option` of those).
///
/// ```
/// use diesel::prelude::*;
/// use minke::prelude::*;
/// # diesel::table! { servers (id) { id -> BigInt, name -> Text, hostname -> Text, host_id -> BigInt, kernel -> Nullable<Text>, } }
/// # diesel::table! { webapps (id) { id -> BigInt, name -> Text, server_id -> BigInt, } }
///
/// #[derive(Clone, Queryable, Selectable, MinkeModel)]
/// #[diesel(table_name = servers)]
/// #[minke(table = servers, host = host_id, list(name, hostname, kernel))]
/// /// A server.
/// pub struct Server {
///     pub id: i64,
///     pub name: String,
///     pub hostname: String,
///     pub host_id: i64,
///     pub kernel: Option<String>,
/// }
///
/// #[derive(Clone, Queryable, Selectable, MinkeModel)]
/// #[diesel(table_name = webapps)]
/// #[minke(table = webapps, host(via = server_id, model = Server))]
/// pub struct WebApp {
///     pub id: i64,
///     pub name: String,
///     pub server_id: i64,
/// }
/// # fn main() {
/// #     assert_eq!(<WebApp as minke::MinkeModel>::NAME, "web_app");
/// # }
/// ```
///
/// # Struct keys
///
/// | key | meaning | default |
/// |-----|---------|---------|
/// | `table = path` | the diesel table module (`path::table`, `path::column`) | required |
/// | `host = field` | the field holding the id of the model's host (`host = id` for a host model) | one of the two `host` forms is required |
/// | `host(via = field, model = Parent)` | the field holding the id of a `Parent` object; the host is the parent's host, recursively | |
/// | `name = "..."` | the model's name on the command line | the snake_case type name (`WebApp`: `web_app`) |
/// | `verbose_name = "..."` | the name shown to people | the doc comment's first paragraph without its final period, else the type name in lower-case words (`web app`) |
/// | `id = field` | the primary key | `id` |
/// | `label = field` | the field shown as the object's name | `name` if there is such a field, else the id |
/// | `list(a, b)` | the fields listed in tables | every field |
/// | `search(a, b)` | the text fields `--search` looks in | every `String` / `Option<String>` field |
/// | `filter(a, b)` | the fields `--filter` accepts | every field of type `String`, an integer, `bool`, `f32`, `f64` or `Option` of those |
/// | `verbose_name_plural = "..."` | the name of several, shown to people | the English plural of `verbose_name` (`minke::plural_of`) |
/// | `read_only` | objects are not added, changed or deleted through the admin or the API (a view, a table another program keeps) | written |
/// | `search_index = name` | an FTS5 table with the trigram tokenizer over the searched columns (rowid = the id, kept by triggers, made by the app's SQLite migration): on SQLite a search of three characters or more looks there instead of reading every row | `LIKE` on every row |
/// | `cascade` | deleting the object the `host` field points at deletes this model's objects with it; without, they keep it from being deleted | protect |
///
/// Names must be lower-case letters, digits, `_` and `-`, starting with a letter.
/// Keys of `#[derive(Host)]` may appear in the same attribute.
///
/// # Field keys
///
/// | key | meaning |
/// |-----|---------|
/// | `skip` | the field is invisible to Minke: not read or written by name, not listed, filtered or saved (diesel still loads it) |
/// | `column = name` | the diesel column, when it is not named like the field |
/// | `read_only` | shown in forms, never written by them or the API (sessions still may) |
/// | `choices("a", "b")` | a text field takes only these values (a menu in forms) |
///
/// # Filters
///
/// Every filter field takes `= != < <= > >=`; text fields also take `~` (contains,
/// `LIKE` with `%`, `_` and `\` escaped). Values are parsed as the field's type
/// (without `Option`), so a bad value is a clear error before any SQL runs. `set_field`
/// and `save_fields` accept every field but the id.
#[proc_macro_derive(MinkeModel, attributes(minke))]
pub fn derive_minke_model(input: TokenStream) -> TokenStream {
    expand::emit(
        input.into(),
        expand::derive_model_inner,
        expand::dummy::model,
    )
    .into()
}

/// Makes a model a host Minke can connect to: implements `minke::Host` for a struct
/// that also derives `MinkeModel` (usually with `host = id`).
///
/// ```
/// use diesel::prelude::*;
/// use minke::prelude::*;
/// # diesel::table! { my_hosts (id) { id -> BigInt, name -> Text, ip -> Nullable<Text>, ssh_port -> Integer, login -> Nullable<Text>, keys -> Text, env -> Nullable<Text>, via -> Nullable<BigInt>, } }
///
/// #[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
/// #[diesel(table_name = my_hosts)]
/// #[minke(table = my_hosts, host = id, address = ip, port = ssh_port, user = login)]
/// #[minke(identity_files = keys, environment = env, jump_host = via)]
/// pub struct MyHost {
///     pub id: i64,
///     pub name: String,
///     pub ip: Option<String>,
///     pub ssh_port: i32,
///     pub login: Option<String>,
///     /// One private key file per line.
///     pub keys: String,
///     /// `NAME=value` lines.
///     pub env: Option<String>,
///     /// The id of the host to connect through.
///     pub via: Option<i64>,
/// }
/// # fn main() {
/// #     let h = MyHost {
/// #         id: 2, name: "web1".into(), ip: None, ssh_port: 2222, login: None,
/// #         keys: "/keys/a\n/keys/b".into(), env: Some("LANG=C.UTF-8".into()), via: Some(1),
/// #     };
/// #     let t = minke::Host::target(&h);
/// #     assert_eq!((t.address.as_str(), t.port), ("web1", 2222));
/// #     assert_eq!(t.identity_files.len(), 2);
/// #     assert_eq!(t.env, [("LANG".to_owned(), "C.UTF-8".to_owned())]);
/// #     assert_eq!(minke::Host::jump_host_id(&h), Some(minke::HostId::new(1)));
/// # }
/// ```
///
/// # Struct keys
///
/// Each names the field that gives one part of the connection; only `address` is
/// required. Text fields may be `String` or `Option<String>`; an empty or missing value
/// keeps the default. Lists are text with one entry per line (blank lines are left out,
/// each entry trimmed), as in Minke's own host table.
///
/// | key | field type | default when not given or empty |
/// |-----|------------|---------|
/// | `address = field` | text | the label (`name`) |
/// | `port = field` | integer or text | 22 |
/// | `user = field` | text | the local user (`$USER`) |
/// | `identity_file = field` | text: one private key file (`~/` is expanded) | none: the agent only |
/// | `identity_files = field` | text: private key files, one per line, offered in order (`~/` is expanded); not with `identity_file` | none: the agent only |
/// | `certificate_files = field` | text: OpenSSH user certificates, one per line (`~/` is expanded) | none: only a `KEY-cert.pub` beside a key file |
/// | `host_key_policy = field` | text: `strict`, `accept-new`, `off` (or `yes`, `no`) | `strict`, also for unknown values |
/// | `known_hosts = field` | text (`~/` is expanded) | `~/.ssh/known_hosts` |
/// | `disabled = field` | `bool` (or integer, text such as `yes`, `off`) | `false`, also for unreadable text |
/// | `proxy_command = field` | text: a local command carrying the connection (OpenSSH's `ProxyCommand`) | none: TCP |
/// | `forward_agent = field` | `bool` (or integer, text such as `yes`, `off`) | `false`, also for unreadable text |
/// | `environment = field` | text: `NAME=value` lines, set for each command in order; lines that are not `NAME=value` with a valid variable name are left out | none |
/// | `become_user = field` | text: the user `become` commands run as | root |
/// | `keepalive_interval = field` | integer or text: seconds of silence before a keepalive | no keepalives of the host's own (the engine's apply), also for 0 |
/// | `keepalive_count_max = field` | integer or text: unanswered keepalives before the connection counts as lost; needs `keepalive_interval` | 3, also for 0 |
/// | `jump_host = field` | integer or `Option` of one: the id of the host to connect through, in the same model (OpenSSH's `ProxyJump`) | none: direct, also for ids of 0 or less |
///
/// The target's id and name are the model's id and label. `jump_host` implements
/// `Host::jump_host_id`; the engine loads the jump host (and its own jump host, and so
/// on) and connects through the chain.
#[proc_macro_derive(Host, attributes(minke))]
pub fn derive_host(input: TokenStream) -> TokenStream {
    expand::emit(input.into(), expand::derive_host_inner, expand::dummy::host).into()
}

/// Makes a struct a session: implements `minke::SessionInfo` (metadata and
/// construction from parameters), and `minke::Session` too for the ready-made kinds.
///
/// Each named field is a typed parameter (`String`, integers, `bool`, `f32`, `f64`,
/// `minke::Secret`, `Option` of those); a unit struct has none.
///
/// ```
/// use diesel::prelude::*;
/// use minke::prelude::*;
/// # diesel::table! { servers (id) { id -> BigInt, name -> Text, host_id -> BigInt, kernel -> Nullable<Text>, } }
/// # #[derive(Clone, Queryable, Selectable, MinkeModel)]
/// # #[diesel(table_name = servers)]
/// # #[minke(table = servers, host = host_id)]
/// # pub struct Server { pub id: i64, pub name: String, pub host_id: i64, pub kernel: Option<String> }
///
/// /// Update the kernel field.
/// ///
/// /// Reads `uname -r` into the kernel field.
/// #[derive(Session)]
/// #[minke(work_on(Server), group = "Info", permissions("ops"), confirm, timeout = 300)]
/// pub struct Kernel;
///
/// impl Session for Kernel {
///     async fn process(&self, cx: &mut Context) -> Result<()> {
///         cx.update_field("kernel", "uname -r", None).await?;
///         Ok(())
///     }
/// }
///
/// #[derive(Session)]
/// #[minke(work_on(Server), command = "df -h {path}")]
/// pub struct Disk {
///     /// Path to check
///     #[minke(default = "/")]
///     pub path: String,
/// }
///
/// #[derive(Session)]
/// #[minke(work_on(Server), commands("uname -a", "uptime"), break_on(error, warning))]
/// pub struct Info;
///
/// #[derive(Session)]
/// #[minke(work_on(Server), chain(Info, Kernel))]
/// pub struct Everything;
/// # fn main() {
/// #     assert_eq!(<Disk as minke::SessionInfo>::meta().name, "disk");
/// # }
/// ```
///
/// # Struct keys
///
/// | key | meaning | default |
/// |-----|---------|---------|
/// | `work_on(A, B)` | the models it works on (each must be a `MinkeModel`) | required, at least one |
/// | `name = "..."` | unique name, as in `run NAME` (lower-case letters, digits, `_`, `-`) | the snake_case type name |
/// | `verbose_name = "..."` | human name | the doc comment's first paragraph without its final period, else the type name in lower-case words |
/// | `help = "..."` | help text | the rest of the doc comment (all of it when `verbose_name` is given) |
/// | `group = "..."` | group in session selects | none |
/// | `permissions("a", "b")` | permissions needed besides `run_<name>`, which always comes first | `run_<name>` only |
/// | `confirm` | ask before running | no |
/// | `parallel_per_host` | sessions on one host may run at the same time | no |
/// | `timeout = 300` | time limit in whole seconds | the runtime's |
/// | `command = "..."` | kind: run one command | |
/// | `commands("...", ...)` | kind: run commands in turn | |
/// | `chain(A, B)` | kind: run sessions in turn | |
/// | `break_on(success, warning, error)` | with `commands` or `chain`: the statuses that stop it | `break_on(error)` |
///
/// Without a kind key, write `impl Session` by hand. With one, the derive writes it:
///
/// - `command`: runs the command and adds its result as a message; the status is the
///   result's (`error` if it failed, `warning` if it wrote to stderr).
/// - `commands`: the same for each command in turn, stopping after one whose status is
///   in `break_on`.
/// - `chain`: for each session in turn, adds the message `Run <verbose name>`, builds
///   it from the same parameters and runs its `process`; when the status so far is in
///   `break_on`, adds the error message `<verbose name> finished with status <status>`
///   and stops. The chain's parameters are its own fields followed by those of its
///   sessions that it does not declare itself.
///
/// In commands, `{name}` is replaced by the parameter of that name (its default if not
/// given), else the object's field, shell-quoted. A command that is exactly one
/// placeholder (`command = "{cmd}"`) runs the value as it is: an ad-hoc command.
///
/// # Field keys
///
/// | key | meaning |
/// |-----|---------|
/// | `default = "..."` | the default value as text (numbers and booleans may be written bare), parsed by the field's type; a parameter with a default or of an `Option` type is optional |
/// | `help = "..."` | help text; defaults to the field's doc comment |
/// | `secret` | redacted in history and logs; implied for `minke::Secret` fields |
/// | `multiline` | text spanning lines (a script) |
/// | `skip` | not a parameter: set with `Default::default()` |
#[proc_macro_derive(Session, attributes(minke))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    expand::emit(
        input.into(),
        expand::derive_session_inner,
        expand::dummy::session,
    )
    .into()
}
