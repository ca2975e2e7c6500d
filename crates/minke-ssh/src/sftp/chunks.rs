//! Chunks and requests in flight: how big, how many, and filling them from a source.

use super::*;

/// Requests sent and not yet answered, oldest first.
///
/// russh-sftp's requests are futures that send their packet when first polled and
/// then wait for the answer, which its reader task delivers whether or not they are
/// polled: so each is polled once when queued, then awaited in order.
pub(super) struct InFlight<'a, T> {
    queue: VecDeque<Pin<Box<dyn Future<Output = T> + Send + 'a>>>,
}

impl<'a, T: Send + 'a> InFlight<'a, T> {
    pub(super) fn new() -> Self {
        InFlight {
            queue: VecDeque::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Sends the request (its first poll) and queues it.
    pub(super) async fn send(&mut self, request: impl Future<Output = T> + Send + 'a) {
        let mut request = Box::pin(request);
        let first = std::future::poll_fn(|cx| Poll::Ready(request.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(answer) => self.queue.push_back(Box::pin(std::future::ready(answer))),
            Poll::Pending => self.queue.push_back(request),
        }
    }

    /// The answer to the oldest request.
    pub(super) async fn next(&mut self) -> Option<T> {
        match self.queue.pop_front() {
            Some(request) => Some(request.await),
            None => None,
        }
    }

    /// Forgets every request: their answers are dropped when they come.
    pub(super) fn clear(&mut self) {
        self.queue.clear();
    }
}

/// Read and write chunk sizes for the server's limits (`limits@openssh.com`).
pub(super) fn chunk_sizes(limits: Option<Limits>) -> (u32, u32) {
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
pub(super) fn depth_for(chunk: usize) -> usize {
    (IN_FLIGHT_BYTES / chunk.max(1)).clamp(2, 64)
}

/// Reads up to `size` bytes, fewer only at the end of the source.
pub(super) async fn read_chunk(
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

#[cfg(test)]
mod tests {
    use super::*;

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
