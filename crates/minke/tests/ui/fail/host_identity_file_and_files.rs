use diesel::prelude::*;
use minke::{Host, MinkeModel};

diesel::table! {
    boxes (id) {
        id -> BigInt,
        name -> Text,
        ip -> Text,
        key -> Text,
        keys -> Text,
    }
}

#[derive(Clone, Queryable, Selectable, MinkeModel, Host)]
#[diesel(table_name = boxes)]
#[minke(table = boxes, host = id, address = ip, identity_file = key, identity_files = keys)]
struct MyBox {
    id: i64,
    name: String,
    ip: String,
    key: String,
    keys: String,
}

fn main() {}
