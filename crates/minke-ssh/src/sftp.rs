//! File transfers over SFTP: [`Connection::put`] and [`Connection::get`].
//!
//! Each transfer opens its own `sftp` subsystem channel (taking one of the
//! connection's channel permits, like a command) and speaks to the server through
//! russh-sftp's [`RawSftpSession`], keeping several read or write requests in flight.
//!
//! Why the raw session rather than russh-sftp's `SftpSession` and `File`: `File`
//! turns a failed write into a bare message (the SFTP status code is lost, so
//! "permission denied" and "no space" look alike), and `SftpSession` hides the
//! `posix-rename@openssh.com` extension that replacing a file in one step needs.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use ring::digest;
use russh::ChannelMsg;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::rawsession::Limits;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::SemaphorePermit;
use tokio::time::Instant;

use crate::Connection;
use crate::error::{Error, RemoteFileProblem, Result};

/// How long one SFTP request (or the subsystem request) may wait for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the clean-up after a failed put (close, remove) and the questions that
/// explain a failure may take: the session may be what failed.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes of read or write requests kept in flight: enough to fill the SSH window
/// (2 MiB for OpenSSH) twice over.
const IN_FLIGHT_BYTES: usize = 4 << 20;

/// The largest chunk one request moves (OpenSSH's own limit is 255 KiB).
const MAX_CHUNK: u64 = 256 << 10;

/// The chunk used when the server states no limits: what every server accepts
/// (the SFTP drafts require packets of 34000 bytes).
const SAFE_CHUNK: u64 = 32 << 10;

/// The largest packet taken from the server: a full chunk with its header, and room.
const MAX_PACKET: u32 = 512 << 10;

/// Room kept in a packet for its header (type, id, handle, offset, length).
const HEADER_ROOM: u64 = 1024;

/// OpenSSH's extension for `rename(2)`, which replaces the target in one step.
const POSIX_RENAME: &str = "posix-rename@openssh.com";

/// Which way a file went.
///
/// ```
/// use minke_ssh::Direction;
/// assert_eq!(Direction::Put.to_string(), "put");
/// assert_eq!(Direction::Get.as_str(), "get");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From here to the host.
    Put,
    /// From the host to here.
    Get,
}

impl Direction {
    /// `put` or `get`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Put => "put",
            Direction::Get => "get",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one transfer did: recorded in history like a command.
///
/// ```
/// use std::time::Duration;
/// use minke_ssh::{Direction, Transfer};
///
/// let t = Transfer {
///     direction: Direction::Put,
///     remote_path: "/etc/motd".into(),
///     bytes: 0,
///     sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
///     duration: Duration::from_millis(12),
/// };
/// assert_eq!(t.sha256.len(), 64);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Which way the file went.
    pub direction: Direction,
    /// The remote file, as given.
    pub remote_path: String,
    /// Bytes moved.
    pub bytes: u64,
    /// SHA-256 of the bytes moved, lowercase hex.
    pub sha256: String,
    /// From the call (waiting for a free channel included) to the file being in
    /// place (put) or the sink flushed (get).
    pub duration: Duration,
}

