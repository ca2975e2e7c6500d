use minke::{Registry, Session};

/// No kind key: `process` must be written by hand.
#[derive(Session)]
#[minke(work_on(minke::HostRecord))]
struct Uptime;

fn main() {
    Registry::default().add::<Uptime>().unwrap();
}
