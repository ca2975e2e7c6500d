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

mod channel;
mod chunks;
mod errors;
mod names;

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

use channel::{SftpChannel, TempFile};
use names::{random_tag, temp_name};
/// How long one SFTP request (or the subsystem request) may wait for its answer.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the clean-up after a failed put (close, remove) and the questions that
/// explain a failure may take: the session may be what failed.
pub(super) const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes of read or write requests kept in flight: enough to fill the SSH window
/// (2 MiB for OpenSSH) twice over.
pub(super) const IN_FLIGHT_BYTES: usize = 4 << 20;

/// The largest chunk one request moves (OpenSSH's own limit is 255 KiB).
pub(super) const MAX_CHUNK: u64 = 256 << 10;

/// The chunk used when the server states no limits: what every server accepts
/// (the SFTP drafts require packets of 34000 bytes).
pub(super) const SAFE_CHUNK: u64 = 32 << 10;

/// The largest packet taken from the server: a full chunk with its header, and room.
pub(super) const MAX_PACKET: u32 = 512 << 10;

/// Room kept in a packet for its header (type, id, handle, offset, length).
pub(super) const HEADER_ROOM: u64 = 1024;

/// OpenSSH's extension for `rename(2)`, which replaces the target in one step.
pub(super) const POSIX_RENAME: &str = "posix-rename@openssh.com";

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