impl Connection {
    /// Streams `source` to the file `remote_path` on the host and gives it `mode`
    /// (like `0o644`), over SFTP.
    ///
    /// The bytes go to a temporary file beside the target (`.NAME.minke-RANDOM.part`,
    /// created `0600`), which gets `mode` and is then renamed over `remote_path`
    /// (with OpenSSH's `posix-rename`, one atomic step; servers without it get a
    /// remove then a rename). A failed or dropped transfer removes the temporary
    /// file, so `remote_path` never holds half a file: it has the old content or the
    /// new one. The file is replaced, not rewritten: it is a new inode, owned by the
    /// remote user (who needs write permission on the directory), hard links to the
    /// old one keep the old content, and a symbolic link at `remote_path` is replaced
    /// rather than followed.
    ///
    /// `source` is read a chunk at a time (up to 256 KiB), with a few MiB in flight:
    /// memory use does not grow with the file. A relative `remote_path` is relative
    /// to the remote user's home directory. A request the server leaves unanswered
    /// for 60 s ends the transfer with [`Error::TransferTimeout`].
    ///
    /// ```no_run
    /// # async fn demo(conn: minke_ssh::Connection) -> Result<(), minke_ssh::Error> {
    /// // Any `AsyncRead`: a `tokio::fs::File`, a socket, or bytes in memory.
    /// let motd = b"Maintenance tonight at 22:00.\n";
    /// let done = conn.put(&motd[..], "/etc/motd", 0o644).await?;
    /// println!("{} bytes, sha256 {}", done.bytes, done.sha256);
    /// # Ok(()) }
    /// ```
    pub async fn put(
        &self,
        mut source: impl AsyncRead + Unpin + Send,
        remote_path: &str,
        mode: u32,
    ) -> Result<Transfer> {
        let started = Instant::now();
        let Some(temp) = temp_name(remote_path, &random_tag()) else {
            return Err(Error::RemoteFile {
                host: self.host().to_owned(),
                path: remote_path.to_owned(),
                action: "write a file named",
                problem: RemoteFileProblem::IsADirectory,
                message: String::new(),
            });
        };
        let sftp = SftpChannel::open(self, remote_path, Direction::Put).await?;
        let private = FileAttributes {
            permissions: Some(0o600),
            ..FileAttributes::empty()
        };
        let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE | OpenFlags::EXCLUDE;
        let handle = match sftp.raw.open(temp.as_str(), flags, private).await {
            Ok(h) => h.handle,
            Err(e) => return Err(sftp.explain("create a temporary file beside", e).await),
        };
        let mut temp_file = TempFile {
            conn: self.clone(),
            path: Some(temp.clone()),
        };
        let outcome = sftp.fill(&handle, &temp, &mut source, mode).await;
        if outcome.is_err() {
            sftp.remove_quietly(&temp).await;
        }
        temp_file.path = None;
        let (bytes, sha256) = outcome?;
        let duration = started.elapsed();
        tracing::debug!(host = %self.host(), "put {remote_path}: {bytes} bytes in {duration:?}");
        Ok(Transfer {
            direction: Direction::Put,
            remote_path: remote_path.to_owned(),
            bytes,
            sha256,
            duration,
        })
    }

    /// Streams the file `remote_path` from the host into `sink`, over SFTP.
    ///
    /// Several reads are kept in flight and each chunk goes to `sink` as it arrives
    /// (in order); memory use does not grow with the file. `sink` is flushed at the
    /// end. A relative `remote_path` is relative to the remote user's home directory.
    /// A request the server leaves unanswered for 60 s ends the transfer with
    /// [`Error::TransferTimeout`]; on any error `sink` may hold part of the file.
    ///
    /// ```no_run
    /// # async fn demo(conn: minke_ssh::Connection) -> Result<(), minke_ssh::Error> {
    /// // Any `AsyncWrite`: a `tokio::fs::File`, a socket, or a `Vec<u8>`.
    /// let mut conf = Vec::new();
    /// let done = conn.get("/etc/nginx/nginx.conf", &mut conf).await?;
    /// println!("{} bytes in {:?}, sha256 {}", done.bytes, done.duration, done.sha256);
    /// # Ok(()) }
    /// ```
    pub async fn get(
        &self,
        remote_path: &str,
        mut sink: impl AsyncWrite + Unpin + Send,
    ) -> Result<Transfer> {
        let started = Instant::now();
        let sftp = SftpChannel::open(self, remote_path, Direction::Get).await?;
        let handle = match sftp
            .raw
            .open(remote_path, OpenFlags::READ, FileAttributes::empty())
            .await
        {
            Ok(h) => h.handle,
            Err(e) => return Err(sftp.explain("open", e).await),
        };
        let outcome = sftp.drain(&handle, &mut sink).await;
        let closed = tokio::time::timeout(CLEANUP_TIMEOUT, sftp.raw.close(handle.as_str())).await;
        let (bytes, sha256) = outcome?;
        if let Ok(Err(e)) = closed {
            // Everything was read; a failed close of a file read changes nothing.
            tracing::debug!(host = %self.host(), "closing {remote_path} after reading it: {e}");
        }
        let duration = started.elapsed();
        tracing::debug!(host = %self.host(), "get {remote_path}: {bytes} bytes in {duration:?}");
        Ok(Transfer {
            direction: Direction::Get,
            remote_path: remote_path.to_owned(),
            bytes,
            sha256,
            duration,
        })
    }
}

