use minke::MinkeModel;

#[derive(Clone, MinkeModel)]
#[minke(table = servers, host = host_id, cascade = true)]
struct Server {
    id: i64,
    host_id: i64,
    #[minke(read_only = "yes")]
    kernel: Option<String>,
    #[minke(choices = "web")]
    role: String,
}

fn main() {}
