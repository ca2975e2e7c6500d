//! File transfers of a session: what to send, where to receive, what happened.

use std::path::PathBuf;
use std::time::Duration;

/// What [`Context::put`](crate::Context::put) sends: bytes in memory or a local
/// file, read a chunk at a time.
///
/// ```
/// use minke_core::Upload;
/// let motd = Upload::bytes("Maintenance tonight at 22:00.\n");
/// let tarball = Upload::file("/srv/releases/app-1.4.tar.gz");
/// assert_eq!(motd.describe(), "30 bytes");
/// assert_eq!(tarball.describe(), "/srv/releases/app-1.4.tar.gz");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upload {
    /// These bytes.
    Bytes(Vec<u8>),
    /// The content of this local file.
    File(PathBuf),
}

impl Upload {
    /// Bytes (or text) in memory.
    pub fn bytes(content: impl Into<Vec<u8>>) -> Self {
        Upload::Bytes(content.into())
    }

    /// A local file on the machine running the session.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Upload::File(path.into())
    }

    /// What is sent, for the history: `N bytes` or the local path.
    pub fn describe(&self) -> String {
        match self {
            Upload::Bytes(b) => format!("{} bytes", b.len()),
            Upload::File(p) => p.display().to_string(),
        }
    }
}

/// Where [`Context::get`](crate::Context::get) puts what it receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Download {
    /// Into memory, refused beyond this many bytes.
    Bytes {
        /// Most bytes accepted.
        limit: u64,
    },
    /// Into this local file (created or truncated).
    File(PathBuf),
}

/// One file transfer as it went: recorded in the history like a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The remote file.
    pub remote_path: String,
    /// Bytes moved.
    pub bytes: u64,
    /// SHA-256 of the bytes moved, lowercase hex.
    pub sha256: String,
    /// How long it took.
    pub duration: Duration,
    /// What was received, for [`Download::Bytes`].
    pub content: Option<Vec<u8>>,
}

/// A transfer for an [`Executor`](crate::Executor) to carry out and record.
#[derive(Clone, Copy, Debug)]
pub enum TransferRequest<'a> {
    /// Send `source` to the remote `path` with file `mode` (like `0o644`).
    Put {
        /// What to send.
        source: &'a Upload,
        /// Where on the host.
        path: &'a str,
        /// The file's permission bits.
        mode: u32,
    },
    /// Receive the remote `path` into `dest`.
    Get {
        /// Which file on the host.
        path: &'a str,
        /// Where to put it.
        dest: &'a Download,
    },
}

impl TransferRequest<'_> {
    /// The line the history shows for it, like a command line: `put 30 bytes →
    /// /etc/motd (0644)` or `get /etc/hosts → memory`.
    pub fn describe(&self) -> String {
        match self {
            TransferRequest::Put { source, path, mode } => {
                format!("put {} → {path} ({mode:04o})", source.describe())
            }
            TransferRequest::Get { path, dest } => match dest {
                Download::Bytes { .. } => format!("get {path} → memory"),
                Download::File(f) => format!("get {path} → {}", f.display()),
            },
        }
    }
}
