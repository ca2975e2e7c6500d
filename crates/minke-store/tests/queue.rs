//! The queue of work items on real PostgreSQL and SQLite: claims, leases, heartbeats,
//! the reaper, idempotent transitions.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use minke_core::{FailReason, HostId, RunId, RunState, SessionId, State, Status, WorkItemId};
use minke_store::schema::minke_host_locks as lk;
use minke_store::{
    Conn, DatabaseUrl, NewRun, NewSession, QueueWorker, WORK_CHANNEL, WorkItem, WorkState,
};
use minke_testkit::PgDatabase;

/// A fresh database of each backend: an SQLite file and a PostgreSQL database.
struct Backends {
    _dir: tempfile::TempDir,
    _pg: PgDatabase,
    sqlite: String,
    pg: String,
}

impl Backends {
    fn urls(&self) -> [&str; 2] {
        [&self.sqlite, &self.pg]
    }
}

fn backends(tag: &str) -> Backends {
    let admin = std::env::var("MINKE_TEST_PG_URL").expect(
        "MINKE_TEST_PG_URL is not set: run `export MINKE_TEST_PG_URL=$(scripts/pg-start.sh)`",
    );
    let pg = PgDatabase::create(&admin, tag).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("q.db").to_string_lossy().into_owned();
    let pg_url = pg.url().to_owned();
    let b = Backends {
        _dir: dir,
        _pg: pg,
        sqlite,
        pg: pg_url,
    };
    for url in b.urls() {
        minke_store::migrate(&mut open(url)).unwrap();
    }
    b
}

fn open(url: &str) -> Conn {
    Conn::open(&DatabaseUrl::parse(url).unwrap()).unwrap()
}

fn is_pg(url: &str) -> bool {
    url.starts_with("postgres")
}

const LONG: Duration = Duration::from_secs(3600);
/// A lease that has run out by the time anyone looks.
const SHORT: Duration = Duration::from_millis(1);

/// Records a run of `session` with `per_host` sessions on each of `hosts`, takes the
/// run's host locks and queues its items. Returns the run id and its session ids by
/// host, in order.
fn record_run(
    conn: &mut Conn,
    session: &str,
    hosts: &[i64],
    per_host: usize,
) -> (RunId, HashMap<i64, Vec<SessionId>>) {
    conn.transaction(|c| {
        let run_id = minke_store::insert_run(
            c,
            &NewRun {
                session: session.into(),
                model: "server".into(),
                username: "ann".into(),
                params: "{}".into(),
                selection: "{}".into(),
                state: RunState::Running,
                created_at: minke_store::now_micros(),
            },
        )?;
        let mut new = Vec::new();
        for round in 0..per_host {
            for &h in hosts {
                new.push(NewSession {
                    run_id,
                    session: session.into(),
                    model: "server".into(),
                    object_id: h * 1000 + i64::try_from(round).unwrap(),
                    object_label: format!("obj-{h}-{round}"),
                    host_id: Some(HostId::new(h)),
                    host_name: Some(format!("host-{h}")),
                    state: State::Initialized,
                    status: None,
                    reason: None,
                    created_at: 0,
                });
            }
        }
        let ids = minke_store::insert_sessions(c, &new)?;
        let mut by_host: HashMap<i64, Vec<SessionId>> = HashMap::new();
        for (s, id) in new.iter().zip(ids) {
            by_host
                .entry(s.host_id.unwrap().get())
                .or_default()
                .push(id);
        }
        let held = minke_store::acquire_host_locks(
            c,
            run_id,
            &hosts.iter().map(|&h| HostId::new(h)).collect::<Vec<_>>(),
            3_600_000_000,
        )?;
        assert!(held.is_empty());
        let items = minke_store::enqueue_run(c, run_id)?;
        assert_eq!(items.len(), hosts.len());
        Ok((run_id, by_host))
    })
    .unwrap()
}

fn session_state(conn: &mut Conn, id: SessionId) -> (State, Option<Status>, Option<String>) {
    let s = minke_store::get_session(conn, id).unwrap();
    (s.state, s.status, s.reason)
}

fn host_locked(conn: &mut Conn, run_id: RunId, host_id: i64) -> bool {
    minke_store::with_conn!(conn, |c, B| lk::table
        .filter(lk::run_id.eq(run_id))
        .filter(lk::host_id.eq(host_id))
        .count()
        .get_result::<i64>(c))
    .unwrap()
        == 1
}

/// Gives `worker`'s items a lease of 1 ms (a heartbeat of the same worker with that
/// lease) and waits until it ran out; returns the item as it is then.
fn expire_soon(conn: &mut Conn, worker: &QueueWorker, id: WorkItemId) -> WorkItem {
    let short = QueueWorker::new(worker.name(), ["deploy"], SHORT).unwrap();
    assert!(short.heartbeat(conn).unwrap().contains(&id));
    let item = minke_store::work_item(conn, id).unwrap();
    wait_lease_over(conn, &item);
    item
}

/// Waits (bounded) until the database's clock has passed the item's lease.
fn wait_lease_over(conn: &mut Conn, item: &WorkItem) {
    let until = item.lease_until.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while minke_store::database_now(conn).unwrap() <= until {
        assert!(
            Instant::now() < deadline,
            "the database's clock stands still"
        );
        std::thread::yield_now();
    }
}

