//! The SSH-backed executor a session's context runs commands through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use minke_core::{
    CommandOutput, Error, ExecRequest, Executor, ExitStatus, Message, RunId, SessionId, Transfer,
    TransferRequest,
};
use minke_ssh::{ExecOptions, OutputSink, Stream};
use minke_store::{CommandRow, MessageRow, Store, now_micros};
use tokio::sync::watch;

use crate::command_record::CommandRecord;
use crate::events::EventBus;
use crate::output_tail::OutputTail;
use crate::stop::Stops;
use crate::transport::Link;
use crate::{Event, OutputStream, RunObserver};

/// Runs one session's commands on a shared connection and records them.
pub(crate) struct SshExecutor {
    pub(crate) conn: Arc<dyn Link>,
    pub(crate) store: Store,
    pub(crate) events: EventBus,
    pub(crate) run_id: RunId,
    pub(crate) session_id: SessionId,
    pub(crate) command_timeout: Duration,
    pub(crate) output_cap: usize,
    /// The stops of the run and of this session.
    pub(crate) stops: Stops,
    /// Turns true when this session's running command must be killed.
    pub(crate) kill: watch::Receiver<bool>,
    pub(crate) command_seq: i32,
    pub(crate) message_seq: i32,
    /// Sees every byte of output.
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
    /// The host's name, for the observer.
    pub(crate) host: Arc<str>,
}

struct EventSink<'a> {
    observer: Option<&'a dyn RunObserver>,
    tail: &'a OutputTail,
    host: &'a str,
    events: &'a EventBus,
    run_id: RunId,
    session_id: SessionId,
    stdout_len: i64,
    stderr_len: i64,
}

impl OutputSink for EventSink<'_> {
    fn data(&mut self, stream: Stream, bytes: &[u8]) {
        self.tail.push(matches!(stream, Stream::Stdout), bytes);
        let stream = match stream {
            Stream::Stdout => {
                self.stdout_len += bytes.len() as i64;
                OutputStream::Stdout
            }
            Stream::Stderr => {
                self.stderr_len += bytes.len() as i64;
                OutputStream::Stderr
            }
        };
        if let Some(o) = self.observer {
            o.output(self.session_id, self.host, stream, bytes);
        }
        self.events.send(|| Event::Output {
            run_id: self.run_id,
            session_id: self.session_id,
            stream,
            data: Bytes::copy_from_slice(bytes),
        });
    }
}

impl SshExecutor {
    /// Records a command as it starts, so that a run whose process dies shows what was
    /// running; returns its sequence number and its record.
    fn record_start(&mut self, display: &str, started_at: i64) -> (i32, OutputTail) {
        self.command_seq += 1;
        let row = CommandRow {
            session_id: self.session_id,
            seq: self.command_seq,
            command: display.to_owned(),
            exit_code: None,
            exit_signal: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_len: 0,
            stderr_len: 0,
            stdout_truncated: false,
            stderr_truncated: false,
            started_at,
            duration_us: 0,
        };
        let record = CommandRecord::start(&self.store, row.clone());
        (self.command_seq, OutputTail::new(&self.store, record, row))
    }

    /// Records the end of command `seq`.
    fn record(
        &mut self,
        (seq, record): (i32, CommandRecord),
        display: &str,
        out: &CommandOutput,
        started_at: i64,
        lens: (i64, i64),
    ) {
        let row = CommandRow {
            session_id: self.session_id,
            seq,
            command: display.to_owned(),
            exit_code: out.exit.code(),
            exit_signal: out.exit.signal().map(str::to_owned),
            stdout: out.stdout.clone(),
            stderr: out.stderr.clone(),
            stdout_len: lens.0,
            stderr_len: lens.1,
            stdout_truncated: out.stdout_truncated,
            stderr_truncated: out.stderr_truncated,
            started_at,
            duration_us: i64::try_from(out.duration.as_micros()).unwrap_or(i64::MAX),
        };
        record.finish(&self.store, row);
        if let Some(o) = &self.observer {
            o.command_finished(self.session_id, &self.host);
        }
        self.events.send(|| Event::CommandFinished {
            run_id: self.run_id,
            session_id: self.session_id,
            exit_code: out.exit.code(),
            exit_signal: out.exit.signal().map(str::to_owned),
        });
    }
}

