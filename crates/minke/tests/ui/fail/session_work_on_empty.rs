use minke::Session;

#[derive(Session)]
#[minke(work_on(), command = "uptime")]
struct Uptime;

fn main() {}