#[test]
fn every_item_is_claimed_exactly_once() {
    let b = backends("q_once");
    for url in b.urls() {
        let mut conn = open(url);
        let hosts: Vec<i64> = (1..=50).collect();
        let (run_id, by_host) = record_run(&mut conn, "deploy", &hosts, 10);
        assert_eq!(by_host.values().map(Vec::len).sum::<usize>(), 500);
        let claimers = if is_pg(url) { 4 } else { 1 };
        let start = Arc::new(Barrier::new(claimers));
        let threads: Vec<_> = (0..claimers)
            .map(|n| {
                let url = url.to_owned();
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    let mut conn = open(&url);
                    let me = QueueWorker::new(format!("w{n}"), ["deploy"], LONG).unwrap();
                    let mut got = Vec::new();
                    start.wait();
                    for _ in 0..1000 {
                        let batch = me.claim(&mut conn, 3).unwrap();
                        if batch.is_empty() {
                            return got;
                        }
                        for item in batch {
                            assert_eq!(item.worker.as_deref(), Some(me.name()));
                            assert!(me.start(&mut conn, item.id).unwrap());
                            assert!(me.finish(&mut conn, item.id).unwrap());
                            got.push(item.id);
                        }
                    }
                    panic!("claims never ran dry");
                })
            })
            .collect();
        let per_thread: Vec<Vec<WorkItemId>> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        let all: Vec<WorkItemId> = per_thread.iter().flatten().copied().collect();
        let unique: BTreeSet<WorkItemId> = all.iter().copied().collect();
        assert_eq!(
            all.len(),
            50,
            "{url}: claims per thread {:?}",
            lens(&per_thread)
        );
        assert_eq!(unique.len(), 50, "{url}: an item was claimed twice");
        let items = minke_store::run_work_items(&mut conn, run_id).unwrap();
        assert_eq!(items.iter().map(|i| i.id).collect::<BTreeSet<_>>(), unique);
        assert!(
            items
                .iter()
                .all(|i| i.state == WorkState::Done && i.attempts == 1)
        );
        eprintln!(
            "{url}: 50 items of 500 sessions, claims per thread {:?}",
            lens(&per_thread)
        );
    }
}

fn lens(v: &[Vec<WorkItemId>]) -> Vec<usize> {
    v.iter().map(Vec::len).collect()
}

#[test]
fn enqueue_is_idempotent_and_items_hold_their_host_sessions() {
    let b = backends("q_enqueue");
    for url in b.urls() {
        let mut conn = open(url);
        let (run_id, by_host) = record_run(&mut conn, "deploy", &[7, 3], 2);
        assert!(
            minke_store::enqueue_run(&mut conn, run_id)
                .unwrap()
                .is_empty()
        );
        let items = minke_store::run_work_items(&mut conn, run_id).unwrap();
        // In the order of each host's first session.
        assert_eq!(
            items.iter().map(|i| i.host_id.get()).collect::<Vec<_>>(),
            [7, 3]
        );
        assert!(
            items
                .iter()
                .all(|i| i.state == WorkState::Queued && i.worker.is_none())
        );
        let sessions = minke_store::work_item_sessions(&mut conn, &items[1]).unwrap();
        assert_eq!(
            sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
            by_host[&3]
        );
        assert_eq!(
            minke_store::work_item(&mut conn, items[0].id).unwrap(),
            items[0]
        );
        assert!(matches!(
            minke_store::work_item(&mut conn, WorkItemId::new(999_999)),
            Err(minke_store::Error::NotFound { .. })
        ));
    }
}

#[test]
fn enqueue_announces_items_on_postgresql() {
    let b = backends("q_notify");
    let mut listener = open(&b.pg);
    let Conn::Pg(pg) = &mut listener else {
        unreachable!()
    };
    diesel::connection::SimpleConnection::batch_execute(pg, &format!("LISTEN {WORK_CHANNEL}"))
        .unwrap();
    let mut conn = open(&b.pg);
    let (run_id, _) = record_run(&mut conn, "deploy", &[1, 2, 3], 1);
    let want: BTreeSet<String> = minke_store::run_work_items(&mut conn, run_id)
        .unwrap()
        .iter()
        .map(|i| i.id.to_string())
        .collect();
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < want.len() {
        assert!(Instant::now() < deadline, "got only {got:?} of {want:?}");
        for n in pg.notifications_iter() {
            let n = n.unwrap();
            assert_eq!(n.channel, WORK_CHANNEL);
            got.insert(n.payload);
        }
        std::thread::yield_now();
    }
    assert_eq!(got, want);
}

#[test]
fn a_worker_never_claims_a_session_it_does_not_know() {
    let b = backends("q_known");
    for url in b.urls() {
        let mut conn = open(url);
        let (known_run, _) = record_run(&mut conn, "deploy", &[1, 2], 1);
        let (other_run, _) = record_run(&mut conn, "reboot", &[11, 12, 13], 1);
        let deployer = QueueWorker::new("old-version", ["deploy", "uptime"], LONG).unwrap();
        let got = deployer.claim(&mut conn, 100).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|i| i.run_id == known_run));
        assert!(deployer.claim(&mut conn, 100).unwrap().is_empty());
        let none = QueueWorker::new("knows-nothing", Vec::<String>::new(), LONG).unwrap();
        assert!(none.claim(&mut conn, 100).unwrap().is_empty());
        let rebooter = QueueWorker::new("new-version", ["reboot"], LONG).unwrap();
        let got = rebooter.claim(&mut conn, 100).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|i| i.run_id == other_run));
    }
}

#[test]
fn an_expired_claim_is_handed_back_and_claimed_again() {
    let b = backends("q_lease");
    for url in b.urls() {
        let mut conn = open(url);
        let (run_id, _) = record_run(&mut conn, "deploy", &[1], 1);
        let dead = QueueWorker::new("dead", ["deploy"], SHORT).unwrap();
        let item = dead.claim(&mut conn, 1).unwrap().remove(0);
        assert_eq!(item.attempts, 1);
        wait_lease_over(&mut conn, &item);
        assert!(
            dead.heartbeat(&mut conn).unwrap().is_empty(),
            "a lease that ran out is never renewed"
        );
        let reaped = minke_store::reap_expired(&mut conn).unwrap().unwrap();
        assert!(reaped.lost.is_empty());
        assert_eq!(reaped.handed_back.len(), 1);
        assert_eq!(reaped.handed_back[0].item_id, item.id);
        assert_eq!(reaped.handed_back[0].worker.as_deref(), Some("dead"));
        let again = minke_store::work_item(&mut conn, item.id).unwrap();
        assert_eq!(
            (again.state, again.worker, again.lease_until),
            (WorkState::Queued, None, None)
        );
        assert!(
            minke_store::reap_expired(&mut conn)
                .unwrap()
                .unwrap()
                .is_empty()
        );

        let alive = QueueWorker::new("alive", ["deploy"], LONG).unwrap();
        let item2 = alive.claim(&mut conn, 5).unwrap();
        assert_eq!(item2.len(), 1);
        assert_eq!((item2[0].id, item2[0].attempts), (item.id, 2));
        assert!(
            !dead.start(&mut conn, item.id).unwrap(),
            "the dead worker's item is not its own any more"
        );
        assert!(alive.start(&mut conn, item.id).unwrap());
        assert!(alive.finish(&mut conn, item.id).unwrap());
        assert_eq!(
            minke_store::run_work_items(&mut conn, run_id)
                .unwrap()
                .len(),
            1
        );
    }
}

