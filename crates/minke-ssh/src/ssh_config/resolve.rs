//! Resolving an alias: the blocks that apply, in file order, first value wins.
//!
//! The files are laid out once as a sequence of blocks (the options between two
//! `Host`/`Match`/`Include` lines), each with the chain of `Host`/`Match` lines it
//! depends on (the one it is in, and the ones of the `Include` lines it was read
//! through). A block that depends on a `Host` line whose patterns are all literal
//! can only apply to those names, so it is filed under them; the others (wildcards,
//! negations only, `Match`) are always looked at. Resolving an alias walks the
//! blocks filed under it merged with the others, in order: work in proportion to
//! what may apply, not to the size of the file.
//!
//! As `ssh` does, the files are read a second time when a `Match` line has `final`
//! or `CanonicalizeHostname` is on: then `Host` lines match the final host name,
//! `Match canonical`/`final` hold, and only options not yet set are taken. Host name
//! canonicalization through DNS (`CanonicalDomains`) is not done.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::ConfigError;
use super::addr::final_host;
use super::directive::{Agent, Opt};
use super::include::{Files, Item};
use super::jump::Jump;
use super::local::Local;
use super::matching::MatchFacts;
use super::resolved::{
    Printed, PrintedAgent, Sourced, default_identity_files, default_known_hosts,
};
use super::tokens::{Conn, PathExpander, expand};
use super::value::{Canonicalize, Strict, Tty};

/// Most blocks and `Host`/`Match` lines the files may lay out to (an `Include`
/// repeated at every level multiplies them).
const MAX_LAID_OUT: usize = 16 << 20;
/// OpenSSH's limit on identity files, and on certificate files.
const MAX_FILES: usize = 100;

/// Options between two block boundaries, and the heads they depend on.
#[derive(Debug)]
struct Block {
    file: usize,
    /// The items `start..end` of the file (all options).
    start: usize,
    end: usize,
    /// Where its chain is in [`Program::chains`]: the `Host`/`Match` lines it
    /// depends on, as indexes into [`Program::heads`], outermost first.
    chain: (u32, u32),
}

/// The files laid out for resolving.
#[derive(Debug)]
pub(crate) struct Program {
    blocks: Vec<Block>,
    /// `(file, item)` of each `Host`/`Match` line, as often as it is read.
    heads: Vec<(usize, usize)>,
    /// The blocks' chains, one after the other (a block shares the chain of the
    /// block before it when they are the same).
    chains: Vec<u32>,
    /// Blocks to look at for any name.
    general: Vec<u32>,
    /// Blocks that only apply to one of a few literal names.
    by_name: HashMap<String, Vec<u32>, Fnv>,
    aliases: Vec<String>,
    warnings: Vec<String>,
}

impl Program {
    /// Lays the files out.
    pub(crate) fn new(files: &Files) -> Result<Program, ConfigError> {
        let mut p = Program {
            blocks: Vec::new(),
            heads: Vec::new(),
            chains: Vec::new(),
            general: Vec::new(),
            by_name: HashMap::default(),
            aliases: Vec::new(),
            warnings: Vec::new(),
        };
        let mut seen = HashSet::default();
        p.walk(files, 0, &[], &mut seen)?;
        Ok(p)
    }

    /// The concrete `Host` aliases, in order, each once.
    pub(crate) fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// Warnings about aliases that cannot be resolved.
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn walk(
        &mut self,
        files: &Files,
        file: usize,
        prefix: &[u32],
        seen: &mut HashSet<String, Fnv>,
    ) -> Result<(), ConfigError> {
        let items = &files.files[file].items;
        let mut chain: Vec<u32> = prefix.to_vec();
        let mut start = 0;
        for (i, (line, item)) in items.iter().enumerate() {
            match item {
                Item::Set(_) => continue,
                Item::Host(_) | Item::Match(_) => {
                    self.block(files, file, start, i, &chain)?;
                    self.check_size(files)?;
                    let id = to_u32(self.heads.len());
                    self.heads.push((file, i));
                    chain = prefix.to_vec();
                    chain.push(id);
                    if let Item::Host(h) = item {
                        for name in h.concrete() {
                            if seen.insert(name.to_owned()) {
                                match unusable_alias(name) {
                                    None => self.aliases.push(name.to_owned()),
                                    Some(why) => self.warnings.push(format!(
                                        "{}:{line}: Host `{name}` is not imported: {why}",
                                        files.files[file].name
                                    )),
                                }
                            }
                        }
                    }
                }
                Item::Include(targets) => {
                    self.block(files, file, start, i, &chain)?;
                    for &t in targets {
                        self.walk(files, t, &chain, seen)?;
                    }
                }
            }
            start = i + 1;
        }
        self.block(files, file, start, items.len(), &chain)
    }

