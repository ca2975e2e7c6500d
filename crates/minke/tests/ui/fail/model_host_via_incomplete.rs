use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = apps, host(via = server_id, modle = Server))]
struct App {
    id: i64,
    server_id: i64,
}

fn main() {}
