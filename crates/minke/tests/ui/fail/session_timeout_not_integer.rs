use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), timeout = "300", command = "uptime")]
struct Uptime;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), timeout = 1.5, command = "uptime")]
struct Uname;

fn main() {}
