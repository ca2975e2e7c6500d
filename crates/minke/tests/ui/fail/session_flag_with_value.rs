use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), confirm = true, command = "uptime")]
struct Uptime;

fn main() {}
