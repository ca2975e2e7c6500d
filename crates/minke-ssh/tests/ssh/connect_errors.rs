//! Failures to connect, each with its own reason.

use std::io::Write;
use std::time::{Duration, Instant};

use minke_core::{FailReason, HostTarget};
use minke_ssh::{ConnectOptions, Connection, Discard, Error, ExecOptions};

use crate::{connect, fleet, opts, unique_sleep, wait_present};

fn target(address: &str, port: u16) -> HostTarget {
    let mut t = HostTarget::new(minke_core::HostId::new(7), "box", address);
    t.port = port;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_connect_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Connection::connect(&target("127.0.0.1", port), &opts())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), FailReason::ConnectRefused, "{err}");
    assert!(matches!(err, Error::ConnectRefused { .. }));
    assert_eq!(
        err.to_string(),
        format!("box (127.0.0.1:{port}): connection refused by 127.0.0.1:{port}")
    );
    assert_eq!(err.host(), format!("box (127.0.0.1:{port})"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_name_is_dns() {
    // A 70-character label is refused by the resolver library itself, so the test
    // sends no DNS query (`no-such-host.invalid` alone would ask the configured
    // nameserver).
    let name = format!("{}.no-such-host.invalid", "x".repeat(70));
    let err = Connection::connect(&target(&name, 22), &opts())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), FailReason::Dns, "{err}");
    assert!(err.to_string().contains("cannot resolve"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_connect_timeout() {
    // Listens (the kernel completes the TCP handshake) but never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = ConnectOptions {
        connect_timeout: Duration::from_millis(500),
        ..opts()
    };
    let err = Connection::connect(&target("127.0.0.1", port), &options)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), FailReason::ConnectTimeout, "{err}");
    assert!(
        err.to_string()
            .contains("SSH handshake took longer than 500ms"),
        "{err}"
    );
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_ssh_is_a_handshake_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    let err = Connection::connect(&target("127.0.0.1", port), &opts())
        .await
        .unwrap_err();
    server.join().unwrap();
    assert_eq!(err.reason(), FailReason::Disconnected, "{err}");
    assert!(matches!(err, Error::Handshake { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_disconnected() {
    let mut fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let sleep = unique_sleep();
    let got_output = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let task = {
        let conn = conn.clone();
        let got_output = got_output.clone();
        let sleep = sleep.clone();
        tokio::spawn(async move {
            let mut sink = move |_: minke_ssh::Stream, _: &[u8]| {
                got_output.store(true, std::sync::atomic::Ordering::SeqCst);
            };
            conn.exec(
                &format!("echo partial; {sleep}"),
                &ExecOptions::default(),
                &mut sink,
            )
            .await
        })
    };
    // The command runs and its first output has arrived: now the server dies.
    wait_present(&sleep, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !got_output.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "no output arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fleet.server_mut(0).unwrap().kill();
    let err = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.reason(), FailReason::Disconnected, "{err}");
    assert_eq!(err.partial_output().unwrap().stdout, b"partial\n");
    let err = conn
        .exec("true", &ExecOptions::default(), &mut Discard)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), FailReason::Disconnected, "{err}");
    assert!(conn.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_refuses_commands() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    conn.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !conn.is_closed() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = conn
        .exec("true", &ExecOptions::default(), &mut Discard)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), FailReason::Disconnected, "{err}");
}
