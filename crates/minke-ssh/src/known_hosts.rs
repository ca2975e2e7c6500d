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
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::{Algorithm, Certificate, HashAlg, PublicKey};

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

/// The key on record at `line` (from 1), if that line holds one.
pub(crate) fn key_at(hosts: &KnownHosts, line: usize) -> Option<&PublicKey> {
    hosts
        .entries
        .iter()
        .find(|e| e.line == line)
        .map(|e| &e.key)
}

/// What known_hosts holds for a host, to choose the host key algorithms to offer.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct HostKeyTypes {
    /// The types of the plain keys on record, in file order, without repeats.
    pub(crate) keys: Vec<Algorithm>,
    /// The types of the `@cert-authority` keys trusted for the host, in file order,
    /// without repeats; empty when no authority is.
    pub(crate) authorities: Vec<Algorithm>,
}

/// The key types on record for `name`, and those of the authorities trusted for it.
pub(crate) fn known_algorithms(hosts: &KnownHosts, name: &str) -> HostKeyTypes {
    let mut out = HostKeyTypes::default();
    for e in hosts.matching(name) {
        let list = match e.marker {
            Marker::None => &mut out.keys,
            Marker::CertAuthority => &mut out.authorities,
            Marker::Revoked => continue,
        };
        let alg = e.key.algorithm();
        if !list.iter().any(|a| same_type(a, &alg)) {
            list.push(alg);
        }
    }
    out
}

/// The name a host certificate must list among its principals: the host as
/// connected to, the lookup name without brackets and port (OpenSSH checks the host
/// name it was given, lowercased, not the `[host]:port` form).
pub(crate) fn certificate_name(lookup: &str) -> &str {
    lookup
        .strip_prefix('[')
        .and_then(|rest| rest.rsplit_once("]:"))
        .map_or(lookup, |(host, _port)| host)
}

/// What known_hosts says about a host certificate.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CertVerdict {
    /// Signed by the authority trusted at this line, and valid for the host now.
    Trusted { line: usize },
    /// Signed by the authority trusted at `line`, but not valid for the host now.
    Invalid { line: usize, problem: CertProblem },
    /// The certified key is marked `@revoked`, at this line.
    KeyRevoked { line: usize },
    /// The authority's key is marked `@revoked`, at this line.
    AuthorityRevoked { line: usize },
    /// No `@cert-authority` line for the host holds the key that signed it.
    UnknownAuthority,
}

/// Why a host certificate from a trusted authority is not valid (the checks of
/// OpenSSH's client, in `check_host_cert`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CertProblem {
    /// A user certificate.
    NotHost,
    /// Valid from this Unix time on.
    NotYetValid { valid_after: u64 },
    /// Valid before this Unix time only.
    Expired { valid_before: u64 },
    /// The host's name is not among these principals.
    Principal { principals: Vec<String> },
    /// Critical options, with these names (none is defined for host certificates).
    CriticalOptions { names: Vec<String> },
    /// The authority's signature does not verify.
    Signature,
    /// The authority signed with an algorithm OpenSSH's default `CASignatureAlgorithms`
    /// leaves out (`ssh-rsa`, SHA-1; `ssh-dss`).
    WeakSignature { algorithm: String },
}

/// Checks a host certificate presented by the host recorded as `lookup` (see
/// [`lookup_name`]), at Unix time `now`, as OpenSSH does: revocation of the
/// certified key or of the authority first, then an `@cert-authority` line for the
/// host holding the signing key, then the certificate's type, validity period,
/// principals (an empty list is valid for any host, as OpenSSH's client accepts it),
/// critical options and signature.
pub(crate) fn check_certificate(
    hosts: &KnownHosts,
    lookup: &str,
    cert: &Certificate,
    now: u64,
) -> CertVerdict {
    let revoked = || {
        hosts
            .matching(lookup)
            .filter(|e| e.marker == Marker::Revoked)
    };
    if let Some(e) = revoked().find(|e| e.key.key_data() == cert.public_key()) {
        return CertVerdict::KeyRevoked { line: e.line };
    }
    if let Some(e) = revoked().find(|e| e.key.key_data() == cert.signature_key()) {
        return CertVerdict::AuthorityRevoked { line: e.line };
    }
    let Some(authority) = hosts
        .matching(lookup)
        .find(|e| e.marker == Marker::CertAuthority && e.key.key_data() == cert.signature_key())
    else {
        return CertVerdict::UnknownAuthority;
    };
    let line = authority.line;
    match certificate_problem(cert, &authority.key, certificate_name(lookup), now) {
        None => CertVerdict::Trusted { line },
        Some(problem) => CertVerdict::Invalid { line, problem },
    }
}

