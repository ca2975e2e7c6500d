//! The store: a pool of readers and one writer thread that batches writes.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::oneshot;

use crate::conn::SqliteMode;
use crate::{Conn, DatabaseUrl, Error, Result};
use minke_core::RunId;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How many queued writes go into one transaction at most.
const WRITE_BATCH: usize = 512;
/// How many reads run at once (more wait): bounds connections, threads and files.
/// As many are kept open when idle: a busy worker reads at this width in bursts, and
/// a connection closed after each burst cost a new server process and its prepared
/// statements (a third of PostgreSQL's time in the queue's benchmark).
const MAX_READERS: usize = 16;

use crate::rows::{Finish, HistoryRow, RowJob};

/// A queued write.
enum Job {
    /// Runs once in its own savepoint; its finish learns whether the batch committed.
    Once(Box<dyn FnOnce(&mut Conn) -> Finish + Send>),
    /// One statement ([`Store::write_statement_later`]), which may run twice: on
    /// PostgreSQL the statements queued one after another share one savepoint, and
    /// when one of them fails they are run again, each in its own.
    Statement(Statement),
    /// A history row, merged with the rows queued beside it (see [`crate::rows`]).
    Row(RowJob),
}

/// A write that may run twice.
type StatementFn = Box<dyn Fn(&mut Conn) -> Result<()> + Send>;

/// A single-statement write and how its failure is told.
struct Statement {
    what: &'static str,
    f: StatementFn,
    failed: Box<dyn FnOnce(String) + Send>,
}

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
    read_only: bool,
    readers: Mutex<Vec<Conn>>,
    reading: tokio::sync::Semaphore,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    /// Writes that go into the writer's next batch, ahead of those queued.
    urgent: Arc<Mutex<Vec<Job>>>,
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

/// What opening a database may do to it: decided once, by the command.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use minke_store::{OpenMode, Store};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("m.db");
/// let url = path.to_str().unwrap();
/// let e = Store::open_as(url, &[], OpenMode::Existing).await.unwrap_err();
/// assert!(e.to_string().contains("does not exist"), "{e}");
/// assert!(!path.exists());
/// Store::open_as(url, &[], OpenMode::Migrate).await.unwrap().close().await.unwrap();
/// let store = Store::open_as(url, &[], OpenMode::Existing).await.unwrap();
/// assert!(!store.is_read_only());
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the database when it is missing and apply pending migrations (Minke's,
    /// then the app's): `migrate` and the commands that start work.
    #[default]
    Migrate,
    /// Open a database that exists and has the current schema, without changing its
    /// schema: the commands that only read. A missing SQLite file, a database
    /// without Minke's tables or with pending migrations are errors; an SQLite file
    /// this process cannot write is opened read-only.
    Existing,
}

impl Store {
    /// Opens the database at `url`, running pending migrations (blocking: call from a
    /// blocking context or use [`open`](Self::open)).
    pub fn open_blocking(url: &str) -> Result<Store> {
        Self::open_with_blocking(url, &[])
    }

    /// Opens the database, running Minke's pending migrations and then the app's.
    pub fn open_with_blocking(url: &str, app: &[crate::AppMigration]) -> Result<Store> {
        Self::open_as_blocking(url, app, OpenMode::Migrate)
    }

    /// Opens the database as `mode` allows (blocking).
    pub fn open_as_blocking(
        url: &str,
        app: &[crate::AppMigration],
        mode: OpenMode,
    ) -> Result<Store> {
        let url = DatabaseUrl::parse(url)?;
        let (url, conn) = match mode {
            OpenMode::Migrate => {
                let conn = open_migrated(&url, app)?;
                (url, conn)
            }
            OpenMode::Existing => {
                let url = existing_url(url)?;
                let mut conn = Conn::open(&url)?;
                check_schema(&mut conn, &url, app)?;
                (url, conn)
            }
        };
        let read_only = matches!(
            url,
            DatabaseUrl::Sqlite {
                mode: SqliteMode::Read,
                ..
            }
        );
        let urgent: Arc<Mutex<Vec<Job>>> = Arc::default();
        let (writer, writer_thread) = if read_only {
            (None, None)
        } else {
            let (tx, rx) = mpsc::channel::<Job>();
            let thread = std::thread::Builder::new()
                .name("minke-db-writer".into())
                .spawn({
                    let (url, urgent) = (url.clone(), urgent.clone());
                    move || writer_loop(conn, &url, &rx, &urgent)
                })
                .map_err(|e| Error::Worker(format!("cannot start the writer thread: {e}")))?;
            (Some(tx), Some(thread))
        };
        Ok(Store {
            inner: Arc::new(Inner {
                url,
                read_only,
                readers: Mutex::new(Vec::new()),
                reading: tokio::sync::Semaphore::new(MAX_READERS),
                writer: Mutex::new(writer),
                urgent,
                writer_thread: Mutex::new(writer_thread),
                failed_writes: Mutex::new((0, None)),
            }),
        })
    }

