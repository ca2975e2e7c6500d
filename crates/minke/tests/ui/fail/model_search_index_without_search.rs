use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id, search(), search_index = servers_search)]
struct Server {
    id: i64,
    name: String,
    host_id: i64,
}

fn main() {}
