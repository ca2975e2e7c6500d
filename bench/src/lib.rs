//! What the benchmarks share: a child process killed when dropped, and readings of a
//! process's memory from `/proc`.

use std::process::Child;

pub mod http;
pub mod items;

/// A child process (a `fleet serve`, say) killed and reaped when dropped.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A value in KiB from `/proc/PID/status`, like `VmRSS:` or `VmHWM:`; `None` when the
/// process or the key is gone.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Numeric fields of `/proc/PID/stat` after the state: index 0 is field 4 (ppid).
pub fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = text.rsplit_once(')')?.1;
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse::<i64>().map_or(0, |v| v.max(0) as u64))
            .collect(),
    )
}

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds of processes: their own (utime + stime) and that of every child
/// they reaped (cutime + cstime). For sshd listeners, where each finished
/// connection's work lands. `None` when one is gone.
pub fn reaped_cpu(pids: &[u32]) -> Option<f64> {
    let mut ticks = 0u64;
    for &pid in pids {
        // ppid(0) ... utime(10) stime(11) cutime(12) cstime(13).
        ticks += stat_fields(pid)?.get(10..14).map_or(0, |s| s.iter().sum());
    }
    Some(ticks as f64 / clock_ticks())
}

/// Like [`reaped_cpu`], plus the CPU of their live descendants (connections still
/// open, like kept ones, have not been reaped).
pub fn tree_cpu(pids: &[u32]) -> Option<f64> {
    let mut ticks = 0u64;
    for p in minke_testkit::descendants(pids) {
        if let Some(f) = stat_fields(p) {
            // A live descendant: its own time and its reaped children's (each process
            // is counted once: live, or in the times of the parent that reaped it).
            ticks += f.get(10..14).map_or(0, |s| s.iter().sum());
        }
    }
    Some(reaped_cpu(pids)? + ticks as f64 / clock_ticks())
}
