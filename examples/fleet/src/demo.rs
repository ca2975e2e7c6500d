//! `fleet demo`: the whole flow on throwaway local SSH servers.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use diesel::prelude::*;
use minke::store::{Conn, DatabaseUrl};
use minke::{HostRecord, Query, StoredModel as _};

use crate::models::{servers, webapps};

struct Options {
    hosts: usize,
    dir: PathBuf,
    keep: bool,
    stop: bool,
}

fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        hosts: 5,
        dir: PathBuf::from("minke-demo"),
        keep: false,
        stop: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--hosts" => {
                let v = it.next().context("--hosts needs a number")?;
                o.hosts = v
                    .parse()
                    .with_context(|| format!("--hosts: `{v}` is not a number"))?;
                if !(1..=500).contains(&o.hosts) {
                    bail!("--hosts must be between 1 and 500");
                }
            }
            "--dir" => o.dir = PathBuf::from(it.next().context("--dir needs a path")?),
            "--keep" => o.keep = true,
            "--stop" => o.stop = true,
            "-h" | "--help" => {
                println!(
                    "usage: fleet demo [--hosts N (default 5)] [--dir DIR (default ./minke-demo)] [--keep]\n       \
                     fleet demo --stop [--dir DIR]\n\n\
                     --keep leaves the sshd hosts running for more `fleet` commands; --stop stops them."
                );
                std::process::exit(0);
            }
            other => bail!("unknown demo option `{other}` (try --help)"),
        }
    }
    Ok(o)
}

fn step(db: &str, args: &[&str]) -> u8 {
    let mut full = vec!["fleet", "--database", db];
    full.extend_from_slice(args);
    println!("\n$ fleet {}", args.join(" "));
    let code = crate::app().main_from(full);
    // ExitCode has no accessor: compare against the known codes.
    for c in 0u8..=4 {
        if code == ExitCode::from(c) {
            return c;
        }
    }
    1
}

fn write_ssh_config(fleet: &minke_testkit::Fleet, path: &Path) -> anyhow::Result<()> {
    let mut text = String::from("# Throwaway hosts of `fleet demo`\n");
    for (i, s) in fleet.servers().iter().enumerate() {
        text.push_str(&format!(
            "Host demo-{:02}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n",
            i + 1,
            s.port(),
            fleet.user(),
            fleet.client_key().display(),
            fleet.known_hosts().display(),
        ));
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let o = options(args)?;
    let hosts_dir = o.dir.join("hosts");
    if o.stop {
        let n = minke_testkit::Fleet::stop_in(&hosts_dir).context("stopping the demo hosts")?;
        println!("stopped {n} demo hosts");
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&o.dir).with_context(|| format!("creating {}", o.dir.display()))?;
    let dir = o.dir.canonicalize()?;
    // Hosts of an earlier `--keep` run would hold stale ports: stop them first.
    if dir.join("hosts").exists() {
        minke_testkit::Fleet::stop_in(&dir.join("hosts")).context("stopping earlier demo hosts")?;
        std::fs::remove_dir_all(dir.join("hosts")).context("removing earlier demo hosts")?;
    }
    let db_path = dir.join("minke.db");
    let db = db_path.to_string_lossy().into_owned();
    let t0 = Instant::now();
    println!(
        "starting {} throwaway OpenSSH servers on 127.0.0.1 ...",
        o.hosts
    );
    let fleet = minke_testkit::Fleet::start_in(
        dir.join("hosts"),
        o.hosts,
        &minke_testkit::ServerOptions::default(),
    )
    .context("starting the local sshd fleet")?;
    println!("started in {:.2}s", t0.elapsed().as_secs_f64());
    let cfg = dir.join("ssh_config");
    write_ssh_config(&fleet, &cfg)?;

    let mut worst = 0u8;
    let cfg_s = cfg.to_string_lossy().into_owned();
    let code = step(&db, &["hosts", "import-ssh-config", &cfg_s]);
    if code != 0 {
        bail!("importing hosts failed");
    }

    // Servers and web applications on the imported hosts (once; the demo can be rerun).
    let mut conn = Conn::open(&DatabaseUrl::parse(&db)?)?;
    let hosts = HostRecord::load(&mut conn, &Query::all())?;
    let Conn::Sqlite(c) = &mut conn else {
        bail!("the demo uses SQLite")
    };
    for i in 1..=o.hosts {
        let host = format!("demo-{i:02}");
        let host_id = hosts
            .iter()
            .find(|h| h.name == host)
            .map(|h| h.id)
            .with_context(|| format!("host {host} was not imported"))?;
        let server = format!("srv-{i:02}");
        diesel::insert_into(servers::table)
            .values((
                servers::name.eq(&server),
                servers::host_id.eq(host_id),
                servers::role.eq("web"),
            ))
            .on_conflict_do_nothing()
            .execute(c)?;
        let server_id: i64 = servers::table
            .filter(servers::name.eq(&server))
            .select(servers::id)
            .first(c)?;
        for (app, path) in [("shop", "/tmp"), ("blog", "/srv/blog-does-not-exist")] {
            diesel::insert_into(webapps::table)
                .values((
                    webapps::name.eq(format!("{app}-{i:02}")),
                    webapps::server_id.eq(server_id),
                    webapps::path.eq(path),
                ))
                .on_conflict_do_nothing()
                .execute(c)?;
        }
    }
    drop(conn);

    let t_runs = Instant::now();
    for args in [
        vec!["items", "server"],
        vec!["run", "inventory", "--model", "server", "--all"],
        vec![
            "run",
            "disk_usage",
            "--model",
            "server",
            "--all",
            "--param",
            "path=/",
        ],
        vec!["run", "checks", "--model", "host", "--all"],
        vec!["run", "app_state", "--model", "web_app", "--all"],
        vec![
            "run",
            "command",
            "--model",
            "host",
            "--all",
            "--param",
            "cmd=uname -a",
        ],
        vec!["items", "server"],
        vec!["history", "--limit", "5"],
    ] {
        worst = worst.max(step(&db, &args));
    }
    let last_run: minke::RunId = {
        let mut conn = Conn::open(&DatabaseUrl::parse(&db)?)?;
        minke::store::list_runs(&mut conn, 1, 0)?
            .first()
            .map(|r| r.id)
            .context("no run recorded")?
    };
    step(&db, &["show", &last_run.to_string()]);
    // The binary as it was started, wherever cargo put it.
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "fleet".to_owned());
    println!(
        "\nall runs took {:.2}s; history is in {db}\n\
         try: {me} --database {db} show 1   (or `history`, `items web_app`)",
        t_runs.elapsed().as_secs_f64()
    );
    if o.keep {
        let d = fleet.detach();
        println!(
            "the demo hosts keep running (in {}); stop them with `fleet demo --stop --dir {}`",
            d.display(),
            o.dir.display()
        );
    } else {
        fleet.stop();
    }
    // A missing web application directory is a warning by design: the demo shows it.
    Ok(ExitCode::from(if worst <= 3 { 0 } else { worst }))
}
