//! Load on the admin's login: many wrong logins at once against `fleet serve`.
//!
//! Makes a database with one user, starts `fleet serve` (with the `serve` options
//! given after `--`), sends N wrong logins at once (default 200, each a thread with
//! its own connection, all from 127.0.0.1) and prints how they were answered
//! (401, 429, 503), their latency (median, p95, max), how long a right login then
//! takes, and the serve process's memory (VmRSS sampled, VmHWM).
//!
//! ```sh
//! cargo build --release -p fleet -p minke-bench
//! target/release/login-load                                   # default limits
//! target/release/login-load --logins 400 -- --login-failures-per-addr 100000 \
//!     --login-failures-per-user 100000                         # the password pool alone
//! ```
//!
//! Run by hand, never by the test command. Everything listens on 127.0.0.1; every
//! wait has a deadline.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

const PASSWORD: &str = "login-load-password";

struct Options {
    logins: usize,
    fleet: PathBuf,
    serve_args: Vec<String>,
}

fn options() -> anyhow::Result<Options> {
    let exe = std::env::current_exe().context("where am I")?;
    let mut o = Options {
        logins: 200,
        fleet: exe.with_file_name("fleet"),
        serve_args: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--logins" => o.logins = args.next().context("--logins N")?.parse()?,
            "--fleet" => o.fleet = args.next().context("--fleet PATH")?.into(),
            "--" => o.serve_args = args.by_ref().collect(),
            other => bail!("unknown option `{other}` (--logins N, --fleet PATH, -- SERVE-ARGS)"),
        }
    }
    Ok(o)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    minke_bench::status_kib(pid, key).unwrap_or(0)
}

use minke_bench::http::{login_form, request};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    let dir = tempfile::Builder::new()
        .prefix("minke-login-load-")
        .tempdir()?;
    let db = dir.path().join("minke.db").to_string_lossy().into_owned();
    let added = Command::new(&o.fleet)
        .args(["--database", &db, "users", "add", "bench", "--superuser"])
        .env("MINKE_PASSWORD", PASSWORD)
        .env_remove("MINKE_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .context("running fleet users add")?;
    if !added.status.success() {
        bail!(
            "fleet users add: {}",
            String::from_utf8_lossy(&added.stderr)
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let serve = minke_bench::KillOnDrop(
        Command::new(&o.fleet)
            .args([
                "--database",
                &db,
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(&o.serve_args)
            .env_remove("MINKE_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting fleet serve")?,
    );
    let pid = serve.id();
    let up = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > up {
            bail!("fleet serve did not listen within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "login-load: {} wrong logins at once; serve {:?}; VmRSS idle {:.1} MiB",
        o.logins,
        o.serve_args,
        status_kib(pid, "VmRSS:") as f64 / 1024.0
    );
    let (token, cookie) = login_form(port)?;
    let body = format!("csrf={token}&username=bench&password=wrong&next=%2F");
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(status_kib(pid, "VmRSS:"));
                std::thread::sleep(Duration::from_millis(20));
            }
            max
        })
    };
    let start = Arc::new(Barrier::new(o.logins));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..o.logins)
        .map(|_| {
            let (start, body, cookie) = (start.clone(), body.clone(), cookie.clone());
            std::thread::spawn(move || {
                start.wait();
                let t = Instant::now();
                let r = request(port, "POST", "/login", &cookie, &body).map(|(s, _, _)| s);
                (r.unwrap_or(0), t.elapsed())
            })
        })
        .collect();
    let mut counts: BTreeMap<u16, Vec<Duration>> = BTreeMap::new();
    for t in threads {
        let (status, took) = t.join().map_err(|_| anyhow::anyhow!("a thread panicked"))?;
        counts.entry(status).or_default().push(took);
    }
    let wall = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let max_rss = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the sampler panicked"))?;
    println!("all answered in {:.2} s", wall.as_secs_f64());
    for (status, mut times) in counts {
        times.sort();
        println!(
            "  {} x {:>3}: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            if status == 0 {
                "no answer".to_owned()
            } else {
                status.to_string()
            },
            times.len(),
            pct(&times, 0.5),
            pct(&times, 0.95),
            pct(&times, 1.0)
        );
    }
    let (token, cookie) = login_form(port)?;
    let t = Instant::now();
    let (status, _, _) = request(
        port,
        "POST",
        "/login",
        &cookie,
        &format!("csrf={token}&username=bench&password={PASSWORD}&next=%2F"),
    )?;
    println!(
        "the right password for the same user from the same address right after: {status} in {:.1} ms (429 once its failures reached the limit)",
        t.elapsed().as_secs_f64() * 1000.0
    );
    println!(
        "fleet serve: VmRSS max {:.1} MiB, VmHWM {:.1} MiB",
        max_rss as f64 / 1024.0,
        status_kib(pid, "VmHWM:") as f64 / 1024.0
    );
    drop(serve);
    Ok(())
}
