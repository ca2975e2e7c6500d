//! Warm connections: the wall time of a run of `uname -a` on N sshd hosts on loopback
//! through the engine, cold (every host connects and logs in) against warm (the same
//! run again, over the connections the engine kept), and against OpenSSH with
//! connection sharing (`ssh` per host through `xargs -P N`, each over its host's
//! master connection: `ControlMaster=auto`, `ControlPersist`, the masters opened by
//! an unmeasured first run), in turn, with medians. Every host's output is checked,
//! sshd's logins counted to show which runs logged in, and the servers' CPU seconds
//! printed beside each (both sides pay sshd's fork and exec per command).
//!
//! `cargo run --release -p minke-bench --bin warm-runs` (50 hosts, 5 of each) or
//! `... -- --hosts 100 --reps 9`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use minke::prelude::*;
use minke::runtime::{Config, Engine, HostSource, Models, RunRequest};
use minke::store::Query;
use minke::{HostRecord, Params, Registry, Status, Store};

/// Run a command
#[derive(Session)]
#[minke(work_on(HostRecord), command = "{cmd}")]
struct Command {
    cmd: String,
}

struct Options {
    hosts: usize,
    reps: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options { hosts: 50, reps: 5 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--hosts" => o.hosts = value.parse().context("--hosts")?,
            "--reps" => o.reps = value.parse().context("--reps")?,
            other => bail!("unknown option {other} (--hosts N, --reps N)"),
        }
    }
    if o.hosts == 0 || o.reps == 0 {
        bail!("--hosts and --reps must be at least 1");
    }
    Ok(o)
}

