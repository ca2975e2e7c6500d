//! Running commands: exit codes, output, bytes, stdin.

use std::time::{Duration, Instant};

use minke_core::ExitStatus;
use minke_ssh::{Discard, ExecOptions, Stream};

use crate::{connect, fleet, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_0_3_and_127() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    assert_eq!(run(&conn, "true").await.exit, ExitStatus::Code(0));
    assert_eq!(run(&conn, "exit 3").await.exit, ExitStatus::Code(3));
    let missing = run(&conn, "no-such-command-minke-xyz").await;
    assert_eq!(missing.exit, ExitStatus::Code(127));
    assert!(missing.stderr_text().contains("not found"), "{missing:?}");
    assert!(!missing.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_are_kept_apart_and_streamed() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let mut chunks: Vec<(Stream, Vec<u8>)> = Vec::new();
    let mut sink = |s: Stream, b: &[u8]| chunks.push((s, b.to_vec()));
    let out = conn
        .exec(
            "echo out1; echo err1 >&2; sleep 0.1; echo out2; echo err2 >&2",
            &ExecOptions::default(),
            &mut sink,
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, b"out1\nout2\n");
    assert_eq!(out.stderr, b"err1\nerr2\n");
    assert_eq!(out.exit, ExitStatus::Code(0));
    assert!(out.duration >= Duration::from_millis(100));
    let joined = |want: Stream| {
        chunks
            .iter()
            .filter(|(s, _)| *s == want)
            .flat_map(|(_, b)| b.clone())
            .collect::<Vec<u8>>()
    };
    assert_eq!(joined(Stream::Stdout), b"out1\nout2\n");
    assert_eq!(joined(Stream::Stderr), b"err1\nerr2\n");
    assert_eq!(
        out.command,
        "echo out1; echo err1 >&2; sleep 0.1; echo out2; echo err2 >&2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_megabytes_arrive_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    // Pseudo-random bytes (every value, no patterns that compress or align).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..20 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&path, &data).unwrap();
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let mut streamed = 0usize;
    let mut sink = |_: Stream, b: &[u8]| streamed += b.len();
    let opts = ExecOptions {
        output_cap: 32 * 1024 * 1024,
        ..ExecOptions::default()
    };
    let started = Instant::now();
    let out = conn
        .exec(&format!("cat {}", path.display()), &opts, &mut sink)
        .await
        .unwrap();
    eprintln!("20 MiB read in {:?}", started.elapsed());
    assert_eq!(out.exit, ExitStatus::Code(0));
    assert!(!out.stdout_truncated);
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "the bytes differ");
    assert_eq!(streamed, data.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_cap_keeps_the_start_and_flags_truncation_but_reads_everything() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let mut streamed = 0usize;
    let mut sink = |s: Stream, b: &[u8]| {
        if s == Stream::Stdout {
            streamed += b.len();
        }
    };
    let opts = ExecOptions {
        output_cap: 1000,
        ..ExecOptions::default()
    };
    let out = conn
        .exec(
            "head -c 100000 /dev/zero; echo done >&2; exit 4",
            &opts,
            &mut sink,
        )
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout_truncated);
    assert_eq!(out.stderr, b"done\n");
    assert!(!out.stderr_truncated);
    assert_eq!(streamed, 100_000);
    assert_eq!(out.exit, ExitStatus::Code(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_bytes_survive() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let out = run(&conn, r"printf '\377\376\000x'; printf '\200' >&2").await;
    assert_eq!(out.stdout, [0xff, 0xfe, 0x00, b'x']);
    assert_eq!(out.stderr, [0x80]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_by_a_signal_reports_it() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let out = run(&conn, "echo before; kill -TERM $$; echo after").await;
    assert_eq!(out.exit, ExitStatus::Signal("TERM".into()));
    assert_eq!(out.stdout, b"before\n");
    let out = run(&conn, "kill -KILL $$").await;
    assert_eq!(out.exit.signal(), Some("KILL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_is_delivered_then_closed() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    let input = b"hello\0world\xff\n".to_vec();
    let opts = ExecOptions {
        stdin: Some(input.clone()),
        ..ExecOptions::default()
    };
    let out = conn.exec("cat", &opts, &mut Discard).await.unwrap();
    assert_eq!(out.stdout, input);

    // Larger than the channel window: written while the output is read.
    let big = vec![b'z'; 5 * 1024 * 1024 + 7];
    let opts = ExecOptions {
        stdin: Some(big),
        ..ExecOptions::default()
    };
    let out = conn.exec("wc -c", &opts, &mut Discard).await.unwrap();
    assert_eq!(out.stdout_text().trim(), "5242887");

    // Big stdin that the command never reads: it must still end.
    let opts = ExecOptions {
        stdin: Some(vec![0; 8 * 1024 * 1024]),
        timeout: Some(Duration::from_secs(20)),
        ..ExecOptions::default()
    };
    let out = conn
        .exec("echo ignored", &opts, &mut Discard)
        .await
        .unwrap();
    assert_eq!(out.stdout, b"ignored\n");

    // Without stdin, standard input is closed at once: `cat` ends.
    let opts = ExecOptions {
        timeout: Some(Duration::from_secs(10)),
        ..ExecOptions::default()
    };
    let out = conn
        .exec("cat; echo eof", &opts, &mut Discard)
        .await
        .unwrap();
    assert_eq!(out.stdout, b"eof\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_after_the_exit_status_is_not_lost() {
    let fleet = fleet(1);
    let conn = connect(&fleet.targets()[0]).await;
    // The shell exits at once (sshd sends exit-status then); its background child
    // keeps stdout open and writes later, before the channel closes.
    let out = run(
        &conn,
        "(sleep 0.5; echo late; echo late-err >&2) & echo early; exit 5",
    )
    .await;
    assert_eq!(out.exit, ExitStatus::Code(5));
    assert_eq!(out.stdout, b"early\nlate\n");
    assert_eq!(out.stderr, b"late-err\n");
    assert!(
        out.duration >= Duration::from_millis(500),
        "{:?}",
        out.duration
    );
}
