//! The `sftp` subsystem on one channel: opening it, moving chunks, renaming into
//! place, cleaning up and explaining failures.

use super::chunks::{InFlight, chunk_sizes, depth_for, read_chunk};
use super::errors::sftp_error;
use super::names::{hex, parent_dir};
use super::*;

/// One transfer's SFTP session, on its own channel.
pub(super) struct SftpChannel<'c> {
    pub(super) conn: &'c Connection,
    /// The remote path of the transfer, for errors.
    pub(super) path: &'c str,
    pub(super) raw: RawSftpSession,
    pub(super) posix_rename: bool,
    pub(super) statvfs: bool,
    pub(super) read_chunk: u32,
    pub(super) write_chunk: u32,
    pub(super) _permit: Option<SemaphorePermit<'c>>,
}

/// What the server answered to the `sftp` subsystem request.
pub(super) enum Subsystem {
    Started,
    Refused,
    Closed,
}

impl<'c> SftpChannel<'c> {
    /// Opens a channel, starts the `sftp` subsystem in it and initialises the session.
    pub(super) async fn open(
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
    pub(super) async fn fill(
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
    pub(super) async fn upload(
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
    pub(super) async fn drain(
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
    pub(super) async fn rename_into_place(&self, temp: &str) -> Result<()> {
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
    pub(super) async fn remove_quietly(&self, path: &str) {
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
    pub(super) async fn explain(&self, action: &'static str, e: SftpError) -> Error {
        let mut error = sftp_error(self.conn, self.path, action, e);
        if let Error::RemoteFile { problem, .. } = &mut error
            && let Ok(Some(better)) =
                tokio::time::timeout(CLEANUP_TIMEOUT, self.diagnose(*problem)).await
        {
            *problem = better;
        }
        error
    }

    pub(super) async fn diagnose(&self, problem: RemoteFileProblem) -> Option<RemoteFileProblem> {
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
pub(super) struct TempFile {
    pub(super) conn: Connection,
    /// `None` once the put ended (the file was renamed or already removed).
    pub(super) path: Option<String>,
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

/// Appends an SSH `string`: its length (u32, big-endian), then its bytes.
pub(super) fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_strings_carry_their_length() {
        let mut out = Vec::new();
        put_string(&mut out, "ab");
        put_string(&mut out, "");
        assert_eq!(out, [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0]);
    }
}