#[test]
fn a_lost_running_item_interrupts_started_sessions_and_requeues_the_rest_once() {
    let b = backends("q_lost");
    for url in b.urls() {
        let mut conn = open(url);
        let (run_id, by_host) = record_run(&mut conn, "deploy", &[5], 4);
        let s = &by_host[&5];
        let dead = QueueWorker::new("dead", ["deploy"], LONG).unwrap();
        let item = dead.claim(&mut conn, 1).unwrap().remove(0);
        assert!(dead.start(&mut conn, item.id).unwrap());
        // The first session completed, the second was mid-command.
        assert!(dead.start_session(&mut conn, &item, s[0]).unwrap());
        minke_store::finish_session(
            &mut conn,
            s[0],
            State::Completed,
            Some(Status::Success),
            None,
            2,
        )
        .unwrap();
        assert!(dead.start_session(&mut conn, &item, s[1]).unwrap());
        assert!(
            !dead.start_session(&mut conn, &item, s[1]).unwrap(),
            "started twice"
        );
        // Then its lease runs out (its last heartbeat gave it one of 1 ms).
        let item = expire_soon(&mut conn, &dead, item.id);
        assert!(
            !dead.start_session(&mut conn, &item, s[2]).unwrap(),
            "no session starts once the lease ran out"
        );

        // Two reapers at once, each on its own connection.
        let start = Arc::new(Barrier::new(2));
        let reapers: Vec<_> = (0..2)
            .map(|_| {
                let url = url.to_owned();
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    let mut conn = open(&url);
                    start.wait();
                    minke_store::reap_expired(&mut conn).unwrap()
                })
            })
            .collect();
        let results: Vec<_> = reapers.into_iter().map(|t| t.join().unwrap()).collect();
        let lost: Vec<_> = results
            .iter()
            .flatten()
            .flat_map(|r| r.lost.clone())
            .collect();
        assert_eq!(lost.len(), 1, "{url}: reaped exactly once: {results:?}");
        assert!(results.iter().flatten().all(|r| r.handed_back.is_empty()));
        let lost = &lost[0];
        assert_eq!(
            (lost.item_id, lost.worker.as_deref()),
            (item.id, Some("dead"))
        );
        assert_eq!(lost.interrupted, [s[1]]);
        assert_eq!(lost.requeued, [s[2], s[3]]);
        assert!(
            !lost.released_host_lock,
            "the run keeps the host for its queued sessions"
        );
        assert!(host_locked(&mut conn, run_id, 5));

        assert_eq!(
            session_state(&mut conn, s[0]),
            (State::Completed, Some(Status::Success), None)
        );
        let interrupted = Some(FailReason::Interrupted.as_str().to_owned());
        assert_eq!(
            session_state(&mut conn, s[1]),
            (State::Failed, Some(Status::Error), interrupted)
        );
        assert_eq!(session_state(&mut conn, s[2]).0, State::Initialized);
        let items = minke_store::run_work_items(&mut conn, run_id).unwrap();
        assert_eq!(
            items.iter().map(|i| i.state).collect::<Vec<_>>(),
            [WorkState::Lost, WorkState::Queued]
        );
        assert_eq!(Some(items[1].id), lost.new_item);
        assert!(
            !dead.finish(&mut conn, item.id).unwrap(),
            "a lost item stays lost"
        );

        // The next worker runs the rest; then it dies too, with everything ended.
        assert!(
            !dead.start_session(&mut conn, &item, s[2]).unwrap(),
            "the lost item's sessions are not its any more"
        );
        let next = QueueWorker::new("next", ["deploy"], LONG).unwrap();
        let rest = next.claim(&mut conn, 10).unwrap().remove(0);
        assert_eq!(rest.id, items[1].id);
        let todo = minke_store::work_item_sessions(&mut conn, &rest).unwrap();
        assert_eq!(todo.iter().map(|s| s.id).collect::<Vec<_>>(), [s[2], s[3]]);
        assert!(
            !next.start_session(&mut conn, &rest, s[2]).unwrap(),
            "the item is not started"
        );
        assert!(next.start(&mut conn, rest.id).unwrap());
        assert!(
            !next.start_session(&mut conn, &rest, s[0]).unwrap(),
            "an ended session"
        );
        for id in [s[2], s[3]] {
            assert!(next.start_session(&mut conn, &rest, id).unwrap());
            minke_store::finish_session(
                &mut conn,
                id,
                State::Completed,
                Some(Status::Success),
                None,
                5,
            )
            .unwrap();
        }
        let rest = expire_soon(&mut conn, &next, rest.id);
        let reaped = minke_store::reap_expired(&mut conn).unwrap().unwrap();
        assert_eq!(reaped.lost.len(), 1);
        let lost = &reaped.lost[0];
        assert_eq!(
            (lost.item_id, lost.worker.as_deref()),
            (rest.id, Some("next"))
        );
        assert!(lost.interrupted.is_empty() && lost.requeued.is_empty() && lost.new_item.is_none());
        assert!(lost.released_host_lock);
        assert!(!host_locked(&mut conn, run_id, 5));
        assert_eq!(
            session_state(&mut conn, s[3]).0,
            State::Completed,
            "what was recorded is kept"
        );
    }
}

