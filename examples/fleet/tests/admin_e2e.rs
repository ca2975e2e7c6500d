//! The web admin end to end, in headless Chromium driven over W3C WebDriver.
//!
//! `fleet demo --keep` makes a database and leaves throwaway sshd hosts running;
//! `fleet serve` serves the admin; chromedriver drives Chromium through it as a
//! person would: log in, pick servers and a session with parameters, watch the rows
//! turn green without a reload, start a long command, stop it, read its log.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/install-deps.sh`) and `/usr/sbin/sshd`;
//! fails, never skips, without them. Takes the screenshots of `docs/admin.md` into a
//! scratch directory, or into `docs/images/` with `scripts/doc-images.sh`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{free_port, wait_for_port};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const SSHD: &str = "/usr/sbin/sshd";
/// How long any one wait lasts at most.
const WAIT: Duration = Duration::from_secs(30);
/// Pause between two looks while waiting.
const POLL: Duration = Duration::from_millis(100);
/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const PASSWORD: &str = "e2e-password-123";

/// One request to chromedriver on a fresh connection: the status and the JSON body.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let payload = body.map(Value::to_string).unwrap_or_default();
    let answer = common::request(
        port,
        method,
        path,
        &["Content-Type: application/json; charset=utf-8"],
        payload.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{method} {path} to chromedriver on port {port}: {e}"));
    let value = serde_json::from_slice(&answer.body).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&answer.body)
        )
    });
    (answer.status, value)
}