/// One transfer's SFTP session, on its own channel.
struct SftpChannel<'c> {
    conn: &'c Connection,
    /// The remote path of the transfer, for errors.
    path: &'c str,
    raw: RawSftpSession,
    posix_rename: bool,
    statvfs: bool,
    read_chunk: u32,
    write_chunk: u32,
    _permit: Option<SemaphorePermit<'c>>,
}

/// What the server answered to the `sftp` subsystem request.
enum Subsystem {
    Started,
    Refused,
    Closed,
}

impl<'c> SftpChannel<'c> {
    /// Opens a channel, starts the `sftp` subsystem in it and initialises the session.
    async fn open(
        conn: &'c Connection,
        path: &'c str,
        direction: Direction,
    ) -> Result<SftpChannel<'c>> {
        let host = conn.host();
        let permit = conn.channels().acquire().await.ok();
        let what = format!("sftp {direction} {path}");
        if conn.is_closed() {
            return Err(Error::NotSent {
                host: host.to_owned(),
                command: what,
                detail: "the connection was closed".into(),
            });
        }
        let mut channel = conn.open_channel(&what).await?;
        if let Err(e) = channel.request_subsystem(true, "sftp").await {
            return Err(Error::NotSent {
                host: host.to_owned(),
                command: what,
                detail: format!("requesting the sftp subsystem: {e}"),
            });
        }
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            loop {
                match channel.wait().await {
                    Some(ChannelMsg::Success) => return Subsystem::Started,
                    Some(ChannelMsg::Failure) => return Subsystem::Refused,
                    Some(ChannelMsg::Close) | None => return Subsystem::Closed,
                    Some(_) => {}
                }
            }
        })
        .await;
        let no_sftp = || Error::NoSftp {
            host: host.to_owned(),
            path: path.to_owned(),
        };
        match answer {
            Ok(Subsystem::Started) => {}
            Ok(Subsystem::Refused) => {
                let _ = channel.close().await;
                return Err(no_sftp());
            }
            Ok(Subsystem::Closed) if conn.is_closed() => {
                return Err(Error::Disconnected {
                    host: host.to_owned(),
                    detail: format!("while starting SFTP to transfer `{path}`"),
                    output: None,
                });
            }
            Ok(Subsystem::Closed) => return Err(no_sftp()),
            Err(_) => {
                let _ = channel.close().await;
                return Err(Error::TransferTimeout {
                    host: host.to_owned(),
                    path: path.to_owned(),
                    timeout: REQUEST_TIMEOUT,
                });
            }
        }

        let config = russh_sftp::client::Config {
            max_packet_len: MAX_PACKET,
            request_timeout_secs: REQUEST_TIMEOUT.as_secs(),
            ..russh_sftp::client::Config::default()
        };
        let mut raw = RawSftpSession::new_with_config(channel.into_stream(), config);
        let version = raw
            .init()
            .await
            .map_err(|e| sftp_error(conn, path, "start SFTP to transfer", e))?;
        let has = |name: &str, ver: &str| version.extensions.get(name).is_some_and(|v| v == ver);
        let limits = if has("limits@openssh.com", "1") {
            let limits = raw
                .limits()
                .await
                .map_err(|e| sftp_error(conn, path, "start SFTP to transfer", e))?;
            Some(Limits::from(limits))
        } else {
            None
        };
        let (read_chunk, write_chunk) = chunk_sizes(limits);
        if let Some(limits) = limits {
            raw.set_limits(limits);
        }
        tracing::trace!(
            host = %host,
            "sftp version {} for {path}: reads of {read_chunk}, writes of {write_chunk} bytes",
            version.version
        );
        Ok(SftpChannel {
            conn,
            path,
            raw,
            posix_rename: has(POSIX_RENAME, "1"),
            statvfs: has("statvfs@openssh.com", "2"),
            read_chunk,
            write_chunk,
            _permit: permit,
        })
    }

    /// Writes everything `source` gives into the open temporary file, sets its mode,
    /// closes it and renames it into place. Returns the size and SHA-256.
    async fn fill(
        &self,
        handle: &str,
        temp: &str,
        source: &mut (impl AsyncRead + Unpin + Send),
        mode: u32,
    ) -> Result<(u64, String)> {
        let written = self.upload(handle, source).await;
        let written = match written {
            Ok(w) => {
                let attrs = FileAttributes {
                    permissions: Some(mode & 0o7777),
                    ..FileAttributes::empty()
                };
                match self.raw.fsetstat(handle, attrs).await {
                    Ok(_) => Ok(w),
                    Err(e) => Err(self.explain("set the mode of", e).await),
                }
            }
            Err(e) => Err(e),
        };
        if written.is_err() {
            let _ = tokio::time::timeout(CLEANUP_TIMEOUT, self.raw.close(handle)).await;
            return written;
        }
        // The close answers for the writes too (some file systems report a full disk
        // only then).
        if let Err(e) = self.raw.close(handle).await {
            return Err(self.explain("write", e).await);
        }
        self.rename_into_place(temp).await?;
        written
    }

    /// Sends the source's bytes as write requests, a few in flight.
    async fn upload(
        &self,
        handle: &str,
        source: &mut (impl AsyncRead + Unpin + Send),
    ) -> Result<(u64, String)> {
        let chunk = self.write_chunk as usize;
        let depth = depth_for(chunk);
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut offset = 0u64;
        let mut in_flight = InFlight::new();
        loop {
            let data = read_chunk(source, chunk)
                .await
                .map_err(|source| Error::LocalIo {
                    host: self.conn.host().to_owned(),
                    path: self.path.to_owned(),
                    action: "read the local data to put into",
                    source,
                })?;
            let len = data.len();
            if len == 0 {
                break;
            }
            hash.update(&data);
            if in_flight.len() >= depth
                && let Some(Err(e)) = in_flight.next().await
            {
                return Err(self.explain("write", e).await);
            }
            in_flight.send(self.raw.write(handle, offset, data)).await;
            offset += len as u64;
            if len < chunk {
                break;
            }
        }
        while let Some(answer) = in_flight.next().await {
            if let Err(e) = answer {
                return Err(self.explain("write", e).await);
            }
        }
        Ok((offset, hex(hash.finish().as_ref())))
    }

    /// Reads the open file to its end into `sink`, a few reads in flight.
    async fn drain(
        &self,
        handle: &str,
        sink: &mut (impl AsyncWrite + Unpin + Send),
    ) -> Result<(u64, String)> {
        let local = |source| Error::LocalIo {
            host: self.conn.host().to_owned(),
            path: self.path.to_owned(),
            action: "write the local copy of",
            source,
        };
        let mut chunk = self.read_chunk;
        let mut depth = depth_for(chunk as usize);
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut received = 0u64;
        let mut next = 0u64;
        let mut in_flight = InFlight::new();
        loop {
            while in_flight.len() < depth {
                let (offset, len) = (next, chunk);
                let raw = &self.raw;
                in_flight
                    .send(async move { (len, raw.read(handle, offset, len).await) })
                    .await;
                next += u64::from(len);
            }
            let Some((asked, answer)) = in_flight.next().await else {
                break;
            };
            let data = match answer {
                Ok(d) => d.data,
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
                Err(e) => return Err(self.explain("read", e).await),
            };
            if data.is_empty() {
                break;
            }
            sink.write_all(&data).await.map_err(local)?;
            hash.update(&data);
            received += data.len() as u64;
            if data.len() < asked as usize {
                // A short read: the end of the file, or a server that reads less at
                // once. Ask again from where it stopped, in chunks it gives whole.
                in_flight.clear();
                next = received;
                chunk = u32::try_from(data.len()).unwrap_or(chunk);
                depth = depth_for(chunk as usize);
            }
        }
        sink.flush().await.map_err(local)?;
        Ok((received, hex(hash.finish().as_ref())))
    }

    /// Renames the closed temporary file over the target.
    async fn rename_into_place(&self, temp: &str) -> Result<()> {
        let path = self.path;
        if self.posix_rename {
            let mut data = Vec::with_capacity(8 + temp.len() + path.len());
            put_string(&mut data, temp);
            put_string(&mut data, path);
            let answer = match self.raw.extended(POSIX_RENAME, data).await {
                Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => return Ok(()),
                Ok(Packet::Status(s)) => SftpError::Status(s),
                Ok(_) => SftpError::UnexpectedPacket,
                Err(e) => e,
            };
            match answer {
                SftpError::Status(s) if s.status_code == StatusCode::OpUnsupported => {}
                e => return Err(self.explain("move the new file to", e).await),
            }
        }
        // SSH_FXP_RENAME does not replace an existing file (OpenSSH links then
        // unlinks): remove the target first when it is in the way.
        let renamed = match self.raw.rename(temp, path).await {
            Err(SftpError::Status(s)) if s.status_code == StatusCode::Failure => {
                match self.raw.remove(path).await {
                    Ok(_) => self.raw.rename(temp, path).await,
                    Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                        self.raw.rename(temp, path).await
                    }
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match renamed {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain("move the new file to", e).await),
        }
    }

    /// Removes a file, logging (not returning) a failure.
    async fn remove_quietly(&self, path: &str) {
        match tokio::time::timeout(CLEANUP_TIMEOUT, self.raw.remove(path)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(host = %self.conn.host(), "cannot remove the temporary file {path}: {e}")
            }
            Err(_) => {
                tracing::warn!(host = %self.conn.host(), "removing the temporary file {path} took longer than {CLEANUP_TIMEOUT:?}")
            }
        }
    }

    /// The error for a failed request, made precise where SFTP's answer is vague
    /// (`SSH_FX_FAILURE` for a full disk, "no such file" for a path through a file),
    /// by asking the server about the path (within [`CLEANUP_TIMEOUT`]).
    async fn explain(&self, action: &'static str, e: SftpError) -> Error {
        let mut error = sftp_error(self.conn, self.path, action, e);
        if let Error::RemoteFile { problem, .. } = &mut error
            && let Ok(Some(better)) =
                tokio::time::timeout(CLEANUP_TIMEOUT, self.diagnose(*problem)).await
        {
            *problem = better;
        }
        error
    }

    async fn diagnose(&self, problem: RemoteFileProblem) -> Option<RemoteFileProblem> {
        use RemoteFileProblem::{Failure, IsADirectory, NoSpace, NoSuchFile, NotADirectory};
        let parent = parent_dir(self.path);
        if matches!(problem, NoSuchFile | Failure)
            && let Ok(attrs) = self.raw.stat(parent).await
            && !attrs.attrs.is_dir()
        {
            return Some(NotADirectory);
        }
        if problem != Failure {
            return None;
        }
        if let Ok(attrs) = self.raw.stat(self.path).await
            && attrs.attrs.is_dir()
        {
            return Some(IsADirectory);
        }
        if self.statvfs
            && let Ok(fs) = self.raw.statvfs(parent).await
            && fs.blocks_avail.saturating_mul(fs.fragment_size) < IN_FLIGHT_BYTES as u64
        {
            return Some(NoSpace);
        }
        None
    }
}

