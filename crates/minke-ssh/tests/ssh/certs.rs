//! OpenSSH certificates: user certificates sshd trusts through `TrustedUserCAKeys`,
//! host certificates known_hosts trusts through `@cert-authority`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use minke_core::{FailReason, HostKeyPolicy, HostTarget};
use minke_ssh::{ConnectOptions, Connection, Error, HostKeyProblem};
use minke_testkit::{CertificateRequest, Fleet, KeyPair, SSH_KEYGEN, ServerOptions};

use crate::{connect, opts, run};

/// A fleet of one server trusting user certificates signed by `ca`. No key but the
/// fleet's own client key is in its authorized_keys.
fn user_ca_fleet(ca: &KeyPair) -> Fleet {
    let options = ServerOptions {
        extra_config: vec![format!("TrustedUserCAKeys {}", ca.public.display())],
        ..ServerOptions::default()
    };
    Fleet::start_with(1, &options).expect("starting sshd (needs openssh-server)")
}

/// A key pair sshd does not know, at `dir/name`.
fn stranger_key(dir: &Path, name: &str) -> KeyPair {
    KeyPair::generate(&dir.join(name), None).expect("ssh-keygen (needs openssh-client)")
}

/// The target of the fleet's server, logging in with `key` only.
fn target_with(fleet: &Fleet, key: &KeyPair) -> HostTarget {
    let mut target = fleet.targets()[0].clone();
    target.identity_files = vec![key.private.clone()];
    target
}

/// sshd's log line of a login with a certificate whose key id is `id`.
fn certificate_login(fleet: &Fleet, id: &str) -> bool {
    fleet.servers()[0].log().lines().any(|l| {
        l.contains("Accepted publickey")
            && l.contains("ED25519-CERT")
            && l.contains(&format!("ID {id} "))
    })
}

/// A known_hosts file `name` in `dir` trusting `ca` for every port of 127.0.0.1.
fn trusting(dir: &Path, name: &str, ca: &KeyPair) -> PathBuf {
    known_hosts(
        dir,
        name,
        &format!(
            "@cert-authority [127.0.0.1]:* {}\n",
            ca.public_key().expect("the authority's public key")
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_certificate_beside_the_key_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "user-ca");
    let fleet = user_ca_fleet(&ca);
    let key = stranger_key(dir.path(), "id_ed25519");
    let target = target_with(&fleet, &key);

    // The plain key alone is refused: only a certificate can let it in.
    let err = Connection::connect(&target, &opts()).await.unwrap_err();
    assert_eq!(err.reason(), FailReason::Authentication, "{err}");

    let cert = ca
        .certify(
            &key.public,
            &CertificateRequest::user("beside", &[fleet.user()]),
        )
        .unwrap();
    assert_eq!(cert, dir.path().join("id_ed25519-cert.pub"));
    let conn = connect(&target).await;
    assert_eq!(run(&conn, "echo certified").await.stdout, b"certified\n");
    assert!(
        certificate_login(&fleet, "beside"),
        "{}",
        fleet.servers()[0].log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_file_named_by_the_target_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "user-ca");
    let fleet = user_ca_fleet(&ca);
    let key = stranger_key(dir.path(), "key");
    let signed = ca
        .certify(
            &key.public,
            &CertificateRequest::user("named", &[fleet.user()]),
        )
        .unwrap();
    // Away from the key, where only `certificate_files` finds it.
    let elsewhere = dir.path().join("certs").join("mine.pub");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::rename(&signed, &elsewhere).unwrap();
    let other = stranger_key(dir.path(), "other");
    let other_cert = ca
        .certify(
            &other.public,
            &CertificateRequest::user("other", &[fleet.user()]),
        )
        .unwrap();
    let missing = dir.path().join("certs").join("missing-cert.pub");

    let mut target = target_with(&fleet, &key);
    target.certificate_files = vec![missing.clone(), other_cert.clone(), elsewhere.clone()];
    let conn = connect(&target).await;
    assert_eq!(run(&conn, "echo named").await.stdout, b"named\n");
    assert!(
        certificate_login(&fleet, "named"),
        "{}",
        fleet.servers()[0].log()
    );

    // Without the matching certificate: each file says why it was not used.
    target.certificate_files = vec![missing.clone(), other_cert.clone()];
    let err = Connection::connect(&target, &opts()).await.unwrap_err();
    assert_eq!(err.reason(), FailReason::Authentication, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "certificate {}: cannot read it",
            missing.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "certificate {} (ED25519 user certificate, key id `other`): not offered",
            other_cert.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "key {} (ssh-ed25519 SHA256:",
            key.private.display()
        )),
        "{text}"
    );
    assert!(!text.contains("AAAA"), "key material in the error: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_certificate_for_another_principal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "user-ca");
    let fleet = user_ca_fleet(&ca);
    let key = stranger_key(dir.path(), "id_ed25519");
    let cert = ca
        .certify(
            &key.public,
            &CertificateRequest::user("wrong", &["someone-else"]),
        )
        .unwrap();
    let err = Connection::connect(&target_with(&fleet, &key), &opts())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), FailReason::Authentication, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "certificate {} (ED25519 user certificate, key id `wrong`): refused (`{}` is not among its \
             principals (`someone-else`))",
            cert.display(),
            fleet.user()
        )),
        "{text}"
    );
    // Then the plain key, refused too.
    assert!(
        text.contains(&format!(
            "key {} (ssh-ed25519 SHA256:",
            key.private.display()
        )),
        "{text}"
    );
    assert!(!certificate_login(&fleet, "wrong"));
}

