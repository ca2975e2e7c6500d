use diesel::prelude::*;
use minke::MinkeModel;

diesel::table! {
    servers (id) {
        id -> BigInt,
        host_id -> BigInt,
        data -> Binary,
    }
}

#[derive(Clone, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = servers)]
#[minke(table = servers, host = host_id)]
struct Server {
    id: i64,
    host_id: i64,
    data: Vec<u8>,
}

fn main() {}
