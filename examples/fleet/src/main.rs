//! `fleet`: a Minke app with hosts, servers and web applications.
//!
//! `fleet demo` starts a few throwaway OpenSSH servers on 127.0.0.1, imports them as
//! hosts, adds servers and web applications, runs every session on them and prints
//! where the history lives. Every other command is Minke's CLI (`fleet --help`).

mod demo;
mod models;
mod sessions;

use std::process::ExitCode;

use minke::App;

/// The app: its models, sessions and tables (and its version, for `--version`).
pub fn app() -> App {
    minke::app!()
        .migrations(models::MIGRATIONS)
        .model::<models::Server>()
        .model::<models::WebApp>()
        .session::<sessions::Uptime>()
        .session::<sessions::Kernel>()
        .session::<sessions::DiskUsage>()
        .session::<sessions::Checks>()
        .session::<sessions::Inventory>()
        .session::<sessions::AppState>()
        .session::<sessions::Command>()
        .session::<sessions::Sudo>()
        .session::<sessions::Upload>()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("demo") {
        return match demo::run(&args[2..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("fleet demo: error: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    app().main()
}
