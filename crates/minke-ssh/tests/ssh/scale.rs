//! Many commands on one connection, many hosts at once.

use std::time::Instant;

use minke_core::ExitStatus;
use minke_ssh::{Discard, ExecOptions};

use crate::{connect, fleet, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_one_connection() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    // 25 at once: more than OpenSSH's MaxSessions (10); the rest wait their turn.
    let started = Instant::now();
    let tasks: Vec<_> = (0..25)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                conn.exec(
                    &format!("date +%s%N; sleep 0.5; echo {i}; echo e{i} >&2; date +%s%N"),
                    &ExecOptions::default(),
                    &mut Discard,
                )
                .await
            })
        })
        .collect();
    let mut spans = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}\n{}", fleet.servers()[0].log()));
        let text = out.stdout_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[1], i.to_string());
        spans.push((
            lines[0].parse::<u128>().unwrap(),
            lines[2].parse::<u128>().unwrap(),
        ));
        assert_eq!(out.stderr_text(), format!("e{i}\n"));
        assert_eq!(out.exit, ExitStatus::Code(0));
    }
    eprintln!(
        "25 concurrent commands on one connection in {:?}",
        started.elapsed()
    );
    // The most commands running at one moment, from their own clocks: several at
    // once, never more than the channels of one connection allow (10, one kept
    // for kills).
    let most = spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap();
    assert!(
        (2..=9).contains(&most),
        "{most} commands at once: {spans:?}"
    );
    assert_eq!(
        fleet.servers()[0].connection_count(),
        1,
        "{}",
        fleet.servers()[0].log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_hosts_at_once() {
    let started = Instant::now();
    let fleet = fleet(50);
    eprintln!("50 servers started in {:?}", started.elapsed());
    let started = Instant::now();
    let tasks: Vec<_> = fleet
        .targets()
        .into_iter()
        .map(|t| {
            tokio::spawn(async move {
                let conn = connect(&t).await;
                let out = run(&conn, &format!("echo {}", t.name)).await;
                conn.close().await;
                (t.name, out)
            })
        })
        .collect();
    for t in tasks {
        let (name, out) = t.await.unwrap();
        assert_eq!(out.stdout_text(), format!("{name}\n"));
    }
    eprintln!(
        "50 hosts connected and ran a command in {:?}",
        started.elapsed()
    );
}
