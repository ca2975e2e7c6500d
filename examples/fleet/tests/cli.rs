//! The `fleet` binary end to end: Minke's CLI against real sshd hosts.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{Setup, run_fleet, text};

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn import_run_json_history_show() {
    let s = Setup::new(3);
    // Re-import updates, never duplicates.
    let cfg = s.ssh_config();
    assert_eq!(
        s.fleet_cmd(&["hosts", "import-ssh-config", cfg.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let items = s.fleet_cmd(&["items", "host"]);
    let lines: Vec<String> = text(&items.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("web-01\t"), "{lines:?}");

    let out = s.run_command("uname -s; echo err >&2", &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr makes a warning: {}",
        text(&out.stderr)
    );
    let doc = json(&out);
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    for x in sessions {
        assert_eq!(x["state"], "completed");
        assert_eq!(x["status"], "warning");
        let c = &x["commands"][0];
        assert_eq!(c["command"], "uname -s; echo err >&2");
        assert_eq!(c["exit_code"], 0);
        assert_eq!(c["stdout"], "Linux\n");
        assert_eq!(c["stderr"], "err\n");
        assert!(x["host"].as_str().unwrap().starts_with("web-"));
        assert!(!x["messages"].as_array().unwrap().is_empty());
    }
    let run_id = doc["run_id"].as_i64().unwrap();

    let out = s.fleet_cmd(&[
        "run",
        "command",
        "--model",
        "host",
        "--filter",
        "name = web-02",
        "--param",
        "cmd=exit 7",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("web-02"),
        "{}",
        text(&out.stdout)
    );
    assert!(!text(&out.stdout).contains("web-01"));

    let out = s.fleet_cmd(&["run", "checks", "--model", "host", "--search", "web-03"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let hist = s.fleet_cmd(&["history", "--json"]);
    assert_eq!(json(&hist).as_array().unwrap().len(), 3);
    // Filters of `history`, narrowed by the database.
    let user = json(&hist)[0]["username"].as_str().unwrap().to_owned();
    let sessions_of = |args: &[&str]| -> Vec<String> {
        let out = s.fleet_cmd(&[&["history", "--json"], args].concat());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        json(&out)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["session"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(sessions_of(&["--session", "checks"]), ["checks"]);
    assert_eq!(sessions_of(&["--status", "error"]), ["command"]);
    assert_eq!(
        sessions_of(&["--status", "warning", "--model", "host"]),
        ["command"]
    );
    assert_eq!(sessions_of(&["--since", "1h"]).len(), 3);
    assert_eq!(sessions_of(&["--since", "2000-01-01"]).len(), 3);
    assert!(sessions_of(&["--since", "9999-01-01"]).is_empty());
    assert_eq!(sessions_of(&["--by", &user, "--limit", "2"]).len(), 2);
    assert!(sessions_of(&["--by", "nobody-at-all"]).is_empty());
    usage_error(&s, &["history", "--since", "yesterday"], "neither an age");
    usage_error(&s, &["history", "--status", "fine"], "fine");
    // Host groups and the last status as targets.
    {
        use minke::store::{Conn, DatabaseUrl};
        let mut c = Conn::open(&DatabaseUrl::parse(&s.db).unwrap()).unwrap();
        let hosts = minke::store::all_hosts(&mut c).unwrap();
        let edge: Vec<_> = hosts
            .iter()
            .filter(|h| h.name != "web-02")
            .map(|h| h.id)
            .collect();
        let g = minke::store::create_group(&mut c, "edge", None).unwrap();
        minke::store::set_group_members(&mut c, g, &edge).unwrap();
    }
    let names = |args: &[&str]| -> Vec<String> {
        let out = s.fleet_cmd(&[&["items", "host"], args].concat());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&["--group", "edge"]), ["web-01", "web-03"]);
    assert_eq!(names(&["--last-status", "error"]), ["web-02"]);
    assert!(names(&["--group", "edge", "--last-status", "error"]).is_empty());
    // The same in the filter grammar.
    assert_eq!(names(&["--filter", "group = edge"]), ["web-01", "web-03"]);
    assert_eq!(
        names(&["--filter", "group = edge and name = web-03"]),
        ["web-03"]
    );
    assert_eq!(names(&["--filter", "last_status = error"]), ["web-02"]);
    usage_error(
        &s,
        &["items", "host", "--filter", "group ~ ed"],
        "takes `=` only",
    );
    let out = s.fleet_cmd(&[
        "run",
        "command",
        "--model",
        "host",
        "--group",
        "edge",
        "--filter",
        "name = web-03",
        "--param",
        "cmd=true",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let hosts: Vec<_> = json(&out)["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["host"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hosts, ["web-03"]);
    usage_error(
        &s,
        &["items", "host", "--group", "nope"],
        "no host group named `nope`",
    );
    usage_error(
        &s,
        &["items", "server", "--group", "edge"],
        "no host groups",
    );
    usage_error(
        &s,
        &[
            "run",
            "command",
            "--model",
            "host",
            "--group",
            "edge",
            "--last-status",
            "error",
            "--param",
            "cmd=true",
        ],
        "",
    );
    // Rerun: the failed objects, the same parameters (secret ones given again).
    let failed = s.fleet_cmd(&["history", "--json", "--status", "error"]);
    let failed = json(&failed)[0]["id"].as_i64().unwrap().to_string();
    let rerun_hosts = |args: &[&str], code: i32| -> Vec<String> {
        let out = s.fleet_cmd(&[&["rerun"], args, &["--json"]].concat());
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
        json(&out)["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["host"].as_str().unwrap().to_owned())
            .collect()
    };
    // `exit 7` again on web-02 only; then with the parameter changed.
    assert_eq!(rerun_hosts(&[&failed], 4), ["web-02"]);
    assert_eq!(
        rerun_hosts(&[&failed, "--param", "cmd=true"], 0),
        ["web-02"]
    );
    usage_error(
        &s,
        &["rerun", &failed, "--only", "success"],
        "no objects whose sessions",
    );
    usage_error(&s, &["rerun", "99999"], "no run 99999");
    usage_error(&s, &["rerun", &failed, "--only", "fine"], "fine");
    let out = s.fleet_cmd(&[
        "run",
        "sudo",
        "--model",
        "host",
        "--filter",
        "name = web-01",
        "--param",
        "cmd=id",
        "--param",
        "password=hunter2",
        "--json",
    ]);
    let sudo_run = json(&out)["run_id"].as_i64().unwrap().to_string();
    assert!(
        !text(&s.fleet_cmd(&["show", &sudo_run, "--json"]).stdout).contains("hunter2"),
        "the history keeps no secret"
    );
    usage_error(
        &s,
        &["rerun", &sudo_run, "--only", "success,error,failed"],
        "password",
    );
    let out = s.fleet_cmd(&[
        "rerun",
        &sudo_run,
        "--only",
        "success,error,failed",
        "--param",
        "password=hunter2",
        "--json",
    ]);
    assert_eq!(
        json(&out)["sessions"].as_array().unwrap().len(),
        1,
        "{}",
        text(&out.stderr)
    );
    let show = s.fleet_cmd(&["show", &run_id.to_string()]);
    let shown = text(&show.stdout);
    assert!(
        shown.contains("$ uname -s; echo err >&2") && shown.contains("Linux"),
        "{shown}"
    );
    // The warning that repeats the command's result points at it instead.
    assert_eq!(
        shown.matches("Linux").count(),
        3,
        "each output once: {shown}"
    );
    assert!(shown.contains("(exit 0; command 1 above)"), "{shown}");

    // Runs started and stopped, and the hosts imported, are in the audit log.
    let out = s.fleet_cmd(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let audit = json(&out);
    let of = |action: &str| -> Vec<serde_json::Value> {
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    };
    assert_eq!(of("run_started").len(), 8, "{audit}");
    assert_eq!(
        of("run_started")[1]["detail"],
        "session sudo on host: name = web-01: 1 sessions"
    );
    assert_eq!(of("host_changed").len(), 2, "imported twice: {audit}");

    let out = s.fleet_cmd(&["clear", "--older-than", "0s"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("deleted 8 runs") && text(&out.stdout).contains("audit log"),
        "{}",
        text(&out.stdout)
    );
    // What was cleared, and by whom, is the log's first entry again.
    let out = s.fleet_cmd(&["audit", "--json"]);
    let audit = json(&out);
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit[0]["action"], "history_cleared");
}

fn usage_error(s: &Setup, args: &[&str], needle: &str) {
    let out = s.fleet_cmd(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected `{needle}` in: {err}"
    );
}

#[test]
fn bad_input_gets_one_clear_line() {
    let s = Setup::new(1);
    usage_error(
        &s,
        &["run", "nope", "--model", "host", "--all"],
        "unknown session `nope`",
    );
    usage_error(
        &s,
        &[
            "run", "command", "--model", "galaxy", "--all", "--param", "cmd=x",
        ],
        "unknown model `galaxy`",
    );
    usage_error(
        &s,
        &["run", "kernel", "--model", "host", "--all"],
        "does not work on model `host`",
    );
    usage_error(
        &s,
        &["run", "command", "--model", "host", "--all"],
        "`cmd`: is required",
    );
    usage_error(
        &s,
        &[
            "run",
            "command",
            "--model",
            "host",
            "--all",
            "--param",
            "cmd=x",
            "--param",
            "colour=red",
        ],
        "`colour`",
    );
    usage_error(
        &s,
        &[
            "run", "command", "--model", "host", "--all", "--param", "novalue",
        ],
        "NAME=VALUE",
    );
    usage_error(
        &s,
        &[
            "run",
            "disk_usage",
            "--model",
            "host",
            "--all",
            "--param",
            "threshold=lots",
        ],
        "`threshold`",
    );
    usage_error(
        &s,
        &[
            "run",
            "command",
            "--model",
            "host",
            "--filter",
            "name is x",
            "--param",
            "cmd=x",
        ],
        "expected an operator",
    );
    usage_error(
        &s,
        &[
            "run",
            "command",
            "--model",
            "host",
            "--filter",
            "colour = red",
            "--param",
            "cmd=x",
        ],
        "no filterable field `colour`",
    );
    usage_error(
        &s,
        &[
            "run",
            "command",
            "--model",
            "host",
            "--filter",
            "port ~ 22",
            "--param",
            "cmd=x",
        ],
        "needs a text field",
    );
    usage_error(
        &s,
        &["run", "command", "--model", "host", "--param", "cmd=x"],
        "say which objects: --all, --filter EXPR, --search TEXT, --group NAME",
    );
    usage_error(
        &s,
        &[
            "run",
            "command",
            "--model",
            "host",
            "--filter",
            "name = none",
            "--param",
            "cmd=x",
        ],
        "empty",
    );
    usage_error(
        &s,
        &["items", "host", "--all", "--filter", "name = x"],
        "cannot be used with",
    );
    usage_error(&s, &["clear", "--older-than", "soon"], "soon");
    let missing = s.dir.path().join("missing-config");
    usage_error(
        &s,
        &["hosts", "import-ssh-config", missing.to_str().unwrap()],
        "cannot read",
    );
    // Nothing was recorded by the rejected runs.
    assert_eq!(
        json(&s.fleet_cmd(&["history", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn unreachable_database_is_exit_1() {
    let out = run_fleet("postgres://minke:secret-pw@127.0.0.1:1/none", &["history"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot open database"), "{err}");
    assert!(!err.contains("secret-pw"), "the password leaked: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn version_completions_and_the_manual_page_come_from_the_same_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let db = db.to_str().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = run_fleet(db, &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(
            script.contains("import-ssh-config") && script.contains("rerun"),
            "{shell}: {script}"
        );
    }
    // The bash script is valid bash.
    let script = dir.path().join("fleet.bash");
    std::fs::write(&script, run_fleet(db, &["completions", "bash"]).stdout).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked.stderr));

    let out = run_fleet(db, &["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH fleet 1"),
        "{page}"
    );
    assert!(page.contains("Run Minke sessions over SSH"), "{page}");
    assert!(
        page.contains("completions") && page.contains("hosts"),
        "{page}"
    );
    assert!(!std::path::Path::new(db).exists(), "no database is opened");
    // A page for each command, as `man fleet-hosts-check` finds it.
    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).unwrap();
    let out = run_fleet(db, &["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for page in [
        "fleet.1",
        "fleet-run.1",
        "fleet-hosts-check.1",
        "fleet-config.1",
    ] {
        let roff = std::fs::read_to_string(pages.join(page)).unwrap_or_default();
        assert!(roff.contains(".TH fleet"), "{page}: {roff}");
    }
    let check = std::fs::read_to_string(pages.join("fleet-hosts-check.1")).unwrap();
    assert!(check.contains("accept\\-new"), "{check}");
    let out = run_fleet(db, &["man", "--dir", "/nonexistent/man1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/man1"));

    let v = env!("CARGO_PKG_VERSION");
    for flag in ["--version", "-V"] {
        let out = run_fleet(db, &[flag]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("fleet {v} (Minke {v})\n"));
    }

    let out = run_fleet(db, &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("possible values: bash"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sessions_and_models_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    let out = run_fleet(db, &["sessions"]);
    let t = text(&out.stdout);
    for name in [
        "uptime",
        "kernel",
        "disk_usage",
        "checks",
        "inventory",
        "app_state",
        "command",
    ] {
        assert!(
            t.lines().any(|l| l.starts_with(name)),
            "{name} missing in {t}"
        );
    }
    let models = json(&run_fleet(db, &["models", "--json"]));
    let names: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["host", "server", "web_app"]);
    // Listing the app's registrations opens no database, so creates none.
    assert!(!Path::new(db).exists());
}

#[test]
fn stream_and_output_dir() {
    let s = Setup::new(2);
    let out_dir = s.dir.path().join("out");
    let cmd = "cmd=seq 1 50000; echo oops >&2; printf 'no newline'";
    let out = s.fleet_cmd(&[
        "run",
        "command",
        "--model",
        "host",
        "--all",
        "--param",
        cmd,
        "--stream",
        "--output-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let streamed_all = text(&out.stdout);
    let expected: String = (1..=50000).map(|i| format!("{i}\n")).collect::<String>() + "no newline";
    for host in ["web-01", "web-02"] {
        let stdout = std::fs::read_to_string(out_dir.join(format!("{host}.stdout"))).unwrap();
        assert_eq!(stdout, expected, "{host}");
        let stderr = std::fs::read_to_string(out_dir.join(format!("{host}.stderr"))).unwrap();
        assert_eq!(stderr, "oops\n");
        // Streamed lines: every line once, prefixed, in order per host.
        let streamed: Vec<&str> = streamed_all
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("[{host}] ")))
            .collect();
        let want: Vec<String> = expected.lines().map(str::to_owned).collect();
        assert_eq!(streamed, want, "{host}");
        assert!(text(&out.stderr).contains(&format!("[{host}] oops")));
    }
    // A second run replaces the files instead of appending.
    let out = s.run_command("echo again", &["--output-dir", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("web-01.stdout")).unwrap(),
        "again\n"
    );
}

#[test]
fn failed_history_writes_are_exit_1() {
    let s = Setup::new(2);
    {
        use diesel::{Connection as _, RunQueryDsl as _};
        let mut c = diesel::sqlite::SqliteConnection::establish(&s.db).unwrap();
        // The database refuses every command row, as a full disk would.
        diesel::sql_query(
            "CREATE TRIGGER no_room BEFORE INSERT ON minke_commands \
             BEGIN SELECT RAISE(ABORT, 'no room left (test)'); END",
        )
        .execute(&mut c)
        .unwrap();
    }
    let out = s.run_command("echo hi", &["--json"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("2 writes to the history failed") && last.contains("no room left (test)"),
        "{err}"
    );
}

/// A `run` killed with SIGKILL leaves its run `running`; once its host locks have
/// expired, it is closed as `interrupted`, and its hosts are free again.
#[test]
fn a_killed_run_is_closed_as_interrupted() {
    use diesel::{Connection as _, RunQueryDsl as _};
    let s = Setup::new(2);
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args([
            "--database",
            &s.db,
            "run",
            "command",
            "--model",
            "host",
            "--all",
        ])
        .args(["--param", "cmd=sleep 20", "--concurrency", "1", "--json"])
        .env_remove("MINKE_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut c = diesel::sqlite::SqliteConnection::establish(&s.db).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        state: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        reason: Option<String>,
    }
    let sessions = |c: &mut diesel::sqlite::SqliteConnection| -> Vec<(String, Option<String>)> {
        diesel::sql_query("SELECT state, reason FROM minke_sessions WHERE run_id = 1 ORDER BY id")
            .load::<Row>(c)
            .unwrap()
            .into_iter()
            .map(|r| (r.state, r.reason))
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !sessions(&mut c).iter().any(|(st, _)| st == "running") {
        assert!(std::time::Instant::now() < deadline, "no session started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The locks of the killed run live on until their time is up; let it be up.
    diesel::sql_query("UPDATE minke_host_locks SET expires_at = 0")
        .execute(&mut c)
        .unwrap();
    // `history` closes it (so do the next run and the admin server).
    let history = s.fleet_cmd(&["history", "--json"]);
    assert_eq!(history.status.code(), Some(0), "{}", text(&history.stderr));
    let runs = json(&history);
    let first = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 1)
        .unwrap();
    assert_eq!(first["state"], "interrupted", "{first}");
    let mut states = sessions(&mut c);
    states.sort();
    assert_eq!(
        states,
        vec![
            ("canceled".to_owned(), Some("interrupted".to_owned())),
            ("failed".to_owned(), Some("interrupted".to_owned())),
        ]
    );
    // Its hosts are free again.
    let out = s.run_command("echo again", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let again = json(&out);
    assert!(
        again["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] == "success"),
        "{again}"
    );
}

/// `fleet` in `dir` with none of the settings' variables of this process.
fn fleet_in(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fleet"));
    c.current_dir(dir).stdin(std::process::Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MINKE_") {
            c.env_remove(k);
        }
    }
    c
}

/// `config --json` as (key → (value, source)).
fn settings_of(c: &mut Command) -> std::collections::HashMap<String, (String, String)> {
    let out = c.args(["config", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                (
                    r["value"].as_str().unwrap().to_owned(),
                    r["source"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn settings_come_from_the_file_the_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("minke.toml"),
        "database = \"from-file.db\"\n[run]\nconcurrency = 20\ncommand_timeout = \"2m\"\n\
         [connect]\ntimeout = 15\n[admin]\nlisten = \"127.0.0.1:9001\"\n",
    )
    .unwrap();
    // The file in the working directory over the built-in values.
    let s = settings_of(&mut fleet_in(d));
    assert_eq!(
        s["database"],
        ("from-file.db".into(), "file minke.toml".into())
    );
    assert_eq!(
        s["run.concurrency"],
        ("20".into(), "file minke.toml".into())
    );
    assert_eq!(s["run.command_timeout"].0, "2m");
    assert_eq!(s["connect.timeout"].0, "15s");
    assert_eq!(s["admin.listen"].0, "127.0.0.1:9001");
    assert_eq!(s["connect.retries"], ("2".into(), "built-in".into()));
    assert!(!d.join("from-file.db").exists(), "config opens no database");
    // The environment over the file, a flag over both.
    let s = settings_of(
        fleet_in(d)
            .env("MINKE_CONCURRENCY", "30")
            .env("MINKE_DATABASE_URL", "from-env.db"),
    );
    assert_eq!(
        s["run.concurrency"],
        ("30".into(), "env MINKE_CONCURRENCY".into())
    );
    assert_eq!(
        s["database"],
        ("from-env.db".into(), "env MINKE_DATABASE_URL".into())
    );
    let s = settings_of(
        fleet_in(d)
            .env("MINKE_DATABASE_URL", "from-env.db")
            .args(["--database", "from-flag.db"]),
    );
    assert_eq!(
        s["database"],
        ("from-flag.db".into(), "flag --database".into())
    );
    // The file's database is the one commands use.
    let out = fleet_in(d).arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(d.join("from-file.db").exists());
    // A bad value names where it came from.
    let out = fleet_in(d)
        .env("MINKE_CONCURRENCY", "0")
        .args(["run", "kernel", "--model", "server", "--all"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("MINKE_CONCURRENCY must be at least 1"),
        "{}",
        text(&out.stderr)
    );
    // A password in the URL is masked.
    let s = settings_of(fleet_in(d).env(
        "MINKE_DATABASE_URL",
        "postgres://minke:hunter2@127.0.0.1/minke",
    ));
    assert_eq!(s["database"].0, "postgres://minke:***@127.0.0.1/minke");
    let out = fleet_in(d).arg("config").output().unwrap();
    let table = text(&out.stdout);
    assert!(
        table.starts_with("config file: minke.toml\nKEY") && table.contains("run.concurrency"),
        "{table}"
    );

    // Another file by MINKE_CONFIG, and by --config over it.
    std::fs::write(d.join("other.toml"), "[run]\nconcurrency = 5\n").unwrap();
    std::fs::write(d.join("third.toml"), "[run]\nconcurrency = 6\n").unwrap();
    let s = settings_of(fleet_in(d).env("MINKE_CONFIG", "other.toml"));
    assert_eq!(s["run.concurrency"], ("5".into(), "file other.toml".into()));
    assert_eq!(s["database"].1, "built-in", "only one file is read");
    let s = settings_of(
        fleet_in(d)
            .env("MINKE_CONFIG", "other.toml")
            .args(["--config", "third.toml"]),
    );
    assert_eq!(s["run.concurrency"].0, "6");
}

#[test]
fn unknown_keys_and_missing_config_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("minke.toml"),
        "[run]\nconcurrency = 20\nconcurency = 5\n",
    )
    .unwrap();
    for args in [
        &["config"][..],
        &["history"],
        &["run", "kernel", "--model", "server", "--all"],
    ] {
        let out = fleet_in(d).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("minke.toml")
                && err.contains("line 3")
                && err.contains("unknown field `concurency`"),
            "{err}"
        );
    }
    let out = fleet_in(d)
        .args(["--config", "gone.toml", "config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("gone.toml (from --config) does not exist"),
        "{}",
        text(&out.stderr)
    );
    // Completions and the manual page need no settings.
    let out = fleet_in(d).args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn colour_follows_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = fleet_in(d)
        .args(["--color", "always", "--database", "none.db", "show", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\u{1b}["),
        "{}",
        text(&out.stderr)
    );
    for when in ["never", "auto"] {
        let out = fleet_in(d)
            .args(["--color", when, "--database", "none.db", "show", "1"])
            .output()
            .unwrap();
        assert!(
            !text(&out.stderr).contains('\u{1b}'),
            "{when}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("fleet: error: "), "{when}");
    }
}

#[test]
fn serve_listens_where_the_config_file_says() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = common::free_port();
    std::fs::write(
        d.join("minke.toml"),
        format!("database = \"admin.db\"\n[admin]\nlisten = \"127.0.0.1:{port}\"\nbase_path = \"/fleet\"\n"),
    )
    .unwrap();
    let log = std::fs::File::create(d.join("serve.log")).unwrap();
    let mut child = fleet_in(d)
        .arg("serve")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    common::wait_for_port(port, &mut child, "fleet serve");
    let login = common::request(port, "GET", "/fleet/login", &[], b"");
    let root = common::request(port, "GET", "/login", &[], b"");
    common::signal(child.id(), "TERM");
    let _ = child.wait();
    assert_eq!(login.unwrap().status, 200);
    assert_eq!(
        root.unwrap().status,
        404,
        "served under the file's base path"
    );
    let said = std::fs::read_to_string(d.join("serve.log")).unwrap();
    assert!(
        said.contains(&format!("http://127.0.0.1:{port}/fleet/")),
        "{said}"
    );
}