/// A throwaway ssh-agent (`ssh-agent -D`), killed on drop.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
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
        Agent { child, socket }
    }

    /// `ssh-add KEY` (which adds `KEY-cert.pub` too when it exists).
    fn add(&self, private: &Path) {
        let added = Command::new("ssh-add")
            .arg(private)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add (package openssh-client)");
        assert!(added.status.success(), "{added:?}");
    }

    fn options(&self) -> ConnectOptions {
        ConnectOptions {
            use_agent: true,
            agent_socket: Some(self.socket.clone()),
            ..ConnectOptions::default()
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_of_the_agent_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "user-ca");
    let fleet = user_ca_fleet(&ca);

    // The agent holds the certificate (added with its key).
    let key = stranger_key(dir.path(), "held");
    ca.certify(
        &key.public,
        &CertificateRequest::user("held", &[fleet.user()]),
    )
    .unwrap();
    let agent_dir = dir.path().join("agent-1");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = Agent::start(&agent_dir);
    agent.add(&key.private);
    let mut target = fleet.targets()[0].clone();
    target.identity_files = vec![dir.path().join("no-key-file")];
    let conn = Connection::connect(&target, &agent.options())
        .await
        .unwrap();
    assert_eq!(run(&conn, "echo agent").await.stdout, b"agent\n");
    assert!(
        certificate_login(&fleet, "held"),
        "{}",
        fleet.servers()[0].log()
    );
    drop(agent);

    // The agent holds the key only; the target names the certificate.
    let bare_dir = dir.path().join("bare");
    let bare = stranger_key(&bare_dir, "key");
    let cert = ca
        .certify(
            &bare.public,
            &CertificateRequest::user("paired", &[fleet.user()]),
        )
        .unwrap();
    let named = dir.path().join("paired-cert.pub");
    std::fs::rename(&cert, &named).unwrap();
    let agent_dir = dir.path().join("agent-2");
    std::fs::create_dir(&agent_dir).unwrap();
    let agent = Agent::start(&agent_dir);
    agent.add(&bare.private);
    target.certificate_files = vec![named];
    let conn = Connection::connect(&target, &agent.options())
        .await
        .unwrap();
    assert_eq!(run(&conn, "echo paired").await.stdout, b"paired\n");
    assert!(
        certificate_login(&fleet, "paired"),
        "{}",
        fleet.servers()[0].log()
    );
}

