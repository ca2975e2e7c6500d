use minke::Session;

#[derive(Session)]
#[minke(
    work_on(minke::HostRecord),
    commands("uptime"),
    break_on(error, failure)
)]
struct Uptime;

fn main() {}
