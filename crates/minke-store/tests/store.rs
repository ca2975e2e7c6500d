//! The store against real SQLite files and the machine's PostgreSQL.
#![allow(clippy::unwrap_used)]

use diesel::RunQueryDsl;
use minke_core::MinkeModel;
use minke_core::{HostId, RunId, RunState, SessionId, State, Status};
use minke_store::{
    CommandRow, Conn, DatabaseUrl, Error, HostRecord, MessageRow, NewHost, NewRun, NewSession,
    OpenMode, Query, Store, StoredModel, now_micros,
};

/// A fresh PostgreSQL database for one test, dropped at the end.
struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    fn create(tag: &str) -> PgDb {
        let admin = std::env::var("MINKE_TEST_PG_URL").expect(
            "MINKE_TEST_PG_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL",
        );
        let name = format!("minke_test_{tag}_{}", std::process::id());
        let mut c =
            Conn::open(&DatabaseUrl::parse(&admin).unwrap()).expect("PostgreSQL is not reachable");
        let Conn::Pg(pg) = &mut c else {
            panic!("MINKE_TEST_PG_URL must be a postgres:// URL")
        };
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
            .execute(pg)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(pg)
            .unwrap();
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("bad MINKE_TEST_PG_URL"),
        };
        PgDb { admin, name, url }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = Conn::open(&DatabaseUrl::parse(&self.admin).unwrap())
            && let Conn::Pg(pg) = &mut c
        {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(pg);
        }
    }
}

async fn history_roundtrip(store: &Store) {
    let mut h = NewHost::new("web-1");
    h.hostname = Some("127.0.0.1".into());
    h.port = 2222;
    let host_id = store
        .write(move |c| minke_store::upsert_host(c, &h))
        .await
        .unwrap();
    // Re-import updates, never duplicates.
    let mut h2 = NewHost::new("web-1");
    h2.port = 2223;
    let again = store
        .write(move |c| minke_store::upsert_host(c, &h2))
        .await
        .unwrap();
    assert_eq!(host_id, again);
    let hosts = store
        .blocking(|c| HostRecord::load(c, &Query::all()))
        .await
        .unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].port, 2223);
    assert_eq!(hosts[0].hostname, None, "update replaces every field");

    let filtered = store
        .blocking(|c| HostRecord::load(c, &Query::filter("port >= 2223 and name ~ web").unwrap()))
        .await;
    assert_eq!(filtered.unwrap().len(), 1);
    let none = store
        .blocking(|c| HostRecord::load(c, &Query::filter("port < 2223").unwrap()))
        .await
        .unwrap();
    assert!(none.is_empty());
    let bad = store
        .blocking(|c| HostRecord::load(c, &Query::filter("colour = red").unwrap()))
        .await
        .unwrap_err();
    assert!(
        bad.to_string().contains("no filterable field `colour`"),
        "{bad}"
    );
    let bad = store
        .blocking(|c| HostRecord::load(c, &Query::filter("port = many").unwrap()))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("port = many"), "{bad}");

    let run_id = store
        .write(|c| {
            minke_store::insert_run(
                c,
                &NewRun {
                    session: "uptime".into(),
                    model: "host".into(),
                    username: "tester".into(),
                    params: "{}".into(),
                    selection: "{}".into(),
                    state: RunState::Running,
                    created_at: now_micros(),
                },
            )
        })
        .await
        .unwrap();
    let new: Vec<NewSession> = (0..3)
        .map(|i| NewSession {
            run_id,
            session: "uptime".into(),
            model: "host".into(),
            object_id: i,
            object_label: format!("obj-{i}"),
            host_id: Some(host_id),
            host_name: Some("web-1".into()),
            state: State::Initialized,
            status: None,
            reason: None,
            created_at: now_micros(),
        })
        .collect();
    let ids = store
        .write(move |c| minke_store::insert_sessions(c, &new))
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let sid = ids[0];
    let bytes: Vec<u8> = vec![0xff, 0xfe, b'a', 0];
    let b2 = bytes.clone();
    store.write_later("a command", move |c| {
        minke_store::insert_command(
            c,
            &CommandRow {
                session_id: sid,
                seq: 1,
                command: "printf".into(),
                exit_code: Some(3),
                exit_signal: None,
                stdout: b2,
                stderr: vec![],
                stdout_len: 4,
                stderr_len: 0,
                stdout_truncated: false,
                stderr_truncated: false,
                started_at: now_micros(),
                duration_us: 5,
            },
        )
    });
    store.write_later("a message", move |c| {
        minke_store::insert_message(
            c,
            &MessageRow {
                session_id: sid,
                seq: 1,
                level: "info".into(),
                body: "{}".into(),
                created_at: 1,
            },
        )
    });
    store.write_later("end", move |c| {
        minke_store::finish_session(
            c,
            sid,
            State::Completed,
            Some(Status::Warning),
            None,
            now_micros(),
        )
    });
    store.flush().await.unwrap();
    let cmds = store
        .blocking(move |c| minke_store::session_commands(c, sid))
        .await
        .unwrap();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].stdout, bytes, "non-UTF-8 bytes survive");
    assert_eq!(cmds[0].exit_code, Some(3));
    let sessions = store
        .blocking(move |c| minke_store::run_sessions(c, run_id))
        .await
        .unwrap();
    assert_eq!(sessions[0].state, State::Completed);
    assert_eq!(sessions[0].status, Some(Status::Warning));
    let latest = store
        .blocking(|c| minke_store::latest_sessions(c, "host", &[0, 1, 2]))
        .await
        .unwrap();
    assert_eq!(latest.len(), 3);

    // Locks: a second run cannot take a held lock; an expired one is taken over.
    let held = store
        .write(move |c| {
            minke_store::acquire_host_locks(c, RunId::new(1000), &[host_id], 60_000_000)
        })
        .await
        .unwrap();
    assert!(held.is_empty());
    let held = store
        .write(move |c| {
            minke_store::acquire_host_locks(c, RunId::new(1001), &[host_id], 60_000_000)
        })
        .await
        .unwrap();
    assert_eq!(held, vec![(host_id, RunId::new(1000))]);
    store
        .write(move |c| minke_store::refresh_host_locks(c, RunId::new(1000), -1))
        .await
        .unwrap();
    let held = store
        .write(move |c| {
            minke_store::acquire_host_locks(c, RunId::new(1001), &[host_id], 60_000_000)
        })
        .await
        .unwrap();
    assert!(held.is_empty(), "an expired lock is taken over");
    store
        .write(|c| minke_store::release_host_locks(c, RunId::new(1001)))
        .await
        .unwrap();

    // Retention: running runs are kept, finished old ones go.
    let kept = store
        .write(|c| minke_store::clear_before(c, now_micros() + 1))
        .await
        .unwrap();
    assert_eq!(kept.runs, 0);
    let counts = move |store: &Store| {
        let store = store.clone();
        async move {
            store
                .blocking(move |c| minke_store::run_counts(c, &[run_id]))
                .await
                .unwrap()
                .remove(&run_id)
                .unwrap()
        }
    };
    let before = counts(store).await;
    assert_eq!(before.total, 3);
    store
        .write(move |c| minke_store::finish_run(c, run_id, RunState::Done, now_micros()))
        .await
        .unwrap();
    // An ended run's counts are kept in its row and read from there: a session
    // changed behind the store's back does not change them.
    assert_eq!(counts(store).await, before);
    store
        .write(move |c| {
            minke_store::with_conn!(c, |db, B| {
                use diesel::RunQueryDsl as _;
                diesel::sql_query(format!(
                    "UPDATE minke_sessions SET status = 'warning' WHERE run_id = {run_id}"
                ))
                .execute(db)
                .map_err(minke_store::Error::query("changing sessions"))
            })
        })
        .await
        .unwrap();
    assert_eq!(counts(store).await, before);
    let cleared = store
        .write(|c| minke_store::clear_before(c, now_micros() + 1))
        .await
        .unwrap();
    assert_eq!((cleared.runs, cleared.sessions), (1, 3));
    let cmds = store
        .blocking(move |c| minke_store::session_commands(c, sid))
        .await
        .unwrap();
    assert!(cmds.is_empty());

    let host = store
        .blocking(move |c| HostRecord::load_one(c, host_id.get()))
        .await
        .unwrap();
    assert_eq!(host.label(), "web-1");
    let missing = store
        .blocking(|c| HostRecord::load_one(c, 999_999))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("h.db").to_str().unwrap())
        .await
        .unwrap();
    history_roundtrip(&store).await;
    assert_eq!(store.failed_writes().0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_history() {
    let db = PgDb::create("history");
    let store = Store::open(&db.url).await.unwrap();
    history_roundtrip(&store).await;
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_many_concurrent_writers_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("h{i}");
            let h = NewHost::new(name);
            store
                .write(move |c| minke_store::upsert_host(c, &h))
                .await
                .unwrap();
            store
                .blocking(|c| HostRecord::count(c, &Query::all()))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = store
        .blocking(|c| HostRecord::count(c, &Query::all()))
        .await
        .unwrap();
    assert_eq!(n, 200);
    // A second store (another process, say) on the same file reads it.
    let other = Store::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(
        other
            .blocking(|c| HostRecord::count(c, &Query::search("h19")))
            .await
            .unwrap(),
        11
    );
}

#[test]
fn bad_urls_are_named() {
    let e = Store::open_blocking("mysql://x/y").unwrap_err().to_string();
    assert!(e.contains("mysql://x/y"), "{e}");
    let e = Store::open_blocking("postgres://nobody:pw@127.0.0.1:1/none")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot open database") && !e.contains("pw@"),
        "{e}"
    );
}

