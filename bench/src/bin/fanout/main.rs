//! Fan-out: one command on N OpenSSH servers on 127.0.0.1, run by Minke (`fleet run
//! command`, history in SQLite) and by the usual tools — OpenSSH `ssh` through
//! `xargs -P N`, parallel-ssh, Fabric and Ansible when their Python virtual
//! environment is there — side by side in one run, on the same servers.
//!
//! Every client runs under GNU time (client CPU of its whole process tree, peak RSS of
//! its largest process); the servers' CPU comes from the sshd listeners'
//! `/proc/PID/stat` (their reaped children included). A run counts only when every
//! host's output checks out. Prints medians, ratios to OpenSSH and the floor (servers'
//! CPU seconds / cores), and writes `raw.tsv`, `summary.tsv` and `table.md` in the
//! results directory.
//!
//! Run it with `bench/fanout.sh` (builds, sets up the Python tools, plots); by hand:
//! `target/release/fanout --sizes 10,50 --reps 3`, `fanout --help` for the options.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod measure;
mod report;
mod tools;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::report::Sample;
use crate::tools::{Host, Programs, Setup, Tool, Workload};

/// Further tries of a run the rest of the machine disturbed.
const MAX_RETRIES: usize = 2;

const USAGE: &str = "\
usage: fanout [options]
       fanout --stop FLEET_DIR      stop the sshd servers a killed run left behind

options:
  --sizes 10,50,200,500   host counts of the small workload (`uname -a && echo done`)
  --reps N                measured runs per tool and size (default 5)
  --reps-large-fleet N    measured runs at 500 hosts and more (default 3)
  --large-reps N          measured runs of the large-output workload (default 5; 0: none)
  --large-hosts N         hosts of the large-output workload (default 10)
  --tools a,b,...         minke, openssh, openssh-aes, openssh-shared, parallel-ssh,
                          fabric, ansible
                          (default: all that are installed)
  --max-hosts TOOL=N      largest host count to run TOOL at (repeatable; default:
                          every size)
  --timeout SECONDS       time limit of one run (default 300)
  --no-warmup             no unmeasured first run per tool and size
  --cores N               cores for the floor (default: available parallelism)
  --max-others F          a run during which the rest of the machine used more than
                          F × wall × cores CPU seconds (+ 0.05) is disturbed: recorded,
                          not counted, done again (twice at most; default 0.1)
  --quiet-wait SECONDS    before each run, wait at most this long for the rest of the
                          machine to be idle (default 60)
  --fleet PATH            the release `fleet` binary (default target/release/fleet)
  --venv DIR              Python virtual environment (default bench/.venv)
  --results DIR           where the TSV and Markdown go (default bench/results/fanout)
  --work DIR              servers and databases (default: a temporary directory)
  --scratch DIR           each run's outputs, removed after its check (default: a
                          temporary directory in /dev/shm: no disk writeback, whose
                          CPU no process is charged for)";

