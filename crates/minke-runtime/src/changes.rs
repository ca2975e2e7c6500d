//! Other processes' word that runs changed: on PostgreSQL one listener per engine on
//! [`RUN_CHANNEL`], shared by everyone here who waits for a run to change (a stop that
//! `cancel` asked from another process). SQLite has no notifications: there, and
//! for what a reconnect missed, the waiters look at the database now and then.

use std::sync::OnceLock;

use minke_store::{DatabaseUrl, Listener, Listening, RUN_CHANNEL};
use tokio::sync::broadcast;

/// What a waiter is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Changed {
    /// This run changed.
    Run(i64),
    /// Any run may have changed (the listener connected again): look.
    Unknown,
}

/// The engine's one listener, started by the first waiter.
#[derive(Default)]
pub(crate) struct RunChanges {
    feed: OnceLock<Option<Feed>>,
}

struct Feed {
    tx: broadcast::Sender<Changed>,
    _listening: Listening,
}

impl RunChanges {
    /// The changes from now on; `None` on SQLite (or when no listener could start).
    pub(crate) fn subscribe(&self, url: &DatabaseUrl) -> Option<broadcast::Receiver<Changed>> {
        self.feed
            .get_or_init(|| {
                let (tx, _) = broadcast::channel(1024);
                let sender = tx.clone();
                let listening = Listener::spawn(url, &[RUN_CHANNEL], move |n| {
                    let change = n
                        .and_then(|n| n.payload.parse().ok())
                        .map_or(Changed::Unknown, Changed::Run);
                    let _ = sender.send(change);
                })?;
                Some(Feed {
                    tx,
                    _listening: listening,
                })
            })
            .as_ref()
            .map(|f| f.tx.subscribe())
    }
}
