//! Authentication: keys, passphrases, the agent.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use minke_core::{FailReason, Secret};
use minke_ssh::{ConnectOptions, Connection, Error};

use crate::{fleet, opts, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_key_is_an_authentication_failure() {
    let fleet = fleet(1);
    let stranger = fleet.generate_key("stranger", None).unwrap();
    let mut target = fleet.targets()[0].clone();
    target.identity_files = vec![stranger.private.clone(), fleet.dir().join("no-such-key")];
    let err = Connection::connect(&target, &opts()).await.unwrap_err();
    assert_eq!(err.reason(), FailReason::Authentication, "{err}");
    let text = err.to_string();
    assert!(text.contains("host-001 (127.0.0.1:"), "{text}");
    assert!(
        text.contains(&format!(
            "key {} (ssh-ed25519 SHA256:",
            stranger.private.display()
        )),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(text.contains("no-such-key: cannot read it"), "{text}");
    assert!(text.contains("the server accepts: publickey"), "{text}");
    assert!(matches!(err, Error::Authentication { ref user, .. } if user == fleet.user()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passphrase_protected_key_needs_its_passphrase() {
    let fleet = fleet(1);
    let key = fleet
        .generate_key("locked", Some("correct horse battery"))
        .unwrap();
    fleet.authorize(&key).unwrap();
    let mut target = fleet.targets()[0].clone();
    target.identity_files = vec![key.private.clone()];

    let with = ConnectOptions {
        key_passphrase: Some(Secret::new("correct horse battery")),
        ..opts()
    };
    let conn = Connection::connect(&target, &with).await.unwrap();
    assert_eq!(run(&conn, "echo in").await.stdout, b"in\n");

    let err = Connection::connect(&target, &opts()).await.unwrap_err();
    assert_eq!(err.reason(), FailReason::Authentication);
    assert!(
        err.to_string()
            .contains("encrypted and no passphrase was given"),
        "{err}"
    );

    let wrong = ConnectOptions {
        key_passphrase: Some(Secret::new("tr0ub4dor-wrong")),
        ..opts()
    };
    let err = Connection::connect(&target, &wrong).await.unwrap_err();
    assert_eq!(err.reason(), FailReason::Authentication);
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("cannot decrypt it with the passphrase given"),
        "{text}"
    );
    assert!(!text.contains("tr0ub4dor"), "the passphrase leaked: {text}");

    // The right key after an encrypted one that can't be used.
    target.identity_files = vec![key.private.clone(), fleet.client_key().to_owned()];
    let conn = Connection::connect(&target, &opts()).await.unwrap();
    assert_eq!(run(&conn, "echo second").await.stdout, b"second\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_is_tried_first() {
    let fleet = fleet(1);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent (package openssh-client)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let added = Command::new("ssh-add")
        .arg(fleet.client_key())
        .env("SSH_AUTH_SOCK", &socket)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    // A key file that the server would accept too: only the order decides which
    // key logs in.
    let file_key = fleet.generate_key("file-key", None).unwrap();
    fleet.authorize(&file_key).unwrap();
    let agent_fp = fingerprint(&fleet.client_key_pair().public);
    let file_fp = fingerprint(&file_key.public);
    let mut target = fleet.targets()[0].clone();
    target.identity_files = vec![file_key.private.clone()];
    let with_agent = ConnectOptions {
        use_agent: true,
        agent_socket: Some(socket.clone()),
        ..ConnectOptions::default()
    };
    let result = Connection::connect(&target, &with_agent).await;
    let _ = agent.kill();
    let _ = agent.wait();
    let conn = result.unwrap();
    assert_eq!(run(&conn, "echo via-agent").await.stdout, b"via-agent\n");
    let log = fleet.servers()[0].log();
    assert_eq!(fleet.servers()[0].login_count(), 1, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("Accepted publickey") && l.contains(&agent_fp)),
        "the agent's key did not log in: {log}"
    );
    assert!(
        !log.contains(&file_fp),
        "the key file was offered before the agent's key: {log}"
    );

    // With the agent gone, the key file logs in.
    let conn = Connection::connect(&target, &with_agent).await.unwrap();
    conn.close().await;
    let log = fleet.servers()[0].log();
    assert!(
        log.lines()
            .any(|l| l.contains("Accepted publickey") && l.contains(&file_fp)),
        "{log}"
    );

    // A dead agent and no usable key: the error names the agent's socket problem.
    target.identity_files = vec![fleet.dir().join("missing-key")];
    let err = Connection::connect(&target, &with_agent).await.unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

/// A public key's `SHA256:...` fingerprint, as sshd logs it.
fn fingerprint(public: &std::path::Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .expect("ssh-keygen -lf");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint from ssh-keygen -lf")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_authentication_against_real_sshd() {
    let password = "pw-Tr0ub4dor-&3";
    let user = minke_testkit::PasswordUser::create(password).unwrap();
    let options = minke_testkit::ServerOptions {
        extra_config: vec![
            "PasswordAuthentication yes".into(),
            "KbdInteractiveAuthentication no".into(),
        ],
        ..minke_testkit::ServerOptions::default()
    };
    let fleet = minke_testkit::Fleet::start_with(1, &options).unwrap();
    let mut target = fleet.targets()[0].clone();
    target.user = user.name().to_owned();
    target.identity_files = vec![fleet.dir().join("no-key-here")];
    let with = ConnectOptions {
        password: Some(Secret::new(password)),
        use_agent: false,
        ..opts()
    };
    let conn = Connection::connect(&target, &with).await.unwrap();
    let out = run(&conn, "id -un").await;
    assert_eq!(out.stdout_text().trim(), user.name());
    conn.close().await;

    let wrong = ConnectOptions {
        password: Some(Secret::new("not it")),
        use_agent: false,
        ..opts()
    };
    let err = Connection::connect(&target, &wrong).await.unwrap_err();
    assert_eq!(err.reason(), FailReason::Authentication, "{err}");
    let text = err.to_string();
    assert!(
        !text.contains("not it") && !text.contains(password),
        "a password leaked: {text}"
    );
}