/// A worker starting sessions while its lease runs out and a reaper at work at the
/// same time: every session is either started by the worker or queued again, never
/// both.
#[test]
fn a_session_is_never_both_started_and_queued_again() {
    let b = backends("q_race");
    for url in b.urls() {
        let mut conn = open(url);
        let (run_id, by_host) = record_run(&mut conn, "deploy", &[4], 300);
        let all = by_host[&4].clone();
        let me = QueueWorker::new("racer", ["deploy"], Duration::from_millis(30)).unwrap();
        let item = me.claim(&mut conn, 1).unwrap().remove(0);
        assert!(me.start(&mut conn, item.id).unwrap());
        let go = Arc::new(Barrier::new(2));
        let worker = {
            let (url, go, all, item, me) = (
                url.to_owned(),
                Arc::clone(&go),
                all.clone(),
                item.clone(),
                me.clone(),
            );
            std::thread::spawn(move || {
                let mut conn = open(&url);
                go.wait();
                let mut started = Vec::new();
                for id in all {
                    if me.start_session(&mut conn, &item, id).unwrap() {
                        started.push(id);
                        minke_store::finish_session(
                            &mut conn,
                            id,
                            State::Completed,
                            Some(Status::Success),
                            None,
                            1,
                        )
                        .unwrap();
                    }
                }
                started
            })
        };
        let reaper = {
            let (url, go) = (url.to_owned(), Arc::clone(&go));
            std::thread::spawn(move || {
                let mut conn = open(&url);
                go.wait();
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    assert!(Instant::now() < deadline, "the lease never ran out");
                    if let Some(r) = minke_store::reap_expired(&mut conn).unwrap()
                        && !r.lost.is_empty()
                    {
                        return r.lost;
                    }
                }
            })
        };
        let started: BTreeSet<SessionId> = worker.join().unwrap().into_iter().collect();
        let lost = reaper.join().unwrap();
        assert_eq!(lost.len(), 1);
        let requeued: BTreeSet<SessionId> = lost[0].requeued.iter().copied().collect();
        assert!(
            started.is_disjoint(&requeued),
            "{url}: started and queued again: {:?}",
            started.intersection(&requeued).collect::<Vec<_>>()
        );
        assert_eq!(
            started.len() + requeued.len(),
            all.len(),
            "{url}: a session was neither started nor queued again"
        );
        for id in &requeued {
            assert_eq!(
                session_state(&mut conn, *id).0,
                State::Initialized,
                "{url}: session {id}"
            );
        }
        let items = minke_store::run_work_items(&mut conn, run_id).unwrap();
        assert_eq!(items.len(), if requeued.is_empty() { 1 } else { 2 });
        eprintln!(
            "{url}: {} sessions started before the lease ran out, {} queued again",
            started.len(),
            requeued.len()
        );
    }
}

#[test]
fn a_repeated_transition_changes_nothing_and_says_so() {
    let b = backends("q_repeat");
    for url in b.urls() {
        let mut conn = open(url);
        record_run(&mut conn, "deploy", &[1, 2], 1);
        let me = QueueWorker::new("me", ["deploy"], LONG).unwrap();
        let other = QueueWorker::new("other", ["deploy"], LONG).unwrap();
        let items = me.claim(&mut conn, 2).unwrap();
        let (a, c) = (items[0].id, items[1].id);
        assert!(!me.finish(&mut conn, a).unwrap(), "finish before start");
        assert!(!other.start(&mut conn, a).unwrap(), "not its item");
        assert!(me.start(&mut conn, a).unwrap());
        assert!(!me.start(&mut conn, a).unwrap(), "start twice");
        assert!(
            !me.hand_back(&mut conn, a).unwrap(),
            "a running item is not handed back"
        );
        assert!(!other.finish(&mut conn, a).unwrap(), "not its item");
        assert!(me.finish(&mut conn, a).unwrap());
        assert!(!me.finish(&mut conn, a).unwrap(), "finish twice");
        assert!(!me.start(&mut conn, a).unwrap(), "start after done");
        let done = minke_store::work_item(&mut conn, a).unwrap();
        assert_eq!(
            (done.state, done.worker.as_deref(), done.lease_until),
            (WorkState::Done, Some("me"), None)
        );

        assert!(me.hand_back(&mut conn, c).unwrap());
        assert!(!me.hand_back(&mut conn, c).unwrap(), "hand back twice");
        let back = minke_store::work_item(&mut conn, c).unwrap();
        assert_eq!(
            (back.state, back.worker, back.attempts),
            (WorkState::Queued, None, 1)
        );
        assert_eq!(other.claim(&mut conn, 5).unwrap()[0].attempts, 2);
    }
}

#[test]
fn a_worker_stopping_early_hands_back_the_sessions_it_did_not_start() {
    let b = backends("q_rest");
    for url in b.urls() {
        let mut conn = open(url);
        let (run_id, by_host) = record_run(&mut conn, "deploy", &[9], 3);
        let s = &by_host[&9];
        let me = QueueWorker::new("me", ["deploy"], LONG).unwrap();
        let item = me.claim(&mut conn, 1).unwrap().remove(0);
        assert!(
            me.hand_back_rest(&mut conn, item.id).unwrap().is_none(),
            "not started"
        );
        assert!(me.start(&mut conn, item.id).unwrap());
        assert!(me.start_session(&mut conn, &item, s[0]).unwrap());
        minke_store::finish_session(
            &mut conn,
            s[0],
            State::Completed,
            Some(Status::Success),
            None,
            2,
        )
        .unwrap();
        let rest = me.hand_back_rest(&mut conn, item.id).unwrap().unwrap();
        assert_eq!(rest.requeued, [s[1], s[2]]);
        assert!(
            me.hand_back_rest(&mut conn, item.id).unwrap().is_none(),
            "a repeat changes nothing"
        );
        let items = minke_store::run_work_items(&mut conn, run_id).unwrap();
        assert_eq!(
            items.iter().map(|i| i.state).collect::<Vec<_>>(),
            [WorkState::Done, WorkState::Queued]
        );
        assert_eq!(Some(items[1].id), rest.new_item);
        let other = QueueWorker::new("other", ["deploy"], LONG).unwrap();
        let next = other.claim(&mut conn, 5).unwrap();
        assert_eq!(
            (next.len(), next[0].id, next[0].attempts),
            (1, items[1].id, 1)
        );
    }
}

