use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), commands())]
struct Info;

fn main() {}
