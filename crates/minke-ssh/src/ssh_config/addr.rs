//! The host name `ssh` ends up with: lowercased unless it looks like an address, and
//! numeric addresses written the canonical way (`127.1` is `127.0.0.1`,
//! `0:0:0:0:0:0:0:1` is `::1`), as getaddrinfo(3) and getnameinfo(3) do for `ssh`.

use std::net::Ipv6Addr;

/// What `ssh` makes of the host name (after `HostName` and its `%h`).
pub(crate) fn final_host(name: &str) -> String {
    let host = if looks_like_address(name) {
        name.to_owned()
    } else {
        name.to_ascii_lowercase()
    };
    match canonical_address(&host) {
        Some(canon) if !canon.eq_ignore_ascii_case(&host) => canon,
        _ => host,
    }
}

/// OpenSSH's quick test: a `%` or `:`, or only digits and dots.
fn looks_like_address(name: &str) -> bool {
    name.contains(['%', ':']) || name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// The canonical text of a numeric IPv4 or IPv6 address, `None` for a name.
fn canonical_address(s: &str) -> Option<String> {
    if let Some(v4) = inet_aton(s) {
        let [a, b, c, d] = v4.to_be_bytes();
        return Some(format!("{a}.{b}.{c}.{d}"));
    }
    s.parse::<Ipv6Addr>().ok().map(ipv6_text)
}

/// IPv4 in the forms inet_aton(3) accepts: `a.b.c.d`, `a.b.c`, `a.b`, `a`, each
/// part decimal, octal (leading `0`) or hex (`0x`), nothing after.
fn inet_aton(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let values = parts
        .iter()
        .map(|p| aton_part(p))
        .collect::<Option<Vec<u64>>>()?;
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|v| *v > 0xff) {
        return None;
    }
    let last_bits = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << last_bits {
        return None;
    }
    let mut addr: u64 = 0;
    for (i, v) in leading.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    u32::try_from(addr | last).ok()
}

fn aton_part(p: &str) -> Option<u64> {
    if !p.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        return (radix == 16).then_some(0);
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|v| *v <= u64::from(u32::MAX))
}

/// IPv6 text as inet_ntop(3) writes it: lowercase hex, the first longest run of two
/// or more zero groups as `::`, IPv4-compatible and -mapped addresses dotted.
fn ipv6_text(addr: Ipv6Addr) -> String {
    let words = addr.segments();
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < 8 {
        if words[i] == 0 {
            let start = i;
            while i < 8 && words[i] == 0 {
                i += 1;
            }
            let len = i - start;
            if len >= 2 && best.is_none_or(|(_, l)| len > l) {
                best = Some((start, len));
            }
        } else {
            i += 1;
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if let Some((start, len)) = best
            && i == start
        {
            out.push_str(if i == 0 { "::" } else { ":" });
            i += len;
            continue;
        }
        if i == 6 && best.is_some_and(|(s, l)| s == 0 && (l == 6 || (l == 5 && words[5] == 0xffff)))
        {
            let [.., a, b, c, d] = addr.octets();
            out.push_str(&format!("{a}.{b}.{c}.{d}"));
            break;
        }
        out.push_str(&format!("{:x}", words[i]));
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased() {
        assert_eq!(final_host("Web.Example"), "web.example");
        assert_eq!(final_host("A_B"), "a_b");
        assert_eq!(final_host("Hx.%.X"), "Hx.%.X");
        assert_eq!(final_host("1.2.3.4.5"), "1.2.3.4.5");
        assert_eq!(final_host("[::1]"), "[::1]");
    }

    #[test]
    fn numeric_addresses_as_ssh_prints_them() {
        assert_eq!(final_host("127.1"), "127.0.0.1");
        assert_eq!(final_host("010.0.0.1"), "8.0.0.1");
        assert_eq!(final_host("1.2.3"), "1.2.0.3");
        assert_eq!(final_host("1234"), "0.0.4.210");
        assert_eq!(final_host("0x7f.1"), "127.0.0.1");
        assert_eq!(final_host("1.2.3.4"), "1.2.3.4");
        assert_eq!(final_host("256.1.1.1"), "256.1.1.1");
        assert_eq!(final_host("0:0:0:0:0:0:0:1"), "::1");
        assert_eq!(final_host("FE80::1"), "FE80::1");
        assert_eq!(final_host("::FFFF:1.2.3.4"), "::FFFF:1.2.3.4");
        assert_eq!(final_host("::ffff:102:304"), "::ffff:1.2.3.4");
        assert_eq!(final_host("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(final_host("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(final_host("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(final_host("0:0:0:0:0:0:0:0"), "::");
        assert_eq!(final_host("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
    }
}
