//! Reading a config file and the files it `Include`s.
//!
//! As in OpenSSH (for a user's configuration, which a file given with `-F` is): a path
//! starting with `~` is in the home directory, any other relative path is in
//! `~/.ssh`; each path is a glob(7) pattern (`*`, `?`, `[...]`) whose matches are read
//! in lexical order; a pattern matching nothing is not an error. Files are read
//! whatever block the `Include` is in (their mistakes are errors even where they
//! would not apply) and apply where the `Include` line is. Includes nest at most 16
//! deep; a file that includes itself, directly or not, is an error naming the chain.
//!
//! Not reproduced: OpenSSH refuses included files writable by others; Minke does not
//! check permissions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ConfigError;
use super::directive::{Directive, Opt, directive};
use super::keyword::Keyword;
use super::lexer;
use super::local::{Local, home_of, path_text};
use super::matching::{HostLine, MatchLine};
use super::pattern::list_matches;

/// Most bytes read from one file (a config of 100,000 hosts fits).
pub(crate) const MAX_FILE: u64 = 64 << 20;
/// Longest line accepted.
pub(crate) const MAX_LINE: usize = 64 << 10;
/// How deep `Include`s may nest (OpenSSH's limit).
pub(crate) const MAX_DEPTH: usize = 16;

/// One line that matters for resolution.
#[derive(Debug)]
pub(crate) enum Item {
    Host(HostLine),
    Match(MatchLine),
    /// The files the `Include` line reads, in order (indexes into [`Files::files`]).
    Include(Vec<usize>),
    Set(Opt),
}

/// A read file: its name and its lines that matter, with their line numbers.
#[derive(Debug)]
pub(crate) struct File {
    /// As given (the main file) or as the `Include` found it.
    pub(crate) name: Arc<str>,
    /// `(line, item)` in file order.
    pub(crate) items: Vec<(usize, Item)>,
}

/// All files of a configuration; the main one is the first.
#[derive(Debug)]
pub(crate) struct Files {
    pub(crate) files: Vec<File>,
    /// Whether a `Match` line anywhere has `final` (`ssh` then reads twice).
    pub(crate) has_final: bool,
    /// Problems that do not stop an import.
    pub(crate) warnings: Vec<String>,
}

/// Reads the configuration whose main file, named `name` (at `path` when it is a
/// file), has `text`.
pub(crate) fn load(
    text: &str,
    name: &str,
    path: Option<&Path>,
    local: &Local,
) -> Result<Files, ConfigError> {
    let mut loader = Loader {
        local,
        files: Vec::new(),
        by_path: HashMap::new(),
        heights: Vec::new(),
        stack: Vec::new(),
        ignore_unknown: Vec::new(),
        notes: Notes::default(),
        has_final: false,
    };
    let canonical = path.map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()));
    loader.parse(text, name.to_owned(), canonical, 0)?;
    let warnings = loader.notes.into_warnings();
    Ok(Files {
        files: loader.files,
        has_final: loader.has_final,
        warnings,
    })
}

