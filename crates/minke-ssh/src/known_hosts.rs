//! Reading and learning OpenSSH known_hosts files.
//!
//! Written here rather than taken from `russh::keys::known_hosts`, which counts lines
//! without their comments (so reports wrong line numbers), splits fields on single
//! spaces only and knows neither `@revoked`, `@cert-authority`, wildcards nor `!`
//! negations.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;

use russh::keys::ssh_encoding::base64::{Base64, Encoding as _};
use russh::keys::{Algorithm, HashAlg, PublicKey};

/// Serializes appends to known_hosts files within this process.
static LEARN_LOCK: Mutex<()> = Mutex::new(());

/// Files already parsed, with the modification time and size they had: a fleet of
/// hundreds of hosts sharing one file parses it once, not once per connection.
static CACHE: LazyLock<Mutex<HashMap<PathBuf, Cached>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    hosts: Arc<KnownHosts>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// One usable line of a known_hosts file.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    line: usize,
    marker: Marker,
    patterns: String,
    key: PublicKey,
}

/// A parsed known_hosts file, indexed by host name.
#[derive(Debug, Default)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
    /// Entries whose patterns are plain names, by name (indexes into `entries`).
    exact: HashMap<String, Vec<usize>>,
    /// Entries with wildcards, negations or hashed names: matched one by one.
    general: Vec<usize>,
}

impl KnownHosts {
    fn new(entries: Vec<Entry>) -> KnownHosts {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut general = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if e.patterns.contains(['*', '?', '!']) || e.patterns.contains("|1|") {
                general.push(i);
            } else {
                let mut names: Vec<String> =
                    e.patterns.split(',').map(str::to_ascii_lowercase).collect();
                names.dedup();
                for name in names {
                    exact.entry(name).or_default().push(i);
                }
            }
        }
        KnownHosts {
            entries,
            exact,
            general,
        }
    }

    /// The entries for `name`, in file order.
    fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let mut exact = self.exact.get(name).map_or(&[][..], Vec::as_slice).iter();
        let mut general = self
            .general
            .iter()
            .filter(move |&&i| host_matches(name, &self.entries[i].patterns));
        let (mut a, mut b) = (exact.next(), general.next());
        std::iter::from_fn(move || {
            let i = match (a, b) {
                (Some(&x), Some(&y)) if x < y => {
                    a = exact.next();
                    x
                }
                (_, Some(&y)) => {
                    b = general.next();
                    y
                }
                (Some(&x), None) => {
                    a = exact.next();
                    x
                }
                (None, None) => return None,
            };
            Some(&self.entries[i])
        })
    }
}

/// What a known_hosts file says about a host's key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The key is on record for the host.
    Known,
    /// No key of this type is on record for the host.
    Unknown,
    /// Another key of the same type is on record, at this line.
    Changed { line: usize },
    /// The key is marked `@revoked`, at this line.
    Revoked { line: usize },
}

/// The name a host is recorded under: `host`, or `[host]:port` when the port is not 22.
pub(crate) fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// The known_hosts file to use: the target's, else `~/.ssh/known_hosts`.
pub(crate) fn default_path() -> PathBuf {
    std::env::home_dir()
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(".ssh")
        .join("known_hosts")
}

/// Reads a known_hosts file (parsed once per process while it stays the same); a
/// missing file is an empty one. Lines that can't be understood are skipped, as
/// OpenSSH does.
pub(crate) fn read(path: &Path) -> std::io::Result<Arc<KnownHosts>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Arc::new(KnownHosts::default()));
        }
        Err(e) => return Err(e),
    };
    let (modified, len) = (meta.modified().ok(), meta.len());
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(c) = cache.get(path)
        && c.modified.is_some()
        && c.modified == modified
        && c.len == len
    {
        return Ok(c.hosts.clone());
    }
    let hosts = Arc::new(read_file(path)?);
    cache.insert(
        path.to_owned(),
        Cached {
            modified,
            len,
            hosts: hosts.clone(),
        },
    );
    Ok(hosts)
}

/// Reads and parses a known_hosts file, bypassing the cache.
fn read_file(path: &Path) -> std::io::Result<KnownHosts> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KnownHosts::default()),
        Err(e) => return Err(e),
    };
    Ok(parse(&String::from_utf8_lossy(&bytes)))
}