#[test]
fn host_validation() {
    let mut h = NewHost::new("x");
    h.port = 0;
    assert!(h.validate().unwrap_err().to_string().contains("port 0"));
    h.port = 22;
    h.host_key_policy = "sometimes".into();
    assert!(h.validate().unwrap_err().to_string().contains("sometimes"));
}

/// A running run of session `s` with `n` sessions (objects 1..=n, no host): its id
/// and its sessions' ids.
async fn run_with_sessions(store: &Store, n: i64) -> (RunId, Vec<SessionId>) {
    run_on(store, "host", (1..=n).collect()).await
}

/// A running run of `model` with a session on each of `objects`, not yet started.
async fn run_on(store: &Store, model: &str, objects: Vec<i64>) -> (RunId, Vec<SessionId>) {
    let model = model.to_owned();
    let of_run = model.clone();
    let run_id = store
        .write(move |c| {
            minke_store::insert_run(
                c,
                &NewRun {
                    session: "s".into(),
                    model: of_run,
                    username: "u".into(),
                    params: "{}".into(),
                    selection: "all".into(),
                    state: RunState::Running,
                    created_at: now_micros(),
                },
            )
        })
        .await
        .unwrap();
    let new: Vec<NewSession> = objects
        .into_iter()
        .map(|i| NewSession {
            run_id,
            session: "s".into(),
            model: model.clone(),
            object_id: i,
            object_label: format!("o{i}"),
            host_id: None,
            host_name: None,
            state: State::Initialized,
            status: None,
            reason: None,
            created_at: now_micros(),
        })
        .collect();
    let ids = store
        .write(move |c| minke_store::insert_sessions(c, &new))
        .await
        .unwrap();
    (run_id, ids)
}

/// One failing write in a batch costs only itself: the writes queued around it, with
/// and without savepoints of their own, are committed.
async fn failing_write_in_a_batch(store: &Store) {
    let sid = run_with_sessions(store, 1).await.1[0];
    let message = |session_id: SessionId, seq: i32| MessageRow {
        session_id,
        seq,
        level: "info".into(),
        body: "{}".into(),
        created_at: 1,
    };
    // Hold the writer so that everything below goes into one batch.
    store.write_later("a pause", |_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        Ok(())
    });
    let m1 = message(sid, 1);
    store.write_statement_later("message 1", move |c| minke_store::insert_message(c, &m1));
    // No such session: the foreign key refuses this one.
    let bad = message(SessionId::new(999_999), 2);
    store.write_statement_later("a bad message", move |c| {
        minke_store::insert_message(c, &bad)
    });
    let m3 = message(sid, 3);
    store.write_statement_later("message 3", move |c| minke_store::insert_message(c, &m3));
    let (m4, bad2) = (message(sid, 4), message(SessionId::new(999_998), 5));
    store.write_later("two statements, the second failing", move |c| {
        minke_store::insert_message(c, &m4)?;
        minke_store::insert_message(c, &bad2)
    });
    store.write_statement_later("the end", move |c| {
        minke_store::finish_session(
            c,
            sid,
            State::Completed,
            Some(Status::Success),
            None,
            now_micros(),
        )
    });
    store.flush().await.unwrap();
    let seqs: Vec<i32> = store
        .blocking(move |c| minke_store::session_messages(c, sid))
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(
        seqs,
        vec![1, 3],
        "the failing writes are gone whole, the others kept"
    );
    let (failed, first) = store.failed_writes();
    assert_eq!(failed, 2, "both failures are counted");
    let first = first.unwrap();
    assert!(first.starts_with("writing a bad message failed"), "{first}");
    let s = store
        .blocking(move |c| minke_store::get_session(c, sid))
        .await
        .unwrap();
    assert_eq!(s.state, State::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failing_write_in_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("f.db").to_str().unwrap())
        .await
        .unwrap();
    failing_write_in_a_batch(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failing_write_in_a_batch() {
    let db = PgDb::create("batchfail");
    let store = Store::open(&db.url).await.unwrap();
    failing_write_in_a_batch(&store).await;
    drop(store);
}

/// A panicking write fails alone: its savepoint is rolled back, the writer thread goes
/// on, and the writes around it are committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("p.db").to_str().unwrap())
        .await
        .unwrap();
    let add = |name: &'static str| {
        move |c: &mut Conn| minke_store::upsert_host(c, &NewHost::new(name)).map(drop)
    };
    store.write_later("host a", add("a"));
    let e = store
        .write(|c: &mut Conn| -> minke_store::Result<()> {
            minke_store::upsert_host(c, &NewHost::new("ghost"))?;
            panic!("boom")
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("panicked: boom"), "{e}");
    store.write_statement_later("a panic", |_| panic!("bang"));
    store.write_statement_later("host b", add("b"));
    store.flush().await.unwrap();
    let names: Vec<String> = store
        .blocking(|c| HostRecord::load(c, &Query::all()))
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.label())
        .collect();
    assert_eq!(names, vec!["a".to_owned(), "b".to_owned()]);
    let (failed, first) = store.failed_writes();
    assert_eq!(
        failed, 1,
        "`write` reports to its caller, the other is counted"
    );
    assert!(first.unwrap().contains("panicked: bang"));
}

