//! `hosts check`: a fresh connection to each selected host, reported as a table (or
//! one JSON document) and recorded in the history by the engine
//! ([`Engine::check_hosts`]).

use std::time::Duration;

use clap::Args;
use minke_core::Status;
use minke_runtime::{CHECK_SESSION, CheckReport, CheckRequest, Engine, HostCheck};
use minke_store::Query;
use serde::Serialize;

use crate::CliError;
use crate::audit::AuditedRun;
use crate::color::Paint;
use crate::exit;
use crate::output;
use crate::term::Shown;

/// How to check, beside which hosts.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// Learn the key of a host that has none on record into its known_hosts file
    /// (as policy accept-new does); without it nothing is written there.
    #[arg(long)]
    accept_new: bool,
    /// Hosts checked at once [default: the engine's concurrency].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: Option<u64>,
    /// Time limit in seconds of each connect and handshake, and again of its login
    /// [default: the engine's connect timeout].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

impl CheckArgs {
    /// The engine's request for the hosts `query` selects.
    fn request(&self, query: Query, user: &str) -> CheckRequest {
        let mut req = CheckRequest::new(query, user).accept_new(self.accept_new);
        if let Some(n) = self.concurrency {
            req = req.concurrency(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(secs) = self.timeout {
            req = req.connect_timeout(Duration::from_secs(secs));
        }
        req
    }
}

/// Checks the hosts `query` selects, prints how each went and records the audit
/// entry; exit 0 when every host checked was reached, 4 otherwise.
pub(crate) async fn check(
    engine: &Engine,
    query: Query,
    args: CheckArgs,
    user: String,
    raw: bool,
) -> Result<u8, CliError> {
    let started = AuditedRun::new(&user, CHECK_SESSION, engine.host_model(), &query);
    let report = engine.check_hosts(args.request(query, &user)).await?;
    started
        .record(engine, report.run_id, report.hosts.len())
        .await?;
    engine.store().flush().await?;
    if args.json {
        output::print_json(&document(&report))?;
    } else {
        print_table(&report, Shown::stdout(raw))?;
        output::say(format_args!("{}", summary(&report)))?;
        output::say(format_args!(
            "history: run {id} in {} (`show {id}` for details)",
            engine.store().url().redacted(),
            id = report.run_id
        ))?;
    }
    Ok(if report.failed() == 0 {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

/// `N ok, M failed` (and `, K disabled` when some were not checked).
fn summary(report: &CheckReport) -> String {
    let mut line = format!("{} ok, {} failed", report.ok(), report.failed());
    if report.skipped() > 0 {
        line.push_str(&format!(", {} disabled", report.skipped()));
    }
    line
}

/// The handshake time as the table shows it: `12 ms`, or `-`.
fn time(h: &HostCheck) -> String {
    h.handshake_ms()
        .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"))
}

/// The table: host, result (coloured), time and detail, one host a line.
fn print_table(report: &CheckReport, shown: Shown) -> Result<(), CliError> {
    let mut rows = vec![
        ["HOST", "RESULT", "TIME", "DETAIL"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for h in &report.hosts {
        rows.push(vec![
            shown.text(&h.host).into_owned(),
            h.outcome.words().to_owned(),
            time(h),
            shown.text(h.detail.as_deref().unwrap_or("")).into_owned(),
        ]);
    }
    let paint = Paint::stdout();
    output::printed(output::table(&rows, &|row, col, text| match (row, col) {
        (1.., 1) => {
            let outcome = report.hosts[row - 1].outcome;
            let status = if outcome.is_ok() {
                Some(Status::Success)
            } else if outcome.is_failure() {
                Some(Status::Error)
            } else {
                None
            };
            paint.status(text, status)
        }
        _ => text.to_owned(),
    }))
}

/// One host in the JSON document; the field names are part of the interface.
#[derive(Serialize)]
struct HostJson<'a> {
    host: &'a str,
    address: &'a str,
    port: u16,
    result: minke_runtime::CheckOutcome,
    handshake_ms: Option<u64>,
    fingerprint: Option<&'a str>,
    known_fingerprint: Option<&'a str>,
    detail: Option<&'a str>,
    session_id: minke_core::SessionId,
}

/// The JSON document: the run's id, the counts and every host.
fn document(report: &CheckReport) -> serde_json::Value {
    let hosts: Vec<HostJson<'_>> = report
        .hosts
        .iter()
        .map(|h| HostJson {
            host: &h.host,
            address: &h.address,
            port: h.port,
            result: h.outcome,
            handshake_ms: h.handshake_ms(),
            fingerprint: h.fingerprint.as_deref(),
            known_fingerprint: h.known_fingerprint.as_deref(),
            detail: h.detail.as_deref(),
            session_id: h.session_id,
        })
        .collect();
    serde_json::json!({
        "run_id": report.run_id,
        "ok": report.ok(),
        "failed": report.failed(),
        "disabled": report.skipped(),
        "hosts": hosts,
    })
}
