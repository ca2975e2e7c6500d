//! `hosts check` against real sshd servers: a host that answers, a closed port, a
//! changed host key, a wrong user, a host behind a jump host and one behind a dead
//! jump host, and a host whose key is not on record (learned only with
//! `--accept-new`); the check recorded in the history.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};

use common::{free_port, run_fleet, text};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// `ssh-ed25519 SHA256:...` of a public key file, as `ssh-keygen -l` computes it.
fn fingerprint(public: &Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let hash = said.split_whitespace().nth(1).unwrap().to_owned();
    format!("ssh-ed25519 {hash}")
}

/// The hosts of the check, imported from an ssh_config.
struct Hosts {
    fleet: minke_testkit::Fleet,
    /// Holds the database and the files; removed at the end.
    _dir: tempfile::TempDir,
    db: String,
    /// The known_hosts file of host `fresh`, which starts without its key.
    fresh_known_hosts: PathBuf,
    /// The key host `changed` had, still on record.
    old_key: PathBuf,
}

impl Hosts {
    /// Three servers: 0 answers, 1 gets a new host key, 2 is the bastion (and host
    /// `fresh`, whose own known_hosts lacks its key).
    fn new() -> Hosts {
        let mut fleet = minke_testkit::Fleet::start(3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("check.db").to_string_lossy().into_owned();
        let old_key = dir.path().join("old_host_key.pub");
        std::fs::copy(&fleet.servers()[1].host_key().public, &old_key).unwrap();
        fleet.replace_host_key(1).unwrap();
        let fresh_known_hosts = dir.path().join("fresh_known_hosts");
        std::fs::write(&fresh_known_hosts, "# nothing yet\n").unwrap();
        let port = |i: usize| fleet.servers()[i].port();
        let user = fleet.user().to_owned();
        // The first value wins (as in OpenSSH): the hosts before `Host *`.
        let config = format!(
            "Host ok\n  HostName 127.0.0.1\n  Port {p0}\n\
             Host refused\n  HostName 127.0.0.1\n  Port {closed}\n\
             Host changed\n  HostName 127.0.0.1\n  Port {p1}\n\
             Host wrong-user\n  HostName 127.0.0.1\n  Port {p0}\n  User no-such-user-of-minke\n\
             Host bastion\n  HostName 127.0.0.1\n  Port {p2}\n\
             Host via-jump\n  HostName 127.0.0.1\n  Port {p0}\n  ProxyJump bastion\n\
             Host dead-jump\n  HostName 127.0.0.1\n  Port {p0}\n  ProxyJump {user}@127.0.0.1:{closed_jump}\n\
             Host fresh\n  HostName 127.0.0.1\n  Port {p2}\n  UserKnownHostsFile {fresh}\n  StrictHostKeyChecking accept-new\n\
             Host *\n  StrictHostKeyChecking yes\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n  User {user}\n",
            p0 = port(0),
            p1 = port(1),
            p2 = port(2),
            closed = free_port(),
            closed_jump = free_port(),
            fresh = fresh_known_hosts.display(),
            key = fleet.client_key().display(),
            kh = fleet.known_hosts().display(),
        );
        let cfg = dir.path().join("ssh_config");
        std::fs::write(&cfg, config).unwrap();
        let out = run_fleet(&db, &["hosts", "import-ssh-config", cfg.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        Hosts {
            fleet,
            _dir: dir,
            db,
            fresh_known_hosts,
            old_key,
        }
    }

    fn fleet(&self, args: &[&str]) -> std::process::Output {
        run_fleet(&self.db, args)
    }
}

/// The entry of host `name` in a check's JSON document.
fn host<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {doc:#}"))
}

#[test]
fn every_way_a_host_answers_is_reported_recorded_and_nothing_is_learned() {
    let hosts = Hosts::new();
    let known_before = std::fs::read_to_string(hosts.fleet.known_hosts()).unwrap();
    let logins_before = hosts.fleet.servers()[0].login_count();

    let out = hosts.fleet(&["hosts", "check", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let doc = json(&out);
    let run_id = doc["run_id"].as_i64().unwrap();
    // Every host but the jump-only one of `dead-jump`.
    let mut names: Vec<&str> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "bastion",
            "changed",
            "dead-jump",
            "fresh",
            "ok",
            "refused",
            "via-jump",
            "wrong-user"
        ],
        "{doc:#}"
    );
    let result = |name: &str| host(&doc, name)["result"].as_str().unwrap().to_owned();
    assert_eq!(result("ok"), "ok");
    assert_eq!(result("bastion"), "ok");
    assert_eq!(result("via-jump"), "ok");
    assert_eq!(result("refused"), "refused");
    assert_eq!(result("changed"), "host_key_changed");
    assert_eq!(result("wrong-user"), "auth_failed");
    assert_eq!(result("dead-jump"), "jump_host_failed");
    assert_eq!(result("fresh"), "host_key_unknown");
    assert_eq!(
        (doc["ok"].as_u64(), doc["failed"].as_u64()),
        (Some(3), Some(5))
    );

    // Fingerprints: the presented key, and for a changed one the key on record.
    let servers = hosts.fleet.servers();
    let changed = host(&doc, "changed");
    assert_eq!(
        changed["fingerprint"],
        fingerprint(&servers[1].host_key().public),
        "{changed}"
    );
    assert_eq!(
        changed["known_fingerprint"],
        fingerprint(&hosts.old_key),
        "{changed}"
    );
    assert_ne!(changed["fingerprint"], changed["known_fingerprint"]);
    let ok = host(&doc, "ok");
    assert_eq!(
        ok["fingerprint"],
        fingerprint(&servers[0].host_key().public),
        "{ok}"
    );
    assert_eq!(ok["known_fingerprint"], serde_json::Value::Null);
    assert_eq!(ok["address"], "127.0.0.1");
    assert_eq!(ok["port"].as_u64(), Some(u64::from(servers[0].port())));
    assert!(ok["handshake_ms"].is_u64(), "{ok}");
    assert_eq!(ok["detail"], serde_json::Value::Null, "{ok}");
    let fresh = host(&doc, "fresh");
    assert_eq!(
        fresh["fingerprint"],
        fingerprint(&servers[2].host_key().public),
        "{fresh}"
    );
    let refused = host(&doc, "refused");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{refused}"
    );
    assert!(refused["handshake_ms"].is_u64(), "{refused}");
    let dead = host(&doc, "dead-jump");
    let detail = dead["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("jump host ") && detail.contains("connection refused"),
        "{dead}"
    );
    assert_eq!(dead["handshake_ms"], serde_json::Value::Null, "{dead}");
    let wrong = host(&doc, "wrong-user");
    assert!(
        wrong["detail"]
            .as_str()
            .unwrap()
            .contains("no-such-user-of-minke"),
        "{wrong}"
    );

    // Nothing learned: not into the shared file, not into `fresh`'s (whose own
    // policy is accept-new).
    assert_eq!(
        std::fs::read_to_string(hosts.fleet.known_hosts()).unwrap(),
        known_before
    );
    assert_eq!(
        std::fs::read_to_string(&hosts.fresh_known_hosts).unwrap(),
        "# nothing yet\n"
    );
    // Fresh connections: `ok` and `via-jump` logged in on server 0.
    assert!(hosts.fleet.servers()[0].login_count() >= logins_before + 2);

    // In the history: a run of the built-in check on hosts, one session a host.
    let out = hosts.fleet(&["history", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let runs = json(&out);
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == run_id)
        .unwrap_or_else(|| panic!("run {run_id} not in {runs:#}"));
    assert_eq!(
        (&run["session"], &run["model"], &run["state"]),
        (
            &serde_json::Value::from("hosts check"),
            &serde_json::Value::from("host"),
            &serde_json::Value::from("done")
        ),
        "{run}"
    );
    let out = hosts.fleet(&["show", &run_id.to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = json(&out);
    let sessions = shown["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 8, "{shown:#}");
    let session = |name: &str| {
        sessions
            .iter()
            .find(|s| s["host"] == name)
            .unwrap_or_else(|| panic!("no session of {name} in {shown:#}"))
    };
    let ok = session("ok");
    assert_eq!(
        (&ok["state"], &ok["status"]),
        (&"completed".into(), &"success".into()),
        "{ok}"
    );
    let message = ok["messages"][0].to_string();
    assert!(
        message.contains("ok") && message.contains(" ms"),
        "{message}"
    );
    for (name, reason, words) in [
        ("changed", "host_key", "host key changed"),
        ("refused", "connect_refused", "refused"),
        ("wrong-user", "authentication", "auth failed"),
        ("dead-jump", "connect_refused", "jump host failed"),
        ("fresh", "host_key", "host key unknown"),
    ] {
        let s = session(name);
        assert_eq!(
            (&s["state"], &s["status"], &s["reason"]),
            (&"failed".into(), &"error".into(), &reason.into()),
            "{s}"
        );
        let message = s["messages"][0].to_string();
        assert!(message.contains(words), "{name}: {message}");
    }
    // The table of `show` says it too.
    let out = hosts.fleet(&["show", &run_id.to_string()]);
    let said = text(&out.stdout);
    assert!(said.contains("hosts check on host"), "{said}");
    assert!(said.contains("host key changed after"), "{said}");
}

#[test]
fn the_table_says_each_result_and_accept_new_learns_an_unknown_key() {
    let hosts = Hosts::new();
    let out = hosts.fleet(&["hosts", "check"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let line = |name: &str| {
        said.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {said}"))
            .to_owned()
    };
    assert!(said.starts_with("HOST"), "{said}");
    assert!(
        line("ok").contains(" ok ") && line("ok").contains(" ms"),
        "{said}"
    );
    assert!(line("refused").contains("refused"), "{said}");
    assert!(line("changed").contains("host key changed"), "{said}");
    assert!(line("wrong-user").contains("auth failed"), "{said}");
    assert!(line("dead-jump").contains("jump host failed"), "{said}");
    assert!(line("fresh").contains("host key unknown"), "{said}");
    assert!(said.contains("3 ok, 5 failed"), "{said}");
    assert!(said.contains("history: run "), "{said}");

    // Only `fresh`: unknown without --accept-new, learned with it, then known.
    let fresh = ["hosts", "check", "--filter", "name = fresh", "--json"];
    let out = hosts.fleet(&fresh);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(host(&json(&out), "fresh")["result"], "host_key_unknown");
    assert_eq!(
        std::fs::read_to_string(&hosts.fresh_known_hosts).unwrap(),
        "# nothing yet\n"
    );
    let mut learning = fresh.to_vec();
    learning.push("--accept-new");
    let out = hosts.fleet(&learning);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json(&out);
    let entry = host(&doc, "fresh");
    assert_eq!(entry["result"], "ok", "{doc:#}");
    assert!(
        entry["detail"]
            .as_str()
            .unwrap()
            .contains("learned its host key"),
        "{entry}"
    );
    let learned = std::fs::read_to_string(&hosts.fresh_known_hosts).unwrap();
    let port = hosts.fleet.servers()[2].port();
    assert!(
        learned.contains(&format!("[127.0.0.1]:{port} ssh-ed25519 ")),
        "{learned}"
    );
    let out = hosts.fleet(&fresh);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(host(&json(&out), "fresh")["result"], "ok");
    assert_eq!(
        std::fs::read_to_string(&hosts.fresh_known_hosts).unwrap(),
        learned,
        "nothing more learned"
    );

    // A filter that selects only good hosts: exit 0.
    let out = hosts.fleet(&["hosts", "check", "--filter", "name = ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 ok, 0 failed"));

    // A disabled host is not connected to, and fails nothing.
    {
        use diesel::{Connection as _, RunQueryDsl as _};
        let mut c = diesel::sqlite::SqliteConnection::establish(&hosts.db).unwrap();
        diesel::sql_query("UPDATE minke_hosts SET disabled = 1 WHERE name = 'refused'")
            .execute(&mut c)
            .unwrap();
    }
    let out = hosts.fleet(&["hosts", "check", "--filter", "name = refused", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(host(&doc, "refused")["result"], "disabled", "{doc:#}");
    assert_eq!(doc["disabled"].as_u64(), Some(1), "{doc:#}");
    let run_id = doc["run_id"].to_string();
    let shown = text(&hosts.fleet(&["show", &run_id]).stdout);
    assert!(
        shown.contains("canceled") && shown.contains("is disabled"),
        "{shown}"
    );

    // Usage errors.
    let out = hosts.fleet(&["hosts", "check", "--concurrency", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = hosts.fleet(&["hosts", "check", "--filter", "no_such_field = 1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
