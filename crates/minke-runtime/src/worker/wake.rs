//! Waking the worker when work is queued: on PostgreSQL a thread listens on the
//! queue's channel (on a connection of its own, reconnecting with backoff); the
//! worker's fallback poll covers what a lost connection missed. SQLite has no
//! notifications: the poll alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use minke_store::{Listener, Store, WORK_CHANNEL};
use tokio::sync::Notify;

/// How long the listening thread waits at a time (and so how soon it sees that the
/// worker stopped).
const WAIT: Duration = Duration::from_millis(250);
/// The longest pause between attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The listening thread; it stops when dropped.
pub(super) struct Waker {
    stop: Arc<AtomicBool>,
}

impl Drop for Waker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Waker {
    /// Starts listening for new work, on PostgreSQL; `None` on SQLite.
    pub(super) fn start(store: &Store, wake: Arc<Notify>) -> Option<Waker> {
        let url = store.url().clone();
        if url.is_sqlite() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("minke-work-listener".into())
            .spawn(move || {
                let mut backoff = Duration::from_millis(100);
                while !stopped.load(Ordering::SeqCst) {
                    match Listener::open(&url, &[WORK_CHANNEL]) {
                        Ok(mut listener) => {
                            backoff = Duration::from_millis(100);
                            // Work may have been queued while not listening.
                            wake.notify_one();
                            listen(&mut listener, &wake, &stopped);
                        }
                        Err(e) => tracing::warn!("listening for new work failed: {e}"),
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the thread that listens for new work: {e}");
            return None;
        }
        Some(Waker { stop })
    }
}

/// Wakes the worker on each batch of notifications until the connection fails or
/// the worker stops.
fn listen(listener: &mut Listener, wake: &Notify, stopped: &AtomicBool) {
    while !stopped.load(Ordering::SeqCst) {
        match listener.wait(WAIT) {
            Ok(got) if !got.is_empty() => wake.notify_one(),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("the connection listening for new work was lost: {e}");
                return;
            }
        }
    }
}
