use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id)]
#[minke(table = other)]
struct Server {
    id: i64,
    host_id: i64,
}

fn main() {}
