//! A flood of wrong logins against a real `fleet serve`: its memory stays bounded
//! and every request gets an answer. (Latency: `bench/src/bin/login_load.rs`.)
#![allow(clippy::unwrap_used)]

mod common;
mod load;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use load::{RssSampler, Serve, fleet, input_value, set_cookie};

/// Concurrent wrong logins.
const LOGINS: usize = 200;
/// The bound on the server's memory.
const MAX_RSS_KIB: u64 = 250 * 1024;

/// `LOGINS` wrong logins at once; the statuses counted (connection errors as 0).
fn flood(serve: &Serve) -> BTreeMap<u16, usize> {
    let (_, head, page) = serve.request("GET", "/login", &[], "").unwrap();
    let token = input_value(&page, "csrf").unwrap();
    let cookie = set_cookie(&head, "minke_login").unwrap();
    let body = format!("csrf={token}&username=admin&password=wrong-password&next=%2F");
    let start = Arc::new(Barrier::new(LOGINS));
    let threads: Vec<_> = (0..LOGINS)
        .map(|_| {
            let (start, body, cookie) = (start.clone(), body.clone(), cookie.clone());
            let port = serve.port;
            std::thread::spawn(move || {
                start.wait();
                let cookie = format!("minke_login={cookie}");
                let headers = [
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Cookie", cookie.as_str()),
                ];
                load::request_to(port, "POST", "/login", &headers, &body)
            })
        })
        .collect();
    let mut counts = BTreeMap::new();
    for t in threads {
        match t.join().unwrap() {
            Ok((status, _, _)) => *counts.entry(status).or_default() += 1,
            Err(e) => {
                eprintln!("a login got no answer: {e}");
                *counts.entry(0).or_default() += 1;
            }
        }
    }
    counts
}

#[test]
fn wrong_logins_at_once_keep_serve_small_and_all_get_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("flood.db").to_string_lossy().into_owned();
    fleet(&db, &["users", "add", "admin", "--superuser"]);

    // The pool alone: limits far away, so every login reaches a password check.
    let serve = Serve::start(
        &db,
        dir.path(),
        &[
            "--login-failures-per-addr",
            "100000",
            "--login-failures-per-user",
            "100000",
            "--login-queue-wait",
            "2",
        ],
    );
    let idle = serve.status_kib("VmRSS:");
    let rss = RssSampler::start(serve.pid());
    let counts = flood(&serve);
    let peak = rss.finish().max(serve.status_kib("VmHWM:"));
    eprintln!(
        "pool: {counts:?}, VmRSS idle {} MiB, peak {} MiB",
        idle / 1024,
        peak / 1024
    );
    assert!(
        counts.keys().all(|s| [200, 401, 429, 503].contains(s)),
        "every login gets an answer: {counts:?}"
    );
    assert!(counts.contains_key(&401), "{counts:?}");
    assert!(peak < MAX_RSS_KIB, "VmHWM {} MiB", peak / 1024);
    drop(serve);

    // The default limits: most are refused before a check.
    let serve = Serve::start(&db, dir.path(), &[]);
    let rss = RssSampler::start(serve.pid());
    let counts = flood(&serve);
    let peak = rss.finish().max(serve.status_kib("VmHWM:"));
    eprintln!("limits: {counts:?}, peak {} MiB", peak / 1024);
    assert!(
        counts.keys().all(|s| [200, 401, 429, 503].contains(s)),
        "every login gets an answer: {counts:?}"
    );
    assert!(
        counts.get(&429).copied().unwrap_or(0) >= LOGINS - 10,
        "{counts:?}"
    );
    assert!(peak < MAX_RSS_KIB, "VmHWM {} MiB", peak / 1024);
}
