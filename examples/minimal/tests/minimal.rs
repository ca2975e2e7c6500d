//! The smallest app, used as its README says: hosts imported, a server added, the
//! session run on a real sshd, the field it records read back.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::{Command, Output};

use diesel::{Connection as _, RunQueryDsl as _};

fn minimal(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minimal"))
        .arg("--database")
        .arg(db)
        .args(args)
        .env_remove("MINKE_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn import_add_a_server_run_and_read_back() {
    let fleet = minke_testkit::Fleet::start(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("minimal.db").to_string_lossy().into_owned();
    let server = &fleet.servers()[0];
    let config = dir.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host web-01\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            server.port(),
            fleet.user(),
            fleet.client_key().display(),
            fleet.known_hosts().display()
        ),
    )
    .unwrap();
    let out = minimal(
        &db,
        &["hosts", "import-ssh-config", config.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut sql = diesel::sqlite::SqliteConnection::establish(&db).unwrap();
    diesel::sql_query("INSERT INTO servers (name, host_id) VALUES ('web', 1)")
        .execute(&mut sql)
        .unwrap();

    let out = minimal(
        &db,
        &["run", "kernel", "--model", "server", "--all", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["sessions"][0]["state"], "completed", "{run}");

    let uname = Command::new("uname").arg("-r").output().unwrap();
    let kernel = text(&uname.stdout).trim().to_owned();
    let items = text(&minimal(&db, &["items", "server"]).stdout);
    assert!(items.contains(&format!("kernel={kernel}")), "{items}");

    let v = env!("CARGO_PKG_VERSION");
    let version = text(&minimal(&db, &["--version"]).stdout);
    assert_eq!(version, format!("minimal {v} (Minke {v})\n"));
}
