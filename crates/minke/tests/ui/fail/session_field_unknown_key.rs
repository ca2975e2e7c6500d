use minke::Session;

#[derive(Session)]
#[minke(work_on(minke::HostRecord), command = "df -h {path}")]
struct Disk {
    #[minke(defualt = "/")]
    path: String,
}

fn main() {}
