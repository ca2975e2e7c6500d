use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id)]
struct Server {
    key: i64,
    host_id: i64,
}

fn main() {}