/// One run of `uname -a` on every host; its wall time. Fails unless every host
/// printed its kernel's name.
async fn timed_run(engine: &Engine) -> anyhow::Result<Duration> {
    let req = RunRequest {
        session: "command".into(),
        model: "host".into(),
        query: Query::all(),
        params: Params::from_pairs([("cmd", "uname -a")]),
        username: "bench".into(),
    };
    let t0 = Instant::now();
    let summary = engine.start(req).await?.wait().await?;
    let wall = t0.elapsed();
    if let Some(bad) = summary
        .sessions
        .iter()
        .find(|s| s.status != Some(Status::Success))
    {
        bail!("a session did not succeed: {bad:?}");
    }
    engine.store().flush().await?;
    let ids: Vec<minke::SessionId> = summary.sessions.iter().map(|s| s.session_id).collect();
    let outputs = engine
        .store()
        .blocking(move |c| {
            ids.iter()
                .map(|&id| minke::store::session_commands(c, id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    for commands in outputs {
        let ok = commands.len() == 1 && commands[0].stdout.starts_with(b"Linux ");
        if !ok {
            bail!("unexpected output: {commands:?}");
        }
    }
    Ok(wall)
}

/// OpenSSH with connection sharing on the fleet's hosts.
struct SharedSsh {
    dir: PathBuf,
    ports: Vec<u16>,
    key: PathBuf,
    known_hosts: PathBuf,
    user: String,
}

impl SharedSsh {
    fn new(dir: &Path, fleet: &minke_testkit::Fleet) -> anyhow::Result<SharedSsh> {
        let s = SharedSsh {
            dir: dir.join("openssh"),
            ports: fleet.servers().iter().map(|x| x.port()).collect(),
            key: fleet.client_key().to_owned(),
            known_hosts: fleet.known_hosts().to_owned(),
            user: fleet.user().to_owned(),
        };
        std::fs::create_dir_all(s.dir.join("out"))?;
        let ports: Vec<String> = s.ports.iter().map(u16::to_string).collect();
        std::fs::write(s.dir.join("ports"), ports.join("\n") + "\n")?;
        Ok(s)
    }

    fn options(&self) -> Vec<String> {
        [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "IdentitiesOnly=yes",
            "ControlMaster=auto",
            "ControlPersist=600",
        ]
        .iter()
        .map(|o| (*o).to_owned())
        .chain([
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            format!("ControlPath={}/cm-%p", self.dir.display()),
        ])
        .flat_map(|o| ["-o".to_owned(), o])
        .collect()
    }

    /// One run of `uname -a` on every host, N at once; its wall time. Fails unless
    /// every host printed its kernel's name.
    fn run(&self) -> anyhow::Result<Duration> {
        let out = self.dir.join("out");
        for p in &self.ports {
            let _ = std::fs::remove_file(out.join(format!("{p}.out")));
        }
        let mut script = String::from("exec ssh");
        for o in self.options() {
            script.push_str(&format!(" '{o}'"));
        }
        script.push_str(" -T -i \"$3\" -p \"$1\" \"$4@127.0.0.1\" 'uname -a' > \"$2/$1.out\"");
        let t0 = Instant::now();
        let status = std::process::Command::new("xargs")
            .arg("-P")
            .arg(self.ports.len().to_string())
            .arg("-a")
            .arg(self.dir.join("ports"))
            .args(["-I", "{}", "sh", "-c", &script, "sh", "{}"])
            .arg(&out)
            .arg(&self.key)
            .arg(&self.user)
            .status()?;
        let wall = t0.elapsed();
        if !status.success() {
            bail!("ssh through xargs failed: {status}");
        }
        for p in &self.ports {
            let text = std::fs::read(out.join(format!("{p}.out")))?;
            if !text.starts_with(b"Linux ") {
                bail!(
                    "port {p}: unexpected output {:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
        Ok(wall)
    }

    /// Closes the master connections.
    fn close(&self) {
        for p in &self.ports {
            let _ = std::process::Command::new("ssh")
                .args(self.options())
                .args(["-O", "exit", "-p", &p.to_string()])
                .arg(format!("{}@127.0.0.1", self.user))
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let options = minke_testkit::ServerOptions {
        extra_config: vec!["MaxStartups 200".into()],
        ..minke_testkit::ServerOptions::default()
    };
    let hosts = o.hosts;
    println!("starting {hosts} sshd servers on 127.0.0.1 ...");
    let fleet =
        tokio::task::spawn_blocking(move || minke_testkit::Fleet::start_with(hosts, &options))
            .await??;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("warm.db").to_string_lossy()).await?;
    let new_hosts = fleet.new_hosts();
    store
        .write(move |c| {
            for h in &new_hosts {
                minke::store::upsert_host(c, h)?;
            }
            Ok(())
        })
        .await?;
    let mut sessions = Registry::default();
    sessions.add::<Command>()?;
    let mut models = Models::default();
    models.add::<HostRecord>()?;
    let config = Config {
        keep_connections: Some(Duration::from_secs(600)),
        ..Config::default()
    };
    let engine = Engine::new(
        store,
        sessions,
        models,
        HostSource::of::<HostRecord>(),
        config,
    );
    let logins = || -> usize { fleet.servers().iter().map(|s| s.login_count()).sum() };
    let listeners: Vec<u32> = fleet.servers().iter().filter_map(|s| s.pid()).collect();
    let cpu = || minke_bench::tree_cpu(&listeners).context("an sshd listener is gone");
    let shared = SharedSsh::new(dir.path(), &fleet)?;
    shared.run()?; // opens the masters
    let (mut cold, mut warm, mut ssh) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cold_cpu, mut warm_cpu, mut ssh_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..o.reps {
        engine.close_kept_connections().await;
        let (before, c0) = (logins(), cpu()?);
        cold.push(timed_run(&engine).await?.as_secs_f64());
        let (after_cold, c1) = (logins(), cpu()?);
        warm.push(timed_run(&engine).await?.as_secs_f64());
        let (after_warm, c2) = (logins(), cpu()?);
        ssh.push(shared.run()?.as_secs_f64());
        let (after_ssh, c3) = (logins(), cpu()?);
        cold_cpu.push(c1 - c0);
        warm_cpu.push(c2 - c1);
        ssh_cpu.push(c3 - c2);
        println!(
            "rep {rep}: cold {:.3} s ({} logins), warm {:.3} s ({} logins), openssh shared {:.3} s ({} logins)",
            cold[rep],
            after_cold - before,
            warm[rep],
            after_warm - after_cold,
            ssh[rep],
            after_ssh - after_warm,
        );
    }
    shared.close();
    let (c, w, s) = (median(cold), median(warm), median(ssh));
    println!(
        "{hosts} hosts, `uname -a`, median of {}: cold {c:.3} s, warm {w:.3} s, openssh shared {s:.3} s; \
         warm/cold {:.2}, warm/openssh-shared {:.2}; servers' CPU: cold {:.2} s, warm {:.2} s, openssh shared {:.2} s",
        o.reps,
        w / c,
        w / s,
        median(cold_cpu),
        median(warm_cpu),
        median(ssh_cpu),
    );
    engine.close_kept_connections().await;
    engine.store().close().await?;
    Ok(())
}