/// A fleet of one server, kept in `dir`, presenting a certificate of its host key
/// signed by `ca` as `request` says (sshd's `HostCertificate`).
fn host_certificate_fleet(dir: &Path, ca: &KeyPair, request: &CertificateRequest) -> Fleet {
    let fleet_dir = dir.join("fleet");
    let host_key = fleet_dir
        .join("servers")
        .join("host-001")
        .join("ssh_host_ed25519_key");
    let cert = PathBuf::from(format!("{}-cert.pub", host_key.display()));
    let options = ServerOptions {
        extra_config: vec![format!("HostCertificate {}", cert.display())],
        ..ServerOptions::default()
    };
    // The host key is made as the server starts: sign it then, and restart the
    // server so it reads the certificate.
    let mut fleet =
        Fleet::start_in(&fleet_dir, 1, &options).expect("starting sshd (needs openssh-server)");
    let public = fleet.servers()[0].host_key().public.clone();
    let signed = ca.certify(&public, request).expect("signing the host key");
    assert_eq!(signed, cert);
    fleet
        .server_mut(0)
        .and_then(|s| s.restart())
        .expect("restarting sshd with its certificate");
    fleet
}

/// A known_hosts file `dir/name` holding exactly `text`.
fn known_hosts(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing known_hosts");
    path
}

/// The server's target checking its host key against `known_hosts` with `policy`.
fn checked_target(fleet: &Fleet, known_hosts: &Path, policy: HostKeyPolicy) -> HostTarget {
    let mut target = fleet.targets()[0].clone();
    target.known_hosts = Some(known_hosts.to_owned());
    target.host_key_policy = policy;
    target
}

