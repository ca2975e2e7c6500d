use diesel::prelude::*;
use minke::{Host, MinkeModel};

diesel::table! {
    boxes (id) {
        id -> BigInt,
        name -> Text,
        ip -> Text,
        alive_max -> Integer,
    }
}

#[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
#[diesel(table_name = boxes)]
#[minke(table = boxes, host = id, address = ip, keepalive_count_max = alive_max)]
struct MyBox {
    id: i64,
    name: String,
    ip: String,
    alive_max: i32,
}

fn main() {}
