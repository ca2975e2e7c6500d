//! Names: the temporary file's beside the target, parent directories, random tags.

/// The temporary name beside `path`: `DIR/.NAME.minke-TAG.part`, the name cut so
/// the whole stays within 255 bytes. `None` when `path` names no file (`/tmp/`).
pub(super) fn temp_name(path: &str, tag: &str) -> Option<String> {
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, path),
    };
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    let mut cut = name.len().min(200);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let temp = format!(".{}.minke-{tag}.part", &name[..cut]);
    Some(match dir {
        Some(dir) => format!("{dir}/{temp}"),
        None => temp,
    })
}

/// The directory holding `path`: `/` for `/x`, `.` for a bare name.
pub(super) fn parent_dir(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((dir, _)) => dir,
        None => ".",
    }
}

/// 16 random hex digits, to keep temporary names apart.
pub(super) fn random_tag() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)).to_be_bytes();
    }
    hex(&bytes)
}

/// Lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use ring::digest;

    use super::*;

    #[test]
    fn temporary_names_sit_beside_the_target() {
        assert_eq!(
            temp_name("/srv/app/app.tar", "ab12").as_deref(),
            Some("/srv/app/.app.tar.minke-ab12.part")
        );
        assert_eq!(temp_name("/x", "t").as_deref(), Some("/.x.minke-t.part"));
        assert_eq!(
            temp_name("notes.txt", "t").as_deref(),
            Some(".notes.txt.minke-t.part")
        );
        assert_eq!(temp_name("/tmp/", "t"), None);
        assert_eq!(temp_name("/tmp/..", "t"), None);
        assert_eq!(temp_name("", "t"), None);
        let long = format!("/d/{}", "é".repeat(150));
        let name = temp_name(&long, "0123456789abcdef").unwrap();
        let file = name.rsplit('/').next().unwrap();
        assert!(file.len() <= 255, "{}", file.len());
        assert!(file.ends_with(".minke-0123456789abcdef.part"));
    }

    #[test]
    fn parents() {
        assert_eq!(parent_dir("/x"), "/");
        assert_eq!(parent_dir("/a/b/c"), "/a/b");
        assert_eq!(parent_dir("c"), ".");
    }

    #[test]
    fn hex_and_tags() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let (a, b) = (random_tag(), random_tag());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        let empty = digest::digest(&digest::SHA256, b"");
        assert_eq!(
            hex(empty.as_ref()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
