use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), command = "df -h {0}")]
struct Disk(String);

fn main() {}
