use diesel::prelude::*;
use minke::{Host, MinkeModel};

diesel::table! {
    boxes (id) {
        id -> BigInt,
        name -> Text,
        ip -> Text,
        gateway -> Nullable<Text>,
    }
}

#[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
#[diesel(table_name = boxes)]
#[minke(table = boxes, host = id, address = ip, jump_host = gateway)]
struct MyBox {
    id: i64,
    name: String,
    ip: String,
    gateway: Option<String>,
}

fn main() {}