    /// Opens the database as `mode` allows, running Minke's pending migrations and
    /// then the app's when it is [`OpenMode::Migrate`].
    pub async fn open_as(url: &str, app: &[crate::AppMigration], mode: OpenMode) -> Result<Store> {
        let url = url.to_owned();
        let app = app.to_vec();
        tokio::task::spawn_blocking(move || Store::open_as_blocking(&url, &app, mode))
            .await
            .map_err(|e| Error::Worker(e.to_string()))?
    }

    /// True when the database was opened only to read (`mode=ro`, or a file this
    /// process cannot write): every write fails with [`Error::ReadOnly`].
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// Opens the database at `url`, running pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        Self::open_with(url, &[]).await
    }

    /// Opens the database, running Minke's pending migrations and then the app's.
    pub async fn open_with(url: &str, app: &[crate::AppMigration]) -> Result<Store> {
        Self::open_as(url, app, OpenMode::Migrate).await
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

    /// Like [`write`](Self::write), ahead of the writes queued: in the writer's next
    /// batch. For small writes that must not wait behind the history (a worker's
    /// lease renewals and claims); on the writer's own connection, so they never
    /// wait for its locks.
    pub async fn write_urgent<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    {
        let (job, answer) = answered(f);
        self.inner
            .urgent
            .lock()
            .map_err(|_| Error::Worker("writer poisoned".into()))?
            .push(job);
        // Wakes the writer if it waits for work (it takes the urgent ones first).
        self.send(Job::Once(Box::new(|_: &mut Conn| -> Finish {
            Box::new(|_| {})
        })))?;
        answer.await
    }

    /// Runs `f` in a transaction of its own, apart from the writer's queue: for small
    /// writes that must not wait behind the history (a worker's lease renewals, the
    /// reaper, claims). On PostgreSQL it uses a pooled connection; on SQLite, where
    /// one connection writes at a time, it goes through the writer like
    /// [`write`](Self::write).
    pub async fn write_apart<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    {
        if self.inner.url.is_sqlite() {
            return self.write(f).await;
        }
        if self.inner.read_only {
            return Err(Error::ReadOnly {
                url: self.inner.url.redacted(),
            });
        }
        self.blocking(move |c| c.transaction(f)).await
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
        // A connection that failed may be broken (the server restarted): not kept.
        if out.is_ok()
            && let Ok(mut pool) = self.inner.readers.lock()
            && pool.len() < MAX_READERS
        {
            pool.push(conn);
        }
        out
    }

    fn send(&self, job: Job) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::ReadOnly {
                url: self.inner.url.redacted(),
            });
        }
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
        let (job, answer) = answered(f);
        self.send(job)?;
        answer.await
    }

    /// Runs `f` on the writer thread without waiting; a failure is logged with `what`.
    /// Writes are applied in the order they were queued.
    pub fn write_later<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&mut Conn) -> Result<()> + Send + 'static,
    {
        let failed = self.failure();
        self.send_later(
            what,
            Job::Once(Box::new(move |conn: &mut Conn| -> Finish {
                crate::rows::told(what, conn.transaction(f), failed)
            })),
        );
    }

    /// Like [`write_later`](Self::write_later), for a write that is one statement and
    /// may run twice: on SQLite it runs without a savepoint of its own (a failing
    /// statement undoes its own changes and leaves the batch's transaction open),
    /// which makes the engine's small history writes about a third cheaper. On
    /// PostgreSQL, where a failing statement aborts the whole transaction, the
    /// statements queued one after another share one savepoint; when one of them
    /// fails, they are run again each in its own, so that only the failing one is
    /// lost (and counted).
    pub fn write_statement_later<F>(&self, what: &'static str, f: F)
    where
        F: Fn(&mut Conn) -> Result<()> + Send + 'static,
    {
        let failed = self.failure();
        self.send_later(
            what,
            Job::Statement(Statement {
                what,
                f: Box::new(f),
                failed,
            }),
        );
    }

    /// Queues a row of a session's history without waiting; `make` is called when
    /// the writer takes it (so a command's start can still take in its end). Rows
    /// queued one after another are written together, one statement for each kind
    /// on PostgreSQL ([`HistoryRow`] tells the order); a failure is logged with
    /// `what` and counted ([`failed_writes`](Self::failed_writes)), and costs only
    /// the failing row.
    pub fn record_later<F>(&self, what: &'static str, make: F)
    where
        F: FnOnce() -> HistoryRow + Send + 'static,
    {
        let failed = self.failure();
        self.send_later(
            what,
            Job::Row(RowJob::Row {
                what,
                make: Box::new(make),
                failed,
            }),
        );
    }

    /// Records that a session of a work item starts, if `worker` still holds the
    /// item, as [`QueueWorker::start_session`](crate::QueueWorker::start_session)
    /// does, merged with the other history rows queued beside it; true once the
    /// start is committed, false when the session must not run.
    pub fn start_held_session(
        &self,
        worker: &crate::QueueWorker,
        item: minke_core::WorkItemId,
        session: minke_core::SessionId,
    ) -> impl std::future::Future<Output = Result<bool>> + use<> {
        let (answer, rx) = oneshot::channel();
        let start = worker.held_start(item, session);
        self.ask(RowJob::Held { start, answer }, rx)
    }

    /// Ends a work item `worker` ran, as [`QueueWorker::end_item`](crate::QueueWorker::end_item)
    /// does, after the history rows queued before it and merged with the other items'
    /// ends queued beside them (on PostgreSQL one statement for the items that ran all
    /// their sessions, and one look at each of their runs); answered once committed.
    pub fn end_work_item(
        &self,
        worker: &crate::QueueWorker,
        item: &crate::WorkItem,
        at: i64,
    ) -> impl std::future::Future<Output = Result<Option<crate::ItemEnd>>> + use<> {
        let (answer, rx) = oneshot::channel();
        let end = crate::rows::ItemEndJob {
            worker: worker.clone(),
            item: item.clone(),
            at,
            answer,
        };
        self.ask(RowJob::ItemEnd(end), rx)
    }

    /// Queues a row whose caller waits for what it came to (on `rx`); queued now, in
    /// the order of the calls, not when first polled.
    fn ask<T>(
        &self,
        row: RowJob,
        rx: oneshot::Receiver<Result<T>>,
    ) -> impl std::future::Future<Output = Result<T>> + use<T> {
        let sent = self.send(Job::Row(row));
        async move {
            sent?;
            answer_of(rx).await
        }
    }

    /// Announces on [`RUN_CHANNEL`](crate::RUN_CHANNEL) that these runs changed
    /// (PostgreSQL), after the writes queued before it. Best effort: an announcement
    /// that cannot be written (the store closed, the database away) is logged, not
    /// counted among the failed writes: the history has everything, and listeners
    /// look again now and then.
    pub fn announce_runs_later(&self, run_ids: Vec<RunId>) {
        if self.inner.url.is_sqlite() || run_ids.is_empty() {
            return;
        }
        let sent = self.send(Job::Once(Box::new(move |conn: &mut Conn| -> Finish {
            let out = conn.transaction(|c| crate::notify_runs(c, &run_ids));
            Box::new(move |commit| {
                if let Err(e) = out.map_err(|e| e.to_string()).and(commit) {
                    tracing::debug!("announcing runs failed: {e}");
                }
            })
        })));
        if let Err(e) = sent {
            tracing::debug!("announcing runs failed: {e}");
        }
    }

    /// How a write queued without waiting tells its failure: logged, and counted in
    /// [`failed_writes`](Self::failed_writes).
    fn failure(&self) -> Box<dyn FnOnce(String) + Send> {
        let inner = self.inner.clone();
        Box::new(move |failed: String| {
            tracing::error!("{failed}");
            inner.record_failure(failed);
        })
    }

    /// Queues a write nobody waits for; one that cannot be queued (the store closed)
    /// is told as failed at once.
    fn send_later(&self, what: &'static str, job: Job) {
        if let Err(e) = self.send(job) {
            (self.failure())(format!("writing {what} failed: {e}"));
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
        if self.inner.read_only {
            return Ok(());
        }
        self.write(|_| Ok(())).await
    }
}

fn writer_loop(
    mut conn: Conn,
    url: &DatabaseUrl,
    rx: &mpsc::Receiver<Job>,
    urgent: &Mutex<Vec<Job>>,
) {
    while let Ok(first) = rx.recv() {
        let mut queued = vec![first];
        while queued.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(j) => queued.push(j),
                Err(_) => break,
            }
        }
        // The urgent writes go first. Taken after the queue: every wake-up received
        // above was sent after its urgent write was put there, so none is left
        // behind while the writer waits for work that never comes.
        let mut jobs: Vec<Job> = urgent
            .lock()
            .map(|mut u| u.drain(..).collect())
            .unwrap_or_default();
        jobs.extend(queued);
        let mut finishes = Vec::with_capacity(jobs.len());
        let mut pending = Some(jobs);
        let commit = loop {
            let commit = conn.transaction(|c| {
                let (mut statements, mut rows) = (Vec::new(), Vec::new());
                for job in pending.take().unwrap_or_default() {
                    match job {
                        Job::Row(r) => {
                            run_statements(c, std::mem::take(&mut statements), &mut finishes);
                            rows.push(r);
                        }
                        Job::Statement(s) => {
                            crate::rows::apply(c, std::mem::take(&mut rows), &mut finishes);
                            statements.push(s);
                        }
                        Job::Once(f) => {
                            run_statements(c, std::mem::take(&mut statements), &mut finishes);
                            crate::rows::apply(c, std::mem::take(&mut rows), &mut finishes);
                            finishes.push(f(c));
                        }
                    }
                }
                run_statements(c, statements, &mut finishes);
                crate::rows::apply(c, rows, &mut finishes);
                Ok(())
            });
            // PostgreSQL out of reach: the transaction did not begin, so nothing of
            // the batch ran. It waits for a new connection, and is written then.
            match (&commit, pending.is_some(), &conn) {
                (Err(e), true, Conn::Pg(_)) => conn = reconnect(url, e),
                _ => break commit,
            }
        };
        let commit = commit.map_err(|e| e.to_string());
        for finish in finishes {
            finish(commit.clone());
        }
    }
}

