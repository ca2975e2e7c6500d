//! Subscribers of a run's live events that do not read, on a run printing about
//! 20 MB, against a real `fleet serve` on a real sshd: serve's memory stays
//! bounded, and each subscriber, once it reads again, is told what it skipped
//! (`lagged`) and gets the present (`snapshot`, `run_finished`).
#![allow(clippy::unwrap_used)]

mod common;
mod load;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use load::{RssSampler, Serve, WAIT, fleet, text};

const SUBSCRIBERS: usize = 100;
const MAX_RSS_KIB: u64 = 250 * 1024;
/// The run: a pause (the subscribers connect), then about 20 MB of output.
const COMMAND: &str = "sleep 4; yes 0123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEFGHIJKLMNOPQRSTUV | head -c 20000000";

/// Opens the event stream and reads until the snapshot has begun, then reads no
/// more (until asked).
fn subscribe(port: u16, token: &str, run_id: i64) -> TcpStream {
    let mut s = load::connect(port).unwrap();
    write!(
        s,
        "GET /api/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !seen.windows(15).any(|w| w == b"event: snapshot") {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the stream closed before its snapshot: {}",
            text(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    s
}

/// Reads a stream to its end: the names of its events in order.
fn read_to_end(mut s: TcpStream) -> Vec<String> {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    text(&raw)
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(str::to_owned)
        .collect()
}

fn run_state(serve: &Serve, token: &str, run_id: i64) -> String {
    let auth = format!("Bearer {token}");
    let (status, _, body) = serve
        .request(
            "GET",
            &format!("/api/runs/{run_id}"),
            &[("Authorization", &auth)],
            "",
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["run"]["state"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn subscribers_that_do_not_read_keep_serve_small() {
    let hosts = minke_testkit::Fleet::start(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db").to_string_lossy().into_owned();
    let srv = &hosts.servers()[0];
    let cfg = format!(
        "Host web-1\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
        srv.port(),
        hosts.user(),
        hosts.client_key().display(),
        hosts.known_hosts().display()
    );
    let cfg_path = dir.path().join("ssh_config");
    std::fs::write(&cfg_path, cfg).unwrap();
    fleet(
        &db,
        &["hosts", "import-ssh-config", cfg_path.to_str().unwrap()],
    );
    fleet(&db, &["users", "add", "admin", "--superuser"]);
    let token = text(&fleet(&db, &["users", "token", "admin"]).stdout)
        .trim()
        .to_owned();
    let serve = Serve::start(&db, dir.path(), &[]);

    let auth = format!("Bearer {token}");
    let body = serde_json::json!({
        "session": "command", "model": "host", "all": true, "params": {"cmd": COMMAND},
    })
    .to_string();
    let (status, _, answer) = serve
        .request(
            "POST",
            "/api/runs",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            &body,
        )
        .unwrap();
    assert_eq!(status, 201, "{answer}");
    let run_id = serde_json::from_str::<serde_json::Value>(&answer).unwrap()["run_id"]
        .as_i64()
        .unwrap();

    let rss = RssSampler::start(serve.pid());
    let ready = Arc::new(Barrier::new(SUBSCRIBERS + 1));
    let port = serve.port;
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let (ready, token) = (ready.clone(), token.clone());
            std::thread::spawn(move || {
                let s = subscribe(port, &token, run_id);
                ready.wait();
                s
            })
        })
        .collect();
    ready.wait();
    let streams: Vec<TcpStream> = subscribers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        run_state(&serve, &token, run_id),
        "running",
        "the subscribers were too slow"
    );

    let deadline = Instant::now() + WAIT * 2;
    while run_state(&serve, &token, run_id) == "running" {
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let peak = rss.finish().max(serve.status_kib("VmHWM:"));
    eprintln!(
        "{SUBSCRIBERS} subscribers not reading a 20 MB run: VmHWM {} MiB",
        peak / 1024
    );
    assert!(peak < MAX_RSS_KIB, "VmHWM {} MiB", peak / 1024);

    // Reading again, each learns that it skipped output, then gets the present.
    for s in streams {
        let names = read_to_end(s);
        let lagged = names.iter().position(|n| n == "lagged");
        assert!(lagged.is_some(), "no lagged event in {names:?}");
        let after = &names[lagged.unwrap()..];
        assert!(after.contains(&"snapshot".to_owned()), "{after:?}");
        assert_eq!(names.last().map(String::as_str), Some("run_finished"));
    }
    eprintln!(
        "after the subscribers left: VmRSS {} MiB",
        serve.status_kib("VmRSS:") / 1024
    );
}
