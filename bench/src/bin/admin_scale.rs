//! The admin on a million rows: how long its lists take to answer, and how much
//! memory `fleet serve` needs, with 1,000,000 hosts, 1,000,000 servers and 1,000,000
//! sessions of history.
//!
//! For each backend (SQLite, and PostgreSQL from `MINKE_TEST_PG_URL` or the machine's
//! cluster) it migrates a fresh database with `fleet migrate`, fills it in SQL (hosts,
//! servers, 100 runs of 10,000 sessions, one per server, a tenth ending in error and a
//! tenth in warning), adds a superuser, starts `fleet serve`, logs in and asks each
//! page R times in turn: the first page, every listed column of the servers' and the
//! hosts' changelists either way, a search, the last page, the last-status filter and
//! its last page, the hosts page, a host group of half the hosts (its form's first
//! and last members, the hosts page narrowed to it), runs and sessions (first and last
//! pages), users and the audit log. It prints each page's median, 95th percentile and worst answer time
//! (measured at the client over loopback, so server time plus well under a
//! millisecond), the rows it showed, and `fleet serve`'s peak resident memory (VmHWM).
//!
//! ```sh
//! cargo build --release -p fleet -p minke-bench
//! target/release/admin-scale                       # 1,000,000 rows, both backends
//! target/release/admin-scale --rows 100000 --backend sqlite --reps 10
//! target/release/admin-scale --backend postgres --reps 1 --keep   # then EXPLAIN away
//! ```
//!
//! Run by hand, never by the test command. Everything listens on 127.0.0.1; every
//! wait has a deadline.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, PgConnection, SqliteConnection};
use minke_bench::http::{login, request};

const PASSWORD: &str = "admin-scale-password";
/// Rows a changelist page shows by default.
const PAGE: usize = 50;
/// Hosts on a page of `/hosts`.
const HOSTS_PAGE: usize = 100;
/// Members on a page of a host group's form.
const GROUP_PAGE: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Options {
    rows: usize,
    reps: usize,
    fleet: PathBuf,
    backends: Vec<Backend>,
    /// Keep the databases (and print where they are) to look into query plans.
    keep: bool,
}

fn options() -> anyhow::Result<Options> {
    let exe = std::env::current_exe().context("where am I")?;
    let mut o = Options {
        rows: 1_000_000,
        reps: 20,
        fleet: exe.with_file_name("fleet"),
        backends: vec![Backend::Sqlite, Backend::Postgres],
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => o.rows = args.next().context("--rows N")?.parse()?,
            "--reps" => o.reps = args.next().context("--reps N")?.parse()?,
            "--fleet" => o.fleet = args.next().context("--fleet PATH")?.into(),
            "--keep" => o.keep = true,
            "--backend" => {
                o.backends = match args
                    .next()
                    .context("--backend sqlite|postgres|both")?
                    .as_str()
                {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "both" => vec![Backend::Sqlite, Backend::Postgres],
                    other => bail!("--backend: `{other}` is not sqlite, postgres or both"),
                }
            }
            other => bail!(
                "unknown option `{other}` (--rows N, --reps N, --fleet PATH, --backend sqlite|postgres|both, --keep)"
            ),
        }
    }
    anyhow::ensure!(
        o.rows >= 100 && o.rows.is_multiple_of(100),
        "--rows: a multiple of 100"
    );
    anyhow::ensure!(o.reps >= 1 && o.reps <= 1000, "--reps: 1 to 1000");
    Ok(o)
}

