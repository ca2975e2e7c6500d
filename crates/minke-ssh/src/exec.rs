//! Running one command in a session channel.

use std::pin::pin;
use std::time::Duration;

use minke_core::{CommandOutput, ExitStatus};
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Sig};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::Connection;
use crate::error::{Error, Result};

/// How long to wait for the channel to close after `SIGKILL` was sent (the output
/// still in flight is read meanwhile) before giving up on it.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// One MiB: the default [`ExecOptions::output_cap`].
pub const DEFAULT_OUTPUT_CAP: usize = 1 << 20;

/// Which output stream a chunk comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives every chunk of a command's output as it arrives (for live output).
///
/// Closures `FnMut(Stream, &[u8])` are sinks; [`Discard`] ignores everything.
///
/// ```
/// use minke_ssh::{OutputSink, Stream};
/// let mut seen = Vec::new();
/// let mut sink = |s: Stream, b: &[u8]| seen.push((s, b.to_vec()));
/// sink.data(Stream::Stderr, b"oops\n");
/// assert_eq!(seen, vec![(Stream::Stderr, b"oops\n".to_vec())]);
/// ```
pub trait OutputSink {
    /// One chunk of output, in order within its stream.
    fn data(&mut self, stream: Stream, bytes: &[u8]);
}

impl<F: FnMut(Stream, &[u8])> OutputSink for F {
    fn data(&mut self, stream: Stream, bytes: &[u8]) {
        self(stream, bytes);
    }
}

/// A sink that ignores the output (the returned [`CommandOutput`] still has it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard;

impl OutputSink for Discard {
    fn data(&mut self, _: Stream, _: &[u8]) {}
}

/// How to run one command.
///
/// ```
/// use std::time::Duration;
/// let opts = minke_ssh::ExecOptions { timeout: Some(Duration::from_secs(30)), ..Default::default() };
/// assert_eq!(opts.output_cap, 1 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Kill the command when it runs longer than this. Default `None` (no limit).
    pub timeout: Option<Duration>,
    /// Bytes for the command's standard input, which is closed after them. With
    /// `None` it is closed at once.
    pub stdin: Option<Vec<u8>>,
    /// Bytes of each stream kept in the returned output; beyond, the stream's
    /// `*_truncated` flag is set (everything is still read and given to the sink).
    /// Default 1 MiB.
    pub output_cap: usize,
    /// Kill the command at once when this turns `true`.
    pub kill: Option<watch::Receiver<bool>>,
    /// Run the command in a pseudo-terminal (`ssh -t`), for programs that insist on
    /// one (`sudo` with `requiretty`, interactive installers). Its stderr then
    /// arrives mixed into stdout (lines end in `\r\n`), the terminal does not echo
    /// what `stdin` writes, and the process group is not tracked (the SSH `signal`
    /// request still ends it). Default `false`.
    pub pty: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            timeout: None,
            stdin: None,
            output_cap: DEFAULT_OUTPUT_CAP,
            kill: None,
            pty: false,
        }
    }
}

/// Why the command is being ended early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Timeout(Duration),
    Killed,
}

/// The first stderr line a tracked command prints: `minke-pgid:<pid of the shell>`.
const PGID_HEADER: &[u8] = b"minke-pgid:";

/// The command as sent when its process group is tracked: a first line reporting the
/// shell's pid (the session leader sshd made with `setsid`, so the process group id),
/// then the command, unchanged, on its own lines.
fn tracked(command: &str) -> String {
    format!("printf 'minke-pgid:%s\\n' \"$$\" >&2\n{command}")
}

/// Takes the `minke-pgid:` line out of stderr.
enum Header {
    /// Still looking; holds stderr bytes of a line not yet complete.
    Looking(Vec<u8>),
    Done,
}

