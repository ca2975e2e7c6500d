use diesel::prelude::*;
use minke::MinkeModel;

diesel::table! {
    apps (id) {
        id -> BigInt,
        server_id -> BigInt,
    }
}

pub struct Server;

#[derive(Clone, Queryable, Selectable, MinkeModel)]
#[diesel(table_name = apps)]
#[minke(table = apps, host(via = server_id, model = Server))]
struct App {
    id: i64,
    server_id: i64,
}

fn main() {}
