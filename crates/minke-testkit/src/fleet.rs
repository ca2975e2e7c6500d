//! Many throwaway servers sharing one client key and one known_hosts file.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use minke_core::{HostKeyPolicy, HostTarget};

use crate::error::{Error, Result, io};
use crate::keys::KeyPair;
use crate::process;
use crate::server::{ADDRESS, ServerOptions, SshServer, check_sshd};

/// How many servers start at the same time.
const START_THREADS: usize = 16;

/// The name of the manifest file a fleet writes in its directory.
pub const MANIFEST: &str = "fleet.tsv";

enum Root {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Root {
    fn path(&self) -> &Path {
        match self {
            Root::Temp(t) => t.path(),
            Root::Kept(p) => p,
        }
    }
}

/// N throwaway OpenSSH servers on 127.0.0.1 that let in one client key pair, with a
/// known_hosts file listing every server's host key.
///
/// The layout of its directory:
///
/// ```text
/// client/id_ed25519(.pub)   the client key pair (no passphrase)
/// authorized_keys           shared by every server
/// known_hosts               `[127.0.0.1]:PORT ssh-ed25519 AAAA...` per server
/// servers/host-001/...      each server's config, host key, pid file and log
/// keys/                     extra key pairs from `generate_key`
/// fleet.tsv                 name, address, port, pid and directory per server
/// ```
///
/// Dropping the fleet kills every server and every process they started, and removes
/// the directory unless it was given to [`start_in`](Self::start_in).
///
/// ```no_run
/// let fleet = minke_testkit::Fleet::start(3).unwrap();
/// let targets = fleet.targets();
/// assert_eq!(targets[0].name, "host-001");
/// assert_eq!(targets[2].port, fleet.servers()[2].port());
/// ```
pub struct Fleet {
    root: Root,
    servers: Vec<SshServer>,
    client_key: KeyPair,
    known_hosts: PathBuf,
    authorized_keys: PathBuf,
    user: String,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("dir", &self.dir())
            .field("servers", &self.servers.len())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Starts `n` servers with default options in a new temporary directory.
    ///
    /// Fails (never skips) when `/usr/sbin/sshd` or `ssh-keygen` is missing.
    pub fn start(n: usize) -> Result<Fleet> {
        Fleet::start_with(n, &ServerOptions::default())
    }

    /// Starts `n` servers with `options` in a new temporary directory.
    pub fn start_with(n: usize, options: &ServerOptions) -> Result<Fleet> {
        let temp = tempfile::Builder::new()
            .prefix("minke-fleet-")
            .tempdir()
            .map_err(io("creating a temporary directory", std::env::temp_dir()))?;
        Fleet::start_at(Root::Temp(temp), n, options)
    }

