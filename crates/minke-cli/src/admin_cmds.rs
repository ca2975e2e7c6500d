//! `serve` (the web admin) and `users` (its users, permissions and API tokens).
//!
//! Passwords never come from the command line (where `ps` would show them): they
//! are read from the terminal without echo, from the first line of standard input
//! when it is not a terminal, or from `MINKE_PASSWORD` for scripts.

use std::io::{BufRead as _, IsTerminal as _};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use minke_admin::AdminConfig;
use minke_core::AuditAction;
use minke_runtime::Engine;
use minke_store::Actor;

use crate::CliError;
use crate::exit;

/// Options of `serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on [env: MINKE_ADMIN_LISTEN; file: admin.listen;
    /// default: 127.0.0.1:8000].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Queue the runs started in the admin and the API for `worker` processes
    /// instead of running them here (PostgreSQL).
    #[arg(long)]
    submit: bool,
    /// Path prefix the admin is reached under, like /minke (behind a proxy) [env:
    /// MINKE_ADMIN_BASE_PATH; file: admin.base_path].
    #[arg(long, value_name = "PATH")]
    base_path: Option<String>,
    /// Mark cookies `Secure`: use it when people reach the admin over HTTPS.
    #[arg(long)]
    secure_cookies: bool,
    /// A reverse proxy whose X-Forwarded-For names the client (repeatable);
    /// without one, the client is the address a connection comes from.
    #[arg(long = "trusted-proxy", value_name = "ADDR")]
    trusted_proxies: Vec<IpAddr>,
    /// A directory where hosts' identity and certificate files and known_hosts may lie
    /// when set from the admin (repeatable) [env: MINKE_SSH_DIRS, separated like PATH;
    /// file: ssh.dirs; default: ~/.ssh of the serving user].
    #[arg(long = "ssh-dir", value_name = "DIR")]
    ssh_dirs: Vec<PathBuf>,
    /// Password checks at once (19 MiB each) [default: twice the cores, 2 to 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    login_workers: Option<u16>,
    /// Logins waiting for a password check at most; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    login_queue: usize,
    /// Seconds a login waits for a password check before it is answered 503.
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    login_queue_wait: u64,
    /// Failed logins per client address and window; more are answered 429.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    login_failures_per_addr: u32,
    /// Failed logins per user name and client address and window.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    login_failures_per_user: u32,
    /// The window of the failed-login limits, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    login_window: u64,
    /// Bytes queued for one live-view subscriber at most; one further behind skips
    /// output and is told so.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024, value_parser = clap::value_parser!(u64).range(4096..))]
    live_buffer_bytes: u64,
    /// Seconds a host's SSH connection stays open after a run, for the next run on
    /// that host; 0 closes it at the end of each run [default: 60, or what the app
    /// configured].
    #[arg(long, value_name = "SECS")]
    pub(crate) keep_connections: Option<u64>,
}

impl ServeArgs {
    /// The flags that are settings too.
    pub(crate) fn settings_flags(&self, flags: &mut crate::settings::Flags) {
        flags.listen = self.listen;
        flags.base_path = self.base_path.clone();
        flags.ssh_dirs = self.ssh_dirs.clone();
    }

    /// Completes the flags with the effective settings (the config file's, the
    /// environment's).
    pub(crate) fn settle(&mut self, settings: &crate::settings::Settings) {
        self.listen = Some(settings.admin_listen.value);
        self.base_path = Some(settings.admin_base_path.value.0.clone());
        self.ssh_dirs = settings.ssh_dirs.value.0.clone();
    }

    fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(crate::settings::DEFAULT_LISTEN))
    }
}

