use diesel::prelude::*;
use minke::{Host, MinkeModel};

diesel::table! {
    boxes (id) {
        id -> BigInt,
        name -> Text,
        ip -> Text,
        forward_agent -> Bool,
    }
}

#[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
#[diesel(table_name = boxes)]
#[minke(table = boxes, host = id, address = ip, forward_agent)]
struct MyBox {
    id: i64,
    name: String,
    ip: String,
    forward_agent: bool,
}

fn main() {}