    /// Starts `n` servers in `dir` (created if needed), which is kept when the fleet
    /// is dropped or stopped: for a demo that leaves its files for people to look at.
    pub fn start_in(dir: impl Into<PathBuf>, n: usize, options: &ServerOptions) -> Result<Fleet> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io("creating the fleet directory", &dir))?;
        Fleet::start_at(Root::Kept(dir), n, options)
    }

    fn start_at(root: Root, n: usize, options: &ServerOptions) -> Result<Fleet> {
        check_sshd()?;
        let dir = root.path().to_owned();
        let client_key = KeyPair::generate(&dir.join("client").join("id_ed25519"), None)?;
        let authorized_keys = dir.join("authorized_keys");
        std::fs::write(&authorized_keys, format!("{}\n", client_key.public_line()?))
            .map_err(io("writing authorized_keys", &authorized_keys))?;
        let known_hosts = dir.join("known_hosts");
        let width = n.to_string().len().max(3);
        let names: Vec<String> = (1..=n).map(|i| format!("host-{i:0width$}")).collect();
        let started = Instant::now();
        let servers = start_servers(&dir.join("servers"), &names, &authorized_keys, options)?;
        tracing::debug!("started {n} sshd in {:?}", started.elapsed());
        let fleet = Fleet {
            root,
            servers,
            client_key,
            known_hosts,
            authorized_keys,
            user: current_user(),
        };
        fleet.write_known_hosts()?;
        fleet.write_manifest()?;
        Ok(fleet)
    }

    /// The fleet's directory.
    pub fn dir(&self) -> &Path {
        self.root.path()
    }

    /// The servers, in order (`host-001` first).
    pub fn servers(&self) -> &[SshServer] {
        &self.servers
    }

    /// One server, by index from 0.
    pub fn server(&self, index: usize) -> Result<&SshServer> {
        self.servers.get(index).ok_or(Error::NoSuchServer {
            index,
            len: self.servers.len(),
        })
    }

    /// One server, by index from 0, to kill or restart it.
    pub fn server_mut(&mut self, index: usize) -> Result<&mut SshServer> {
        let len = self.servers.len();
        self.servers
            .get_mut(index)
            .ok_or(Error::NoSuchServer { index, len })
    }

    /// How many servers there are.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// True for a fleet of no servers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The client's private key file (ed25519, no passphrase).
    pub fn client_key(&self) -> &Path {
        &self.client_key.private
    }

    /// The client key pair.
    pub fn client_key_pair(&self) -> &KeyPair {
        &self.client_key
    }

    /// The known_hosts file listing every server's host key.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// The authorized_keys file every server reads.
    pub fn authorized_keys(&self) -> &Path {
        &self.authorized_keys
    }

    /// The user to log in as: the one running the kit (`id -un`, else `$USER`).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// One target per server: ids 1..=N, names `host-001`..., address 127.0.0.1, the
    /// client key, strict host key checking against the fleet's known_hosts.
    pub fn targets(&self) -> Vec<HostTarget> {
        (0..self.servers.len()).map(|i| self.target_at(i)).collect()
    }

    /// One row of Minke's host table per server, as [`targets`](Self::targets) describes
    /// them (name, address, port, user, the client key and the fleet's known_hosts).
    pub fn new_hosts(&self) -> Vec<minke_store::NewHost> {
        self.targets()
            .into_iter()
            .map(|t| {
                let mut h = minke_store::NewHost::new(t.name);
                h.hostname = Some(t.address);
                h.port = i32::from(t.port);
                h.username = Some(t.user);
                h.identity_files = minke_core::Lines::parse(
                    &t.identity_files
                        .iter()
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                h.known_hosts = t.known_hosts.map(|p| p.to_string_lossy().into_owned());
                h
            })
            .collect()
    }

    /// The target of one server, by index from 0.
    pub fn target(&self, index: usize) -> Result<HostTarget> {
        self.server(index)?;
        Ok(self.target_at(index))
    }

    fn target_at(&self, index: usize) -> HostTarget {
        let server = &self.servers[index];
        let mut t = HostTarget::new(
            minke_core::HostId::new(i64::try_from(index).unwrap_or(i64::MAX - 1) + 1),
            host_name(server),
            ADDRESS,
        );
        t.port = server.port();
        t.user = self.user.clone();
        t.identity_files = vec![self.client_key.private.clone()];
        t.host_key_policy = HostKeyPolicy::Strict;
        t.known_hosts = Some(self.known_hosts.clone());
        t
    }

    /// Generates an extra ed25519 key pair named `name` in the fleet's `keys/`
    /// directory, with an optional passphrase. It is not authorized anywhere until
    /// given to [`authorize`](Self::authorize).
    pub fn generate_key(&self, name: &str, passphrase: Option<&str>) -> Result<KeyPair> {
        KeyPair::generate(&self.dir().join("keys").join(name), passphrase)
    }

    /// Lets a key pair in on every server (appends its public key to authorized_keys;
    /// sshd reads it at each login, so no restart is needed).
    pub fn authorize(&self, key: &KeyPair) -> Result<()> {
        self.authorize_line(&key.public_line()?)
    }

    /// Appends one `authorized_keys` line as it is.
    pub fn authorize_line(&self, line: &str) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.authorized_keys)
            .map_err(io("opening authorized_keys", &self.authorized_keys))?;
        writeln!(f, "{}", line.trim()).map_err(io("writing authorized_keys", &self.authorized_keys))
    }

    /// Gives a server a new host key and restarts it on the same port. The known_hosts
    /// file is left alone, so clients see a changed host key; see
    /// [`write_known_hosts`](Self::write_known_hosts) to accept it.
    pub fn replace_host_key(&mut self, index: usize) -> Result<()> {
        self.server_mut(index)?.replace_host_key()?;
        self.write_manifest()
    }

    /// (Re)writes the known_hosts file with every server's current host key.
    pub fn write_known_hosts(&self) -> Result<()> {
        let mut text = String::new();
        for s in &self.servers {
            text.push_str(&s.known_hosts_line()?);
            text.push('\n');
        }
        std::fs::write(&self.known_hosts, text)
            .map_err(io("writing known_hosts", &self.known_hosts))
    }

    fn write_manifest(&self) -> Result<()> {
        let mut text = String::from("# name\taddress\tport\tpid\tdirectory\n");
        for s in &self.servers {
            let pid = s.pid().map(|p| p.to_string()).unwrap_or_default();
            let _ = writeln!(
                text,
                "{}\t{ADDRESS}\t{}\t{pid}\t{}",
                host_name(s),
                s.port(),
                s.dir().display()
            );
        }
        let path = self.dir().join(MANIFEST);
        std::fs::write(&path, text).map_err(io("writing the fleet manifest", &path))
    }

    /// Kills every server and what they started, with one scan of `/proc`.
    /// The directory is removed unless it was given to [`start_in`](Self::start_in).
    pub fn stop(self) {
        drop(self);
    }

    /// Leaves the servers running after the fleet is dropped and keeps the directory;
    /// returns it. Stop them later with [`Fleet::stop_in`].
    pub fn detach(mut self) -> PathBuf {
        for s in &mut self.servers {
            s.detach();
        }
        let root = std::mem::replace(&mut self.root, Root::Kept(PathBuf::new()));
        match root {
            Root::Temp(t) => t.keep(),
            Root::Kept(p) => p,
        }
    }

    /// Stops the servers of a fleet left running by [`detach`](Self::detach) in `dir`
    /// (every `servers/*/sshd.pid` whose process is an sshd using that directory),
    /// with everything they started. Returns how many servers were stopped.
    pub fn stop_in(dir: &Path) -> Result<usize> {
        let servers_dir = dir.join("servers");
        let entries = match std::fs::read_dir(&servers_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io("listing the fleet's servers", &servers_dir)(e)),
        };
        let mut roots = Vec::new();
        let mut ports = Vec::new();
        for entry in entries.flatten() {
            let server_dir = entry.path();
            let config =
                std::fs::read_to_string(server_dir.join("sshd_config")).unwrap_or_default();
            ports.extend(
                config
                    .lines()
                    .filter_map(|l| l.strip_prefix("Port "))
                    .filter_map(|p| p.trim().parse::<u16>().ok()),
            );
            let Ok(text) = std::fs::read_to_string(server_dir.join("sshd.pid")) else {
                continue;
            };
            let Ok(pid) = text.trim().parse::<u32>() else {
                continue;
            };
            // Only a process that is really this server's sshd (pids get reused).
            let config = server_dir.join("sshd_config");
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*config.to_string_lossy()) {
                roots.push(pid);
            }
        }
        let mut pids = process::descendants(&roots);
        pids.extend(&roots);
        if !roots.is_empty() {
            pids.extend(process::session_processes(&ports));
        }
        process::kill_pids(&pids);
        Ok(roots.len())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let roots: Vec<u32> = self.servers.iter().filter_map(SshServer::pid).collect();
        if !roots.is_empty() {
            let ports: Vec<u16> = self.servers.iter().map(SshServer::port).collect();
            let mut pids = process::descendants(&roots);
            pids.extend(&roots);
            pids.extend(process::session_processes(&ports));
            process::kill_pids(&pids);
        }
        for s in &mut self.servers {
            s.reap();
        }
    }
}

fn host_name(server: &SshServer) -> String {
    server
        .dir()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Starts one server per name, `START_THREADS` at a time.
fn start_servers(
    servers_dir: &Path,
    names: &[String],
    authorized_keys: &Path,
    options: &ServerOptions,
) -> Result<Vec<SshServer>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<SshServer>>>> =
        names.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..START_THREADS.min(names.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= names.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let result =
                        SshServer::start(&servers_dir.join(&names[i]), authorized_keys, options);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let mut servers = Vec::with_capacity(names.len());
    let mut first_error = None;
    for slot in slots {
        match slot.into_inner().ok().flatten() {
            Some(Ok(s)) => servers.push(s),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_error {
        // Dropping the started servers kills them.
        Some(e) => Err(e),
        None => Ok(servers),
    }
}

/// The name of the user running this process.
fn current_user() -> String {
    let from_id = Command::new("id")
        .arg("-un")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty());
    from_id
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "root".to_owned())
}