fn parse(text: &str) -> KnownHosts {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            m if m.starts_with('@') => continue,
            _ => Marker::None,
        };
        if marker != Marker::None {
            first = fields.next().unwrap_or_default();
        }
        let (Some(_key_type), Some(blob)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(key) = russh::keys::parse_public_key_base64(blob) else {
            tracing::debug!("known_hosts line {}: cannot parse the key", i + 1);
            continue;
        };
        entries.push(Entry {
            line: i + 1,
            marker,
            patterns: first.to_owned(),
            key,
        });
    }
    KnownHosts::new(entries)
}

/// Checks `key` for the host recorded as `name` (see [`lookup_name`]).
pub(crate) fn check(hosts: &KnownHosts, name: &str, key: &PublicKey) -> Verdict {
    let matching = || hosts.matching(name);
    if let Some(e) =
        matching().find(|e| e.marker == Marker::Revoked && e.key.key_data() == key.key_data())
    {
        return Verdict::Revoked { line: e.line };
    }
    let plain = || matching().filter(|e| e.marker == Marker::None);
    if plain().any(|e| e.key.key_data() == key.key_data()) {
        return Verdict::Known;
    }
    match plain().find(|e| same_type(&e.key.algorithm(), &key.algorithm())) {
        Some(e) => Verdict::Changed { line: e.line },
        None => Verdict::Unknown,
    }
}

/// The key types on record for `name`, in file order, without repeats.
pub(crate) fn known_algorithms(hosts: &KnownHosts, name: &str) -> Vec<Algorithm> {
    let mut out: Vec<Algorithm> = Vec::new();
    for e in hosts.matching(name).filter(|e| e.marker == Marker::None) {
        let alg = e.key.algorithm();
        if !out.iter().any(|a| same_type(a, &alg)) {
            out.push(alg);
        }
    }
    out
}

