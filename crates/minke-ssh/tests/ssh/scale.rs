//! Many commands on one connection, many hosts at once.

use std::time::{Duration, Instant};

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
                    &format!("sleep 0.5; echo {i}; echo e{i} >&2"),
                    &ExecOptions::default(),
                    &mut Discard,
                )
                .await
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}\n{}", fleet.servers()[0].log()));
        assert_eq!(out.stdout_text(), format!("{i}\n"));
        assert_eq!(out.stderr_text(), format!("e{i}\n"));
        assert_eq!(out.exit, ExitStatus::Code(0));
    }
    let took = started.elapsed();
    eprintln!("25 concurrent commands on one connection in {took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}: not concurrent");
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
