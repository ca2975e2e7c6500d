//! Host key policies against known_hosts files.

use minke_core::{FailReason, HostKeyPolicy};
use minke_ssh::{Connection, Error, HostKeyProblem};

use crate::{connect, fleet, opts, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_key_is_refused_under_strict() {
    let fleet = fleet(1);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("known_hosts");
    std::fs::write(&empty, "# nothing yet\n").unwrap();
    let mut target = fleet.targets()[0].clone();
    target.known_hosts = Some(empty.clone());
    let err = Connection::connect(&target, &opts()).await.unwrap_err();
    assert_eq!(err.reason(), FailReason::HostKey);
    let Error::HostKey {
        problem,
        fingerprint,
        known_hosts,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*problem, HostKeyProblem::Unknown);
    assert!(
        fingerprint.starts_with("ssh-ed25519 SHA256:"),
        "{fingerprint}"
    );
    assert_eq!(known_hosts, &empty);
    let text = err.to_string();
    assert!(
        text.contains(&format!("[127.0.0.1]:{}", target.port)),
        "{text}"
    );
    assert!(text.contains(&empty.display().to_string()), "{text}");
    assert!(text.contains("host-001 (127.0.0.1:"), "{text}");
    // Nothing learned.
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "# nothing yet\n");
    // No known_hosts file at all: the same.
    target.known_hosts = Some(dir.path().join("absent"));
    assert_eq!(
        Connection::connect(&target, &opts())
            .await
            .unwrap_err()
            .reason(),
        FailReason::HostKey
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_is_refused_under_strict_and_accept_new() {
    let mut fleet = fleet(1);
    // Comments and blank lines before the entry: the line number must count them.
    let old = std::fs::read_to_string(fleet.known_hosts()).unwrap();
    std::fs::write(fleet.known_hosts(), format!("# fleet\n\n{old}")).unwrap();
    fleet.replace_host_key(0).unwrap();
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let mut target = fleet.targets()[0].clone();
        target.host_key_policy = policy;
        let err = Connection::connect(&target, &opts()).await.unwrap_err();
        assert_eq!(err.reason(), FailReason::HostKey, "{policy}: {err}");
        let Error::HostKey { problem, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*problem, HostKeyProblem::Changed { line: 3 }, "{policy}");
        let text = err.to_string();
        assert!(text.contains("HOST KEY CHANGED"), "{text}");
        assert!(
            text.contains(&format!("{} line 3", fleet.known_hosts().display())),
            "{text}"
        );
        assert!(text.contains("SHA256:"), "{text}");
    }
    assert_eq!(
        std::fs::read_to_string(fleet.known_hosts()).unwrap(),
        format!("# fleet\n\n{old}"),
        "file untouched"
    );
    // Off lets it through.
    let mut target = fleet.targets()[0].clone();
    target.host_key_policy = HostKeyPolicy::Off;
    let conn = connect(&target).await;
    assert_eq!(run(&conn, "echo off").await.stdout, b"off\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_new_learns_unknown_keys_then_strict_connects() {
    let fleet = fleet(5);
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("new-dir").join("known_hosts");
    let targets: Vec<_> = fleet
        .targets()
        .into_iter()
        .map(|mut t| {
            t.known_hosts = Some(fresh.clone());
            t.host_key_policy = HostKeyPolicy::AcceptNew;
            t
        })
        .collect();
    // All at once, into one file: each key once.
    let tasks: Vec<_> = targets
        .iter()
        .cloned()
        .map(|t| tokio::spawn(async move { Connection::connect(&t, &opts()).await }))
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let text = std::fs::read_to_string(&fresh).unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    for s in fleet.servers() {
        assert!(
            text.lines().any(|l| l == s.known_hosts_line().unwrap()),
            "{text}"
        );
    }
    // Again under accept-new: nothing added.
    Connection::connect(&targets[0], &opts()).await.unwrap();
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), text);
    for mut t in targets {
        t.host_key_policy = HostKeyPolicy::Strict;
        let conn = connect(&t).await;
        assert_eq!(run(&conn, "echo strict").await.stdout, b"strict\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_accepts_any_key() {
    let fleet = fleet(1);
    let dir = tempfile::tempdir().unwrap();
    let mut target = fleet.targets()[0].clone();
    target.known_hosts = Some(dir.path().join("absent"));
    target.host_key_policy = HostKeyPolicy::Off;
    let conn = connect(&target).await;
    assert_eq!(run(&conn, "echo hi").await.stdout, b"hi\n");
    assert!(!dir.path().join("absent").exists(), "off learns nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_tells_its_host_key_and_a_changed_key_the_one_on_record() {
    let mut fleet = fleet(1);
    let describe = |line: &str| {
        let key =
            russh::keys::parse_public_key_base64(line.split_whitespace().nth(1).unwrap()).unwrap();
        format!(
            "ssh-ed25519 {}",
            key.fingerprint(russh::keys::HashAlg::Sha256)
        )
    };
    let old = describe(&fleet.servers()[0].host_public_key().unwrap());
    let conn = connect(&fleet.targets()[0]).await;
    assert_eq!(conn.host_key(), Some(old.as_str()));
    assert!(!conn.learned_host_key());
    conn.close().await;

    fleet.replace_host_key(0).unwrap();
    let new = describe(&fleet.servers()[0].host_public_key().unwrap());
    let err = Connection::connect(&fleet.targets()[0], &opts())
        .await
        .unwrap_err();
    let Error::HostKey { fingerprint, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(fingerprint, &new);
    assert_eq!(err.known_fingerprint().as_deref(), Some(old.as_str()));
    assert!(err.to_string().contains(&old), "{err}");

    // Learned under accept-new: the connection says so, once.
    let dir = tempfile::tempdir().unwrap();
    let mut target = fleet.targets()[0].clone();
    target.known_hosts = Some(dir.path().join("known_hosts"));
    target.host_key_policy = HostKeyPolicy::AcceptNew;
    let conn = connect(&target).await;
    assert_eq!(conn.host_key(), Some(new.as_str()));
    assert!(conn.learned_host_key());
    let again = connect(&target).await;
    assert!(!again.learned_host_key());
}
