//! Throwaway OpenSSH servers for testing Minke against the real thing.
//!
//! A [`Fleet`] is N servers (`/usr/sbin/sshd`) on 127.0.0.1, each on its own port
//! with a fresh ed25519 host key, all letting in one throwaway client key, plus a
//! known_hosts file listing their keys. [`Fleet::targets`] gives the
//! [`HostTarget`](minke_core::HostTarget)s to connect to them with strict host key
//! checking. Everything lives in one directory and is killed and removed when the
//! fleet is dropped.
//!
//! The kit **fails loudly** when sshd or ssh-keygen is missing (the error names the
//! Debian package to install): a test that needs a server never passes by skipping.
//! As root, sshd needs `/run/sshd`, which the kit creates.
//!
//! ```no_run
//! use minke_testkit::Fleet;
//!
//! let fleet = Fleet::start(2).unwrap();
//! for t in fleet.targets() {
//!     println!("{} is {}:{} as {}", t.name, t.address, t.port, t.user);
//! }
//! let log = fleet.servers()[0].log(); // sshd's log, LogLevel VERBOSE
//! # let _ = log;
//! ```

mod account;
mod certs;
mod error;
mod fleet;
mod keys;
mod mock;
mod noise;
mod pg;
mod pg_cluster;
mod process;
mod server;

pub use account::PasswordUser;
pub use certs::CertificateRequest;
pub use error::{Error, Result};
pub use fleet::{Fleet, MANIFEST};
pub use keys::{KeyPair, SSH_KEYGEN};
pub use mock::{MockHost, MockRun, run_session};
pub use noise::Noise;
pub use pg::PgDatabase;
pub use pg_cluster::PgCluster;
pub use process::{descendants, find_command, find_processes};
pub use server::{ADDRESS, SSHD, ServerOptions, SshServer};
