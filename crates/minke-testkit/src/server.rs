//! One throwaway OpenSSH server.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, io};
use crate::keys::{KeyPair, check_program};
use crate::process;

/// Where `sshd` lives on Debian (package `openssh-server`).
pub const SSHD: &str = "/usr/sbin/sshd";

/// The address every kit server listens on.
pub const ADDRESS: &str = "127.0.0.1";

/// The directory OpenSSH's privilege separation needs before it starts.
const PRIVSEP_DIR: &str = "/run/sshd";

/// How many ports to try when the chosen one turns out to be taken.
const PORT_ATTEMPTS: usize = 5;

/// How a kit server is set up beyond the defaults.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Extra `sshd_config` lines, like `MaxStartups 100` or `MaxSessions 20`.
    ///
    /// They come before the kit's own lines (sshd keeps the first value it reads,
    /// so they win), except from the first `Match` line on, which goes last.
    pub extra_config: Vec<String>,
    /// How long to wait for the server to answer with an `SSH-2.0` banner.
    pub start_timeout: Duration,
    /// Write the `Subsystem sftp internal-sftp` line, so clients can transfer files.
    /// Default `true`; `false` starts a server without SFTP, or leaves room for your own
    /// `Subsystem sftp ...` line in [`extra_config`](Self::extra_config) (sshd refuses
    /// two).
    pub sftp_subsystem: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            extra_config: Vec::new(),
            start_timeout: Duration::from_secs(10),
            sftp_subsystem: true,
        }
    }
}

/// One OpenSSH server (`sshd -D -e`) on 127.0.0.1, run as a child process in its own
/// directory with a freshly generated ed25519 host key.
///
/// Its log (sshd's standard error, `LogLevel VERBOSE`) is kept in
/// [`log_path`](Self::log_path), so tests can count connections and logins. The
/// process, and every process it started (sessions and their commands), is killed
/// when the server is dropped.
///
/// Usually started by a [`Fleet`](crate::Fleet), which owns the client key and the
/// known_hosts file.
#[derive(Debug)]
pub struct SshServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    host_key: KeyPair,
    config_path: PathBuf,
    log_path: PathBuf,
    authorized_keys: PathBuf,
    options: ServerOptions,
    probes: usize,
}

impl SshServer {
    /// Starts a server in `dir` (created if needed) on a free port, with a new host
    /// key, letting in the keys listed in `authorized_keys`.
    ///
    /// Fails (never skips) when `/usr/sbin/sshd` is missing, naming the package.
    pub fn start(dir: &Path, authorized_keys: &Path, options: &ServerOptions) -> Result<SshServer> {
        check_sshd()?;
        std::fs::create_dir_all(dir).map_err(io("creating the server directory", dir))?;
        let host_key = KeyPair::generate(&dir.join("ssh_host_ed25519_key"), None)?;
        let mut server = SshServer {
            dir: dir.to_owned(),
            port: 0,
            child: None,
            host_key,
            config_path: dir.join("sshd_config"),
            log_path: dir.join("sshd.log"),
            authorized_keys: authorized_keys.to_owned(),
            options: options.clone(),
            probes: 0,
        };
        server.launch(None)?;
        Ok(server)
    }