fn certificate_problem(
    cert: &Certificate,
    authority: &PublicKey,
    name: &str,
    now: u64,
) -> Option<CertProblem> {
    if cert.cert_type() != CertType::Host {
        return Some(CertProblem::NotHost);
    }
    if now < cert.valid_after() {
        return Some(CertProblem::NotYetValid {
            valid_after: cert.valid_after(),
        });
    }
    if now >= cert.valid_before() {
        return Some(CertProblem::Expired {
            valid_before: cert.valid_before(),
        });
    }
    let principals = cert.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p == name) {
        return Some(CertProblem::Principal {
            principals: principals.to_vec(),
        });
    }
    if !cert.critical_options().is_empty() {
        return Some(CertProblem::CriticalOptions {
            names: cert.critical_options().keys().cloned().collect(),
        });
    }
    // The period was checked above, with the same `now`: failing here means the
    // signature does not verify with the authority's key.
    let fingerprint = authority.fingerprint(HashAlg::Sha256);
    if cert.validate_at(now, [&fingerprint]).is_err() {
        return Some(CertProblem::Signature);
    }
    match cert.signature().algorithm() {
        alg @ (Algorithm::Rsa { hash: None } | Algorithm::Dsa) => {
            Some(CertProblem::WeakSignature {
                algorithm: alg.as_str().to_owned(),
            })
        }
        _ => None,
    }
}

/// A certificate's Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(secs: u64) -> String {
    match i64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000))
    {
        Some(us) => format!("{} UTC", minke_core::time::format_utc(us)),
        None => "the end of time".to_owned(),
    }
}

