use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), command = "uptime", commands("uname -a"))]
struct Info;

fn main() {}
