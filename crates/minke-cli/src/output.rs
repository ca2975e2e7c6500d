//! What the commands print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use minke_core::MinkeModel as _;
use minke_core::{MessageBody, RunId, State, Status};
use minke_runtime::{Engine, RunSummary};
use minke_store::Query;
use serde_json::json;

use crate::CliError;
use crate::color::Paint;
use crate::exit;
use crate::term::Shown;

/// The end of printing: a reader that went away (`| head`) ends it quietly, as
/// `git` and `ripgrep` do; other write errors are errors.
pub(crate) fn printed(result: std::io::Result<()>) -> Result<(), CliError> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Internal(format!("cannot write the output: {e}"))),
        Ok(()) => Ok(()),
    }
}

/// Prints one line of Minke's own on standard output.
pub(crate) fn say(line: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    printed(writeln!(std::io::stdout(), "{line}"))
}

pub(crate) fn print_json(v: &serde_json::Value) -> Result<u8, CliError> {
    let mut out = std::io::stdout().lock();
    printed(
        serde_json::to_writer_pretty(&mut out, v)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush()),
    )?;
    Ok(exit::SUCCESS)
}

fn print_table(rows: &[Vec<String>]) -> Result<(), CliError> {
    printed(table(rows, &|_, _, text| text.to_owned()))
}

/// Prints rows as columns; `paint(row, column, text)` may colour a cell (the
/// padding is added after, on the plain text's width).
pub(crate) fn table(
    rows: &[Vec<String>],
    paint: &dyn Fn(usize, usize, &str) -> String,
) -> std::io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for (n, r) in rows.iter().enumerate() {
        let last = r.len().saturating_sub(1);
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = if i == last {
                    0
                } else {
                    widths[i] - c.chars().count()
                };
                format!("{}{}", paint(n, i, c), " ".repeat(pad))
            })
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    out.flush()
}

/// `config`: each setting, its value and where it came from.
pub(crate) fn settings(s: &crate::settings::Settings, json: bool) -> Result<u8, CliError> {
    let file = s.file.path().map(|p| p.display().to_string());
    if json {
        return print_json(&json!({ "file": file, "settings": s.rows() }));
    }
    let mut rows = vec![vec![
        "KEY".to_owned(),
        "VALUE".into(),
        "SOURCE".into(),
        "ENV".into(),
    ]];
    for r in s.rows() {
        rows.push(vec![r.key.into(), r.value, r.source, r.env.into()]);
    }
    say(format_args!(
        "config file: {}",
        file.as_deref().unwrap_or("none")
    ))?;
    print_table(&rows)?;
    Ok(exit::SUCCESS)
}

use minke_core::time::format_utc as time;

pub(crate) fn sessions(engine: &Engine, json: bool) -> Result<u8, CliError> {
    let metas: Vec<_> = engine.sessions().iter().map(|s| &s.meta).collect();
    if json {
        return print_json(
            &serde_json::to_value(&metas).map_err(|e| CliError::Internal(e.to_string()))?,
        );
    }
    let mut rows = vec![vec![
        "SESSION".into(),
        "WORKS ON".into(),
        "PARAMETERS".into(),
        "DESCRIPTION".into(),
    ]];
    for m in metas {
        let params: Vec<String> = m
            .params
            .iter()
            .map(|p| {
                if p.required {
                    p.name.to_owned()
                } else {
                    format!("[{}]", p.name)
                }
            })
            .collect();
        rows.push(vec![
            m.name.into(),
            m.work_on.join(","),
            params.join(" "),
            m.verbose_name.clone(),
        ]);
    }
    print_table(&rows)?;
    Ok(exit::SUCCESS)
}

pub(crate) fn models(engine: &Engine, json: bool) -> Result<u8, CliError> {
    let metas: Vec<_> = engine.models().iter().map(|m| &m.meta).collect();
    if json {
        return print_json(
            &serde_json::to_value(&metas).map_err(|e| CliError::Internal(e.to_string()))?,
        );
    }
    let mut rows = vec![vec!["MODEL".into(), "FILTERABLE".into(), "SEARCH".into()]];
    for m in metas {
        rows.push(vec![m.name.into(), m.filter.join(","), m.search.join(",")]);
    }
    print_table(&rows)?;
    Ok(exit::SUCCESS)
}

