//! Load on the admin's live view: many SSE subscribers on one big run.
//!
//! Starts `fleet demo --keep` with N throwaway sshd hosts (default 200), then
//! `fleet serve`, starts the `command` session on every host through the JSON API
//! (`sleep S; echo done`, so that the subscribers are connected before the first
//! session ends), and opens M subscribers (default 200) on the run's event stream
//! (`/api/runs/ID/events`), each a thread with a small HTTP/1.1 client. Prints the
//! serve process's memory (VmRSS sampled, VmHWM) and CPU, how many events reached
//! the subscribers, and the latency of updates: from a session's `finished_at` in
//! the history to when each subscriber read its final `state` event (median, p95,
//! p99, max over every subscriber × session). The engine runs 100 sessions at once,
//! so with more hosts the first sessions end while the next ones connect (SSH
//! handshakes in the same process): the latency is also given for the first and
//! the second half of the time in which sessions ended. `--rounds N` repeats the
//! run against the same server, to see whether its memory keeps growing.
//!
//! ```sh
//! cargo build --release -p fleet -p minke-bench
//! target/release/sse-load                      # 200 hosts, 200 subscribers, sleep 5
//! target/release/sse-load --hosts 50 --subscribers 100 --sleep 3
//! target/release/sse-load --stagger-ms 20      # subscribers one after another
//! target/release/sse-load --rounds 3           # the same server again: does it grow?
//! ```
//!
//! Run by hand, never by the test command. Everything listens on 127.0.0.1; every
//! wait has a deadline; the hosts are stopped at the end, also after an error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use diesel::prelude::*;

const PASSWORD: &str = "sse-load-password";
/// A subscriber's socket reads wait this long at most (the server sends a
/// keep-alive comment every 15 s).
const READ_TIMEOUT: Duration = Duration::from_secs(20);

struct Options {
    hosts: usize,
    subscribers: usize,
    sleep: u32,
    stagger_ms: u64,
    rounds: usize,
    fleet: PathBuf,
}