struct Options {
    sizes: Vec<usize>,
    reps: usize,
    reps_large_fleet: usize,
    large_reps: usize,
    large_hosts: usize,
    tools: Option<Vec<Tool>>,
    max_hosts: BTreeMap<Tool, usize>,
    timeout: Duration,
    warmup: bool,
    cores: usize,
    max_others: f64,
    quiet_wait: Duration,
    fleet: PathBuf,
    venv: PathBuf,
    results: PathBuf,
    work: Option<PathBuf>,
    scratch: Option<PathBuf>,
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn options() -> anyhow::Result<Options> {
    let root = bench_dir().join("..");
    let mut o = Options {
        sizes: vec![10, 50, 200, 500],
        reps: 5,
        reps_large_fleet: 3,
        large_reps: 5,
        large_hosts: 10,
        tools: None,
        max_hosts: BTreeMap::new(),
        timeout: Duration::from_secs(300),
        warmup: true,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        max_others: 0.1,
        quiet_wait: Duration::from_secs(60),
        fleet: root.join("target/release/fleet"),
        venv: bench_dir().join(".venv"),
        results: bench_dir().join("results/fanout"),
        work: None,
        scratch: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        let number = |v: &str| -> anyhow::Result<usize> {
            v.parse()
                .with_context(|| format!("{a}: `{v}` is not a number"))
        };
        match a.as_str() {
            "--sizes" => {
                o.sizes = value()?
                    .split(',')
                    .map(|v| number(v.trim()))
                    .collect::<anyhow::Result<_>>()?;
            }
            "--reps" => o.reps = number(value()?)?,
            "--reps-large-fleet" => o.reps_large_fleet = number(value()?)?,
            "--large-reps" => o.large_reps = number(value()?)?,
            "--large-hosts" => o.large_hosts = number(value()?)?,
            "--tools" => {
                o.tools = Some(
                    value()?
                        .split(',')
                        .map(|t| Tool::parse(t.trim()))
                        .collect::<anyhow::Result<_>>()?,
                );
            }
            "--max-hosts" => {
                let v = value()?;
                let (tool, n) = v.split_once('=').context("--max-hosts TOOL=N")?;
                o.max_hosts.insert(Tool::parse(tool)?, number(n)?);
            }
            "--timeout" => o.timeout = Duration::from_secs(number(value()?)? as u64),
            "--no-warmup" => o.warmup = false,
            "--cores" => o.cores = number(value()?)?.max(1),
            "--max-others" => {
                let v = value()?;
                o.max_others = v
                    .parse()
                    .with_context(|| format!("--max-others: `{v}` is not a fraction"))?;
            }
            "--quiet-wait" => o.quiet_wait = Duration::from_secs(number(value()?)? as u64),
            "--fleet" => o.fleet = PathBuf::from(value()?),
            "--venv" => o.venv = PathBuf::from(value()?),
            "--results" => o.results = PathBuf::from(value()?),
            "--work" => o.work = Some(PathBuf::from(value()?)),
            "--scratch" => o.scratch = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }
    o.sizes.sort_unstable();
    o.sizes.dedup();
    if o.sizes.contains(&0) || o.large_hosts == 0 {
        bail!("host counts start at 1");
    }
    if o.reps == 0 || o.reps_large_fleet == 0 {
        bail!("at least one measured run per size");
    }
    Ok(o)
}

/// The output of a program, trimmed, or "?" when it cannot run.
fn output_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| {
            let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
            t.push_str(&String::from_utf8_lossy(&o.stderr));
            t.trim().to_owned()
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "?".into())
}

/// Which Python clients the virtual environment has, with their versions.
fn python_tools(venv_bin: &Path) -> BTreeMap<Tool, String> {
    let python = venv_bin.join("python");
    let mut found = BTreeMap::new();
    for (tool, package, module) in [
        (Tool::ParallelSsh, "parallel-ssh", "pssh.clients"),
        (Tool::Fabric, "fabric", "fabric"),
        (Tool::Ansible, "ansible-core", "ansible"),
    ] {
        let script =
            format!("import importlib.metadata as m, {module}; print(m.version('{package}'))");
        let out = Command::new(&python)
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        if let Ok(o) = out
            && o.status.success()
        {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            found.insert(tool, format!("{package} {v}"));
        }
    }
    found
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Writes the files a host count needs and imports its hosts into a new database.
fn make_setup(
    dir: &Path,
    fleet: &minke_testkit::Fleet,
    n: usize,
    programs: &Programs,
) -> anyhow::Result<Setup> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let hosts: Vec<Host> = fleet.servers()[..n]
        .iter()
        .enumerate()
        .map(|(i, srv)| Host {
            name: format!("host-{:03}", i + 1),
            port: srv.port(),
        })
        .collect();
    let key = fleet.client_key().to_owned();
    let known_hosts = fleet.known_hosts().to_owned();
    let user = fleet.user().to_owned();
    let (mut cfg, mut tsv, mut ports, mut inv) = (
        String::new(),
        String::new(),
        String::new(),
        String::from("[fleet]\n"),
    );
    for h in &hosts {
        let _ = write!(
            cfg,
            "Host {}\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {}\n  \
             StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n",
            h.name,
            h.port,
            key.display(),
            known_hosts.display()
        );
        let _ = writeln!(tsv, "{} {}", h.name, h.port);
        let _ = writeln!(ports, "{}", h.port);
        let _ = writeln!(
            inv,
            "{} ansible_host=127.0.0.1 ansible_port={}",
            h.name, h.port
        );
    }
    let _ = write!(
        inv,
        "[fleet:vars]\nansible_connection=ssh\nansible_user={user}\n\
         ansible_ssh_private_key_file={}\n",
        key.display()
    );
    let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    };
    let ssh_config = write("ssh_config", &cfg)?;
    let ansible_home = dir.join("ansible");
    std::fs::create_dir_all(ansible_home.join("tmp")).context("creating Ansible's home")?;
    std::fs::write(ansible_home.join("ansible.cfg"), "").context("writing ansible.cfg")?;
    let control_dir = dir.join("cm");
    std::fs::create_dir_all(&control_dir).context("creating the control socket directory")?;
    let setup = Setup {
        user,
        key,
        known_hosts,
        database: dir.join("minke.db"),
        hosts_file: write("hosts.txt", &tsv)?,
        ports_file: write("ports.txt", &ports)?,
        inventory: write("inventory.ini", &inv)?,
        ansible_home,
        control_dir,
        hosts,
    };
    let out = Command::new(&programs.fleet)
        .arg("--database")
        .arg(&setup.database)
        .args(["hosts", "import-ssh-config"])
        .arg(&ssh_config)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", programs.fleet.display()))?;
    if !out.status.success() {
        bail!(
            "importing {n} hosts into Minke failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(setup)
}

/// The last lines of a file, for a failure's note.
fn tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    let mut t: Vec<&str> = lines.into_iter().rev().collect();
    t.retain(|l| !l.trim().is_empty());
    t.join(" / ").chars().take(300).collect()
}

struct Bench<'a> {
    o: &'a Options,
    programs: Programs,
    fleet: &'a minke_testkit::Fleet,
    /// Where each run's outputs go.
    scratch: PathBuf,
    samples: Vec<Sample>,
}

