//! SSH for Minke: connect to a host and run commands on it, on top of
//! [russh](https://docs.rs/russh), behind one small API.
//!
//! - [`Connection::connect`] resolves, connects, checks the host key against
//!   known_hosts as the target's [`HostKeyPolicy`](minke_core::HostKeyPolicy) says
//!   (strict, accept-new, off) and authenticates (agent, key files, password).
//! - [`Connection::exec`] runs one command and returns its
//!   [`CommandOutput`](minke_core::CommandOutput): exit code or signal, stdout and
//!   stderr apart as bytes, duration. Output streams to an [`OutputSink`] as it
//!   comes. A timeout or a kill request kills the remote command's process group.
//! - [`Connection::put`] and [`Connection::get`] stream a file to or from the host
//!   over SFTP, a chunk at a time, and return a [`Transfer`] (size, SHA-256,
//!   duration); a put lands under its name only once complete.
//! - Every failure is an [`Error`] naming the host, whose [`Error::reason`] is the
//!   [`FailReason`](minke_core::FailReason) a session records.
//!
//! OpenSSH certificates work both ways. A user certificate is offered before the
//! key it certifies: those of the target's `certificate_files` (OpenSSH's
//! `CertificateFile`) whose key is an identity file's or an agent key's,
//! `KEY-cert.pub` beside an identity file `KEY`, and the certificates the agent
//! holds; a certificate file that cannot be read or fits no key is listed in the
//! authentication error. A host certificate is asked for only when known_hosts has
//! an `@cert-authority` line for the host, and accepted, without learning anything,
//! when such an authority signed it, it is a host certificate within its validity
//! period, it lists the name the host was reached by (the address or name, without
//! port) among its principals or lists none (as OpenSSH's client accepts), it has no
//! critical options, and neither its key nor the authority is `@revoked`. A
//! certificate from another authority counts as its plain key (checked as any host
//! key); one from a trusted authority that fails a check is refused with a
//! [`HostKeyProblem`] saying which, unless its key is on record as a plain key.
//!
//! ```no_run
//! # async fn demo() -> Result<(), minke_ssh::Error> {
//! use std::time::Duration;
//! use minke_core::{HostId, HostTarget};
//! use minke_ssh::{ConnectOptions, Connection, Discard, ExecOptions};
//!
//! let mut target = HostTarget::new(HostId::new(1), "web1", "web1.example.org");
//! target.identity_files.push("/home/me/.ssh/id_ed25519".into());
//! let conn = Connection::connect(&target, &ConnectOptions::default()).await?;
//! let opts = ExecOptions { timeout: Some(Duration::from_secs(60)), ..Default::default() };
//! let out = conn.exec("df -h /", &opts, &mut Discard).await?;
//! assert!(out.ok());
//! # Ok(()) }
//! ```

mod auth;
mod connection;
mod error;
mod exec;
mod known_hosts;
mod proxy;
mod sftp;
pub mod ssh_config;

pub use connection::{ConnectOptions, Connection};
pub use error::{Error, HostKeyProblem, RemoteFileProblem, Result};
pub use exec::{DEFAULT_OUTPUT_CAP, Discard, ExecOptions, OutputSink, Stream};
pub use sftp::{Direction, Transfer};