/// The `HostKeyProblem` of a refused connection, and its message.
async fn refused(target: &HostTarget) -> (HostKeyProblem, String) {
    let err = Connection::connect(target, &opts())
        .await
        .expect_err("the host key should be refused");
    assert_eq!(err.reason(), FailReason::HostKey, "{err}");
    let Error::HostKey { problem, .. } = &err else {
        panic!("{err:?}")
    };
    (problem.clone(), err.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_certificate_from_a_trusted_authority_connects_under_strict() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "host-ca");
    let fleet = host_certificate_fleet(
        dir.path(),
        &ca,
        &CertificateRequest::host("host-001", &["127.0.0.1"]),
    );
    let text = format!(
        "@cert-authority [127.0.0.1]:* {}\n",
        ca.public_key().unwrap()
    );
    let file = known_hosts(dir.path(), "known_hosts-1", &text);

    let conn = connect(&checked_target(&fleet, &file, HostKeyPolicy::Strict)).await;
    assert_eq!(run(&conn, "echo trusted").await.stdout, b"trusted\n");
    conn.close().await;

    // Accept-new learns nothing: the authority vouches for the host.
    let conn = connect(&checked_target(&fleet, &file, HostKeyPolicy::AcceptNew)).await;
    conn.close().await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    // The exact lookup name as the pattern works too.
    let port = fleet.servers()[0].port();
    let text = format!(
        "@cert-authority [127.0.0.1]:{port} {}\n",
        ca.public_key().unwrap()
    );
    let file = known_hosts(dir.path(), "known_hosts-2", &text);
    let conn = connect(&checked_target(&fleet, &file, HostKeyPolicy::Strict)).await;
    assert_eq!(run(&conn, "echo exact").await.stdout, b"exact\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_certificate_from_an_unknown_authority_counts_as_its_plain_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "host-ca");
    let other_ca = stranger_key(dir.path(), "other-ca");
    let fleet = host_certificate_fleet(
        dir.path(),
        &ca,
        &CertificateRequest::host("host-001", &["127.0.0.1"]),
    );
    let text = format!(
        "@cert-authority [127.0.0.1]:* {}\n",
        other_ca.public_key().unwrap()
    );
    let file = known_hosts(dir.path(), "known_hosts-3", &text);

    let (problem, message) = refused(&checked_target(&fleet, &file, HostKeyPolicy::Strict)).await;
    assert_eq!(
        problem,
        HostKeyProblem::UnknownCertificateAuthority,
        "{message}"
    );
    assert!(message.contains("unknown authority"), "{message}");
    assert!(
        message.contains("ED25519 host certificate, key id `host-001`"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        text,
        "nothing learned"
    );

    // Accept-new falls back to the plain key: learned, then known under strict.
    let conn = connect(&checked_target(&fleet, &file, HostKeyPolicy::AcceptNew)).await;
    conn.close().await;
    let learned = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        learned,
        format!("{text}{}\n", fleet.servers()[0].known_hosts_line().unwrap())
    );
    let conn = connect(&checked_target(&fleet, &file, HostKeyPolicy::Strict)).await;
    assert_eq!(run(&conn, "echo plain").await.stdout, b"plain\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_host_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "host-ca");
    let fleet = host_certificate_fleet(
        dir.path(),
        &ca,
        &CertificateRequest::host("host-001", &["127.0.0.1"]).validity("20200101:20200102"),
    );
    let file = trusting(dir.path(), "known_hosts-4", &ca);
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let (problem, message) = refused(&checked_target(&fleet, &file, policy)).await;
        assert_eq!(problem, HostKeyProblem::CertificateExpired, "{message}");
        assert!(message.contains("host certificate not valid"), "{message}");
        assert!(message.contains("it expired at 2020-01-0"), "{message}");
        assert!(
            message.contains(&format!("{} line 1", file.display())),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_certificate_for_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "host-ca");
    let fleet = host_certificate_fleet(
        dir.path(),
        &ca,
        &CertificateRequest::host("host-001", &["web1.example"]),
    );
    let file = trusting(dir.path(), "known_hosts-5", &ca);
    let (problem, message) = refused(&checked_target(&fleet, &file, HostKeyPolicy::Strict)).await;
    assert_eq!(
        problem,
        HostKeyProblem::CertificateWrongPrincipal,
        "{message}"
    );
    assert!(
        message.contains("`127.0.0.1` is not among its principals (`web1.example`)"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_authority_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = stranger_key(dir.path(), "host-ca");
    let fleet = host_certificate_fleet(
        dir.path(),
        &ca,
        &CertificateRequest::host("host-001", &["127.0.0.1"]),
    );
    let ca_key = ca.public_key().unwrap();
    let file = known_hosts(
        dir.path(),
        "known_hosts-6",
        &format!("@cert-authority [127.0.0.1]:* {ca_key}\n@revoked * {ca_key}\n"),
    );
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let (problem, message) = refused(&checked_target(&fleet, &file, policy)).await;
        assert_eq!(
            problem,
            HostKeyProblem::CertificateAuthorityRevoked { line: 2 },
            "{message}"
        );
        assert!(message.contains("REVOKED"), "{message}");
    }
    // The certified key itself revoked: the plain key's verdict.
    let file = known_hosts(
        dir.path(),
        "known_hosts-7",
        &format!(
            "@cert-authority [127.0.0.1]:* {ca_key}\n@revoked * {}\n",
            fleet.servers()[0].host_public_key().unwrap()
        ),
    );
    let (problem, message) = refused(&checked_target(&fleet, &file, HostKeyPolicy::Strict)).await;
    assert_eq!(problem, HostKeyProblem::Revoked { line: 2 }, "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_known_hosts_entries_still_work() {
    let fleet = crate::fleet(1);
    let hashed = Command::new(SSH_KEYGEN)
        .arg("-H")
        .arg("-f")
        .arg(fleet.known_hosts())
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen (package openssh-client)");
    assert!(hashed.status.success(), "{hashed:?}");
    let text = std::fs::read_to_string(fleet.known_hosts()).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    let conn = connect(&fleet.targets()[0]).await;
    assert_eq!(run(&conn, "echo hashed").await.stdout, b"hashed\n");
}