/// Claims and starts one item for `worker` and runs its sessions to success.
fn run_one_item(
    conn: &mut Conn,
    worker: &QueueWorker,
    sessions: &HashMap<i64, Vec<SessionId>>,
) -> WorkItem {
    let item = worker.claim(conn, 1).unwrap().remove(0);
    assert!(worker.start(conn, item.id).unwrap());
    for &s in &sessions[&item.host_id.get()] {
        assert!(worker.start_session(conn, &item, s).unwrap());
        minke_store::finish_session(conn, s, State::Completed, Some(Status::Success), None, 2)
            .unwrap();
    }
    item
}

#[test]
fn ending_items_releases_their_hosts_and_the_last_one_ends_the_run() {
    let b = backends("q_end");
    for url in b.urls() {
        let mut conn = open(url);
        let (run_id, by_host) = record_run(&mut conn, "deploy", &[1, 2, 3], 2);
        let me = QueueWorker::new("me", ["deploy"], LONG).unwrap();
        let first = run_one_item(&mut conn, &me, &by_host);
        let end = me.end_item(&mut conn, &first, 5).unwrap().unwrap();
        assert_eq!(
            (end.requeued.len(), end.new_item, end.run_ended),
            (0, None, None),
            "{url}"
        );
        assert!(
            !host_locked(&mut conn, run_id, first.host_id.get()),
            "{url}"
        );
        assert!(host_locked(&mut conn, run_id, 2), "{url}");
        assert!(
            me.end_item(&mut conn, &first, 5).unwrap().is_none(),
            "{url}: a repeat"
        );

        // One session not started: queued again, the host kept.
        let second = me.claim(&mut conn, 1).unwrap().remove(0);
        assert!(me.start(&mut conn, second.id).unwrap());
        let s = &by_host[&second.host_id.get()];
        assert!(me.start_session(&mut conn, &second, s[0]).unwrap());
        minke_store::finish_session(&mut conn, s[0], State::Completed, None, None, 2).unwrap();
        let end = me.end_item(&mut conn, &second, 6).unwrap().unwrap();
        assert_eq!(end.requeued, [s[1]], "{url}");
        assert!(end.new_item.is_some() && end.run_ended.is_none(), "{url}");
        assert!(
            host_locked(&mut conn, run_id, second.host_id.get()),
            "{url}"
        );

        // The rest, then the last item ends the run.
        for _ in 0..2 {
            let item = me.claim(&mut conn, 1).unwrap().remove(0);
            assert!(me.start(&mut conn, item.id).unwrap());
            for s in minke_store::work_item_sessions(&mut conn, &item).unwrap() {
                assert!(me.start_session(&mut conn, &item, s.id).unwrap());
                minke_store::finish_session(&mut conn, s.id, State::Completed, None, None, 2)
                    .unwrap();
            }
            let end = me.end_item(&mut conn, &item, 7).unwrap().unwrap();
            let last = minke_store::run_work_items(&mut conn, run_id)
                .unwrap()
                .iter()
                .all(|i| i.state == WorkState::Done);
            assert_eq!(end.run_ended, last.then_some(RunState::Done), "{url}");
        }
        let run = minke_store::get_run(&mut conn, run_id).unwrap();
        assert_eq!(
            (run.state, run.finished_at),
            (RunState::Done, Some(7)),
            "{url}"
        );
        assert!(!host_locked(&mut conn, run_id, 2) && !host_locked(&mut conn, run_id, 3));
    }
}

/// Two workers end a run's last two items in transactions that overlap: the second
/// waits for the first and sees its end, so the run ends (each saw the other's item
/// open, and the run stayed `running` with nothing left to run).
#[test]
fn the_last_items_ended_at_once_by_two_workers_end_the_run_on_postgresql() {
    let b = backends("q_end_race");
    let mut conn = open(&b.pg);
    let (run_id, by_host) = record_run(&mut conn, "deploy", &[1, 2], 1);
    let (a, z) = (
        QueueWorker::new("a", ["deploy"], LONG).unwrap(),
        QueueWorker::new("z", ["deploy"], LONG).unwrap(),
    );
    let (item_a, item_z) = (
        run_one_item(&mut conn, &a, &by_host),
        run_one_item(&mut conn, &z, &by_host),
    );
    let ended_a = Arc::new(Barrier::new(2));
    let first = {
        let (url, ended_a) = (b.pg.clone(), Arc::clone(&ended_a));
        std::thread::spawn(move || {
            let mut conn = open(&url);
            conn.transaction(|c| {
                let end = a.end_item(c, &item_a, 10)?;
                ended_a.wait();
                // Still uncommitted while the other worker ends its item.
                std::thread::sleep(Duration::from_millis(300));
                Ok::<_, minke_store::Error>(end)
            })
            .unwrap()
        })
    };
    ended_a.wait();
    let second = z.end_item(&mut open(&b.pg), &item_z, 11).unwrap();
    let first = first.join().unwrap();
    let ended: Vec<_> = [first, second]
        .into_iter()
        .flatten()
        .map(|e| e.run_ended)
        .collect();
    assert_eq!(ended, [None, Some(RunState::Done)]);
    assert_eq!(
        minke_store::get_run(&mut conn, run_id).unwrap().state,
        RunState::Done
    );
}

