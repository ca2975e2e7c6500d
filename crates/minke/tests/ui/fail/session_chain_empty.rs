use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), chain())]
struct Everything;

fn main() {}