impl Bench<'_> {
    /// One run of `tool`: measured, checked, recorded (rep 0 is the warm-up). A run
    /// during which the rest of the machine was busy is recorded as disturbed and done
    /// again (twice at most); it never counts.
    fn once(&mut self, tool: Tool, workload: Workload, setup: &Setup, rep: usize) -> bool {
        for attempt in 0..=MAX_RETRIES {
            if !measure::wait_quiet(self.o.quiet_wait) {
                println!(
                    "  (the machine stayed busy for {} s: measuring anyway)",
                    self.o.quiet_wait.as_secs()
                );
            }
            let mut sample = self.attempt(tool, workload, setup, rep);
            let capacity = sample.cost.wall * self.o.cores as f64;
            let allowed = self.o.max_others * capacity + 0.05;
            if sample.ok && sample.cost.other_cpu > allowed {
                sample.disturbed = true;
                sample.note = format!(
                    "disturbed: the rest of the machine used {:.2} CPU s (more than {allowed:.2})",
                    sample.cost.other_cpu
                );
                println!(
                    "  {:38} {}{}",
                    "",
                    sample.note,
                    if attempt < MAX_RETRIES {
                        "; again"
                    } else {
                        "; not counted"
                    }
                );
            }
            let (ok, disturbed) = (sample.ok, sample.disturbed);
            self.samples.push(sample);
            if !disturbed {
                return ok;
            }
        }
        // Still disturbed: not a failure of the tool.
        true
    }

    /// Runs, measures and checks `tool` once.
    fn attempt(&mut self, tool: Tool, workload: Workload, setup: &Setup, rep: usize) -> Sample {
        let n = setup.hosts.len();
        let run_dir = self.scratch.join("run");
        let out = run_dir.join("out");
        let _ = std::fs::remove_dir_all(&run_dir);
        let pids: Vec<u32> = self.fleet.servers()[..n]
            .iter()
            .filter_map(minke_testkit::SshServer::pid)
            .collect();
        let spec = tools::spec(tool, workload, setup, &self.programs, &out);
        let load = measure::load1();
        let result = std::fs::create_dir_all(&out)
            .with_context(|| format!("creating {}", out.display()))
            .and_then(|()| measure::run(&spec, &run_dir, &pids, self.o.timeout))
            .and_then(|cost| {
                if cost.exit_code != Some(0) {
                    bail!(
                        "exit code {:?}: {}",
                        cost.exit_code,
                        tail(&run_dir.join("stderr"))
                    );
                }
                tools::check(
                    tool,
                    workload,
                    setup,
                    &self.programs,
                    &out,
                    &run_dir.join("stdout"),
                )
                .map(|()| cost)
            });
        let (cost, ok, note) = match result {
            Ok(c) => (c, true, String::new()),
            Err(e) => (measure::Cost::default(), false, format!("{e:#}")),
        };
        let _ = std::fs::remove_dir_all(&run_dir);
        let label = if rep == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {rep}")
        };
        if ok {
            println!(
                "  {:<5} {n:>4} {:<12} {label:<7}  wall {:>6.2} s  cpu {:>6.3} s  rss {:>5.0} MiB  servers {:>6.2} s  others {:>5.2} s",
                workload.name(),
                tool.name(),
                cost.wall,
                cost.cpu,
                cost.max_rss_kib as f64 / 1024.0,
                cost.server_cpu,
                cost.other_cpu,
            );
        } else {
            println!(
                "  {:<5} {n:>4} {:<12} {label:<7}  FAILED: {note}",
                workload.name(),
                tool.name()
            );
        }
        Sample {
            tool,
            workload,
            hosts: n,
            rep,
            cost,
            load,
            ok,
            disturbed: false,
            note,
        }
    }

    fn workload(&mut self, tools: &[Tool], workload: Workload, setup: &Setup, reps: usize) {
        let n = setup.hosts.len();
        let mut active: Vec<Tool> = tools
            .iter()
            .copied()
            .filter(|t| self.o.max_hosts.get(t).is_none_or(|&m| n <= m))
            .collect();
        println!(
            "\n{} workload on {n} hosts: {} × {reps} runs",
            workload.name(),
            active
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if self.o.warmup {
            // A tool that fails its warm-up is not run again at this size.
            active.retain(|&t| self.once(t, workload, setup, 0));
        }
        // Tools take turns, so that a slow drift of the machine hits them alike.
        for rep in 1..=reps {
            for &t in &active {
                self.once(t, workload, setup, rep);
            }
        }
    }
}