    /// Refuses files laid out beyond [`MAX_LAID_OUT`] (which keeps ids in `u32`).
    fn check_size(&self, files: &Files) -> Result<(), ConfigError> {
        if self.blocks.len() + self.heads.len() < MAX_LAID_OUT {
            return Ok(());
        }
        Err(ConfigError::new(
            &*files.files[0].name,
            0,
            format!(
                "its Includes repeat files so often that it lays out to more than \
                 {MAX_LAID_OUT} blocks"
            ),
        ))
    }

    fn block(
        &mut self,
        files: &Files,
        file: usize,
        start: usize,
        end: usize,
        chain: &[u32],
    ) -> Result<(), ConfigError> {
        if start == end {
            return Ok(());
        }
        self.check_size(files)?;
        let id = to_u32(self.blocks.len());
        let key = chain.iter().find_map(|&h| {
            let (f, i) = self.heads[h as usize];
            match &files.files[f].items[i].1 {
                Item::Host(host) => host.literal_names(),
                _ => None,
            }
        });
        match key {
            None => self.general.push(id),
            Some(names) => {
                let mut filed: Vec<&str> = Vec::with_capacity(names.len());
                for name in names {
                    if !filed.contains(&name) {
                        filed.push(name);
                        self.by_name.entry(name.to_owned()).or_default().push(id);
                    }
                }
            }
        }
        let same = self.blocks.last().filter(|b| self.chain(b) == chain);
        let at = match same {
            Some(b) => b.chain,
            None => {
                let from = self.chains.len();
                self.chains.extend_from_slice(chain);
                (to_u32(from), to_u32(chain.len()))
            }
        };
        self.blocks.push(Block {
            file,
            start,
            end,
            chain: at,
        });
        Ok(())
    }

    fn chain(&self, block: &Block) -> &[u32] {
        let (from, len) = block.chain;
        &self.chains[from as usize..(from + len) as usize]
    }

    /// What `ssh -G alias` prints for the options Minke reads.
    pub(crate) fn resolve(
        &self,
        files: &Files,
        local: &Local,
        alias: &str,
    ) -> Result<Printed, ConfigError> {
        self.resolve_with(files, local, alias, false)
    }

    /// [`resolve`](Self::resolve), looking at every block when `every_block`
    /// (tests compare that with the index).
    fn resolve_with(
        &self,
        files: &Files,
        local: &Local,
        alias: &str,
        every_block: bool,
    ) -> Result<Printed, ConfigError> {
        let mut st = State::default();
        let first_pass = Pass {
            files,
            local,
            alias,
            target: alias,
            final_pass: false,
            every_block,
        };
        self.pass(&first_pass, &mut st)?;
        let host = final_host(&st.host_so_far(files, alias)?);
        let canonicalize = st.canonicalize.is_some_and(|c| c != Canonicalize::No);
        if files.has_final || canonicalize {
            st.hostname = Some(Val {
                value: Cow::Owned(host.clone()),
                file: usize::MAX,
                line: 0,
            });
            let final_pass = Pass {
                target: &host,
                final_pass: true,
                ..first_pass
            };
            self.pass(&final_pass, &mut st)?;
        }
        st.printed(files, local, alias, host)
    }

