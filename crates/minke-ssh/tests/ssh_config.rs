//! The ssh_config resolver against OpenSSH itself: for every alias of every config in
//! `tests/ssh_config/`, what [`Config::resolve`] gives must equal what `ssh -G` prints
//! (read by [`parse_ssh_g_with`]), field by field. The `err-*.conf` files must be
//! refused by both, the resolver naming the file and line their first comment gives.
//!
//! The corpus is copied into a temporary home's `.ssh` (its relative `Include`s
//! resolve there) and `ssh` runs with `HOME` pointing at it; `-F` keeps it from
//! reading `/etc/ssh/ssh_config`. These tests need `/usr/bin/ssh` and fail when it is
//! missing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use minke_ssh::ssh_config::{Config, Local, Resolved, parse_ssh_g_with, resolve_with_ssh};

const SSH: &str = "/usr/bin/ssh";

/// The corpus copied into a temporary home's `.ssh`, `@LOCALUSER@` replaced.
struct Corpus {
    home: tempfile::TempDir,
    local: Local,
}

impl Corpus {
    fn new() -> Corpus {
        assert!(
            Path::new(SSH).is_file(),
            "{SSH} is missing: these tests compare the resolver with OpenSSH's `ssh -G` \
             and cannot run without it (install openssh-client)"
        );
        let home = tempfile::tempdir().unwrap();
        let local = Local::current().with_include_home(home.path());
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ssh_config");
        copy_dir(&src, &home.path().join(".ssh"), &local.user);
        Corpus { home, local }
    }

    fn dir(&self) -> PathBuf {
        self.home.path().join(".ssh")
    }

    /// The corpus's top-level configs whose names start with `prefix`.
    fn configs(&self, errors: bool) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .filter(|p| file_name(p).starts_with("err-") == errors)
            .collect();
        files.sort();
        files
    }

    /// Runs `ssh -G -F config alias` with HOME at the temporary home.
    fn ssh_g(&self, config: &Path, alias: &str) -> Result<String, String> {
        let out = Command::new(SSH)
            .arg("-G")
            .arg("-F")
            .arg(config)
            .arg("--")
            .arg(alias)
            .env("HOME", self.home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SSH}: {e}"));
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn copy_dir(from: &Path, to: &Path, user: &str) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target, user);
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&target, text.replace("@LOCALUSER@", user)).unwrap();
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Names listed on a `# also-resolve:` line (names no `Host` line lists).
fn extra_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# also-resolve:"))
        .flat_map(|l| l.split_whitespace().map(str::to_owned))
        .collect()
}

#[test]
fn every_alias_resolves_as_ssh_g_says() {
    let corpus = Corpus::new();
    let mut compared = 0;
    for path in corpus.configs(false) {
        let config = Config::load(&path, &corpus.local)
            .unwrap_or_else(|e| panic!("{}: {e}", file_name(&path)));
        let mut names = config.aliases();
        assert!(!names.is_empty(), "{}: no aliases", file_name(&path));
        names.extend(extra_names(&std::fs::read_to_string(&path).unwrap()));
        for alias in names {
            let where_ = format!("{} / {alias}", file_name(&path));
            let mine = config
                .resolve(&alias)
                .unwrap_or_else(|e| panic!("{where_}: the resolver failed: {e}"));
            let printed = corpus
                .ssh_g(&path, &alias)
                .unwrap_or_else(|e| panic!("{where_}: ssh -G failed: {e}"));
            let theirs = parse_ssh_g_with(&alias, &printed, &corpus.local)
                .unwrap_or_else(|e| panic!("{where_}: cannot read ssh -G output: {e}\n{printed}"));
            assert_eq!(
                mine, theirs,
                "{where_}: the resolver (left) and ssh -G (right) differ"
            );
            compared += 1;
        }
    }
    assert!(compared >= 60, "only {compared} aliases compared");
}

#[test]
fn bad_configs_are_refused_by_both_naming_file_and_line() {
    let corpus = Corpus::new();
    let configs = corpus.configs(true);
    assert!(configs.len() >= 8);
    for path in configs {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect-error: "))
            .unwrap_or_else(|| panic!("{}: no `# expect-error:` line", file_name(&path)));
        let (place, problem) = expected.split_once(": ").unwrap();
        let (file, line) = place.rsplit_once(':').unwrap();
        let err = Config::load(&path, &corpus.local)
            .err()
            .unwrap_or_else(|| panic!("{}: the resolver accepted it", file_name(&path)));
        assert!(err.file.ends_with(file), "{}: {err}", file_name(&path));
        assert_eq!(err.line.to_string(), line, "{}: {err}", file_name(&path));
        assert!(err.problem.contains(problem), "{}: {err}", file_name(&path));
        assert!(
            corpus.ssh_g(&path, "a").is_err(),
            "{}: ssh -G accepted it",
            file_name(&path)
        );
    }
}

