//! How the engine reaches hosts: real SSH, or a mock for tests and benchmarks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use minke_core::{CommandOutput, ExitStatus, HostId, HostTarget};
use minke_ssh::{ConnectOptions, Connection, ExecOptions, OutputSink, Stream, Transfer};

/// Opens connections to hosts.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Connects to a host.
    async fn connect(
        &self,
        target: &HostTarget,
        opts: &ConnectOptions,
    ) -> Result<Arc<dyn Link>, minke_ssh::Error>;
}

/// One open connection: runs commands, possibly several at once.
#[async_trait]
pub trait Link: Send + Sync {
    /// Runs a command to its end, streaming its output to `sink`.
    async fn exec(
        &self,
        command: &str,
        opts: &ExecOptions,
        sink: &mut (dyn OutputSink + Send),
    ) -> Result<CommandOutput, minke_ssh::Error>;
    /// Closes the connection.
    async fn close(&self);
    /// True once the connection is known to be closed or lost (default: never
    /// known). A kept connection that says so is not used again.
    fn is_closed(&self) -> bool {
        false
    }
    /// Streams `source` to the remote file `path` with `mode` (default: refused, as
    /// by a host without SFTP).
    async fn put(
        &self,
        source: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        path: &str,
        mode: u32,
    ) -> Result<Transfer, minke_ssh::Error> {
        let _ = (source, mode);
        Err(no_transfers(path))
    }
    /// Streams the remote file `path` into `sink` (default: refused).
    async fn get(
        &self,
        path: &str,
        sink: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<Transfer, minke_ssh::Error> {
        let _ = sink;
        Err(no_transfers(path))
    }
}

/// The error of a link that cannot transfer files.
fn no_transfers(path: &str) -> minke_ssh::Error {
    minke_ssh::Error::Sftp {
        host: "this transport".into(),
        path: path.to_owned(),
        detail: "it cannot transfer files".into(),
    }
}

/// Real SSH through `minke-ssh` (the default). Hosts behind a jump host share one
/// connection to it, opened once and reopened when it was lost.
#[derive(Debug, Default)]
pub struct SshTransport {
    jumps: tokio::sync::Mutex<
        std::collections::HashMap<HostId, Arc<tokio::sync::Mutex<Option<Connection>>>>,
    >,
}

type JumpFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Connection, minke_ssh::Error>> + Send + 'a>,
>;

impl SshTransport {
    /// The shared connection to a jump host, opened (through its own jump host) if
    /// needed.
    fn jump_connection<'a>(
        &'a self,
        jump: &'a HostTarget,
        opts: &'a ConnectOptions,
    ) -> JumpFuture<'a> {
        Box::pin(async move {
            let slot = self.jumps.lock().await.entry(jump.id).or_default().clone();
            let mut conn = slot.lock().await;
            if let Some(c) = conn.as_ref().filter(|c| !c.is_closed()) {
                return Ok(c.clone());
            }
            let via = match &jump.jump {
                None => None,
                Some(outer) => Some(self.jump_connection(outer, opts).await?),
            };
            let c = Connection::connect_through(via.as_ref(), jump, opts).await?;
            *conn = Some(c.clone());
            Ok(c)
        })
    }
}

#[async_trait]
impl Transport for SshTransport {
    async fn connect(
        &self,
        target: &HostTarget,
        opts: &ConnectOptions,
    ) -> Result<Arc<dyn Link>, minke_ssh::Error> {
        let via = match &target.jump {
            None => None,
            Some(jump) => Some(self.jump_connection(jump, opts).await?),
        };
        Ok(Arc::new(
            Connection::connect_through(via.as_ref(), target, opts).await?,
        ))
    }
}

#[async_trait]
impl Link for Connection {
    async fn exec(
        &self,
        command: &str,
        opts: &ExecOptions,
        sink: &mut (dyn OutputSink + Send),
    ) -> Result<CommandOutput, minke_ssh::Error> {
        Connection::exec(self, command, opts, sink).await
    }

    async fn close(&self) {
        Connection::close(self).await;
    }

    fn is_closed(&self) -> bool {
        Connection::is_closed(self)
    }

    async fn put(
        &self,
        source: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        path: &str,
        mode: u32,
    ) -> Result<Transfer, minke_ssh::Error> {
        Connection::put(self, source, path, mode).await
    }

    async fn get(
        &self,
        path: &str,
        sink: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<Transfer, minke_ssh::Error> {
        Connection::get(self, path, sink).await
    }
}

/// A transport that answers every command at once with exit 0 and the command line
/// echoed on stdout, after an optional delay.
///
/// For measuring the engine itself (scheduling, history, events) without SSH, and for
/// tests that need thousands of hosts. Minke's tests of real work use real sshd.
#[derive(Clone, Copy, Debug, Default)]
pub struct MockTransport {
    /// How long each command takes.
    pub delay: Duration,
}

struct MockLink {
    delay: Duration,
}

#[async_trait]
impl Transport for MockTransport {
    async fn connect(
        &self,
        _target: &HostTarget,
        _opts: &ConnectOptions,
    ) -> Result<Arc<dyn Link>, minke_ssh::Error> {
        Ok(Arc::new(MockLink { delay: self.delay }))
    }
}

#[async_trait]
impl Link for MockLink {
    async fn exec(
        &self,
        command: &str,
        _opts: &ExecOptions,
        sink: &mut (dyn OutputSink + Send),
    ) -> Result<CommandOutput, minke_ssh::Error> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let mut stdout = command.as_bytes().to_vec();
        stdout.push(b'\n');
        sink.data(Stream::Stdout, &stdout);
        Ok(CommandOutput::new(
            command,
            ExitStatus::Code(0),
            stdout,
            Vec::new(),
        ))
    }

    async fn close(&self) {}
}
