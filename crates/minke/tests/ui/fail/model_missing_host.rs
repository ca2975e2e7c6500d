use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers)]
struct Server {
    id: i64,
    name: String,
}

fn main() {}
