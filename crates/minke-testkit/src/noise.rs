//! [`Noise`]: pseudo-random bytes made as they are read, for transfers of any size
//! without holding them.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// `len` pseudo-random bytes (xorshift from a fixed seed: the same every time), made
/// as they are read; each chunk is shown to `seen` on its way, to hash or count it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tokio::io::AsyncReadExt as _;
/// let mut total = 0usize;
/// let mut noise = minke_testkit::Noise::new(100_000).watched(|b: &[u8]| total += b.len());
/// let mut out = Vec::new();
/// noise.read_to_end(&mut out).await.unwrap();
/// drop(noise);
/// assert_eq!((out.len(), total), (100_000, 100_000));
/// # }
/// ```
pub struct Noise<F = fn(&[u8])> {
    left: u64,
    state: u64,
    seen: F,
}

impl Noise {
    /// `len` bytes.
    pub fn new(len: u64) -> Self {
        Noise {
            left: len,
            state: 0x9E37_79B9_7F4A_7C15,
            seen: |_| {},
        }
    }
}

impl<F> Noise<F> {
    /// The same bytes, each chunk shown to `seen` as it is read.
    pub fn watched<G: FnMut(&[u8])>(self, seen: G) -> Noise<G> {
        Noise {
            left: self.left,
            state: self.state,
            seen,
        }
    }
}

impl<F: FnMut(&[u8]) + Unpin> AsyncRead for Noise<F> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let mut block = [0u8; 8192];
        let mut done = 0;
        while done < want {
            let n = (want - done).min(block.len());
            for word in block[..n].chunks_mut(8) {
                let mut x = self.state;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.state = x;
                word.copy_from_slice(&x.to_le_bytes()[..word.len()]);
            }
            (self.seen)(&block[..n]);
            buf.put_slice(&block[..n]);
            done += n;
        }
        self.left -= want as u64;
        Poll::Ready(Ok(()))
    }
}
