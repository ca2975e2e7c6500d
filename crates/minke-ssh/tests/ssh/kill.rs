//! Timeouts and kills: the remote process must be gone afterwards.

use std::time::Duration;

use minke_core::FailReason;
use minke_ssh::{Discard, Error, ExecOptions};

use crate::{connect, fleet, run, unique_sleep, wait_gone, wait_present};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_kills_the_remote_process() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let sleep = unique_sleep();
    // A list, so the shell stays (not exec'd into sleep): both must die.
    let command = format!("echo started; {sleep}; echo never");
    let opts = ExecOptions {
        timeout: Some(Duration::from_secs(1)),
        ..ExecOptions::default()
    };
    let watcher = {
        let sleep = sleep.clone();
        tokio::spawn(async move { wait_present(&sleep, Duration::from_secs(5)).await })
    };
    let err = conn.exec(&command, &opts, &mut Discard).await.unwrap_err();
    watcher.await.unwrap();
    assert_eq!(err.reason(), FailReason::CommandTimeout);
    let Error::CommandTimeout {
        timeout,
        output,
        host,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*timeout, Duration::from_secs(1));
    assert!(host.contains("host-001 (127.0.0.1:"), "{host}");
    assert_eq!(output.stdout, b"started\n", "partial output kept");
    assert_eq!(
        output.exit.signal(),
        Some("KILL"),
        "{:?}\n{}",
        output.exit,
        fleet.servers()[0].log()
    );
    assert!(err.to_string().contains("ran longer than 1s"), "{err}");
    wait_gone(&sleep, Duration::from_secs(5)).await;
    wait_gone(&format!("{sleep}; echo never"), Duration::from_secs(5)).await;
    // The connection is still good.
    assert_eq!(run(&conn, "echo still here").await.stdout, b"still here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_request_kills_the_remote_process_at_once() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let sleep = unique_sleep();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let opts = ExecOptions {
        kill: Some(rx),
        ..ExecOptions::default()
    };
    let task = {
        let conn = conn.clone();
        let command = format!("echo started; {sleep}; echo never");
        tokio::spawn(async move { conn.exec(&command, &opts, &mut Discard).await })
    };
    wait_present(&sleep, Duration::from_secs(5)).await;
    tx.send(true).unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(err.is_killed(), "{err:?}");
    let output = err.partial_output().unwrap();
    assert_eq!(output.stdout, b"started\n");
    assert_eq!(output.exit.signal(), Some("KILL"));
    wait_gone(&sleep, Duration::from_secs(5)).await;

    // Already true before starting: nothing runs.
    let (_tx, rx) = tokio::sync::watch::channel(true);
    let opts = ExecOptions {
        kill: Some(rx),
        ..ExecOptions::default()
    };
    let err = conn
        .exec("echo should-not-run", &opts, &mut Discard)
        .await
        .unwrap_err();
    assert!(err.is_killed());
    assert!(err.partial_output().unwrap().stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_exec_future_kills_the_remote_process() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let sleep = unique_sleep();
    let task = {
        let conn = conn.clone();
        let command = format!("{sleep}; echo never");
        tokio::spawn(async move {
            conn.exec(&command, &ExecOptions::default(), &mut Discard)
                .await
        })
    };
    wait_present(&sleep, Duration::from_secs(5)).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    wait_gone(&sleep, Duration::from_secs(5)).await;
    assert_eq!(run(&conn, "echo ok").await.stdout, b"ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_children_in_the_process_group_die_too() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let a = unique_sleep();
    let b = unique_sleep();
    let opts = ExecOptions {
        timeout: Some(Duration::from_millis(700)),
        ..ExecOptions::default()
    };
    let command = format!("{a} & {b} & wait");
    let watcher = {
        let (a, b) = (a.clone(), b.clone());
        tokio::spawn(async move {
            wait_present(&a, Duration::from_secs(5)).await;
            wait_present(&b, Duration::from_secs(5)).await;
        })
    };
    let err = conn.exec(&command, &opts, &mut Discard).await.unwrap_err();
    watcher.await.unwrap();
    assert_eq!(err.reason(), FailReason::CommandTimeout);
    wait_gone(&a, Duration::from_secs(5)).await;
    wait_gone(&b, Duration::from_secs(5)).await;
}
