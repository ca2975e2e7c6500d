//! `fleet serve` keeps each host's SSH connection for the next run (unless
//! `--keep-connections 0`); `fleet run` closes its connections when it ends.
#![allow(clippy::unwrap_used)]

mod common;
use common::{Serve, Setup, text};

/// Starts `command` on every host through serve's API and waits until the run ends
/// with every session a success.
fn api_run(serve: &Serve, token: &str) {
    let run_id = common::start_api_run(serve, token, "uname -n");
    let detail = common::wait_api_run(serve, token, run_id);
    let sessions = detail["sessions"].as_array().unwrap();
    assert!(
        sessions.iter().all(|s| s["status"] == "success"),
        "{detail}"
    );
}

fn logins(s: &Setup) -> Vec<usize> {
    s.fleet.servers().iter().map(|x| x.login_count()).collect()
}

#[test]
fn serve_logs_in_once_per_host_over_two_runs() {
    let s = Setup::new(2);
    let token = common::superuser_token(&s.db, "root-admin");
    let serve = Serve::start(&s.db, s.dir.path(), &[], &[]);
    api_run(&serve, &token);
    api_run(&serve, &token);
    assert_eq!(logins(&s), [1, 1], "{}", serve.log());
}

#[test]
fn serve_with_keep_connections_0_and_run_log_in_every_time() {
    let s = Setup::new(2);
    let token = common::superuser_token(&s.db, "root-admin");
    let serve = Serve::start(&s.db, s.dir.path(), &["--keep-connections", "0"], &[]);
    api_run(&serve, &token);
    api_run(&serve, &token);
    assert_eq!(logins(&s), [2, 2], "{}", serve.log());
    drop(serve);
    for _ in 0..2 {
        let out = s.run_command("true", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(logins(&s), [4, 4]);
}
