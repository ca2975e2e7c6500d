//! Waking the worker when work is queued: on PostgreSQL a thread listens on the
//! queue's channel (reconnecting with backoff; a reconnect wakes the worker too, for
//! what it missed); the worker's fallback poll covers the rest. SQLite has no
//! notifications: the poll alone.

use std::sync::Arc;

use minke_store::{Listener, Listening, Store, WORK_CHANNEL};
use tokio::sync::Notify;

/// Starts listening for new work, on PostgreSQL; it stops when the result is dropped.
pub(super) fn start(store: &Store, wake: Arc<Notify>) -> Option<Listening> {
    Listener::spawn(store.url(), &[WORK_CHANNEL], move |_| wake.notify_one())
}