/// The `users` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum UsersCommand {
    /// Add a user of the web admin and the API (asks for the password).
    Add {
        /// The login name.
        name: String,
        /// The user holds every permission.
        #[arg(long)]
        superuser: bool,
    },
    /// Set a user's password (asks for it) and end their logins.
    Passwd {
        /// The login name.
        name: String,
    },
    /// Grant a permission: run_SESSION, view_MODEL, add_MODEL, change_MODEL,
    /// delete_MODEL (hosts and host groups too), or one a session declares.
    Grant {
        /// The login name.
        name: String,
        /// The permission.
        permission: String,
    },
    /// Revoke a permission.
    Revoke {
        /// The login name.
        name: String,
        /// The permission.
        permission: String,
    },
    /// Create an API token for a user and print it (it is shown only this once).
    Token {
        /// The login name.
        #[arg(value_name = "NAME")]
        user: String,
        /// A label to recognise the token by.
        #[arg(long = "name", value_name = "LABEL", default_value = "cli")]
        label: String,
        /// The token is refused after this long, like 30d, 12h or 2w (default:
        /// until revoked).
        #[arg(long, value_name = "DURATION", value_parser = crate::age::parse_age)]
        expires: Option<Duration>,
    },
    /// List a user's API tokens: id, label, created, last used, expires.
    Tokens {
        /// The login name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API token by its id (see `users tokens NAME`).
    RevokeToken {
        /// The token's id.
        id: i64,
    },
    /// Disable a user: no logins, their API tokens refused, their web sessions ended.
    Disable {
        /// The login name.
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The login name.
        name: String,
    },
    /// Remove a user with their permissions, web sessions and API tokens.
    Remove {
        /// The login name.
        name: String,
    },
    /// List the users with their permissions.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// Reads a password: `MINKE_PASSWORD`, else the terminal without echo (twice when
/// `confirm`), else the first line of standard input.
fn read_password(confirm: bool) -> Result<String, CliError> {
    let password = match std::env::var("MINKE_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ if std::io::stdin().is_terminal() => {
            let p = rpassword::prompt_password("Password: ")
                .map_err(|e| CliError::Internal(format!("cannot read the password: {e}")))?;
            if confirm {
                let again = rpassword::prompt_password("Password (again): ")
                    .map_err(|e| CliError::Internal(format!("cannot read the password: {e}")))?;
                if again != p {
                    return Err(usage("the two passwords differ"));
                }
            }
            p
        }
        _ => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::Internal(format!("cannot read the password: {e}")))?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    Ok(password)
}

/// Where passwords come from: the terminal, stdin or the environment (tests give
/// their own).
type AskPassword = fn(bool) -> Result<String, CliError>;

async fn new_password_hash(ask: AskPassword) -> Result<String, CliError> {
    tokio::task::spawn_blocking(move || {
        let p = ask(true)?;
        // Asked twice already where it could differ (a terminal).
        minke_admin::check_new_password(&p, &p).map_err(usage)?;
        minke_admin::hash_password(&p).map_err(|e| CliError::Internal(e.to_string()))
    })
    .await
    .map_err(|e| CliError::Internal(e.to_string()))?
}

/// Runs a `users` subcommand.
pub(crate) async fn users(engine: &Engine, cmd: UsersCommand, by: &str) -> Result<u8, CliError> {
    users_with(engine, cmd, read_password, by).await
}

/// Records a fresh API token for a user, refused from `until` (µs) when given, and
/// returns it.
async fn create_token(
    engine: &Engine,
    by: &Actor,
    user: &str,
    label: &str,
    until: Option<i64>,
) -> Result<String, CliError> {
    let token = minke_admin::generate_token().map_err(|e| CliError::Internal(e.to_string()))?;
    let hash = minke_admin::hash_token(&token);
    let (u, l, by) = (user.to_owned(), label.to_owned(), by.clone());
    engine
        .store()
        .write(move |c| {
            let id = minke_store::create_api_token_until(c, &u, &l, &hash, until)?;
            let (target, detail) = (format!("user {u}"), format!("token {id} `{l}`"));
            minke_store::record_audit(c, &by, AuditAction::TokenCreated, &target, &detail)
        })
        .await?;
    Ok(token)
}

/// Prints a user's API tokens (never their values).
async fn list_tokens(engine: &Engine, name: String, json: bool) -> Result<(), CliError> {
    let tokens = engine
        .store()
        .blocking(move |c| minke_store::list_api_tokens(c, &name))
        .await?;
    if json {
        let v = serde_json::to_value(&tokens).map_err(|e| CliError::Internal(e.to_string()))?;
        println!("{v}");
        return Ok(());
    }
    let now = minke_store::now_micros();
    for t in &tokens {
        let expires = match t.expires_at {
            None => String::new(),
            Some(at) if at <= now => format!(", expired {}", time_text(at)),
            Some(at) => format!(", expires {}", time_text(at)),
        };
        println!(
            "{}\t{}\tcreated {}, last used {}{expires}",
            t.id,
            t.name,
            time_text(t.created_at),
            t.last_used_at.map_or_else(|| "never".to_owned(), time_text)
        );
    }
    Ok(())
}