pub(crate) async fn items(
    engine: &Engine,
    model: &str,
    query: Query,
    json: bool,
    shown: Shown,
) -> Result<u8, CliError> {
    let entry = engine.models().get(model)?.clone();
    let meta = entry.meta.clone();
    let objects = engine
        .store()
        .blocking(move |c| entry.load(c, &query))
        .await
        .map_err(CliError::from_query)?;
    if json {
        let list: Vec<serde_json::Value> = objects
            .iter()
            .map(|o| {
                let fields: serde_json::Map<String, serde_json::Value> = meta
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            f.name.to_owned(),
                            serde_json::to_value(o.field(f.name)).unwrap_or_default(),
                        )
                    })
                    .collect();
                json!({"id": o.id(), "label": o.label(), "fields": fields})
            })
            .collect();
        return print_json(&json!(list));
    }
    let mut out = std::io::stdout().lock();
    let lines = objects.iter().try_for_each(|o| {
        let mut rest: Vec<String> = meta
            .list
            .iter()
            .filter(|f| **f != meta.label)
            .map(|f| {
                format!(
                    "{f}={}",
                    o.field(f).map(|v| v.to_string()).unwrap_or_default()
                )
            })
            .collect();
        if model == minke_store::HostRecord::NAME {
            rest.extend(host_details(&**o));
        }
        let line = format!("{}\t{}", o.label(), rest.join(" "));
        writeln!(out, "{}", shown.text(&line))
    });
    printed(lines.and_then(|()| out.flush()))?;
    Ok(exit::SUCCESS)
}

/// A host's SSH settings beyond the listed fields, those that are set: identity
/// files, jump host, proxy command, agent forwarding... (lists as `a,b`).
fn host_details(o: &dyn minke_core::ModelObject) -> Vec<String> {
    use minke_core::Value;
    const DETAILS: [&str; 10] = [
        "identity_files",
        "certificate_files",
        "jump_host_id",
        "jump_only",
        "proxy_command",
        "forward_agent",
        "environment",
        "become_user",
        "keepalive_interval",
        "keepalive_count_max",
    ];
    DETAILS
        .iter()
        .filter_map(|f| {
            let shown = match o.field(f)? {
                Value::Null | Value::Bool(false) | Value::Int(0) => return None,
                Value::Int(3) if *f == "keepalive_count_max" => return None,
                Value::Text(t) if t.is_empty() => return None,
                Value::Text(t) => t.replace('\n', ","),
                v => v.to_string(),
            };
            Some(format!("{f}={shown}"))
        })
        .collect()
}

pub(crate) async fn history(
    engine: &Engine,
    filter: minke_store::RunFilter,
    json: bool,
    shown: Shown,
) -> Result<u8, CliError> {
    let (runs, _) = engine
        .store()
        .blocking(move |c| minke_store::find_runs(c, &filter))
        .await?;
    if json {
        return print_json(
            &serde_json::to_value(&runs).map_err(|e| CliError::Internal(e.to_string()))?,
        );
    }
    let mut rows = vec![vec![
        "RUN".into(),
        "STARTED".into(),
        "USER".into(),
        "SESSION".into(),
        "MODEL".into(),
        "STATE".into(),
    ]];
    for r in runs {
        rows.push(vec![
            r.id.to_string(),
            time(r.created_at),
            shown.text(&r.username).into_owned(),
            r.session,
            r.model,
            r.state.to_string(),
        ]);
    }
    print_table(&rows)?;
    Ok(exit::SUCCESS)
}

