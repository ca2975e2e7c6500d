use minke::Session;

struct Server;

#[derive(Session)]
#[minke(work_on(minke::HostRecord, Server), command = "uptime")]
struct Uptime;

fn main() {}