#[test]
fn heartbeat_extends_exactly_its_workers_leases() {
    let b = backends("q_heartbeat");
    for url in b.urls() {
        let mut conn = open(url);
        let (run_id, _) = record_run(&mut conn, "deploy", &[1, 2, 3, 4, 5], 1);
        // Short host locks, to see the heartbeat refresh those of its items.
        minke_store::refresh_host_locks(&mut conn, run_id, 1_000_000).unwrap();
        let me = QueueWorker::new("me", ["deploy"], Duration::from_secs(60)).unwrap();
        let other = QueueWorker::new("other", ["deploy"], Duration::from_secs(60)).unwrap();
        let mine = me.claim(&mut conn, 2).unwrap();
        let theirs = other.claim(&mut conn, 2).unwrap();
        assert!(
            me.start(&mut conn, mine[0].id).unwrap(),
            "running items are renewed too"
        );
        let before: HashMap<WorkItemId, WorkItem> = minke_store::run_work_items(&mut conn, run_id)
            .unwrap()
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let locks_before = lock_expiries(&mut conn, run_id);

        // The same worker with a much longer lease: its renewed leases end later.
        let renewed = QueueWorker::new("me", ["deploy"], LONG)
            .unwrap()
            .heartbeat(&mut conn)
            .unwrap();
        assert_eq!(renewed, mine.iter().map(|i| i.id).collect::<Vec<_>>());
        let after = minke_store::run_work_items(&mut conn, run_id).unwrap();
        assert_eq!(after.len(), 5);
        for item in &after {
            let old = &before[&item.id];
            if renewed.contains(&item.id) {
                assert!(item.lease_until.unwrap() > old.lease_until.unwrap() + 3_000_000_000);
                assert_eq!(item.state, old.state);
            } else {
                assert_eq!(item, old, "another worker's or a queued item is untouched");
            }
        }
        assert!(theirs.iter().all(|i| i.worker.as_deref() == Some("other")));
        let locks_after = lock_expiries(&mut conn, run_id);
        for (host, until) in &locks_after {
            let mine_host = mine.iter().any(|i| i.host_id.get() == *host);
            assert_eq!(
                *until > locks_before[host] + 3_000_000_000,
                mine_host,
                "host {host}"
            );
        }
    }
}

fn lock_expiries(conn: &mut Conn, run_id: RunId) -> HashMap<i64, i64> {
    minke_store::with_conn!(conn, |c, B| lk::table
        .filter(lk::run_id.eq(run_id))
        .select((lk::host_id, lk::expires_at))
        .load::<(i64, i64)>(c))
    .unwrap()
    .into_iter()
    .collect()
}

#[test]
fn run_announcements_reach_listeners_and_sqlite_has_none() {
    let b = backends("q_listen");
    let sqlite = DatabaseUrl::parse(&b.sqlite).unwrap();
    let refused = minke_store::Listener::open(&sqlite, &[minke_store::RUN_CHANNEL]).unwrap_err();
    assert!(
        refused.to_string().contains("needs PostgreSQL"),
        "{refused}"
    );
    // Announcing on SQLite is a no-op, not an error.
    minke_store::notify_runs(&mut open(&b.sqlite), &[RunId::new(1)]).unwrap();

    let pg = DatabaseUrl::parse(&b.pg).unwrap();
    let mut listener = minke_store::Listener::open(&pg, &[minke_store::RUN_CHANNEL]).unwrap();
    let mut conn = open(&b.pg);
    conn.transaction(|c| minke_store::notify_runs(c, &[RunId::new(7), RunId::new(9)]))
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 2 && Instant::now() < deadline {
        got.extend(listener.wait(Duration::from_millis(200)).unwrap());
    }
    let payloads: Vec<&str> = got.iter().map(|n| n.payload.as_str()).collect();
    assert_eq!(payloads, ["7", "9"]);
    assert!(got.iter().all(|n| n.channel == minke_store::RUN_CHANNEL));

    // In the background: a call on connecting, then one per announcement.
    let (tx, rx) = std::sync::mpsc::channel();
    let _listening = minke_store::Listener::spawn(&pg, &[minke_store::RUN_CHANNEL], move |n| {
        let _ = tx.send(n.map(|n| n.payload));
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), None);
    minke_store::notify_runs(&mut conn, &[RunId::new(11)]).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        Some("11".to_owned())
    );
}

#[test]
fn a_stop_cancels_queued_work_and_the_last_item_ends_the_run() {
    let b = backends("q_stop");
    for url in b.urls() {
        let mut conn = open(url);
        // All queued: the stop ends the run at once.
        let (queued, by_host) = record_run(&mut conn, "deploy", &[1, 2], 1);
        let answer = minke_store::request_run_stop(&mut conn, queued, Some(1)).unwrap();
        assert_eq!(
            answer,
            minke_store::RunStopRequest::Finished(RunState::Canceled),
            "{url}"
        );
        for ids in by_host.values() {
            let (state, _, reason) = session_state(&mut conn, ids[0]);
            assert_eq!(state, State::Canceled);
            assert_eq!(reason.as_deref(), Some(minke_store::CANCELED_IN_QUEUE));
        }
        assert!(!host_locked(&mut conn, queued, 1) && !host_locked(&mut conn, queued, 2));

        // One item held by a worker: only the queued one is canceled; the run ends
        // when the worker finishes its item.
        let (run, by_host) = record_run(&mut conn, "deploy", &[3, 4], 1);
        let w = QueueWorker::new("w", ["deploy"], LONG).unwrap();
        let held = w.claim(&mut conn, 1).unwrap().remove(0);
        let answer = minke_store::request_run_stop(&mut conn, run, Some(1)).unwrap();
        assert_eq!(answer, minke_store::RunStopRequest::Requested(1), "{url}");
        let other = if held.host_id.get() == 3 { 4 } else { 3 };
        assert_eq!(
            session_state(&mut conn, by_host[&other][0]).0,
            State::Canceled
        );
        assert_eq!(
            session_state(&mut conn, by_host[&held.host_id.get()][0]).0,
            State::Initialized
        );
        assert!(w.start(&mut conn, held.id).unwrap());
        let sid = by_host[&held.host_id.get()][0];
        assert!(w.start_session(&mut conn, &held, sid).unwrap());
        assert_eq!(
            minke_store::finish_run_if_complete(&mut conn, run, 5).unwrap(),
            None
        );
        minke_store::finish_session(
            &mut conn,
            sid,
            State::Completed,
            Some(Status::Success),
            None,
            5,
        )
        .unwrap();
        assert_eq!(
            minke_store::finish_run_if_complete(&mut conn, run, 5).unwrap(),
            None,
            "the item is open"
        );
        assert!(w.finish(&mut conn, held.id).unwrap());
        assert_eq!(
            minke_store::finish_run_if_complete(&mut conn, run, 5).unwrap(),
            Some(RunState::Canceled)
        );
        assert_eq!(
            minke_store::finish_run_if_complete(&mut conn, run, 5).unwrap(),
            None,
            "once"
        );
        // A late writer never overwrites an end.
        minke_store::finish_session(
            &mut conn,
            sid,
            State::Failed,
            Some(Status::Error),
            Some("x"),
            6,
        )
        .unwrap();
        assert_eq!(session_state(&mut conn, sid).0, State::Completed);
    }
}