/// Removes the temporary file of a put whose future was dropped before it ended,
/// from a new task, over a new SFTP channel.
struct TempFile {
    conn: Connection,
    /// `None` once the put ended (the file was renamed or already removed).
    path: Option<String>,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        let conn = self.conn.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                match SftpChannel::open(&conn, &path, Direction::Put).await {
                    Ok(sftp) => sftp.remove_quietly(&path).await,
                    Err(e) => tracing::warn!(
                        host = %conn.host(),
                        "cannot remove the temporary file {path} of a stopped put: {e}"
                    ),
                }
            });
        }
    }
}

/// Requests sent and not yet answered, oldest first.
///
/// russh-sftp's requests are futures that send their packet when first polled and
/// then wait for the answer, which its reader task delivers whether or not they are
/// polled: so each is polled once when queued, then awaited in order.
struct InFlight<'a, T> {
    queue: VecDeque<Pin<Box<dyn Future<Output = T> + Send + 'a>>>,
}

impl<'a, T: Send + 'a> InFlight<'a, T> {
    fn new() -> Self {
        InFlight {
            queue: VecDeque::new(),
        }
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    /// Sends the request (its first poll) and queues it.
    async fn send(&mut self, request: impl Future<Output = T> + Send + 'a) {
        let mut request = Box::pin(request);
        let first = std::future::poll_fn(|cx| Poll::Ready(request.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(answer) => self.queue.push_back(Box::pin(std::future::ready(answer))),
            Poll::Pending => self.queue.push_back(request),
        }
    }

    /// The answer to the oldest request.
    async fn next(&mut self) -> Option<T> {
        match self.queue.pop_front() {
            Some(request) => Some(request.await),
            None => None,
        }
    }

    /// Forgets every request: their answers are dropped when they come.
    fn clear(&mut self) {
        self.queue.clear();
    }
}

/// Turns russh-sftp's error into ours.
fn sftp_error(conn: &Connection, path: &str, action: &'static str, e: SftpError) -> Error {
    let host = conn.host().to_owned();
    let path = path.to_owned();
    match e {
        SftpError::Status(status) => match problem_of(status.status_code) {
            Some(problem) => Error::RemoteFile {
                host,
                path,
                action,
                problem,
                message: status.error_message,
            },
            None => Error::Sftp {
                host,
                path,
                detail: format!(
                    "the server answered `{}` to the request to {action} it",
                    status.status_code
                ),
            },
        },
        SftpError::Timeout => Error::TransferTimeout {
            host,
            path,
            timeout: REQUEST_TIMEOUT,
        },
        other if conn.is_closed() => Error::Disconnected {
            host,
            detail: format!("while trying to {action} `{path}` over SFTP: {other}"),
            output: None,
        },
        other => Error::Sftp {
            host,
            path,
            detail: format!("{other} (while trying to {action} it)"),
        },
    }
}

/// The problem an SFTP status names, if it is about the file.
fn problem_of(code: StatusCode) -> Option<RemoteFileProblem> {
    match code {
        StatusCode::NoSuchFile => Some(RemoteFileProblem::NoSuchFile),
        StatusCode::PermissionDenied => Some(RemoteFileProblem::PermissionDenied),
        StatusCode::Failure => Some(RemoteFileProblem::Failure),
        StatusCode::OpUnsupported => Some(RemoteFileProblem::Unsupported),
        // Ok, Eof, BadMessage, NoConnection, ConnectionLost: not about the file.
        _ => None,
    }
}

/// Read and write chunk sizes for the server's limits (`limits@openssh.com`).
fn chunk_sizes(limits: Option<Limits>) -> (u32, u32) {
    let Some(limits) = limits else {
        return (SAFE_CHUNK as u32, SAFE_CHUNK as u32);
    };
    let by_packet = limits
        .packet_len
        .map_or(MAX_CHUNK, |p| p.saturating_sub(HEADER_ROOM))
        .min(u64::from(MAX_PACKET) - HEADER_ROOM);
    let pick = |stated: Option<u64>| {
        let bytes = stated.unwrap_or(MAX_CHUNK).min(by_packet).min(MAX_CHUNK);
        u32::try_from(bytes.max(1024)).unwrap_or(SAFE_CHUNK as u32)
    };
    (pick(limits.read_len), pick(limits.write_len))
}

/// How many requests of `chunk` bytes to keep in flight.
fn depth_for(chunk: usize) -> usize {
    (IN_FLIGHT_BYTES / chunk.max(1)).clamp(2, 64)
}

/// Reads up to `size` bytes, fewer only at the end of the source.
async fn read_chunk(
    source: &mut (impl AsyncRead + Unpin),
    size: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; size];
    let mut filled = 0;
    while filled < size {
        match source.read(&mut buf[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// The temporary name beside `path`: `DIR/.NAME.minke-TAG.part`, the name cut so
/// the whole stays within 255 bytes. `None` when `path` names no file (`/tmp/`).
fn temp_name(path: &str, tag: &str) -> Option<String> {
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, path),
    };
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    let mut cut = name.len().min(200);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let temp = format!(".{}.minke-{tag}.part", &name[..cut]);
    Some(match dir {
        Some(dir) => format!("{dir}/{temp}"),
        None => temp,
    })
}

/// The directory holding `path`: `/` for `/x`, `.` for a bare name.
fn parent_dir(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((dir, _)) => dir,
        None => ".",
    }
}

/// 16 random hex digits, to keep temporary names apart.
fn random_tag() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)).to_be_bytes();
    }
    hex(&bytes)
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Appends an SSH `string`: its length (u32, big-endian), then its bytes.
fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_sit_beside_the_target() {
        assert_eq!(
            temp_name("/srv/app/app.tar", "ab12").as_deref(),
            Some("/srv/app/.app.tar.minke-ab12.part")
        );
        assert_eq!(temp_name("/x", "t").as_deref(), Some("/.x.minke-t.part"));
        assert_eq!(
            temp_name("notes.txt", "t").as_deref(),
            Some(".notes.txt.minke-t.part")
        );
        assert_eq!(temp_name("/tmp/", "t"), None);
        assert_eq!(temp_name("/tmp/..", "t"), None);
        assert_eq!(temp_name("", "t"), None);
        let long = format!("/d/{}", "é".repeat(150));
        let name = temp_name(&long, "0123456789abcdef").unwrap();
        let file = name.rsplit('/').next().unwrap();
        assert!(file.len() <= 255, "{}", file.len());
        assert!(file.ends_with(".minke-0123456789abcdef.part"));
    }

    #[test]
    fn parents() {
        assert_eq!(parent_dir("/x"), "/");
        assert_eq!(parent_dir("/a/b/c"), "/a/b");
        assert_eq!(parent_dir("c"), ".");
    }

    #[test]
    fn hex_and_tags() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let (a, b) = (random_tag(), random_tag());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        let empty = digest::digest(&digest::SHA256, b"");
        assert_eq!(
            hex(empty.as_ref()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn ssh_strings_carry_their_length() {
        let mut out = Vec::new();
        put_string(&mut out, "ab");
        put_string(&mut out, "");
        assert_eq!(out, [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0]);
    }

    #[test]
    fn chunks_follow_the_server_limits() {
        assert_eq!(chunk_sizes(None), (32 << 10, 32 << 10));
        // OpenSSH: 256 KiB packets, 255 KiB reads and writes.
        let openssh = Limits {
            packet_len: Some(256 << 10),
            read_len: Some(255 << 10),
            write_len: Some(255 << 10),
            open_handles: None,
        };
        assert_eq!(chunk_sizes(Some(openssh)), (255 << 10, 255 << 10));
        let small = Limits {
            packet_len: Some(34000),
            read_len: None,
            write_len: Some(16 << 10),
            open_handles: None,
        };
        assert_eq!(chunk_sizes(Some(small)), (34000 - 1024, 16 << 10));
        assert_eq!(depth_for(255 << 10), 16);
        assert_eq!(depth_for(1), 64);
        assert_eq!(depth_for(4 << 20), 2);
    }

    #[test]
    fn status_codes_become_problems_in_words() {
        assert_eq!(
            problem_of(StatusCode::NoSuchFile),
            Some(RemoteFileProblem::NoSuchFile)
        );
        assert_eq!(
            problem_of(StatusCode::PermissionDenied),
            Some(RemoteFileProblem::PermissionDenied)
        );
        assert_eq!(problem_of(StatusCode::BadMessage), None);
        let e = Error::RemoteFile {
            host: "web1 (127.0.0.1:22)".into(),
            path: "/nope".into(),
            action: "open",
            problem: RemoteFileProblem::NoSuchFile,
            message: "No such file".into(),
        };
        assert_eq!(
            e.to_string(),
            "web1 (127.0.0.1:22): cannot open `/nope`: no such file or directory"
        );
        assert_eq!(e.reason(), minke_core::FailReason::Transfer);
        let e = Error::RemoteFile {
            host: "web1 (127.0.0.1:22)".into(),
            path: "/q".into(),
            action: "write",
            problem: RemoteFileProblem::Failure,
            message: "Disk quota exceeded".into(),
        };
        assert!(
            e.to_string().ends_with(
                "the SFTP server reported a failure (the server said: Disk quota exceeded)"
            ),
            "{e}"
        );
        let e = Error::NoSftp {
            host: "web1 (127.0.0.1:22)".into(),
            path: "/x".into(),
        };
        assert!(
            e.to_string().starts_with(
                "web1 (127.0.0.1:22) has no SFTP subsystem (sshd_config `Subsystem sftp`)"
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn chunks_are_filled_from_trickling_sources() {
        let (mut tx, mut rx) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move {
            tx.write_all(&[1u8; 20]).await.unwrap();
        });
        assert_eq!(read_chunk(&mut rx, 16).await.unwrap(), vec![1u8; 16]);
        writer.await.unwrap();
        assert_eq!(read_chunk(&mut rx, 16).await.unwrap(), vec![1u8; 4]);
        assert!(read_chunk(&mut rx, 16).await.unwrap().is_empty());
    }
}
