//! Other processes' word that runs changed: on PostgreSQL one listener per engine on
//! [`RUN_CHANNEL`], shared by everyone here who waits for a run to change (a stop that
//! `cancel` asked from another process). SQLite has no notifications: there, and
//! for what a reconnect missed, the waiters look at the database now and then.

use minke_core::RunId;
use std::sync::OnceLock;

use minke_store::{DatabaseUrl, Listener, Listening, RUN_CHANNEL};
use tokio::sync::broadcast;

/// What a waiter is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Changed {
    /// This run changed.
    Run(RunId),
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

/// Waits until `run_id` may have changed: told so, or told that any run may have (the
/// listener connected again, or this waiter fell behind); the word queued meanwhile
/// is taken along, so that one look at the database answers it all. Returns once more
/// when the announcements end (`feed` becomes `None`); without them (SQLite) it never
/// returns: the waiter's own look now and then is all there is.
pub(crate) async fn changed(feed: &mut Option<broadcast::Receiver<Changed>>, run_id: RunId) {
    use broadcast::error::{RecvError, TryRecvError};
    let Some(rx) = feed.as_mut() else {
        return std::future::pending().await;
    };
    let ended = loop {
        match rx.recv().await {
            Ok(Changed::Run(id)) if id != run_id => {}
            Ok(_) | Err(RecvError::Lagged(_)) => break false,
            Err(RecvError::Closed) => break true,
        }
    };
    if ended {
        *feed = None;
        return;
    }
    loop {
        match rx.try_recv() {
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Empty | TryRecvError::Closed) => return,
        }
    }
}