/// Reads a file, refusing one larger than [`MAX_FILE`] (or endless, like `/dev/zero`)
/// without reading more than that, or one that is not UTF-8.
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let shown = path.display().to_string();
    let fail = |problem: String| ConfigError::new(shown.clone(), 0, problem);
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(fail(format!(
            "it is larger than {} MiB, the most one file may hold",
            MAX_FILE >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "it is not UTF-8 text (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Warnings gathered while reading, each said once.
#[derive(Default)]
struct Notes {
    /// Options Minke does not use.
    unused: Tally,
    /// Keywords OpenSSH 9.2 does not know, as written.
    unknown: Tally,
    /// Everything else, in order.
    other: Vec<String>,
    canonical_domains: bool,
    canonicalize: bool,
}

impl Notes {
    fn into_warnings(self) -> Vec<String> {
        let mut out = self.other;
        if self.canonical_domains && self.canonicalize {
            out.push(
                "CanonicalizeHostname with CanonicalDomains: ssh may rewrite host names \
                 through DNS lookups, which Minke does not do (names are used as written; \
                 --resolve-with-ssh asks ssh)"
                    .to_owned(),
            );
        }
        for (name, places) in self.unknown.names {
            out.push(format!(
                "`{name}` is not an option of OpenSSH 9.2 (which refuses it unless \
                 IgnoreUnknown names it); ignored, {places}"
            ));
        }
        for (name, places) in self.unused.names {
            out.push(format!("Minke does not use `{name}`: {places}"));
        }
        out
    }
}

/// Where names were used, by name in the order first seen.
#[derive(Default)]
struct Tally {
    names: Vec<(String, Places)>,
    index: HashMap<String, usize>,
}

impl Tally {
    fn add(&mut self, name: &str, file: &str, line: usize) {
        let at = match self.index.get(name) {
            Some(&at) => at,
            None => {
                self.index.insert(name.to_owned(), self.names.len());
                self.names.push((name.to_owned(), Places::default()));
                self.names.len() - 1
            }
        };
        self.names[at].1.add(file, line);
    }
}

/// How many lines, and the first few of them.
#[derive(Default)]
struct Places {
    count: usize,
    first: Vec<String>,
}

impl Places {
    const SHOWN: usize = 5;

    fn add(&mut self, file: &str, line: usize) {
        self.count += 1;
        if self.first.len() < Self::SHOWN {
            self.first.push(format!("{file}:{line}"));
        }
    }
}

impl std::fmt::Display for Places {
    /// "on 7 lines (a:1, a:7, b:2, b:4, b:9, and 2 more)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines = if self.count == 1 { "line" } else { "lines" };
        write!(f, "on {} {lines} ({}", self.count, self.first.join(", "))?;
        if self.count > self.first.len() {
            write!(f, ", and {} more", self.count - self.first.len())?;
        }
        f.write_str(")")
    }
}

struct Loader<'a> {
    local: &'a Local,
    files: Vec<File>,
    /// Files read, by canonical path.
    by_path: HashMap<PathBuf, usize>,
    /// For each file, how many levels of `Include` are below it.
    heights: Vec<usize>,
    /// The files being read, outermost first: `(canonical path, name)`.
    stack: Vec<(Option<PathBuf>, String)>,
    /// `IgnoreUnknown` values seen so far.
    ignore_unknown: Vec<String>,
    notes: Notes,
    has_final: bool,
}

impl Loader<'_> {
    /// Parses one file at `depth` (the main file is 0); returns its index.
    fn parse(
        &mut self,
        text: &str,
        name: String,
        path: Option<PathBuf>,
        depth: usize,
    ) -> Result<usize, ConfigError> {
        let index = self.files.len();
        self.files.push(File {
            name: Arc::from(name.as_str()),
            items: Vec::new(),
        });
        self.heights.push(0);
        if let Some(p) = &path {
            self.by_path.insert(p.clone(), index);
        }
        self.stack.push((path, name.clone()));
        let mut items = Vec::new();
        let mut height = 0;
        for (at, line) in text.lines().enumerate() {
            let number = at + 1;
            let err = |problem: String| ConfigError::new(name.clone(), number, problem);
            if line.len() > MAX_LINE {
                return Err(err(format!("the line is longer than {MAX_LINE} bytes")));
            }
            let Some(kw) = lexer::keyword(line) else {
                continue;
            };
            match directive(&kw).map_err(err)? {
                Directive::Host(h) => items.push((number, Item::Host(h))),
                Directive::Match(m) => {
                    if m.has_exec() {
                        self.notes.other.push(format!(
                            "{name}:{number}: Match exec is not run by Minke: the block is \
                             treated as not matching (--resolve-with-ssh lets ssh run it)"
                        ));
                    }
                    self.has_final |= m.has_final();
                    items.push((number, Item::Match(m)));
                }
                Directive::Include(paths) => {
                    let mut targets = Vec::new();
                    for p in &paths {
                        for found in self.expand(p) {
                            if let Some(t) = self.include(&found, depth, &name, number)? {
                                height = height.max(1 + self.heights[t]);
                                targets.push(t);
                            }
                        }
                    }
                    items.push((number, Item::Include(targets)));
                }
                Directive::Set(opt) => {
                    if let Opt::CanonicalizeHostname(c) = &opt {
                        self.notes.canonicalize |= *c != super::value::Canonicalize::No;
                    }
                    items.push((number, Item::Set(opt)));
                }
                Directive::IgnoreUnknown(list) => self.ignore_unknown.push(list),
                Directive::Unused(kw) => {
                    if kw == Keyword::CanonicalDomains {
                        self.notes.canonical_domains = true;
                    }
                    self.notes.unused.add(kw.name(), &name, number);
                }
                Directive::Unknown(word) => {
                    if !self
                        .ignore_unknown
                        .iter()
                        .any(|l| list_matches(l, &word, true))
                    {
                        let written = kw_as_written(line).unwrap_or(word);
                        self.notes.unknown.add(&written, &name, number);
                    }
                }
            }
        }
        self.stack.pop();
        self.files[index].items = items;
        self.heights[index] = height;
        Ok(index)
    }

    /// The paths an `Include` argument names: `~` and relative paths resolved, the
    /// glob expanded, in lexical order.
    fn expand(&self, arg: &str) -> Vec<PathBuf> {
        let pattern = if let Some(rest) = arg.strip_prefix('~') {
            let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let home = if user.is_empty() {
                Some(self.local.include_home.clone())
            } else {
                home_of(user)
            };
            match home {
                Some(h) => h.join(tail),
                None => return Vec::new(),
            }
        } else if Path::new(arg).is_absolute() {
            PathBuf::from(arg)
        } else {
            self.local.include_dir().join(arg)
        };
        glob(&path_text(&pattern))
    }

    /// Reads (or finds already read) one included file found at `path`, included
    /// from the file `from` (line `line`) at `depth`. `None` for something that is
    /// not a regular file, as `ssh` reads nothing there.
    fn include(
        &mut self,
        path: &Path,
        depth: usize,
        from: &str,
        line: usize,
    ) -> Result<Option<usize>, ConfigError> {
        let shown = path.display().to_string();
        if !path.is_file() {
            return Ok(None);
        }
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let chain = |last: &str| {
            let mut names: Vec<&str> = self.stack.iter().map(|(_, n)| n.as_str()).collect();
            names.push(last);
            names.join(" -> ")
        };
        if self
            .stack
            .iter()
            .any(|(p, _)| p.as_ref() == Some(&canonical))
        {
            return Err(ConfigError::new(
                from,
                line,
                format!("Include loop: {}", chain(&shown)),
            ));
        }
        let known = self.by_path.get(&canonical).copied();
        let below = known.map_or(0, |k| self.heights[k]);
        if depth + 1 + below > MAX_DEPTH {
            return Err(ConfigError::new(
                from,
                line,
                format!(
                    "Includes nest deeper than {MAX_DEPTH} levels: {}",
                    chain(&shown)
                ),
            ));
        }
        if let Some(k) = known {
            return Ok(Some(k));
        }
        let text = match read_text(path) {
            Ok(t) => t,
            Err(e) if e.problem.starts_with("cannot read") => {
                self.notes.other.push(format!(
                    "{from}:{line}: Include: {e}; skipped, as ssh skips it"
                ));
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.parse(&text, shown, Some(canonical), depth + 1)
            .map(Some)
    }
}

/// The keyword of a line as written (for warnings).
fn kw_as_written(line: &str) -> Option<String> {
    line.split(|c: char| c.is_whitespace() || c == '=')
        .find(|w| !w.is_empty())
        .map(|w| w.trim_matches('"').to_owned())
}

/// The paths matching a glob(7) pattern, in byte order: `*`, `?` and `[...]` match
/// within one path component, never a leading dot; `\` escapes.
pub(crate) fn glob(pattern: &str) -> Vec<PathBuf> {
    let absolute = pattern.starts_with('/');
    let mut paths = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    for part in parts {
        let mut next = Vec::new();
        for base in &paths {
            if is_magic(part) {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base
                };
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| (!n.starts_with('.') || part.starts_with('.')) && fnmatch(part, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(unescape(part)));
            }
        }
        paths = next;
    }
    let mut found: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok() || p.exists())
        .collect();
    found.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    found
}

