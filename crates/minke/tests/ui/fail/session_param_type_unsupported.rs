use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), command = "df -h {paths}")]
struct Disk {
    paths: Vec<String>,
}

fn main() {}
