use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id, search(name, port, active))]
struct Server {
    id: i64,
    name: String,
    host_id: i64,
    port: i32,
    active: bool,
}

fn main() {}
