//! A host's OpenSSH options: a proxy command (`ProxyCommand`), environment
//! (`SetEnv`), agent forwarding (`ForwardAgent`), and pseudo-terminals.

use minke_core::ExitStatus;
use minke_ssh::{Connection, Discard, Error, ExecOptions};
use minke_testkit::{Fleet, ServerOptions};

use crate::{connect, fleet, opts, run};

/// `ssh -W %h:%p` through server 0 of `fleet`, as the bastion: the real OpenSSH
/// client carries the connection.
fn through_bastion(fleet: &Fleet) -> String {
    format!(
        "ssh -F /dev/null -W %h:%p -i {} -o IdentitiesOnly=yes -o BatchMode=yes \
         -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -p {} {}@127.0.0.1",
        fleet.client_key().display(),
        fleet.known_hosts().display(),
        fleet.servers()[0].port(),
        fleet.user()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_command_carries_the_connection_through_a_bastion() {
    assert!(
        std::path::Path::new("/usr/bin/ssh").exists(),
        "the OpenSSH client is missing (scripts/install-deps.sh installs openssh-client)"
    );
    let fleet = fleet(2);
    let mut target = fleet.targets()[1].clone();
    target.proxy_command = Some(through_bastion(&fleet));
    let bastion_logins = fleet.servers()[0].login_count();
    let conn = connect(&target).await;
    let out = run(&conn, "echo through; echo $SSH_CONNECTION").await;
    assert_eq!(out.exit, ExitStatus::Code(0));
    let text = out.stdout_text();
    assert!(text.starts_with("through\n"), "{text}");
    // The host sees the bastion's loopback connection, and the bastion one login.
    assert!(text.contains("127.0.0.1"), "{text}");
    assert_eq!(fleet.servers()[0].login_count(), bastion_logins + 1);
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_proxy_command_says_why() {
    let fleet = fleet(1);
    let mut target = fleet.targets()[0].clone();
    target.proxy_command = Some("echo 'no route to %h' >&2; exit 3".into());
    let e = Connection::connect(&target, &opts()).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Proxy { .. }), "{e:?}");
    assert!(
        text.contains("exited with 3") && text.contains("no route to 127.0.0.1"),
        "{text}"
    );
    assert_eq!(e.reason(), minke_core::FailReason::ConnectRefused);

    target.proxy_command = Some("/no/such/program-minke %h".into());
    let e = Connection::connect(&target, &opts()).await.unwrap_err();
    assert!(e.to_string().contains("exited with 127"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_reaches_commands_the_server_accepts() {
    let options = ServerOptions {
        extra_config: vec!["AcceptEnv MINKE_*".into()],
        ..ServerOptions::default()
    };
    let fleet = Fleet::start_with(1, &options).unwrap();
    let mut target = fleet.targets()[0].clone();
    target.env = vec![
        ("MINKE_GREETING".into(), "hello there".into()),
        ("NOT_ACCEPTED".into(), "x".into()),
    ];
    let conn = connect(&target).await;
    let out = run(&conn, "echo \"$MINKE_GREETING|${NOT_ACCEPTED:-unset}\"").await;
    assert_eq!(out.stdout_text(), "hello there|unset\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pty_when_asked_for() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let plain = run(&conn, "tty").await;
    assert_eq!(plain.exit, ExitStatus::Code(1), "{plain:?}");
    let opts = ExecOptions {
        pty: true,
        stdin: Some(b"typed\n".to_vec()),
        ..ExecOptions::default()
    };
    let out = conn
        .exec("tty; read line; echo \"got $line\"", &opts, &mut Discard)
        .await
        .unwrap();
    assert_eq!(out.exit, ExitStatus::Code(0), "{out:?}");
    let text = out.stdout_text();
    assert!(text.starts_with("/dev/pts/"), "{text}");
    assert!(text.contains("got typed"), "{text}");
    // What was written to the terminal's input is not echoed back.
    assert_eq!(text.matches("typed").count(), 1, "{text}");
}

/// A throwaway ssh-agent holding the fleet's client key, killed on drop.
struct Agent {
    socket: std::path::PathBuf,
    pid: String,
}

impl Agent {
    fn start(fleet: &Fleet, dir: &std::path::Path) -> Agent {
        let socket = dir.join("agent.sock");
        let out = std::process::Command::new("ssh-agent")
            .arg("-a")
            .arg(&socket)
            .output()
            .expect("ssh-agent (openssh-client) is missing");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        let pid = said
            .split("SSH_AGENT_PID=")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .unwrap_or_else(|| panic!("no agent pid in {said}"))
            .to_owned();
        let added = std::process::Command::new("ssh-add")
            .arg(fleet.client_key())
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .expect("ssh-add (openssh-client) is missing");
        assert!(added.status.success(), "{added:?}");
        Agent { socket, pid }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.pid).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_is_forwarded_only_when_asked() {
    let fleet = fleet(1);
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(&fleet, dir.path());
    let opts = minke_ssh::ConnectOptions {
        agent_socket: Some(agent.socket.clone()),
        ..opts()
    };
    let mut target = fleet.targets()[0].clone();
    let conn = Connection::connect(&target, &opts).await.unwrap();
    let off = run(&conn, "ssh-add -l").await;
    assert_ne!(off.exit, ExitStatus::Code(0), "{off:?}");
    conn.close().await;

    target.forward_agent = true;
    let conn = Connection::connect(&target, &opts).await.unwrap();
    let on = run(&conn, "ssh-add -l").await;
    assert_eq!(on.exit, ExitStatus::Code(0), "{on:?}");
    assert!(on.stdout_text().contains("ED25519"), "{on:?}");
}
