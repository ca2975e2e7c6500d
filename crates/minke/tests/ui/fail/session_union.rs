use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), command = "uptime")]
union Uptime {
    a: u32,
}

fn main() {}