impl Header {
    /// Feeds stderr bytes; returns the bytes that are really the command's stderr,
    /// and the process group once it is read.
    fn feed(&mut self, bytes: &[u8], pgid: &mut Option<u32>) -> Vec<u8> {
        let Header::Looking(buf) = self else {
            return bytes.to_vec();
        };
        buf.extend_from_slice(bytes);
        let mut passed = Vec::new();
        while let Header::Looking(buf) = self {
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    match line.strip_prefix(PGID_HEADER) {
                        Some(rest) => {
                            *pgid = std::str::from_utf8(rest)
                                .ok()
                                .and_then(|s| s.trim().parse().ok());
                            passed.extend_from_slice(buf);
                            *self = Header::Done;
                        }
                        // Something printed before the header (a shell startup file).
                        None => passed.extend_from_slice(&line),
                    }
                }
                None if buf.len() > 256 => {
                    passed.append(buf);
                    *self = Header::Done;
                }
                None => break,
            }
        }
        passed
    }

    /// What is left when the channel ends.
    fn flush(&mut self) -> Vec<u8> {
        match std::mem::replace(self, Header::Done) {
            Header::Looking(buf) => buf,
            Header::Done => Vec::new(),
        }
    }
}

/// The running remote command. If dropped before the command ended (the exec future
/// was cancelled), kills it and closes the channel from a new task.
struct RemoteCommand {
    conn: Connection,
    tx: Option<ChannelWriteHalf<Msg>>,
    rx: Option<ChannelReadHalf>,
    header: Header,
    pgid: Option<u32>,
    done: bool,
}

impl Drop for RemoteCommand {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (Some(tx), rx) = (self.tx.take(), self.rx.take()) else {
            return;
        };
        let (conn, mut pgid) = (self.conn.clone(), self.pgid);
        let mut header = std::mem::replace(&mut self.header, Header::Done);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = tx.signal(Sig::KILL).await;
                // The process group line may still be waiting, unread, in the channel.
                if let (None, Some(mut rx), Header::Looking(_)) = (pgid, rx, &header) {
                    let _ = tokio::time::timeout(KILL_WAIT, async {
                        while let Some(msg) = rx.wait().await {
                            match msg {
                                ChannelMsg::ExtendedData { data, .. } => {
                                    header.feed(&data, &mut pgid);
                                    if pgid.is_some() || matches!(header, Header::Done) {
                                        break;
                                    }
                                }
                                ChannelMsg::Close => break,
                                _ => {}
                            }
                        }
                    })
                    .await;
                }
                if let Some(pgid) = pgid {
                    kill_group(&conn, pgid).await;
                }
                let _ = tx.close().await;
            });
        }
    }
}

/// Output gathered so far.
struct Collected {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_truncated: bool,
    stderr_truncated: bool,
    cap: usize,
}

impl Collected {
    fn push(&mut self, stream: Stream, bytes: &[u8]) {
        let (buf, truncated) = match stream {
            Stream::Stdout => (&mut self.stdout, &mut self.stdout_truncated),
            Stream::Stderr => (&mut self.stderr, &mut self.stderr_truncated),
        };
        let room = self.cap.saturating_sub(buf.len());
        if bytes.len() > room {
            *truncated = true;
        }
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn into_output(self, command: &str, exit: ExitStatus, duration: Duration) -> CommandOutput {
        CommandOutput {
            command: command.to_owned(),
            exit,
            stdout: self.stdout,
            stderr: self.stderr,
            stdout_truncated: self.stdout_truncated,
            stderr_truncated: self.stderr_truncated,
            duration,
        }
    }
}

/// Resolves once `kill` holds `true`; never if there is none or its sender is gone.
async fn kill_requested(kill: &mut Option<watch::Receiver<bool>>) {
    if let Some(rx) = kill
        && rx.wait_for(|k| *k).await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await;
}

fn already_killed(kill: &Option<watch::Receiver<bool>>) -> bool {
    kill.as_ref().is_some_and(|k| *k.borrow())
}

/// The signal's name without `SIG`, as `ExitStatus::Signal` holds it.
fn signal_name(sig: &Sig) -> String {
    let name = match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(c) => c.strip_prefix("SIG").unwrap_or(c),
    };
    name.to_owned()
}

