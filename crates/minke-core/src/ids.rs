//! Ids of the records Minke keeps, one type each, so that a run's id is never passed
//! where a session's is wanted. Stored as `BIGINT`, shown and parsed as the number,
//! serialized as the bare number (the JSON of the CLI and the API does not change).
//!
//! ```
//! use minke_core::RunId;
//!
//! let run: RunId = "42".parse().unwrap();
//! assert_eq!(run.get(), 42);
//! assert_eq!(run.to_string(), "42");
//! ```
//!
//! One kind of id is not taken for another:
//!
//! ```compile_fail
//! use minke_core::{RunId, SessionId};
//!
//! fn stop(run: RunId) {}
//! stop(SessionId::new(7)); // expected `RunId`, found `SessionId`
//! ```

use std::fmt;
use std::num::ParseIntError;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        #[cfg_attr(
            feature = "diesel",
            derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
            diesel(sql_type = diesel::sql_types::BigInt)
        )]
        pub struct $name(i64);

        impl $name {
            /// The id with this number.
            pub const fn new(n: i64) -> Self {
                $name(n)
            }

            /// Its number.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        #[cfg(feature = "diesel")]
        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB> for $name
        where
            DB: diesel::backend::Backend,
            i64: diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                i64::from_sql(bytes).map($name)
            }
        }

        #[cfg(feature = "diesel")]
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::BigInt, DB> for $name
        where
            DB: diesel::backend::Backend,
            i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                self.0.to_sql(out)
            }
        }
    };
}

id_type!(
    /// A run's id.
    RunId
);
id_type!(
    /// A session's id (one object of a run).
    SessionId
);
id_type!(
    /// A host's id.
    HostId
);
id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A work item's id (one run's sessions on one host, in the queue).
    WorkItemId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_show_parse_and_serialize_as_their_number() {
        let id = RunId::new(42);
        assert_eq!(id.to_string(), "42");
        assert_eq!("42".parse::<RunId>(), Ok(id));
        assert!("forty-two".parse::<RunId>().is_err());
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("42"));
        assert_eq!(
            serde_json::from_str::<SessionId>("7").ok(),
            Some(SessionId::new(7))
        );
        assert_eq!(SessionId::new(7).get(), 7);
    }
}