/// `ED25519 host certificate, key id `web1``: what a certificate is, without its key.
pub(crate) fn describe_certificate(cert: &Certificate) -> String {
    let kind = match cert.algorithm() {
        Algorithm::Ed25519 => "ED25519",
        Algorithm::Ecdsa { .. } => "ECDSA",
        Algorithm::Rsa { .. } => "RSA",
        Algorithm::Dsa => "DSA",
        Algorithm::SkEd25519 => "ED25519-SK",
        Algorithm::SkEcdsaSha2NistP256 => "ECDSA-SK",
        _ => "other",
    };
    let role = if cert.cert_type() == CertType::Host {
        "host"
    } else {
        "user"
    };
    format!("{kind} {role} certificate, key id `{}`", cert.key_id())
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
            HostKeyTypes {
                keys: vec![Algorithm::Ed25519],
                authorities: Vec::new(),
            }
        );
        assert_eq!(
            known_algorithms(&entries, "x.ca"),
            HostKeyTypes {
                keys: Vec::new(),
                authorities: vec![Algorithm::Ed25519],
            }
        );
    }

    // An authority, a host key, and certificates it signed with `ssh-keygen -s`.
    const CA: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIPU9d4RqX0BdMjQ6e1LfOHOYaV0NVtM9/mwNETLIhzhd";
    const HOST: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIAR4BpKapkMsIia2xExg3HkPDMC9/rcOiHW/6FvUm4N4";
    /// `-h -I web1-ok -n web1,10.0.0.1 -V always:forever`.
    const CERT_OK: &str = "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIFXha6JMuQ+kplcjMSI4oiJevwHxPW4wGkmAiGFXDaHsAAAAIAR4BpKapkMsIia2xExg3HkPDMC9/rcOiHW/6FvUm4N4AAAAAAAAAAAAAAACAAAAB3dlYjEtb2sAAAAUAAAABHdlYjEAAAAIMTAuMC4wLjEAAAAAAAAAAP//////////AAAAAAAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACD1PXeEal9AXTI0OntS3zhzmGldDVbTPf5sDREyyIc4XQAAAFMAAAALc3NoLWVkMjU1MTkAAABADzKojztmrAPcZTn5rIaIQXc4KQqWGZCI8NRw0i4A1JmQf7kTjahONcJkby4zeDQZ/8nO4a77UK7iV8R9G15gBQ==";
    /// `-h -I web1-old -n web1 -V 20200101:20200102` (local time of the signer: UTC).
    const CERT_OLD: &str = "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIGjBBGrhaoxg/iqxBBKi3SYSygahowZFk7YHjIWAe7QiAAAAIAR4BpKapkMsIia2xExg3HkPDMC9/rcOiHW/6FvUm4N4AAAAAAAAAAAAAAACAAAACHdlYjEtb2xkAAAACAAAAAR3ZWIxAAAAAF4L4QAAAAAAXg0ygAAAAAAAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAg9T13hGpfQF0yNDp7Ut84c5hpXQ1W0z3+bA0RMsiHOF0AAABTAAAAC3NzaC1lZDI1NTE5AAAAQOHhJAhrU5VGynUM+HJkQOAMjK4U1ckT4Wl2KLrQr1lGaIU795huqeMbGshbwf0Nc4z4Qi9kyKq0VhMAd3tyPQc=";
    /// `-h -I any -V always:forever`: no principals.
    const CERT_ANY: &str = "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIGd7I/d/5ypDfSNfySI7btYvqg2wXNPcOK5+i3oyXb3rAAAAIAR4BpKapkMsIia2xExg3HkPDMC9/rcOiHW/6FvUm4N4AAAAAAAAAAAAAAACAAAAA2FueQAAAAAAAAAAAAAAAP//////////AAAAAAAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACD1PXeEal9AXTI0OntS3zhzmGldDVbTPf5sDREyyIc4XQAAAFMAAAALc3NoLWVkMjU1MTkAAABAYUKCZEFN/+pMbtOjpHne3p9fchWwPGLBsrh5/t5Hu1FNJPCtHZDVeBH1cdov3R72JG7EnEN5mYu/0wtMLy/JBg==";
    /// `-I web1-user -n web1 -V always:forever`: a user certificate.
    const CERT_USER: &str = "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIPrbCBHcppV+i2o9wVq+U0oxYsp+ng4PutI7ccscQl5mAAAAIAR4BpKapkMsIia2xExg3HkPDMC9/rcOiHW/6FvUm4N4AAAAAAAAAAAAAAABAAAACXdlYjEtdXNlcgAAAAgAAAAEd2ViMQAAAAAAAAAA//////////8AAAAAAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACD1PXeEal9AXTI0OntS3zhzmGldDVbTPf5sDREyyIc4XQAAAFMAAAALc3NoLWVkMjU1MTkAAABAcPswWm7ug8UtfrzFT+jQmkEb51CM1smD7vjLS2+w0dt38hCkvMBOiym4iYj7xxPIZ76y8QTCJAqDfL8hIHNRDA==";
    /// 2020-01-01 12:00 UTC, within `CERT_OLD`'s period.
    const IN_2020: u64 = 1_577_880_000;

    fn cert(b64: &str) -> Certificate {
        Certificate::from_bytes(&Base64::decode_vec(b64).unwrap()).unwrap()
    }

    #[test]
    fn certificate_names_drop_brackets_and_port() {
        assert_eq!(certificate_name("[127.0.0.1]:2222"), "127.0.0.1");
        assert_eq!(certificate_name("[::1]:2222"), "::1");
        assert_eq!(certificate_name("web1.example"), "web1.example");
        assert_eq!(certificate_name("::1"), "::1");
    }

    #[test]
    fn host_certificates_from_a_trusted_authority() {
        let now = 1_800_000_000;
        let hosts = parse(&format!(
            "web1 ssh-ed25519 {K1}\n@cert-authority web*,[10.0.0.1]:* ssh-ed25519 {CA}\n"
        ));
        let ok = cert(CERT_OK);
        assert_eq!(
            check_certificate(&hosts, "web1", &ok, now),
            CertVerdict::Trusted { line: 2 }
        );
        assert_eq!(
            check_certificate(&hosts, "[10.0.0.1]:2222", &ok, now),
            CertVerdict::Trusted { line: 2 },
            "the principal is the address without brackets and port"
        );
        assert_eq!(
            check_certificate(&hosts, "web2", &ok, now),
            CertVerdict::Invalid {
                line: 2,
                problem: CertProblem::Principal {
                    principals: vec!["web1".into(), "10.0.0.1".into()]
                }
            }
        );
        assert_eq!(
            check_certificate(&hosts, "db1", &ok, now),
            CertVerdict::UnknownAuthority,
            "no authority for that host"
        );
        assert_eq!(
            check_certificate(&hosts, "web2", &cert(CERT_ANY), now),
            CertVerdict::Trusted { line: 2 },
            "no principals: any host, as OpenSSH's client accepts"
        );
        assert_eq!(
            check_certificate(&hosts, "web1", &cert(CERT_USER), now),
            CertVerdict::Invalid {
                line: 2,
                problem: CertProblem::NotHost
            }
        );
        let old = cert(CERT_OLD);
        assert_eq!(
            check_certificate(&hosts, "web1", &old, IN_2020),
            CertVerdict::Trusted { line: 2 }
        );
        assert_eq!(
            check_certificate(&hosts, "web1", &old, now),
            CertVerdict::Invalid {
                line: 2,
                problem: CertProblem::Expired {
                    valid_before: old.valid_before()
                }
            }
        );
        assert_eq!(
            check_certificate(&hosts, "web1", &old, old.valid_after() - 1),
            CertVerdict::Invalid {
                line: 2,
                problem: CertProblem::NotYetValid {
                    valid_after: old.valid_after()
                }
            }
        );
        assert_eq!(utc(old.valid_before()), "2020-01-02 00:00:00 UTC");
        assert_eq!(
            describe_certificate(&ok),
            "ED25519 host certificate, key id `web1-ok`"
        );
    }

    #[test]
    fn a_tampered_certificate_fails_its_signature() {
        let mut bytes = Base64::decode_vec(CERT_OK).unwrap();
        let at = bytes
            .windows(7)
            .position(|w| w == b"web1-ok")
            .expect("the key id");
        bytes[at + 5..at + 7].copy_from_slice(b"ko");
        let forged = Certificate::from_bytes(&bytes).unwrap();
        let hosts = parse(&format!("@cert-authority * ssh-ed25519 {CA}\n"));
        assert_eq!(
            check_certificate(&hosts, "web1", &forged, 1_800_000_000),
            CertVerdict::Invalid {
                line: 1,
                problem: CertProblem::Signature
            }
        );
    }

    #[test]
    fn revoked_certified_keys_and_authorities() {
        let now = 1_800_000_000;
        let ok = cert(CERT_OK);
        let hosts = parse(&format!(
            "@cert-authority * ssh-ed25519 {CA}\n@revoked web1 ssh-ed25519 {HOST}\n"
        ));
        assert_eq!(
            check_certificate(&hosts, "web1", &ok, now),
            CertVerdict::KeyRevoked { line: 2 }
        );
        assert_eq!(
            check_certificate(&hosts, "10.0.0.1", &ok, now),
            CertVerdict::Trusted { line: 1 },
            "@revoked applies to the hosts it names"
        );
        let hosts = parse(&format!(
            "@cert-authority * ssh-ed25519 {CA}\n@revoked * ssh-ed25519 {CA}\n"
        ));
        assert_eq!(
            check_certificate(&hosts, "web1", &ok, now),
            CertVerdict::AuthorityRevoked { line: 2 }
        );
        let hosts = parse(&format!(
            "@cert-authority * ssh-ed25519 {K2}\nweb1 ssh-ed25519 {HOST}\n"
        ));
        assert_eq!(
            check_certificate(&hosts, "web1", &ok, now),
            CertVerdict::UnknownAuthority,
            "another authority"
        );
        assert_eq!(
            check(&hosts, "web1", &key(HOST)),
            Verdict::Known,
            "the plain key is on record, for the fallback"
        );
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
