//! Wake-ups through the database: PostgreSQL's `LISTEN`/`NOTIFY`, on a connection of
//! the listener's own. Payloads are short (an id): whoever is woken reads the rows.

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::pg::PgConnection;

use crate::{Conn, DatabaseUrl, Error, Result};

/// How often a waiting listener looks at its connection for notifications.
const POLL: Duration = Duration::from_millis(5);

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
