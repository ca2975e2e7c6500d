//! Values as pages show them: times, durations, sizes.

pub(crate) use minke_core::time::format_utc as time;

/// An optional time, empty when missing.
pub(crate) fn time_opt(us: Option<i64>) -> String {
    us.map(time).unwrap_or_default()
}

/// A duration in microseconds for people: `850 ms`, `12.3 s`, `4 min 2 s`.
pub(crate) fn duration(us: i64) -> String {
    if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else if us < 60_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else {
        format!("{} min {} s", us / 60_000_000, us % 60_000_000 / 1_000_000)
    }
}

/// A byte count for people.
pub(crate) fn bytes(n: i64) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else if n < 1 << 20 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_764_072_000_000_000), "2025-11-25 12:00:00");
        let d = minke_core::time::parse_date("2025-11-25").unwrap_or_default();
        assert_eq!(time(d), "2025-11-25 00:00:00");
        assert_eq!(minke_core::time::parse_date("2025-13-01"), None);
        assert_eq!(minke_core::time::parse_date("yesterday"), None);
        assert_eq!(duration(1_500), "1 ms");
        assert_eq!(duration(12_300_000), "12.3 s");
        assert_eq!(bytes(20 << 20), "20.0 MiB");
    }
}
