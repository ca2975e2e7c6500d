//! What the load tests share beside `common`: `fleet serve`'s memory read from
//! `/proc`, and an HTTP/1.1 client on plain sockets that reports every connection
//! error (a flood counts them).
//!
//! Each load test is a test binary of its own with one test, so that it never
//! shares the machine with another load test of this crate.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

pub const PASSWORD: &str = "load-password-123";
/// How long a wait lasts at most.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `fleet --database DB ARGS` with the password in the environment.
pub fn fleet(db: &str, args: &[&str]) -> Output {
    let out = crate::common::fleet(db)
        .args(args)
        .env("MINKE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fleet {args:?}: {}",
        text(&out.stderr)
    );
    out
}

/// A value in KiB from `/proc/PID/status` (`VmRSS:`, `VmHWM:`), if there.
fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `fleet serve` as a child process at its default log level, killed when dropped
/// (its log printed then, if the test failed).
pub struct Serve {
    pub port: u16,
    inner: crate::common::Serve,
}

impl Serve {
    pub fn start(db: &str, dir: &Path, extra: &[&str]) -> Serve {
        let inner = crate::common::Serve::start(db, dir, extra, &[("MINKE_LOG", "warn")]);
        Serve {
            port: inner.port,
            inner,
        }
    }

    pub fn pid(&self) -> u32 {
        self.inner.pid()
    }

    /// A line of `/proc/PID/status` in KiB (`VmRSS:`, `VmHWM:`).
    pub fn status_kib(&self, key: &str) -> u64 {
        proc_status_kib(self.pid(), key).unwrap_or_else(|| panic!("no {key} in /proc/PID/status"))
    }

    pub fn connect(&self) -> std::io::Result<TcpStream> {
        connect(self.port)
    }

    /// [`request_to`] this server.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String, String)> {
        request_to(self.port, method, path, headers, body)
    }
}

pub fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(10),
    )?;
    s.set_read_timeout(Some(Duration::from_secs(40)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// One request on a fresh connection (`Connection: close`): the status, the head
/// (lower case) and the body.
pub fn request_to(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    {
        let mut s = connect(port)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        s.write_all(body.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let answer = text(&raw);
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {answer:?}")))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("odd status line: {head}")))?;
        Ok((status, head.to_lowercase(), body.to_owned()))
    }
}

/// Samples a process's VmRSS in a thread until stopped; the highest value seen.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut max = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(20));
            }
            max
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// The highest VmRSS seen, in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// The value of `name="NAME" value="..."` in a page.
pub fn input_value(page: &str, name: &str) -> Option<String> {
    let pat = format!(r#"name="{name}" value=""#);
    let rest = &page[page.find(&pat)? + pat.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The value of a cookie set in a head (lower-cased head, so the name too).
pub fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.strip_prefix("set-cookie:"))
        .filter_map(|v| v.trim().split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