fn environment(o: &Options, programs: &Programs, python: &BTreeMap<Tool, String>) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let root = bench_dir().join("..");
    let commit = output_of("git", &["-C", &s(&root), "rev-parse", "--short", "HEAD"]);
    let dirty = output_of("git", &["-C", &s(&root), "status", "--porcelain"]);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "- machine: {} cores ({cpu}), Linux {}, load at start {:.2}",
        o.cores,
        output_of("uname", &["-r"]),
        measure::load1()
    );
    let _ = writeln!(
        t,
        "- Minke: `{}` (release) at commit {commit}{}; `--output-dir` {}",
        programs.fleet.display(),
        if dirty == "?" {
            ""
        } else {
            " with local changes"
        },
        if programs.fleet_output_dir {
            "used for the large output"
        } else {
            "not available: large output checked by byte count"
        }
    );
    let _ = writeln!(
        t,
        "- OpenSSH: {} (client and servers), `xargs` from {}",
        output_of("ssh", &["-V"]),
        output_of("sh", &["-c", "xargs --version | head -1"])
    );
    if !python.is_empty() {
        let version = output_of(&s(&programs.venv_bin.join("python")), &["--version"]);
        let list: Vec<&str> = python.values().map(String::as_str).collect();
        let _ = writeln!(t, "- {version}: {}", list.join(", "));
    }
    let _ = writeln!(
        t,
        "- key exchange: {} on every client, the only one the servers accept",
        tools::KEX
    );
    t
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--stop") {
        let dir = args.get(2).context("--stop FLEET_DIR")?;
        let n = minke_testkit::Fleet::stop_in(Path::new(dir))?;
        println!("stopped {n} servers");
        return Ok(());
    }
    let mut o = options()?;
    if let Ok(p) = o.fleet.canonicalize() {
        o.fleet = p;
    }
    if !o.fleet.exists() {
        bail!(
            "{} is missing: `cargo build --release -p fleet` first",
            o.fleet.display()
        );
    }
    if !Path::new(measure::GNU_TIME).exists() {
        bail!("{} is missing: `apt-get install time`", measure::GNU_TIME);
    }
    let help = output_of(&s(&o.fleet), &["run", "--help"]);
    let venv_bin = o.venv.join("bin");
    let python = python_tools(&venv_bin);
    let programs = Programs {
        fleet: o.fleet.clone(),
        venv_bin,
        scripts: bench_dir().join("fanout"),
        fleet_output_dir: help.contains("--output-dir"),
    };
    let mut tools: Vec<Tool> = o.tools.clone().unwrap_or_else(|| Tool::ALL.to_vec());
    tools.retain(|t| {
        let there = !t.is_python() || python.contains_key(t);
        if !there {
            eprintln!(
                "{t} is not installed in {} (bench/fanout.sh installs it): left out",
                o.venv.display()
            );
        }
        there
    });
    let load = measure::load1();
    if load > 1.5 {
        eprintln!(
            "warning: load average {load:.2}: the machine is busy, these figures are not final"
        );
    }

    let (temp, scratch);
    let work = match &o.work {
        Some(w) => w.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("minke-fanout-").tempdir()?;
            temp.path().to_owned()
        }
    };
    let most = o
        .sizes
        .iter()
        .copied()
        .chain((o.large_reps > 0).then_some(o.large_hosts))
        .max()
        .unwrap_or(1);
    println!(
        "starting {most} sshd servers on 127.0.0.1 (key exchange {} only) ...",
        tools::KEX
    );
    let t0 = Instant::now();
    let options = minke_testkit::ServerOptions {
        extra_config: vec![format!(
            "KexAlgorithms {},curve25519-sha256@libssh.org",
            tools::KEX
        )],
        ..minke_testkit::ServerOptions::default()
    };
    let fleet = minke_testkit::Fleet::start_in(work.join("fleet"), most, &options)
        .context("starting the sshd servers")?;
    println!("started in {:.1} s", t0.elapsed().as_secs_f64());
    let env = environment(&o, &programs, &python);
    print!("{env}");

    let mut bench = Bench {
        o: &o,
        programs,
        fleet: &fleet,
        scratch: match &o.scratch {
            Some(d) => d.clone(),
            None => {
                let base = Path::new("/dev/shm");
                scratch = if base.is_dir() {
                    tempfile::Builder::new()
                        .prefix("minke-fanout-")
                        .tempdir_in(base)?
                } else {
                    tempfile::Builder::new()
                        .prefix("minke-fanout-")
                        .tempdir_in(&work)?
                };
                scratch.path().to_owned()
            }
        },
        samples: Vec::new(),
    };
    for &n in &o.sizes {
        let setup = make_setup(&work.join(format!("small-{n}")), &fleet, n, &bench.programs)?;
        let reps = if n >= 500 { o.reps_large_fleet } else { o.reps };
        bench.workload(&tools, Workload::Small, &setup, reps);
    }
    if o.large_reps > 0 {
        let setup = make_setup(&work.join("large"), &fleet, o.large_hosts, &bench.programs)?;
        bench.workload(&tools, Workload::Large, &setup, o.large_reps);
    }
    let samples = std::mem::take(&mut bench.samples);
    drop(bench);
    fleet.stop();

    let summary = report::summarize(&samples, o.cores);
    let table = report::table(&summary);
    let mut targets = report::targets(&summary);
    let disturbed = samples.iter().filter(|s| s.disturbed).count();
    let _ = writeln!(
        targets,
        "\n{disturbed} of {} runs were disturbed by other work on the machine and not counted.",
        samples.len()
    );
    println!("\n{table}\n{targets}");
    std::fs::create_dir_all(&o.results)
        .with_context(|| format!("creating {}", o.results.display()))?;
    std::fs::write(o.results.join("raw.tsv"), report::raw_tsv(&samples))?;
    std::fs::write(o.results.join("summary.tsv"), report::summary_tsv(&summary))?;
    let load_end = measure::load1();
    std::fs::write(
        o.results.join("table.md"),
        format!(
            "{env}- load at the end {load_end:.2}; floor = servers' CPU seconds / {} cores\n\n{table}\n{targets}",
            o.cores
        ),
    )?;
    println!("results in {}", o.results.display());
    Ok(())
}
