//! The store against real SQLite files and the machine's PostgreSQL.
#![allow(clippy::unwrap_used)]

use diesel::RunQueryDsl;
use minke_core::MinkeModel;
use minke_store::{
    CommandRow, Conn, DatabaseUrl, HostRecord, MessageRow, NewHost, NewRun, NewSession, Query,
    Store, StoredModel, now_micros,
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
                    state: "running".into(),
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
            state: "initialized".into(),
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
        minke_store::finish_session(c, sid, "completed", Some("warning"), None, now_micros())
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
    assert_eq!(sessions[0].state, "completed");
    assert_eq!(sessions[0].status.as_deref(), Some("warning"));
    let latest = store
        .blocking(|c| minke_store::latest_sessions(c, "host", &[0, 1, 2]))
        .await
        .unwrap();
    assert_eq!(latest.len(), 3);

    // Locks: a second run cannot take a held lock; an expired one is taken over.
    let held = store
        .write(move |c| minke_store::acquire_host_locks(c, 1000, &[host_id], 60_000_000))
        .await
        .unwrap();
    assert!(held.is_empty());
    let held = store
        .write(move |c| minke_store::acquire_host_locks(c, 1001, &[host_id], 60_000_000))
        .await
        .unwrap();
    assert_eq!(held, vec![(host_id, 1000)]);
    store
        .write(move |c| minke_store::refresh_host_locks(c, 1000, -1))
        .await
        .unwrap();
    let held = store
        .write(move |c| minke_store::acquire_host_locks(c, 1001, &[host_id], 60_000_000))
        .await
        .unwrap();
    assert!(held.is_empty(), "an expired lock is taken over");
    store
        .write(|c| minke_store::release_host_locks(c, 1001))
        .await
        .unwrap();

    // Retention: running runs are kept, finished old ones go.
    let kept = store
        .write(|c| minke_store::clear_before(c, now_micros() + 1))
        .await
        .unwrap();
    assert_eq!(kept.runs, 0);
    store
        .write(move |c| minke_store::finish_run(c, run_id, "done", now_micros()))
        .await
        .unwrap();
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
        .blocking(move |c| HostRecord::load_one(c, host_id))
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

/// One failing write in a batch costs only itself: the writes queued around it, with
/// and without savepoints of their own, are committed.
async fn failing_write_in_a_batch(store: &Store) {
    let run_id = store
        .write(|c| {
            minke_store::insert_run(
                c,
                &NewRun {
                    session: "s".into(),
                    model: "host".into(),
                    username: "u".into(),
                    params: "{}".into(),
                    selection: "all".into(),
                    state: "running".into(),
                    created_at: now_micros(),
                },
            )
        })
        .await
        .unwrap();
    let new = vec![NewSession {
        run_id,
        session: "s".into(),
        model: "host".into(),
        object_id: 1,
        object_label: "o".into(),
        host_id: None,
        host_name: None,
        state: "initialized".into(),
        status: None,
        reason: None,
        created_at: now_micros(),
    }];
    let sid = store
        .write(move |c| minke_store::insert_sessions(c, &new))
        .await
        .unwrap()[0];
    let message = |session_id: i64, seq: i32| MessageRow {
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
    let bad = message(999_999, 2);
    store.write_statement_later("a bad message", move |c| {
        minke_store::insert_message(c, &bad)
    });
    let m3 = message(sid, 3);
    store.write_statement_later("message 3", move |c| minke_store::insert_message(c, &m3));
    let (m4, bad2) = (message(sid, 4), message(999_998, 5));
    store.write_later("two statements, the second failing", move |c| {
        minke_store::insert_message(c, &m4)?;
        minke_store::insert_message(c, &bad2)
    });
    store.write_statement_later("the end", move |c| {
        minke_store::finish_session(c, sid, "completed", Some("success"), None, now_micros())
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
    assert_eq!(s.state, "completed");
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