/// Appends `key` for `name` to the file, unless a concurrent connection did already.
/// Returns the line it is on.
pub(crate) fn learn(path: &Path, name: &str, key: &PublicKey) -> std::io::Result<Verdict> {
    let _guard = LEARN_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let hosts = read_file(path)?;
    let verdict = check(&hosts, name, key);
    if verdict != Verdict::Unknown {
        return Ok(verdict);
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let existing = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut line = format!("{name} {}\n", openssh_key(key));
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        line.insert(0, '\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(line.as_bytes())?;
    file.flush()?;
    Ok(Verdict::Known)
}

/// `ssh-ed25519 AAAA...` (no comment).
pub(crate) fn openssh_key(key: &PublicKey) -> String {
    let text = key.to_openssh().unwrap_or_default();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ssh-ed25519 SHA256:...`.
pub(crate) fn describe(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}

/// Same key type (every RSA variant counts as one).
pub(crate) fn same_type(a: &Algorithm, b: &Algorithm) -> bool {
    matches!((a, b), (Algorithm::Rsa { .. }, Algorithm::Rsa { .. })) || a == b
}

/// OpenSSH's `match_hostname`: comma-separated patterns with `*` and `?`, `!` to
/// exclude, and `|1|salt|hash` hashed names.
fn host_matches(name: &str, patterns: &str) -> bool {
    let mut found = false;
    for pattern in patterns.split(',') {
        if let Some(hashed) = pattern.strip_prefix("|1|") {
            found |= hashed_matches(name, hashed);
            continue;
        }
        let (negated, p) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if glob(p.to_ascii_lowercase().as_bytes(), name.as_bytes()) {
            if negated {
                return false;
            }
            found = true;
        }
    }
    found
}

fn hashed_matches(name: &str, hashed: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (Base64::decode_vec(salt), Base64::decode_vec(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// `*` matches any run of characters, `?` any one.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const K2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";
    const K3: &str = "AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).unwrap()
    }

    #[test]
    fn lookup_names() {
        assert_eq!(lookup_name("Web1.Example", 22), "web1.example");
        assert_eq!(lookup_name("127.0.0.1", 2222), "[127.0.0.1]:2222");
    }

    #[test]
    fn lines_are_counted_with_comments_and_blank_lines() {
        let text = format!(
            "# comment\n\n[127.0.0.1]:2222\tssh-ed25519  {K1} some comment\nweb1,web2 ssh-ed25519 {K2}\n"
        );
        let entries = parse(&text);
        assert_eq!(
            check(&entries, "[127.0.0.1]:2222", &key(K1)),
            Verdict::Known
        );
        assert_eq!(
            check(&entries, "[127.0.0.1]:2222", &key(K2)),
            Verdict::Changed { line: 3 }
        );
        assert_eq!(
            check(&entries, "web2", &key(K1)),
            Verdict::Changed { line: 4 }
        );
        assert_eq!(check(&entries, "web3", &key(K1)), Verdict::Unknown);
        assert_eq!(
            check(&entries, "127.0.0.1", &key(K1)),
            Verdict::Unknown,
            "port 22 is another host"
        );
    }

    #[test]
    fn hashed_names_wildcards_negation_and_markers() {
        // From russh's own tests: `example.com`, hashed.
        let text = format!(
            "|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= ssh-ed25519 {K3}\n\
             *.lan,!bad.lan ssh-ed25519 {K1}\n\
             @revoked * ssh-ed25519 {K2}\n\
             @cert-authority *.ca ssh-ed25519 {K2}\n"
        );
        let entries = parse(&text);
        assert_eq!(check(&entries, "example.com", &key(K3)), Verdict::Known);
        assert_eq!(check(&entries, "example.org", &key(K3)), Verdict::Unknown);
        assert_eq!(check(&entries, "db.lan", &key(K1)), Verdict::Known);
        assert_eq!(check(&entries, "bad.lan", &key(K1)), Verdict::Unknown);
        assert_eq!(
            check(&entries, "x.ca", &key(K2)),
            Verdict::Revoked { line: 3 }
        );
        assert_eq!(
            known_algorithms(&entries, "db.lan"),
            vec![Algorithm::Ed25519]
        );
        assert!(known_algorithms(&entries, "x.ca").is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"web?.example", b"web1.example"));
        assert!(glob(b"*.example", b"a.b.example"));
        assert!(!glob(b"*.example", b"example"));
        assert!(glob(b"a*b*c", b"aXbYbZc"));
        assert!(!glob(b"a*b*c", b"aXbYbZ"));
    }

    #[test]
    fn learning_appends_once_and_adds_a_missing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("known_hosts");
        assert_eq!(learn(&path, "[h]:2", &key(K1)).unwrap(), Verdict::Known);
        assert_eq!(learn(&path, "[h]:2", &key(K1)).unwrap(), Verdict::Known);
        assert_eq!(
            learn(&path, "[h]:2", &key(K2)).unwrap(),
            Verdict::Changed { line: 1 }
        );
        let mut text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("[h]:2 ssh-ed25519 {K1}\n"));
        text.pop();
        std::fs::write(&path, text).unwrap();
        learn(&path, "other", &key(K2)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("[h]:2 ssh-ed25519 {K1}\nother ssh-ed25519 {K2}\n")
        );
    }

    #[test]
    fn exact_and_pattern_entries_keep_file_order() {
        let text =
            format!("*.lan ssh-ed25519 {K2}\ndb.lan ssh-ed25519 {K3}\nDB.lan,x ssh-ed25519 {K1}\n");
        let hosts = parse(&text);
        let lines: Vec<usize> = hosts.matching("db.lan").map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 2, 3]);
        assert_eq!(
            check(&hosts, "db.lan", &key(K1)),
            Verdict::Known,
            "any matching line may hold the key"
        );
        let hosts = parse(&format!(
            "db.lan ssh-ed25519 {K3}\n*.lan ssh-ed25519 {K2}\n"
        ));
        assert_eq!(
            check(&hosts, "db.lan", &key(K1)),
            Verdict::Changed { line: 1 },
            "the first line of the type is reported"
        );
        assert_eq!(hosts.matching("x").count(), 0);
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        assert!(read(&path).unwrap().entries.is_empty(), "missing is empty");
        std::fs::write(&path, format!("a ssh-ed25519 {K1}\n")).unwrap();
        let first = read(&path).unwrap();
        assert_eq!(check(&first, "a", &key(K1)), Verdict::Known);
        assert!(Arc::ptr_eq(&first, &read(&path).unwrap()), "parsed once");
        learn(&path, "b", &key(K2)).unwrap();
        let second = read(&path).unwrap();
        assert_eq!(check(&second, "b", &key(K2)), Verdict::Known);
        assert_eq!(check(&first, "b", &key(K2)), Verdict::Unknown);
    }
}