    /// One reading of the files: the blocks filed under the target name merged, in
    /// order, with those looked at for any name.
    fn pass<'f>(&self, p: &Pass<'f, '_>, st: &mut State<'f>) -> Result<(), ConfigError> {
        let filed = self.by_name.get(p.target).map_or(&[][..], Vec::as_slice);
        let (mut g, mut f) = (self.general.iter().peekable(), filed.iter().peekable());
        let merged = std::iter::from_fn(|| match (g.peek(), f.peek()) {
            (None, None) => None,
            (Some(&&a), Some(&&b)) if a < b => g.next().copied(),
            (Some(_), None) => g.next().copied(),
            (_, Some(_)) => f.next().copied(),
        });
        if cfg!(test) && p.every_block {
            return self.read_blocks(p, st, 0..to_u32(self.blocks.len()));
        }
        self.read_blocks(p, st, merged)
    }

    /// Applies the blocks `ids` (ascending) whose `Host`/`Match` lines hold.
    fn read_blocks<'f>(
        &self,
        p: &Pass<'f, '_>,
        st: &mut State<'f>,
        ids: impl Iterator<Item = u32>,
    ) -> Result<(), ConfigError> {
        let files = p.files;
        // Heads evaluated in this pass, by id (in practice evaluated in id order).
        let mut heads: Vec<(u32, bool)> = Vec::new();
        for id in ids {
            let block = &self.blocks[id as usize];
            let mut applies = true;
            for &h in self.chain(block) {
                let hit = match heads.binary_search_by_key(&h, |(id, _)| *id) {
                    Ok(at) => heads[at].1,
                    Err(at) => {
                        let hit = self.head_applies(p, h, st)?;
                        heads.insert(at, (h, hit));
                        hit
                    }
                };
                if !hit {
                    applies = false;
                    break;
                }
            }
            if !applies {
                continue;
            }
            let file = &files.files[block.file];
            for (line, item) in &file.items[block.start..block.end] {
                if let Item::Set(opt) = item {
                    st.apply(files, block.file, *line, opt)?;
                }
            }
        }
        Ok(())
    }

    /// Whether a `Host` or `Match` line applies, at this point of a pass.
    fn head_applies(
        &self,
        p: &Pass<'_, '_>,
        head: u32,
        st: &State<'_>,
    ) -> Result<bool, ConfigError> {
        let (f, i) = self.heads[head as usize];
        match &p.files.files[f].items[i].1 {
            Item::Host(h) => Ok(h.applies_to(p.target)),
            Item::Match(m) => {
                let facts = MatchFacts {
                    final_pass: p.final_pass,
                    original_host: p.alias,
                    user: st.user.as_ref().map_or(p.local.user.as_str(), |u| &u.value),
                    local_user: &p.local.user,
                };
                m.applies(&facts, || st.host_so_far(p.files, p.alias))
            }
            _ => Ok(false),
        }
    }
}

/// One reading of the files, for one name.
#[derive(Clone, Copy)]
struct Pass<'f, 'a> {
    files: &'f Files,
    local: &'a Local,
    /// The name given.
    alias: &'a str,
    /// The name `Host` lines match: the alias, then the final host name.
    target: &'a str,
    /// Whether this is the second reading (`Match final`, `canonical`).
    final_pass: bool,
    /// Tests only: look at every block, not only those the index gives.
    every_block: bool,
}

/// FNV-1a, for the name index: much quicker than the default SipHash on short
/// names, and the names come from the user's own files (no flooding to fear).
#[derive(Clone, Copy, Debug, Default)]
struct Fnv;

impl std::hash::BuildHasher for Fnv {
    type Hasher = FnvHasher;

    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// An index as `u32` ([`MAX_LAID_OUT`] keeps them small enough).
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Why `ssh` cannot be asked about a `Host` name (`None` when it can).
fn unusable_alias(name: &str) -> Option<&'static str> {
    if name.contains('@') {
        Some("ssh reads `user@host` on its command line, so this pattern never matches")
    } else if name.starts_with('-') {
        Some("a name starting with `-` is read as an option by ssh")
    } else if name
        .chars()
        .any(|c| "'`\"$\\;&<>|(){}".contains(c) || c.is_whitespace() || c.is_control())
    {
        Some("ssh refuses host names with quotes, spaces or shell characters")
    } else {
        None
    }
}

