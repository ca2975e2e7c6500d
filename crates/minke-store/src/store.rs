//! The store: a pool of readers and one writer thread that batches writes.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::oneshot;

use crate::{Conn, DatabaseUrl, Error, Result};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How many queued writes go into one transaction at most.
const WRITE_BATCH: usize = 512;
/// How many idle reader connections are kept.
const MAX_IDLE_READERS: usize = 8;
/// How many reads run at once (more wait): bounds connections, threads and files.
const MAX_READERS: usize = 16;

type Finish = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&mut Conn) -> Finish + Send>;

/// Minke's database: history, hosts, locks, and the users' model tables.
///
/// Sync diesel never runs on the async runtime: reads go through
/// [`blocking`](Self::blocking) on tokio's blocking pool, and every write goes to one
/// writer thread which batches queued writes into one transaction (each write in its
/// own savepoint), so SQLite never answers `database is locked` and many small writes
/// cost one commit.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    url: DatabaseUrl,
    readers: Mutex<Vec<Conn>>,
    reading: tokio::sync::Semaphore,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Writes queued without waiting that failed: how many, and the first error.
    failed_writes: Mutex<(u64, Option<String>)>,
}

impl Inner {
    fn record_failure(&self, error: String) {
        if let Ok(mut f) = self.failed_writes.lock() {
            f.0 += 1;
            f.1.get_or_insert(error);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.inner.url.redacted())
            .finish()
    }
}

/// Runs the embedded migrations that the database does not have yet.
pub fn migrate(conn: &mut Conn) -> Result<Vec<String>> {
    let done = match conn {
        Conn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect()),
        Conn::Pg(c) => c
            .run_pending_migrations(PG_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect()),
    };
    done.map_err(|e| Error::Migration(e.to_string()))
}

impl Store {
    /// Opens the database at `url`, running pending migrations (blocking: call from a
    /// blocking context or use [`open`](Self::open)).
    pub fn open_blocking(url: &str) -> Result<Store> {
        Self::open_with_blocking(url, &[])
    }