/// Prints the audit log's entries that `filter` selects, newest first.
pub(crate) async fn audit(
    engine: &Engine,
    filter: minke_store::AuditFilter,
    json: bool,
    shown: Shown,
) -> Result<u8, CliError> {
    let entries = engine
        .store()
        .blocking(move |c| minke_store::find_audit(c, &filter))
        .await?;
    if json {
        return print_json(
            &serde_json::to_value(&entries).map_err(|e| CliError::Internal(e.to_string()))?,
        );
    }
    let mut rows = vec![vec![
        "ID".into(),
        "WHEN".into(),
        "WHO".into(),
        "VIA".into(),
        "WHAT".into(),
        "ON".into(),
        "DETAIL".into(),
    ]];
    for e in entries {
        rows.push(vec![
            e.id.to_string(),
            time(e.at),
            shown.text(&e.actor).into_owned(),
            shown.text(&e.door()).into_owned(),
            e.what(),
            shown.text(&e.target).into_owned(),
            shown.text(&e.detail).into_owned(),
        ]);
    }
    print_table(&rows)?;
    Ok(exit::SUCCESS)
}

fn message_json(m: &minke_store::MessageRow) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_str(&m.body).unwrap_or(serde_json::Value::Null);
    json!({"level": m.level, "body": body})
}

/// A message that repeats the result of one of the session's commands (as
/// `Message::command` makes), as a reference to it: its output is shown once, with
/// the command.
fn repeated_command(
    m: &minke_store::MessageRow,
    cmds: &[minke_store::CommandRow],
) -> Option<String> {
    let Ok(MessageBody::Command {
        command,
        exit_code,
        exit_signal,
        ..
    }) = serde_json::from_str::<MessageBody>(&m.body)
    else {
        return None;
    };
    let seq = cmds.iter().position(|c| {
        c.command == command && c.exit_code == exit_code && c.exit_signal == exit_signal
    })?;
    let how = exit_text(exit_code, exit_signal.as_deref());
    Some(format!("`{command}` ({how}; command {} above)", seq + 1))
}

/// How a command ended, in words: `exit 2`, `signal KILL` or `no exit status`.
fn exit_text(code: Option<i32>, signal: Option<&str>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "no exit status".into(),
    }
}

fn message_text(m: &minke_store::MessageRow) -> String {
    match serde_json::from_str::<MessageBody>(&m.body) {
        Ok(body) => minke_core::Message {
            level: m.level.parse().unwrap_or(minke_core::MessageLevel::Info),
            body,
        }
        .to_plain_text(),
        Err(_) => m.body.clone(),
    }
}

fn command_json(c: &minke_store::CommandRow) -> serde_json::Value {
    json!({
        "command": c.command,
        "exit_code": c.exit_code,
        "exit_signal": c.exit_signal,
        "stdout": String::from_utf8_lossy(&c.stdout),
        "stderr": String::from_utf8_lossy(&c.stderr),
        "stdout_truncated": c.stdout_truncated,
        "stderr_truncated": c.stderr_truncated,
        "stdout_bytes": c.stdout_len,
        "stderr_bytes": c.stderr_len,
        "duration_ms": c.duration_us as f64 / 1000.0,
    })
}

