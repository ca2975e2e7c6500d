use diesel::prelude::*;
use minke::{Host, MinkeModel};

diesel::table! {
    boxes (id) {
        id -> BigInt,
        name -> Text,
        ip -> Text,
    }
}

#[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
#[diesel(table_name = boxes)]
#[minke(table = boxes, host = id, address = ip)]
#[minke(environment = env, keepalive_interval = alive, jump_host = gateway_id)]
struct MyBox {
    id: i64,
    name: String,
    ip: String,
}

fn main() {}
