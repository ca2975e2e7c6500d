use minke::MinkeModel;

#[derive(Clone, Copy, MinkeModel)]
#[minke(table = servers, host = host_id)]
union Server {
    id: i64,
    host_id: i64,
}

fn main() {}
