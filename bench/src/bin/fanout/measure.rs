//! Running one client under GNU time and bash, and reading the servers' CPU from /proc.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// GNU time: it reports the peak RSS of the largest process of the client's tree (its
/// CPU figures come in 10 ms steps, too coarse for small runs).
pub(crate) const GNU_TIME: &str = "/usr/bin/time";

/// Runs the client (`"$@"`) and writes to `$FANOUT_TIMES` what bash's `times` says of
/// its children (user and system CPU of every process the client waited for,
/// grandchildren included, in 1 ms steps) and the wall clock around it in µs.
const TIMING_SCRIPT: &str = r#"s=$EPOCHREALTIME; "$@"; rc=$?; e=$EPOCHREALTIME; { times; echo "$s $e"; } > "$FANOUT_TIMES"; exit $rc"#;

/// What to run: a program, its arguments and environment, where its output goes.
#[derive(Debug, Default)]
pub(crate) struct Spec {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: PathBuf,
    /// Processes of the client that outlive a run (OpenSSH's shared-connection
    /// masters, daemons of their own): found by this text in their command line, their
    /// CPU counted as the client's, and the servers' connections they hold expected to
    /// stay open.
    pub(crate) daemons: Option<String>,
}

/// What one run of a client cost.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cost {
    /// Wall seconds from spawn to exit.
    pub(crate) wall: f64,
    /// User + system CPU seconds of the client's whole process tree.
    pub(crate) cpu: f64,
    /// Peak resident set of the largest process of the tree, in KiB.
    pub(crate) max_rss_kib: u64,
    /// CPU seconds the sshd servers spent meanwhile (their exited children included).
    pub(crate) server_cpu: f64,
    /// CPU seconds the rest of the machine spent meanwhile (all CPUs' busy time from
    /// /proc/stat, less the client's and the servers'): near 0 on a quiet machine.
    pub(crate) other_cpu: f64,
    /// The client's exit code (None when killed by a signal).
    pub(crate) exit_code: Option<i32>,
}

/// Runs `spec` under GNU time and bash with its stdout and stderr in `dir/stdout`,
/// `dir/stderr`, killing its whole process group after `timeout`.
pub(crate) fn run(
    spec: &Spec,
    dir: &Path,
    servers: &[u32],
    timeout: Duration,
) -> anyhow::Result<Cost> {
    let time_file = dir.join("time");
    let times_file = dir.join("times");
    let stdout = File::create(dir.join("stdout")).context("creating the stdout file")?;
    let stderr = File::create(dir.join("stderr")).context("creating the stderr file")?;
    let server_before = server_cpu(servers)?;
    let open_before = open_connections(servers);
    let daemons_before = daemon_cpu(spec.daemons.as_deref());
    let busy_before = busy_seconds()?;
    let mut child = Command::new(GNU_TIME)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&time_file)
        .arg("--")
        .arg("bash")
        .arg("-c")
        .arg(TIMING_SCRIPT)
        .arg("fanout-client")
        .arg(&spec.program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("FANOUT_TIMES", &times_file)
        .env("LC_NUMERIC", "C")
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", spec.program.display()))?;
    // A watchdog kills the whole group at the deadline; the wait itself blocks, so the
    // harness spends no CPU while the client runs.
    let group = child.id();
    let (done, deadline) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let expired = matches!(
            deadline.recv_timeout(timeout),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if expired {
            kill_group(group);
        }
        expired
    });
    let status = child.wait().context("waiting for the client")?;
    let _ = done.send(());
    let expired = watchdog.join().unwrap_or(false);
    // A group killed at the deadline, or a client that left processes behind.
    kill_group(group);
    // Connections kept open by the client's daemons stay; the others end.
    let open_after = if spec.daemons.is_some() {
        open_connections(servers).max(open_before)
    } else {
        open_before
    };
    settle(servers, open_after, Duration::from_secs(10));
    let daemons = daemon_cpu(spec.daemons.as_deref()) - daemons_before;
    let server_after = server_cpu(servers)?;
    let busy = busy_seconds()? - busy_before;
    if expired {
        bail!("timed out after {} s (killed)", timeout.as_secs());
    }
    let text = std::fs::read_to_string(&time_file).context("reading GNU time's report")?;
    // GNU time writes "Command exited with non-zero status N" before its line.
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("GNU time wrote nothing")?;
    let max_rss_kib = line
        .trim()
        .parse()
        .with_context(|| format!("odd GNU time line `{line}`"))?;
    let times = std::fs::read_to_string(&times_file).context("reading the client's times")?;
    let (cpu, wall) = parse_times(&times)?;
    let cpu = cpu + daemons;
    let server_cpu = server_after - server_before;
    Ok(Cost {
        wall,
        cpu,
        max_rss_kib,
        server_cpu,
        other_cpu: busy - server_cpu - cpu,
        exit_code: status.code(),
    })
}

