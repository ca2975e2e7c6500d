//! A session's file transfers over its host's link: local files and memory as the
//! ends, the link's errors as the session sees them.

use std::pin::Pin;
use std::task::{Context, Poll};

use minke_core::{Download, Error, FailReason, Transfer, TransferRequest, Upload};
use tokio::io::AsyncWrite;

use crate::transport::Link;

/// Carries out `req` over `link`.
pub(crate) async fn carry_out(
    link: &dyn Link,
    req: TransferRequest<'_>,
) -> minke_core::Result<Transfer> {
    let failed = |detail: String| Error::Remote {
        reason: FailReason::Transfer,
        detail,
    };
    let (done, content) = match req {
        TransferRequest::Put { source, path, mode } => {
            let done = match source {
                Upload::Bytes(bytes) => link.put(&mut &bytes[..], path, mode).await,
                Upload::File(local) => {
                    let mut file = tokio::fs::File::open(local).await.map_err(|e| {
                        failed(format!(
                            "cannot read the local file {}: {e}",
                            local.display()
                        ))
                    })?;
                    link.put(&mut file, path, mode).await
                }
            };
            (done, None)
        }
        TransferRequest::Get { path, dest } => match dest {
            Download::Bytes { limit } => {
                let mut sink = Capped {
                    bytes: Vec::new(),
                    limit: *limit,
                };
                let done = link.get(path, &mut sink).await;
                (done, Some(sink.bytes))
            }
            Download::File(local) => {
                let mut file = tokio::fs::File::create(local).await.map_err(|e| {
                    failed(format!(
                        "cannot write the local file {}: {e}",
                        local.display()
                    ))
                })?;
                (link.get(path, &mut file).await, None)
            }
        },
    };
    let done = done.map_err(|e| Error::Remote {
        reason: e.reason(),
        detail: e.to_string(),
    })?;
    Ok(Transfer {
        remote_path: done.remote_path,
        bytes: done.bytes,
        sha256: done.sha256,
        duration: done.duration,
        content,
    })
}

/// Bytes in memory, refused past `limit`.
struct Capped {
    bytes: Vec<u8>,
    limit: u64,
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let after = self.bytes.len() as u64 + buf.len() as u64;
        if after > self.limit {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the file is larger than {} bytes, the most taken into memory (get it into a file instead)",
                self.limit
            ))));
        }
        self.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