/// How long ago (or, for a time to come, in how long) `at` is, roughly: `3d ago`.
fn time_text(at: i64) -> String {
    let now = minke_store::now_micros();
    let secs = (now - at).unsigned_abs() / 1_000_000;
    let span = match secs {
        0..120 => format!("{secs}s"),
        120..7_200 => format!("{}m", secs / 60),
        7_200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    };
    if at <= now {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// Refuses a permission that nothing checks (a typo would grant nothing).
fn check_known_permission(engine: &Engine, p: &str) -> Result<(), CliError> {
    let known = engine.known_permissions();
    if known.contains(p) {
        return Ok(());
    }
    let list: Vec<&str> = known.iter().map(String::as_str).collect();
    Err(usage(format!(
        "unknown permission `{p}`: no model or session defines it (known: {})",
        list.join(", ")
    )))
}

async fn users_with(
    engine: &Engine,
    cmd: UsersCommand,
    ask: AskPassword,
    by: &str,
) -> Result<u8, CliError> {
    let store = engine.store();
    let actor = Actor::cli(by);
    // Each change is written in the audit log in the same transaction.
    let audited = |action: AuditAction, target: String, detail: String| {
        let actor = actor.clone();
        move |c: &mut minke_store::Conn| {
            minke_store::record_audit(c, &actor, action, &target, &detail)
        }
    };
    match cmd {
        UsersCommand::Add { name, superuser } => {
            let exists = {
                let n = name.clone();
                store
                    .blocking(move |c| minke_store::find_user(c, &n))
                    .await?
            };
            if exists.is_some() {
                return Err(usage(format!(
                    "user `{name}` exists already (use `users passwd {name}`)"
                )));
            }
            let hash = new_password_hash(ask).await?;
            let n = name.clone();
            let log = audited(
                AuditAction::UserAdded,
                format!("user {name}"),
                if superuser { "superuser" } else { "" }.to_owned(),
            );
            store
                .write(move |c| {
                    minke_store::create_user(c, &n, &hash, superuser)?;
                    log(c)
                })
                .await?;
            println!("added {}user {name}", if superuser { "super" } else { "" });
        }
        UsersCommand::Passwd { name } => {
            let n = name.clone();
            store
                .blocking(move |c| {
                    minke_store::find_user(c, &n)?
                        .ok_or_else(|| minke_store::Error::BadQuery(format!("no user named `{n}`")))
                })
                .await?;
            let hash = new_password_hash(ask).await?;
            let n = name.clone();
            let log = audited(
                AuditAction::PasswordSet,
                format!("user {name}"),
                String::new(),
            );
            store
                .write(move |c| {
                    minke_store::set_password_hash(c, &n, &hash)?;
                    log(c)
                })
                .await?;
            println!("changed the password of {name}; their logins have ended");
        }
        UsersCommand::Grant { name, permission } => {
            check_permission(&permission)?;
            check_known_permission(engine, &permission)?;
            let (n, p) = (name.clone(), permission.clone());
            let log = audited(
                AuditAction::PermissionGranted,
                format!("user {name}"),
                permission.clone(),
            );
            store
                .write(move |c| {
                    minke_store::grant(c, &n, &p)?;
                    log(c)
                })
                .await?;
            println!("granted {permission} to {name}");
        }
        UsersCommand::Revoke { name, permission } => {
            let (n, p) = (name.clone(), permission.clone());
            let log = audited(
                AuditAction::PermissionRevoked,
                format!("user {name}"),
                permission.clone(),
            );
            store
                .write(move |c| {
                    minke_store::revoke(c, &n, &p)?;
                    log(c)
                })
                .await?;
            println!("revoked {permission} from {name}");
        }
        UsersCommand::Token {
            user,
            label,
            expires,
        } => {
            let until = expires.map(|d| {
                minke_store::now_micros()
                    .saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            });
            let token = create_token(engine, &actor, &user, &label, until).await?;
            eprintln!(
                "API token for {user} (shown only now; send it as `Authorization: Bearer TOKEN`):"
            );
            println!("{token}");
        }
        UsersCommand::Tokens { name, json } => list_tokens(engine, name, json).await?,
        UsersCommand::RevokeToken { id } => {
            let actor = actor.clone();
            let owner = store
                .write(move |c| {
                    let owner = match minke_store::revoke_api_token(c, id) {
                        Err(minke_store::Error::NotFound { .. }) => {
                            return Err(minke_store::Error::BadQuery(format!(
                                "no API token with id {id} (see `users tokens NAME`)"
                            )));
                        }
                        other => other?,
                    };
                    minke_store::record_audit(
                        c,
                        &actor,
                        AuditAction::TokenRevoked,
                        &format!("user {owner}"),
                        &format!("token {id}"),
                    )?;
                    Ok(owner)
                })
                .await?;
            println!("revoked API token {id} of {owner}");
        }
        UsersCommand::Disable { name } => {
            let n = name.clone();
            let log = audited(
                AuditAction::UserDisabled,
                format!("user {name}"),
                String::new(),
            );
            store
                .write(move |c| {
                    minke_store::set_active(c, &n, false)?;
                    log(c)
                })
                .await?;
            println!("disabled {name}: their logins and API tokens are refused");
        }
        UsersCommand::Enable { name } => {
            let n = name.clone();
            let log = audited(
                AuditAction::UserEnabled,
                format!("user {name}"),
                String::new(),
            );
            store
                .write(move |c| {
                    minke_store::set_active(c, &n, true)?;
                    log(c)
                })
                .await?;
            println!("enabled {name}");
        }
        UsersCommand::Remove { name } => {
            let n = name.clone();
            let log = audited(
                AuditAction::UserRemoved,
                format!("user {name}"),
                String::new(),
            );
            store
                .write(move |c| {
                    minke_store::remove_user(c, &n)?;
                    log(c)
                })
                .await?;
            println!("removed {name} with their permissions and API tokens");
        }
        UsersCommand::List { json } => {
            let users = store
                .blocking(|c| {
                    let mut out = Vec::new();
                    for u in minke_store::list_users(c)? {
                        let perms = minke_store::user_permissions(c, u.id)?;
                        out.push((u, perms));
                    }
                    Ok(out)
                })
                .await?;
            if json {
                let v: Vec<serde_json::Value> = users
                    .iter()
                    .map(|(u, p)| {
                        serde_json::json!({
                            "username": u.username,
                            "superuser": u.is_superuser,
                            "active": u.is_active,
                            "permissions": p,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for (u, p) in &users {
                    let mut flags = Vec::new();
                    if u.is_superuser {
                        flags.push("superuser");
                    }
                    if !u.is_active {
                        flags.push("inactive");
                    }
                    println!(
                        "{}{}{}{}",
                        u.username,
                        if flags.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", flags.join(", "))
                        },
                        if p.is_empty() { "" } else { ": " },
                        p.join(", ")
                    );
                }
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn check_permission(p: &str) -> Result<(), CliError> {
    if p.is_empty() || p.chars().any(|c| c.is_whitespace()) {
        return Err(usage(format!(
            "invalid permission `{p}`: one word like run_uptime or view_server"
        )));
    }
    Ok(())
}

/// Runs `serve`: the web admin until Ctrl-C or SIGTERM, then stops the runs still
/// going.
pub(crate) async fn serve(engine: Engine, args: ServeArgs) -> Result<u8, CliError> {
    let app_name = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "minke".into());
    let listen = args.listen();
    let defaults = AdminConfig::default();
    let config = AdminConfig {
        base_path: args.base_path.unwrap_or_default(),
        secure_cookies: args.secure_cookies,
        login_workers: args
            .login_workers
            .map_or(defaults.login_workers, usize::from),
        login_queue: args.login_queue,
        login_queue_wait: Duration::from_secs(args.login_queue_wait),
        login_failures_per_addr: args.login_failures_per_addr,
        login_failures_per_user: args.login_failures_per_user,
        login_window: Duration::from_secs(args.login_window),
        trusted_proxies: args.trusted_proxies,
        live_buffer_bytes: usize::try_from(args.live_buffer_bytes).unwrap_or(usize::MAX),
        ssh_dirs: args.ssh_dirs,
        submit: args.submit,
        ..defaults
    };
    let base = config.normalized_base().map_err(usage)?;
    for warning in crate::warnings::index_warnings(&engine).await? {
        tracing::warn!("{warning}");
    }
    if config.submit {
        crate::worker_cmd::needs_postgres(&engine, "serve --submit")?;
    }
    let users = engine.store().blocking(minke_store::list_users).await?;
    if users.is_empty() {
        eprintln!(
            "note: there are no users yet: add one with `{app_name} users add NAME --superuser`"
        );
    }
    eprintln!(
        "serving the admin on http://{}{base}/ (Ctrl-C to stop)",
        listen
    );
    // Runs whose process died are closed as `interrupted` now and every lock TTL, so
    // the history pages do not show them running for ever.
    let reaper = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(engine.config().lock_ttl);
            loop {
                every.tick().await;
                if let Err(e) = engine.close_interrupted_runs().await {
                    tracing::error!("closing interrupted runs failed: {e}");
                }
            }
        })
    };
    // Ctrl-C, SIGTERM or SIGHUP: stop accepting, stop the runs going on at once
    // (remote commands killed, history written, locks released), then exit.
    let mut signals = crate::signals::Signals::new();
    let stopping = engine.clone();
    let shutdown = async move {
        signals.next().await;
        stop_all_runs(&stopping);
    };
    let served = minke_admin::serve_until(engine.clone(), listen, config, shutdown).await;
    reaper.abort();
    served.map_err(|e| CliError::Internal(e.to_string()))?;
    stop_all_runs(&engine);
    // Each run ends once its killed commands are recorded; give up after a while.
    for _ in 0..300 {
        if engine.active_runs().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.close_kept_connections().await;
    engine.store().flush().await?;
    Ok(exit::SUCCESS)
}

/// Stops every run going on in this process at once.
fn stop_all_runs(engine: &Engine) {
    let going = engine.active_runs();
    if !going.is_empty() {
        eprintln!("stopping {} runs still going", going.len());
    }
    for r in going {
        engine.cancel_run(r);
        engine.cancel_run(r);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct T {
        #[command(subcommand)]
        users: UsersCommand,
    }

    #[test]
    fn permissions_are_one_word() {
        assert!(check_permission("run_uptime").is_ok());
        assert!(check_permission("run uptime").is_err());
        assert!(check_permission("").is_err());
    }

    #[test]
    fn passwords_never_come_from_the_command_line() {
        assert!(T::try_parse_from(["t", "add", "bob", "--password", "x"]).is_err());
        assert!(T::try_parse_from(["t", "add", "bob", "secret"]).is_err());
        let t = T::try_parse_from(["t", "add", "bob", "--superuser"]).unwrap();
        assert!(matches!(
            t.users,
            UsersCommand::Add {
                superuser: true,
                ..
            }
        ));
        let t = T::try_parse_from(["t", "token", "bob", "--name", "ci"]).unwrap();
        assert!(
            matches!(t.users, UsersCommand::Token { ref user, ref label, expires: None } if user == "bob" && label == "ci")
        );
    }

    fn good(_: bool) -> Result<String, CliError> {
        Ok("long enough password".into())
    }

    fn short(_: bool) -> Result<String, CliError> {
        Ok("short".into())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn users_add_passwd_grant_token() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("u.db").to_string_lossy().into_owned();
        let engine = minke_runtime::Setup::new()
            .engine(&url, minke_store::OpenMode::Migrate)
            .await
            .unwrap();
        let add = |name: &str, superuser| UsersCommand::Add {
            name: name.into(),
            superuser,
        };
        assert_eq!(
            users_with(&engine, add("ann", true), good, "tester")
                .await
                .unwrap(),
            0
        );
        let e = users_with(&engine, add("ann", false), good, "tester")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("exists already"), "{e}");
        let e = users_with(&engine, add("bob", false), short, "tester")
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), exit::USAGE);
        users_with(&engine, add("bob", false), good, "tester")
            .await
            .unwrap();
        let grant = UsersCommand::Grant {
            name: "bob".into(),
            permission: "view_host".into(),
        };
        users_with(&engine, grant, good, "tester").await.unwrap();
        let e = users_with(
            &engine,
            UsersCommand::Grant {
                name: "nobody".into(),
                permission: "x".into(),
            },
            good,
            "tester",
        )
        .await
        .unwrap_err();
        assert_eq!(e.exit_code(), exit::USAGE, "{e}");
        let bob = engine
            .store()
            .blocking(|c| {
                let u = minke_store::find_user(c, "bob")?.unwrap();
                Ok((minke_store::user_permissions(c, u.id)?, u))
            })
            .await
            .unwrap();
        assert_eq!(bob.0, ["view_host"]);
        assert!(!bob.1.is_superuser);
        assert!(minke_admin::verify_password(
            "long enough password",
            &bob.1.password_hash
        ));
        let passwd = UsersCommand::Passwd { name: "bob".into() };
        assert!(users_with(&engine, passwd, short, "tester").await.is_err());
        let token = create_token(&engine, &Actor::cli("tester"), "bob", "ci", None)
            .await
            .unwrap();
        let hash = minke_admin::hash_token(&token);
        let found = engine
            .store()
            .blocking(move |c| minke_store::user_by_token(c, &hash))
            .await
            .unwrap();
        assert_eq!(found.unwrap().username, "bob");
        assert!(
            create_token(&engine, &Actor::cli("tester"), "ghost", "x", None)
                .await
                .is_err()
        );
        users_with(&engine, UsersCommand::List { json: true }, good, "tester")
            .await
            .unwrap();
    }
}
