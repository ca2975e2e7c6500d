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
//! - Every failure is an [`Error`] naming the host, whose [`Error::reason`] is the
//!   [`FailReason`](minke_core::FailReason) a session records.
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

pub use connection::{ConnectOptions, Connection};
pub use error::{Error, HostKeyProblem, Result};
pub use exec::{DEFAULT_OUTPUT_CAP, Discard, ExecOptions, OutputSink, Stream};
