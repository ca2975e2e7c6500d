//! [`HostOptions`]: a host's OpenSSH options beyond address, user and keys.

use minke_core::Lines;
use serde::{Deserialize, Serialize};

/// The OpenSSH options of a host that lists never filter or sort by, kept together
/// in one column (`minke_hosts.options`, JSON): user certificates, a proxy command,
/// agent forwarding, environment, the `become` user and keepalives. Absent keys take
/// their default, so that older rows read as they were.
///
/// ```
/// let o: minke_store::HostOptions = serde_json::from_str(r#"{"forward_agent": true}"#).unwrap();
/// assert!(o.forward_agent && o.proxy_command.is_none());
/// ```
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(default)]
pub struct HostOptions {
    /// OpenSSH user certificates (`CertificateFile`), in order.
    pub certificate_files: Lines,
    /// A local command whose standard input and output carry the connection
    /// (`ProxyCommand`); excludes a jump host.
    pub proxy_command: Option<String>,
    /// Lets the host's commands use the local ssh-agent (`ForwardAgent`).
    pub forward_agent: bool,
    /// `NAME=value` entries set for each command (`SetEnv`).
    pub environment: Lines,
    /// The user `become` commands run as; root when unset.
    pub become_user: Option<String>,
    /// Seconds of silence before a keepalive (`ServerAliveInterval`); 0: the
    /// engine's setting.
    pub keepalive_interval: u32,
    /// Unanswered keepalives before the connection counts as lost
    /// (`ServerAliveCountMax`); 0: 3, OpenSSH's default.
    pub keepalive_count_max: u32,
}

impl HostOptions {
    fn json(&self) -> String {
        // A struct of strings, numbers and lists always serializes.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    fn from_json(text: &str) -> diesel::deserialize::Result<Self> {
        if text.trim().is_empty() {
            return Ok(HostOptions::default());
        }
        Ok(serde_json::from_str(text)?)
    }
}

impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for HostOptions
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        Self::from_json(&String::from_sql(bytes)?)
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for HostOptions {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
    ) -> diesel::serialize::Result {
        out.set_value(self.json());
        Ok(diesel::serialize::IsNull::No)
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for HostOptions {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        use std::io::Write as _;
        out.write_all(self.json().as_bytes())?;
        Ok(diesel::serialize::IsNull::No)
    }
}