async fn run_document(engine: &Engine, run_id: RunId) -> Result<serde_json::Value, CliError> {
    let minke_store::RunDetail { run, sessions } = engine.run_detail(run_id).await?;
    let list: Vec<serde_json::Value> = sessions
        .iter()
        .map(|d| {
            let (s, msgs, cmds) = (&d.session, &d.messages, &d.commands);
            json!({
                "session_id": s.id,
                "object": s.object_label,
                "object_id": s.object_id,
                "host": s.host_name,
                "state": s.state,
                "status": s.status,
                "reason": s.reason,
                "messages": msgs.iter().map(message_json).collect::<Vec<_>>(),
                "commands": cmds.iter().map(command_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let params: serde_json::Value = serde_json::from_str(&run.params).unwrap_or_default();
    Ok(json!({
        "run_id": run.id,
        "session": run.session,
        "model": run.model,
        "user": run.username,
        "params": params,
        "state": run.state,
        "started_at_us": run.created_at,
        "finished_at_us": run.finished_at,
        "sessions": list,
    }))
}

pub(crate) async fn run_json(engine: &Engine, summary: &RunSummary) -> Result<u8, CliError> {
    print_json(&run_document(engine, summary.run_id).await?)
}

pub(crate) fn run_table(summary: &RunSummary, shown: Shown) -> Result<(), CliError> {
    let mut rows = vec![vec![
        "OBJECT".into(),
        "HOST".into(),
        "STATE".into(),
        "STATUS".into(),
        "REASON".into(),
    ]];
    for s in &summary.sessions {
        rows.push(vec![
            shown.text(&s.object).into_owned(),
            shown
                .text(s.host.as_deref().unwrap_or_default())
                .into_owned(),
            s.state.to_string(),
            s.status.map(|x| x.to_string()).unwrap_or_default(),
            shown
                .text(s.reason.as_deref().unwrap_or_default())
                .into_owned(),
        ]);
    }
    let paint = Paint::stdout();
    printed(table(&rows, &|row, col, text| match (row, col) {
        (0, _) => text.to_owned(),
        (n, 2 | 3) => {
            let s = &summary.sessions[n - 1];
            paint.outcome(text, s.state, s.status)
        }
        _ => text.to_owned(),
    }))?;
    let count = |st: Status| {
        summary
            .sessions
            .iter()
            .filter(|s| s.state == State::Completed && s.status == Some(st))
            .count()
    };
    printed(writeln!(
        std::io::stdout(),
        "{} sessions: {} success, {} warning, {} error, {} failed, {} stopped, {} canceled",
        summary.sessions.len(),
        count(Status::Success),
        count(Status::Warning),
        count(Status::Error),
        summary.count(State::Failed),
        summary.count(State::Stopped),
        summary.count(State::Canceled),
    ))
}

pub(crate) async fn show(
    engine: &Engine,
    run_id: RunId,
    json: bool,
    shown: Shown,
) -> Result<u8, CliError> {
    if json {
        return print_json(&run_document(engine, run_id).await?);
    }
    let detail = engine.run_detail(run_id).await?;
    let mut out = std::io::stdout().lock();
    printed(write_run(&mut out, &detail, shown).and_then(|()| out.flush()))?;
    Ok(exit::SUCCESS)
}

fn write_run(
    out: &mut impl Write,
    detail: &minke_store::RunDetail,
    shown: Shown,
) -> std::io::Result<()> {
    let t = |s: &str| shown.text(s).into_owned();
    let paint = Paint::stdout();
    let run = &detail.run;
    writeln!(
        out,
        "run {} · {} on {} · by {} · {} · {}",
        run.id,
        run.session,
        run.model,
        t(&run.username),
        time(run.created_at),
        run.state
    )?;
    writeln!(out, "params: {}", t(&run.params))?;
    for d in &detail.sessions {
        let (s, msgs, cmds) = (&d.session, &d.messages, &d.commands);
        writeln!(
            out,
            "\n== {} on {} — {} {}{}",
            t(&s.object_label),
            t(s.host_name.as_deref().unwrap_or("?")),
            paint.outcome(s.state.as_str(), s.state, s.status),
            paint.status(s.status.map(Status::as_str).unwrap_or(""), s.status),
            s.reason
                .as_deref()
                .map(|r| format!(" ({})", t(r)))
                .unwrap_or_default()
        )?;
        for c in cmds {
            write_command(out, c, shown)?;
        }
        for m in msgs {
            let text = repeated_command(m, cmds).unwrap_or_else(|| message_text(m));
            writeln!(out, "[{}] {}", m.level, t(&text))?;
        }
    }
    Ok(())
}

fn write_command(
    out: &mut impl Write,
    c: &minke_store::CommandRow,
    shown: Shown,
) -> std::io::Result<()> {
    let exit = exit_text(c.exit_code, c.exit_signal.as_deref());
    writeln!(
        out,
        "$ {}  [{exit}, {:.1} ms]",
        shown.text(&c.command),
        c.duration_us as f64 / 1000.0
    )?;
    for (bytes, trunc, total) in [
        (&c.stdout, c.stdout_truncated, c.stdout_len),
        (&c.stderr, c.stderr_truncated, c.stderr_len),
    ] {
        let text = shown.bytes(bytes.trim_ascii_end());
        if !text.is_empty() {
            out.write_all(&text)?;
            writeln!(out)?;
        }
        if trunc {
            writeln!(
                out,
                "[... truncated: {} of {total} bytes kept]",
                bytes.len()
            )?;
        }
    }
    Ok(())
}
