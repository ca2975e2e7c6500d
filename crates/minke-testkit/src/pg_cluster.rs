//! A private PostgreSQL cluster for one test: its own data directory, socket
//! directory and port, so that a test may stop and start it without disturbing the
//! machine's cluster and the other tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::{Error, Result};

/// A PostgreSQL cluster made by `initdb` for one test, stopped and removed on drop.
///
/// As root, `initdb` and the server run as the `postgres` user (they refuse root).
///
/// ```no_run
/// let cluster = minke_testkit::PgCluster::start().unwrap();
/// println!("use {}", cluster.url());
/// cluster.stop().unwrap();
/// cluster.start_again().unwrap();
/// ```
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

/// The directory of PostgreSQL's programs (`initdb`, `pg_ctl`): the newest under
/// `/usr/lib/postgresql`.
fn bin_dir() -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| Error::Postgres(format!("no PostgreSQL under /usr/lib/postgresql: {e}")))?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| Error::Postgres("no initdb under /usr/lib/postgresql/*/bin".into()))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A free TCP port on loopback (the server's port also names its socket file).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::Postgres(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Postgres(format!("no free port: {e}")))
}

impl PgCluster {
    /// Makes a cluster in a new directory and starts it.
    pub fn start() -> Result<PgCluster> {
        let dir = tempfile::Builder::new()
            .prefix("minke-pg-")
            .tempdir()
            .map_err(|e| Error::Postgres(format!("cannot make a directory: {e}")))?;
        let cluster = PgCluster {
            bin: bin_dir()?,
            port: free_port()?,
            dir,
        };
        std::fs::create_dir_all(cluster.socket_dir())
            .map_err(|e| Error::Postgres(format!("cannot make the socket directory: {e}")))?;
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .map_err(|e| Error::Postgres(format!("chown: {e}")))?;
            if !ok.success() {
                return Err(Error::Postgres(
                    "cannot give the directory to postgres".into(),
                ));
            }
        }
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        )?;
        cluster.start_again()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// The URL of its `postgres` database, over its own socket.
    pub fn url(&self) -> String {
        let sock: String = self
            .socket_dir()
            .to_string_lossy()
            .replace('%', "%25")
            .replace('/', "%2F");
        format!("postgres://postgres@{sock}:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_again(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses='' -c fsync=off",
            self.port,
            self.socket_dir().display()
        );
        let log = self.dir.path().join("server.log");
        let started = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().to_string_lossy(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "start",
            ],
        );
        started.map(drop).map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            Error::Postgres(format!("{e}; the server's log:\n{tail}"))
        })
    }

    /// Stops the server at once (`immediate`: every connection is cut, as when
    /// the database machine goes away).
    pub fn stop(&self) -> Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .map(drop)
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when root).
    fn run(&self, program: &str, args: &[&str]) -> Result<Output> {
        let path = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .current_dir(Path::new("/"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Postgres(format!("{program}: {e}")))?;
        if !out.status.success() {
            return Err(Error::Postgres(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(out)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
