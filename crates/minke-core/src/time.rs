//! Times as Minke keeps them: microseconds since the Unix epoch, in UTC, shown as
//! `YYYY-MM-DD HH:MM:SS` and read from `YYYY-MM-DD` (the admin's filters, the command
//! line's `--since`).

/// Microseconds in a day.
const DAY_US: i64 = 86_400 * 1_000_000;

/// Microseconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
///
/// ```
/// assert_eq!(minke_core::time::format_utc(0), "1970-01-01 00:00:00");
/// assert_eq!(minke_core::time::format_utc(1_795_824_000_000_000), "2026-11-28 00:00:00");
/// ```
pub fn format_utc(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DD` (years 1970 to 9999) as microseconds at the start of that day, UTC;
/// `None` for anything else, a day the month does not have included.
///
/// ```
/// use minke_core::time::parse_date;
/// assert_eq!(parse_date("1970-01-02"), Some(86_400_000_000));
/// assert_eq!(parse_date("2026-02-30"), None);
/// assert_eq!(parse_date("yesterday"), None);
/// ```
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // The 31st of a month of 30 days reads as the 1st of the next: refused.
    (civil_from_days(days) == (y, m, d)).then_some(days * DAY_US)
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A civil date to days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_and_shown_agree_over_the_years() {
        for (date, days) in [
            ("1970-01-01", 0),
            ("2000-02-29", 11_016),
            ("2026-11-28", 20_785),
        ] {
            let us = parse_date(date).map(|u| u / DAY_US);
            assert_eq!(us, Some(days), "{date}");
            assert_eq!(format_utc(days * DAY_US), format!("{date} 00:00:00"));
        }
        for day in (0..40_000).step_by(37) {
            let shown = format_utc(day * DAY_US + 3_723_000_000);
            assert!(shown.ends_with(" 01:02:03"), "{shown}");
            assert_eq!(parse_date(&shown[..10]), Some(day * DAY_US), "{shown}");
        }
        for bad in [
            "2026-13-01",
            "2026-04-31",
            "1969-12-31",
            "2026-1",
            "",
            "2026-01-01x",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
