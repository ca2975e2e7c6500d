//! What the `fleet` binary's end-to-end tests share: starting the binary, waiting
//! for a port, a tiny HTTP/1.1 client, and `fleet serve` as a child process.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any one wait lasts at most.
pub const WAIT: Duration = Duration::from_secs(30);
/// Pause between two looks while waiting.
pub const POLL: Duration = Duration::from_millis(50);

/// The `fleet` binary on database `db`, with no database from the environment.
pub fn fleet(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fleet"));
    c.arg("--database")
        .arg(db)
        .env_remove("MINKE_DATABASE_URL")
        .env_remove("MINKE_CONFIG")
        .env_remove("MINKE_SSH_PASSPHRASE")
        .env_remove("MINKE_SSH_PASSWORD")
        .env_remove("MINKE_PASSWORD")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null());
    c
}

/// Runs `fleet --database DB ARGS...` to its end.
pub fn run_fleet(db: &str, args: &[&str]) -> Output {
    fleet(db).args(args).output().unwrap()
}

/// Bytes as text, lossily.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `f` every [`POLL`] until it gives a value; panics naming `what` after
/// `within`.
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(POLL);
    }
}

/// A loopback port nobody listens on (now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Waits until something listens on the port (or the child died).
pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for(&format!("{what} listening on {addr}"), WAIT, || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early ({status})");
        }
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .ok()
            .map(drop)
    });
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        let start = end + 2;
        if size == 0 || start + size > body.len() {
            break;
        }
        out.extend_from_slice(&body[start..start + size]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    out
}

/// Reads one answer: the head (lower-cased), then `Content-Length` bytes or chunks up
/// to the last one (some servers keep the connection open even when asked to close
/// it).
pub fn read_answer(s: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut head: Option<(String, usize)> = None;
    loop {
        if head.is_none()
            && let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n")
        {
            head = Some((String::from_utf8_lossy(&raw[..i]).to_lowercase(), i + 4));
        }
        if let Some((h, start)) = &head {
            let body = &raw[*start..];
            let length = h
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            match length {
                Some(n) if body.len() >= n => return Ok((h.clone(), body[..n].to_vec())),
                None if h.contains("chunked") && body.ends_with(b"0\r\n\r\n") => {
                    return Ok((h.clone(), dechunk(body)));
                }
                _ => {}
            }
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return match head {
                Some((h, start)) => Ok((h, raw[start..].to_vec())),
                None => Err(std::io::Error::other(
                    "the connection closed before an answer",
                )),
            };
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// An HTTP answer: status, head (lower-cased) and body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&self.body)))
    }
}

/// One request on a fresh connection, with extra header lines (`Name: value`).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> std::io::Result<Answer> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let (head, body) = read_answer(&mut s)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("odd status line in {head}")))?;
    Ok(Answer { status, head, body })
}

