use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), comand = "uptime")]
struct Uptime;

fn main() {}
