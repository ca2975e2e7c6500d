use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), command = "uptime")]
enum Uptime {
    Short,
}

fn main() {}