#[test]
fn queued_work_keeps_its_run_alive_and_its_host_locks() {
    let b = backends("q_alive");
    for url in b.urls() {
        let mut conn = open(url);
        let (run, _) = record_run(&mut conn, "deploy", &[1], 1);
        // The locks ran out long ago (no process renews a queued run's locks).
        expire_locks(&mut conn);
        let now = minke_store::now_micros();
        assert!(
            minke_store::close_interrupted_runs(&mut conn, now)
                .unwrap()
                .is_empty(),
            "{url}"
        );
        let held = minke_store::acquire_host_locks(
            &mut conn,
            RunId::new(999),
            &[HostId::new(1)],
            3_600_000_000,
        )
        .unwrap();
        assert_eq!(
            held,
            [(HostId::new(1), run)],
            "the queued run keeps its host"
        );
        // Once its work is over, a run nobody ends is closed as interrupted.
        let w = QueueWorker::new("w", ["deploy"], LONG).unwrap();
        let item = w.claim(&mut conn, 1).unwrap().remove(0);
        assert!(w.start(&mut conn, item.id).unwrap());
        assert!(w.finish(&mut conn, item.id).unwrap());
        let closed = minke_store::close_interrupted_runs(&mut conn, now).unwrap();
        assert_eq!(closed, [run], "{url}");
    }
}

/// Makes every host lock expired.
fn expire_locks(conn: &mut Conn) {
    match conn {
        Conn::Pg(c) => diesel::update(lk::table)
            .set(lk::expires_at.eq(1))
            .execute(c),
        Conn::Sqlite(c) => diesel::update(lk::table)
            .set(lk::expires_at.eq(1))
            .execute(c),
    }
    .unwrap();
}

#[test]
fn a_runs_own_concurrency_holds_over_all_workers() {
    let b = backends("q_conc");
    for url in b.urls() {
        let mut conn = open(url);
        let (limited, _) = record_run(&mut conn, "deploy", &[1, 2, 3, 4, 5], 1);
        minke_store::set_run_concurrency(&mut conn, limited, 2).unwrap();
        let (free, _) = record_run(&mut conn, "deploy", &[6, 7], 1);
        let a = QueueWorker::new("a", ["deploy"], LONG).unwrap();
        let z = QueueWorker::new("z", ["deploy"], LONG).unwrap();
        let of = |items: &[WorkItem], run: RunId| items.iter().filter(|i| i.run_id == run).count();
        let got_a = a.claim(&mut conn, 10).unwrap();
        let got_z = z.claim(&mut conn, 10).unwrap();
        assert_eq!(of(&got_a, limited) + of(&got_z, limited), 2, "{url}");
        assert_eq!(
            of(&got_a, free) + of(&got_z, free),
            2,
            "no limit of its own"
        );
        // One ends: one more may go.
        let one = got_a
            .iter()
            .chain(&got_z)
            .find(|i| i.run_id == limited)
            .unwrap();
        let owner = if got_a.contains(one) { &a } else { &z };
        assert!(owner.start(&mut conn, one.id).unwrap());
        assert!(owner.finish(&mut conn, one.id).unwrap());
        let more = z.claim(&mut conn, 10).unwrap();
        assert_eq!(of(&more, limited), 1, "{url}");
        let held: usize = minke_store::run_work_items(&mut conn, limited)
            .unwrap()
            .iter()
            .filter(|i| matches!(i.state, WorkState::Claimed | WorkState::Running))
            .count();
        assert_eq!(held, 2, "{url}");
    }
}

