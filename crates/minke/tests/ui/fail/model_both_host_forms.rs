use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = apps, host = host_id, host(via = server_id, model = Server))]
struct App {
    id: i64,
    host_id: i64,
    server_id: i64,
}

fn main() {}
