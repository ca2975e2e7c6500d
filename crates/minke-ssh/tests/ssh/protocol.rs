//! What is negotiated with the server, and options that change what is sent.

use minke_ssh::{ConnectOptions, Connection, Discard, ExecOptions};
use minke_testkit::{Fleet, ServerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve25519_and_ed25519_are_negotiated() {
    let options = ServerOptions {
        extra_config: vec!["LogLevel DEBUG1".into()],
        ..ServerOptions::default()
    };
    let fleet = Fleet::start_with(1, &options).unwrap();
    let conn = Connection::connect(&fleet.targets()[0], &crate::opts())
        .await
        .unwrap();
    conn.exec("true", &ExecOptions::default(), &mut Discard)
        .await
        .unwrap();
    let log = fleet.servers()[0].log();
    assert!(log.contains("kex: algorithm: curve25519-sha256 "), "{log}");
    assert!(
        log.contains("kex: host key algorithm: ssh-ed25519"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_process_group_tracking_the_command_is_sent_as_is() {
    let fleet = crate::fleet(1);
    let opts = ConnectOptions {
        track_process_group: false,
        ..crate::opts()
    };
    let conn = Connection::connect(&fleet.targets()[0], &opts)
        .await
        .unwrap();
    let out = conn
        .exec(
            "echo err >&2; echo $$",
            &ExecOptions::default(),
            &mut Discard,
        )
        .await
        .unwrap();
    assert_eq!(out.stderr, b"err\n");
    assert!(out.stdout_text().trim().parse::<u32>().is_ok());
    // With tracking the header is not seen either.
    let conn = crate::connect(&fleet.targets()[0]).await;
    let out = conn
        .exec("echo err >&2", &ExecOptions::default(), &mut Discard)
        .await
        .unwrap();
    assert_eq!(out.stderr, b"err\n");
}