fn options() -> anyhow::Result<Options> {
    let exe = std::env::current_exe().context("where am I")?;
    let mut o = Options {
        hosts: 200,
        subscribers: 200,
        sleep: 5,
        stagger_ms: 0,
        rounds: 1,
        fleet: exe.with_file_name("fleet"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--hosts" => o.hosts = value()?.parse().context("--hosts N")?,
            "--subscribers" => o.subscribers = value()?.parse().context("--subscribers N")?,
            "--sleep" => o.sleep = value()?.parse().context("--sleep SECONDS")?,
            "--stagger-ms" => o.stagger_ms = value()?.parse().context("--stagger-ms MS")?,
            "--rounds" => o.rounds = value()?.parse().context("--rounds N")?,
            "--fleet" => o.fleet = PathBuf::from(value()?),
            "-h" | "--help" => {
                println!(
                    "usage: sse-load [--hosts N (200)] [--subscribers N (200)] [--sleep S (5)]\n                [--stagger-ms MS (0: all at once)] [--rounds N (1)] [--fleet PATH]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown option `{other}` (try --help)"),
        }
    }
    if !(1..=500).contains(&o.hosts) {
        bail!("--hosts must be from 1 to 500");
    }
    if !(1..=1000).contains(&o.subscribers) {
        bail!("--subscribers must be from 1 to 1000");
    }
    if !(1..=60).contains(&o.sleep) {
        bail!("--sleep must be from 1 to 60 seconds");
    }
    if !(1..=10).contains(&o.rounds) {
        bail!("--rounds must be from 1 to 10");
    }
    if o.stagger_ms > 100 {
        bail!("--stagger-ms must be at most 100");
    }
    if !o.fleet.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p fleet` (or give --fleet PATH)",
            o.fleet.display()
        );
    }
    Ok(o)
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// CPU seconds (user + system) of a process so far (10 ms steps).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
}

/// How many files a process has open whose path ends with `suffix`.
fn open_files(pid: u32, suffix: &str) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|t| t.to_string_lossy().ends_with(suffix))
                })
                .count() as u64
        })
        .unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The demo's hosts, stopped when dropped.
struct Demo {
    fleet: PathBuf,
    dir: tempfile::TempDir,
    db: String,
}

impl Demo {
    fn start(fleet: &Path, hosts: usize) -> anyhow::Result<Demo> {
        let dir = tempfile::Builder::new()
            .prefix("minke-sse-load-")
            .tempdir()?;
        let db = dir.path().join("minke.db").to_string_lossy().into_owned();
        let demo = Demo {
            fleet: fleet.to_owned(),
            dir,
            db,
        };
        let out = Command::new(fleet)
            .args(["demo", "--hosts", &hosts.to_string(), "--keep", "--dir"])
            .arg(demo.dir.path())
            .env_remove("MINKE_DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .context("running fleet demo")?;
        if !out.status.success() {
            bail!(
                "fleet demo failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(demo)
    }

    fn fleet(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.fleet)
            .arg("--database")
            .arg(&self.db)
            .args(args)
            .env_remove("MINKE_DATABASE_URL")
            .env("MINKE_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running fleet {args:?}"))?;
        if !out.status.success() {
            bail!(
                "fleet {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new(&self.fleet)
            .args(["demo", "--stop", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .status();
    }
}

/// A small blocking request with a JSON body; the status and the JSON answer.
fn api(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let payload = body.to_string();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP answer")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("odd status line")?;
    Ok((status, serde_json::from_str(body).unwrap_or_default()))
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    snapshot_at: Option<i64>,
    /// Session id → when its final state event was read (µs since the epoch).
    done: HashMap<i64, i64>,
    /// Sessions already done in the snapshot.
    done_in_snapshot: usize,
    events: usize,
    bytes: usize,
    finished: bool,
    error: Option<String>,
}

fn is_done(state: &str) -> bool {
    matches!(state, "completed" | "failed" | "stopped" | "canceled")
}

/// One SSE subscriber: reads the chunked event stream until `run_finished`, an
/// error or the deadline.
fn subscribe(
    port: u16,
    token: &str,
    run_id: i64,
    deadline: Instant,
    snapshots: &AtomicUsize,
) -> Seen {
    let mut seen = Seen::default();
    if let Err(e) = follow(port, token, run_id, deadline, &mut seen, snapshots) {
        seen.error = Some(format!("{e:#}"));
    }
    seen
}

fn follow(
    port: u16,
    token: &str,
    run_id: i64,
    deadline: Instant,
    seen: &mut Seen,
    snapshots: &AtomicUsize,
) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    write!(
        s,
        "GET /api/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )?;
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        bail!("the event stream answered {}", line.trim());
    }
    let mut chunked = false;
    for _ in 0..100 {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        chunked |= l.starts_with("transfer-encoding:") && l.contains("chunked");
    }
    if !chunked {
        bail!("the event stream is not chunked");
    }
    let mut pending: Vec<u8> = Vec::new();
    let (mut event, mut data) = (String::new(), String::new());
    while Instant::now() < deadline {
        line.clear();
        r.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .with_context(|| format!("odd chunk size line {line:?}"))?;
        if size == 0 {
            return Ok(());
        }
        let start = pending.len();
        pending.resize(start + size, 0);
        r.read_exact(&mut pending[start..])?;
        let at = now_us();
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        seen.bytes += size;
        // Whole lines only; the rest waits for the next chunk.
        let Some(last) = pending.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let text = String::from_utf8_lossy(&pending[..=last]).into_owned();
        pending.drain(..=last);
        for l in text.split('\n') {
            let l = l.strip_suffix('\r').unwrap_or(l);
            if l.is_empty() {
                if !event.is_empty() || !data.is_empty() {
                    seen.events += 1;
                    if event == "snapshot" && seen.snapshot_at.is_none() {
                        snapshots.fetch_add(1, Ordering::Relaxed);
                    }
                    if dispatch(seen, &event, &data, at) {
                        return Ok(());
                    }
                }
                event.clear();
                data.clear();
            } else if let Some(v) = l.strip_prefix("event:") {
                event = v.trim_start().to_owned();
            } else if let Some(v) = l.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    }
    bail!("the deadline passed before the run finished")
}

/// Records one event; true at the end of the stream.
fn dispatch(seen: &mut Seen, event: &str, data: &str, at: i64) -> bool {
    let v: serde_json::Value = match event {
        "snapshot" | "state" => serde_json::from_str(data).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    match event {
        "snapshot" => {
            seen.snapshot_at.get_or_insert(at);
            if let Some(sessions) = v["sessions"].as_array() {
                for s in sessions {
                    if is_done(s["state"].as_str().unwrap_or_default())
                        && let Some(id) = s["id"].as_i64()
                        && !seen.done.contains_key(&id)
                    {
                        seen.done_in_snapshot += 1;
                        seen.done.insert(id, i64::MIN);
                    }
                }
            }
        }
        "state" => {
            if is_done(v["state"].as_str().unwrap_or_default())
                && let Some(id) = v["session_id"].as_i64()
            {
                seen.done.entry(id).or_insert(at);
            }
        }
        "run_finished" => {
            seen.finished = true;
            return true;
        }
        _ => {}
    }
    false
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(us: i64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// The `finished_at` of each session of the run, once all are recorded.
fn finished_at(db: &str, run_id: i64, sessions: usize) -> anyhow::Result<HashMap<i64, i64>> {
    use minke::store::schema::minke_sessions as s;
    let mut conn = diesel::SqliteConnection::establish(db)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: Vec<(i64, Option<i64>)> = s::table
            .filter(s::run_id.eq(run_id))
            .select((s::id, s::finished_at))
            .load(&mut conn)?;
        let done: HashMap<i64, i64> = rows
            .iter()
            .filter_map(|(id, at)| at.map(|a| (*id, a)))
            .collect();
        if done.len() >= sessions {
            return Ok(done);
        }
        if Instant::now() >= deadline {
            bail!(
                "only {} of {sessions} sessions have a finished_at",
                done.len()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The figures of one round.
struct Round {
    rss_connected: u64,
    rss_max: u64,
    rss_end: u64,
    hwm: u64,
    cpu: f64,
    threads_max: u64,
    dbs_max: u64,
    p50: i64,
    p95: i64,
    max: i64,
}

/// One run watched by every subscriber.
fn round(o: &Options, demo: &Demo, port: u16, pid: u32, token: &str) -> anyhow::Result<Round> {
    // Memory sampler.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut rss, mut threads, mut dbs) = (0u64, 0u64, 0u64);
            let end = Instant::now() + Duration::from_secs(900);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                rss = rss.max(minke_bench::status_kib(pid, "VmRSS:").unwrap_or(0));
                threads = threads.max(minke_bench::status_kib(pid, "Threads:").unwrap_or(0));
                dbs = dbs.max(open_files(pid, "/minke.db"));
                std::thread::sleep(Duration::from_millis(50));
            }
            (rss, threads, dbs)
        })
    };
    let result = watch(o, demo, port, pid, token);
    stop.store(true, Ordering::Relaxed);
    let (rss_max, threads_max, dbs_max) = sampler.join().unwrap_or((0, 0, 0));
    let mut r = result?;
    r.rss_max = rss_max;
    r.threads_max = threads_max;
    r.dbs_max = dbs_max;
    println!(
        "fleet serve: VmRSS with every snapshot sent {:.1} MiB, max sampled {:.1} MiB, at the end {:.1} MiB; VmHWM {:.1} MiB; CPU {:.2} s; up to {threads_max} threads and {dbs_max} open SQLite connections",
        r.rss_connected as f64 / 1024.0,
        rss_max as f64 / 1024.0,
        r.rss_end as f64 / 1024.0,
        r.hwm as f64 / 1024.0,
        r.cpu,
    );
    Ok(r)
}

fn watch(o: &Options, demo: &Demo, port: u16, pid: u32, token: &str) -> anyhow::Result<Round> {
    let cpu0 = cpu_seconds(pid).unwrap_or(0.0);
    let load_before = loadavg();
    let body = serde_json::json!({
        "session": "command",
        "model": "host",
        "all": true,
        "params": {"cmd": format!("sleep {}; echo done", o.sleep)},
    });
    let started = now_us();
    let (status, run) = api(port, token, "POST", "/api/runs", &body)?;
    if status != 201 {
        bail!("starting the run answered {status}: {run}");
    }
    let run_id = run["run_id"].as_i64().context("no run_id")?;
    let sessions = usize::try_from(run["sessions"].as_i64().context("no sessions")?)?;
    println!("run {run_id}: {sessions} sessions of `command` on hosts");

    // Bounded: waves of the engine's 100 sessions at once, each `sleep` long, plus
    // room for slow connects.
    let waves = u64::try_from(sessions.div_ceil(100)).unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs(120 + waves * u64::from(o.sleep) * 2);
    let snapshots = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..o.subscribers)
        .map(|_| {
            let token = token.to_owned();
            let snapshots = snapshots.clone();
            std::thread::sleep(Duration::from_millis(o.stagger_ms));
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || subscribe(port, &token, run_id, deadline, &snapshots))
        })
        .collect::<Result<_, _>>()?;
    // The server's memory once every subscriber has its snapshot.
    let connected = Instant::now() + Duration::from_secs(60);
    while snapshots.load(Ordering::Relaxed) < o.subscribers && Instant::now() < connected {
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_connected = minke_bench::status_kib(pid, "VmRSS:").unwrap_or(0);
    let mut seen = Vec::with_capacity(threads.len());
    for t in threads {
        seen.push(
            t.join()
                .map_err(|_| anyhow::anyhow!("a subscriber panicked"))?,
        );
    }
    let rss_end = minke_bench::status_kib(pid, "VmRSS:").unwrap_or(0);
    let dbs_end = open_files(pid, "/minke.db");
    let hwm = minke_bench::status_kib(pid, "VmHWM:").unwrap_or(0);
    let cpu = cpu_seconds(pid).unwrap_or(0.0) - cpu0;
    let load_after = loadavg();

    let fin = finished_at(&demo.db, run_id, sessions)?;
    let first_end = fin.values().copied().min().unwrap_or(0);
    let last_end = fin.values().copied().max().unwrap_or(0);
    let mut lat = Vec::new();
    // With more sessions than the engine runs at once, the first ones end while the
    // next ones connect (SSH handshakes in the same process); the last ones end alone.
    let middle = first_end + (last_end - first_end) / 2;
    let (mut early, mut late_wave) = (Vec::new(), Vec::new());
    let (mut missing, mut late, mut in_snapshot, mut errors) = (0usize, 0usize, 0usize, 0usize);
    let (mut events, mut bytes, mut finished) = (0usize, 0usize, 0usize);
    let mut last_seen = 0i64;
    let mut last_snapshot = 0i64;
    for s in &seen {
        events += s.events;
        bytes += s.bytes;
        finished += usize::from(s.finished);
        in_snapshot += s.done_in_snapshot;
        if let Some(e) = &s.error {
            errors += 1;
            if errors <= 3 {
                eprintln!("subscriber error: {e}");
            }
        }
        match s.snapshot_at {
            Some(at) if at > first_end => late += 1,
            Some(at) => last_snapshot = last_snapshot.max(at),
            None => {}
        }
        for (id, end) in &fin {
            match s.done.get(id) {
                Some(&at) if at != i64::MIN => {
                    lat.push(at - end);
                    if *end < middle {
                        early.push(at - end);
                    } else {
                        late_wave.push(at - end);
                    }
                    last_seen = last_seen.max(at);
                }
                Some(_) => {}
                None => missing += 1,
            }
        }
    }
    lat.sort_unstable();
    early.sort_unstable();
    late_wave.sort_unstable();

    println!(
        "subscribers: {} connected, {finished} saw run_finished, {errors} errors; {late} got their snapshot after the first session ended",
        seen.len()
    );
    println!(
        "all snapshots read {} after the run started",
        ms(last_snapshot - started)
    );
    println!(
        "events read: {events} ({:.0} per subscriber), {:.1} MiB",
        events as f64 / seen.len().max(1) as f64,
        bytes as f64 / f64::from(1 << 20)
    );
    println!(
        "sessions ended from {} to {} after the run started",
        ms(first_end - started),
        ms(last_end - started)
    );
    println!(
        "update latency (finished_at -> state event read), over {} subscriber x session pairs:",
        lat.len()
    );
    let r = Round {
        rss_connected,
        rss_max: 0,
        rss_end,
        hwm,
        cpu,
        threads_max: 0,
        dbs_max: 0,
        p50: percentile(&lat, 0.5),
        p95: percentile(&lat, 0.95),
        max: lat.last().copied().unwrap_or(0),
    };
    println!(
        "  min {}  median {}  p95 {}  p99 {}  max {}",
        ms(lat.first().copied().unwrap_or(0)),
        ms(r.p50),
        ms(r.p95),
        ms(percentile(&lat, 0.99)),
        ms(r.max),
    );
    println!(
        "  sessions ending in the first half of that time: median {} p95 {}; in the second half: median {} p95 {}",
        ms(percentile(&early, 0.5)),
        ms(percentile(&early, 0.95)),
        ms(percentile(&late_wave, 0.5)),
        ms(percentile(&late_wave, 0.95)),
    );
    println!(
        "  last update read {} after the last session ended; {missing} updates missing, {in_snapshot} came in snapshots",
        ms(last_seen - last_end)
    );
    println!("load average: before the run {load_before}, after {load_after}");
    println!("SQLite connections open after the run: {dbs_end}");
    if errors > 0 || missing > 0 {
        bail!("{errors} subscribers failed and {missing} updates went missing");
    }
    Ok(r)
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "sse-load: {} hosts, {} subscribers, `sleep {}` per session, {} rounds; {cores} cores, load {}",
        o.hosts,
        o.subscribers,
        o.sleep,
        o.rounds,
        loadavg()
    );
    let t0 = Instant::now();
    let demo = Demo::start(&o.fleet, o.hosts)?;
    println!(
        "demo with {} sshd hosts ready in {:.1}s",
        o.hosts,
        t0.elapsed().as_secs_f64()
    );
    demo.fleet(&["users", "add", "bench", "--superuser"])?;
    let token = demo.fleet(&["users", "token", "bench"])?;

    let port = free_port()?;
    let log = std::fs::File::create(demo.dir.path().join("serve.log"))?;
    let serve = minke_bench::KillOnDrop(
        Command::new(&o.fleet)
            .arg("--database")
            .arg(&demo.db)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("MINKE_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting fleet serve")?,
    );
    let pid = serve.id();
    let up = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > up {
            bail!("fleet serve did not listen within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, me) = api(port, &token, "GET", "/api/me", &serde_json::Value::Null)?;
    if status != 200 {
        bail!("GET /api/me answered {status}: {me}");
    }
    let rss_idle = minke_bench::status_kib(pid, "VmRSS:").unwrap_or(0);
    println!(
        "fleet serve: VmRSS idle {:.1} MiB",
        rss_idle as f64 / 1024.0
    );

    let mut rounds = Vec::new();
    for i in 1..=o.rounds {
        println!("\n== round {i} of {}", o.rounds);
        rounds.push(round(&o, &demo, port, pid, &token)?);
    }
    drop(serve);
    if rounds.len() > 1 {
        println!(
            "\nround\tRSS connected\tRSS max\tRSS end\tVmHWM\tCPU s\tthreads\tdb conns\tp50 ms\tp95 ms\tmax ms"
        );
        for (i, r) in rounds.iter().enumerate() {
            println!(
                "{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.2}\t{}\t{}\t{:.1}\t{:.1}\t{:.1}",
                i + 1,
                r.rss_connected as f64 / 1024.0,
                r.rss_max as f64 / 1024.0,
                r.rss_end as f64 / 1024.0,
                r.hwm as f64 / 1024.0,
                r.cpu,
                r.threads_max,
                r.dbs_max,
                r.p50 as f64 / 1000.0,
                r.p95 as f64 / 1000.0,
                r.max as f64 / 1000.0,
            );
        }
    }
    Ok(())
}
