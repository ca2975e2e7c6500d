//! File transfers over SFTP: content, digests, modes, replacing, and clear errors.
//!
//! The servers run on this machine as the user running the tests, so a local
//! temporary directory is also a remote one.

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use minke_core::FailReason;
use minke_ssh::{Direction, Error, RemoteFileProblem};
use minke_testkit::{Fleet, ServerOptions};
use tokio::io::{AsyncRead, ReadBuf};

use crate::{connect, fleet, run};

/// Pseudo-random bytes (xorshift), reproducible from `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("temporary paths are UTF-8").to_owned()
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("listing the test directory")
        .map(|e| {
            let entry = e.expect("reading the test directory");
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_then_get_gives_back_the_same_bytes_with_the_mode_set() {
    let dir = tempfile::tempdir().unwrap();
    let remote = path_str(&dir.path().join("blob.bin"));
    let data = noise(3 * 1024 * 1024 + 12_345, 7);
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;

    let put = conn.put(&data[..], &remote, 0o640).await.unwrap();
    assert_eq!(put.direction, Direction::Put);
    assert_eq!(put.remote_path, remote);
    assert_eq!(put.bytes, data.len() as u64);
    assert_eq!(put.sha256, sha256(&data));
    assert!(put.duration > Duration::ZERO);
    assert!(std::fs::read(&remote).unwrap() == data, "the file differs");
    let mode = run(&conn, &format!("stat -c %a '{remote}'")).await;
    assert_eq!(mode.stdout_text().trim(), "640");

    let mut back = Vec::new();
    let got = conn.get(&remote, &mut back).await.unwrap();
    assert_eq!(got.direction, Direction::Get);
    assert_eq!(got.bytes, data.len() as u64);
    assert_eq!(got.sha256, put.sha256);
    assert!(back == data, "the bytes read back differ");
    assert_eq!(names(dir.path()), ["blob.bin"], "no temporary file is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_files_and_relative_paths() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let name = crate::unique("sftp-empty");
    // Relative to the remote user's home directory.
    let put = conn.put(&b""[..], &name, 0o600).await.unwrap();
    assert_eq!(put.bytes, 0);
    assert_eq!(put.sha256, sha256(b""));
    let mut back = Vec::new();
    let got = conn.get(&name, &mut back).await.unwrap();
    assert_eq!((got.bytes, back.len()), (0, 0));
    assert_eq!(got.sha256, put.sha256);
    let out = run(&conn, &format!("stat -c %a:%s ~/'{name}' && rm ~/'{name}'")).await;
    assert_eq!(out.stdout_text().trim(), "600:0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_over_an_existing_file_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("app.conf");
    std::fs::write(&target, b"the old content, longer than the new one\n").unwrap();
    let remote = path_str(&target);
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;

    let put = conn.put(&b"new\n"[..], &remote, 0o755).await.unwrap();
    assert_eq!(put.bytes, 4);
    assert_eq!(std::fs::read(&target).unwrap(), b"new\n");
    let mode = run(&conn, &format!("stat -c %a '{remote}'")).await;
    assert_eq!(mode.stdout_text().trim(), "755");
    assert_eq!(names(dir.path()), ["app.conf"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_of_a_missing_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let remote = path_str(&dir.path().join("missing.txt"));
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let mut sink = Vec::new();
    let err = conn.get(&remote, &mut sink).await.unwrap_err();
    eprintln!("{err}");
    match &err {
        Error::RemoteFile {
            host,
            path,
            problem,
            ..
        } => {
            assert_eq!(*problem, RemoteFileProblem::NoSuchFile);
            assert_eq!(path, &remote);
            assert_eq!(host, conn.host());
        }
        other => panic!("expected a remote file error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&remote), "{text}");
    assert!(text.ends_with("no such file or directory"), "{text}");
    assert_eq!(err.reason(), FailReason::Transfer);
    assert!(sink.is_empty());
    // The channel was given back: the connection still works.
    assert!(run(&conn, "true").await.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_under_a_regular_file_fails_and_leaves_nothing() {
    // A path through a regular file fails for root too (unlike a chmod'ed directory).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), b"a file\n").unwrap();
    let remote = path_str(&dir.path().join("plain").join("x.conf"));
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let err = conn
        .put(&noise(100_000, 3)[..], &remote, 0o644)
        .await
        .unwrap_err();
    eprintln!("{err}");
    match &err {
        Error::RemoteFile { path, problem, .. } => {
            assert_eq!(*problem, RemoteFileProblem::NotADirectory, "{err}");
            assert_eq!(path, &remote);
        }
        other => panic!("expected a remote file error, got {other:?}"),
    }
    assert!(err.to_string().contains(&remote), "{err}");
    assert_eq!(names(dir.path()), ["plain"]);
    assert_eq!(
        std::fs::read(dir.path().join("plain")).unwrap(),
        b"a file\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_onto_a_directory_fails_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub").join("keep"), b"kept").unwrap();
    let remote = path_str(&dir.path().join("sub"));
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let err = conn.put(&b"data"[..], &remote, 0o644).await.unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(
            err,
            Error::RemoteFile {
                problem: RemoteFileProblem::IsADirectory,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(names(dir.path()), ["sub"]);
    assert_eq!(names(&dir.path().join("sub")), ["keep"]);
    let err = conn
        .put(&b"data"[..], &format!("{remote}/"), 0o644)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("it is a directory"), "{err}");
}

/// Gives `ok` bytes, then fails.
struct FailingSource {
    ok: usize,
}

impl AsyncRead for FailingSource {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.ok == 0 {
            return Poll::Ready(Err(std::io::Error::other("the disk went away")));
        }
        let n = self.ok.min(buf.remaining()).min(10_000);
        buf.put_slice(&vec![b'x'; n]);
        self.ok -= n;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_leaves_the_old_file_and_no_half_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("data.db");
    std::fs::write(&target, b"old").unwrap();
    let remote = path_str(&target);
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let source = FailingSource {
        ok: 2 * 1024 * 1024,
    };
    let err = conn.put(source, &remote, 0o644).await.unwrap_err();
    eprintln!("{err}");
    match &err {
        Error::LocalIo { path, source, .. } => {
            assert_eq!(path, &remote);
            assert_eq!(source.to_string(), "the disk went away");
        }
        other => panic!("expected a local error, got {other:?}"),
    }
    assert!(err.to_string().contains("the disk went away"), "{err}");
    assert_eq!(err.reason(), FailReason::Transfer);
    assert_eq!(std::fs::read(&target).unwrap(), b"old");
    assert_eq!(names(dir.path()), ["data.db"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_put_removes_its_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let remote = path_str(&dir.path().join("slow.bin"));
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    // A source that gives 1 MiB, then nothing more (its writer stays open).
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let feeder = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        writer.write_all(&noise(1024 * 1024, 5)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(writer);
    });
    let put = conn.put(reader, &remote, 0o644);
    let started = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_millis(500), put).await;
    assert!(stopped.is_err(), "the put cannot have finished");
    let names_now = names(dir.path());
    assert!(
        names_now.len() <= 1 && names_now.iter().all(|n| n.ends_with(".part")),
        "{names_now:?}"
    );
    // The clean-up runs in its own task.
    while !names(dir.path()).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "left behind: {:?}",
            names(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    feeder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_sftp_says_so() {
    let options = ServerOptions {
        sftp_subsystem: false,
        ..ServerOptions::default()
    };
    let fleet = Fleet::start_with(1, &options).unwrap();
    let conn = connect(&fleet.targets()[0]).await;
    let err = conn
        .put(&b"x"[..], "/tmp/minke-never-written", 0o644)
        .await
        .unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, Error::NoSftp { .. }), "{err:?}");
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "{} has no SFTP subsystem (sshd_config `Subsystem sftp`); cannot transfer `/tmp/minke-never-written`",
            conn.host()
        )
    );
    let err = conn.get("/etc/hostname", Vec::new()).await.unwrap_err();
    assert!(matches!(err, Error::NoSftp { .. }), "{err:?}");
    assert_eq!(err.reason(), FailReason::Transfer);
    assert!(!Path::new("/tmp/minke-never-written").exists());
    // Commands still run on that connection.
    assert!(run(&conn, "true").await.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_transfers_than_channels_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let puts = (0..20u64).map(|i| {
        let conn = conn.clone();
        let remote = path_str(&dir.path().join(format!("f{i:02}")));
        async move {
            let data = noise(200_000 + i as usize, i + 1);
            let put = conn.put(&data[..], &remote, 0o644).await.unwrap();
            let mut back = Vec::new();
            let got = conn.get(&remote, &mut back).await.unwrap();
            assert_eq!(put.sha256, sha256(&data));
            assert_eq!(got.sha256, put.sha256);
            assert!(back == data);
        }
    });
    let tasks: Vec<_> = puts.map(tokio::spawn).collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(names(dir.path()).len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_posix_rename_the_file_is_still_replaced() {
    // A server that refuses (and so does not offer) `posix-rename@openssh.com`: plain
    // SSH_FXP_RENAME does not replace, so the old file is removed first.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("app.conf");
    std::fs::write(&target, b"old").unwrap();
    let remote = path_str(&target);
    let options = ServerOptions {
        sftp_subsystem: false,
        extra_config: vec!["Subsystem sftp internal-sftp -P posix-rename".into()],
        ..ServerOptions::default()
    };
    let fleet = Fleet::start_with(1, &options).unwrap();
    let conn = connect(&fleet.targets()[0]).await;
    let put = conn.put(&b"new"[..], &remote, 0o600).await.unwrap();
    assert_eq!(put.sha256, sha256(b"new"));
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    assert_eq!(names(dir.path()), ["app.conf"]);
    // And a new file is simply renamed into place.
    let fresh = path_str(&dir.path().join("fresh"));
    conn.put(&b"fresh"[..], &fresh, 0o600).await.unwrap();
    assert_eq!(names(dir.path()), ["app.conf", "fresh"]);
}