/// Kills a process group with `kill -KILL -- -PGID`, run in a channel of its own.
async fn kill_group(conn: &Connection, pgid: u32) {
    let _one_at_a_time = conn.kill_lock().lock().await;
    let host = conn.host();
    let command = format!("kill -KILL -- -{pgid} 2>/dev/null; true");
    let channel = match conn.open_channel(&command).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(host = %host, "cannot open a channel to kill process group {pgid}: {e}");
            return;
        }
    };
    let (mut rx, tx) = channel.split();
    if tx.exec(false, command).await.is_err() {
        return;
    }
    let _ = tx.eof().await;
    let waited = tokio::time::timeout(KILL_WAIT, async {
        while let Some(msg) = rx.wait().await {
            if matches!(msg, ChannelMsg::Close) {
                break;
            }
        }
    })
    .await;
    if waited.is_err() {
        tracing::warn!(host = %host, "`kill -KILL -- -{pgid}` did not finish within {KILL_WAIT:?}");
        let _ = tx.close().await;
    }
}

pub(crate) async fn run(
    conn: &Connection,
    command: &str,
    opts: &ExecOptions,
    sink: &mut (dyn OutputSink + Send),
) -> Result<CommandOutput> {
    let host = conn.host();
    let mut kill = opts.kill.clone();
    let killed_before = |started: Instant| Error::Killed {
        host: host.to_owned(),
        output: Box::new(CommandOutput {
            duration: started.elapsed(),
            ..CommandOutput::new(command, ExitStatus::Unknown, Vec::new(), Vec::new())
        }),
    };
    let waited = Instant::now();
    if already_killed(&kill) {
        return Err(killed_before(waited));
    }
    let _permit = tokio::select! {
        permit = conn.channels().acquire() => permit.ok(),
        () = kill_requested(&mut kill) => return Err(killed_before(waited)),
    };
    if conn.is_closed() {
        return Err(Error::NotSent {
            host: host.to_owned(),
            command: command.to_owned(),
            detail: "the connection was closed".into(),
        });
    }
    let channel = conn.open_channel(command).await?;
    let (rx, tx) = channel.split();
    // In a pty the shell's stderr is the terminal: the header would land in stdout.
    let track = conn.track_process_group() && !opts.pty;
    let mut remote = RemoteCommand {
        conn: conn.clone(),
        tx: Some(tx),
        rx: Some(rx),
        header: if track {
            Header::Looking(Vec::new())
        } else {
            Header::Done
        },
        pgid: None,
        done: false,
    };
    let (Some(tx), Some(rx)) = (remote.tx.as_ref(), remote.rx.as_mut()) else {
        return Err(Error::Channel {
            host: host.to_owned(),
            detail: "channel lost".into(),
        });
    };

    let started = Instant::now();
    // The request goes to the connection's task first: when that fails, it never
    // left this process.
    let lost = |e: russh::Error| Error::NotSent {
        host: host.to_owned(),
        command: command.to_owned(),
        detail: format!("sending the request: {e}"),
    };
    let sent = if track {
        tracked(command)
    } else {
        command.to_owned()
    };
    for (name, value) in conn.env() {
        tx.set_env(false, name.as_str(), value.as_str())
            .await
            .map_err(lost)?;
    }
    if conn.forward_agent() {
        tx.agent_forward(false).await.map_err(lost)?;
    }
    if opts.pty {
        // Without echo: what Minke writes to the command (a sudo password) must not
        // come back in its output.
        tx.request_pty(false, "xterm", 80, 24, 0, 0, &[(russh::Pty::ECHO, 0)])
            .await
            .map_err(lost)?;
    }
    tx.exec(true, sent).await.map_err(lost)?;
    tracing::trace!(host = %host, "exec {command:?}");
    let mut pgid: Option<u32> = None;
    let mut group_killed = false;

    let stdin = opts.stdin.clone();
    let mut stdin_task = pin!(async {
        if let Some(bytes) = stdin {
            tx.data_bytes(bytes).await?;
        }
        tx.eof().await
    });
    let mut stdin_done = false;

    let far = started + Duration::from_secs(86400 * 365 * 30);
    let mut timer = pin!(sleep_until(opts.timeout.map_or(far, |t| started + t)));
    let mut ending: Option<Ending> = None;
    let mut give_up = pin!(sleep_until(far));

    let mut out = Collected {
        stdout: Vec::new(),
        stderr: Vec::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        cap: opts.output_cap,
    };
    let mut exit = ExitStatus::Unknown;
    let mut exec_answered = false;

    enum End {
        Closed,
        Lost,
        GaveUp,
    }
    let end = loop {
        tokio::select! {
            msg = rx.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    sink.data(Stream::Stdout, &data);
                    out.push(Stream::Stdout, &data);
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    let data = remote.header.feed(&data, &mut pgid);
                    if !data.is_empty() {
                        sink.data(Stream::Stderr, &data);
                        out.push(Stream::Stderr, &data);
                    }
                    if let Some(pgid) = pgid {
                        remote.pgid = Some(pgid);
                        if ending.is_some() && !group_killed {
                            group_killed = true;
                            spawn_kill_group(conn, pgid);
                        }
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    exit = ExitStatus::Code(i32::try_from(exit_status).unwrap_or(i32::MAX));
                }
                Some(ChannelMsg::ExitSignal { signal_name: sig, .. }) => {
                    exit = ExitStatus::Signal(signal_name(&sig));
                }
                Some(ChannelMsg::Success) => exec_answered = true,
                Some(ChannelMsg::Failure) if !exec_answered => {
                    let _ = tx.close().await;
                    remote.done = true;
                    return Err(Error::Channel {
                        host: host.to_owned(),
                        detail: format!("the server refused to run `{command}`"),
                    });
                }
                Some(ChannelMsg::Close) => break End::Closed,
                Some(_) => {}
                None => break End::Lost,
            },
            r = &mut stdin_task, if !stdin_done => {
                stdin_done = true;
                if let Err(e) = r {
                    tracing::debug!(host = %host, "writing stdin of {command:?}: {e}");
                }
            }
            () = &mut timer, if ending.is_none() && opts.timeout.is_some() => {
                ending = Some(Ending::Timeout(opts.timeout.unwrap_or_default()));
                group_killed |= kill_remote(conn, tx, pgid, command).await;
                give_up.as_mut().reset(Instant::now() + KILL_WAIT);
            }
            () = kill_requested(&mut kill), if ending.is_none() => {
                ending = Some(Ending::Killed);
                group_killed |= kill_remote(conn, tx, pgid, command).await;
                give_up.as_mut().reset(Instant::now() + KILL_WAIT);
            }
            () = &mut give_up, if ending.is_some() => break End::GaveUp,
        }
    };
    let rest = remote.header.flush();
    if !rest.is_empty() {
        sink.data(Stream::Stderr, &rest);
        out.push(Stream::Stderr, &rest);
    }
    let duration = started.elapsed();
    match end {
        End::Closed | End::Lost => remote.done = true,
        End::GaveUp => {
            tracing::warn!(
                host = %host,
                "`{command}` did not end within {KILL_WAIT:?} of SIGKILL (process group {}); closing its channel",
                pgid.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
            );
            let _ = tx.close().await;
            remote.done = true;
        }
    }
    let output = Box::new(out.into_output(command, exit, duration));
    match (ending, end) {
        (Some(Ending::Timeout(timeout)), _) => Err(Error::CommandTimeout {
            host: host.to_owned(),
            timeout,
            output,
        }),
        (Some(Ending::Killed), _) => Err(Error::Killed {
            host: host.to_owned(),
            output,
        }),
        (None, End::Lost) => Err(Error::Disconnected {
            host: host.to_owned(),
            detail: format!("while running `{command}`"),
            output: Some(output),
        }),
        (None, _) => Ok(*output),
    }
}

