use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id)]
enum Server {
    Small,
    Large,
}

fn main() {}