fn base64_decode(text: &str) -> Vec<u8> {
    fn six(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().filter_map(six) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

// --- WebDriver --------------------------------------------------------------

/// chromedriver with one headless Chromium session; both end when dropped.
struct Driver {
    port: u16,
    session: String,
    child: Child,
    profile: tempfile::TempDir,
}

#[derive(Clone, Debug)]
struct El(String);

impl Driver {
    fn start() -> Driver {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install Debian's `{package}` (scripts/install-deps.sh does)"
            );
        }
        let port = free_port();
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        wait_for_port(port, &mut child, "chromedriver");
        let profile = tempfile::Builder::new()
            .prefix("minke-e2e-chromium-")
            .tempdir()
            .unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--no-first-run",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1400,1000",
                ],
            },
        }}});
        let mut driver = Driver {
            port,
            session: String::new(),
            child,
            profile,
        };
        let (status, v) = http(port, "POST", "/session", Some(&caps));
        assert_eq!(status, 200, "chromedriver could not start Chromium: {v}");
        driver.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {v}"))
            .to_owned();
        driver
    }

    /// A WebDriver command of the session; panics on an error answer.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let full = format!("/session/{}{path}", self.session);
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        let (status, v) = http(self.port, method, &full, body.as_ref());
        if status == 200 {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{status} {}: {}",
                v["value"]["error"],
                v["value"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            ))
        }
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn try_find(&self, css: &str) -> Option<El> {
        let v = self
            .try_cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        v[ELEMENT].as_str().map(|s| El(s.to_owned()))
    }

    /// The element `css` selects, waited for.
    fn find(&self, css: &str) -> El {
        self.wait(&format!("an element `{css}`"), || self.try_find(css))
    }

    fn find_all(&self, css: &str) -> Vec<El> {
        let v = self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| El(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn click(&self, el: &El) {
        self.cmd("POST", &format!("/element/{}/click", el.0), None);
    }

    /// Clears a field and types into it.
    fn type_into(&self, el: &El, text: &str) {
        self.cmd("POST", &format!("/element/{}/clear", el.0), None);
        self.cmd(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        );
    }

    fn text(&self, el: &El) -> String {
        self.cmd("GET", &format!("/element/{}/text", el.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Polls `f` until it gives a value, for at most [`WAIT`]; panics with what was
    /// awaited, the page's address and the start of its text.
    fn wait<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() >= deadline {
                let text = self
                    .try_cmd(
                        "POST",
                        "/execute/sync",
                        Some(json!({"script": "return document.body ? document.body.innerText : ''", "args": []})),
                    )
                    .map(|v| v.as_str().unwrap_or_default().chars().take(2000).collect())
                    .unwrap_or_else(|e| e);
                panic!(
                    "waited {WAIT:?} for {what} in vain; the page {} shows:\n{text}",
                    self.url()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until a script returns `true`.
    fn wait_js(&self, what: &str, script: &str) {
        self.wait(what, || {
            (self.js(script) == Value::Bool(true)).then_some(())
        });
    }

    /// An attribute of an element, if it has it.
    fn attr(&self, el: &El, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{}/attribute/{name}", el.0), None)
            .as_str()
            .map(str::to_owned)
    }

    /// The current value of the form control `css` selects.
    fn value(&self, css: &str) -> String {
        let el = self.find(css);
        self.cmd("GET", &format!("/element/{}/property/value", el.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn screenshot(&self, path: &Path) {
        let png = base64_decode(self.cmd("GET", "/screenshot", None).as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is no PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            // Closes Chromium; chromedriver goes next.
            let _ = std::panic::catch_unwind(|| http(self.port, "DELETE", &path, None));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A browser whose session never got an id (or whose driver hung) outlives
        // chromedriver: end whatever still runs with this test's own profile.
        let left = minke_testkit::find_processes(&self.profile.path().to_string_lossy());
        if !left.is_empty() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(left.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        }
    }
}

// --- the app under test -----------------------------------------------------

/// The demo's directory; its sshd hosts are stopped when dropped.
struct Demo {
    dir: tempfile::TempDir,
    db: String,
}

impl Demo {
    fn start(hosts: usize) -> Demo {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (scripts/install-deps.sh does)"
        );
        let dir = tempfile::Builder::new()
            .prefix("minke-e2e-")
            .tempdir()
            .unwrap();
        let db = dir.path().join("minke.db").to_string_lossy().into_owned();
        let demo = Demo { dir, db };
        let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
            .args(["demo", "--hosts", &hosts.to_string(), "--keep", "--dir"])
            .arg(demo.dir.path())
            .env_remove("MINKE_DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "fleet demo failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        demo
    }

    fn fleet(&self, args: &[&str], password: Option<&str>) -> String {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fleet"));
        c.arg("--database")
            .arg(&self.db)
            .args(args)
            .env_remove("MINKE_DATABASE_URL")
            .stdin(Stdio::null());
        if let Some(p) = password {
            c.env("MINKE_PASSWORD", p);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "fleet {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let stopped = Command::new(env!("CARGO_BIN_EXE_fleet"))
            .args(["demo", "--stop", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = minke_testkit::Fleet::stop_in(&self.dir.path().join("hosts"));
        }
    }
}

/// Where the screenshots go: the directory named by `MINKE_DOC_IMAGES` (the docs'
/// images are refreshed by `scripts/doc-images.sh`, which sets it to `docs/images`),
/// else a scratch directory of the test, so that a test run never changes the tree.
fn images_dir(scratch: &Path) -> PathBuf {
    let dir = std::env::var_os("MINKE_DOC_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch.join("images"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `data-run-id` of the run panel, checked against the page's address.
fn run_id_of_page(b: &Driver) -> String {
    let panel = b.find("#run-panel[data-run-id]");
    let id = b.cmd(
        "GET",
        &format!("/element/{}/attribute/data-run-id", panel.0),
        None,
    );
    let id = id.as_str().unwrap().to_owned();
    assert!(
        b.url().ends_with(&format!("run={id}")),
        "the changelist shows run {id} at {}",
        b.url()
    );
    id
}

/// Picks a session in the changelist's menu by its name.
fn choose_session(b: &Driver, name: &str) {
    b.click(&b.find(&format!("select#session option[value=\"{name}\"]")));
    let chosen = b.js("return document.querySelector('select#session').value");
    assert_eq!(chosen, name);
}

/// Sets field `name` of the object form: typed into its input, or, when the model
/// gives the field choices (a select), `wanted` chosen if it is one of them, else the
/// first choice other than the current one. Returns the value set.
fn fill_field(b: &Driver, name: &str, wanted: &str) -> String {
    let css = format!("#object-form #field-{name}");
    let el = b.find(&css);
    let tag = b.cmd("GET", &format!("/element/{}/name", el.0), None);
    if tag.as_str() != Some("select") {
        b.type_into(&el, wanted);
        return wanted.to_owned();
    }
    let current = b.value(&css);
    let options: Vec<String> = b
        .find_all(&format!("{css} option"))
        .iter()
        .filter_map(|o| b.attr(o, "value"))
        .collect();
    let value = if options.iter().any(|o| o == wanted) {
        wanted.to_owned()
    } else {
        options
            .iter()
            .find(|o| !o.is_empty() && **o != current)
            .unwrap_or_else(|| panic!("`{name}` offers no other choice than {options:?}"))
            .clone()
    };
    b.click(&b.find(&format!("{css} option[value=\"{value}\"]")));
    assert_eq!(b.value(&css), value);
    value
}

/// The text of the object page's row of field `name`.
fn object_field(b: &Driver, name: &str) -> String {
    b.text(&b.find(&format!("table#object-fields tr[data-field=\"{name}\"] td")))
}

const MARK: &str = "window.__minkeMarker = 1; return true;";
const MARKED: &str = "return window.__minkeMarker === 1;";

#[test]
fn admin_in_a_browser() {
    let started = Instant::now();
    let demo = Demo::start(3);
    demo.fleet(&["users", "add", "admin", "--superuser"], Some(PASSWORD));
    let serve = common::Serve::start(&demo.db, demo.dir.path(), &[], &[]);
    let b = Driver::start();
    let base = &serve.url("");
    eprintln!("set up in {:.1}s", started.elapsed().as_secs_f64());

    // A page needs a login; the login page brings one back to it.
    b.goto(&format!("{base}/models/server"));
    b.find("#login-form");
    assert!(b.url().contains("/login?next="), "{}", b.url());
    b.type_into(&b.find("#username"), "admin");
    b.type_into(&b.find("#password"), "not the password");
    b.click(&b.find("button#login"));
    let error = b.find("#login-error");
    assert!(b.text(&error).contains("Wrong user name or password"));
    b.type_into(&b.find("#password"), PASSWORD);
    b.click(&b.find("button#login"));
    b.find("#changelist-form");
    assert!(b.url().ends_with("/models/server"), "{}", b.url());
    b.find("button#logout");

    // Three servers, each selected by hand, and a session with parameters.
    let rows = b.find_all("#changelist tr[data-object-id]");
    assert_eq!(rows.len(), 3, "the demo has three servers");
    for cb in b.find_all("#changelist tr[data-object-id] input.select-row") {
        b.click(&cb);
    }
    assert_eq!(
        b.js("return document.querySelectorAll('input.select-row:checked').length"),
        json!(3)
    );
    choose_session(&b, "disk_usage");
    b.click(&b.find("button#run"));

    // The parameter form.
    b.find("#run-form");
    for p in ["path", "threshold"] {
        b.find(&format!("#params .field[data-param=\"{p}\"]"));
    }
    assert!(b.text(&b.find("#selection-count")).starts_with("3 objects"));
    b.type_into(&b.find("#p_path"), "/tmp");
    // Above any real use, so that every row ends green.
    b.type_into(&b.find("#p_threshold"), "100");
    b.click(&b.find("button#confirm-run"));

    // The run shows in the changelist and ends green, without a reload.
    let disk_run = run_id_of_page(&b);
    b.js(MARK);
    b.wait_js(
        "three rows with status success",
        "const rows = document.querySelectorAll('#changelist tr[data-session-id]');
         return rows.length === 3 && Array.from(rows).every(r =>
             r.classList.contains('row-success')
             && r.querySelector('.status-cell .status.status-success') !== null
             && r.querySelector('.state-cell .state.state-completed') !== null);",
    );
    b.wait_js(
        "the run marked finished with three successes",
        "return document.querySelector('#run-state').textContent === 'finished'
             && document.querySelector('#count-done').textContent === '3'
             && document.querySelector('#count-success').textContent === '3';",
    );
    assert_eq!(b.js(MARKED), json!(true), "the page was reloaded");
    // Each row shows the session's message: df's table of /tmp.
    assert_eq!(
        b.js("return Array.from(document.querySelectorAll('#changelist tr[data-session-id] .messages li.message')).length"),
        json!(3)
    );
    assert_eq!(
        b.js("return document.querySelector('button#stop-all').hidden"),
        json!(true)
    );

    // A long command on the same servers: the confirmation page lists them.
    b.click(&b.find("#select-page"));
    assert_eq!(
        b.js("return document.querySelectorAll('input.select-row:checked').length"),
        json!(3)
    );
    choose_session(&b, "command");
    b.click(&b.find("button#run"));
    b.find("#run-form");
    let confirm = b.find_all("#confirm-objects input.confirm-object");
    assert_eq!(confirm.len(), 3);
    assert_eq!(
        b.js("return document.querySelectorAll('#confirm-objects input.confirm-object:checked').length"),
        json!(3)
    );
    b.type_into(&b.find("#p_cmd"), "echo started; sleep 120; echo never");
    b.click(&b.find("button#confirm-run"));
    let command_run = run_id_of_page(&b);
    assert_ne!(command_run, disk_run);
    b.js(MARK);
    b.wait_js(
        "three running rows showing their first output",
        "const rows = document.querySelectorAll('#changelist tr[data-session-id]');
         return rows.length === 3 && Array.from(rows).every(r =>
             r.classList.contains('row-running')
             && r.querySelector('.state-cell .state.state-running') !== null
             && r.querySelector('.output-cell pre.output').textContent.includes('started'));",
    );
    b.wait_js(
        "the counts of three running sessions",
        "return document.querySelector('#count-running').textContent === '3'
             && document.querySelector('#run-state').textContent === 'running';",
    );
    b.screenshot(&images_dir(demo.dir.path()).join("admin-changelist-run.png"));

    // Stop the first row: once (after the current command), then at once.
    let first = "#changelist tr[data-session-id]:first-child";
    let stop = b.find(&format!("{first} button.stop"));
    b.click(&stop);
    b.wait("the stop button to offer stopping at once", || {
        (b.text(&stop) == "Stop now").then_some(())
    });
    assert_eq!(
        b.js(&format!(
            "return document.querySelector('{first} button.stop').classList.contains('stopping')"
        )),
        json!(true)
    );
    b.click(&stop);
    b.wait_js(
        "the first row stopped",
        &format!(
            "const r = document.querySelector('{first}');
             return r.classList.contains('row-stopped')
                 && r.querySelector('.state-cell .state.state-stopped') !== null
                 && r.querySelector('button.stop').hidden;"
        ),
    );
    assert_eq!(
        b.js("return document.querySelectorAll('#changelist tr.row-running').length"),
        json!(2),
        "stopping one session leaves the others running"
    );
    let log_link = b.js(&format!(
        "return document.querySelector('{first} a.log-link').getAttribute('href')"
    ));

    // Stop all the others, twice for at once.
    let stop_all = b.find("button#stop-all");
    b.click(&stop_all);
    b.wait("`Stop all now`", || {
        (b.text(&stop_all) == "Stop all now").then_some(())
    });
    b.click(&stop_all);
    b.wait_js(
        "every row stopped and the run finished",
        "const rows = document.querySelectorAll('#changelist tr[data-session-id]');
         return Array.from(rows).every(r => r.classList.contains('row-stopped'))
             && document.querySelector('#run-state').textContent === 'finished'
             && document.querySelector('#count-done').textContent === '3';",
    );
    assert_eq!(b.js(MARKED), json!(true), "the page was reloaded");

    // The stopped session's page: its command and the output it wrote.
    b.click(&b.find(&format!("{first} a.log-link")));
    b.find("#session-info");
    assert!(
        b.url().ends_with(log_link.as_str().unwrap()),
        "{} is not {log_link}",
        b.url()
    );
    let info = b.text(&b.find("#session-info"));
    assert!(info.contains("stopped"), "{info}");
    b.find("#commands .command[data-seq]");
    let line = b.text(&b.find("#commands .command code.command-line"));
    assert!(line.contains("echo started; sleep 120"), "{line}");
    let stdout = b.text(&b.find("#commands pre.stdout"));
    assert_eq!(stdout.trim(), "started");
    let exit = b.text(&b.find("#commands .command .exit-code"));
    assert!(!exit.contains("exit 0"), "a killed command: {exit}");
    b.screenshot(&images_dir(demo.dir.path()).join("admin-session.png"));

    // A server added through its form: refused first without a name (what was
    // typed kept), its host picked with the search box.
    b.goto(&format!("{base}/models/server"));
    b.click(&b.find("a#add-object"));
    b.find("form#object-form");
    assert!(b.url().ends_with("/models/server/add"), "{}", b.url());
    for f in ["name", "host_id", "role"] {
        b.find(&format!("#object-form p.field[data-field=\"{f}\"]"));
    }
    b.type_into(&b.find("#search-host_id"), "mo-02");
    b.wait_js(
        "the host search offering demo-02 only",
        "const bs = document.querySelectorAll('#results-host_id button.relation-choice');
         return bs.length > 0 && Array.from(bs).every(b => b.textContent.includes('demo-02'));",
    );
    let choice = b.find("#results-host_id button.relation-choice");
    let host_id = b.attr(&choice, "data-id").unwrap();
    assert!(host_id.parse::<i64>().is_ok(), "data-id {host_id:?}");
    b.click(&choice);
    b.wait("the host's id filled in", || {
        (b.value("#field-host_id") == host_id).then_some(())
    });
    assert_eq!(b.text(&b.find("#label-host_id")), "demo-02");
    let role = fill_field(&b, "role", "cache");
    // Filled in when the form has them (they may be read-only).
    let optional: Vec<&str> = ["kernel", "uptime"]
        .into_iter()
        .filter(|f| b.try_find(&format!("#object-form #field-{f}")).is_some())
        .collect();
    for f in &optional {
        fill_field(&b, f, &format!("{f} by hand"));
    }
    b.click(&b.find("button#save"));
    let error = b.text(&b.find("#error-name"));
    assert!(error.contains("required"), "{error}");
    assert!(b.url().ends_with("/models/server/add"), "{}", b.url());
    b.find("#object-form p.field.invalid[data-field=\"name\"]");
    assert_eq!(b.value("#field-name"), "");
    assert_eq!(b.value("#field-host_id"), host_id);
    assert_eq!(b.text(&b.find("#label-host_id")), "demo-02");
    assert_eq!(b.value("#field-role"), role);
    for f in &optional {
        assert_eq!(b.value(&format!("#field-{f}")), format!("{f} by hand"));
    }
    b.screenshot(&images_dir(demo.dir.path()).join("admin-object-form.png"));
    b.type_into(&b.find("#field-name"), "web-e2e");
    b.click(&b.find("button#save"));
    b.find("table#object-fields");
    let url = b.url();
    let server_id: i64 = url
        .strip_prefix(&format!("{base}/models/server/"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the added server's page is at {url}"));
    assert_eq!(object_field(&b, "name"), "web-e2e");
    assert_eq!(object_field(&b, "role"), role);
    assert!(object_field(&b, "host_id").contains(&host_id));

    // Changed through its change form.
    b.click(&b.find("a#change"));
    b.find("form#object-form");
    assert!(
        b.url()
            .ends_with(&format!("/models/server/{server_id}/change")),
        "{}",
        b.url()
    );
    assert_eq!(b.value("#field-name"), "web-e2e");
    assert_eq!(b.value("#field-host_id"), host_id);
    assert_eq!(b.text(&b.find("#label-host_id")), "demo-02");
    // The id, and the optional fields without inputs, are shown, not asked.
    b.find("#read-only-fields tr[data-field=\"id\"]");
    for f in ["kernel", "uptime"] {
        if !optional.contains(&f) {
            b.find(&format!("#read-only-fields tr[data-field=\"{f}\"]"));
            assert!(b.try_find(&format!("#object-form #field-{f}")).is_none());
        }
    }
    let new_role = fill_field(&b, "role", "db");
    assert_ne!(new_role, role);
    b.click(&b.find("button#save"));
    b.find("table#object-fields");
    assert!(
        b.url().ends_with(&format!("/models/server/{server_id}")),
        "{}",
        b.url()
    );
    assert_eq!(object_field(&b, "role"), new_role);
    assert_eq!(object_field(&b, "name"), "web-e2e");

    // A command failing on it alone.
    b.goto(&format!("{base}/models/server"));
    let row = format!("#changelist tr[data-object-id=\"{server_id}\"]");
    assert_eq!(b.text(&b.find(&format!("{row} a.object-link"))), "web-e2e");
    b.click(&b.find(&format!("{row} input.select-row")));
    assert_eq!(
        b.js("return document.querySelectorAll('input.select-row:checked').length"),
        json!(1)
    );
    choose_session(&b, "command");
    b.click(&b.find("button#run"));
    b.find("#run-form");
    let confirm = b.find_all("#confirm-objects input.confirm-object:checked");
    assert_eq!(confirm.len(), 1);
    assert_eq!(b.attr(&confirm[0], "value"), Some(server_id.to_string()));
    b.type_into(&b.find("#p_cmd"), "echo failing; exit 3");
    b.click(&b.find("button#confirm-run"));
    let failed_run = run_id_of_page(&b);
    b.wait_js(
        "the one row ended with an error and the run finished",
        &format!(
            "const rows = document.querySelectorAll('#changelist tr[data-session-id]');
             const r = document.querySelector('{row}');
             return rows.length === 1 && rows[0] === r
                 && r.classList.contains('row-error') && !r.classList.contains('row-success')
                 && r.querySelector('.status-cell .status.status-error') !== null
                 && document.querySelector('#run-state').textContent === 'finished'
                 && document.querySelector('#count-error').textContent === '1'
                 && document.querySelector('#count-success').textContent === '0';"
        ),
    );

    // Again on the objects that failed, from the run's page: the command is asked
    // again, filled in.
    b.click(&b.find("a#run-link"));
    b.find("#run-sessions");
    assert!(
        b.url().ends_with(&format!("/runs/{failed_run}")),
        "{}",
        b.url()
    );
    let ids: Vec<String> = b
        .find_all("form#rerun input[name=\"ids\"]")
        .iter()
        .filter_map(|i| b.attr(i, "value"))
        .collect();
    assert_eq!(ids, [server_id.to_string()]);
    b.click(&b.find("form#rerun button[type=\"submit\"]"));
    b.find("#run-form");
    let confirm = b.find_all("#confirm-objects input.confirm-object");
    assert_eq!(confirm.len(), 1);
    assert_eq!(b.attr(&confirm[0], "value"), Some(server_id.to_string()));
    assert_eq!(
        b.js("return document.querySelectorAll('#confirm-objects input.confirm-object:checked').length"),
        json!(1)
    );
    assert_eq!(b.value("#p_cmd"), "echo failing; exit 3");
    b.type_into(&b.find("#p_cmd"), "echo fixed");
    b.click(&b.find("button#confirm-run"));
    let rerun = run_id_of_page(&b);
    assert_ne!(rerun, failed_run);
    b.wait_js(
        "the rerun's one row ended green",
        &format!(
            "const rows = document.querySelectorAll('#changelist tr[data-session-id]');
             const r = document.querySelector('{row}');
             return rows.length === 1 && rows[0] === r
                 && r.classList.contains('row-success')
                 && document.querySelector('#run-state').textContent === 'finished'
                 && document.querySelector('#count-total').textContent === '1'
                 && document.querySelector('#count-success').textContent === '1';"
        ),
    );

    // Deleted from its page (which lists both sessions, newest first): nothing
    // points at it.
    b.click(&b.find(&format!("{row} a.object-link")));
    b.find("table#object-fields");
    assert_eq!(
        b.js("return Array.from(document.querySelectorAll('#object-sessions tr[data-session-id] .status')).map(s => s.textContent)"),
        json!(["success", "error"])
    );
    b.click(&b.find("a#delete"));
    let question = b.text(&b.find("#delete-question"));
    assert!(
        b.url()
            .ends_with(&format!("/models/server/{server_id}/delete")),
        "{}",
        b.url()
    );
    assert!(question.contains("web-e2e"), "{question}");
    assert!(b.try_find("#delete-refused").is_none());
    b.click(&b.find("button#confirm-delete"));
    b.find("#changelist-form");
    assert!(b.url().ends_with("/models/server"), "{}", b.url());
    assert!(b.try_find(&row).is_none(), "the deleted server is listed");
    assert_eq!(b.find_all("#changelist tr[data-object-id]").len(), 3);

    // A demo server that web applications run on cannot be deleted.
    let srv01 = b.js(
        "const r = Array.from(document.querySelectorAll('#changelist tr[data-object-id]'))
             .find(r => r.querySelector('a.object-link').textContent === 'srv-01');
         return r ? r.getAttribute('data-object-id') : null;",
    );
    let srv01 = srv01.as_str().expect("srv-01 is listed").to_owned();
    b.click(&b.find(&format!(
        "#changelist tr[data-object-id=\"{srv01}\"] a.object-link"
    )));
    b.find("table#object-fields");
    b.click(&b.find("a#delete"));
    let refused = b.text(&b.find("#delete-refused"));
    assert!(
        b.url().ends_with(&format!("/models/server/{srv01}/delete")),
        "{}",
        b.url()
    );
    assert!(refused.contains("srv-01"), "{refused}");
    let protected: Vec<String> = b
        .find_all("ul#protected-by li")
        .iter()
        .map(|li| b.text(li))
        .collect();
    assert!(
        protected
            .iter()
            .any(|p| p.contains("shop-01") && p.contains("blog-01")),
        "{protected:?}"
    );
    assert!(b.try_find("#confirm-delete").is_none());
    assert!(b.try_find("#delete-question").is_none());

    // A host added behind a jump host given by name: an unknown name is refused
    // beside its field (what was typed kept), then the search offers the hosts
    // matching what is typed, and picking one puts its name in the field.
    b.goto(&format!("{base}/hosts/add"));
    b.find("form#host-form");
    assert!(
        b.find_all("#host-form select#jump_host").is_empty(),
        "no menu"
    );
    b.type_into(&b.find("#name"), "e2e-behind");
    b.type_into(&b.find("#hostname"), "127.0.0.1");
    b.type_into(&b.find("#jump_host"), "nowhere-e2e");
    b.click(&b.find("button#save"));
    let error = b.text(&b.find("#error-jump_host"));
    assert!(error.contains("No host is named `nowhere-e2e`"), "{error}");
    assert_eq!(b.value("#name"), "e2e-behind");
    assert_eq!(b.value("#hostname"), "127.0.0.1");
    assert_eq!(b.value("#jump_host"), "nowhere-e2e");
    b.type_into(&b.find("#jump_host"), "mo-01");
    b.wait_js(
        "the jump host search offering demo-01 only",
        "const bs = document.querySelectorAll('#results-jump_host button.relation-choice');
         return bs.length > 0 && Array.from(bs).every(b => b.textContent.startsWith('demo-01 ('));",
    );
    b.click(&b.find("#results-jump_host button.relation-choice"));
    b.wait("the jump host's name filled in", || {
        (b.value("#jump_host") == "demo-01").then_some(())
    });
    b.click(&b.find("button#save"));
    let via = b.text(&b.find("#hosts tr[data-host-id] td.jump-host"));
    assert!(b.url().contains("/hosts?q=e2e-behind"), "{}", b.url());
    assert_eq!(via, "demo-01");
    b.click(&b.find("#hosts tr[data-host-id] a.edit"));
    b.find("form#host-form");
    assert_eq!(b.value("#jump_host"), "demo-01");

    // The users page: a user added (a refused form first, its values kept), a
    // permission granted through the matrix.
    b.click(&b.find("#nav-users"));
    b.click(&b.find("#add-user"));
    b.type_into(&b.find("#name"), "ops");
    b.type_into(&b.find("#password"), "short");
    b.type_into(&b.find("#password2"), "short");
    b.click(&b.find("button#save"));
    assert!(b.text(&b.find("#password-error")).contains("at least 8"));
    assert_eq!(
        b.js("return document.getElementById('name').value"),
        json!("ops")
    );
    b.type_into(&b.find("#password"), "ops password");
    b.type_into(&b.find("#password2"), "ops password");
    b.click(&b.find("button#save"));
    assert!(b.text(&b.find("#notice")).contains("was added"));
    b.click(&b.find(r#"input[data-permission="view_server"]"#));
    b.click(&b.find("button#save-permissions"));
    b.wait_js(
        "the permissions saved",
        "const n = document.getElementById('notice'); return !!n && n.textContent.includes('permissions were saved');",
    );
    assert_eq!(
        b.js(r#"return document.querySelector('input[data-permission="view_server"]').checked"#),
        json!(true)
    );
    b.screenshot(&images_dir(demo.dir.path()).join("admin-user.png"));

    // The audit log tells it, newest first.
    b.click(&b.find("#nav-audit"));
    let actions: Vec<String> = b
        .find_all("#audit tr[data-action]")
        .iter()
        .map(|r| b.text(r))
        .collect();
    assert!(
        actions[0].contains("permission granted") && actions[0].contains("view_server"),
        "{actions:?}"
    );
    assert!(actions[1].contains("user added") && actions[1].contains("user ops"));
    // The server's life, newest first: deleted, changed, added.
    let place = |action: &str| {
        actions
            .iter()
            .position(|a| a.contains(action) && a.contains("web-e2e"))
            .unwrap_or_else(|| panic!("no `{action}` of web-e2e in {actions:?}"))
    };
    let (deleted, changed, added) = (
        place("object deleted"),
        place("object changed"),
        place("object added"),
    );
    assert!(deleted < changed && changed < added, "{actions:?}");
    assert!(actions.iter().any(|a| a.contains("run stopped")));
    assert!(actions.iter().any(|a| a.contains("run started")));
    assert!(actions.iter().any(|a| a.contains("failed login")));
    b.screenshot(&images_dir(demo.dir.path()).join("admin-audit.png"));

    // Logging out ends the login.
    b.click(&b.find("button#logout"));
    b.find("#login-form");
    b.goto(&format!("{base}/models/server"));
    b.find("#login-form");

    // The new user sees the model granted, and not the users page.
    b.type_into(&b.find("#username"), "ops");
    b.type_into(&b.find("#password"), "ops password");
    b.click(&b.find("button#login"));
    b.find("#changelist-form");
    assert!(b.try_find("#nav-users").is_none());
    b.goto(&format!("{base}/users"));
    assert!(
        b.text(&b.find("#error-message"))
            .contains("only superusers")
    );
    b.goto(&format!("{base}/"));
    b.click(&b.find("button#logout"));
    b.find("#login-form");

    drop(b);
    drop(serve);
    drop(demo);
    eprintln!("admin e2e took {:.1}s", started.elapsed().as_secs_f64());
}

/// The admin watching a run that a worker executes (PostgreSQL): started from the
/// changelist of `fleet serve --submit`, it goes to the queue; a `fleet worker`
/// process runs it, and the page shows its rows running with the output printed so
/// far, then ending green, without a reload.
#[test]
fn admin_follows_a_workers_run_in_a_browser() {
    let started = Instant::now();
    let pg = common::pg_database("e2eworker");
    let setup = common::Setup::on(minke_testkit::Fleet::start(2).unwrap(), pg.url());
    common::pg_exec(
        pg.url(),
        "INSERT INTO servers (name, host_id, role) \
         SELECT 'srv-' || name, id, 'app' FROM minke_hosts",
    );
    // The password superuser_token gives its user.
    let _token = common::superuser_token(pg.url(), "admin");
    let serve = common::Serve::start(pg.url(), setup.dir.path(), &["--submit"], &[]);
    let _worker = common::WorkerProc::start(pg.url(), setup.dir.path(), "w1", &[], &[]);
    let b = Driver::start();
    let base = &serve.url("");
    eprintln!("set up in {:.1}s", started.elapsed().as_secs_f64());

    b.goto(&format!("{base}/models/server"));
    b.type_into(&b.find("#username"), "admin");
    b.type_into(&b.find("#password"), "a-long-test-password");
    b.click(&b.find("button#login"));
    b.find("#changelist-form");
    for cb in b.find_all("#changelist tr[data-object-id] input.select-row") {
        b.click(&cb);
    }
    choose_session(&b, "command");
    b.click(&b.find("button#run"));
    b.find("#run-form");
    // Long enough to be seen running with its first line printed.
    b.type_into(
        &b.find("#p_cmd"),
        "echo first-line; sleep 4; echo last-line",
    );
    b.click(&b.find("button#confirm-run"));
    let run = run_id_of_page(&b);
    b.js(MARK);
    b.wait_js(
        "two running rows showing the worker's first output",
        "const rows = document.querySelectorAll('#changelist tr[data-session-id]');
         return rows.length === 2 && Array.from(rows).every(r =>
             r.classList.contains('row-running')
             && r.querySelector('.output-cell pre.output .command-line')?.textContent.includes('sleep 4')
             && r.querySelector('.output-cell pre.output span.out')?.textContent.includes('first-line'));",
    );
    b.wait_js(
        "two rows ended green and the run finished",
        "const rows = document.querySelectorAll('#changelist tr[data-session-id]');
         return rows.length === 2 && Array.from(rows).every(r =>
             r.classList.contains('row-success')
             && r.querySelector('.state-cell .state.state-completed') !== null)
             && document.querySelector('#run-state').textContent === 'finished'
             && document.querySelector('#count-success').textContent === '2';",
    );
    assert_eq!(b.js(MARKED), json!(true), "the page was reloaded");
    // The worker ran it, through the queue; the admin process ran nothing.
    let workers = common::pg_texts(
        pg.url(),
        &format!("SELECT DISTINCT worker AS t FROM minke_work_items WHERE run_id = {run}"),
    );
    assert_eq!(workers, ["w1"]);
    let outputs = common::pg_texts(
        pg.url(),
        &format!(
            "SELECT convert_from(c.stdout, 'UTF8') AS t FROM minke_commands c \
             JOIN minke_sessions s ON s.id = c.session_id WHERE s.run_id = {run}"
        ),
    );
    assert_eq!(
        outputs,
        ["first-line\nlast-line\n", "first-line\nlast-line\n"],
        "the end overwrote the output written while it ran"
    );
    drop(b);
    drop(serve);
    eprintln!(
        "admin e2e with a worker took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
