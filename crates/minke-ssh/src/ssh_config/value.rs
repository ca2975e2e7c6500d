//! Values of the options Minke reads, checked the way OpenSSH checks them: ports,
//! times (`90`, `1m30s`), counts and the yes/no-like words.

/// `StrictHostKeyChecking`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strict {
    Yes,
    No,
    Ask,
    AcceptNew,
}

impl Strict {
    /// `yes`/`true`, `no`/`off`/`false`, `ask`, `accept-new`, in any case.
    pub(crate) fn parse(s: &str) -> Option<Strict> {
        Some(match s.to_ascii_lowercase().as_str() {
            "yes" | "true" => Strict::Yes,
            "no" | "off" | "false" => Strict::No,
            "ask" => Strict::Ask,
            "accept-new" => Strict::AcceptNew,
            _ => return None,
        })
    }

    /// As [`Resolved`](super::Resolved) gives it: `None` for OpenSSH's default, `ask`.
    pub(crate) fn resolved(self) -> Option<String> {
        match self {
            Strict::Yes => Some("yes".to_owned()),
            Strict::No => Some("no".to_owned()),
            Strict::Ask => None,
            Strict::AcceptNew => Some("accept-new".to_owned()),
        }
    }
}

/// `RequestTTY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tty {
    Auto,
    Yes,
    No,
    Force,
}

impl Tty {
    /// `yes`/`true`, `no`/`false`, `force`, `auto`, in any case.
    pub(crate) fn parse(s: &str) -> Option<Tty> {
        Some(match s.to_ascii_lowercase().as_str() {
            "yes" | "true" => Tty::Yes,
            "no" | "false" => Tty::No,
            "force" => Tty::Force,
            "auto" => Tty::Auto,
            _ => return None,
        })
    }

    /// As [`Resolved`](super::Resolved) gives it: `None` for OpenSSH's default, `auto`.
    pub(crate) fn resolved(self) -> Option<String> {
        match self {
            Tty::Auto => None,
            Tty::Yes => Some("yes".to_owned()),
            Tty::No => Some("no".to_owned()),
            Tty::Force => Some("force".to_owned()),
        }
    }
}

/// `CanonicalizeHostname`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Canonicalize {
    No,
    Yes,
    Always,
}

impl Canonicalize {
    /// `yes`/`true`, `no`/`false`, `always`, in any case.
    pub(crate) fn parse(s: &str) -> Option<Canonicalize> {
        Some(match s.to_ascii_lowercase().as_str() {
            "yes" | "true" => Canonicalize::Yes,
            "no" | "false" => Canonicalize::No,
            "always" => Canonicalize::Always,
            _ => return None,
        })
    }
}

/// `yes`/`true` or `no`/`false`, in any case.
pub(crate) fn parse_flag(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// A decimal number as strtonum(3) reads one: optional sign, digits, nothing else.
fn decimal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let (negative, digits) = match digits.strip_prefix('-') {
        Some(d) if !s.starts_with('+') => (true, d),
        _ => (false, digits),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        n = n.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(if negative { -n } else { n })
}

/// A port: a number from 1 to 65535 or a TCP service name from `/etc/services`.
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    match decimal(s) {
        Some(n) => u16::try_from(n).ok().filter(|p| *p > 0),
        None => service_port(s),
    }
}

/// The TCP port of a service name (or alias) in `/etc/services`.
fn service_port(name: &str) -> Option<u16> {
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let text = std::fs::read_to_string("/etc/services").ok()?;
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let first = fields.next()?;
        let (port, proto) = fields.next()?.split_once('/')?;
        let named = first == name || fields.any(|alias| alias == name);
        (named && proto == "tcp")
            .then(|| port.parse().ok())
            .flatten()
    })
}

/// A time as OpenSSH reads one: seconds, or a sequence of numbers each followed by
/// `s`, `m`, `h`, `d` or `w` (any case): `90`, `1m30s`, `1h30` (the last number
/// without a unit is seconds). At most `i32::MAX` seconds.
pub(crate) fn parse_time(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let limit = i64::from(i32::MAX);
    let mut total: i64 = 0;
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let sign_len = usize::from(rest.starts_with(['+', '-']));
        let digits_len = rest[sign_len..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits_len == 0 {
            return None;
        }
        let number = decimal(&rest[..sign_len + digits_len]).filter(|n| (0..=limit).contains(n))?;
        rest = &rest[sign_len + digits_len..];
        let multiplier = match rest.chars().next() {
            None => 1,
            Some(unit) => {
                rest = &rest[1..];
                match unit.to_ascii_lowercase() {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    'd' => 86_400,
                    'w' => 604_800,
                    _ => return None,
                }
            }
        };
        total = total.checked_add(number.checked_mul(multiplier)?)?;
        if total > limit {
            return None;
        }
        rest = rest.trim_start();
    }
    u32::try_from(total).ok()
}

/// A count from 0 to `i32::MAX`.
pub(crate) fn parse_count(s: &str) -> Result<u32, &'static str> {
    match decimal(s) {
        None => Err("is not a number"),
        Some(n) if n < 0 => Err("is negative"),
        Some(n) if n > i64::from(i32::MAX) => Err("is too large"),
        Some(n) => u32::try_from(n).map_err(|_| "is too large"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(parse_port("22"), Some(22));
        assert_eq!(parse_port("010"), Some(10));
        assert_eq!(parse_port("+22"), Some(22));
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("-1"), None);
        assert_eq!(parse_port("x"), None);
        assert_eq!(parse_port("0x10"), None);
        assert_eq!(parse_port(""), None);
    }

    #[test]
    fn service_names() {
        if std::fs::read_to_string("/etc/services").is_ok_and(|s| s.contains("22/tcp")) {
            assert_eq!(parse_port("ssh"), Some(22));
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("90"), Some(90));
        assert_eq!(parse_time("010"), Some(10));
        assert_eq!(parse_time("1m"), Some(60));
        assert_eq!(parse_time("5m"), Some(300));
        assert_eq!(parse_time("1h30s"), Some(3630));
        assert_eq!(parse_time("1h30"), Some(3630));
        assert_eq!(parse_time("1H1W"), Some(608_400));
        assert_eq!(parse_time("5s5s"), Some(10));
        assert_eq!(parse_time("2147483647"), Some(2_147_483_647));
        assert_eq!(parse_time("2147483648"), None);
        assert_eq!(parse_time("-1"), None);
        assert_eq!(parse_time("5ss"), None);
        assert_eq!(parse_time("0x10"), None);
        assert_eq!(parse_time("x"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("0"), Ok(0));
        assert_eq!(parse_count("+5"), Ok(5));
        assert!(parse_count("-1").is_err());
        assert!(parse_count("5m").is_err());
        assert!(parse_count("2147483648").is_err());
    }

    #[test]
    fn words() {
        assert_eq!(Strict::parse("OFF"), Some(Strict::No));
        assert_eq!(Strict::parse("Accept-New"), Some(Strict::AcceptNew));
        assert_eq!(Strict::parse("maybe"), None);
        assert_eq!(Tty::parse("TRUE"), Some(Tty::Yes));
        assert_eq!(Canonicalize::parse("none"), None);
        assert_eq!(parse_flag("Yes"), Some(true));
        assert_eq!(parse_flag("off"), None);
    }
}
