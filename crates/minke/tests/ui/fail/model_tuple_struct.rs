use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id)]
struct Server(i64, i64);

fn main() {}