// --- users and tokens, groups, locks, open modes, selections: both backends ---

/// A fresh database of each backend: an SQLite file and a PostgreSQL database.
struct Backends {
    _dir: tempfile::TempDir,
    _pg: PgDb,
    urls: [String; 2],
}

fn backends(tag: &str) -> Backends {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create(tag);
    let sqlite = dir.path().join("b.db").to_string_lossy().into_owned();
    let urls = [sqlite, pg.url.clone()];
    Backends {
        _dir: dir,
        _pg: pg,
        urls,
    }
}

async fn write<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&mut Conn) -> minke_store::Result<T> + Send + 'static,
) -> minke_store::Result<T> {
    store.write(f).await
}

async fn users_and_tokens(store: &Store) {
    let uid = write(store, |c| minke_store::create_user(c, "ann", "h1", false))
        .await
        .unwrap();
    // A token without expiry works and records its use.
    let t1 = write(store, |c| {
        minke_store::create_api_token(c, "ann", "ci", "hash1")
    })
    .await
    .unwrap();
    let found = write(store, |c| minke_store::user_by_token(c, "hash1"))
        .await
        .unwrap();
    assert_eq!(found.unwrap().id, uid);
    let tokens = write(store, |c| minke_store::list_api_tokens(c, "ann"))
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].id, t1);
    assert_eq!(tokens[0].name, "ci");
    assert!(tokens[0].last_used_at.is_some(), "last use recorded");
    assert!(tokens[0].expires_at.is_none());
    // The same through a reader connection (as the admin authenticates).
    let again = store
        .blocking(|c| minke_store::user_by_token(c, "hash1"))
        .await
        .unwrap();
    assert!(again.is_some());

    // An expired token is refused; one that expires later works.
    let past = now_micros() - 1;
    write(store, move |c| {
        minke_store::create_api_token_until(c, "ann", "old", "hash2", Some(past))
    })
    .await
    .unwrap();
    assert!(
        write(store, |c| minke_store::user_by_token(c, "hash2"))
            .await
            .unwrap()
            .is_none()
    );
    let later = now_micros() + 3_600_000_000;
    write(store, move |c| {
        minke_store::create_api_token_until(c, "ann", "new", "hash3", Some(later))
    })
    .await
    .unwrap();
    assert!(
        write(store, |c| minke_store::user_by_token(c, "hash3"))
            .await
            .unwrap()
            .is_some()
    );

    // Revoking: by id; an unknown id is not found.
    let owner = write(store, move |c| minke_store::revoke_api_token(c, t1))
        .await
        .unwrap();
    assert_eq!(owner, "ann");
    assert!(
        write(store, |c| minke_store::user_by_token(c, "hash1"))
            .await
            .unwrap()
            .is_none()
    );
    let e = write(store, move |c| minke_store::revoke_api_token(c, t1))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");

    // Disabled users' tokens are refused, and work again when enabled.
    write(store, |c| minke_store::set_active(c, "ann", false))
        .await
        .unwrap();
    assert!(
        write(store, |c| minke_store::user_by_token(c, "hash3"))
            .await
            .unwrap()
            .is_none()
    );
    write(store, |c| minke_store::set_active(c, "ann", true))
        .await
        .unwrap();
    assert!(
        write(store, |c| minke_store::user_by_token(c, "hash3"))
            .await
            .unwrap()
            .is_some()
    );

    // A new password ends web sessions and tokens.
    write(store, move |c| {
        minke_store::create_web_session(c, "ws1", uid, "csrf", 60_000_000)
    })
    .await
    .unwrap();
    write(store, |c| minke_store::set_password_hash(c, "ann", "h2"))
        .await
        .unwrap();
    assert!(
        write(store, |c| minke_store::user_by_token(c, "hash3"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        write(store, |c| minke_store::find_web_session(c, "ws1"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        write(store, |c| minke_store::list_api_tokens(c, "ann"))
            .await
            .unwrap()
            .is_empty()
    );

    // Removing a user removes their permissions and tokens too.
    write(store, |c| minke_store::grant(c, "ann", "view_host"))
        .await
        .unwrap();
    write(store, |c| {
        minke_store::create_api_token(c, "ann", "x", "hash4")
    })
    .await
    .unwrap();
    write(store, |c| minke_store::remove_user(c, "ann"))
        .await
        .unwrap();
    assert!(
        write(store, |c| minke_store::find_user(c, "ann"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        write(store, |c| minke_store::user_by_token(c, "hash4"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        write(store, move |c| minke_store::user_permissions(c, uid))
            .await
            .unwrap()
            .is_empty()
    );
    let e = write(store, |c| minke_store::remove_user(c, "ann"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no user named `ann`"), "{e}");
}

async fn groups_and_locks(store: &Store) {
    let (h1, h2) = write(store, |c| {
        Ok((
            minke_store::upsert_host(c, &NewHost::new("a"))?,
            minke_store::upsert_host(c, &NewHost::new("b"))?,
        ))
    })
    .await
    .unwrap();
    let (web, db) = write(store, |c| {
        Ok((
            minke_store::create_group(c, "web", Some("front"))?,
            minke_store::create_group(c, "db", None)?,
        ))
    })
    .await
    .unwrap();
    assert!(
        write(store, |c| minke_store::create_group(c, "web", None))
            .await
            .is_err()
    );
    write(store, move |c| {
        minke_store::set_group_members(c, web, &[h2, h1, h1])
    })
    .await
    .unwrap();
    assert_eq!(
        store
            .blocking(move |c| minke_store::group_members(c, web))
            .await
            .unwrap(),
        [h1, h2]
    );
    write(store, move |c| minke_store::set_host_groups(c, h1, &[db]))
        .await
        .unwrap();
    assert_eq!(
        store
            .blocking(move |c| minke_store::groups_of_hosts(c, &[h1, h2]))
            .await
            .unwrap(),
        [(h1, db), (h2, web)]
    );
    write(store, move |c| minke_store::delete_group(c, web))
        .await
        .unwrap();
    assert_eq!(
        store
            .blocking(move |c| minke_store::groups_of_hosts(c, &[h2]))
            .await
            .unwrap(),
        []
    );

    // Locks: the first run takes them, the second is told who holds them; an
    // expired lock is taken over.
    let held = write(store, move |c| {
        minke_store::acquire_host_locks(c, RunId::new(1), &[h1, h2], 60_000_000)
    })
    .await
    .unwrap();
    assert!(held.is_empty());
    let held = write(store, move |c| {
        minke_store::acquire_host_locks(c, RunId::new(2), &[h1, h2], 60_000_000)
    })
    .await
    .unwrap();
    assert_eq!(held, [(h1, RunId::new(1)), (h2, RunId::new(1))]);
    write(store, move |c| {
        minke_store::release_host_lock(c, RunId::new(1), h1)
    })
    .await
    .unwrap();
    let held = write(store, move |c| {
        minke_store::acquire_host_locks(c, RunId::new(2), &[h1, h2], 60_000_000)
    })
    .await
    .unwrap();
    assert_eq!(held, [(h2, RunId::new(1))]);
    write(store, move |c| {
        minke_store::refresh_host_locks(c, RunId::new(1), -1)
    })
    .await
    .unwrap();
    let held = write(store, move |c| {
        minke_store::acquire_host_locks(c, RunId::new(3), &[h2], 60_000_000)
    })
    .await
    .unwrap();
    assert!(held.is_empty(), "an expired lock is taken over: {held:?}");
}

/// 100,000 ids in one selection: loaded and counted (in slices), with limit and
/// offset over the whole.
async fn large_selections(store: &Store) {
    write(store, |c| {
        for i in 0..120 {
            minke_store::upsert_host(c, &NewHost::new(format!("h{i:03}")))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let all = store
        .blocking(|c| HostRecord::load(c, &Query::all()))
        .await
        .unwrap();
    let real: Vec<i64> = all.iter().map(|h| h.id.get()).collect();
    // Real ids spread among 100,000 (most of which exist nowhere), unsorted.
    let mut ids: Vec<i64> = (1_000_000..1_100_000 - real.len() as i64).rev().collect();
    ids.extend(real.iter().copied());
    ids.swap(0, 99_999);
    assert_eq!(ids.len(), 100_000);
    let q = Query::ids(ids.clone());
    let loaded = store
        .blocking(move |c| HostRecord::load(c, &q))
        .await
        .unwrap();
    assert_eq!(loaded.iter().map(|h| h.id.get()).collect::<Vec<_>>(), real);
    let q = Query::ids(ids.clone());
    assert_eq!(
        store
            .blocking(move |c| HostRecord::count(c, &q))
            .await
            .unwrap(),
        real.len() as i64
    );
    let mut q = Query::ids(ids);
    q.offset = Some(5);
    q.limit = Some(10);
    let page = store
        .blocking(move |c| HostRecord::load(c, &q))
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|h| h.id.get()).collect::<Vec<_>>(),
        real[5..15]
    );
}

/// Filters past the limits are refused as bad queries, however they were made.
async fn filter_limits(store: &Store) {
    let long = vec!["port > 1"; 1000].join(" and ");
    let e = Query::filter(&long).unwrap_err();
    assert!(matches!(e, Error::BadQuery(_)), "{e}");
    assert!(e.to_string().contains("at most 8192"), "{e}");
    let many = vec!["port > 1"; 150].join(" and ");
    let e = Query::filter(&many).unwrap_err();
    assert!(e.to_string().contains("150 conditions; at most 100"), "{e}");
    let mut q = Query::filter("port > 1").unwrap();
    q.conditions = vec![q.conditions[0].clone(); 1000];
    let e = store
        .blocking(move |c| HostRecord::load(c, &q))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadQuery(_)), "{e}");
    let q = Query::search("x".repeat(100_000));
    let e = store
        .blocking(move |c| HostRecord::count(c, &q))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadQuery(_)), "{e}");
    let ok = vec!["port > 1"; 100].join(" and ");
    let q = Query::filter(&ok).unwrap();
    store
        .blocking(move |c| HostRecord::load(c, &q))
        .await
        .unwrap();
}

/// Stops asked of a run through the database: raised, never lowered; an ended run
/// says so; an unknown one is not found.
async fn stop_requests(store: &Store) {
    use minke_store::RunStopRequest::{Ended, Requested};
    let (a, b) = store
        .write(|c| {
            let run = |state: RunState| NewRun {
                session: "s".into(),
                model: "host".into(),
                username: "u".into(),
                params: "{}".into(),
                selection: "{}".into(),
                state,
                created_at: 1,
            };
            Ok((
                minke_store::insert_run(c, &run(RunState::Running))?,
                minke_store::insert_run(c, &run(RunState::Done))?,
            ))
        })
        .await
        .unwrap();
    let ask = |id: RunId, level: Option<i16>| {
        store.write(move |c| minke_store::request_run_stop(c, id, level))
    };
    let asked = |id: RunId| store.blocking(move |c| minke_store::run_stop_requested(c, id));
    assert_eq!(asked(a).await.unwrap(), None);
    assert_eq!(ask(a, None).await.unwrap(), Requested(1));
    assert_eq!(ask(a, Some(1)).await.unwrap(), Requested(1));
    assert_eq!(ask(a, None).await.unwrap(), Requested(2));
    assert_eq!(
        ask(a, Some(1)).await.unwrap(),
        Requested(2),
        "never lowered"
    );
    assert_eq!(asked(a).await.unwrap(), Some(2));
    assert_eq!(ask(b, Some(2)).await.unwrap(), Ended(RunState::Done));
    assert_eq!(asked(b).await.unwrap(), None);
    let err = ask(RunId::new(987_654), None).await.unwrap_err();
    assert!(matches!(err, minke_store::Error::NotFound { .. }), "{err}");
}

/// A run's detail: each session with its own messages and commands, in order.
async fn run_detail_by_session(store: &Store) {
    let (run_id, s) = run_with_sessions(store, 3).await;
    let command = |session_id: SessionId, seq: i32| CommandRow {
        session_id,
        seq,
        command: format!("echo {seq}"),
        exit_code: Some(0),
        exit_signal: None,
        stdout: format!("{seq}\n").into_bytes(),
        stderr: Vec::new(),
        stdout_len: 2,
        stderr_len: 0,
        stdout_truncated: false,
        stderr_truncated: false,
        started_at: 1,
        duration_us: 1,
    };
    let message = |session_id: SessionId, seq: i32| MessageRow {
        session_id,
        seq,
        level: "info".into(),
        body: format!("{{\"text\":\"{seq}\"}}"),
        created_at: 1,
    };
    // Interleaved between the sessions, as a concurrent run writes them.
    let (a, b) = (s[0], s[2]);
    let rows = vec![(b, 1), (a, 1), (b, 2), (a, 2), (a, 3)];
    store
        .write(move |c| {
            for &(sid, seq) in &rows {
                minke_store::insert_command(c, &command(sid, seq))?;
                minke_store::insert_message(c, &message(sid, seq))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let detail = store
        .blocking(move |c| minke_store::run_detail(c, run_id))
        .await
        .unwrap();
    let seqs = |i: usize| {
        let d = &detail.sessions[i];
        (
            d.commands.iter().map(|c| c.seq).collect::<Vec<_>>(),
            d.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        )
    };
    assert_eq!(detail.sessions.len(), 3);
    assert_eq!(detail.sessions[0].session.id, a);
    assert_eq!(seqs(0), (vec![1, 2, 3], vec![1, 2, 3]));
    assert_eq!(seqs(1), (vec![], vec![]));
    assert_eq!(seqs(2), (vec![1, 2], vec![1, 2]));
    assert!(
        detail.sessions[2]
            .commands
            .iter()
            .all(|c| c.session_id == b)
    );
}

/// PostgreSQL's estimate of a table's rows, once analyzed and above the threshold;
/// never on SQLite. The hosts' trigram indexes exist on PostgreSQL.
async fn estimates(store: &Store) {
    let pg = !store.url().is_sqlite();
    store
        .write(|c| {
            for i in 0..20 {
                minke_store::upsert_host(c, &NewHost::new(format!("est-{i}")))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let (small, any, unknown, trgm) = store
        .blocking(move |c| {
            if let Conn::Pg(pg) = c {
                diesel::sql_query("ANALYZE minke_hosts").execute(pg).unwrap();
            }
            let trgm = match c {
                Conn::Pg(pg) => {
                    #[derive(diesel::QueryableByName)]
                    struct N {
                        #[diesel(sql_type = diesel::sql_types::BigInt)]
                        n: i64,
                    }
                    diesel::sql_query(
                        "SELECT count(*) AS n FROM pg_indexes WHERE indexname LIKE 'minke_hosts_%_trgm'",
                    )
                    .get_result::<N>(pg)
                    .unwrap()
                    .n
                }
                Conn::Sqlite(_) => 0,
            };
            Ok((
                minke_store::estimated_rows(c, "minke_hosts", 1_000_000)?,
                minke_store::estimated_rows(c, "minke_hosts", 1)?,
                minke_store::estimated_rows(c, "no_such_table", 0)?,
                trgm,
            ))
        })
        .await
        .unwrap();
    // Which listed columns start no (b-tree) index.
    let unindexed = store
        .blocking(|c| {
            let ddl = "CREATE TABLE listed (id BIGINT PRIMARY KEY, a TEXT, b TEXT, c TEXT); \
                       CREATE INDEX listed_b ON listed (b, id); CREATE INDEX listed_ca ON listed (c, a)";
            match c {
                Conn::Pg(pg) => diesel::connection::SimpleConnection::batch_execute(pg, ddl),
                Conn::Sqlite(lite) => diesel::connection::SimpleConnection::batch_execute(lite, ddl),
            }
            .unwrap();
            Ok((
                minke_store::unindexed_columns(c, "listed", &["id", "a", "b", "c"])?,
                minke_store::unindexed_columns(c, "minke_hosts", &["name", "hostname", "port", "comment"])?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(unindexed.0, ["a"], "a only ends an index");
    assert_eq!(unindexed.1, ["comment"], "a trigram index orders nothing");
    assert_eq!(small, None, "below the threshold");
    assert_eq!(unknown, None);
    if pg {
        assert!(any.is_some_and(|n| n >= 20), "{any:?}");
        assert_eq!(trgm, 3, "name, hostname and comment");
    } else {
        assert_eq!(any, None, "SQLite has no estimates");
    }
}

/// Each object's latest session and its status follow every session recorded and
/// ended, however it ends (one by one or in the writer's batch), and go with
/// `clear`.
async fn last_sessions(store: &Store) {
    let last = |status: Status| {
        store.blocking(move |c| minke_store::objects_with_last_status(c, "host", status))
    };
    let latest = || {
        store.blocking(|c| {
            Ok(minke_store::latest_sessions(c, "host", &[1, 2, 3, 4])?
                .into_iter()
                .map(|s| (s.object_id, s.id))
                .collect::<Vec<_>>())
        })
    };
    let (_, a) = run_with_sessions(store, 3).await;
    let (a1, a2) = (a[0], a[1]);
    store
        .write(move |c| {
            minke_store::finish_session(c, a1, State::Completed, Some(Status::Success), None, 1)?;
            minke_store::finish_session(c, a2, State::Completed, Some(Status::Error), None, 1)
        })
        .await
        .unwrap();
    assert_eq!(last(Status::Error).await.unwrap(), [2]);
    assert_eq!(last(Status::Success).await.unwrap(), [1]);
    assert_eq!(latest().await.unwrap(), [(1, a[0]), (2, a[1]), (3, a[2])]);
    // A newer run on objects 1 and 2: their latest session is its, not yet ended.
    let (_, b) = run_with_sessions(store, 2).await;
    assert!(last(Status::Error).await.unwrap().is_empty());
    assert!(last(Status::Success).await.unwrap().is_empty());
    assert_eq!(latest().await.unwrap(), [(1, b[0]), (2, b[1]), (3, a[2])]);
    // Ended through the writer's batch of history rows.
    let b2 = b[1];
    store.record_later("a session's end", move || {
        minke_store::HistoryRow::SessionEnd(minke_store::SessionEnd {
            id: b2,
            state: State::Completed,
            status: Some(Status::Warning),
            reason: None,
            at: now_micros(),
        })
    });
    store.flush().await.unwrap();
    assert_eq!(last(Status::Warning).await.unwrap(), [2]);
    // An older session ending late changes nothing.
    let a3 = a[2];
    store
        .write(move |c| {
            minke_store::finish_session(c, a3, State::Failed, Some(Status::Error), None, 1)
        })
        .await
        .unwrap();
    assert_eq!(last(Status::Error).await.unwrap(), [3]);
    let a1 = a[0];
    store
        .write(move |c| {
            minke_store::finish_session(c, a1, State::Failed, Some(Status::Error), None, 1)
        })
        .await
        .unwrap();
    assert_eq!(
        last(Status::Error).await.unwrap(),
        [3],
        "a1 is not 1's latest"
    );
}

/// Counting by last status from the latest sessions alone, once the model's table
/// has the triggers that forget deleted objects (and those deleted before).
async fn exact_last_sessions(store: &Store) {
    let pg = !store.url().is_sqlite();
    let sql = |s: &'static str| {
        store.blocking(move |c| {
            match c {
                Conn::Pg(pg) => diesel::connection::SimpleConnection::batch_execute(pg, s),
                Conn::Sqlite(l) => diesel::connection::SimpleConnection::batch_execute(l, s),
            }
            .unwrap();
            Ok(())
        })
    };
    sql("CREATE TABLE things (id BIGINT PRIMARY KEY, name TEXT); \
         INSERT INTO things (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")
    .await
    .unwrap();
    // Object 9 is not in the table: its row is an orphan from before the triggers.
    let ended = [
        (1, Status::Error),
        (2, Status::Error),
        (3, Status::Success),
        (4, Status::Error),
        (9, Status::Error),
    ];
    let (_, ids) = run_on(store, "thing", ended.iter().map(|&(i, _)| i).collect()).await;
    store
        .write(move |c| {
            for (id, (_, status)) in ids.into_iter().zip(ended) {
                minke_store::finish_session(c, id, State::Completed, Some(status), None, 1)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let by = |status: Status| Query {
        last_status: Some(status),
        ..Query::all()
    };
    let count = move |q: Query| {
        store.blocking(move |c| minke_store::count_by_last_status(c, "thing", "things", &q))
    };
    assert_eq!(
        count(by(Status::Error)).await.unwrap(),
        None,
        "no triggers yet"
    );
    let keep =
        || store.write(|c| minke_store::keep_last_sessions_exact(c, "thing", "things", "id"));
    assert!(keep().await.unwrap());
    assert!(!keep().await.unwrap(), "added once");
    assert_eq!(
        count(by(Status::Error)).await.unwrap(),
        Some(3),
        "9 is forgotten"
    );
    assert_eq!(count(by(Status::Success)).await.unwrap(), Some(1));
    let mut narrowed = by(Status::Error);
    narrowed.search = Some("a".into());
    assert_eq!(
        count(narrowed).await.unwrap(),
        None,
        "other conditions join"
    );
    sql("DELETE FROM things WHERE id = 2").await.unwrap();
    assert_eq!(count(by(Status::Error)).await.unwrap(), Some(2));
    sql("UPDATE things SET name = 'x' WHERE id = 4")
        .await
        .unwrap();
    assert_eq!(
        count(by(Status::Error)).await.unwrap(),
        Some(2),
        "a name change keeps it"
    );
    sql("UPDATE things SET id = 40 WHERE id = 4").await.unwrap();
    assert_eq!(
        count(by(Status::Error)).await.unwrap(),
        Some(1),
        "a new key forgets it"
    );
    if pg {
        sql("TRUNCATE things").await.unwrap();
    } else {
        sql("DELETE FROM things").await.unwrap();
    }
    assert_eq!(count(by(Status::Error)).await.unwrap(), Some(0));
    assert_eq!(count(by(Status::Success)).await.unwrap(), Some(0));
    assert!(
        !store
            .write(|c| minke_store::keep_last_sessions_exact(c, "gone", "no_such_table", "id"))
            .await
            .unwrap(),
        "a missing table gets nothing"
    );
}

async fn audit_log(store: &Store) {
    use minke_core::{AuditAction, Via};
    use minke_store::{Actor, AuditFilter};
    let web = Actor {
        name: "ann".into(),
        via: Via::Web,
        address: Some("127.0.0.9".into()),
    };
    let cli = Actor::cli("root");
    let (w, c2) = (web.clone(), cli.clone());
    write(store, move |c| {
        minke_store::record_audit(c, &c2, AuditAction::UserAdded, "user ann", "")?;
        minke_store::record_audit(c, &w, AuditAction::Login, "user ann", "")?;
        minke_store::record_audit(
            c,
            &w,
            AuditAction::PermissionGranted,
            "user bob",
            "view_server\n<b>\u{1b}[31m",
        )
    })
    .await
    .unwrap();
    // A flood of failed logins: one entry per name, address and minute, counted.
    let at = 1_699_999_980_000_000_i64; // on a minute, in the past
    let mallory = Actor {
        name: "mallory".into(),
        via: Via::Web,
        address: Some("127.0.0.66".into()),
    };
    let m = mallory.clone();
    write(store, move |c| {
        for i in 0..50 {
            minke_store::record_failed_login(c, &m, at + i * 1_000_000)?;
        }
        // The next minute, another address, another name: entries of their own.
        minke_store::record_failed_login(c, &m, at + 60_000_000)?;
        let other = Actor {
            address: Some("127.0.0.67".into()),
            ..m.clone()
        };
        minke_store::record_failed_login(c, &other, at)?;
        let long = Actor {
            name: "x".repeat(10_000),
            ..m.clone()
        };
        minke_store::record_failed_login(c, &long, at)
    })
    .await
    .unwrap();
    let all = store
        .blocking(|c| {
            minke_store::find_audit(
                c,
                &AuditFilter {
                    limit: 100,
                    ..AuditFilter::default()
                },
            )
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 7, "{all:#?}");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let failed: Vec<(i64, Option<&str>, i32)> = all
        .iter()
        .filter(|e| e.action == AuditAction::LoginFailed && e.actor == "mallory")
        .map(|e| (e.at, e.address.as_deref(), e.count))
        .collect();
    assert_eq!(
        failed,
        [
            (at, Some("127.0.0.67"), 1),
            (at + 60_000_000, Some("127.0.0.66"), 1),
            (at, Some("127.0.0.66"), 50),
        ]
    );
    let long = all.iter().find(|e| e.actor.starts_with("xxx")).unwrap();
    assert!(long.actor.chars().count() <= 151 && long.actor.ends_with('…'));
    let grant = all
        .iter()
        .find(|e| e.action == AuditAction::PermissionGranted)
        .unwrap();
    assert_eq!(
        grant.detail, "view_server\\n<b>\\u{1b}[31m",
        "control characters escaped"
    );
    assert_eq!((grant.via, grant.actor.as_str()), (Via::Web, "ann"));
    assert_eq!(all.last().unwrap().via, Via::Cli);

    // Filters and pages by id, both ways.
    let by = |f: AuditFilter| {
        let f = AuditFilter { limit: 2, ..f };
        store.blocking(move |c| minke_store::find_audit(c, &f))
    };
    let ann = by(AuditFilter {
        actor: Some("ann".into()),
        ..AuditFilter::default()
    })
    .await
    .unwrap();
    assert_eq!(ann.len(), 2);
    assert!(ann.iter().all(|e| e.actor == "ann"));
    let first = by(AuditFilter::default()).await.unwrap();
    let next = by(AuditFilter {
        before: Some(first[1].id),
        ..AuditFilter::default()
    })
    .await
    .unwrap();
    assert_eq!(next.len(), 2);
    assert!(next[0].id < first[1].id);
    let back = by(AuditFilter {
        after: Some(next[0].id),
        ..AuditFilter::default()
    })
    .await
    .unwrap();
    assert_eq!(
        back.iter().map(|e| e.id).collect::<Vec<_>>(),
        first.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    let logins = by(AuditFilter {
        action: Some(AuditAction::LoginFailed),
        target: Some("mallo".into()),
        ..AuditFilter::default()
    })
    .await
    .unwrap();
    assert!(logins.len() == 2 && logins.iter().all(|e| e.target == "user mallory"));

    // `clear` covers it.
    let cleared = write(store, |c| minke_store::clear_before(c, now_micros() + 1))
        .await
        .unwrap();
    assert_eq!(cleared.audit, 7);
}

/// A search finds what `LIKE '%text%'` finds (case aside for non-ASCII), through
/// SQLite's trigram index for three characters or more, through `LIKE` for fewer,
/// and follows hosts as they are changed and deleted.
async fn host_search(store: &Store) {
    let hosts = [
        ("search-alpha", Some("10.9.0.1"), Some("Front door")),
        ("search-beta", Some("backend.example"), None),
        ("search-gamma", None, Some("100% \"quoted\" _x_")),
    ];
    let ids: Vec<i64> = write(store, move |c| {
        hosts
            .iter()
            .map(|(name, address, comment)| {
                let mut h = NewHost::new(*name);
                h.hostname = address.map(str::to_owned);
                h.comment = comment.map(str::to_owned);
                minke_store::insert_host(c, &h).map(|id| id.get())
            })
            .collect()
    })
    .await
    .unwrap();
    let find = |text: &'static str| {
        let store = store.clone();
        async move {
            let mut names: Vec<String> = store
                .blocking(move |c| HostRecord::load(c, &Query::search(text)))
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.name)
                .filter(|n| n.starts_with("search-"))
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(find("search-").await.len(), 3);
    // As `LIKE` on each: SQLite ignores ASCII case, PostgreSQL does not.
    if store.url().is_sqlite() {
        assert_eq!(find("ALPHA").await, ["search-alpha"]);
        assert_eq!(find("front DOOR").await, ["search-alpha"]);
    } else {
        assert!(find("ALPHA").await.is_empty());
        assert_eq!(find("Front door").await, ["search-alpha"]);
    }
    assert_eq!(find("9.0").await, ["search-alpha"]);
    assert_eq!(find("end.ex").await, ["search-beta"]);
    assert_eq!(
        find("% \"q").await,
        ["search-gamma"],
        "quotes and wildcards are text"
    );
    assert_eq!(find("_x_").await, ["search-gamma"]);
    assert_eq!(find("ga").await, ["search-gamma"], "two characters: LIKE");
    assert!(find("zzz").await.is_empty());
    // Changed and deleted hosts are found as they are now.
    let beta = ids[1];
    write(store, move |c| {
        let mut h = NewHost::new("search-delta");
        h.hostname = Some("frontend.example".into());
        minke_store::update_host(c, minke_core::HostId::new(beta), &h)?;
        HostRecord::delete(c, &[ids[0]])
    })
    .await
    .unwrap();
    assert!(find("backend").await.is_empty());
    assert_eq!(find("frontend").await, ["search-delta"]);
    assert!(find("alpha").await.is_empty());
    assert_eq!(find("front").await, ["search-delta"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_tokens_groups_locks_selections_on_both_backends() {
    let b = backends("backends");
    for url in &b.urls {
        let store = Store::open(url).await.unwrap();
        users_and_tokens(&store).await;
        groups_and_locks(&store).await;
        large_selections(&store).await;
        filter_limits(&store).await;
        stop_requests(&store).await;
        run_detail_by_session(&store).await;
        audit_log(&store).await;
        last_sessions(&store).await;
        exact_last_sessions(&store).await;
        estimates(&store).await;
        host_search(&store).await;
        assert_eq!(store.failed_writes().0, 0, "{url}");
        store.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_open_changes_nothing_on_both_backends() {
    let b = backends("openmode");
    // A database without Minke's tables is refused and left as it was.
    for url in &b.urls {
        let mut c = Conn::open(&DatabaseUrl::parse(url).unwrap()).unwrap();
        minke_store::with_conn!(&mut c, |c, B| diesel::sql_query(
            "CREATE TABLE notes (body TEXT)"
        )
        .execute(c))
        .unwrap();
    }
    for url in &b.urls {
        let e = Store::open_as(url, &[], OpenMode::Existing)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotMinke { .. }), "{url}: {e}");
        let mut c = Conn::open(&DatabaseUrl::parse(url).unwrap()).unwrap();
        for table in ["minke_runs", "__diesel_schema_migrations"] {
            let sql = format!("SELECT count(*) FROM {table}");
            let r = minke_store::with_conn!(&mut c, |c, B| diesel::sql_query(&sql).execute(c));
            assert!(r.is_err(), "{url}: {table} was created");
        }
    }
    let app = [minke_store::AppMigration::new(
        "0001_things",
        "CREATE TABLE things (id INTEGER PRIMARY KEY)",
        "CREATE TABLE things (id BIGSERIAL PRIMARY KEY)",
    )];
    for url in &b.urls {
        Store::open(url).await.unwrap().close().await.unwrap();
        // Minke's tables but not the app's: needs migrating.
        let e = Store::open_as(url, &app, OpenMode::Existing)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NeedsMigration { .. }), "{url}: {e}");
        assert!(e.to_string().contains("0001_things"), "{e}");
        Store::open_with(url, &app)
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
        let store = Store::open_as(url, &app, OpenMode::Existing).await.unwrap();
        assert!(!store.is_read_only());
        store.close().await.unwrap();
    }
    // `mode=ro`: reads work, writes fail with ReadOnly, flush and close succeed.
    let ro = format!("sqlite://{}?mode=ro", b.urls[0]);
    let store = Store::open_as(&ro, &app, OpenMode::Existing).await.unwrap();
    assert!(store.is_read_only());
    store
        .blocking(|c| minke_store::list_runs(c, 10, 0))
        .await
        .unwrap();
    let e = store
        .write(|c| minke_store::create_user(c, "x", "h", false))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e}");
    store.close().await.unwrap();
    let e = Store::open_as(&ro, &app, OpenMode::Migrate)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e}");
}

/// Urgent writes, mixed with a flood of queued ones, every one answered: none is left
/// in the urgent list while the writer waits for work (it once was, when its wake-up
/// went into the same batch as earlier work).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn urgent_writes_are_always_answered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("u.db").to_str().unwrap())
        .await
        .unwrap();
    let flood = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..20_000 {
                store.write_statement_later("nothing", |_| Ok(()));
                tokio::task::yield_now().await;
            }
        })
    };
    let urgent = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                let got = store.write_urgent(move |_| Ok(i)).await.unwrap();
                assert_eq!(got, i);
            }
        })
    });
    let all = async {
        for u in urgent.collect::<Vec<_>>() {
            u.await.unwrap();
        }
        flood.await.unwrap();
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), all)
        .await
        .expect("an urgent write was never answered");
    assert_eq!(store.failed_writes().0, 0);
}

/// Holds the store's writer until the returned sender is dropped or sent to, so that
/// the writes queued meanwhile go into one batch.
fn hold_writer(store: &Store) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    store.write_later("holding the writer", move |_| {
        let _ = rx.recv_timeout(std::time::Duration::from_secs(60));
        Ok(())
    });
    tx
}

/// History rows queued together are merged by kind (on PostgreSQL) and keep each
/// session's order; a bad row costs only itself, and a command whose end was taken
/// into its start row keeps its outcome when the batch's rows are written again one
/// by one.
async fn history_rows_in_a_batch(store: &Store) {
    use minke_store::{HistoryRow, SessionEnd};
    let (_, ids) = run_with_sessions(store, 2).await;
    let (a, b) = (ids[0], ids[1]);
    let command = |session_id: SessionId, seq: i32, exit: Option<i32>, out: &str| CommandRow {
        session_id,
        seq,
        command: format!("step {seq}"),
        exit_code: exit,
        exit_signal: None,
        stdout: out.as_bytes().to_vec(),
        stderr: Vec::new(),
        stdout_len: i64::try_from(out.len()).unwrap(),
        stderr_len: 0,
        stdout_truncated: false,
        stderr_truncated: false,
        started_at: 5,
        duration_us: 7,
    };
    let message = |session_id: SessionId, seq: i32| MessageRow {
        session_id,
        seq,
        level: "info".into(),
        body: format!("\"m{seq}\""),
        created_at: 1,
    };
    let end = |id: SessionId, state: State, status: Option<Status>| SessionEnd {
        id,
        state,
        status,
        reason: None,
        at: 9,
    };
    let release = hold_writer(store);
    store.record_later("a start", move || HistoryRow::SessionStart { id: a, at: 3 });
    // Made when the writer takes it: the end is already known, so one whole row.
    let whole = command(a, 1, Some(0), "one");
    store.record_later("a command", move || HistoryRow::Command(whole));
    let (started, ended) = (command(a, 2, None, ""), command(a, 2, Some(3), "two"));
    store.record_later("a command", move || HistoryRow::Command(started));
    store.record_later("a command's end", move || HistoryRow::CommandEnd(ended));
    let m1 = message(a, 1);
    store.record_later("a message", move || HistoryRow::Message(m1));
    // No such session: the foreign key refuses it.
    let bad = message(SessionId::new(999_999), 2);
    store.record_later("a bad message", move || HistoryRow::Message(bad));
    let first = end(a, State::Completed, Some(Status::Success));
    store.record_later("an end", move || HistoryRow::SessionEnd(first));
    let second = end(a, State::Failed, None);
    store.record_later("a second end", move || HistoryRow::SessionEnd(second));
    let other = end(b, State::Canceled, None);
    store.record_later("an end", move || HistoryRow::SessionEnd(other));
    release.send(()).unwrap();
    store.flush().await.unwrap();

    let (failed, first_error) = store.failed_writes();
    assert_eq!(failed, 1, "only the bad row is lost: {first_error:?}");
    assert!(
        first_error
            .as_deref()
            .unwrap()
            .starts_with("writing a bad message failed"),
        "{first_error:?}"
    );
    let detail = store
        .blocking(move |c| minke_store::get_session(c, a))
        .await
        .unwrap();
    assert_eq!(
        (
            detail.state,
            detail.status,
            detail.started_at,
            detail.finished_at
        ),
        (State::Completed, Some(Status::Success), Some(3), Some(9)),
        "started, then ended once: the first end stands"
    );
    let commands = store
        .blocking(move |c| minke_store::session_commands(c, a))
        .await
        .unwrap();
    let got: Vec<(i32, Option<i32>, Vec<u8>)> = commands
        .iter()
        .map(|c| (c.seq, c.exit_code, c.stdout.clone()))
        .collect();
    assert_eq!(
        got,
        vec![(1, Some(0), b"one".to_vec()), (2, Some(3), b"two".to_vec())]
    );
    let seqs: Vec<i32> = store
        .blocking(move |c| minke_store::session_messages(c, a))
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, vec![1]);
    let other = store
        .blocking(move |c| minke_store::get_session(c, b))
        .await
        .unwrap();
    assert_eq!(other.state, State::Canceled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rows_in_a_batch_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("rows.db").to_str().unwrap())
        .await
        .unwrap();
    history_rows_in_a_batch(&store).await;
    let db = PgDb::create("rows");
    let store = Store::open(&db.url).await.unwrap();
    history_rows_in_a_batch(&store).await;
    store.close().await.unwrap();
}

/// Host groups a page at a time: members paged and counted by the database, hosts
/// found by name with the unknown names named, members added (never twice) and
/// taken out.
async fn group_pages(store: &Store) {
    let hosts: Vec<HostId> = write(store, |c| {
        (0..300)
            .map(|i| minke_store::upsert_host(c, &NewHost::new(format!("h{i:03}"))))
            .collect()
    })
    .await
    .unwrap();
    let (big, empty, small) = write(store, |c| {
        Ok((
            minke_store::create_group(c, "big", None)?,
            minke_store::create_group(c, "empty", None)?,
            minke_store::create_group(c, "small", Some("two"))?,
        ))
    })
    .await
    .unwrap();

    // Names: found in the order given, once; unknown ones named; blanks skipped.
    let names: Vec<String> = ["h001", "nope", "h002", "h001", " ", "", "also-nope", "nope"]
        .map(str::to_owned)
        .to_vec();
    let named = store
        .blocking(move |c| minke_store::hosts_named(c, &names))
        .await
        .unwrap();
    let found: Vec<(HostId, &str)> = named
        .found
        .iter()
        .map(|h| (h.id, h.name.as_str()))
        .collect();
    assert_eq!(found, [(hosts[1], "h001"), (hosts[2], "h002")]);
    assert_eq!(named.unknown, ["nope", "also-nope"]);

    // Adding: those already in stay once; the result says who joined.
    let first: Vec<HostId> = hosts[..250].to_vec();
    let joined = write(store, move |c| {
        minke_store::add_group_members(c, big, &first)
    })
    .await
    .unwrap();
    assert_eq!(joined.len(), 250);
    let again = vec![hosts[3], hosts[250], hosts[3], hosts[250]];
    let joined = write(store, move |c| {
        minke_store::add_group_members(c, big, &again)
    })
    .await
    .unwrap();
    assert_eq!(joined, [hosts[250]]);
    let two = vec![hosts[7], hosts[8]];
    write(store, move |c| {
        minke_store::add_group_members(c, small, &two)
    })
    .await
    .unwrap();
    let counts = store
        .blocking(move |c| minke_store::group_member_counts(c, &[big, empty, small, 999_999]))
        .await
        .unwrap();
    assert_eq!(counts, [(big, 251), (empty, 0), (small, 2), (999_999, 0)]);

    // Pages by host id, from the index.
    let page = |offset: i64| async move {
        store
            .blocking(move |c| minke_store::group_member_page(c, big, offset, 50))
            .await
            .unwrap()
    };
    let p1 = page(0).await;
    assert_eq!(p1.len(), 50);
    assert_eq!((p1[0].id, p1[0].name.as_str()), (hosts[0], "h000"));
    assert_eq!(p1[49].name, "h049");
    let p2 = page(50).await;
    assert_eq!(p2.first().map(|h| h.name.as_str()), Some("h050"));
    let last = page(250).await;
    assert_eq!(last.iter().map(|h| h.id).collect::<Vec<_>>(), [hosts[250]]);
    assert!(page(300).await.is_empty());

    // Taking out: only members are said to have left.
    let out = vec![hosts[1], hosts[0], hosts[299], hosts[1]];
    let left = write(store, move |c| {
        minke_store::remove_group_members(c, big, &out)
    })
    .await
    .unwrap();
    let left: Vec<(HostId, &str)> = left.iter().map(|h| (h.id, h.name.as_str())).collect();
    assert_eq!(left, [(hosts[0], "h000"), (hosts[1], "h001")]);
    assert_eq!(page(0).await[0].name, "h002");
    let counts = store
        .blocking(move |c| minke_store::group_member_counts(c, &[big]))
        .await
        .unwrap();
    assert_eq!(counts, [(big, 249)]);
    // The selections by group see the same members.
    let members = store
        .blocking(move |c| minke_store::group_members(c, big))
        .await
        .unwrap();
    assert_eq!(members.len(), 249);
    assert_eq!(members[0], hosts[2]);

    // Groups a page at a time, by name.
    let (p1, p2, n) = store
        .blocking(|c| {
            Ok((
                minke_store::list_groups_page(c, 0, 2)?,
                minke_store::list_groups_page(c, 2, 2)?,
                minke_store::count_groups(c)?,
            ))
        })
        .await
        .unwrap();
    let names = |p: &[minke_store::HostGroupRecord]| -> Vec<String> {
        p.iter().map(|g| g.name.clone()).collect()
    };
    assert_eq!(names(&p1), ["big", "empty"]);
    assert_eq!(names(&p2), ["small"]);
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_pages_on_both_backends() {
    let b = backends("grouppages");
    for url in &b.urls {
        let store = Store::open(url).await.unwrap();
        group_pages(&store).await;
        assert_eq!(store.failed_writes().0, 0, "{url}");
        store.close().await.unwrap();
    }
}