#[async_trait]
impl Executor for SshExecutor {
    async fn exec(&mut self, req: ExecRequest<'_>) -> minke_core::Result<CommandOutput> {
        self.events.send(|| Event::CommandStarted {
            run_id: self.run_id,
            session_id: self.session_id,
            command: req.display.to_owned(),
        });
        let opts = ExecOptions {
            timeout: Some(req.timeout.unwrap_or(self.command_timeout)),
            stdin: req.stdin.map(<[u8]>::to_vec),
            output_cap: self.output_cap,
            kill: Some(self.kill.clone()),
            pty: req.pty,
        };
        let started_at = now_micros();
        let (seq, tail) = self.record_start(req.display, started_at);
        let t0 = Instant::now();
        let mut sink = EventSink {
            observer: self.observer.as_deref(),
            tail: &tail,
            host: &self.host,
            events: &self.events,
            run_id: self.run_id,
            session_id: self.session_id,
            stdout_len: 0,
            stderr_len: 0,
        };
        let result = self.conn.exec(req.command, &opts, &mut sink).await;
        let lens = (sink.stdout_len, sink.stderr_len);
        let started = (seq, tail.end());
        match result {
            Ok(mut out) => {
                out.command = req.display.to_owned();
                self.record(started, req.display, &out, started_at, lens);
                Ok(out)
            }
            Err(e) => {
                if let Some(partial) = e.partial_output() {
                    let mut partial = partial.clone();
                    partial.duration = t0.elapsed();
                    self.record(started, req.display, &partial, started_at, lens);
                }
                if e.is_killed() {
                    Err(Error::Stopped)
                } else {
                    Err(Error::Remote {
                        reason: e.reason(),
                        detail: e.to_string(),
                    })
                }
            }
        }
    }

    async fn message(&mut self, msg: &Message) -> minke_core::Result<()> {
        self.message_seq += 1;
        let row = MessageRow {
            session_id: self.session_id,
            seq: self.message_seq,
            level: msg.level.to_string(),
            body: serde_json::to_string(&msg.body).map_err(|e| Error::Setup(e.to_string()))?,
            created_at: now_micros(),
        };
        self.store
            .record_later("a message", move || minke_store::HistoryRow::Message(row));
        self.events.send(|| Event::Message {
            run_id: self.run_id,
            session_id: self.session_id,
            message: msg.clone(),
        });
        Ok(())
    }

    async fn transfer(&mut self, req: TransferRequest<'_>) -> minke_core::Result<Transfer> {
        let display = req.describe();
        self.events.send(|| Event::CommandStarted {
            run_id: self.run_id,
            session_id: self.session_id,
            command: display.clone(),
        });
        let started_at = now_micros();
        let (seq, tail) = self.record_start(&display, started_at);
        let t0 = Instant::now();
        let result = crate::transfer::carry_out(&*self.conn, req).await;
        let (exit, stdout, stderr) = match &result {
            Ok(done) => (
                ExitStatus::Code(0),
                format!("{} bytes, sha256 {}\n", done.bytes, done.sha256),
                String::new(),
            ),
            Err(e) => (ExitStatus::Code(1), String::new(), format!("{e}\n")),
        };
        let mut out = CommandOutput::new(&display, exit, stdout.into_bytes(), stderr.into_bytes());
        out.duration = t0.elapsed();
        let lens = (out.stdout.len() as i64, out.stderr.len() as i64);
        self.record((seq, tail.end()), &display, &out, started_at, lens);
        result
    }

    fn stop_requested(&self) -> bool {
        self.stops.current().is_some()
    }
}
