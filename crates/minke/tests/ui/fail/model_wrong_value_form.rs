use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = "servers", host(host_id), label = "name", list = name, verbose_name = server)]
struct Server {
    id: i64,
    name: String,
    host_id: i64,
}

fn main() {}