#[test]
fn include_loop_names_the_chain() {
    let corpus = Corpus::new();
    let err = Config::load(&corpus.dir().join("err-include-loop.conf"), &corpus.local).unwrap_err();
    let chain = err.problem.strip_prefix("Include loop: ").unwrap();
    let files: Vec<&str> = chain
        .split(" -> ")
        .map(|p| p.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "err-include-loop.conf",
            "loop-a.conf",
            "loop-b.conf",
            "loop-a.conf"
        ]
    );
}

#[test]
fn includes_nest_sixteen_deep_and_no_deeper() {
    let corpus = Corpus::new();
    let dir = corpus.dir().join("deep");
    std::fs::create_dir_all(&dir).unwrap();
    for depth in [16, 17] {
        for i in 1..depth {
            std::fs::write(
                dir.join(format!("d{i}.conf")),
                format!("Include deep/d{}.conf\n", i + 1),
            )
            .unwrap();
        }
        std::fs::write(dir.join(format!("d{depth}.conf")), "Port 2016\n").unwrap();
        let main = dir.join(format!("main{depth}.conf"));
        std::fs::write(&main, "Include deep/d1.conf\n").unwrap();
        let ours = Config::load(&main, &corpus.local);
        let theirs = corpus.ssh_g(&main, "a");
        if depth == 16 {
            assert_eq!(ours.unwrap().resolve("a").unwrap().port, 2016);
            assert!(theirs.unwrap().contains("\nport 2016\n"));
        } else {
            let err = ours.unwrap_err();
            assert!(err.problem.contains("deeper than 16"), "{err}");
            assert!(err.problem.contains("d17.conf"), "{err}");
            assert!(theirs.is_err(), "ssh accepted 17 levels");
        }
    }
}

#[test]
fn resolve_with_ssh_reads_ssh_itself() {
    let corpus = Corpus::new();
    let path = corpus.dir().join("negation.conf");
    let config = Config::load(&path, &corpus.local).unwrap();
    let local = Local::current();
    for alias in ["web1", "bastion", "anything"] {
        let via_ssh: Resolved = resolve_with_ssh(Path::new(SSH), &path, alias).unwrap();
        let mine = config.resolve(alias).unwrap();
        // Local::current() only differs from the corpus's Local in include_home.
        assert_eq!(local.user, corpus.local.user);
        assert_eq!(mine, via_ssh, "{alias}");
    }
    let err =
        resolve_with_ssh(Path::new(SSH), &corpus.dir().join("err-bad-port.conf"), "a").unwrap_err();
    assert_eq!(err.line, 5, "{err}");
    let err = resolve_with_ssh(Path::new("/nonexistent/ssh"), &path, "a").unwrap_err();
    assert!(err.problem.contains("cannot run"), "{err}");
}

#[test]
fn warnings_say_what_is_not_done() {
    let corpus = Corpus::new();
    let text = "IgnoreUnknown UseKeychain\nUseKeychain yes\nObscureKeystrokeTiming yes\n\
                Host a me@b -x\n  Compression yes\n  ControlMaster auto\nHost c\n  Compression no\n\
                Match exec \"true\"\n  Port 2\n";
    let config = Config::parse(text, "cfg", &corpus.local).unwrap();
    assert_eq!(config.aliases(), ["a", "c"]);
    let w = config.warnings();
    let expected = [
        "cfg:9: Match exec is not run",
        "`obscurekeystroketiming` is not an option of OpenSSH 9.2",
        "Minke does not use `Compression`: on 2 lines (cfg:5, cfg:8)",
        "Minke does not use `ControlMaster`: on 1 line (cfg:6)",
        "cfg:4: Host `me@b` is not imported",
        "cfg:4: Host `-x` is not imported",
    ];
    assert_eq!(w.len(), expected.len(), "{w:#?}");
    for (got, want) in w.iter().zip(expected) {
        assert!(
            got.to_lowercase().starts_with(&want.to_lowercase()),
            "{got} / {want}"
        );
    }
}
