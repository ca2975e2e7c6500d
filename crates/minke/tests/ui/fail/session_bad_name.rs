use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), name = "Up Time", command = "uptime")]
struct Uptime;

fn main() {}
