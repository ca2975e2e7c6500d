use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), command = "uptime", break_on(warning))]
struct Uptime;

fn main() {}
