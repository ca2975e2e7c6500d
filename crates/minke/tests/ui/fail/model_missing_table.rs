use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(host = host_id)]
struct Server {
    id: i64,
    host_id: i64,
}

fn main() {}