fn is_magic(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

fn unescape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut chars = part.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// fnmatch(3) for one path component: `*`, `?`, `[set]` (`!` or `^` negates, ranges
/// with `-`), `\` escapes; an unclosed `[` is literal.
fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn go(p: &[char], n: &[char]) -> bool {
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        loop {
            if pi < p.len() {
                match p[pi] {
                    '*' => {
                        star = Some((pi, ni));
                        pi += 1;
                        continue;
                    }
                    '?' if ni < n.len() => {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                    '[' if ni < n.len() => {
                        if let Some((hit, len)) = bracket(&p[pi..], n[ni]) {
                            if hit {
                                pi += len;
                                ni += 1;
                                continue;
                            }
                        } else if n[ni] == '[' {
                            pi += 1;
                            ni += 1;
                            continue;
                        }
                    }
                    '\\' if pi + 1 < p.len() && ni < n.len() && p[pi + 1] == n[ni] => {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                    c if c != '[' && c != '?' && c != '\\' && ni < n.len() && c == n[ni] => {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                    _ => {}
                }
            } else if ni == n.len() {
                return true;
            }
            match star {
                Some((sp, sn)) if sn < n.len() => {
                    star = Some((sp, sn + 1));
                    pi = sp + 1;
                    ni = sn + 1;
                }
                _ => return false,
            }
        }
    }
    go(&p, &n)
}

/// Matches `c` against the bracket expression at the start of `p`: `(hit, length)`,
/// `None` when the bracket is not closed.
fn bracket(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((hit != negated, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|hi| *hi != ']') {
            let hi = p[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_forms() {
        assert!(fnmatch("*.conf", "a.conf"));
        assert!(!fnmatch("*.conf", "a.conf.bak"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("[ab]x", "bx"));
        assert!(!fnmatch("[!ab]x", "bx"));
        assert!(fnmatch("[^ab]x", "cx"));
        assert!(fnmatch("[a-c]*", "cat"));
        assert!(!fnmatch("[a-c]*", "dog"));
        assert!(fnmatch("[]]", "]"));
        assert!(fnmatch("[x", "[x"));
        assert!(fnmatch("\\*", "*"));
        assert!(!fnmatch("\\*", "a"));
        assert!(fnmatch("*", ""));
    }

    #[test]
    fn glob_sorts_and_skips_dot_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.conf", "a.conf", ".hidden.conf", "c.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("a.d")).unwrap();
        std::fs::write(dir.path().join("a.d/x.conf"), "").unwrap();
        let base = dir.path().display().to_string();
        let got = |p: &str| -> Vec<String> {
            glob(&format!("{base}/{p}"))
                .iter()
                .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(got("*.conf"), ["a.conf", "b.conf"]);
        assert_eq!(got(".*.conf"), [".hidden.conf"]);
        assert_eq!(got("a*/*.conf"), ["a.d/x.conf"]);
        assert_eq!(got("c.txt"), ["c.txt"]);
        assert!(got("nothing").is_empty());
        assert!(got("no/*.conf").is_empty());
    }

    #[test]
    fn warnings_group_places() {
        let mut t = Tally::default();
        t.add("A", "a", 1);
        for l in 1..=7 {
            t.add("B", "f", l);
        }
        assert_eq!(t.names[0].1.to_string(), "on 1 line (a:1)");
        assert_eq!(
            t.names[1].1.to_string(),
            "on 7 lines (f:1, f:2, f:3, f:4, f:5, and 2 more)"
        );
    }
}
