//! The `fleet` binary under careless and hostile input: host names that try to leave
//! `--output-dir`, signals in the middle of a run, secrets from the environment,
//! escape sequences from hosts, endless files, and small mistakes on the command line.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{Setup, count, fleet, signal, start_api_run, text, wait_api_run, wait_for};

/// A number of seconds for `sleep` unique to this test process, so that the
/// processes of one test can be told apart from others' on this machine.
fn unique_sleep(tag: u32) -> String {
    format!("{}.{tag}7", 300 + std::process::id() % 600)
}

/// How many processes run exactly `sleep SECS`.
fn sleeping(secs: &str) -> usize {
    minke_testkit::find_command(&format!("sleep {secs}")).len()
}

fn rename_host(s: &Setup, from: &str, to: &str) {
    use diesel::RunQueryDsl as _;
    diesel::sql_query("UPDATE minke_hosts SET name = ? WHERE name = ?")
        .bind::<diesel::sql_types::Text, _>(to)
        .bind::<diesel::sql_types::Text, _>(from)
        .execute(&mut s.sql())
        .unwrap();
}

#[test]
fn output_files_never_leave_the_output_dir() {
    let s = Setup::new(2);
    // Names that import refuses may still be in an older database, or come from an
    // app's own host model.
    rename_host(&s, "web-01", "../../escaped");
    rename_host(&s, "web-02", "/abs/path");
    let out_dir = s.dir.path().join("a/b/out");
    let out = s.run_command("echo hi", &["--output-dir", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut files: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["%2E.%2F..%2Fescaped.stdout", "%2Fabs%2Fpath.stdout"],
        "{files:?}"
    );
    assert!(!s.dir.path().join("a/escaped.stdout").exists());
    assert_eq!(
        std::fs::read_to_string(out_dir.join("%2Fabs%2Fpath.stdout")).unwrap(),
        "hi\n"
    );

    // Import refuses such names with a clear error and records nothing.
    let cfg = s.dir.path().join("bad_config");
    std::fs::write(&cfg, "Host ../../x\n  HostName 127.0.0.1\n").unwrap();
    let out = s.fleet_cmd(&["hosts", "import-ssh-config", cfg.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("must not contain `/`"), "{err}");
    std::fs::write(&cfg, "Host -oProxyCommand=x\n  HostName 127.0.0.1\n").unwrap();
    let out = s.fleet_cmd(&["hosts", "import-ssh-config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("a name starting with `-` is read as an option"),
        "{err}"
    );
    assert_eq!(
        count(&mut s.sql(), "SELECT COUNT(*) AS n FROM minke_hosts"),
        2
    );
}

/// `fleet run` started in the background on every host.
fn start_run(s: &Setup, cmd: &str) -> std::process::Child {
    fleet(&s.db)
        .args(["run", "command", "--model", "host", "--all", "--json"])
        .args(["--param", &format!("cmd={cmd}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a child's end, at most `within`; kills it and fails after that.
fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    wait_for("the process to exit", within, || child.try_wait().unwrap())
}

#[test]
fn sigterm_and_sighup_stop_a_run_in_order() {
    for (tag, sig) in [(1, "TERM"), (2, "HUP")] {
        let s = Setup::new(2);
        let secs = unique_sleep(tag);
        let mut child = start_run(&s, &format!("sleep {secs}"));
        // Both remote commands run.
        wait_for("both remote sleeps", common::WAIT, || {
            (sleeping(&secs) == 2).then_some(())
        });
        signal(child.id(), sig);
        let status = wait_exit(&mut child, Duration::from_secs(30));
        let out = child.wait_with_output().unwrap();
        // Stopped sessions make exit code 4, as a Ctrl-C'd run does.
        assert_eq!(status.code(), Some(4), "SIG{sig}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("stopping at once"));
        // The remote processes are gone...
        wait_for("the remote sleeps to end", common::WAIT, || {
            (sleeping(&secs) == 0).then_some(())
        });
        // ...and the history says what happened, with the locks released.
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for session in doc["sessions"].as_array().unwrap() {
            assert_eq!(session["state"], "stopped", "SIG{sig}: {session}");
            let cmds = session["commands"].as_array().unwrap();
            assert_eq!(cmds.len(), 1, "{session}");
            assert_eq!(cmds[0]["command"], format!("sleep {secs}"));
        }
        let mut c = s.sql();
        assert_eq!(
            count(&mut c, "SELECT COUNT(*) AS n FROM minke_host_locks"),
            0
        );
        assert_eq!(
            count(
                &mut c,
                "SELECT COUNT(*) AS n FROM minke_runs WHERE state = 'running'"
            ),
            0
        );
    }
}

#[test]
fn a_sigkilled_run_shows_the_command_that_was_running() {
    let s = Setup::new(1);
    let secs = unique_sleep(3);
    let mut child = start_run(&s, &format!("sleep {secs}"));
    wait_for("the remote sleep", common::WAIT, || {
        (sleeping(&secs) == 1).then_some(())
    });
    // The command's row is written as it starts, not only when it ends.
    wait_for("the command's row", common::WAIT, || {
        (count(&mut s.sql(), "SELECT COUNT(*) AS n FROM minke_commands") == 1).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let out = s.fleet_cmd(&["show", "1", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cmd = &doc["sessions"][0]["commands"][0];
    assert_eq!(cmd["command"], format!("sleep {secs}"), "{doc}");
    assert_eq!(cmd["exit_code"], serde_json::Value::Null);
    let _ = Command::new("pkill")
        .args(["-f", "-x", &format!("sleep {secs}")])
        .status();
}

#[test]
fn sigterm_stops_serve_and_the_runs_it_started() {
    let s = Setup::new(2);
    let token = common::superuser_token(&s.db, "root-admin");
    let serve = common::Serve::start(&s.db, s.dir.path(), &[], &[]);
    let secs = unique_sleep(4);
    start_api_run(&serve, &token, &format!("sleep {secs}"));
    wait_for("both remote sleeps", common::WAIT, || {
        (sleeping(&secs) == 2).then_some(())
    });
    let mut serve = serve;
    let (code, log) = serve.stop();
    assert_eq!(code, Some(0), "{log}");
    wait_for("the remote sleeps to end", common::WAIT, || {
        (sleeping(&secs) == 0).then_some(())
    });
    let mut c = s.sql();
    assert_eq!(
        count(
            &mut c,
            "SELECT COUNT(*) AS n FROM minke_sessions WHERE state = 'stopped'"
        ),
        2,
        "{}",
        serve.log()
    );
    assert_eq!(
        count(&mut c, "SELECT COUNT(*) AS n FROM minke_host_locks"),
        0
    );
    // Nobody is served any more.
    assert!(common::request(serve.port, "GET", "/login", &[], b"").is_err());
}

/// A host for the secrets test: one sshd, as `user`, with one identity file.
fn secret_setup(options: &minke_testkit::ServerOptions) -> Setup {
    Setup::with(minke_testkit::Fleet::start_with(1, options).unwrap())
}

fn point_host_at(s: &Setup, user: &str, key: &std::path::Path) {
    use diesel::RunQueryDsl as _;
    diesel::sql_query("UPDATE minke_hosts SET username = ?, identity_files = ?")
        .bind::<diesel::sql_types::Text, _>(user)
        .bind::<diesel::sql_types::Text, _>(key.to_str().unwrap())
        .execute(&mut s.sql())
        .unwrap();
}

#[test]
fn ssh_secrets_come_from_the_environment() {
    // An encrypted key: its passphrase from MINKE_SSH_PASSPHRASE.
    let s = secret_setup(&minke_testkit::ServerOptions::default());
    let key = s
        .fleet
        .generate_key("locked", Some("correct horse battery"))
        .unwrap();
    s.fleet.authorize(&key).unwrap();
    point_host_at(&s, s.fleet.user(), &key.private);
    let without = s.run_command("echo in", &["--json"]);
    assert_eq!(without.status.code(), Some(4));
    let out = fleet(&s.db)
        .args(["run", "command", "--model", "host", "--all", "--json"])
        .args(["--param", "cmd=echo in"])
        .env("MINKE_SSH_PASSPHRASE", "correct horse battery")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(!text(&out.stdout).contains("correct horse"));

    // A password account: its password from MINKE_SSH_PASSWORD.
    let password = "pw-Tr0ub4dor-&3";
    let user = minke_testkit::PasswordUser::create(password).unwrap();
    let s = secret_setup(&minke_testkit::ServerOptions {
        extra_config: vec![
            "PasswordAuthentication yes".into(),
            "KbdInteractiveAuthentication no".into(),
        ],
        ..minke_testkit::ServerOptions::default()
    });
    point_host_at(&s, user.name(), &s.dir.path().join("no-key-here"));
    let out = fleet(&s.db)
        .args(["run", "command", "--model", "host", "--all", "--json"])
        .args(["--param", "cmd=id -un"])
        .env("MINKE_SSH_PASSWORD", password)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["sessions"][0]["commands"][0]["stdout"],
        format!("{}\n", user.name())
    );
    let shown = s.fleet_cmd(&["show", "1", "--json"]);
    assert!(!text(&shown.stdout).contains(password));

    // `serve` starts its runs with the same secrets.
    let token = common::superuser_token(&s.db, "root-admin");
    let serve = common::Serve::start(
        &s.db,
        s.dir.path(),
        &[],
        &[("MINKE_SSH_PASSWORD", password)],
    );
    let run_id = start_api_run(&serve, &token, "id -un");
    let session = wait_api_run(&serve, &token, run_id)["sessions"][0].clone();
    assert_eq!(session["state"], "completed", "{session}");
    assert_eq!(session["status"], "success", "{session}");
    assert!(!serve.log().contains(password));
}

/// Runs a command under `script`, which gives it a terminal, and returns what the
/// terminal showed (without colour, so that any escape sequence is one from a host).
fn on_a_terminal(s: &Setup, args: &str) -> String {
    on_a_terminal_with(s, args, Some("1"))
}

/// [`on_a_terminal`] with `NO_COLOR` set to this, or unset.
fn on_a_terminal_with(s: &Setup, args: &str, no_color: Option<&str>) -> String {
    let cmdline = format!("{} --database {} {args}", env!("CARGO_BIN_EXE_fleet"), s.db);
    let mut script = Command::new("script");
    match no_color {
        Some(v) => script.env("NO_COLOR", v),
        None => script.env_remove("NO_COLOR"),
    };
    let out = script
        .args(["-qec", &cmdline, "/dev/null"])
        .env_remove("MINKE_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    text(&out.stdout)
}

#[test]
fn escape_sequences_from_hosts_do_not_reach_a_terminal() {
    let s = Setup::new(1);
    rename_host(&s, "web-01", "web\u{1b}]0;owned\u{7}-01");
    let out = s.run_command(r"printf 'a\033[2Jb\n'", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Colour on a terminal marks outcomes, unless NO_COLOR or --color never.
    let coloured = on_a_terminal_with(&s, "show 1", None);
    assert!(coloured.contains("\u{1b}[32msuccess"), "{coloured:?}");
    assert!(
        on_a_terminal_with(&s, "show 1", Some("")).contains("\u{1b}[32m"),
        "an empty NO_COLOR is unset"
    );
    assert!(!on_a_terminal_with(&s, "--color never show 1", None).contains("\u{1b}[32m"));
    let shown = on_a_terminal(&s, "show 1");
    assert!(shown.contains(r"a\x1b[2Jb"), "{shown}");
    assert!(shown.contains(r"web\x1b]0;owned\x07-01"), "{shown}");
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    let listed = on_a_terminal(&s, "hosts list");
    assert!(listed.contains(r"web\x1b]0;owned\x07-01"), "{listed}");
    assert!(!listed.contains('\u{1b}'), "{listed:?}");
    let streamed = on_a_terminal(
        &s,
        r"run command --model host --all --stream --param cmd='printf x\\033[31my'",
    );
    assert!(streamed.contains(r"x\x1b[31my"), "{streamed}");
    assert!(!streamed.contains('\u{1b}'), "{streamed:?}");

    // `--raw`, or output that is not a terminal, keeps the bytes.
    let raw = on_a_terminal(&s, "show 1 --raw");
    assert!(raw.contains("a\u{1b}[2Jb"), "{raw:?}");
    let piped = s.fleet_cmd(&["show", "1"]);
    assert!(text(&piped.stdout).contains("a\u{1b}[2Jb"));
}

#[test]
fn a_forged_log_line_stays_one_line() {
    let s = Setup::new(1);
    let serve = common::Serve::start(&s.db, s.dir.path(), &[], &[]);
    let forged = "nobody\n2026-11-27T00:00:00.000000Z  INFO minke_admin: admin login user=root";
    let huge = "u".repeat(1 << 20);
    for name in [forged, huge.as_str()] {
        // The login form's token and cookies, as a browser gets them.
        let page = common::request(serve.port, "GET", "/login", &[], b"").unwrap();
        let body = text(&page.body);
        let csrf = body
            .split(r#"name="csrf" value=""#)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no csrf field in {body}"))
            .to_owned();
        let cookies: Vec<String> = page
            .head
            .lines()
            .filter_map(|l| l.strip_prefix("set-cookie:"))
            .filter_map(|c| c.trim().split(';').next().map(str::to_owned))
            .collect();
        let cookie = format!("Cookie: {}", cookies.join("; "));
        let form: String =
            form_urlencoded_pairs(&[("username", name), ("password", "wrong"), ("csrf", &csrf)]);
        let answer = common::request(
            serve.port,
            "POST",
            "/login",
            &["Content-Type: application/x-www-form-urlencoded", &cookie],
            form.as_bytes(),
        )
        .unwrap();
        assert_eq!(answer.status, 401, "{}", text(&answer.body));
    }
    // Attempts are logged at info; give the log a moment to be written.
    let log = wait_for("the attempts in the log", common::WAIT, || {
        let log = serve.log();
        log.contains("nobody").then_some(log)
    });
    assert!(
        !log.lines().any(|l| l.starts_with("2026-11-27T00:00:00")),
        "a forged line: {log}"
    );
    assert!(log.lines().all(|l| l.len() < 4096), "an uncapped line");
}

fn form_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn endless_and_huge_configs_are_refused() {
    let s = Setup::new(1);
    let out = s.fleet_cmd(&["hosts", "import-ssh-config", "/dev/zero"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 64 MiB"), "{err}");
    let long = s.dir.path().join("long_line");
    std::fs::write(
        &long,
        format!("Host a\n  HostName {}\n", "x".repeat(100_000)),
    )
    .unwrap();
    let out = s.fleet_cmd(&["hosts", "import-ssh-config", long.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(":2: the line is longer than"), "{err}");
}

#[test]
fn small_mistakes_are_usage_errors() {
    let s = Setup::new(1);
    let usage = |args: &[&str], needle: &str| {
        let out = s.fleet_cmd(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}` in {err}"
        );
    };
    usage(
        &[
            "run", "command", "--model", "host", "--all", "--param", "cmd=a", "--param", "cmd=b",
        ],
        "parameter `cmd`: is given more than once",
    );
    usage(
        &[
            "run",
            "command",
            "--model",
            "host",
            "--all",
            "--param",
            "cmd=a",
            "--command-timeout",
            "0",
        ],
        "--command-timeout must be at least 1 second",
    );
    usage(&["show", "99999"], "no run 99999");
    assert_eq!(
        count(&mut s.sql(), "SELECT COUNT(*) AS n FROM minke_runs"),
        0
    );

    // A reader that goes away early ends the output quietly.
    let out = s.run_command("seq 1 100000", &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    for args in ["show 1 --json", "show 1", "history"] {
        let piped = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{} --database {} {args} | head -c 10 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
                env!("CARGO_BIN_EXE_fleet"),
                s.db
            ))
            .env_remove("MINKE_DATABASE_URL")
            .output()
            .unwrap();
        let err = text(&piped.stderr);
        assert!(err.trim().is_empty(), "{args}: {err}");
        assert_eq!(text(&piped.stdout).trim(), "0", "{args}: exit code");
    }
}

/// Kills a run with SIGKILL while its command runs, and lets its host locks expire.
fn killed_run(s: &Setup, tag: u32) {
    use diesel::RunQueryDsl as _;
    let secs = unique_sleep(tag);
    let mut child = start_run(s, &format!("sleep {secs}"));
    wait_for("the remote sleeps", common::WAIT, || {
        (sleeping(&secs) == 2).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = Command::new("pkill")
        .args(["-f", "-x", &format!("sleep {secs}")])
        .status();
    diesel::sql_query("UPDATE minke_host_locks SET expires_at = 0")
        .execute(&mut s.sql())
        .unwrap();
}

fn run_state(s: &Setup, id: i64) -> String {
    use diesel::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct R {
        #[diesel(sql_type = diesel::sql_types::Text)]
        state: String,
    }
    diesel::sql_query(format!("SELECT state FROM minke_runs WHERE id = {id}"))
        .get_result::<R>(&mut s.sql())
        .unwrap()
        .state
}

#[test]
fn interrupted_runs_are_closed_by_run_show_and_serve() {
    let s = Setup::new(2);
    // `show` closes it.
    killed_run(&s, 5);
    assert_eq!(run_state(&s, 1), "running");
    let out = s.fleet_cmd(&["show", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("interrupted"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(run_state(&s, 1), "interrupted");
    // The next `run` closes it (and gets the hosts).
    killed_run(&s, 6);
    assert_eq!(run_state(&s, 2), "running");
    let out = s.run_command("true", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(run_state(&s, 2), "interrupted");
    // `serve` closes it when it starts.
    killed_run(&s, 7);
    assert_eq!(run_state(&s, 4), "running");
    let _serve = common::Serve::start(&s.db, s.dir.path(), &[], &[]);
    wait_for("serve to close run 4", common::WAIT, || {
        (run_state(&s, 4) == "interrupted").then_some(())
    });
}

#[test]
fn canceled_sessions_make_exit_code_4() {
    let s = Setup::new(1);
    let secs = unique_sleep(8);
    let mut holder = start_run(&s, &format!("sleep {secs}"));
    wait_for("the first run's remote sleep", common::WAIT, || {
        (sleeping(&secs) == 1).then_some(())
    });
    // The host is locked by the first run: the second's session is canceled.
    let out = s.run_command("true", &["--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["sessions"][0]["state"], "canceled");
    assert_eq!(
        doc["sessions"][0]["reason"],
        "host `web-01` is locked by run 1"
    );
    signal(holder.id(), "TERM");
    let status = wait_exit(&mut holder, Duration::from_secs(30));
    assert_eq!(status.code(), Some(4));
}

/// `fleet run --concurrency 1` in the background on every host, sleeping `secs`.
fn start_run_one_at_a_time(s: &Setup, secs: &str) -> std::process::Child {
    fleet(&s.db)
        .args(["run", "command", "--model", "host", "--all", "--json"])
        .args([
            "--concurrency",
            "1",
            "--param",
            &format!("cmd=sleep {secs}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn cancel_stops_a_run_of_another_process() {
    let s = Setup::new(2);
    let secs = unique_sleep(9);
    let mut child = start_run_one_at_a_time(&s, &secs);
    wait_for("the first remote sleep", common::WAIT, || {
        (sleeping(&secs) == 1).then_some(())
    });
    // First: after the current command; the queued session is canceled then.
    let out = s.fleet_cmd(&["cancel", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("asked run 1 to stop after its current commands"),
        "{}",
        text(&out.stdout)
    );
    // The running command goes on meanwhile (for a second: a check that nothing
    // happens), and the run does not end.
    let until = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < until {
        assert_eq!(
            sleeping(&secs),
            1,
            "the first stop must not kill the command"
        );
        assert!(child.try_wait().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then at once: the remote command is killed, and the run ends in order.
    let out = s.fleet_cmd(&["cancel", "1", "--now"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("at once"));
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(4));
    wait_for("the remote sleep to end", common::WAIT, || {
        (sleeping(&secs) == 0).then_some(())
    });
    let doc: serde_json::Value =
        serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap();
    let mut states: Vec<String> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["state"].as_str().unwrap().to_owned())
        .collect();
    states.sort();
    assert_eq!(states, ["canceled", "stopped"], "{doc}");
    // Once it has ended, and for a run that never was.
    let out = s.fleet_cmd(&["cancel", "1"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("run 1 has already ended (canceled)"));
    let out = s.fleet_cmd(&["cancel", "999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no run 999"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_admin_stops_a_run_started_at_the_command_line() {
    let s = Setup::new(1);
    let token = common::superuser_token(&s.db, "root-admin");
    let serve = common::Serve::start(&s.db, s.dir.path(), &[], &[]);
    let secs = unique_sleep(10);
    let mut child = start_run_one_at_a_time(&s, &secs);
    wait_for("the remote sleep", common::WAIT, || {
        (sleeping(&secs) == 1).then_some(())
    });
    let auth = format!("Authorization: Bearer {token}");
    for level in [1, 2] {
        let answer =
            common::request(serve.port, "POST", "/api/runs/1/stop", &[&auth], b"").unwrap();
        assert_eq!(answer.status, 200, "{}", text(&answer.body));
        assert_eq!(answer.json()["level"], level);
    }
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(4));
    wait_for("the remote sleep to end", common::WAIT, || {
        (sleeping(&secs) == 0).then_some(())
    });
    let answer = common::request(serve.port, "POST", "/api/runs/1/stop", &[&auth], b"").unwrap();
    assert_eq!(answer.status, 409, "{}", text(&answer.body));
    assert!(text(&answer.body).contains("already ended"));
}