    /// The TCP port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address it listens on: `127.0.0.1`.
    pub fn address(&self) -> &'static str {
        ADDRESS
    }

    /// Its directory (config, host key, pid file, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sshd process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The host key pair.
    pub fn host_key(&self) -> &KeyPair {
        &self.host_key
    }

    /// The host's public key as `ssh-ed25519 AAAA...`.
    pub fn host_public_key(&self) -> Result<String> {
        self.host_key.public_key()
    }

    /// The known_hosts line for this server: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`.
    pub fn known_hosts_line(&self) -> Result<String> {
        Ok(format!(
            "[{ADDRESS}]:{} {}",
            self.port,
            self.host_public_key()?
        ))
    }

    /// The sshd_config file written for it.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The log file (sshd's standard error).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole log so far (empty if it can't be read).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// How many TCP connections clients made ("Connection from" lines), not counting
    /// the kit's own readiness probes.
    pub fn connection_count(&self) -> usize {
        self.count_log("Connection from ")
            .saturating_sub(self.probes)
    }

    /// How many logins succeeded ("Accepted publickey" / "Accepted password" lines).
    pub fn login_count(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.starts_with("Accepted ") && l.contains(" for "))
            .count()
    }

    /// True while the sshd process runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills sshd and every process it started (its sessions and their commands, also
    /// those that outlived their session). Harmless when it is not running.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_ref() {
            let pid = child.id();
            let mut pids = process::descendants(&[pid]);
            pids.push(pid);
            pids.extend(process::session_processes(&[self.port]));
            process::kill_pids(&pids);
        }
        self.reap();
    }

    /// Restarts sshd on the same port with the same host key.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.launch(Some(self.port))
    }

    /// Generates a new host key and restarts on the same port: clients that knew the
    /// old key now see a changed host key.
    pub fn replace_host_key(&mut self) -> Result<()> {
        self.kill();
        self.host_key = KeyPair::generate(&self.host_key.private, None)?;
        self.launch(Some(self.port))
    }

    /// Forgets the process without killing it: it keeps running after the drop.
    pub(crate) fn detach(&mut self) {
        self.child = None;
    }

    /// Waits for the (already killed) child, so it leaves no zombie.
    pub(crate) fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts sshd, on `port` or on a free one (trying others when it is taken).
    fn launch(&mut self, port: Option<u16>) -> Result<()> {
        let mut last = None;
        let attempts = if port.is_some() { 3 } else { PORT_ATTEMPTS };
        for _ in 0..attempts {
            let p = match port {
                Some(p) => p,
                None => free_port().map_err(io("finding a free port", &self.dir))?,
            };
            match self.launch_on(p) {
                Ok(()) => return Ok(()),
                Err(e @ Error::Start { .. }) if self.last_start_was_port_clash() => {
                    tracing::debug!("port {p} taken, trying again");
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Start {
            port: port.unwrap_or(0),
            detail: "no attempt made".into(),
            log_path: self.log_path.clone(),
            log: self.log(),
        }))
    }

    fn last_start_was_port_clash(&self) -> bool {
        let log = self.log();
        let tail = log
            .rsplit("--- minke-testkit: starting")
            .next()
            .unwrap_or("");
        tail.contains("Address already in use") || tail.contains("Cannot bind any address")
    }

    fn launch_on(&mut self, port: u16) -> Result<()> {
        self.port = port;
        self.write_config()?;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(io("opening the sshd log", &self.log_path))?;
        let start_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        writeln!(log, "--- minke-testkit: starting sshd on {ADDRESS}:{port}")
            .map_err(io("writing the sshd log", &self.log_path))?;
        let log_err = log
            .try_clone()
            .map_err(io("opening the sshd log", &self.log_path))?;
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io("starting sshd", SSHD))?;
        self.child = Some(child);
        match self.wait_ready(start_offset) {
            Ok(()) => Ok(()),
            Err(detail) => {
                self.kill();
                Err(Error::Start {
                    port,
                    detail,
                    log_path: self.log_path.clone(),
                    log: self.log(),
                })
            }
        }
    }

    /// Waits for "Server listening on" in the log, then for an `SSH-2.0` banner.
    fn wait_ready(&mut self, offset: u64) -> Result<(), String> {
        let deadline = Instant::now() + self.options.start_timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("sshd exited with {status}"));
            }
            if read_from(&self.log_path, offset).contains("Server listening on") {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no \"Server listening\" line within {:?}",
                    self.options.start_timeout
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(25));
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            self.probes += 1;
            let err = match probe_banner(addr, deadline) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "no SSH-2.0 banner on {addr} within {:?}: {err}",
                    self.options.start_timeout
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn write_config(&self) -> Result<()> {
        let dir = &self.dir;
        let (before_match, from_match) = split_at_match(&self.options.extra_config);
        let mut text = String::from("# Written by minke-testkit: a throwaway server for tests.\n");
        for line in before_match {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&format!(
            "ListenAddress {ADDRESS}\n\
             Port {port}\n\
             HostKey {host_key}\n\
             PidFile {pid}\n\
             AuthorizedKeysFile {auth}\n\
             StrictModes no\n\
             UsePAM no\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n\
             PrintMotd no\n\
             LogLevel VERBOSE\n\
             {sftp}\
             # Bash sources ~/.bashrc for commands run over SSH unless SHLVL says it is\n\
             # nested: keep the user's rc files (slow or locked ones, like pyenv's\n\
             # rehash) out of test sessions.\n\
             SetEnv SHLVL=1\n",
            port = self.port,
            host_key = self.host_key.private.display(),
            pid = dir.join("sshd.pid").display(),
            auth = self.authorized_keys.display(),
            sftp = if self.options.sftp_subsystem {
                "Subsystem sftp internal-sftp\n"
            } else {
                ""
            },
        ));
        for line in from_match {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&self.config_path, text)
            .map_err(io("writing sshd_config", &self.config_path))
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Fails with an error naming `openssh-server` when sshd is missing, and creates
/// `/run/sshd` when it is missing (needed when running as root).
pub(crate) fn check_sshd() -> Result<()> {
    check_program(SSHD, "sshd", "openssh-server")?;
    if !Path::new(PRIVSEP_DIR).exists() {
        // Only root can create it, and only root needs it; sshd's own error is clear.
        if let Err(e) = std::fs::create_dir_all(PRIVSEP_DIR) {
            tracing::debug!("could not create {PRIVSEP_DIR}: {e}");
        }
    }
    Ok(())
}

fn split_at_match(lines: &[String]) -> (&[String], &[String]) {
    let at = lines
        .iter()
        .position(|l| l.trim_start().to_ascii_lowercase().starts_with("match "))
        .unwrap_or(lines.len());
    lines.split_at(at)
}

/// A port that was free a moment ago.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn read_from(path: &Path, offset: u64) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Connects and reads the server's identification line.
fn probe_banner(addr: SocketAddr, deadline: Instant) -> Result<(), String> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    let mut stream = TcpStream::connect_timeout(&addr, left).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    while buf.len() < 255 && !buf.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => buf.push(byte[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
    // Say goodbye politely so sshd logs a short line rather than a protocol error.
    let _ = stream.write_all(b"SSH-2.0-minke-testkit-probe\r\n");
    if buf.starts_with(b"SSH-2.0-") {
        Ok(())
    } else {
        Err(format!(
            "unexpected greeting {:?}",
            String::from_utf8_lossy(&buf)
        ))
    }
}