/// The SQL that fills a migrated database with `n` hosts, servers and sessions.
fn fill_sql(backend: Backend, n: usize) -> String {
    let per_run = n / 100;
    // Rows numbered 1..=n: a recursive count on SQLite, generate_series on PostgreSQL.
    let (numbers, text, bool_of) = match backend {
        Backend::Sqlite => (
            format!(
                "WITH RECURSIVE nums(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM nums WHERE i < {n})"
            ),
            "printf('%s-%07d', {p}, i)",
            "(i % 97 = 0)",
        ),
        Backend::Postgres => (
            format!("WITH nums(i) AS (SELECT generate_series(1, {n}))"),
            "{p} || '-' || lpad(i::text, 7, '0')",
            "(i % 97 = 0)",
        ),
    };
    let name = |prefix: &str| text.replace("{p}", &format!("'{prefix}'"));
    let cat = match backend {
        Backend::Sqlite => "||",
        Backend::Postgres => "||",
    };
    let int = |e: &str| match backend {
        Backend::Sqlite => e.to_owned(),
        Backend::Postgres => format!("({e})::text"),
    };
    format!(
        "{numbers}
INSERT INTO minke_hosts (name, hostname, port, username, host_key_policy, disabled)
SELECT {host}, '10.' {cat} {a} {cat} '.' {cat} {b} {cat} '.' {cat} {c}, 22 + i % 3,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'ops' END, 'strict', {bool_of}
FROM nums;
{numbers}
INSERT INTO servers (name, host_id, role, kernel, uptime)
SELECT {srv}, i,
       CASE i % 4 WHEN 0 THEN 'web' WHEN 1 THEN 'db' WHEN 2 THEN 'cache' ELSE 'queue' END,
       '6.1.' {cat} {k},
       CASE WHEN i % 3 = 0 THEN NULL ELSE {d} {cat} ' days' END
FROM nums;
{numbers}
INSERT INTO minke_runs (session, model, username, params, selection, state, created_at, finished_at)
SELECT 'uptime', 'server', 'bench', '{{}}', '{{}}', 'done', 1700000000000000 + i * 1000000, 1700000000000000 + i * 1000000 + 500000
FROM nums WHERE i <= 100;
{numbers}
INSERT INTO minke_sessions (run_id, session, model, object_id, object_label, host_id, host_name,
                            state, status, created_at, started_at, finished_at)
SELECT 1 + (i - 1) / {per_run}, 'uptime', 'server', i, {srv}, i, {host}, 'completed',
       CASE i % 10 WHEN 0 THEN 'error' WHEN 1 THEN 'warning' ELSE 'success' END,
       1700000000000000 + i, 1700000000000000 + i, 1700000000000000 + i + 1000
FROM nums;
INSERT INTO minke_host_groups (name, comment) VALUES ('half', 'every other host');
INSERT INTO minke_host_group_members (host_id, group_id)
SELECT id, (SELECT id FROM minke_host_groups WHERE name = 'half') FROM minke_hosts WHERE id % 2 = 0;
{counts}
",
        counts = kept_counts(backend),
        host = name("host"),
        srv = name("srv"),
        a = int("(i / 65536) % 256"),
        b = int("(i / 256) % 256"),
        c = int("i % 256"),
        k = int("i % 40"),
        d = int("i % 400"),
    )
}

/// What the store keeps of ended runs, their sessions' counts, as its migration fills
/// them for runs that ended before it (the same statement, without adding the column).
fn kept_counts(backend: Backend) -> String {
    let migration = match backend {
        Backend::Sqlite => include_str!(
            "../../../crates/minke-store/migrations/sqlite/2026-12-06-000002_run_counts/up.sql"
        ),
        Backend::Postgres => include_str!(
            "../../../crates/minke-store/migrations/postgres/2026-12-06-000002_run_counts/up.sql"
        ),
    };
    migration.replace("ALTER TABLE minke_runs ADD COLUMN counts TEXT;", "")
}

/// A fresh database of `backend` in `dir` (SQLite) or on the cluster (PostgreSQL):
/// its URL, and for PostgreSQL what drops it.
fn database(backend: Backend, dir: &Path) -> anyhow::Result<(String, Option<PgDrop>)> {
    match backend {
        Backend::Sqlite => Ok((dir.join("scale.db").to_string_lossy().into_owned(), None)),
        Backend::Postgres => {
            let admin = std::env::var("MINKE_TEST_PG_URL").unwrap_or_else(|_| {
                "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres".to_owned()
            });
            let name = "minke_admin_scale";
            let mut c = PgConnection::establish(&admin)
                .context("PostgreSQL is not reachable (scripts/pg-start.sh starts it)")?;
            // One statement a call: neither may run inside a transaction.
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
            c.batch_execute(&format!("CREATE DATABASE {name}"))?;
            let url = match admin.rsplit_once('/') {
                Some((base, _)) => format!("{base}/{name}"),
                None => bail!("odd MINKE_TEST_PG_URL"),
            };
            Ok((
                url,
                Some(PgDrop {
                    admin,
                    name: name.to_owned(),
                }),
            ))
        }
    }
}