#[test]
fn concurrent_claimers_never_exceed_a_runs_concurrency_on_postgresql() {
    let b = backends("q_conc_race");
    let mut conn = open(&b.pg);
    let hosts: Vec<i64> = (1..=40).collect();
    let (run, _) = record_run(&mut conn, "deploy", &hosts, 1);
    minke_store::set_run_concurrency(&mut conn, run, 3).unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let claimed: usize = (0..8)
        .map(|i| {
            let (url, barrier) = (b.pg.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut c = open(&url);
                let w = QueueWorker::new(format!("w{i}"), ["deploy"], LONG).unwrap();
                barrier.wait();
                w.claim(&mut c, 10).unwrap().len()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(claimed, 3);
}

/// Starts asked of the store together (one statement on PostgreSQL) are each decided
/// as alone: a session of an item that is running starts, one of an item only
/// claimed does not, and a session asked twice starts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_starts_merged_in_a_batch_are_each_decided() {
    let b = backends("q_merged");
    for url in b.urls() {
        let mut conn = open(url);
        let (_run_id, by_host) = record_run(&mut conn, "deploy", &[1, 2], 2);
        let me = QueueWorker::new("me", ["deploy"], LONG).unwrap();
        let items = me.claim(&mut conn, 2).unwrap();
        let item = |host: i64| items.iter().find(|i| i.host_id.get() == host).unwrap().id;
        assert!(me.start(&mut conn, item(1)).unwrap());
        let store = minke_store::Store::open(url).await.unwrap();
        // Hold the writer so that the starts below go into one batch.
        let (release, held) = std::sync::mpsc::channel::<()>();
        store.write_later("holding the writer", move |_| {
            let _ = held.recv_timeout(Duration::from_secs(60));
            Ok(())
        });
        let (s1, s2) = (by_host[&1][0], by_host[&2][0]);
        let running = store.start_held_session(&me, item(1), s1);
        let only_claimed = store.start_held_session(&me, item(2), s2);
        let twice = store.start_held_session(&me, item(1), s1);
        let stranger = QueueWorker::new("stranger", ["deploy"], LONG).unwrap();
        let not_held = store.start_held_session(&stranger, item(1), by_host[&1][1]);
        release.send(()).unwrap();
        let answers = (
            running.await.unwrap(),
            only_claimed.await.unwrap(),
            twice.await.unwrap(),
            not_held.await.unwrap(),
        );
        assert_eq!(answers, (true, false, false, false), "{url}");
        assert_eq!(session_state(&mut conn, s1).0, State::Running);
        assert_eq!(session_state(&mut conn, s2).0, State::Initialized);
        assert_eq!(
            session_state(&mut conn, by_host[&1][1]).0,
            State::Initialized
        );
        store.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_ends_merged_in_a_batch_see_the_rows_before_them_and_end_the_run_once() {
    let b = backends("q_merged_ends");
    for url in b.urls() {
        let mut conn = open(url);
        let (run_id, by_host) = record_run(&mut conn, "deploy", &[1, 2, 3], 2);
        let me = QueueWorker::new("me", ["deploy"], LONG).unwrap();
        let items = me.claim(&mut conn, 3).unwrap();
        let item = |host: i64| {
            items
                .iter()
                .find(|i| i.host_id.get() == host)
                .unwrap()
                .clone()
        };
        let finish = |conn: &mut Conn, s: SessionId| {
            minke_store::finish_session(conn, s, State::Completed, Some(Status::Success), None, 2)
                .unwrap();
        };
        for host in [1, 2, 3] {
            assert!(me.start(&mut conn, item(host).id).unwrap());
            assert!(
                me.start_session(&mut conn, &item(host), by_host[&host][0])
                    .unwrap()
            );
            finish(&mut conn, by_host[&host][0]);
        }
        assert!(
            me.start_session(&mut conn, &item(1), by_host[&1][1])
                .unwrap()
        );
        finish(&mut conn, by_host[&1][1]);
        assert!(
            me.start_session(&mut conn, &item(2), by_host[&2][1])
                .unwrap()
        );
        // Host 3's second session never starts.

        let store = minke_store::Store::open(url).await.unwrap();
        // Hold the writer so that what follows goes into one batch.
        let (release, held) = std::sync::mpsc::channel::<()>();
        store.write_later("holding the writer", move |_| {
            let _ = held.recv_timeout(Duration::from_secs(60));
            Ok(())
        });
        let last = by_host[&2][1];
        store.record_later("a session's end", move || {
            minke_store::HistoryRow::SessionEnd(minke_store::SessionEnd {
                id: last,
                state: State::Completed,
                status: Some(Status::Success),
                reason: None,
                at: 3,
            })
        });
        let stranger = QueueWorker::new("stranger", ["deploy"], LONG).unwrap();
        let answers = [
            store.end_work_item(&stranger, &item(1), 4),
            store.end_work_item(&me, &item(1), 4),
            store.end_work_item(&me, &item(1), 4),
            store.end_work_item(&me, &item(2), 4),
            store.end_work_item(&me, &item(3), 4),
        ];
        release.send(()).unwrap();
        let mut got = Vec::new();
        for a in answers {
            got.push(a.await.unwrap());
        }
        assert!(got[0].is_none(), "{url}: not the stranger's item");
        let one = got[1].clone().unwrap();
        assert_eq!(
            (one.requeued.len(), one.new_item, one.run_ended),
            (0, None, None),
            "{url}"
        );
        assert!(got[2].is_none(), "{url}: an item ends once");
        assert!(
            got[3].as_ref().is_some_and(|e| e.run_ended.is_none()),
            "{url}"
        );
        let three = got[4].clone().unwrap();
        assert_eq!(three.requeued, [by_host[&3][1]], "{url}");
        assert!(
            three.new_item.is_some() && three.run_ended.is_none(),
            "{url}"
        );
        assert_eq!(session_state(&mut conn, last).0, State::Completed, "{url}");
        assert!(!host_locked(&mut conn, run_id, 1) && !host_locked(&mut conn, run_id, 2));
        assert!(
            host_locked(&mut conn, run_id, 3),
            "{url}: host 3 has a session left"
        );

        // The rest runs; its end ends the run.
        let rest = me.claim(&mut conn, 1).unwrap().remove(0);
        assert!(me.start(&mut conn, rest.id).unwrap());
        assert!(me.start_session(&mut conn, &rest, by_host[&3][1]).unwrap());
        finish(&mut conn, by_host[&3][1]);
        let end = store.end_work_item(&me, &rest, 5).await.unwrap().unwrap();
        assert_eq!(end.run_ended, Some(RunState::Done), "{url}");
        assert_eq!(
            minke_store::get_run(&mut conn, run_id).unwrap().state,
            RunState::Done
        );
        assert!(!host_locked(&mut conn, run_id, 3), "{url}");
        store.close().await.unwrap();
    }
}
