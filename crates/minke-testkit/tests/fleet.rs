//! The kit against the real sshd and the real OpenSSH client.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use minke_testkit::{Fleet, ServerOptions};

/// Runs `ssh ... true` against one server of the fleet with OpenSSH's own client.
fn ssh_true(fleet: &Fleet, index: usize) -> std::process::Output {
    let s = &fleet.servers()[index];
    Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            fleet.known_hosts().display()
        ))
        .arg("-i")
        .arg(fleet.client_key())
        .arg("-p")
        .arg(s.port().to_string())
        .arg(format!("{}@127.0.0.1", fleet.user()))
        .arg("echo ok")
        .stdin(Stdio::null())
        .output()
        .expect("the OpenSSH client `ssh` (package openssh-client) must be installed")
}

#[test]
fn fifty_servers_start_and_accept_logins() {
    let started = Instant::now();
    let fleet = Fleet::start(50).unwrap();
    let took = started.elapsed();
    eprintln!("50 servers started in {took:?}");
    assert_eq!(fleet.len(), 50);
    let targets = fleet.targets();
    assert_eq!(targets.len(), 50);
    assert_eq!(targets[0].name, "host-001");
    assert_eq!(targets[49].name, "host-050");
    assert_eq!(targets[49].id, minke_core::HostId::new(50));
    let mut ports: Vec<u16> = targets.iter().map(|t| t.port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 50, "every server has its own port");

    let known = std::fs::read_to_string(fleet.known_hosts()).unwrap();
    assert_eq!(known.lines().count(), 50);
    assert!(
        known
            .lines()
            .all(|l| l.starts_with("[127.0.0.1]:") && l.contains(" ssh-ed25519 "))
    );

    let started = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                scope.spawn({
                    let fleet = &fleet;
                    move || ssh_true(fleet, i)
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let out = h.join().unwrap();
            assert!(
                out.status.success() && out.stdout == b"ok\n",
                "ssh to server {i} failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                fleet.servers()[i].log()
            );
        }
    });
    eprintln!("50 logins with OpenSSH's ssh in {:?}", started.elapsed());
    for s in fleet.servers() {
        assert_eq!(s.login_count(), 1, "{}", s.log());
        assert_eq!(s.connection_count(), 1, "{}", s.log());
    }
}

#[test]
fn drop_kills_servers_and_their_sessions() {
    let fleet = Fleet::start(2).unwrap();
    let pids: Vec<u32> = fleet.servers().iter().map(|s| s.pid().unwrap()).collect();
    let marker = format!("sleep 77.{}", std::process::id());
    let mut ssh = {
        let s = &fleet.servers()[0];
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                fleet.known_hosts().display()
            ))
            .arg("-i")
            .arg(fleet.client_key())
            .arg("-p")
            .arg(s.port().to_string())
            .arg(format!("{}@127.0.0.1", fleet.user()))
            .arg(format!("{marker}; true"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while minke_testkit::find_processes(&marker)
        .iter()
        .all(|&p| p == ssh.id())
    {
        assert!(Instant::now() < deadline, "the remote sleep never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(fleet);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
            .collect();
        let sleeping: Vec<u32> = minke_testkit::find_processes(&marker)
            .into_iter()
            .filter(|&p| p != ssh.id())
            .collect();
        if alive.is_empty() && sleeping.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still alive: sshd {alive:?}, sessions {sleeping:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = ssh.wait();
}

#[test]
fn drop_kills_commands_that_outlived_their_session() {
    let fleet = Fleet::start(1).unwrap();
    let marker = format!("sleep 78.{}", std::process::id());
    let s = &fleet.servers()[0];
    let out = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            fleet.known_hosts().display()
        ))
        .arg("-i")
        .arg(fleet.client_key())
        .arg("-p")
        .arg(s.port().to_string())
        .arg(format!("{}@127.0.0.1", fleet.user()))
        .arg(format!("setsid {marker} </dev/null >/dev/null 2>&1 &"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while minke_testkit::find_processes(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the detached sleep never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(fleet);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !minke_testkit::find_processes(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the detached sleep outlived the fleet"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn replaced_host_key_is_refused_by_openssh_then_accepted_after_rewrite() {
    let mut fleet = Fleet::start(1).unwrap();
    let old = fleet.servers()[0].host_public_key().unwrap();
    let port = fleet.servers()[0].port();
    fleet.replace_host_key(0).unwrap();
    assert_eq!(
        fleet.servers()[0].port(),
        port,
        "same port after the restart"
    );
    assert_ne!(fleet.servers()[0].host_public_key().unwrap(), old);
    let out = ssh_true(&fleet, 0);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOST IDENTIFICATION HAS CHANGED"));
    fleet.write_known_hosts().unwrap();
    assert!(ssh_true(&fleet, 0).status.success());
}

#[test]
fn extra_keys_options_and_kept_directories() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("demo-fleet");
    let options = ServerOptions {
        extra_config: vec!["MaxSessions 3".into()],
        ..ServerOptions::default()
    };
    let fleet = Fleet::start_in(&kept, 1, &options).unwrap();
    assert!(
        std::fs::read_to_string(fleet.servers()[0].config_path())
            .unwrap()
            .contains("MaxSessions 3\n")
    );
    let key = fleet
        .generate_key("with-pass", Some("open sesame"))
        .unwrap();
    assert!(key.private.exists() && key.public.exists());
    assert!(key.public_line().unwrap().starts_with("ssh-ed25519 "));
    fleet.authorize(&key).unwrap();
    assert_eq!(
        std::fs::read_to_string(fleet.authorized_keys())
            .unwrap()
            .lines()
            .count(),
        2
    );
    let manifest = std::fs::read_to_string(kept.join(minke_testkit::MANIFEST)).unwrap();
    assert!(manifest.contains("host-001\t127.0.0.1\t"));

    // Detached: still running after the handle is gone, until stop_in.
    let port = fleet.servers()[0].port();
    let back = fleet.detach();
    assert_eq!(back, kept);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(Fleet::stop_in(&kept).unwrap(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "detached server still answers after stop_in"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(kept.join("known_hosts").exists(), "a kept directory stays");
}
