use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id)]
struct Server {
    id: i64,
    host_id: i64,
    #[minke(choices("1", "2"))]
    cores: i32,
    #[minke(choices())]
    role: String,
}

fn main() {}