/// Drops the benchmark's PostgreSQL database at the end.
struct PgDrop {
    admin: String,
    name: String,
}

impl Drop for PgDrop {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        if let Ok(mut c) = PgConnection::establish(&self.admin) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn fleet(o: &Options, url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(&o.fleet)
        .args(["--database", url])
        .args(args)
        .env("MINKE_PASSWORD", PASSWORD)
        .env_remove("MINKE_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", o.fleet.display()))?;
    if !out.status.success() {
        bail!("fleet {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn fill(backend: Backend, url: &str, n: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let sql = fill_sql(backend, n);
    match backend {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(url)?;
            c.batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")?;
            c.batch_execute(&format!("BEGIN; {sql} COMMIT; ANALYZE;"))?;
        }
        Backend::Postgres => {
            let mut c = PgConnection::establish(url)?;
            c.batch_execute(&format!("BEGIN; {sql} COMMIT;"))?;
            c.batch_execute("VACUUM ANALYZE")?;
        }
    }
    Ok(started.elapsed())
}

/// A page to ask for, and how many rows it must show.
struct Page {
    label: String,
    path: String,
    rows: usize,
}

fn pages(n: usize) -> Vec<Page> {
    let page = |label: &str, path: String, rows: usize| Page {
        label: label.to_owned(),
        path,
        rows,
    };
    let mut out = vec![page("servers, first page", "/models/server".into(), PAGE)];
    for col in ["name", "role", "kernel", "uptime"] {
        for way in ["", "-"] {
            out.push(page(
                &format!("servers by {way}{col}"),
                format!("/models/server?o={way}{col}"),
                PAGE,
            ));
        }
    }
    out.push(page(
        "servers, search",
        "/models/server?q=srv-000012".into(),
        10,
    ));
    out.push(page(
        "servers, last page",
        format!("/models/server?page={}", n / PAGE),
        PAGE,
    ));
    out.push(page(
        "servers, last page by -kernel",
        format!("/models/server?o=-kernel&page={}", n / PAGE),
        PAGE,
    ));
    out.push(page(
        "servers, last status error",
        "/models/server?last_status=error".into(),
        PAGE,
    ));
    out.push(page(
        "servers, last status error, last page",
        format!("/models/server?last_status=error&page={}", n / 10 / PAGE),
        PAGE,
    ));
    out.push(page(
        "hosts changelist, first page",
        "/models/host".into(),
        PAGE,
    ));
    for col in ["name", "hostname", "port", "username", "disabled"] {
        for way in ["", "-"] {
            out.push(page(
                &format!("hosts changelist by {way}{col}"),
                format!("/models/host?o={way}{col}"),
                PAGE,
            ));
        }
    }
    out.push(page(
        "hosts changelist, search",
        "/models/host?q=host-000012".into(),
        10,
    ));
    out.push(page("hosts page, first", "/hosts".into(), HOSTS_PAGE));
    out.push(page(
        "hosts page, last",
        format!("/hosts?page={}", n / HOSTS_PAGE),
        HOSTS_PAGE,
    ));
    out.push(page(
        "hosts page, search",
        "/hosts?q=host-000012".into(),
        10,
    ));
    // A host group of every other host: half the hosts.
    out.push(page("groups", "/groups".into(), 1));
    out.push(page(
        "group form, first members",
        "/groups/1/edit".into(),
        GROUP_PAGE,
    ));
    out.push(page(
        "group form, last members",
        format!("/groups/1/edit?page={}", n / 2 / GROUP_PAGE),
        GROUP_PAGE,
    ));
    out.push(page(
        "hosts page, group",
        "/hosts?group=1".into(),
        HOSTS_PAGE,
    ));
    out.push(page(
        "hosts page, group, last",
        format!("/hosts?group=1&page={}", n / 2 / HOSTS_PAGE),
        HOSTS_PAGE,
    ));
    out.push(page("runs", "/runs".into(), PAGE));
    out.push(page("sessions, first page", "/sessions".into(), PAGE));
    out.push(page(
        "sessions, last page",
        format!("/sessions?page={}", n / PAGE),
        PAGE,
    ));
    out.push(page(
        "sessions, status error",
        "/sessions?status=error".into(),
        PAGE,
    ));
    out.push(page("users", "/users".into(), 1));
    out.push(page("audit log", "/audit".into(), 0));
    out
}

/// Rows shown on a page: changelist objects, hosts, runs, sessions, users or entries.
fn rows_in(body: &str) -> usize {
    [
        "data-object-id=\"",
        "data-host-id=\"",
        "data-run-id=\"",
        "data-group-id=\"",
        "data-session-id=\"",
        "data-user=\"",
        "data-entry=\"",
    ]
    .iter()
    .map(|m| body.matches(m).count())
    .max()
    .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn serve(o: &Options, url: &str) -> anyhow::Result<(minke_bench::KillOnDrop, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = minke_bench::KillOnDrop(
        Command::new(&o.fleet)
            .args([
                "--database",
                url,
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("MINKE_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting fleet serve")?,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _, _)) = request(port, "GET", "/login", "", "") {
            return Ok((child, port));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "fleet serve did not answer in 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn one_backend(o: &Options, backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("minke-admin-scale-")
        .tempdir()?;
    let (url, pg_drop) = database(backend, dir.path())?;
    fleet(o, &url, &["migrate"])?;
    let took = fill(backend, &url, o.rows)?;
    fleet(o, &url, &["users", "add", "bench", "--superuser"])?;
    println!(
        "\n{backend:?}: {} hosts, {} servers, {} sessions in 100 runs; filled in {:.1} s",
        o.rows,
        o.rows,
        o.rows,
        took.as_secs_f64()
    );
    let (serve, port) = serve(o, &url)?;
    let cookie = login(port, "bench", PASSWORD)?;
    println!("| page | median ms | p95 ms | max ms | rows |\n|---|---:|---:|---:|---:|");
    let mut worst: f64 = 0.0;
    for page in pages(o.rows) {
        let (status, _, body) = request(port, "GET", &page.path, &cookie, "")?;
        anyhow::ensure!(status == 200, "{}: {status} {body:.300}", page.path);
        let shown = rows_in(&body);
        anyhow::ensure!(
            shown >= page.rows.min(1) && (page.rows == 0 || shown == page.rows),
            "{}: {shown} rows, expected {}",
            page.path,
            page.rows
        );
        let mut times = Vec::with_capacity(o.reps);
        for _ in 0..o.reps {
            let t = Instant::now();
            let (status, _, _) = request(port, "GET", &page.path, &cookie, "")?;
            times.push(t.elapsed());
            anyhow::ensure!(status == 200, "{}: {status}", page.path);
        }
        times.sort();
        let p95 = pct(&times, 0.95);
        worst = worst.max(p95);
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {shown} |",
            page.label,
            pct(&times, 0.5),
            p95,
            pct(&times, 1.0)
        );
    }
    let hwm = minke_bench::status_kib(serve.id(), "VmHWM:").unwrap_or(0);
    println!(
        "\n{backend:?}: worst p95 {worst:.1} ms; fleet serve peak resident {:.0} MiB",
        hwm as f64 / 1024.0
    );
    drop(serve);
    if o.keep {
        if let Some(mut d) = pg_drop {
            d.name.clear();
        }
        println!("kept: {url}");
        std::mem::forget(dir);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    if !o.fleet.exists() {
        bail!(
            "{} not found: cargo build --release -p fleet (or --fleet PATH)",
            o.fleet.display()
        );
    }
    for &b in &o.backends {
        one_backend(&o, b)?;
    }
    Ok(())
}
