//! The clients compared, how each is run, and how each one's output is checked.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};

use crate::measure::Spec;

/// The command of the small workload.
pub(crate) const SMALL_COMMAND: &str = "uname -a && echo done";
/// The command of the large-output workload: 6,754,388 bytes of base64 per host.
pub(crate) const LARGE_COMMAND: &str = "head -c 5000000 /dev/urandom | base64";
/// Base64 characters `base64` prints for 5,000,000 bytes.
const LARGE_B64_CHARS: usize = 5_000_000_usize.div_ceil(3) * 4;
/// Bytes `base64` prints for 5,000,000 bytes: the characters plus a newline per 76.
pub(crate) const LARGE_BYTES: usize = LARGE_B64_CHARS + LARGE_B64_CHARS.div_ceil(76);
/// The key exchange every client and server uses.
pub(crate) const KEX: &str = "curve25519-sha256";

/// A fan-out client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tool {
    Minke,
    OpenSsh,
    /// OpenSSH with AES-256-GCM, the cipher Minke prefers on CPUs with AES
    /// instructions (`ssh`'s default is chacha20-poly1305): for comparing like with like.
    OpenSshAes,
    /// OpenSSH with connection sharing (`ControlMaster=auto`, `ControlPersist`): the
    /// masters are opened by the warm-up run, so the measured runs open a session
    /// on an existing connection (a warm run, as a Minke worker's or `serve`'s).
    OpenSshShared,
    ParallelSsh,
    Fabric,
    Ansible,
}

impl Tool {
    pub(crate) const ALL: [Tool; 7] = [
        Tool::Minke,
        Tool::OpenSsh,
        Tool::OpenSshAes,
        Tool::OpenSshShared,
        Tool::ParallelSsh,
        Tool::Fabric,
        Tool::Ansible,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Tool::Minke => "minke",
            Tool::OpenSsh => "openssh",
            Tool::OpenSshAes => "openssh-aes",
            Tool::OpenSshShared => "openssh-shared",
            Tool::ParallelSsh => "parallel-ssh",
            Tool::Fabric => "fabric",
            Tool::Ansible => "ansible",
        }
    }

    pub(crate) fn parse(s: &str) -> anyhow::Result<Tool> {
        Tool::ALL
            .into_iter()
            .find(|t| t.name() == s || (s == "pssh" && *t == Tool::ParallelSsh))
            .with_context(|| {
                let names: Vec<_> = Tool::ALL.iter().map(|t| t.name()).collect();
                format!("unknown tool `{s}` (one of {})", names.join(", "))
            })
    }

    /// Needs the Python virtual environment.
    pub(crate) fn is_python(self) -> bool {
        matches!(self, Tool::ParallelSsh | Tool::Fabric | Tool::Ansible)
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What every host runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Workload {
    /// `uname -a && echo done`.
    Small,
    /// 6.75 MB of base64 per host.
    Large,
}

impl Workload {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Small => "small",
            Workload::Large => "large",
        }
    }

    pub(crate) fn command(self) -> &'static str {
        match self {
            Workload::Small => SMALL_COMMAND,
            Workload::Large => LARGE_COMMAND,
        }
    }
}

/// One server of the fleet as the clients see it.
#[derive(Clone, Debug)]
pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) port: u16,
}

/// Files every client needs, written once per host count.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) hosts: Vec<Host>,
    pub(crate) user: String,
    pub(crate) key: PathBuf,
    pub(crate) known_hosts: PathBuf,
    /// Minke's database, with exactly these hosts imported.
    pub(crate) database: PathBuf,
    /// `name port` lines, for the Python clients.
    pub(crate) hosts_file: PathBuf,
    /// One port a line, for `xargs`.
    pub(crate) ports_file: PathBuf,
    /// Ansible's inventory.
    pub(crate) inventory: PathBuf,
    /// Ansible's home and temporary directories.
    pub(crate) ansible_home: PathBuf,
    /// The control sockets of OpenSSH's shared connections.
    pub(crate) control_dir: PathBuf,
}