/// Reads the timing script's report: bash's `times` (the shell's own user and system
/// time, then its children's) and the two wall clocks. Returns (children's CPU, wall).
fn parse_times(text: &str) -> anyhow::Result<(f64, f64)> {
    let lines: Vec<&str> = text.lines().collect();
    let [_shell, children, clocks] = lines[..] else {
        bail!("odd times report `{text}`");
    };
    let mut cpu = 0.0;
    for field in children.split_whitespace() {
        // "0m0.012s"
        let (min, sec) = field
            .strip_suffix('s')
            .and_then(|f| f.split_once('m'))
            .with_context(|| format!("odd times field `{field}`"))?;
        cpu += min.parse::<f64>()? * 60.0 + sec.parse::<f64>()?;
    }
    let (start, end) = clocks
        .split_once(' ')
        .with_context(|| format!("odd clocks `{clocks}`"))?;
    Ok((cpu, end.parse::<f64>()? - start.parse::<f64>()?))
}

fn kill_group(group: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{group}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

use minke_bench::{clock_ticks, stat_fields};

/// CPU seconds of the sshd listeners: their own and that of every child they
/// reaped, which is where each connection's work lands.
pub(crate) fn server_cpu(pids: &[u32]) -> anyhow::Result<f64> {
    // With the connections still open (shared ones), whose work is not reaped yet.
    minke_bench::tree_cpu(pids).context("an sshd listener is gone")
}

/// How many connections the listeners serve now (their children).
fn open_connections(pids: &[u32]) -> usize {
    let listeners: std::collections::HashSet<u32> = pids.iter().copied().collect();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let f = stat_fields(pid)?;
            u32::try_from(*f.first()?).ok()
        })
        .filter(|ppid| listeners.contains(ppid))
        .count()
}

/// Waits (at most `limit`) until the listeners serve no more than `open` connections:
/// a connection's sshd finishes a moment after its client.
fn settle(pids: &[u32], open: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && open_connections(pids) > open {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU seconds (their own) of the processes whose command line contains `text`.
fn daemon_cpu(text: Option<&str>) -> f64 {
    let Some(text) = text else { return 0.0 };
    let ticks: u64 = minke_testkit::find_processes(text)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| f.get(10..12).map_or(0, |s| s.iter().sum::<u64>()))
        .sum();
    ticks as f64 / clock_ticks()
}

/// Busy CPU seconds of the whole machine so far (every CPU; /proc/stat's first line:
/// user, nice, system, irq, softirq and steal).
fn busy_seconds() -> anyhow::Result<f64> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = text.lines().next().context("empty /proc/stat")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum();
    Ok(busy as f64 / clock_ticks())
}

/// Waits until the machine is idle: less than 15% of its CPUs busy over a quarter of a
/// second (the servers idle, no client running). False when `limit` passed first.
pub(crate) fn wait_quiet(limit: Duration) -> bool {
    const WINDOW: Duration = Duration::from_millis(250);
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let deadline = Instant::now() + limit;
    loop {
        let Ok(before) = busy_seconds() else {
            return true;
        };
        std::thread::sleep(WINDOW);
        let Ok(after) = busy_seconds() else {
            return true;
        };
        if after - before < 0.15 * cores * WINDOW.as_secs_f64() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

/// The 1-minute load average.
pub(crate) fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_report() {
        let (cpu, wall) = super::parse_times(
            "0m0.001s 0m0.002s\n1m0.012s 0m0.008s\n1764085000.100000 1764085000.350500\n",
        )
        .unwrap();
        assert!((cpu - 60.020).abs() < 1e-9, "{cpu}");
        assert!((wall - 0.2505).abs() < 1e-6, "{wall}");
        assert!(super::parse_times("0m0.001s 0m0.002s\n").is_err());
    }
}
