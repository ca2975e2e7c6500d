use minke::Session;

#[derive(Session)]
#[minke(command = "uptime")]
struct Uptime;

fn main() {}
