//! Sealed secrets: session secrets encrypted for the workers that execute runs.
//!
//! A run submitted to a queue is executed by another process, which needs the run's
//! secret parameters. They are stored sealed with a [`SecretKey`] that submitters and
//! workers share through the environment variable `MINKE_SECRET_KEY`, and bound to a
//! context (the associated data, e.g. `minke run 42 params`) so that a value sealed for
//! one run can't be moved to another.
//!
//! The algorithm is XChaCha20-Poly1305 with a random 24-byte nonce per call. Sealed
//! text is printable and versioned:
//!
//! ```text
//! v1.<key fingerprint: 8 hex digits>.<base64url, unpadded: nonce || ciphertext || tag>
//! ```
//!
//! The fingerprint lets a worker with another key say which key it would need, instead
//! of a bare "does not open".
//!
//! ```
//! use minke_core::SecretKey;
//!
//! let key = SecretKey::parse(&SecretKey::generate())?;
//! let sealed = key.seal(b"hunter2", b"minke run 42 params");
//! assert!(sealed.starts_with("v1."));
//! let plain = key.open(&sealed, b"minke run 42 params")?;
//! assert_eq!(plain.as_slice(), b"hunter2");
//! # Ok::<(), minke_core::SealError>(())
//! ```

use std::ffi::OsString;
use std::fmt;

