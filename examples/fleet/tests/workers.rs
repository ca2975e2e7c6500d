//! Workers on the PostgreSQL queue, as people use them: `fleet worker` processes,
//! `run --submit`, `cancel` from another process, signals, secrets, real sshd.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{Setup, WorkerProc, pg_count, pg_database, pg_texts, text, wait_for};

/// How long a whole queued run may take in these tests.
const RUN_WAIT: Duration = Duration::from_secs(120);

/// The lines of a file the hosts append to (all the test's sshd run as this user).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Submits `command` with `cmd` on `model`'s objects without following; the run id.
fn submit(s: &Setup, model: &str, cmd: &str, env: &[(&str, &str)]) -> i64 {
    let param = format!("cmd={cmd}");
    let out = common::fleet(&s.db)
        .args([
            "run", "command", "--model", model, "--all", "--param", &param,
        ])
        .args(["--submit", "--no-follow"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout).trim().parse().unwrap()
}

/// Waits until run `id` has ended; its state.
fn wait_run(db: &str, id: i64) -> String {
    wait_for("the run to end", RUN_WAIT, || {
        let state = pg_texts(
            db,
            &format!("SELECT state AS t FROM minke_runs WHERE id = {id}"),
        );
        state.into_iter().find(|s| s != "running")
    })
}

/// Two servers on host `web-01`: one work item with two sessions, in order.
fn two_servers_on_one_host(db: &str) {
    common::pg_exec(
        db,
        "INSERT INTO servers (name, host_id, role) \
         SELECT n, (SELECT id FROM minke_hosts WHERE name = 'web-01'), 'app' \
         FROM (VALUES ('s1'), ('s2')) AS v(n)",
    );
}

/// The sessions of a run as `object state status reason`, in order.
fn sessions(db: &str, run: i64) -> Vec<String> {
    pg_texts(
        db,
        &format!(
            "SELECT object_label || ' ' || state || ' ' || COALESCE(status, '-') || ' ' || \
             COALESCE(reason, '-') AS t FROM minke_sessions WHERE run_id = {run} ORDER BY id"
        ),
    )
}

#[test]
fn five_hundred_sessions_over_three_workers_each_run_once() {
    let pg = pg_database("workers500");
    let s = Setup::on(minke_testkit::Fleet::start(25).unwrap(), pg.url());
    // 20 servers on each of the 25 hosts: one run of 500 sessions, 25 work items.
    common::pg_exec(
        pg.url(),
        "INSERT INTO servers (name, host_id, role) \
         SELECT h.name || '-s' || i, h.id, 'app' FROM minke_hosts h, generate_series(1, 20) AS i",
    );
    let log = s.dir.path().join("ran.log");
    let _workers: Vec<WorkerProc> = (1..=3)
        .map(|i| {
            let name = format!("w{i}");
            WorkerProc::start(pg.url(), s.dir.path(), &name, &["--concurrency", "4"], &[])
        })
        .collect();
    // Each session writes a line: its host's port.
    let cmd = format!("echo ${{SSH_CONNECTION##* }} >> {}", log.display());
    let run = submit(&s, "server", &cmd, &[]);
    assert_eq!(wait_run(pg.url(), run), "done");
    let ran = lines(&log);
    assert_eq!(ran.len(), 500, "500 sessions ran, none twice");
    let mut per_host = std::collections::BTreeMap::new();
    for port in &ran {
        *per_host.entry(port).or_insert(0) += 1;
    }
    assert_eq!(per_host.len(), 25);
    assert!(per_host.values().all(|&n| n == 20), "{per_host:?}");
    let n = |sql: &str| pg_count(pg.url(), sql);
    assert_eq!(
        n(
            "SELECT COUNT(*) AS n FROM minke_sessions WHERE state = 'completed' AND status = 'success'"
        ),
        500
    );
    // Each session once: one command each.
    assert_eq!(
        n(
            "SELECT COUNT(*) AS n FROM (SELECT session_id FROM minke_commands GROUP BY session_id HAVING COUNT(*) = 1) AS x"
        ),
        500
    );
    assert_eq!(
        n("SELECT COUNT(*) AS n FROM minke_work_items WHERE state <> 'done'"),
        0
    );
    assert_eq!(n("SELECT COUNT(*) AS n FROM minke_work_items"), 25);
    assert_eq!(
        n("SELECT COUNT(*) AS n FROM minke_host_locks"),
        0,
        "locks released"
    );
    let workers = n("SELECT COUNT(DISTINCT worker) AS n FROM minke_work_items");
    assert!(workers >= 2, "the work was shared: {workers} worker(s)");
}

#[test]
fn a_killed_workers_work_goes_to_another_and_its_running_session_ends_interrupted() {
    let pg = pg_database("workerkill");
    let s = Setup::on(minke_testkit::Fleet::start(1).unwrap(), pg.url());
    two_servers_on_one_host(pg.url());
    let log = s.dir.path().join("ran.log");
    let lease = ["--lease", "3"];
    let a = WorkerProc::start(pg.url(), s.dir.path(), "a", &lease, &[]);
    let cmd = format!(
        "echo start >> {}; sleep 5; echo end >> {}",
        log.display(),
        log.display()
    );
    let run = submit(&s, "server", &cmd, &[]);
    wait_for("the first session to start", common::WAIT, || {
        (lines(&log).len() == 1).then_some(())
    });
    a.signal("KILL");
    drop(a);
    let _b = WorkerProc::start(pg.url(), s.dir.path(), "b", &lease, &[]);
    assert_eq!(wait_run(pg.url(), run), "done");
    let got = sessions(pg.url(), run);
    assert_eq!(
        got,
        ["s1 failed error interrupted", "s2 completed success -"],
        "the killed session is never run again; the one not started runs on b"
    );
    let starts = lines(&log).iter().filter(|l| *l == "start").count();
    assert_eq!(starts, 2, "each session started once: {:?}", lines(&log));
    let n = |sql: &str| pg_count(pg.url(), sql);
    // The interrupted session's command is in the history, without an end.
    assert_eq!(
        n(&format!(
            "SELECT COUNT(*) AS n FROM minke_commands c JOIN minke_sessions s ON s.id = c.session_id \
             WHERE s.run_id = {run} AND s.object_label = 's1' AND c.exit_code IS NULL"
        )),
        1
    );
    assert_eq!(
        n(&format!(
            "SELECT COUNT(*) AS n FROM minke_work_items WHERE run_id = {run} AND state = 'lost' AND worker = 'a'"
        )),
        1
    );
    assert_eq!(
        n("SELECT COUNT(*) AS n FROM minke_host_locks"),
        0,
        "locks released"
    );
}

#[test]
fn sigterm_lets_the_running_command_finish_and_hands_back_the_rest() {
    let pg = pg_database("workerterm");
    let s = Setup::on(minke_testkit::Fleet::start(1).unwrap(), pg.url());
    two_servers_on_one_host(pg.url());
    let log = s.dir.path().join("ran.log");
    let mut a = WorkerProc::start(pg.url(), s.dir.path(), "a", &["--grace", "20"], &[]);
    let cmd = format!(
        "echo start >> {}; sleep 2; echo end >> {}",
        log.display(),
        log.display()
    );
    let run = submit(&s, "server", &cmd, &[]);
    wait_for("the first session to start", common::WAIT, || {
        (lines(&log).len() == 1).then_some(())
    });
    a.signal("TERM");
    let (code, out) = a.wait(common::WAIT);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 hosts done, 1 handed back"), "{out}");
    assert_eq!(
        lines(&log),
        ["start", "end"],
        "the running command finished"
    );
    assert_eq!(
        sessions(pg.url(), run),
        ["s1 completed success -", "s2 initialized - -"],
        "the session not started went back to the queue"
    );
    let _b = WorkerProc::start(pg.url(), s.dir.path(), "b", &[], &[]);
    assert_eq!(wait_run(pg.url(), run), "done");
    assert_eq!(
        sessions(pg.url(), run),
        ["s1 completed success -", "s2 completed success -"]
    );
    assert_eq!(lines(&log), ["start", "end", "start", "end"]);
}

#[test]
fn cancel_from_another_process_stops_a_workers_run() {
    let pg = pg_database("workercancel");
    let s = Setup::on(minke_testkit::Fleet::start(2).unwrap(), pg.url());
    two_servers_on_one_host(pg.url());
    // Queued, no worker yet: canceled at once, nothing runs.
    let queued = submit(&s, "host", "echo never", &[]);
    let out = s.fleet_cmd(&["cancel", &queued.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("before any of its queued work started"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(wait_run(pg.url(), queued), "canceled");
    assert_eq!(
        sessions(pg.url(), queued),
        [
            "web-01 canceled - canceled before it started",
            "web-02 canceled - canceled before it started"
        ]
    );

    let _w = WorkerProc::start(pg.url(), s.dir.path(), "w", &[], &[]);
    // At once: the running commands are killed.
    let slow = submit(&s, "host", "sleep 120", &[]);
    wait_for("both sessions to run", common::WAIT, || {
        (pg_count(pg.url(), &format!("SELECT COUNT(*) AS n FROM minke_sessions WHERE run_id = {slow} AND state = 'running'")) == 2).then_some(())
    });
    let out = s.fleet_cmd(&["cancel", &slow.to_string(), "--now"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(wait_run(pg.url(), slow), "canceled");
    for line in sessions(pg.url(), slow) {
        assert!(line.contains("stopped by request"), "{line}");
    }

    // After the current command: the running session completes, the next is canceled.
    let log = s.dir.path().join("ran.log");
    let cmd = format!(
        "echo start >> {}; sleep 2; echo end >> {}",
        log.display(),
        log.display()
    );
    let soft = submit(&s, "server", &cmd, &[]);
    wait_for("the first session to start", common::WAIT, || {
        (lines(&log).len() == 1).then_some(())
    });
    let out = s.fleet_cmd(&["cancel", &soft.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(wait_run(pg.url(), soft), "canceled");
    assert_eq!(
        sessions(pg.url(), soft),
        [
            "s1 completed success -",
            "s2 canceled - canceled before it started"
        ]
    );
    assert_eq!(lines(&log), ["start", "end"]);
    // A run that ended: exit 0 with a note.
    let out = s.fleet_cmd(&["cancel", &soft.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("has already ended (canceled)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn submit_and_follow_show_the_results_and_exit_codes_of_a_workers_run() {
    let pg = pg_database("workerfollow");
    let s = Setup::on(minke_testkit::Fleet::start(2).unwrap(), pg.url());
    let _w = WorkerProc::start(pg.url(), s.dir.path(), "w", &[], &[]);
    let out = s.run_command("echo hi", &["--submit", "--follow"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert_eq!(table.matches("completed").count(), 2, "{table}");
    assert!(table.contains("history: run"), "{table}");

    let out = s.run_command("echo broken; exit 3", &["--submit", "--follow", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    for s in sessions {
        assert_eq!(s["commands"][0]["exit_code"], 3, "{s}");
        assert!(
            s["commands"][0]["stdout"]
                .as_str()
                .unwrap()
                .contains("broken"),
            "{s}"
        );
    }
}

#[test]
fn workers_and_submit_need_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db").to_string_lossy().into_owned();
    let out = common::run_fleet(&db, &["worker"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("worker needs PostgreSQL"),
        "{}",
        text(&out.stderr)
    );
    let out = common::run_fleet(
        &db,
        &[
            "run", "command", "--model", "host", "--all", "--param", "cmd=true", "--submit",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("run --submit needs PostgreSQL"),
        "{}",
        text(&out.stderr)
    );
}

/// A key as `MINKE_SECRET_KEY` takes it: 32 bytes in hex.
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const OTHER_KEY: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const PASSWORD: &str = "s3cr3t-Pa55word";

#[test]
fn secret_parameters_reach_workers_sealed_and_are_erased_at_the_end() {
    let pg = pg_database("workersecret");
    let s = Setup::on(minke_testkit::Fleet::start(1).unwrap(), pg.url());
    let sudo = |env: &[(&str, &str)]| {
        let password = format!("password={PASSWORD}");
        common::fleet(&s.db)
            .args(["run", "sudo", "--model", "host", "--all"])
            .args([
                "--param",
                "cmd=id -un",
                "--param",
                &password,
                "--submit",
                "--no-follow",
            ])
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    // Without a key: refused before anything is recorded.
    let out = sudo(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("MINKE_SECRET_KEY") && err.contains("password"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD));
    assert_eq!(
        pg_count(pg.url(), "SELECT COUNT(*) AS n FROM minke_runs"),
        0
    );

    let out = sudo(&[("MINKE_SECRET_KEY", KEY)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run: i64 = text(&out.stdout).trim().parse().unwrap();
    let sealed = pg_texts(
        pg.url(),
        &format!("SELECT sealed_params AS t FROM minke_runs WHERE id = {run}"),
    );
    assert_eq!(sealed.len(), 1);
    assert!(!sealed[0].contains(PASSWORD) && !sealed[0].is_empty());

    // A worker with another key cannot open it: the session fails, saying so.
    let mut wrong = WorkerProc::start(
        pg.url(),
        s.dir.path(),
        "wrong",
        &[],
        &[("MINKE_SECRET_KEY", OTHER_KEY)],
    );
    assert_eq!(wait_run(pg.url(), run), "done");
    let got = sessions(pg.url(), run);
    assert_eq!(got, ["web-01 failed error setup"]);
    wrong.signal("TERM");
    let (_, log) = wrong.wait(common::WAIT);
    assert!(log.contains("cannot be unsealed"), "{log}");

    // With the key it was sealed with: it runs.
    let out = sudo(&[("MINKE_SECRET_KEY", KEY)]);
    let run: i64 = text(&out.stdout).trim().parse().unwrap();
    let mut right = WorkerProc::start(
        pg.url(),
        s.dir.path(),
        "right",
        &[],
        &[("MINKE_SECRET_KEY", KEY)],
    );
    assert_eq!(wait_run(pg.url(), run), "done");
    assert_eq!(sessions(pg.url(), run), ["web-01 completed success -"]);
    let stdout = pg_texts(
        pg.url(),
        &format!(
            "SELECT convert_from(c.stdout, 'UTF8') AS t FROM minke_commands c JOIN minke_sessions s ON s.id = c.session_id WHERE s.run_id = {run}"
        ),
    );
    assert_eq!(stdout.len(), 1);
    assert!(!stdout[0].trim().is_empty(), "sudo ran: {stdout:?}");
    right.signal("TERM");
    let (_, log) = right.wait(common::WAIT);
    // Erased at the end; never in clear anywhere.
    assert_eq!(
        pg_count(
            pg.url(),
            "SELECT COUNT(*) AS n FROM minke_runs WHERE sealed_params IS NOT NULL"
        ),
        0
    );
    let everywhere = format!(
        "SELECT COUNT(*) AS n FROM (SELECT params AS x FROM minke_runs UNION ALL \
         SELECT command FROM minke_commands UNION ALL SELECT body FROM minke_messages UNION ALL \
         SELECT convert_from(stdout, 'UTF8') FROM minke_commands) AS a WHERE x LIKE '%{PASSWORD}%'"
    );
    assert_eq!(pg_count(pg.url(), &everywhere), 0);
    assert!(!log.contains(PASSWORD));
}

/// Reads a run's live event stream from `serve` to its end (`run_finished`, or the
/// stream closing): each event's name and data, in order.
fn read_events(port: u16, token: &str, run_id: i64) -> Vec<(String, String)> {
    use std::io::{BufRead as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(RUN_WAIT)).unwrap();
    write!(
        s,
        "GET /api/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut events = Vec::new();
    let mut name = String::new();
    for line in std::io::BufReader::new(s).lines() {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_owned();
        } else if let Some(d) = line.strip_prefix("data: ") {
            events.push((name.clone(), d.to_owned()));
            if name == "run_finished" {
                break;
            }
        }
    }
    events
}

#[test]
fn the_admin_queues_its_runs_and_follows_a_workers_run_live() {
    let pg = pg_database("workerlive");
    let s = Setup::on(minke_testkit::Fleet::start(1).unwrap(), pg.url());
    two_servers_on_one_host(pg.url());
    let serve = common::Serve::start(pg.url(), s.dir.path(), &["--submit"], &[]);
    let token = common::superuser_token(pg.url(), "ann");
    let _w = WorkerProc::start(pg.url(), s.dir.path(), "w", &[], &[]);
    let body = serde_json::json!({
        "session": "command", "model": "server", "all": true, "params": {"cmd": "sleep 2; echo done"},
    });
    let auth = format!("Authorization: Bearer {token}");
    let answer = common::request(
        serve.port,
        "POST",
        "/api/runs",
        &[&auth, "Content-Type: application/json"],
        body.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(answer.status, 201, "{}", text(&answer.body));
    let run = answer.json()["run_id"].as_i64().unwrap();
    let events = read_events(serve.port, &token, run);
    assert_eq!(
        events.last().map(|e| e.0.as_str()),
        Some("run_finished"),
        "{events:?}"
    );
    // Every snapshot of the run, as the states of its two sessions.
    let states: Vec<Vec<String>> = events
        .iter()
        .filter(|(name, _)| name == "snapshot")
        .map(|(_, data)| {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            v["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["state"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    // Told by the worker's announcements (not a poll of the database every 30 s):
    // the moment between the two sessions, and the end, each in time.
    assert!(
        states.contains(&vec!["completed".to_owned(), "running".to_owned()]),
        "{states:?}"
    );
    assert_eq!(
        states.last().unwrap(),
        &vec!["completed".to_owned(), "completed".to_owned()]
    );
    // It was the worker's, through the queue.
    assert_eq!(
        pg_texts(
            pg.url(),
            &format!("SELECT worker AS t FROM minke_work_items WHERE run_id = {run}")
        ),
        ["w"]
    );
}

/// Servers `s1`, `s2` on one host of a private PostgreSQL cluster, a worker with
/// `lease` seconds, and `command` started on both: `echo start; sleep SLEEP; echo
/// end` into a log. Returns once `s1` has started.
struct Outage {
    cluster: minke_testkit::PgCluster,
    setup: Setup,
    worker: WorkerProc,
    log: std::path::PathBuf,
    run: i64,
}

impl Outage {
    fn start(lease: &str, sleep: u32) -> Outage {
        let cluster = minke_testkit::PgCluster::start().unwrap();
        let url = cluster.url();
        let setup = Setup::on(minke_testkit::Fleet::start(1).unwrap(), &url);
        two_servers_on_one_host(&url);
        let worker = WorkerProc::start(&url, setup.dir.path(), "w", &["--lease", lease], &[]);
        let log = setup.dir.path().join("ran.log");
        let cmd = format!(
            "echo start >> {log}; sleep {sleep}; echo end >> {log}",
            log = log.display()
        );
        let run = submit(&setup, "server", &cmd, &[]);
        wait_for("the first session to start", common::WAIT, || {
            (lines(&log).len() == 1).then_some(())
        });
        Outage {
            cluster,
            setup,
            worker,
            log,
            run,
        }
    }

    /// Stops the database for `secs` seconds, then starts it again.
    fn cut(&self, secs: u64) {
        self.cluster.stop().unwrap();
        std::thread::sleep(Duration::from_secs(secs));
        self.cluster.start_again().unwrap();
    }
}

#[test]
fn a_database_outage_shorter_than_the_lease_loses_nothing() {
    let o = Outage::start("15", 5);
    o.cut(3);
    let url = o.cluster.url();
    assert_eq!(wait_run(&url, o.run), "done", "{}", o.worker.log());
    assert_eq!(
        sessions(&url, o.run),
        ["s1 completed success -", "s2 completed success -"],
        "{}",
        o.worker.log()
    );
    assert_eq!(lines(&o.log), ["start", "end", "start", "end"]);
    // Every command is in the history, once.
    assert_eq!(
        pg_count(
            &url,
            &format!(
                "SELECT COUNT(*) AS n FROM minke_commands c JOIN minke_sessions s ON s.id = c.session_id \
             WHERE s.run_id = {} AND c.exit_code = 0",
                o.run
            )
        ),
        2
    );
    assert!(
        o.worker.log().contains("out of reach"),
        "{}",
        o.worker.log()
    );
    drop(o.setup);
}

#[test]
fn a_database_outage_longer_than_the_lease_stops_the_commands_before_it_ends() {
    let o = Outage::start("3", 6);
    // Longer than the lease and than the command: a worker that kept it going
    // would write `end` meanwhile.
    o.cut(9);
    let url = o.cluster.url();
    assert_eq!(wait_run(&url, o.run), "done", "{}", o.worker.log());
    assert_eq!(
        sessions(&url, o.run),
        ["s1 failed error interrupted", "s2 completed success -"],
        "{}",
        o.worker.log()
    );
    // s1 was stopped before the lease ended and never run again; s2 ran once after.
    assert_eq!(
        lines(&o.log),
        ["start", "start", "end"],
        "{}",
        o.worker.log()
    );
    assert!(
        o.worker
            .log()
            .contains("stopping the item's commands before its lease ends"),
        "{}",
        o.worker.log()
    );
    // What s1's command recorded before it was stopped is kept.
    assert_eq!(
        pg_count(
            &url,
            &format!(
                "SELECT COUNT(*) AS n FROM minke_commands c JOIN minke_sessions s ON s.id = c.session_id \
             WHERE s.run_id = {} AND s.object_label = 's1'",
                o.run
            )
        ),
        1
    );
    drop(o.setup);
}

#[test]
fn a_worker_logs_in_once_per_host_over_two_runs_and_again_after_a_host_changes() {
    let pg = pg_database("workerwarm");
    let s = Setup::on(minke_testkit::Fleet::start(2).unwrap(), pg.url());
    let _w = WorkerProc::start(pg.url(), s.dir.path(), "w", &[], &[]);
    let logins = || -> Vec<usize> { s.fleet.servers().iter().map(|x| x.login_count()).collect() };
    for _ in 0..2 {
        let run = submit(&s, "host", "uname -n", &[]);
        assert_eq!(wait_run(pg.url(), run), "done");
    }
    assert_eq!(
        logins(),
        [1, 1],
        "the second run reused the first run's connections"
    );
    // Changed by another process: the worker's kept connection to it is not used.
    common::pg_exec(
        pg.url(),
        "UPDATE minke_hosts SET host_key_policy = 'accept-new' WHERE name = 'web-01'",
    );
    let run = submit(&s, "host", "uname -n", &[]);
    assert_eq!(wait_run(pg.url(), run), "done");
    assert_eq!(
        sessions(pg.url(), run),
        ["web-01 completed success -", "web-02 completed success -"]
    );
    assert_eq!(logins(), [2, 1]);
}

#[test]
fn a_submitted_runs_concurrency_holds_over_all_workers() {
    let pg = pg_database("workerconc");
    let s = Setup::on(minke_testkit::Fleet::start(3).unwrap(), pg.url());
    let _a = WorkerProc::start(pg.url(), s.dir.path(), "a", &[], &[]);
    let _b = WorkerProc::start(pg.url(), s.dir.path(), "b", &[], &[]);
    let log = s.dir.path().join("ran.log");
    let cmd = format!(
        "echo start >> {log}; sleep 1; echo end >> {log}",
        log = log.display()
    );
    let param = format!("cmd={cmd}");
    let out = s.fleet_cmd(&[
        "run",
        "command",
        "--model",
        "host",
        "--all",
        "--param",
        &param,
        "--submit",
        "--follow",
        "--concurrency",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // One host at a time, whichever worker: never two starts in a row.
    assert_eq!(
        lines(&log),
        ["start", "end", "start", "end", "start", "end"]
    );
}

#[test]
fn a_followed_runs_output_streams_and_a_new_secret_key_each_time() {
    let pg = pg_database("workerstream");
    let s = Setup::on(minke_testkit::Fleet::start(2).unwrap(), pg.url());
    let _w = WorkerProc::start(pg.url(), s.dir.path(), "w", &[], &[]);
    let dir = s.dir.path().join("out");
    let out = s.run_command(
        "echo out-line; echo err-line >&2",
        &[
            "--submit",
            "--follow",
            "--stream",
            "--output-dir",
            dir.to_str().unwrap(),
        ],
    );
    // Output on stderr makes a warning (exit 3), as in a run in this process.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[web-01] out-line") && stdout.contains("[web-02] out-line"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("[web-01] err-line"),
        "{}",
        text(&out.stderr)
    );
    for host in ["web-01", "web-02"] {
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("{host}.stdout"))).unwrap(),
            "out-line\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("{host}.stderr"))).unwrap(),
            "err-line\n"
        );
    }
    // Without following there is nothing to stream into: said, nothing queued.
    let out = s.run_command("true", &["--submit", "--no-follow", "--stream"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("add --follow"),
        "{}",
        text(&out.stderr)
    );

    let keys: Vec<String> = (0..2)
        .map(|_| {
            let out = common::run_fleet(&s.db, &["secret-key"]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            text(&out.stdout).trim().to_owned()
        })
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert!(
        keys.iter()
            .all(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit())),
        "{keys:?}"
    );
}

#[test]
fn runs_in_process_on_postgresql_end_cleanly_and_are_announced() {
    let pg = pg_database("inprocpg");
    let s = Setup::on(minke_testkit::Fleet::start(2).unwrap(), pg.url());
    let url = minke::store::DatabaseUrl::parse(pg.url()).unwrap();
    let mut listener = minke::store::Listener::open(&url, &[minke::store::RUN_CHANNEL]).unwrap();
    // An announcement that comes after the process closed its store is no lost
    // history: every run exits 0.
    for _ in 0..10 {
        let out = s.run_command("true", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let mut heard = BTreeSet::new();
    let deadline = std::time::Instant::now() + common::WAIT;
    while heard.len() < 10 && std::time::Instant::now() < deadline {
        for n in listener.wait(Duration::from_millis(200)).unwrap() {
            heard.insert(n.payload);
        }
    }
    let want: BTreeSet<String> = (1..=10).map(|i: i64| i.to_string()).collect();
    assert_eq!(heard, want, "each run's end was announced");
}
