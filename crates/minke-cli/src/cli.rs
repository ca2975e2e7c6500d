//! The command line: parsing and dispatch.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use minke_core::{AuditAction, Params, RunId, Status};
use minke_runtime::{Engine, RunRequest};
use minke_store::{OpenMode, Query};

use crate::audit::{AuditedRun, audit};
use crate::exit;
use crate::output;
use crate::term::Shown;
use crate::{CliError, Program};

#[derive(Parser, Debug)]
#[command(about = "Run Minke sessions over SSH and browse their history")]
struct Cli {
    /// Database URL: a SQLite file path, sqlite://PATH or postgres://... [env:
    /// MINKE_DATABASE_URL; file: database; default: minke.db]
    #[arg(long, global = true)]
    database: Option<String>,
    /// The config file [env: MINKE_CONFIG; default: minke.toml in the working
    /// directory, when there is one]; see `config`.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<std::path::PathBuf>,
    /// Colour on terminals: auto (unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    color: crate::color::ColorWhen,
    /// Who is running (recorded in the history).
    #[arg(long, global = true, env = "MINKE_USER")]
    user: Option<String>,
    /// Log level for Minke's own logs on stderr (error, warn, info, debug).
    #[arg(long, global = true, env = "MINKE_LOG", default_value = "warn")]
    log: String,
    /// Print remote output and names as they are, control characters included (on a
    /// terminal they are shown escaped by default, so that output cannot drive it).
    #[arg(long, global = true)]
    raw: bool,
    /// Passphrase of encrypted identity files (only from the environment).
    #[arg(skip)]
    key_passphrase: Option<minke_core::Secret>,
    /// SSH password (only from the environment).
    #[arg(skip)]
    password: Option<minke_core::Secret>,
    /// The password sessions' sudo commands get (only from the environment).
    #[arg(skip)]
    sudo_password: Option<minke_core::Secret>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a session on a selection of objects.
    Run(RunArgs),
    /// Run an earlier run's session again on its objects that did not succeed (or
    /// those --only names), with the same parameters; secret ones are given again
    /// with --param.
    Rerun(RerunArgs),
    /// List the sessions.
    Sessions {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the models.
    Models {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the objects of a model, one a line, label first.
    Items {
        /// The model.
        model: String,
        #[command(flatten)]
        select: Select,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List recent runs, newest first.
    History {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Only runs of this session.
        #[arg(long)]
        session: Option<String>,
        /// Only runs on this model.
        #[arg(long)]
        model: Option<String>,
        /// Only runs started by this user.
        #[arg(long = "by", value_name = "USER")]
        by: Option<String>,
        /// Only runs whose worst outcome is this: success, warning or error.
        #[arg(long)]
        status: Option<minke_core::Status>,
        /// Only runs in this state: running, done, canceled or interrupted.
        #[arg(long)]
        state: Option<minke_core::RunState>,
        /// Only runs started since: an age like 2d or 12h, or a date like 2026-11-25.
        #[arg(long, value_name = "AGE|DATE", value_parser = crate::age::parse_since)]
        since: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The audit log: logins, failed logins, user, permission and host changes, runs
    /// started and stopped; newest first.
    Audit {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only what this user did.
        #[arg(long = "by", value_name = "USER")]
        by: Option<String>,
        /// Only entries of this kind, like login_failed or permission_granted.
        #[arg(long)]
        action: Option<minke_core::AuditAction>,
        /// Only entries whose target contains this, like `user ann` or `run 12`.
        #[arg(long, value_name = "TEXT")]
        target: Option<String>,
        /// Only entries since: an age like 2d or 12h, or a date like 2026-11-25.
        #[arg(long, value_name = "AGE|DATE", value_parser = crate::age::parse_since)]
        since: Option<i64>,
        /// Only entries older than the one of this id (the next page).
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one run with its sessions, messages and commands.
    Show {
        /// The run's id.
        run: RunId,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a run, wherever it goes on (this machine or another, CLI or admin): after
    /// its current commands, or at once with --now.
    Cancel {
        /// The run's id.
        run: RunId,
        /// Kill the running commands at once (their remote process groups too).
        #[arg(long)]
        now: bool,
    },
    /// Manage hosts.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// Create or update the database tables.
    Migrate,
    /// Delete history older than a given age.
    Clear {
        /// Age like 30d, 12h, 90m, 45s or 2w.
        #[arg(long, value_parser = crate::age::parse_age)]
        older_than: Duration,
    },
    /// Serve the web admin (changelists, live runs, history, JSON API).
    #[cfg(feature = "admin")]
    Serve(crate::admin_cmds::ServeArgs),
    /// Print a new random key for MINKE_SECRET_KEY (the same on every submitter and
    /// worker: it seals secret parameters of queued runs).
    SecretKey,
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish or
    /// powershell), e.g. `fleet completions bash > /etc/bash_completion.d/fleet`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `fleet man > /usr/local/share/man/man1/fleet.1`;
    /// with --dir, write a page for the program and one for each command
    /// (`fleet-run.1`, `fleet-hosts-check.1`, ...) into DIR.
    Man {
        /// The directory to write every page into.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Print the effective settings and where each came from: built in, the app,
    /// the config file, the environment or a flag (passwords masked).
    Config {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Execute runs queued in the database (`run --submit`, `serve --submit`) until
    /// SIGTERM or Ctrl-C; any number of workers on any number of machines
    /// (PostgreSQL).
    Worker(crate::worker_cmd::WorkerArgs),
    /// Manage the users of the web admin and the API.
    #[cfg(feature = "admin")]
    #[command(subcommand)]
    Users(crate::admin_cmds::UsersCommand),
}

impl Command {
    /// True for the commands that execute sessions (and so may seal or unseal secret
    /// parameters for workers).
    fn runs_sessions(&self) -> bool {
        match self {
            Command::Run(_) | Command::Rerun(_) | Command::Worker(_) => true,
            #[cfg(feature = "admin")]
            Command::Serve(_) => true,
            _ => false,
        }
    }
}

#[derive(Subcommand, Debug)]
enum HostsCommand {
    /// Import hosts from an OpenSSH client config (re-import updates, never duplicates).
    ImportSshConfig {
        /// The file, like ~/.ssh/config.
        file: std::path::PathBuf,
        /// Let `ssh -G` resolve each host instead of Minke's reading of the file
        /// (slower; `Match exec` commands then run, as OpenSSH runs them).
        #[arg(long)]
        resolve_with_ssh: bool,
    },
    /// List hosts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open a fresh connection to each selected host (all but jump-only hosts when
    /// none is selected), check its key and log in, run nothing; report each and
    /// record the check as a run (exit 4 when one was not reached).
    Check {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        opts: crate::hosts_check::CheckArgs,
    },
}

#[derive(Args, Debug, Default)]
struct Select {
    /// Every object.
    #[arg(long, conflicts_with_all = ["filter", "search"])]
    all: bool,
    /// Conditions `FIELD OP VALUE` joined with `and` (OP: = != < <= > >= ~).
    #[arg(long, conflicts_with = "search")]
    filter: Option<String>,
    /// Text to look for in the model's search fields.
    #[arg(long)]
    search: Option<String>,
    /// Only the members of this host group (hosts only; combined with the above by
    /// `and`).
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// Only the objects whose latest session ended so: success, warning or error
    /// (combined with the above by `and`).
    #[arg(long, value_name = "STATUS")]
    last_status: Option<minke_core::Status>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The session's name (see `sessions`).
    session: String,
    /// The model to work on (see `models`).
    #[arg(long)]
    model: String,
    #[command(flatten)]
    select: Select,
    #[command(flatten)]
    opts: RunOptions,
}

/// How a run goes: its parameters, limits, output, and where it executes.
#[derive(Args, Debug)]
struct RunOptions {
    /// A parameter NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Sessions running at once [env: MINKE_CONCURRENCY; file: run.concurrency;
    /// default: 100].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Time limit per command in seconds [env: MINKE_COMMAND_TIMEOUT; file:
    /// run.command_timeout; default: 600].
    #[arg(long, value_name = "SECONDS")]
    command_timeout: Option<u64>,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Print output lines as they arrive, prefixed `[HOST] ` (stderr lines on stderr).
    #[arg(long, conflicts_with = "json")]
    stream: bool,
    /// Write each host's output to DIR/HOST.stdout and DIR/HOST.stderr as it arrives.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<std::path::PathBuf>,
    /// Queue the run for `worker` processes (PostgreSQL) instead of running it here.
    #[arg(long)]
    submit: bool,
    /// With --submit: follow the run to its end, with progress, its results and its
    /// exit code, Ctrl-C stopping it [default on a terminal].
    #[arg(long, requires = "submit", overrides_with = "no_follow")]
    follow: bool,
    /// With --submit: print the run's id and exit 0 at once.
    #[arg(long, requires = "submit", overrides_with = "follow")]
    no_follow: bool,
}

#[derive(Args, Debug)]
struct RerunArgs {
    /// The earlier run.
    run: RunId,
    /// Which of its objects, by how their sessions ended, comma-separated: success,
    /// warning, error, failed, canceled [default: all but success].
    #[arg(long, value_delimiter = ',', value_name = "OUTCOMES")]
    only: Vec<minke_runtime::EndedAs>,
    #[command(flatten)]
    opts: RunOptions,
}

impl Select {
    /// The objects of `model` selected, narrowed by group and last status in the
    /// database. With `needed`, selecting nothing at all is an error.
    async fn query(&self, engine: &Engine, model: &str, needed: bool) -> Result<Query, CliError> {
        let narrowed = self.group.is_some() || self.last_status.is_some();
        let mut query = match (self.all, &self.filter, &self.search) {
            (_, Some(f), _) => Query::filter(f).map_err(|e| CliError::Usage(e.to_string()))?,
            (_, _, Some(s)) => Query::search(s.clone()),
            (true, ..) => Query::all(),
            _ if needed && !narrowed => {
                return Err(CliError::Usage(
                    "say which objects: --all, --filter EXPR, --search TEXT, --group NAME or \
                     --last-status STATUS"
                        .into(),
                ));
            }
            _ => Query::all(),
        };
        // `group = ...` and `last_status = ...` in --filter, as with the flags.
        let in_filter = match engine.models().get(model) {
            Ok(entry) => minke_store::take_targets(&entry.meta, &mut query)?,
            Err(_) => minke_store::Targets::default(),
        };
        let flags = minke_store::Targets {
            group: self.group.clone(),
            last_status: self.last_status,
        };
        if flags.is_empty() && in_filter.is_empty() {
            return Ok(query);
        }
        let model = model.to_owned();
        Ok(engine
            .store()
            .blocking(move |c| {
                minke_store::narrow(c, &model, &mut query, &flags)?;
                minke_store::narrow(c, &model, &mut query, &in_filter)?;
                Ok(query)
            })
            .await?)
    }
}

/// A secret from an environment variable (unset or empty: none).
fn secret_from_env(name: &str) -> Option<minke_core::Secret> {
    std::env::var(name)
        .ok()
        .filter(|s| !s.is_empty())
        .map(minke_core::Secret::new)
}

/// The command line's definition, named as the program.
fn definition(app: &Program) -> clap::Command {
    use clap::CommandFactory as _;
    Cli::command()
        .name(app.name.clone())
        .bin_name(app.name.clone())
        .version(app.version_line())
}

/// `completions SHELL`: the script, from the same definitions as the parser.
fn print_completions(shell: clap_complete::Shell, app: &Program) -> ExitCode {
    let mut command = definition(app);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, app.name.as_str(), &mut script);
    write_out(&script)
}

/// `man`: the manual page in roff, or with `dir` every command's page written there.
fn print_man(app: &Program, dir: Option<&std::path::Path>) -> ExitCode {
    if let Some(dir) = dir {
        return match clap_mangen::generate_to(definition(app), dir) {
            Ok(()) => {
                eprintln!("wrote the manual pages into {}", dir.display());
                ExitCode::from(exit::SUCCESS)
            }
            Err(e) => {
                eprintln!(
                    "{}: error: cannot write the manual pages into {}: {e}",
                    app.name,
                    dir.display()
                );
                ExitCode::from(exit::INTERNAL)
            }
        };
    }
    let mut page = Vec::new();
    match clap_mangen::Man::new(definition(app)).render(&mut page) {
        Ok(()) => write_out(&page),
        Err(e) => {
            eprintln!("{}: error: cannot write the manual page: {e}", app.name);
            ExitCode::from(exit::INTERNAL)
        }
    }
}

/// Writes bytes to standard output; a closed pipe is not an error.
fn write_out(bytes: &[u8]) -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(exit::SUCCESS),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            ExitCode::from(exit::INTERNAL)
        }
    }
}

pub(crate) fn main<I, T>(app: Program, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    use clap::FromArgMatches as _;
    let parsed = definition(&app)
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(mut c) => {
            // Secrets come only from the environment, never from the command line
            // (where `ps` would show them).
            c.key_passphrase = secret_from_env("MINKE_SSH_PASSPHRASE");
            c.password = secret_from_env("MINKE_SSH_PASSWORD");
            c.sudo_password = secret_from_env("MINKE_SUDO_PASSWORD");
            c
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    match &cli.command {
        Command::Completions { shell } => return print_completions(*shell, &app),
        Command::Man { dir } => return print_man(&app, dir.as_deref()),
        _ => {}
    }
    crate::color::init(cli.color);
    let settings = match load_settings(&app, &cli) {
        Ok(s) => s,
        Err(e) => {
            fail(&app.name, &e);
            return ExitCode::from(exit::USAGE);
        }
    };
    if let Command::Config { json } = cli.command {
        return match crate::output::settings(&settings, json) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                fail(&app.name, &e.to_string());
                ExitCode::from(e.exit_code())
            }
        };
    }
    crate::logging::init(&cli.log, crate::color::Paint::stderr().is_on());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let name = app.name.clone();
    match rt.block_on(dispatch(app, cli, settings)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            fail(&name, &e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// Says on standard error why the command failed, on one line whatever the
/// message (a database driver's may have several).
fn fail(name: &str, message: &str) {
    let text: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    eprintln!(
        "{name}: {} {}",
        crate::color::Paint::stderr().error_word(),
        text.join(" ")
    );
}

/// The settings of this command: the app's, the config file's, the environment's
/// and the flags'.
fn load_settings(app: &Program, cli: &Cli) -> Result<crate::settings::Settings, String> {
    use crate::settings::{Chosen, Flags, Settings};
    let mut flags = Flags {
        database: cli.database.clone(),
        ..Flags::default()
    };
    match &cli.command {
        Command::Run(RunArgs { opts, .. }) | Command::Rerun(RerunArgs { opts, .. }) => {
            flags.concurrency = opts.concurrency;
            flags.command_timeout = opts.command_timeout;
        }
        #[cfg(feature = "admin")]
        Command::Serve(args) => args.settings_flags(&mut flags),
        _ => {}
    }
    let chosen = Chosen::pick(
        cli.config.as_deref(),
        std::env::var_os("MINKE_CONFIG").as_deref(),
    );
    let env = |name: &str| std::env::var(name).ok();
    Settings::load(
        app.setup.config(),
        app.database.as_deref(),
        chosen,
        &env,
        flags,
    )
}

async fn dispatch(
    mut app: Program,
    cli: Cli,
    settings: crate::settings::Settings,
) -> Result<u8, CliError> {
    let url = settings.database.value.0.clone();
    settings.apply(app.setup.config_mut());
    // Long-lived processes keep idle connections for the next run on a host.
    let keep = match &cli.command {
        #[cfg(feature = "admin")]
        Command::Serve(args) => Some(args.keep_connections),
        Command::Worker(args) => Some(args.keep_connections),
        _ => None,
    };
    if let Some(flag) = keep {
        let kept = kept_connections(flag, app.setup.config().keep_connections);
        app.setup.config_mut().keep_connections = kept;
    }
    if cli.command.runs_sessions() {
        // The key that seals secret parameters for workers, only from the environment.
        let key = minke_core::SecretKey::from_env().map_err(|e| CliError::Usage(e.to_string()))?;
        if let Some(key) = key {
            app.setup.config_mut().secret_key = Some(std::sync::Arc::new(key));
        }
    }
    // The SSH secrets from the environment, for `run` and for the runs `serve` starts.
    if cli.key_passphrase.is_some() {
        app.setup.config_mut().connect.key_passphrase = cli.key_passphrase.clone();
    }
    if cli.password.is_some() {
        app.setup.config_mut().connect.password = cli.password.clone();
    }
    if cli.sudo_password.is_some() {
        app.setup.config_mut().sudo_password = cli.sudo_password.clone();
    }
    let user = cli.user.clone().unwrap_or_else(minke_core::local_user);
    let (url, mode) = database_access(&cli.command, url);
    let engine = open_engine(app.setup, &url, mode).await?;
    #[cfg_attr(not(feature = "admin"), allow(unused_mut))]
    let mut what = cli.command;
    #[cfg(feature = "admin")]
    if let Command::Serve(args) = &mut what {
        args.settle(&settings);
    }
    let code = command(&engine, what, user, cli.raw).await;
    // Closing commits what is queued and, on SQLite, folds the write-ahead log into
    // the database so that the next command opens it without reading the log back.
    let closed = engine.store().close().await;
    let code = code?;
    closed?;
    match engine.store().failed_writes() {
        (0, _) => Ok(code),
        (n, first) => Err(CliError::Internal(format!(
            "{n} {} to the history failed, so it is incomplete; the first: {}",
            if n == 1 { "write" } else { "writes" },
            first.unwrap_or_default()
        ))),
    }
}

/// How long a long-lived process (`serve`, `worker`) keeps idle connections:
/// `--keep-connections SECS` (0: not at all), else what the app configured, else
/// [`DEFAULT_KEEP_CONNECTIONS`](minke_runtime::DEFAULT_KEEP_CONNECTIONS).
fn kept_connections(flag: Option<u64>, configured: Option<Duration>) -> Option<Duration> {
    match flag {
        Some(0) => None,
        Some(secs) => Some(Duration::from_secs(secs)),
        None => Some(configured.unwrap_or(minke_runtime::DEFAULT_KEEP_CONNECTIONS)),
    }
}

/// Checks the app's registrations, opens its database as `mode` allows and builds
/// the engine. A database URL that cannot be used, a missing file or a database that
/// is not Minke's (for a command that only reads) is a usage error.
pub(crate) async fn open_engine(
    setup: minke_runtime::Setup,
    url: &str,
    mode: OpenMode,
) -> Result<Engine, CliError> {
    use minke_store::Error as E;
    setup.check().map_err(CliError::Setup)?;
    setup.engine(url, mode).await.map_err(|e| match e {
        minke_runtime::Error::Store(
            e @ (E::Url(_) | E::InvalidUrl { .. } | E::Missing { .. } | E::NotMinke { .. }),
        ) => CliError::Usage(e.to_string()),
        minke_runtime::Error::Store(other) => CliError::Database(other),
        other => CliError::from(other),
    })
}

/// What a command may do to its database: only `migrate` and the commands that
/// start work (or manage users) create or migrate it; the others read an existing
/// Minke database, read-only when this process cannot write it. `sessions` and
/// `models` list the app's registrations and open no database file at all.
fn database_access(command: &Command, url: String) -> (String, OpenMode) {
    match command {
        Command::Sessions { .. }
        | Command::Models { .. }
        | Command::SecretKey
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Config { .. } => (":memory:".into(), OpenMode::Migrate),
        Command::Items { .. }
        | Command::History { .. }
        | Command::Audit { .. }
        | Command::Show { .. }
        | Command::Hosts(HostsCommand::List { .. }) => (url, OpenMode::Existing),
        Command::Run(_)
        | Command::Rerun(_)
        | Command::Cancel { .. }
        | Command::Migrate
        | Command::Clear { .. }
        | Command::Worker(_)
        | Command::Hosts(HostsCommand::ImportSshConfig { .. })
        | Command::Hosts(HostsCommand::Check { .. }) => (url, OpenMode::Migrate),
        #[cfg(feature = "admin")]
        Command::Serve(_) | Command::Users(_) => (url, OpenMode::Migrate),
    }
}

async fn command(
    engine: &Engine,
    command: Command,
    user: String,
    raw: bool,
) -> Result<u8, CliError> {
    let shown = Shown::stdout(raw);
    match command {
        Command::Run(RunArgs {
            session,
            model,
            select,
            opts,
        }) => {
            let wanted = Wanted::New {
                session,
                model,
                select,
            };
            run(engine, wanted, opts, user, raw).await
        }
        Command::Rerun(RerunArgs {
            run: id,
            only,
            opts,
        }) => run(engine, Wanted::Again { run: id, only }, opts, user, raw).await,
        Command::Sessions { json } => output::sessions(engine, json),
        Command::Models { json } => output::models(engine, json),
        Command::Items {
            model,
            select,
            json,
        } => {
            let q = select.query(engine, &model, false).await?;
            output::items(engine, &model, q, json, shown).await
        }
        Command::History {
            limit,
            session,
            model,
            by,
            status,
            state,
            since,
            json,
        } => {
            engine.close_interrupted_runs().await?;
            let filter = minke_store::RunFilter {
                session,
                model,
                state,
                status,
                user: by,
                from: since,
                limit: limit.max(1),
                ..minke_store::RunFilter::default()
            };
            output::history(engine, filter, json, shown).await
        }
        Command::Audit {
            limit,
            by,
            action,
            target,
            since,
            before,
            json,
        } => {
            let filter = minke_store::AuditFilter {
                actor: by,
                action,
                target,
                from: since,
                before,
                limit: limit.max(1),
                ..minke_store::AuditFilter::default()
            };
            output::audit(engine, filter, json, shown).await
        }
        Command::Show { run, json } => {
            engine.close_interrupted_runs().await?;
            output::show(engine, run, json, shown).await
        }
        Command::Cancel { run, now } => cancel(engine, run, now, &user).await,
        Command::Hosts(HostsCommand::ImportSshConfig {
            file,
            resolve_with_ssh,
        }) => import(engine, &file, resolve_with_ssh, shown, &user).await,
        Command::Hosts(HostsCommand::Check { select, opts }) => {
            let q = select.query(engine, engine.host_model(), false).await?;
            crate::hosts_check::check(engine, q, opts, user, raw).await
        }
        Command::Hosts(HostsCommand::List { json }) => {
            output::items(engine, "host", Query::all(), json, shown).await
        }
        Command::Migrate => {
            output::say(format_args!(
                "database {} is up to date",
                engine.store().url().redacted()
            ))?;
            for warning in crate::warnings::index_warnings(engine).await? {
                eprintln!("warning: {warning}");
            }
            Ok(exit::SUCCESS)
        }
        Command::Clear { older_than } => {
            let before = minke_store::now_micros()
                - i64::try_from(older_than.as_micros()).unwrap_or(i64::MAX);
            let cleared = engine
                .store()
                .write(move |c| minke_store::clear_before(c, before))
                .await?;
            let said = format!(
                "deleted {} runs with {} sessions, and {} entries of the audit log",
                cleared.runs, cleared.sessions, cleared.audit
            );
            audit(
                engine,
                &user,
                AuditAction::HistoryCleared,
                "history".into(),
                format!(
                    "older than {}: {said}",
                    minke_core::time::format_utc(before)
                ),
            )
            .await?;
            output::say(format_args!("{said}"))?;
            Ok(exit::SUCCESS)
        }
        #[cfg(feature = "admin")]
        Command::Serve(args) => crate::admin_cmds::serve(engine.clone(), args).await,
        Command::Worker(args) => crate::worker_cmd::worker(engine.clone(), args).await,
        Command::SecretKey => {
            output::say(format_args!("{}", minke_core::SecretKey::generate()))?;
            Ok(exit::SUCCESS)
        }
        // Answered before any database or runtime (see `main`).
        Command::Completions { .. } | Command::Man { .. } | Command::Config { .. } => {
            Ok(exit::SUCCESS)
        }
        #[cfg(feature = "admin")]
        Command::Users(cmd) => crate::admin_cmds::users(engine, cmd, &user).await,
    }
}

/// Asks a run to stop through the database; the process that runs it stops it.
async fn cancel(engine: &Engine, run: RunId, now: bool, user: &str) -> Result<u8, CliError> {
    use minke_runtime::{Stop, StopRequest};
    // A run whose process died ends as interrupted, instead of waiting for a stop.
    engine.close_interrupted_runs().await?;
    let stop = if now { Stop::Now } else { Stop::AfterCommand };
    match engine.request_stop(run, Some(stop)).await? {
        StopRequest::Here(s) | StopRequest::Elsewhere(s) => {
            let how = match s {
                Stop::Now => "at once",
                Stop::AfterCommand => "after the current command",
            };
            audit(
                engine,
                user,
                AuditAction::RunStopped,
                format!("run {run}"),
                how.to_owned(),
            )
            .await?;
            output::say(format_args!(
                "asked run {run} to stop {}",
                match s {
                    Stop::Now => "at once (running commands are killed)",
                    Stop::AfterCommand => "after its current commands",
                }
            ))?;
        }
        StopRequest::Ended(state) => {
            output::say(format_args!("run {run} has already ended ({state})"))?;
        }
        StopRequest::Finished(state) => output::say(format_args!(
            "run {run} ended before any of its queued work started ({state})"
        ))?,
        other => {
            return Err(CliError::Internal(format!(
                "unexpected answer to the stop: {other:?}"
            )));
        }
    }
    Ok(exit::SUCCESS)
}

async fn import(
    engine: &Engine,
    file: &std::path::Path,
    with_ssh: bool,
    shown: Shown,
    user: &str,
) -> Result<u8, CliError> {
    use crate::import::{Resolver, plan_import};
    let path = file.to_owned();
    let plan = tokio::task::spawn_blocking(move || {
        let ssh = std::path::Path::new("ssh");
        plan_import(
            &path,
            if with_ssh {
                Resolver::Ssh(ssh)
            } else {
                Resolver::Minke
            },
        )
    })
    .await
    .map_err(|e| CliError::Internal(format!("reading the config failed: {e}")))?
    .map_err(CliError::Usage)?;
    for warning in &plan.warnings {
        eprintln!("warning: {}", shown.text(warning));
    }
    let n = plan.hosts.len();
    let jump_only = plan.jump_only();
    let names: Vec<String> = plan.hosts.iter().map(|h| h.name.clone()).collect();
    let actor = minke_store::Actor::cli(user);
    let target = format!("hosts from {}", file.display());
    let detail = format!("imported {n} hosts: {}", names.join(", "));
    engine
        .store()
        .write(move |c| {
            minke_store::import_hosts(c, &plan.hosts, &plan.jumps)?;
            minke_store::record_audit(c, &actor, AuditAction::HostChanged, &target, &detail)
        })
        .await?;
    let shown_names = if n > 20 {
        format!("{}, and {} more", names[..20].join(", "), n - 20)
    } else {
        names.join(", ")
    };
    let also = if jump_only > 0 {
        format!(" ({jump_only} of them only jump hosts)")
    } else {
        String::new()
    };
    output::say(format_args!(
        "imported {n} hosts{also}: {}",
        shown.text(&shown_names)
    ))?;
    Ok(exit::SUCCESS)
}

/// What `run` or `rerun` asks to run: made into a request when the run starts.
enum Wanted {
    /// A session on a selection (`run`).
    New {
        session: String,
        model: String,
        select: Select,
    },
    /// An ended run's session again on some of its objects (`rerun`).
    Again {
        run: RunId,
        only: Vec<minke_runtime::EndedAs>,
    },
}

async fn run(
    engine: &Engine,
    wanted: Wanted,
    opts: RunOptions,
    user: String,
    raw: bool,
) -> Result<u8, CliError> {
    if opts.submit {
        let how = crate::submit::Follow {
            follow: opts.follow || (!opts.no_follow && std::io::stdout().is_terminal()),
            json: opts.json,
            raw,
            concurrency: opts
                .concurrency
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            writer: output_writer(&opts, raw)?,
        };
        let req = request(engine, wanted, &opts, user).await?;
        return crate::submit::submit(engine, req, how).await;
    }
    // Before anything is recorded: from here on a signal stops the run in order.
    let signals = crate::signals::Signals::new();
    let req = request(engine, wanted, &opts, user).await?;
    // Live events only feed the progress display; subscribed before the start so that
    // it misses none. Without a subscriber the engine builds no events at all.
    let show_progress = !opts.json && !opts.stream && std::io::stderr().is_terminal();
    let events = show_progress.then(|| engine.subscribe());
    let writer = output_writer(&opts, raw)?;
    let observer = writer
        .clone()
        .map(|w| w as std::sync::Arc<dyn minke_runtime::RunObserver>);
    let started = AuditedRun::of(&req);
    let handle = engine.start_observed(req, observer).await?;
    let run_id = handle.run_id;
    started.record(engine, run_id, handle.sessions).await?;
    let stopper = tokio::spawn(stop_on_signals(signals, handle.canceller()));
    let progress = events
        .map(|events| tokio::spawn(crate::progress::progress(events, run_id, handle.sessions)));
    let summary = handle.wait().await?;
    stopper.abort();
    if let Some(p) = progress {
        let _ = p.await;
    }
    engine.store().flush().await?;
    let output_lost = writer.as_ref().is_some_and(|w| w.tell_errors());
    let code = report(engine, &summary, opts.json, raw).await?;
    if output_lost {
        // The run went on, but some output did not reach its files.
        return Ok(exit::INTERNAL);
    }
    Ok(code)
}

/// The request `run` or `rerun` asks for (a rerun's: [`Engine::rerun_request`]).
async fn request(
    engine: &Engine,
    wanted: Wanted,
    opts: &RunOptions,
    user: String,
) -> Result<RunRequest, CliError> {
    let mut params = Params::new();
    for p in &opts.params {
        params
            .insert_pair(p)
            .map_err(|e| CliError::Usage(e.to_string()))?;
    }
    match wanted {
        Wanted::New {
            session,
            model,
            select,
        } => Ok(RunRequest {
            query: select.query(engine, &model, true).await?,
            session,
            model,
            params,
            username: user,
        }),
        Wanted::Again { run, only } => Ok(engine.rerun_request(run, &only, params, user).await?),
    }
}

/// Prints how a run ended (a table, or JSON) and returns its exit code.
pub(crate) async fn report(
    engine: &Engine,
    summary: &minke_runtime::RunSummary,
    json: bool,
    raw: bool,
) -> Result<u8, CliError> {
    let run_id = summary.run_id;
    if json {
        output::run_json(engine, summary).await?;
    } else {
        output::run_table(summary, Shown::stdout(raw))?;
        output::say(format_args!(
            "history: run {run_id} in {} (`show {run_id}` for details)",
            engine.store().url().redacted()
        ))?;
    }
    Ok(match summary.worst() {
        None | Some(Status::Success) => exit::SUCCESS,
        Some(Status::Warning) => exit::WARNING,
        Some(Status::Error) => exit::ERROR,
    })
}

/// The writer of `--stream` and `--output-dir`, if either is asked for.
fn output_writer(
    args: &RunOptions,
    raw: bool,
) -> Result<Option<std::sync::Arc<crate::run_output::OutputWriter>>, CliError> {
    if !args.stream && args.output_dir.is_none() {
        return Ok(None);
    }
    let w = crate::run_output::OutputWriter::new(args.output_dir.clone(), args.stream, raw)
        .map_err(|e| {
            CliError::Usage(format!(
                "cannot create --output-dir {}: {e}",
                args.output_dir
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display()
            ))
        })?;
    Ok(Some(std::sync::Arc::new(w)))
}

/// Stops a run on signals: the first Ctrl-C after the current commands, a second one,
/// SIGTERM or SIGHUP at once (running commands killed on their hosts). The run then
/// ends in order: sessions `stopped`, history written, host locks released.
async fn stop_on_signals(
    mut signals: crate::signals::Signals,
    canceller: minke_runtime::Canceller,
) {
    use crate::signals::Stop;
    loop {
        let stop = match signals.next().await {
            Stop::Interrupt => canceller.cancel(),
            Stop::Terminate => {
                canceller.kill();
                eprintln!("\nterminated: stopping at once (running commands are killed)");
                continue;
            }
        };
        if stop == minke_runtime::Stop::Now {
            eprintln!("\nstopping at once (running commands are killed)");
        } else {
            eprintln!("\nstopping after the current commands (Ctrl-C again to stop at once)");
        }
    }
}
