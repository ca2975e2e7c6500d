//! `hosts import-ssh-config` with the jump forms people use (`ProxyJump
//! user@host:port`, an alias, a chain, `ProxyCommand`), then runs through them
//! against real sshd servers: one is the bastion.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{run_fleet, text};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Writes `text` as an ssh_config in `dir`.
fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("ssh_config");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn jump_hosts_in_every_form_are_imported_and_used() {
    let fleet = minke_testkit::Fleet::start(4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db").to_string_lossy().into_owned();
    let (key, kh, user) = (
        fleet.client_key().display().to_string(),
        fleet.known_hosts().display().to_string(),
        fleet.user().to_owned(),
    );
    let port = |i: usize| fleet.servers()[i].port();
    let proxy = format!(
        "ssh -F /dev/null -W %h:%p -i {key} -o IdentitiesOnly=yes -o BatchMode=yes \
         -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -p {} {user}@127.0.0.1",
        port(0)
    );
    let cfg = write_config(
        dir.path(),
        &format!(
            "Host *\n  StrictHostKeyChecking yes\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n  User {user}\n\
             Host bastion\n  HostName 127.0.0.1\n  Port {p0}\n\
             Host by-alias\n  HostName 127.0.0.1\n  Port {p1}\n  ProxyJump bastion\n\
             Host by-address\n  HostName 127.0.0.1\n  Port {p2}\n  ProxyJump {user}@127.0.0.1:{p0}\n\
             Host by-chain\n  HostName 127.0.0.1\n  Port {p3}\n  ProxyJump bastion,by-alias\n\
             Host by-command\n  HostName 127.0.0.1\n  Port {p3}\n  ProxyCommand {proxy}\n",
            p0 = port(0),
            p1 = port(1),
            p2 = port(2),
            p3 = port(3),
        ),
    );
    let out = run_fleet(&db, &["hosts", "import-ssh-config", cfg.to_str().unwrap()]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        said.contains("imported 6 hosts (1 of them only jump hosts)"),
        "{said}"
    );

    let list = text(&run_fleet(&db, &["hosts", "list"]).stdout);
    let line = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("no {name} in {list}"))
            .to_owned()
    };
    let jump_only = format!("{user}@127.0.0.1:{}", port(0));
    assert!(line(&jump_only).contains("jump_only=true"), "{list}");
    assert!(
        line("by-command").contains("proxy_command=ssh -F /dev/null"),
        "{list}"
    );
    assert!(line("by-alias").contains("jump_host_id="), "{list}");

    // `--all` leaves the jump-only host out; every other host answers, through its way.
    let before = fleet.servers()[0].login_count();
    let out = run_fleet(
        &db,
        &[
            "run",
            "command",
            "--model",
            "host",
            "--all",
            "--param",
            "cmd=echo $SSH_CONNECTION",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json(&out);
    let sessions = doc["sessions"].as_array().unwrap();
    let mut hosts: Vec<&str> = sessions
        .iter()
        .map(|s| s["host"].as_str().unwrap())
        .collect();
    hosts.sort_unstable();
    assert_eq!(
        hosts,
        [
            "bastion",
            "by-address",
            "by-alias",
            "by-chain",
            "by-command"
        ],
        "{doc}"
    );
    for s in sessions {
        assert_eq!(s["state"], "completed", "{s}");
        assert_eq!(s["commands"][0]["exit_code"], 0, "{s}");
    }
    // by-alias, by-address, by-chain and by-command go through the bastion (by-chain
    // through by-alias after it); bastion itself is one more login.
    let logins = fleet.servers()[0].login_count() - before;
    assert!(logins >= 4, "{logins} logins on the bastion");
}

#[test]
fn a_loop_and_a_bad_file_are_refused_with_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db").to_string_lossy().into_owned();
    let cfg = write_config(dir.path(), "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n");
    let out = run_fleet(&db, &["hosts", "import-ssh-config", cfg.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ProxyJump"), "{err}");

    let cfg = write_config(dir.path(), "Host a\n  Port seventy\n");
    let out = run_fleet(&db, &["hosts", "import-ssh-config", cfg.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ssh_config:2"), "{err}");
}

#[test]
fn resolve_with_ssh_gives_what_the_resolver_gives_and_runs_match_exec() {
    let dir = tempfile::tempdir().unwrap();
    let config = "Host web-*\n  User deploy\n  Port 2200\n  IdentityFile ~/.ssh/deploy\n\
                Host web-1 web-2\n  HostName %h.example.org\n\
                Match exec \"true\"\n  ForwardAgent yes\n";
    let cfg = write_config(dir.path(), config);
    let listed = |db: &str, extra: &[&str]| {
        let mut args = vec!["hosts", "import-ssh-config", cfg.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run_fleet(db, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        (
            text(&run_fleet(db, &["hosts", "list"]).stdout),
            text(&out.stderr),
        )
    };
    let own = dir.path().join("own.db").to_string_lossy().into_owned();
    let by_ssh = dir.path().join("ssh.db").to_string_lossy().into_owned();
    let (mine, warned) = listed(&own, &[]);
    let (theirs, quiet) = listed(&by_ssh, &["--resolve-with-ssh"]);
    assert!(
        warned.contains("Match exec is not run by Minke"),
        "{warned}"
    );
    assert!(!quiet.contains("Match exec"), "{quiet}");
    assert!(
        mine.contains("web-1.example.org") && mine.contains("port=2200"),
        "{mine}"
    );
    // ssh ran `Match exec "true"`: agent forwarding is on only there.
    assert!(!mine.contains("forward_agent=true"), "{mine}");
    assert!(theirs.contains("forward_agent=true"), "{theirs}");
    assert_eq!(
        mine.lines().count(),
        theirs.lines().count(),
        "{mine}\n{theirs}"
    );
    assert_eq!(
        mine.replace(" forward_agent=true", ""),
        theirs.replace(" forward_agent=true", ""),
        "the same hosts otherwise"
    );
}