    /// Opens the database, running Minke's pending migrations and then the app's.
    pub fn open_with_blocking(url: &str, app: &[crate::AppMigration]) -> Result<Store> {
        let url = DatabaseUrl::parse(url)?;
        let mut conn = Conn::open(&url)?;
        let mut applied = migrate(&mut conn)?;
        applied.extend(
            crate::apply_app_migrations(&mut conn, app)?
                .into_iter()
                .map(str::to_owned),
        );
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "database migrated");
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_thread = std::thread::Builder::new()
            .name("minke-db-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| Error::Worker(format!("cannot start the writer thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                url,
                readers: Mutex::new(Vec::new()),
                reading: tokio::sync::Semaphore::new(MAX_READERS),
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(writer_thread)),
                failed_writes: Mutex::new((0, None)),
            }),
        })
    }

    /// Opens the database at `url`, running pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        Self::open_with(url, &[]).await
    }

    /// Opens the database, running Minke's pending migrations and then the app's.
    pub async fn open_with(url: &str, app: &[crate::AppMigration]) -> Result<Store> {
        let url = url.to_owned();
        let app = app.to_vec();
        tokio::task::spawn_blocking(move || Store::open_with_blocking(&url, &app))
            .await
            .map_err(|e| Error::Worker(e.to_string()))?
    }

    /// The database URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.inner.url
    }

    /// Runs `f` with a reader connection on a blocking thread.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    {
        let _turn = self
            .inner
            .reading
            .acquire()
            .await
            .map_err(|_| Error::Worker("the store is closed".into()))?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.with_reader(f))
            .await
            .map_err(|e| Error::Worker(e.to_string()))?
    }

    /// Runs `f` with a reader connection on the current (blocking) thread.
    pub fn with_reader<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let pooled = self
            .inner
            .readers
            .lock()
            .map_err(|_| Error::Worker("reader pool poisoned".into()))?
            .pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => Conn::open(&self.inner.url)?,
        };
        let out = f(&mut conn);
        if let Ok(mut pool) = self.inner.readers.lock()
            && pool.len() < MAX_IDLE_READERS
        {
            pool.push(conn);
        }
        out
    }

    fn send(&self, job: Job) -> Result<()> {
        let guard = self
            .inner
            .writer
            .lock()
            .map_err(|_| Error::Worker("writer poisoned".into()))?;
        let tx = guard
            .as_ref()
            .ok_or_else(|| Error::Worker("the store is closed".into()))?;
        tx.send(job)
            .map_err(|_| Error::Worker("the writer thread is gone".into()))
    }

    /// Runs `f` on the writer thread in its own savepoint and waits until the batch it
    /// went into is committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Box::new(move |conn: &mut Conn| -> Finish {
            let out = conn.transaction(f);
            Box::new(move |commit: std::result::Result<(), String>| {
                let _ = tx.send(match commit {
                    Ok(()) => out,
                    Err(e) => Err(Error::Worker(format!("commit failed: {e}"))),
                });
            })
        }))?;
        rx.await
            .map_err(|_| Error::Worker("the writer thread stopped before answering".into()))?
    }

    /// Runs `f` on the writer thread without waiting; a failure is logged with `what`.
    /// Writes are applied in the order they were queued.
    pub fn write_later<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&mut Conn) -> Result<()> + Send + 'static,
    {
        self.queue_later(what, true, f);
    }

    /// Like [`write_later`](Self::write_later), for a write that is one statement: on
    /// SQLite it runs without a savepoint of its own (a failing statement undoes its
    /// own changes and leaves the batch's transaction open), which makes the engine's
    /// small history writes about a third cheaper. On PostgreSQL, where a failing
    /// statement aborts the whole transaction, it still gets a savepoint.
    pub fn write_statement_later<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&mut Conn) -> Result<()> + Send + 'static,
    {
        self.queue_later(what, !self.inner.url.is_sqlite(), f);
    }

    fn queue_later<F>(&self, what: &'static str, savepoint: bool, f: F)
    where
        F: FnOnce(&mut Conn) -> Result<()> + Send + 'static,
    {
        let inner = self.inner.clone();
        let sent = self.send(Box::new(move |conn: &mut Conn| -> Finish {
            let out = if savepoint {
                conn.transaction(f)
            } else {
                crate::conn::guarded(|| f(conn))
            };
            Box::new(move |commit| {
                let failed = match (out, commit) {
                    (Err(e), _) => format!("writing {what} failed: {e}"),
                    (Ok(()), Err(e)) => format!("committing {what} failed: {e}"),
                    (Ok(()), Ok(())) => return,
                };
                tracing::error!("{failed}");
                inner.record_failure(failed);
            })
        }));
        if let Err(e) = sent {
            let failed = format!("writing {what} failed: {e}");
            tracing::error!("{failed}");
            self.inner.record_failure(failed);
        }
    }

    /// How many writes queued with [`write_later`](Self::write_later) or
    /// [`write_statement_later`](Self::write_statement_later) failed so far, and the
    /// first of their errors (a full disk, say): each is logged when it happens; a
    /// command-line run reports them at its end, since its history is incomplete.
    pub fn failed_writes(&self) -> (u64, Option<String>) {
        self.inner
            .failed_writes
            .lock()
            .map(|f| f.clone())
            .unwrap_or((0, None))
    }

    /// Commits every queued write and closes the database's connections; writes after
    /// this fail with "the store is closed". On SQLite, closing the last connection
    /// folds the write-ahead log into the database file, so the next process that
    /// opens it does not have to read the log back first.
    pub async fn close(&self) -> Result<()> {
        self.flush().await?;
        let sender = self
            .inner
            .writer
            .lock()
            .map_err(|_| Error::Worker("writer poisoned".into()))?
            .take();
        drop(sender);
        if let Ok(mut pool) = self.inner.readers.lock() {
            pool.clear();
        }
        let thread = self
            .inner
            .writer_thread
            .lock()
            .map_err(|_| Error::Worker("writer poisoned".into()))?
            .take();
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| Error::Worker(e.to_string()))?
                .map_err(|_| Error::Worker("the writer thread panicked".into()))?;
        }
        Ok(())
    }

    /// Waits until every write queued before this call is committed.
    pub async fn flush(&self) -> Result<()> {
        self.write(|_| Ok(())).await
    }
}

fn writer_loop(mut conn: Conn, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut finishes = Vec::with_capacity(jobs.len());
        let commit = conn.transaction(|c| {
            for job in jobs {
                finishes.push(job(c));
            }
            Ok(())
        });
        let commit = commit.map_err(|e| e.to_string());
        for finish in finishes {
            finish(commit.clone());
        }
    }
}
