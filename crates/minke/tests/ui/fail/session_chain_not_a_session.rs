use minke::Session;

struct Uptime;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), chain(Uptime))]
struct Everything;

fn main() {}