/// A write run in its own savepoint, and the answer its caller waits for: what `f`
/// returned once the batch it went into is committed, or why not.
fn answered<T, F>(f: F) -> (Job, impl std::future::Future<Output = Result<T>>)
where
    T: Send + 'static,
    F: FnOnce(&mut Conn) -> Result<T> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job = Job::Once(Box::new(move |conn: &mut Conn| -> Finish {
        crate::rows::answered(tx, conn.transaction(f))
    }));
    (job, answer_of(rx))
}

/// The answer the writer sends, or why none came.
async fn answer_of<T>(rx: oneshot::Receiver<Result<T>>) -> Result<T> {
    rx.await
        .map_err(|_| Error::Worker("the writer thread stopped before answering".into()))?
}

/// Runs statements queued one after another (see [`Store::write_statement_later`]):
/// on SQLite each as it is; on PostgreSQL all in one savepoint, and when one fails,
/// each again in its own.
fn run_statements(c: &mut Conn, statements: Vec<Statement>, finishes: &mut Vec<Finish>) {
    let together = match (&*c, statements.len()) {
        (_, 0) => return,
        (Conn::Sqlite(_), _) | (_, 1) => false,
        (Conn::Pg(_), _) => c
            .transaction(|c| statements.iter().try_for_each(|s| (s.f)(c)))
            .is_ok(),
    };
    for s in statements {
        let out = match (together, &*c) {
            (true, _) => Ok(()),
            (false, Conn::Sqlite(_)) => crate::conn::guarded(|| (s.f)(c)),
            (false, Conn::Pg(_)) => c.transaction(|c| (s.f)(c)),
        };
        let Statement { what, failed, .. } = s;
        finishes.push(crate::rows::told(what, out, failed));
    }
}

