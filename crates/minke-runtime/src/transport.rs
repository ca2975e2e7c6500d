//! How the engine reaches hosts: real SSH, or a mock for tests and benchmarks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use minke_core::{CommandOutput, ExitStatus, HostTarget};
use minke_ssh::{ConnectOptions, Connection, ExecOptions, OutputSink, Stream};

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
}

/// Real SSH through `minke-ssh` (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct SshTransport;

#[async_trait]
impl Transport for SshTransport {
    async fn connect(
        &self,
        target: &HostTarget,
        opts: &ConnectOptions,
    ) -> Result<Arc<dyn Link>, minke_ssh::Error> {
        Ok(Arc::new(Connection::connect(target, opts).await?))
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
