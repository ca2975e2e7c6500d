//! The kinds of values a setting holds: how each is read from the environment or a
//! flag, and how `config` shows it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A value a setting may hold.
pub(crate) trait SettingValue: Sized {
    /// Reads the value from text (an environment variable).
    fn parse(text: &str) -> Result<Self, String>;
    /// The value as `config` prints it.
    fn show(&self) -> String;
    /// Why the value cannot be used, if it cannot.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A whole number from text, or why not.
fn whole_number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

/// A count that must be at least one (sessions, handshakes at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Count(pub(crate) usize);

impl SettingValue for Count {
    fn parse(text: &str) -> Result<Self, String> {
        whole_number(text).map(Count)
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
    fn check(&self) -> Result<(), String> {
        if self.0 == 0 {
            return Err("must be at least 1".into());
        }
        Ok(())
    }
}

/// How many times (retries): zero allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Times(pub(crate) u32);

impl SettingValue for Times {
    fn parse(text: &str) -> Result<Self, String> {
        whole_number(text).map(Times)
    }
    fn show(&self) -> String {
        self.0.to_string()
    }
}

/// A time limit of at least a second: seconds (`90`) or an age (`90s`, `10m`, `1h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limit(pub(crate) Duration);

impl SettingValue for Limit {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<u64>() {
            return Ok(Limit(Duration::from_secs(secs)));
        }
        crate::age::parse_age(text)
            .map(Limit)
            .map_err(|_| format!("`{text}` is neither seconds nor an age like 90s, 10m or 1h"))
    }
    fn show(&self) -> String {
        show_duration(self.0)
    }
    fn check(&self) -> Result<(), String> {
        if self.0 < Duration::from_secs(1) {
            return Err("must be at least 1 second".into());
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Limit;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("seconds, or an age like \"90s\", \"10m\" or \"1h\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Limit, E> {
                Ok(Limit(Duration::from_secs(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Limit, E> {
                u64::try_from(v)
                    .map(|v| Limit(Duration::from_secs(v)))
                    .map_err(|_| E::custom(format!("{v} is not a time limit")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Limit, E> {
                Limit::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `90s`, `10m`, `1h30m`: the shortest exact spelling.
fn show_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// New connections per second at most, or none (no limit).
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Rate(pub(crate) Option<f64>);

impl SettingValue for Rate {
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "none" | "unlimited" => Ok(Rate(None)),
            t => t
                .parse()
                .map(|r| Rate(Some(r)))
                .map_err(|_| format!("`{text}` is not a number of connections per second")),
        }
    }
    fn show(&self) -> String {
        self.0.map_or_else(|| "none".into(), |r| format!("{r}/s"))
    }
    fn check(&self) -> Result<(), String> {
        match self.0 {
            Some(r) if !(r.is_finite() && r > 0.0) => {
                Err("must be more than 0 connections per second".into())
            }
            _ => Ok(()),
        }
    }
}

/// A database URL; shown with its password masked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct DatabaseUrl(pub(crate) String);

impl SettingValue for DatabaseUrl {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(DatabaseUrl(text.to_owned()))
    }
    fn show(&self) -> String {
        match minke_store::DatabaseUrl::parse(&self.0) {
            Ok(url) => url.redacted(),
            // Not usable anyway (opening it says why); never shown with a password.
            Err(_) => "(not a database URL)".into(),
        }
    }
    fn check(&self) -> Result<(), String> {
        minke_store::DatabaseUrl::parse(&self.0)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

impl SettingValue for SocketAddr {
    fn parse(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an address and port like 127.0.0.1:8000"))
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// The path prefix of the admin, like `/minke` (empty: the root).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct BasePath(pub(crate) String);

impl SettingValue for BasePath {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(BasePath(text.to_owned()))
    }
    fn show(&self) -> String {
        if self.0.is_empty() {
            "(root)".into()
        } else {
            self.0.clone()
        }
    }
}

/// Directories, from the environment separated like `PATH`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Dirs(pub(crate) Vec<PathBuf>);

impl SettingValue for Dirs {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(Dirs(std::env::split_paths(text).collect()))
    }
    fn show(&self) -> String {
        if self.0.is_empty() {
            return "(~/.ssh of the serving user)".into();
        }
        let shown: Vec<String> = self.0.iter().map(|p| p.display().to_string()).collect();
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_check_and_show() {
        assert_eq!(Limit::parse("90").unwrap().show(), "1m30s");
        assert_eq!(Limit::parse("10m").unwrap().0, Duration::from_secs(600));
        assert!(Limit::parse("soon").unwrap_err().contains("`soon`"));
        assert!(Limit::parse("0").unwrap().check().is_err());
        assert_eq!(
            Count::parse("0").unwrap().check().unwrap_err(),
            "must be at least 1"
        );
        assert!(Count::parse("-3").is_err());
        assert_eq!(Rate::parse("none").unwrap(), Rate(None));
        assert_eq!(Rate::parse("2.5").unwrap().show(), "2.5/s");
        assert!(Rate::parse("0").unwrap().check().is_err());
        assert_eq!(
            DatabaseUrl::parse("postgres://me:hunter2@db/minke")
                .unwrap()
                .show(),
            "postgres://me:***@db/minke"
        );
        assert_eq!(Dirs::parse("/a:/b").unwrap().0.len(), 2);
        assert_eq!(BasePath(String::new()).show(), "(root)");
    }
}