/// Where the programs are.
#[derive(Debug)]
pub(crate) struct Programs {
    pub(crate) fleet: PathBuf,
    /// The Python virtual environment's bin directory.
    pub(crate) venv_bin: PathBuf,
    /// The directory of `pssh_run.py` and `fabric_run.py`.
    pub(crate) scripts: PathBuf,
    /// `fleet run` has `--output-dir`.
    pub(crate) fleet_output_dir: bool,
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The OpenSSH options every ssh invocation gets (Ansible's too).
fn ssh_options(known_hosts: &Path) -> Vec<String> {
    [
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        &format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o",
        &format!("KexAlgorithms={KEX}"),
        "-o",
        "ControlMaster=no",
        "-o",
        "LogLevel=ERROR",
    ]
    .iter()
    .map(|&x| x.to_owned())
    .collect()
}

/// How to run `tool` on every host of `setup`, with output files in `out`.
pub(crate) fn spec(
    tool: Tool,
    workload: Workload,
    setup: &Setup,
    programs: &Programs,
    out: &Path,
) -> Spec {
    let n = setup.hosts.len().to_string();
    let cmd = workload.command().to_owned();
    let mut spec = Spec {
        cwd: out.parent().unwrap_or(out).to_owned(),
        ..Spec::default()
    };
    match tool {
        Tool::Minke => {
            spec.program = programs.fleet.clone();
            spec.args = vec![
                "--database".into(),
                s(&setup.database),
                "run".into(),
                "command".into(),
                "--model".into(),
                "host".into(),
                "--all".into(),
                "--param".into(),
                format!("cmd={cmd}"),
                "--concurrency".into(),
                n,
            ];
            if workload == Workload::Large && programs.fleet_output_dir {
                spec.args.extend(["--output-dir".into(), s(out)]);
            } else {
                spec.args.push("--json".into());
            }
        }
        Tool::OpenSsh | Tool::OpenSshAes | Tool::OpenSshShared => {
            // One ssh per host, N at once; `sh -c 'exec ssh ... > FILE'` only to give
            // each host its own output file (dash execs ssh, so it costs one exec).
            let mut script = String::from("exec ssh");
            let mut options = ssh_options(&setup.known_hosts);
            if tool == Tool::OpenSshAes {
                options.extend(["-c".to_owned(), "aes256-gcm@openssh.com".to_owned()]);
            }
            if tool == Tool::OpenSshShared {
                // ssh takes the first value given for an option: these go before
                // `ssh_options`' `ControlMaster=no`.
                let mut shared = vec![
                    "-o".to_owned(),
                    "ControlMaster=auto".to_owned(),
                    "-o".to_owned(),
                    format!("ControlPath={}/%C", setup.control_dir.display()),
                    "-o".to_owned(),
                    "ControlPersist=300".to_owned(),
                ];
                shared.append(&mut options);
                options = shared;
                spec.daemons = Some(format!("ControlPath={}", setup.control_dir.display()));
            }
            for o in options {
                script.push(' ');
                script.push_str(&shell_quote(&o));
            }
            script.push_str(" -T -i \"$4\" -p \"$1\" \"$5@127.0.0.1\" \"$2\" > \"$3/$1.out\"");
            spec.program = "xargs".into();
            spec.args = vec![
                "-P".into(),
                n,
                "-a".into(),
                s(&setup.ports_file),
                "-I".into(),
                "{}".into(),
                "sh".into(),
                "-c".into(),
                script,
                "sh".into(),
                "{}".into(),
                cmd,
                s(out),
                s(&setup.key),
                setup.user.clone(),
            ];
        }
        Tool::ParallelSsh | Tool::Fabric => {
            spec.program = programs.venv_bin.join("python");
            let script = if tool == Tool::Fabric {
                "fabric_run.py"
            } else {
                "pssh_run.py"
            };
            spec.args = vec![
                s(&programs.scripts.join(script)),
                "--hosts".into(),
                s(&setup.hosts_file),
                "--user".into(),
                setup.user.clone(),
                "--key".into(),
                s(&setup.key),
                "--known-hosts".into(),
                s(&setup.known_hosts),
                "--command".into(),
                cmd,
                "--out".into(),
                s(out),
                "--pool".into(),
                n,
            ];
        }
        Tool::Ansible => {
            spec.program = programs.venv_bin.join("ansible");
            spec.args = vec![
                "all".into(),
                "-i".into(),
                s(&setup.inventory),
                "-m".into(),
                "raw".into(),
                "-a".into(),
                cmd,
                "-f".into(),
                n,
                "--one-line".into(),
            ];
            let home = &setup.ansible_home;
            let ssh_args = ssh_options(&setup.known_hosts).join(" ");
            spec.env = [
                ("ANSIBLE_CONFIG", s(&home.join("ansible.cfg"))),
                ("ANSIBLE_HOME", s(home)),
                ("ANSIBLE_LOCAL_TEMP", s(&home.join("tmp"))),
                ("ANSIBLE_SSH_ARGS", ssh_args),
                ("ANSIBLE_HOST_KEY_CHECKING", "True".into()),
                ("ANSIBLE_SSH_RETRIES", "0".into()),
                ("ANSIBLE_TIMEOUT", "60".into()),
                ("ANSIBLE_NOCOLOR", "1".into()),
                ("ANSIBLE_INVENTORY_ENABLED", "ini".into()),
                ("ANSIBLE_DEPRECATION_WARNINGS", "False".into()),
                ("ANSIBLE_LOCALHOST_WARNING", "False".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        }
    }
    spec
}

/// `'text'` for sh, unless it needs no quotes.
fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_=/.,:@".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Checks that every host's output is there and right; `stdout` is the client's own.
pub(crate) fn check(
    tool: Tool,
    workload: Workload,
    setup: &Setup,
    programs: &Programs,
    out: &Path,
    stdout: &Path,
) -> anyhow::Result<()> {
    match tool {
        Tool::Minke if workload == Workload::Large && programs.fleet_output_dir => {
            for h in &setup.hosts {
                let path = out.join(format!("{}.stdout", h.name));
                let bytes =
                    std::fs::read(&path).with_context(|| format!("{}: no output file", h.name))?;
                check_output(workload, &bytes).with_context(|| format!("host {}", h.name))?;
            }
            Ok(())
        }
        Tool::Minke => check_minke_json(workload, setup, stdout),
        Tool::OpenSsh
        | Tool::OpenSshAes
        | Tool::OpenSshShared
        | Tool::ParallelSsh
        | Tool::Fabric => {
            for h in &setup.hosts {
                // ssh's files are named by port, the Python clients' by host.
                let file = if matches!(tool, Tool::OpenSsh | Tool::OpenSshAes | Tool::OpenSshShared)
                {
                    format!("{}.out", h.port)
                } else {
                    format!("{}.out", h.name)
                };
                let bytes = std::fs::read(out.join(&file))
                    .with_context(|| format!("{}: no output file {file}", h.name))?;
                check_output(workload, &bytes).with_context(|| format!("host {}", h.name))?;
            }
            Ok(())
        }
        Tool::Ansible => check_ansible(workload, setup, stdout),
    }
}

/// One host's stdout, as the command printed it.
fn check_output(workload: Workload, bytes: &[u8]) -> anyhow::Result<()> {
    match workload {
        Workload::Small => {
            let text = String::from_utf8_lossy(bytes);
            ensure!(
                text.starts_with("Linux ") && text.ends_with("\ndone\n"),
                "unexpected output {:?}",
                truncate(&text)
            );
        }
        Workload::Large => {
            ensure!(
                bytes.len() == LARGE_BYTES,
                "{} bytes of output, expected {LARGE_BYTES}",
                bytes.len()
            );
            ensure!(
                base64_chars(bytes) == LARGE_B64_CHARS,
                "output is not the base64 expected"
            );
        }
    }
    Ok(())
}

fn base64_chars(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        .count()
}

fn truncate(text: &str) -> String {
    text.chars().take(120).collect()
}

/// `fleet run --json`: one completed, successful session per host, whose command
/// printed the right thing (the byte count for the large output, whose stored copy is
/// capped).
fn check_minke_json(workload: Workload, setup: &Setup, stdout: &Path) -> anyhow::Result<()> {
    let text = std::fs::read(stdout).context("reading fleet's JSON")?;
    let doc: serde_json::Value = serde_json::from_slice(&text).context("parsing fleet's JSON")?;
    let sessions = doc["sessions"]
        .as_array()
        .context("no `sessions` in fleet's JSON")?;
    let mut seen = BTreeSet::new();
    for s in sessions {
        let host = s["host"].as_str().unwrap_or("?").to_owned();
        ensure!(
            s["state"] == "completed" && s["status"] == "success",
            "host {host}: session {} {}",
            s["state"],
            s["status"]
        );
        let commands = s["commands"].as_array().context("no commands")?;
        ensure!(
            commands.len() == 1,
            "host {host}: {} commands",
            commands.len()
        );
        let c = &commands[0];
        ensure!(
            c["exit_code"] == 0,
            "host {host}: exit code {}",
            c["exit_code"]
        );
        match workload {
            Workload::Small => {
                let out = c["stdout"].as_str().unwrap_or("");
                check_output(workload, out.as_bytes()).with_context(|| format!("host {host}"))?;
            }
            Workload::Large => {
                let n = c["stdout_bytes"].as_u64().unwrap_or(0);
                ensure!(
                    n == LARGE_BYTES as u64,
                    "host {host}: {n} bytes of output, expected {LARGE_BYTES}"
                );
            }
        }
        seen.insert(host);
    }
    let expected: BTreeSet<String> = setup.hosts.iter().map(|h| h.name.clone()).collect();
    if seen != expected {
        bail!(
            "{} sessions on {} hosts, expected {} hosts",
            sessions.len(),
            seen.len(),
            expected.len()
        );
    }
    Ok(())
}

/// `ansible --one-line`: `HOST | CHANGED | rc=0 | (stdout) TEXT` per host, the text's
/// line ends escaped as `\n` (and `\r\n`: the raw module asks for a terminal).
fn check_ansible(workload: Workload, setup: &Setup, stdout: &Path) -> anyhow::Result<()> {
    let text = std::fs::read(stdout).context("reading ansible's output")?;
    let text = String::from_utf8_lossy(&text);
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let mut parts = line.splitn(4, " | ");
        let (Some(host), Some(state), Some(rc), Some(rest)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        ensure!(
            state == "CHANGED" && rc == "rc=0",
            "host {host}: {state} {rc}"
        );
        let out = rest
            .strip_prefix("(stdout) ")
            .with_context(|| format!("host {host}: no stdout"))?;
        // Only the stdout part (a ` (stderr) ` part may follow).
        let out = out.split(" (stderr) ").next().unwrap_or(out);
        let unescaped = out.replace("\\r", "").replace("\\n", "\n");
        match workload {
            Workload::Small => {
                let t = unescaped.trim_end();
                ensure!(
                    t.starts_with("Linux ") && t.ends_with("\ndone"),
                    "host {host}: unexpected output {:?}",
                    truncate(t)
                );
            }
            Workload::Large => {
                ensure!(
                    base64_chars(unescaped.as_bytes()) == LARGE_B64_CHARS,
                    "host {host}: {} base64 characters, expected {LARGE_B64_CHARS}",
                    base64_chars(unescaped.as_bytes())
                );
            }
        }
        seen.insert(host.to_owned());
    }
    let expected: BTreeSet<String> = setup.hosts.iter().map(|h| h.name.clone()).collect();
    ensure!(
        seen == expected,
        "answers from {} hosts, expected {}",
        seen.len(),
        expected.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_output_size() {
        assert_eq!(LARGE_B64_CHARS, 6_666_668);
        assert_eq!(LARGE_BYTES, 6_754_388);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("-o"), "-o");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
