//! Wake-ups through the database: PostgreSQL's `LISTEN`/`NOTIFY`, on a connection of
//! the listener's own. Payloads are short (an id): whoever is woken reads the rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::pg::PgConnection;
use diesel::sql_types::{Array, BigInt, Text};

use crate::{Conn, DatabaseUrl, Error, Result};
use minke_core::RunId;

/// How often a waiting listener looks at its connection for notifications.
const POLL: Duration = Duration::from_millis(5);

/// The channel on which processes announce that runs changed (the run's id).
pub const RUN_CHANNEL: &str = "minke_run";

/// Sends each id on `channel` (PostgreSQL; nothing on SQLite), delivered when the
/// transaction commits.
pub(crate) fn notify_ids<Id>(conn: &mut Conn, channel: &str, ids: &[Id]) -> Result<()>
where
    Id: diesel::serialize::ToSql<BigInt, diesel::pg::Pg> + std::fmt::Debug,
{
    let Conn::Pg(c) = conn else {
        return Ok(());
    };
    for chunk in ids.chunks(1000) {
        diesel::sql_query("SELECT pg_notify($1, x::text) FROM unnest($2::bigint[]) AS x")
            .bind::<Text, _>(channel)
            .bind::<Array<BigInt>, _>(chunk)
            .execute(c)
            .map_err(Error::query(format!("announcing on {channel}")))?;
    }
    Ok(())
}

/// Announces on [`RUN_CHANNEL`] that these runs changed (PostgreSQL; nothing on
/// SQLite).
pub fn notify_runs(conn: &mut Conn, run_ids: &[RunId]) -> Result<()> {
    notify_ids(conn, RUN_CHANNEL, run_ids)
}

/// How long the background listener waits at a time (and so how soon it sees that
/// it should stop).
const WAIT: Duration = Duration::from_millis(250);
/// The longest pause between attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A thread listening in the background ([`Listener::spawn`]); it stops when dropped.
#[derive(Debug)]
pub struct Listening {
    stop: Arc<AtomicBool>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One notification: its channel and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The channel it was sent on.
    pub channel: String,
    /// What was sent (an id).
    pub payload: String,
}

/// Listens on notification channels (PostgreSQL only).
pub struct Listener {
    conn: PgConnection,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// Opens a connection of its own and listens on `channels` (names of
    /// identifier characters only). SQLite has no notifications:
    /// [`Error::NeedsPostgres`].
    pub fn open(url: &DatabaseUrl, channels: &[&str]) -> Result<Listener> {
        let needs_pg = || Error::NeedsPostgres {
            what: "listening for notifications".into(),
            url: url.redacted(),
        };
        if url.is_sqlite() {
            return Err(needs_pg());
        }
        let Conn::Pg(mut conn) = Conn::open(url)? else {
            return Err(needs_pg());
        };
        for channel in channels {
            if channel.is_empty()
                || !channel
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(Error::BadQuery(format!(
                    "`{channel}` is not a channel name (letters, digits and `_` only)"
                )));
            }
            diesel::sql_query(format!("LISTEN {channel}"))
                .execute(&mut conn)
                .map_err(Error::query(format!("listening on {channel}")))?;
        }
        Ok(Listener { conn })
    }

    /// Waits up to `timeout` for notifications and returns those that came (none
    /// when the time ran out). An error means the connection is lost: open a new
    /// listener (notifications sent meanwhile are lost, so look at the rows).
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<Notification>> {
        let until = Instant::now() + timeout;
        loop {
            let got = self.take()?;
            if !got.is_empty() || Instant::now() >= until {
                return Ok(got);
            }
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
    }

    /// Listens on `channels` on a thread of its own, calling `on` with each
    /// notification, and with `None` each time it (re)connects (notifications sent
    /// while it was not listening are lost: look at the rows). A lost connection is
    /// opened again with backoff. `None` on SQLite, which has no notifications.
    pub fn spawn(
        url: &DatabaseUrl,
        channels: &'static [&'static str],
        on: impl Fn(Option<Notification>) + Send + 'static,
    ) -> Option<Listening> {
        if url.is_sqlite() {
            return None;
        }
        let url = url.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("minke-listener".into())
            .spawn(move || listen_until(&url, channels, &on, &stopped));
        match spawned {
            Ok(_) => Some(Listening { stop }),
            Err(e) => {
                tracing::warn!("cannot start a thread to listen on {channels:?}: {e}");
                None
            }
        }
    }

    /// The notifications received so far, without waiting.
    pub fn take(&mut self) -> Result<Vec<Notification>> {
        let mut got = Vec::new();
        for n in self.conn.notifications_iter() {
            let n = n.map_err(Error::query("reading notifications"))?;
            got.push(Notification {
                channel: n.channel,
                payload: n.payload,
            });
        }
        Ok(got)
    }
}

/// Listens, reconnecting with backoff, until `stopped`.
fn listen_until(
    url: &DatabaseUrl,
    channels: &[&str],
    on: &dyn Fn(Option<Notification>),
    stopped: &AtomicBool,
) {
    let mut backoff = Duration::from_millis(100);
    while !stopped.load(Ordering::SeqCst) {
        match Listener::open(url, channels) {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                on(None);
                while !stopped.load(Ordering::SeqCst) {
                    match listener.wait(WAIT) {
                        Ok(got) => got.into_iter().for_each(|n| on(Some(n))),
                        Err(e) => {
                            tracing::warn!(
                                "the connection listening on {channels:?} was lost: {e}"
                            );
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("listening on {channels:?} failed: {e}"),
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