/// The longest pause between two attempts to reach the database again.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(5);

/// A new connection for the writer, tried again with backoff until it opens.
fn reconnect(url: &DatabaseUrl, why: &Error) -> Conn {
    tracing::warn!(url = %url.redacted(), "the database is out of reach ({why}); writes wait for it");
    let mut pause = Duration::from_millis(100);
    loop {
        std::thread::sleep(pause);
        match Conn::open(url) {
            Ok(c) => {
                tracing::warn!(url = %url.redacted(), "the database is back; the waiting writes go on");
                return c;
            }
            Err(e) => tracing::debug!("reconnecting failed: {e}"),
        }
        pause = (pause * 2).min(MAX_RECONNECT_PAUSE);
    }
}

/// Opens a database that may be created and migrated, and brings it up to date:
/// Minke's migrations, then the app's, in one transaction holding the write lock
/// (on PostgreSQL an advisory lock), so that processes started together on a new
/// database do not apply the same migration twice.
fn open_migrated(url: &DatabaseUrl, app: &[crate::AppMigration]) -> Result<Conn> {
    if let DatabaseUrl::Sqlite {
        mode: SqliteMode::Read,
        ..
    } = url
    {
        return Err(Error::ReadOnly {
            url: url.redacted(),
        });
    }
    let mut conn = Conn::open(url)?;
    let applied = conn.transaction(|c| {
        if let Conn::Pg(pg) = c {
            diesel::RunQueryDsl::execute(
                diesel::sql_query("SELECT pg_advisory_xact_lock(7365829174)"),
                pg,
            )
            .map_err(Error::query("waiting for other processes' migrations"))?;
        }
        let mut applied = migrate(c)?;
        applied.extend(
            crate::apply_app_migrations(c, app)?
                .into_iter()
                .map(str::to_owned),
        );
        Ok(applied)
    })?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    Ok(conn)
}

