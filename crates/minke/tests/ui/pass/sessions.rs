//! Every session key and kind.
#![deny(warnings)]

use minke::prelude::*;
use minke::{HostRecord, Params, Registry, Secret};

/// Says hello.
#[derive(Session)]
#[minke(work_on(HostRecord))]
struct Manual;

impl Session for Manual {
    async fn process(&self, cx: &mut Context) -> Result<()> {
        cx.info("hello").await
    }
}

#[derive(Session)]
#[minke(work_on(HostRecord), command = "echo {greeting} {n}")]
struct Echo {
    #[minke(default = "hello")]
    greeting: String,
    #[minke(default = 3)]
    n: u32,
    #[minke(default = true)]
    loud: bool,
    #[minke(skip)]
    cache: Option<String>,
}

#[derive(Session)]
#[minke(
    work_on(HostRecord),
    commands("uname -a", "uptime"),
    break_on(warning, error, success)
)]
struct Commands {}

#[derive(Session)]
#[minke(work_on(HostRecord), commands("true", "uptime -p"), break_on())]
struct NeverBreaks;

#[derive(Session)]
#[minke(work_on(HostRecord), chain(Manual, Echo, Commands), break_on())]
struct Chain;

#[derive(Session)]
#[minke(
    work_on(HostRecord, HostRecord),
    name = "ad-hoc_1",
    verbose_name = "Ad-hoc command",
    help = "Runs anything.",
    group = "Tools",
    permissions("ops", "admin"),
    confirm,
    parallel_per_host,
    timeout = 60,
    command = "{cmd}"
)]
struct Adhoc {
    /// The command.
    #[minke(multiline, help = "The command to run")]
    cmd: String,
    #[minke(secret)]
    password: Option<String>,
    key: Secret,
    r#type: Option<f64>,
}

fn main() {
    let mut r = Registry::default();
    r.add::<Manual>().unwrap();
    r.add::<Echo>().unwrap();
    r.add::<Commands>().unwrap();
    r.add::<Chain>().unwrap();
    r.add::<NeverBreaks>().unwrap();
    r.add::<Adhoc>().unwrap();
    assert_eq!(
        r.get("ad-hoc_1").unwrap().meta.permissions,
        ["run_ad-hoc_1", "ops", "admin"]
    );
    let echo = Echo::from_params(&Params::new()).unwrap();
    assert!(echo.loud && echo.cache.is_none());
    assert_eq!(Chain::meta().params.len(), 3);
}