/// A value taken, and where it was written.
#[derive(Clone, Debug)]
struct Val<'f> {
    value: Cow<'f, str>,
    /// Index into the files, `usize::MAX` for a value worked out by resolution.
    file: usize,
    line: usize,
}

impl Val<'_> {
    fn sourced(&self, files: &Files) -> Sourced {
        Sourced {
            value: self.value.clone().into_owned(),
            file: file_name(files, self.file),
            line: self.line,
        }
    }
}

fn file_name(files: &Files, file: usize) -> Arc<str> {
    files
        .files
        .get(file)
        .map_or_else(|| Arc::from("(resolved host name)"), |f| f.name.clone())
}

/// The options taken so far.
#[derive(Default)]
struct State<'f> {
    hostname: Option<Val<'f>>,
    port: Option<u16>,
    user: Option<Val<'f>>,
    identity_files: Vec<Val<'f>>,
    certificate_files: Vec<Val<'f>>,
    proxy_command: Option<Val<'f>>,
    proxy_jump: Option<(&'f Jump, usize, usize)>,
    agent: Option<bool>,
    agent_socket: Option<Val<'f>>,
    set_env: Option<&'f [(String, String)]>,
    alive_interval: Option<u32>,
    alive_count: Option<u32>,
    strict: Option<Strict>,
    known_hosts: Option<(&'f [String], usize, usize)>,
    tty: Option<Tty>,
    connect_timeout: Option<u32>,
    batch_mode: Option<bool>,
    canonicalize: Option<Canonicalize>,
    host_key_alias: Option<&'f str>,
}

fn first<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

impl<'f> State<'f> {
    /// Takes one option that applies.
    fn apply(
        &mut self,
        files: &Files,
        file: usize,
        line: usize,
        opt: &'f Opt,
    ) -> Result<(), ConfigError> {
        let val = |s: &'f str| Val {
            value: Cow::Borrowed(s),
            file,
            line,
        };
        match opt {
            Opt::HostName(v) => first(&mut self.hostname, val(v)),
            Opt::Port(p) => first(&mut self.port, *p),
            Opt::User(v) => first(&mut self.user, val(v)),
            Opt::IdentityFile(v) | Opt::CertificateFile(v) => {
                let (list, what) = match opt {
                    Opt::IdentityFile(_) => (&mut self.identity_files, "IdentityFile"),
                    _ => (&mut self.certificate_files, "CertificateFile"),
                };
                if !list.iter().any(|x| x.value == v.as_str()) {
                    if list.len() == MAX_FILES {
                        return Err(ConfigError::new(
                            &*file_name(files, file),
                            line,
                            format!("more than {MAX_FILES} {what}s apply (OpenSSH's limit)"),
                        ));
                    }
                    list.push(val(v));
                }
            }
            Opt::ProxyCommand(v) => first(&mut self.proxy_command, val(v)),
            Opt::ProxyJump(j) => {
                if self.proxy_command.is_none() && self.proxy_jump.is_none() {
                    self.proxy_jump = Some((j, file, line));
                    if matches!(j, Jump::Hops(_)) {
                        self.proxy_command = Some(val("none"));
                    }
                }
            }
            Opt::ForwardAgent(Agent::Flag(b)) => first(&mut self.agent, *b),
            Opt::ForwardAgent(Agent::Socket(s)) => {
                first(&mut self.agent, true);
                first(&mut self.agent_socket, val(s));
            }
            Opt::SetEnv(pairs) => first(&mut self.set_env, pairs.as_slice()),
            Opt::ServerAliveInterval(n) => first(&mut self.alive_interval, *n),
            Opt::ServerAliveCountMax(n) => first(&mut self.alive_count, *n),
            Opt::StrictHostKeyChecking(s) => first(&mut self.strict, *s),
            Opt::UserKnownHostsFile(list) => {
                first(&mut self.known_hosts, (list.as_slice(), file, line))
            }
            Opt::RequestTty(t) => first(&mut self.tty, *t),
            Opt::ConnectTimeout(n) => first(&mut self.connect_timeout, *n),
            Opt::BatchMode(b) => first(&mut self.batch_mode, *b),
            Opt::CanonicalizeHostname(c) => first(&mut self.canonicalize, *c),
            Opt::HostKeyAlias(a) => first(&mut self.host_key_alias, a.as_str()),
        }
        Ok(())
    }

    /// The host name so far: `HostName` with `%h` (and `%%`) expanded, or the alias.
    fn host_so_far<'s>(
        &'s self,
        files: &Files,
        alias: &'s str,
    ) -> Result<Cow<'s, str>, ConfigError> {
        match &self.hostname {
            None => Ok(Cow::Borrowed(alias)),
            Some(v) if !v.value.contains('%') => Ok(Cow::Borrowed(&v.value)),
            Some(v) => expand(&v.value, &[('h', alias.to_owned())], false)
                .map(Cow::Owned)
                .map_err(|e| {
                    ConfigError::new(
                        &*file_name(files, v.file),
                        v.line,
                        format!("HostName `{}`: {e}", v.value),
                    )
                }),
        }
    }

    /// What `ssh -G` prints, defaults filled in.
    fn printed(
        self,
        files: &Files,
        local: &Local,
        alias: &str,
        host: String,
    ) -> Result<Printed, ConfigError> {
        let port = self.port.unwrap_or(22);
        let user = self
            .user
            .as_ref()
            .map_or_else(|| local.user.clone(), |u| u.value.clone().into_owned());
        let key_alias = self.host_key_alias.unwrap_or(alias);
        let paths = PathExpander::new(Conn {
            host: &host,
            port,
            user: &user,
            alias,
            key_alias,
            local,
        });
        let user_known_hosts_files = match self.known_hosts {
            None => default_known_hosts(local),
            Some((list, _, _)) if list == ["none"] => vec!["none".to_owned()],
            Some((list, file, line)) => list
                .iter()
                .map(|p| {
                    paths.expand(p).map_err(|e| {
                        ConfigError::new(
                            &*file_name(files, file),
                            line,
                            format!("UserKnownHostsFile `{p}`: {e}"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let forward_agent = match (&self.agent_socket, self.agent) {
            (Some(s), _) => PrintedAgent::Socket(paths.expand(&s.value).map_err(|e| {
                ConfigError::new(
                    &*file_name(files, s.file),
                    s.line,
                    format!("ForwardAgent `{}`: {e}", s.value),
                )
            })?),
            (None, Some(true)) => PrintedAgent::Yes,
            (None, _) => PrintedAgent::No,
        };
        let identity_files = if self.identity_files.is_empty() {
            default_identity_files()
                .map(|f| Sourced {
                    value: f.to_owned(),
                    file: Arc::from("(OpenSSH's default)"),
                    line: 0,
                })
                .collect()
        } else {
            self.identity_files
                .iter()
                .map(|v| v.sourced(files))
                .collect()
        };
        let proxy_jump = match self.proxy_jump {
            Some((Jump::Hops(hops), file, line)) => Some(Sourced {
                value: hops
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                file: file_name(files, file),
                line,
            }),
            _ => None,
        };
        Ok(Printed {
            alias: alias.to_owned(),
            hostname: host.clone(),
            port,
            user: user.clone(),
            identity_files,
            certificate_files: self
                .certificate_files
                .iter()
                .map(|v| v.sourced(files))
                .collect(),
            proxy_jump,
            proxy_command: self
                .proxy_command
                .filter(|c| !c.value.eq_ignore_ascii_case("none"))
                .map(|c| c.sourced(files)),
            forward_agent,
            forward_agent_flag: Some(self.agent.unwrap_or(false)),
            set_env: self.set_env.map(<[_]>::to_vec).unwrap_or_default(),
            server_alive_interval: self.alive_interval.unwrap_or(
                if self.batch_mode == Some(true) {
                    300
                } else {
                    0
                },
            ),
            server_alive_count_max: self.alive_count.unwrap_or(3),
            strict_host_key_checking: self.strict.unwrap_or(Strict::Ask),
            user_known_hosts_files,
            request_tty: self.tty.unwrap_or(Tty::Auto),
            connect_timeout: self.connect_timeout,
            host_key_alias: self.host_key_alias.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh_config::include::load;

    /// A small deterministic generator (no dependency for a test).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) as usize) % n
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.next(from.len())]
        }
    }

    const NAMES: &[&str] = &["a", "b", "c", "ab", "web1", "web2", "db.x", "A"];
    const PATTERNS: &[&str] = &[
        "a", "b", "c", "ab", "web1", "web2", "db.x", "A", "*", "web?", "*.x", "!a", "!web1", "!*",
    ];
    const HEADS: &[&str] = &[
        "Match all",
        "Match final",
        "Match !final",
        "Match canonical",
        "Match host a,web*",
        "Match originalhost A",
        "Match user u1",
        "Match !user u2 localuser me",
        "Match host db.*",
    ];
    const OPTIONS: &[&str] = &[
        "Port 1",
        "Port 2",
        "User u1",
        "User u2",
        "HostName h-%h",
        "HostName db.x",
        "IdentityFile ~/k1",
        "IdentityFile ~/k2",
        "CertificateFile ~/c",
        "ProxyJump j1",
        "ProxyCommand nc %h %p",
        "ProxyJump none",
        "SetEnv A=1",
        "SetEnv A=2 B=3",
        "ServerAliveInterval 5",
        "BatchMode yes",
        "CanonicalizeHostname yes",
        "ForwardAgent yes",
        "ForwardAgent /s",
        "UserKnownHostsFile /k/%h",
        "RequestTTY no",
    ];

    /// A config of random blocks; options may `Include` one of `includes`.
    fn random_config(rng: &mut Lcg, includes: &[String]) -> String {
        let mut text = String::new();
        if !includes.is_empty() && rng.next(2) == 0 {
            text.push_str(&format!("Include {}\n", includes[rng.next(includes.len())]));
        }
        for _ in 0..rng.next(25) + 5 {
            if rng.next(3) == 0 {
                text.push_str(rng.pick(HEADS));
            } else {
                text.push_str("Host");
                for _ in 0..rng.next(3) + 1 {
                    text.push(' ');
                    text.push_str(rng.pick(PATTERNS));
                }
            }
            text.push('\n');
            for _ in 0..rng.next(4) {
                text.push_str("  ");
                if !includes.is_empty() && rng.next(6) == 0 {
                    text.push_str(&format!("Include {}", includes[rng.next(includes.len())]));
                } else {
                    text.push_str(rng.pick(OPTIONS));
                }
                text.push('\n');
            }
        }
        text
    }

    #[test]
    fn the_index_gives_what_reading_every_block_gives() {
        let local = Local::new("me", "/home/me", "box");
        let mut rng = Lcg(7);
        let dir = tempfile::tempdir().unwrap();
        for round in 0..300 {
            // f2 includes nothing, f1 may include f2, the main file either.
            let mut includes: Vec<String> = Vec::new();
            for n in [2, 1] {
                let path = dir.path().join(format!("f{n}"));
                std::fs::write(&path, random_config(&mut rng, &includes)).unwrap();
                includes.push(path.display().to_string());
            }
            let text = random_config(&mut rng, &includes);
            let files = load(&text, "cfg", None, &local).unwrap();
            let program = Program::new(&files).unwrap();
            for name in NAMES {
                let indexed = program.resolve_with(&files, &local, name, false);
                let naive = program.resolve_with(&files, &local, name, true);
                assert_eq!(indexed, naive, "round {round}, {name}:\n{text}");
            }
        }
    }

    #[test]
    fn literal_blocks_are_filed_under_their_names() {
        let local = Local::new("me", "/home/me", "box");
        let text = "Host a b !c\n Port 1\nHost *\n Port 2\nHost !x\n Port 3\nMatch all\n Port 4\n";
        let files = load(text, "cfg", None, &local).unwrap();
        let program = Program::new(&files).unwrap();
        assert_eq!(program.by_name.get("a"), Some(&vec![0]));
        assert_eq!(program.by_name.get("b"), Some(&vec![0]));
        assert_eq!(program.general, [1, 3]);
        assert_eq!(program.blocks.len(), 4);
    }
}