/// `fleet serve` as a child process on a free port, its log in a file; killed when
/// dropped (the log is printed if the test failed).
pub struct Serve {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Serve {
    /// Starts `fleet --database DB serve --listen 127.0.0.1:PORT ARGS...` with the
    /// log at level info in `dir/serve.log`, and waits until it listens.
    pub fn start(db: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let port = free_port();
        let log = dir.join(format!("serve-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = fleet(db);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("MINKE_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        wait_for_port(port, &mut child, "fleet serve");
        Serve { child, port, log }
    }

    /// The address of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with SIGTERM, waits for its end (at most [`WAIT`]) and returns its exit
    /// code and what it logged.
    pub fn stop(&mut self) -> (Option<i32>, String) {
        signal(self.pid(), "TERM");
        let status = wait_for("fleet serve to stop", WAIT, || {
            self.child.try_wait().unwrap()
        });
        (status.code(), self.log())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        end_child(&mut self.child, &self.log);
    }
}

/// What a child process logged so far.
fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kills and reaps a child process; when a test fails, prints its log.
fn end_child(child: &mut Child, log: &Path) {
    let _ = child.kill();
    let _ = child.wait();
    if std::thread::panicking() {
        eprintln!("--- {} ---\n{}", log.display(), read_log(log));
    }
}

/// Starts `command` with `cmd` on every host through serve's API; the run's id.
pub fn start_api_run(serve: &Serve, token: &str, cmd: &str) -> i64 {
    let body = serde_json::json!({
        "session": "command", "model": "host", "all": true, "params": {"cmd": cmd},
    });
    let answer = request(
        serve.port,
        "POST",
        "/api/runs",
        &[
            &format!("Authorization: Bearer {token}"),
            "Content-Type: application/json",
        ],
        body.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(answer.status, 201, "{}", text(&answer.body));
    answer.json()["run_id"].as_i64().unwrap()
}

/// Waits (at most [`WAIT`]) until a run started through serve's API has ended; the
/// API's view of it (`run`, `sessions`, ...).
pub fn wait_api_run(serve: &Serve, token: &str, run_id: i64) -> serde_json::Value {
    let auth = format!("Authorization: Bearer {token}");
    wait_for("the run through serve", WAIT, || {
        let a = request(
            serve.port,
            "GET",
            &format!("/api/runs/{run_id}"),
            &[&auth],
            b"",
        )
        .ok()?;
        let v = a.json();
        (v["run"]["state"] != "running").then_some(v)
    })
}

/// Adds a superuser `name` with a password and gives back an API token of theirs.
pub fn superuser_token(db: &str, name: &str) -> String {
    let out = fleet(db)
        .args(["users", "add", name, "--superuser"])
        .env("MINKE_PASSWORD", "a-long-test-password")
        .output()
        .unwrap();
    assert!(out.status.success(), "users add: {}", text(&out.stderr));
    let out = run_fleet(db, &["users", "token", name]);
    assert!(out.status.success(), "users token: {}", text(&out.stderr));
    text(&out.stdout)
        .split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no token in {}", text(&out.stdout)))
        .to_owned()
}

/// Sends a signal to a process with `kill`.
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{name} {pid} failed");
}

/// Throwaway sshd hosts imported into a fresh SQLite database as `web-01`, ...
pub struct Setup {
    pub fleet: minke_testkit::Fleet,
    pub dir: tempfile::TempDir,
    pub db: String,
}

impl Setup {
    /// `hosts` new sshd hosts.
    pub fn new(hosts: usize) -> Setup {
        Setup::with(minke_testkit::Fleet::start(hosts).unwrap())
    }

    /// The hosts of `fleet`, imported from an ssh_config file.
    pub fn with(fleet: minke_testkit::Fleet) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cli.db").to_string_lossy().into_owned();
        let s = Setup { fleet, dir, db };
        let cfg = s.ssh_config();
        let out = s.fleet_cmd(&["hosts", "import-ssh-config", cfg.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        s
    }

    /// An ssh_config naming every host (`web-01`, ...).
    pub fn ssh_config(&self) -> PathBuf {
        let mut text = String::from("Host *\n  StrictHostKeyChecking yes\n");
        for (i, srv) in self.fleet.servers().iter().enumerate() {
            text.push_str(&format!(
                "Host web-{:02}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
                i + 1,
                srv.port(),
                self.fleet.user(),
                self.fleet.client_key().display(),
                self.fleet.known_hosts().display()
            ));
        }
        let p = self.dir.path().join("ssh_config");
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `fleet --database DB ARGS...`.
    pub fn fleet_cmd(&self, args: &[&str]) -> Output {
        run_fleet(&self.db, args)
    }

    /// `run command --model host --all --param cmd=CMD` and `more`.
    pub fn run_command(&self, cmd: &str, more: &[&str]) -> Output {
        let param = format!("cmd={cmd}");
        let mut args = vec![
            "run", "command", "--model", "host", "--all", "--param", &param,
        ];
        args.extend_from_slice(more);
        self.fleet_cmd(&args)
    }

    /// A direct connection to the database, to look at what was recorded.
    pub fn sql(&self) -> diesel::sqlite::SqliteConnection {
        use diesel::Connection as _;
        diesel::sqlite::SqliteConnection::establish(&self.db).unwrap()
    }
}

/// One number from a SQL query (`SELECT COUNT(*) AS n ...`).
pub fn count(c: &mut diesel::sqlite::SqliteConnection, sql: &str) -> i64 {
    use diesel::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(c).unwrap().n
}

impl Setup {
    /// The hosts of `fleet`, imported into the database `db` (a PostgreSQL URL, say).
    pub fn on(fleet: minke_testkit::Fleet, db: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let s = Setup {
            fleet,
            dir,
            db: db.to_owned(),
        };
        let cfg = s.ssh_config();
        let out = s.fleet_cmd(&["hosts", "import-ssh-config", cfg.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        s
    }
}

/// A fresh PostgreSQL database for one test (dropped at its end), on the server
/// the test script started.
pub fn pg_database(tag: &str) -> minke_testkit::PgDatabase {
    let admin = std::env::var("MINKE_TEST_PG_URL").expect(
        "MINKE_TEST_PG_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL",
    );
    minke_testkit::PgDatabase::create(&admin, tag).unwrap()
}

/// Runs one SQL statement on PostgreSQL (test data, a change by "another process").
pub fn pg_exec(url: &str, sql: &str) {
    use diesel::Connection as _;
    use diesel::RunQueryDsl as _;
    let mut c = diesel::pg::PgConnection::establish(url).unwrap();
    diesel::sql_query(sql).execute(&mut c).unwrap();
}

/// One number from a SQL query on PostgreSQL (`SELECT COUNT(*) AS n ...`).
pub fn pg_count(url: &str, sql: &str) -> i64 {
    use diesel::Connection as _;
    use diesel::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = diesel::pg::PgConnection::establish(url).unwrap();
    diesel::sql_query(sql).get_result::<N>(&mut c).unwrap().n
}

/// Texts from a SQL query on PostgreSQL (`SELECT ... AS t ...`).
pub fn pg_texts(url: &str, sql: &str) -> Vec<String> {
    use diesel::Connection as _;
    use diesel::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    let mut c = diesel::pg::PgConnection::establish(url).unwrap();
    diesel::sql_query(sql)
        .load::<T>(&mut c)
        .unwrap()
        .into_iter()
        .map(|t| t.t)
        .collect()
}

/// `fleet worker` as a child process, its output in a log file; killed on drop.
pub struct WorkerProc {
    pub child: Child,
    pub log: PathBuf,
}

impl WorkerProc {
    /// Starts `fleet --database DB worker --name NAME ARGS...` with the log at level
    /// info in `dir/worker-NAME.log`, and waits until it says it works.
    pub fn start(db: &str, dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = dir.join(format!("worker-{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = fleet(db);
        cmd.args(["worker", "--name", name])
            .args(args)
            .env("MINKE_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut w = WorkerProc {
            child: cmd.spawn().unwrap(),
            log,
        };
        wait_for("the worker to start", WAIT, || {
            if let Some(status) = w.child.try_wait().unwrap() {
                panic!("the worker ended at once ({status}):\n{}", w.log());
            }
            w.log().contains("worker started").then_some(())
        });
        w
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// Sends a signal (`TERM`, `KILL`, ...).
    pub fn signal(&self, name: &str) {
        signal(self.child.id(), name);
    }

    /// Waits for its end (at most `within`): its exit code and its log.
    pub fn wait(&mut self, within: Duration) -> (Option<i32>, String) {
        let status = wait_for("the worker to stop", within, || {
            self.child.try_wait().unwrap()
        });
        (status.code(), self.log())
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        end_child(&mut self.child, &self.log);
    }
}