use base64ct::{Base64Unpadded, Base64UrlUnpadded, Encoding};
use chacha20poly1305::{AeadInOut, Key, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub use crate::error::SealError;

/// Bytes in a key.
const KEY_LEN: usize = 32;
/// Characters of a key written in hex.
const HEX_LEN: usize = 2 * KEY_LEN;
/// Characters of a key written in base64 without padding.
const BASE64_LEN: usize = 43;
/// Bytes of the random nonce at the start of sealed data.
const NONCE_LEN: usize = 24;
/// Bytes of the authentication tag at the end of sealed data.
const TAG_LEN: usize = 16;
/// The version prefix of the one format this build writes and reads.
const VERSION: &str = "v1";
/// Hex digits of a fingerprint.
const FINGERPRINT_LEN: usize = 8;
/// Hashed before the key for its fingerprint, so that the fingerprint is not a plain
/// hash of the key that another system might also publish.
const FINGERPRINT_LABEL: &[u8] = b"minke secret key fingerprint\0";

/// The key that seals session secrets for workers (`MINKE_SECRET_KEY`).
///
/// 32 random bytes, kept on the heap and zeroized on drop. Neither `Debug` nor any
/// error shows it: `Debug` prints its [fingerprint](SecretKey::fingerprint).
///
/// ```
/// use minke_core::SecretKey;
///
/// let key = SecretKey::parse(&"00".repeat(32))?;
/// assert_eq!(format!("{key:?}"), format!("SecretKey({})", key.fingerprint()));
/// # Ok::<(), minke_core::SealError>(())
/// ```
pub struct SecretKey(Box<[u8; KEY_LEN]>);

impl SecretKey {
    /// The environment variable [`from_env`](SecretKey::from_env) reads.
    ///
    /// ```
    /// assert_eq!(minke_core::SecretKey::ENV, "MINKE_SECRET_KEY");
    /// ```
    pub const ENV: &'static str = "MINKE_SECRET_KEY";

    /// Parses a key: 32 bytes written as 64 hex digits, or as base64 (standard or
    /// URL-safe, padded or not). White space around it is ignored.
    ///
    /// Errors name what is wrong (length, characters) and never contain the text or any
    /// part of it.
    ///
    /// ```
    /// use minke_core::{SealError, SecretKey};
    ///
    /// let hex = SecretKey::parse(&"ab".repeat(32))?;
    /// let base64 = SecretKey::parse("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=")?;
    /// assert_eq!(hex.fingerprint(), base64.fingerprint());
    ///
    /// assert_eq!(
    ///     SecretKey::parse(&"ab".repeat(31)).unwrap_err(),
    ///     SealError::KeyLength { found: 62 },
    /// );
    /// # Ok::<(), SealError>(())
    /// ```
    pub fn parse(text: &str) -> Result<SecretKey, SealError> {
        let mut key = SecretKey(Box::new([0; KEY_LEN]));
        decode_key(text.trim(), &mut key.0)?;
        Ok(key)
    }

    /// `MINKE_SECRET_KEY` from the environment: `Ok(None)` when unset or empty, an error
    /// naming the variable when set but invalid.
    ///
    /// ```
    /// // A worker without a key can't take runs that have secret parameters.
    /// let key = minke_core::SecretKey::from_env()?;
    /// let can_open_secrets = key.is_some();
    /// # let _ = can_open_secrets;
    /// # Ok::<(), minke_core::SealError>(())
    /// ```
    pub fn from_env() -> Result<Option<SecretKey>, SealError> {
        Self::from_env_value(std::env::var_os(Self::ENV))
    }

    /// [`from_env`](SecretKey::from_env) on the variable's value, `None` when unset.
    fn from_env_value(value: Option<OsString>) -> Result<Option<SecretKey>, SealError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let bytes = Zeroizing::new(value.into_encoded_bytes());
        let in_env = |problem: SealError| SealError::Env {
            variable: Self::ENV,
            source: Box::new(problem),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| in_env(SealError::KeyNotText))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        Self::parse(text).map(Some).map_err(in_env)
    }

    /// A new random key, as the text [`parse`](SecretKey::parse) reads (64 hex digits).
    ///
    /// # Panics
    ///
    /// When the operating system's random number generator fails.
    ///
    /// ```
    /// use minke_core::SecretKey;
    ///
    /// let text = SecretKey::generate();
    /// assert_eq!(text.len(), 64);
    /// assert!(SecretKey::parse(&text).is_ok());
    /// assert_ne!(text, SecretKey::generate());
    /// ```
    pub fn generate() -> String {
        let mut key = SecretKey(Box::new([0; KEY_LEN]));
        fill_random(&mut key.0[..]);
        base16ct::lower::encode_string(&key.0[..])
    }

    /// Seals `plain` bound to `context` (the associated data, e.g. `minke run 42
    /// params`), with a random nonce each call.
    ///
    /// Returns printable text: `v1.`, the key's fingerprint, `.`, then the nonce,
    /// ciphertext and tag in unpadded base64url.
    ///
    /// # Panics
    ///
    /// When the operating system's random number generator fails, or `plain` is over
    /// 256 GiB (the most XChaCha20-Poly1305 seals at once).
    ///
    /// ```
    /// use minke_core::SecretKey;
    ///
    /// let key = SecretKey::parse(&SecretKey::generate())?;
    /// let first = key.seal(b"hunter2", b"minke run 42 params");
    /// let second = key.seal(b"hunter2", b"minke run 42 params");
    /// assert_ne!(first, second);
    /// assert!(first.starts_with(&format!("v1.{}.", key.fingerprint())));
    /// # Ok::<(), minke_core::SealError>(())
    /// ```
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> String {
        let mut nonce = [0; NONCE_LEN];
        fill_random(&mut nonce);
        let mut body = Zeroizing::new(Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN));
        body.extend_from_slice(&nonce);
        body.extend_from_slice(plain);
        let tag = self
            .cipher()
            .encrypt_inout_detached((&nonce).into(), context, (&mut body[NONCE_LEN..]).into())
            .expect("XChaCha20-Poly1305 seals up to 256 GiB at once");
        body.extend_from_slice(&tag);
        format!(
            "{VERSION}.{}.{}",
            self.fingerprint(),
            Base64UrlUnpadded::encode_string(&body)
        )
    }

    /// Opens what [`seal`](SecretKey::seal) made with the same key and context.
    ///
    /// A wrong key ([`SealError::WrongKey`]), another context or tampering
    /// ([`SealError::Rejected`]), an unknown version ([`SealError::UnknownVersion`],
    /// [`SealError::NotSealed`]), bad encoding ([`SealError::Encoding`]) or cut-off text
    /// ([`SealError::Truncated`]) are errors, never a panic.
    ///
    /// ```
    /// use minke_core::{SealError, SecretKey};
    ///
    /// let key = SecretKey::parse(&SecretKey::generate())?;
    /// let sealed = key.seal(b"hunter2", b"minke run 42 params");
    /// assert_eq!(key.open(&sealed, b"minke run 42 params")?.as_slice(), b"hunter2");
    /// assert_eq!(
    ///     key.open(&sealed, b"minke run 43 params").unwrap_err(),
    ///     SealError::Rejected,
    /// );
    /// # Ok::<(), SealError>(())
    /// ```
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (fingerprint, encoded) = split_sealed(sealed)?;
        let yours = self.fingerprint();
        if fingerprint != yours {
            return Err(SealError::WrongKey {
                sealed_with: fingerprint.to_owned(),
                yours,
            });
        }
        let mut body = Zeroizing::new(Base64UrlUnpadded::decode_vec(encoded).map_err(|_| {
            SealError::Encoding {
                problem: "the text after the key fingerprint is not unpadded base64url",
            }
        })?);
        self.decrypt(&mut body, context)
    }

    /// Decrypts `nonce || ciphertext || tag` in place and returns a copy of the plain text.
    fn decrypt(&self, body: &mut [u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let min = NONCE_LEN + TAG_LEN;
        if body.len() < min {
            return Err(SealError::Truncated {
                found: body.len(),
                min,
            });
        }
        let (nonce, rest) = body.split_at_mut(NONCE_LEN);
        let (message, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let nonce = XNonce::try_from(&*nonce).map_err(|_| SealError::Rejected)?;
        let tag = Tag::try_from(&*tag).map_err(|_| SealError::Rejected)?;
        self.cipher()
            .decrypt_inout_detached(&nonce, context, (&mut *message).into(), &tag)
            .map_err(|_| SealError::Rejected)?;
        Ok(Zeroizing::new(message.to_vec()))
    }

    /// A short non-secret fingerprint of the key: the first 8 hex digits of the SHA-256
    /// of a fixed label and the key. For "sealed with key abcd1234, yours is ef567890".
    ///
    /// ```
    /// use minke_core::SecretKey;
    ///
    /// let key = SecretKey::parse(&"00".repeat(32))?;
    /// assert_eq!(key.fingerprint().len(), 8);
    /// assert_eq!(key.fingerprint(), SecretKey::parse(&"00".repeat(32))?.fingerprint());
    /// assert_ne!(key.fingerprint(), SecretKey::parse(&"01".repeat(32))?.fingerprint());
    /// # Ok::<(), minke_core::SealError>(())
    /// ```
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_LABEL)
            .chain_update(&self.0[..])
            .finalize();
        base16ct::lower::encode_string(&digest[..FINGERPRINT_LEN / 2])
    }

    /// The cipher for this key; it wipes its copy of the key when dropped.
    fn cipher(&self) -> XChaCha20Poly1305 {
        let key: &Key = (&*self.0).into();
        XChaCha20Poly1305::new(key)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretKey")
            .field(&format_args!("{}", self.fingerprint()))
            .finish()
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

/// Reads key text (already trimmed) into `out`, choosing the form by its length.
fn decode_key(text: &str, out: &mut [u8; KEY_LEN]) -> Result<(), SealError> {
    let unpadded = text.trim_end_matches('=');
    match (unpadded.len(), text.len() - unpadded.len()) {
        (HEX_LEN, 0) => base16ct::mixed::decode(text, out)
            .map(drop)
            .map_err(|_| SealError::KeyHex),
        (BASE64_LEN, 0 | 1) => decode_base64_key(unpadded, out),
        _ => Err(SealError::KeyLength {
            found: text.chars().count(),
        }),
    }
}

/// Reads 43 characters of unpadded base64, standard or URL-safe, into `out`.
fn decode_base64_key(text: &str, out: &mut [u8; KEY_LEN]) -> Result<(), SealError> {
    let decoded = if text.contains(['-', '_']) {
        Base64UrlUnpadded::decode(text, out)
    } else {
        Base64Unpadded::decode(text, out)
    };
    decoded.map(drop).map_err(|_| SealError::KeyBase64)
}

/// Splits sealed text into the key fingerprint and the encoded body, checking the
/// version prefix.
fn split_sealed(sealed: &str) -> Result<(&str, &str), SealError> {
    let (version, rest) = sealed.split_once('.').ok_or(SealError::NotSealed)?;
    let looks_like_version = version.len() >= 2
        && version.len() <= 5
        && version.starts_with('v')
        && version[1..].bytes().all(|b| b.is_ascii_digit());
    if !looks_like_version {
        return Err(SealError::NotSealed);
    }
    if version != VERSION {
        return Err(SealError::UnknownVersion {
            version: version.to_owned(),
        });
    }
    let (fingerprint, encoded) = rest
        .split_once('.')
        .filter(|(fingerprint, _)| is_fingerprint(fingerprint))
        .ok_or(SealError::Encoding {
            problem: "the key fingerprint after `v1.` is missing or malformed",
        })?;
    Ok((fingerprint, encoded))
}

/// Whether `text` has the form of [`SecretKey::fingerprint`]: 8 lowercase hex digits.
fn is_fingerprint(text: &str) -> bool {
    text.len() == FINGERPRINT_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Fills `buf` from the operating system's random number generator.
fn fill_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random number generator failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: &[u8] = b"minke run 42 params";

    fn key(byte: u8) -> SecretKey {
        SecretKey::parse(&format!("{byte:02x}").repeat(KEY_LEN)).unwrap()
    }

    /// Sealed text with its body decoded, changed by `change`, and encoded again.
    fn altered(sealed: &str, change: impl FnOnce(&mut Vec<u8>)) -> String {
        let (head, encoded) = sealed.rsplit_once('.').unwrap();
        let mut body = Base64UrlUnpadded::decode_vec(encoded).unwrap();
        change(&mut body);
        format!("{head}.{}", Base64UrlUnpadded::encode_string(&body))
    }

    #[test]
    fn round_trip() {
        let key = key(7);
        for plain in [&b""[..], b"hunter2", &[0xff; 1000]] {
            let sealed = key.seal(plain, CONTEXT);
            assert_eq!(key.open(&sealed, CONTEXT).unwrap().as_slice(), plain);
        }
    }

    #[test]
    fn sealed_text_is_printable_and_names_the_key() {
        let key = key(7);
        let sealed = key.seal(b"hunter2", CONTEXT);
        assert!(sealed.starts_with(&format!("v1.{}.", key.fingerprint())));
        assert!(sealed.bytes().all(|b| b.is_ascii_graphic()), "{sealed}");
        assert!(!sealed.contains("hunter2"));
    }

    #[test]
    fn each_seal_gives_different_text() {
        let key = key(7);
        let first = key.seal(b"hunter2", CONTEXT);
        let second = key.seal(b"hunter2", CONTEXT);
        assert_ne!(first, second);
        assert_eq!(key.open(&second, CONTEXT).unwrap().as_slice(), b"hunter2");
    }

    #[test]
    fn another_key_is_named_by_fingerprint() {
        let sealed = key(7).seal(b"hunter2", CONTEXT);
        let err = key(8).open(&sealed, CONTEXT).unwrap_err();
        assert_eq!(
            err,
            SealError::WrongKey {
                sealed_with: key(7).fingerprint(),
                yours: key(8).fingerprint(),
            }
        );
        assert!(err.to_string().contains(&key(7).fingerprint()), "{err}");
    }

    #[test]
    fn another_key_with_a_forged_fingerprint_is_rejected() {
        let sealed = key(7).seal(b"hunter2", CONTEXT);
        let forged = sealed.replacen(&key(7).fingerprint(), &key(8).fingerprint(), 1);
        assert_eq!(
            key(8).open(&forged, CONTEXT).unwrap_err(),
            SealError::Rejected
        );
    }

    #[test]
    fn another_context_is_rejected() {
        let key = key(7);
        let sealed = key.seal(b"hunter2", CONTEXT);
        for context in [&b"minke run 43 params"[..], b"", b"minke run 42 params "] {
            assert_eq!(key.open(&sealed, context).unwrap_err(), SealError::Rejected);
        }
    }

    #[test]
    fn a_flipped_byte_anywhere_is_rejected() {
        let key = key(7);
        let sealed = key.seal(b"hunter2", CONTEXT);
        let len = NONCE_LEN + b"hunter2".len() + TAG_LEN;
        for at in 0..len {
            let tampered = altered(&sealed, |body| body[at] ^= 0x01);
            assert_eq!(
                key.open(&tampered, CONTEXT).unwrap_err(),
                SealError::Rejected,
                "byte {at}"
            );
        }
    }

    #[test]
    fn truncated_text_is_an_error() {
        let key = key(7);
        let sealed = key.seal(b"hunter2", CONTEXT);
        let short = altered(&sealed, |body| body.truncate(NONCE_LEN + TAG_LEN - 1));
        assert_eq!(
            key.open(&short, CONTEXT).unwrap_err(),
            SealError::Truncated {
                found: NONCE_LEN + TAG_LEN - 1,
                min: NONCE_LEN + TAG_LEN,
            }
        );
        let head = sealed.rsplit_once('.').unwrap().0;
        assert_eq!(
            key.open(&format!("{head}."), CONTEXT).unwrap_err(),
            SealError::Truncated {
                found: 0,
                min: NONCE_LEN + TAG_LEN
            }
        );
        let cut_tag = altered(&sealed, |body| body.truncate(body.len() - 1));
        assert_eq!(
            key.open(&cut_tag, CONTEXT).unwrap_err(),
            SealError::Rejected
        );
        for cut in 1..sealed.len() {
            assert!(key.open(&sealed[..sealed.len() - cut], CONTEXT).is_err());
        }
    }

    #[test]
    fn unknown_versions_and_unsealed_text_are_named() {
        let key = key(7);
        let sealed = key.seal(b"hunter2", CONTEXT);
        let v2 = sealed.replacen("v1.", "v2.", 1);
        let err = key.open(&v2, CONTEXT).unwrap_err();
        assert_eq!(
            err,
            SealError::UnknownVersion {
                version: "v2".to_owned()
            }
        );
        assert_eq!(
            err.to_string(),
            "sealed text has format v2, but this build reads only v1"
        );
        for text in ["hunter2", "", "hunter2.and.more", "v.x", "v123456.abc"] {
            assert_eq!(
                key.open(text, CONTEXT).unwrap_err(),
                SealError::NotSealed,
                "{text}"
            );
        }
    }

    #[test]
    fn bad_encoding_is_named() {
        let key = key(7);
        let sealed = key.seal(b"hunter2", CONTEXT);
        let fingerprint = key.fingerprint();
        for text in [
            format!("v1.{fingerprint}.not*base64"),
            format!("{sealed}="),
            "v1.nofingerprint".to_owned(),
            format!("v1.{}.AAAA", fingerprint.to_uppercase()),
        ] {
            assert!(
                matches!(
                    key.open(&text, CONTEXT).unwrap_err(),
                    SealError::Encoding { .. }
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn parse_reads_hex_and_every_base64_form() {
        let bytes: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0xfb).collect();
        let hex = base16ct::lower::encode_string(&bytes);
        let forms = [
            hex.clone(),
            hex.to_uppercase(),
            format!("  {hex}\n"),
            base64ct::Base64::encode_string(&bytes),
            Base64Unpadded::encode_string(&bytes),
            base64ct::Base64Url::encode_string(&bytes),
            Base64UrlUnpadded::encode_string(&bytes),
        ];
        assert!(forms[3].contains(['+', '/']) && forms[5].contains(['-', '_']));
        for form in &forms {
            let key = SecretKey::parse(form).unwrap();
            assert_eq!(&key.0[..], &bytes[..], "{form}");
        }
    }

    #[test]
    fn parse_errors_name_the_problem_but_never_the_text() {
        let cases = [
            ("ab".repeat(31), SealError::KeyLength { found: 62 }),
            (
                base64ct::Base64::encode_string(&[9; 31]),
                SealError::KeyLength { found: 44 },
            ),
            (String::new(), SealError::KeyLength { found: 0 }),
            (
                "hunter2hunter2".to_owned(),
                SealError::KeyLength { found: 14 },
            ),
            (
                format!("{}==", "Q".repeat(42)),
                SealError::KeyLength { found: 44 },
            ),
            (
                format!("{}==", "Q".repeat(43)),
                SealError::KeyLength { found: 45 },
            ),
            ("zz".repeat(32), SealError::KeyHex),
            (format!("{}é", "a".repeat(62)), SealError::KeyHex),
            (format!("{}*", "Q".repeat(42)), SealError::KeyBase64),
            (format!("{}+-", "Q".repeat(41)), SealError::KeyBase64),
        ];
        for (text, expected) in cases {
            let err = SecretKey::parse(&text).unwrap_err();
            assert_eq!(err, expected, "{text}");
            assert_no_piece_of(&text, &err.to_string(), 4);
        }
    }

    /// Fails when `message` contains any `len`-character piece of `text`.
    fn assert_no_piece_of(text: &str, message: &str, len: usize) {
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.windows(len) {
            let piece: String = piece.iter().collect();
            assert!(!message.contains(&piece), "{message:?} contains {piece:?}");
        }
    }

    #[test]
    fn from_env_is_none_when_unset_or_empty() {
        assert!(SecretKey::from_env_value(None).unwrap().is_none());
        assert!(
            SecretKey::from_env_value(Some("".into()))
                .unwrap()
                .is_none()
        );
        assert!(
            SecretKey::from_env_value(Some(" \n".into()))
                .unwrap()
                .is_none()
        );
        let hex = "5a".repeat(32);
        let parsed = SecretKey::from_env_value(Some(hex.into()))
            .unwrap()
            .unwrap();
        assert_eq!(parsed.fingerprint(), key(0x5a).fingerprint());
    }

    #[test]
    fn from_env_errors_name_the_variable_but_never_the_value() {
        let value = "not-a-key-at-all";
        let err = SecretKey::from_env_value(Some(value.into())).unwrap_err();
        assert_eq!(
            err,
            SealError::Env {
                variable: "MINKE_SECRET_KEY",
                source: Box::new(SealError::KeyLength { found: 16 }),
            }
        );
        let message = err.to_string();
        assert!(message.starts_with("environment variable MINKE_SECRET_KEY: secret key is 16"));
        assert_no_piece_of(value, &message, 4);
    }

    #[cfg(unix)]
    #[test]
    fn from_env_rejects_a_value_that_is_not_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let value = OsString::from_vec(vec![0xff; 64]);
        assert_eq!(
            SecretKey::from_env_value(Some(value)).unwrap_err(),
            SealError::Env {
                variable: "MINKE_SECRET_KEY",
                source: Box::new(SealError::KeyNotText),
            }
        );
    }

    #[test]
    fn debug_shows_the_fingerprint_not_the_key() {
        let text = SecretKey::generate();
        let key = SecretKey::parse(&text).unwrap();
        let debug = format!("{key:?}");
        assert_eq!(debug, format!("SecretKey({})", key.fingerprint()));
        assert_eq!(
            format!("{key:#?}"),
            format!("SecretKey(\n    {},\n)", key.fingerprint())
        );
        let base64 = Base64UrlUnpadded::encode_string(&key.0[..]);
        assert_no_piece_of(&text, &debug, 8);
        assert_no_piece_of(&base64, &debug, 8);
    }

    #[test]
    fn generate_gives_new_keys_that_parse() {
        let first = SecretKey::generate();
        let second = SecretKey::generate();
        assert_ne!(first, second);
        for text in [first, second] {
            assert_eq!(text.len(), HEX_LEN);
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
            let key = SecretKey::parse(&text).unwrap();
            let sealed = key.seal(b"x", CONTEXT);
            assert_eq!(key.open(&sealed, CONTEXT).unwrap().as_slice(), b"x");
        }
    }

    #[test]
    fn fingerprint_is_short_hex_and_not_a_plain_hash() {
        let key = key(0);
        let fingerprint = key.fingerprint();
        assert!(is_fingerprint(&fingerprint), "{fingerprint}");
        let plain_hash = Sha256::digest([0u8; KEY_LEN]);
        assert_ne!(
            fingerprint,
            base16ct::lower::encode_string(&plain_hash[..4])
        );
    }
}