/// The URL a command that only reads opens: an SQLite file must exist, and is
/// opened read-only when this process cannot write it (never created).
fn existing_url(url: DatabaseUrl) -> Result<DatabaseUrl> {
    let DatabaseUrl::Sqlite { path, mode } = url else {
        return Ok(url);
    };
    if path == ":memory:" {
        return Ok(DatabaseUrl::Sqlite { path, mode });
    }
    let file = std::path::Path::new(&path);
    if !file.is_file() {
        return Err(Error::Missing { path });
    }
    let writable = mode != SqliteMode::Read && can_write(file);
    Ok(DatabaseUrl::Sqlite {
        path,
        mode: if writable {
            SqliteMode::Write
        } else {
            SqliteMode::Read
        },
    })
}

/// True unless opening the file for writing is refused (permissions, an immutable
/// file, a read-only file system); opening changes nothing.
fn can_write(file: &std::path::Path) -> bool {
    match std::fs::OpenOptions::new().write(true).open(file) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        ),
    }
}

/// Checks, without writing, that a database has Minke's tables and every migration
/// (Minke's and the app's).
fn check_schema(conn: &mut Conn, url: &DatabaseUrl, app: &[crate::AppMigration]) -> Result<()> {
    if !crate::schema_check::has_table(conn, "minke_runs")? {
        return Err(Error::NotMinke {
            url: url.redacted(),
        });
    }
    let embedded = match conn {
        Conn::Sqlite(_) => embedded_versions::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS)?,
        Conn::Pg(_) => embedded_versions::<diesel::pg::Pg>(&PG_MIGRATIONS)?,
    };
    let pending = crate::schema_check::missing(conn, &embedded, app)?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(Error::NeedsMigration {
            url: url.redacted(),
            pending: pending.join(", "),
        })
    }
}

fn embedded_versions<DB: diesel::backend::Backend>(
    source: &EmbeddedMigrations,
) -> Result<Vec<String>>
where
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    diesel::migration::MigrationSource::<DB>::migrations(source)
        .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        .map_err(|e| Error::Migration(e.to_string()))
}
