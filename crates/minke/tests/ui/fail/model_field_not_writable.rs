//! A type diesel reads but cannot write (it has `FromSql`, not `ToSql`): sessions
//! write fields back and forms and the API write them, so the field is refused, the
//! errors pointing at its type.
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::prelude::*;
use diesel::sql_types::Text;
use minke::{FieldType, MinkeModel, Value};

diesel::table! {
    servers (id) {
        id -> BigInt,
        host_id -> BigInt,
        role -> Text,
    }
}

/// Read from text, never written.
#[derive(Clone, Debug, diesel::deserialize::FromSqlRow)]
struct Role(String);

impl<DB: Backend> FromSql<Text, DB> for Role
where
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        String::from_sql(bytes).map(Role)
    }
}

impl FieldType for Role {
    const TYPE_NAME: &'static str = "text";
    fn to_value(&self) -> Value {
        Value::Text(self.0.clone())
    }
    fn from_value(v: Value) -> minke::Result<Self> {
        String::from_value(v).map(Role)
    }
    fn parse(s: &str) -> minke::Result<Self> {
        Ok(Role(s.to_owned()))
    }
}

#[derive(Clone, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id)]
struct Server {
    id: i64,
    host_id: i64,
    role: Role,
}

fn main() {}