/// Kills the remote command: the SSH `signal` request (sshd answers it with
/// `killpg`, except for root logins), and `kill -KILL -- -PGID` in a second channel
/// when the process group is known. Returns whether the latter was started.
async fn kill_remote(
    conn: &Connection,
    tx: &ChannelWriteHalf<Msg>,
    pgid: Option<u32>,
    command: &str,
) -> bool {
    tracing::debug!(host = %conn.host(), "killing `{command}` (process group {pgid:?})");
    if let Err(e) = tx.signal(Sig::KILL).await {
        tracing::debug!(host = %conn.host(), "sending SIGKILL: {e}");
    }
    match pgid {
        Some(pgid) => {
            spawn_kill_group(conn, pgid);
            true
        }
        None => false,
    }
}

/// Runs [`kill_group`] beside the command's channel, which goes on being read.
fn spawn_kill_group(conn: &Connection, pgid: u32) {
    let conn = conn.clone();
    tokio::spawn(async move { kill_group(&conn, pgid).await });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_stream_and_flags_truncation() {
        let mut c = Collected {
            stdout: vec![],
            stderr: vec![],
            stdout_truncated: false,
            stderr_truncated: false,
            cap: 4,
        };
        c.push(Stream::Stdout, b"abc");
        c.push(Stream::Stdout, b"def");
        c.push(Stream::Stderr, b"1234");
        let out = c.into_output("x", ExitStatus::Code(0), Duration::ZERO);
        assert_eq!(out.stdout, b"abcd");
        assert!(out.stdout_truncated);
        assert_eq!(out.stderr, b"1234");
        assert!(!out.stderr_truncated);
    }

    #[test]
    fn the_header_line_is_taken_out_of_stderr() {
        let mut pgid = None;
        let mut h = Header::Looking(Vec::new());
        assert_eq!(h.feed(b"minke-pg", &mut pgid), b"");
        assert_eq!(h.feed(b"id:4242\nreal err", &mut pgid), b"real err");
        assert_eq!(pgid, Some(4242));
        assert_eq!(h.feed(b"more", &mut pgid), b"more");

        // Lines a startup file printed first pass through.
        let mut pgid = None;
        let mut h = Header::Looking(Vec::new());
        assert_eq!(
            h.feed(b"rc says hi\nminke-pgid:7\nx", &mut pgid),
            b"rc says hi\nx"
        );
        assert_eq!(pgid, Some(7));

        // No header at all (not a POSIX shell): everything passes, nothing lost.
        let mut pgid = None;
        let mut h = Header::Looking(Vec::new());
        assert_eq!(h.feed(b"partial", &mut pgid), b"");
        assert_eq!(h.flush(), b"partial");
        assert_eq!(pgid, None);
        let mut h = Header::Looking(Vec::new());
        assert_eq!(h.feed(&[b'e'; 300], &mut pgid).len(), 300);
    }

    #[test]
    fn tracked_commands_keep_the_command_on_its_own_lines() {
        assert_eq!(
            tracked("echo hi # x"),
            "printf 'minke-pgid:%s\\n' \"$$\" >&2\necho hi # x"
        );
    }

    #[test]
    fn signal_names_have_no_sig_prefix() {
        assert_eq!(signal_name(&Sig::TERM), "TERM");
        assert_eq!(signal_name(&Sig::Custom("SIGUSR2".into())), "USR2");
        assert_eq!(signal_name(&Sig::Custom("WINCH".into())), "WINCH");
    }
}
