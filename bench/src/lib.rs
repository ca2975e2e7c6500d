//! What the benchmarks share: a child process killed when dropped, and readings of a
//! process's memory from `/proc`.

use std::process::Child;

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
