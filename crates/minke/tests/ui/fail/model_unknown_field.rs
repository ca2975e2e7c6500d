use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host, label = title, list(name, kernal), search(nmae, kernel), filter(nope))]
struct Server {
    id: i64,
    name: String,
    host_id: i64,
    #[minke(skip)]
    kernel: Option<String>,
}

fn main() {}
