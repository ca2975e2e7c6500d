//! Ages and points in time as the command line takes them: `30d`, `12h`, `90m`,
//! `45s`, `2w`, or a day like `2026-11-25`.

use std::time::Duration;

/// An age like `30d`, `12h`, `90m`, `45s` or `2w`.
pub(crate) fn parse_age(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not an age like 30d, 12h, 90m or 45s"))?;
    let secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("`{s}` has no unit: use s, m, h, d or w")),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is longer than any age Minke can count"))
}

/// `--since`: an age before now (`2d`) or the start of a day (`2026-11-25`, UTC), in
/// µs since the epoch.
pub(crate) fn parse_since(s: &str) -> Result<i64, String> {
    if let Some(day) = minke_core::time::parse_date(s) {
        return Ok(day);
    }
    let age = parse_age(s).map_err(|_| {
        format!("`{s}` is neither an age like 2d, 12h or 90m nor a date like 2026-11-25")
    })?;
    Ok(
        minke_store::now_micros()
            .saturating_sub(i64::try_from(age.as_micros()).unwrap_or(i64::MAX)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_have_a_unit_and_fit() {
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age(" 2w "), Ok(Duration::from_secs(1_209_600)));
        assert!(parse_age("12").unwrap_err().contains("has no unit"));
        assert!(parse_age("d").unwrap_err().contains("not an age"));
        assert!(
            parse_age("99999999999999999w")
                .unwrap_err()
                .contains("longer than")
        );
        assert!(parse_since("2026-11-25").is_ok());
        assert!(parse_since("yesterday").unwrap_err().contains("neither"));
    }
}
