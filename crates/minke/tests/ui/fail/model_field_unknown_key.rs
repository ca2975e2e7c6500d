use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id)]
struct Server {
    id: i64,
    host_id: i64,
    #[minke(skp)]
    extra: i64,
}

fn main() {}
