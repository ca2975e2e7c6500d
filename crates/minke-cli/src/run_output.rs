//! `run --stream` and `run --output-dir`: output as it arrives, never held whole.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use minke_core::SessionId;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use minke_runtime::{OutputStream, RunObserver};

use crate::term::Shown;

/// A partial line longer than this is written out without waiting for its newline.
const MAX_PARTIAL_LINE: usize = 64 * 1024;

/// A host name as a file name that cannot leave its directory: `/`, `%`, control
/// characters and a leading `.` are percent-encoded (`%2F`, `%25`, `%0A`, `%2E`), so
/// two host names never share a file.
pub(crate) fn safe_file_name(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for (i, c) in host.chars().enumerate() {
        if c == '/' || c == '%' || c == '\\' || c.is_control() || (i == 0 && c == '.') {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes each host's output to `DIR/HOST.stdout` and `DIR/HOST.stderr` as it arrives,
/// and/or prints complete lines prefixed `[HOST] ` (stdout to stdout, stderr to
/// stderr).
pub(crate) struct OutputWriter {
    dir: Option<PathBuf>,
    stream: bool,
    /// How `--stream` shows output on standard output and standard error.
    shown: (Shown, Shown),
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    files: HashMap<(SessionId, bool), File>,
    /// Files this run has written to already (later opens append).
    seen: std::collections::HashSet<PathBuf>,
    partial: HashMap<(SessionId, bool), Vec<u8>>,
    errors: Vec<String>,
}

impl OutputWriter {
    pub(crate) fn new(dir: Option<PathBuf>, stream: bool, raw: bool) -> std::io::Result<Self> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
        }
        Ok(OutputWriter {
            dir,
            stream,
            shown: (Shown::stdout(raw), Shown::stderr(raw)),
            state: Mutex::new(State::default()),
        })
    }

    /// Problems met while writing (each named once), for the end of the run.
    pub(crate) fn errors(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.errors.clone())
            .unwrap_or_default()
    }

    /// Prints the problems met while writing, for the end of a run; true when there
    /// were any (some output did not reach its files).
    pub(crate) fn tell_errors(&self) -> bool {
        let errors = self.errors();
        for e in &errors {
            eprintln!("error: {e}");
        }
        !errors.is_empty()
    }

    fn print_lines(&self, host: &str, is_err: bool, bytes: &[u8]) {
        let shown = if is_err { self.shown.1 } else { self.shown.0 };
        let host = shown.text(host);
        let mut text = Vec::with_capacity(bytes.len() + 64);
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            text.extend_from_slice(b"[");
            text.extend_from_slice(host.as_bytes());
            text.extend_from_slice(b"] ");
            text.extend_from_slice(&shown.bytes(line));
            if !line.ends_with(b"\n") {
                text.push(b'\n');
            }
        }
        let _ = if is_err {
            std::io::stderr().lock().write_all(&text)
        } else {
            std::io::stdout().lock().write_all(&text)
        };
    }
}

impl RunObserver for OutputWriter {
    fn output(&self, session_id: SessionId, host: &str, stream: OutputStream, data: &[u8]) {
        let is_err = stream == OutputStream::Stderr;
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if let Some(dir) = &self.dir {
            let key = (session_id, is_err);
            if !st.files.contains_key(&key) {
                let path = dir.join(format!(
                    "{}.{}",
                    safe_file_name(host),
                    if is_err { "stderr" } else { "stdout" }
                ));
                // The first write of this run replaces an older file; later ones append.
                let first = st.seen.insert(path.clone());
                let mut opts = std::fs::OpenOptions::new();
                opts.create(true);
                if first {
                    opts.write(true).truncate(true);
                } else {
                    opts.append(true);
                }
                match opts.open(&path) {
                    Ok(f) => {
                        st.files.insert(key, f);
                    }
                    Err(e) => {
                        let msg = format!("cannot write {}: {e}", path.display());
                        if !st.errors.contains(&msg) {
                            st.errors.push(msg);
                        }
                    }
                }
            }
            let failed = st.files.get_mut(&key).map(|f| f.write_all(data));
            if let Some(Err(e)) = failed {
                let msg = format!("writing the output of {host}: {e}");
                if !st.errors.contains(&msg) {
                    st.errors.push(msg);
                }
            }
        }
        if self.stream {
            let key = (session_id, is_err);
            let buf = st.partial.entry(key).or_default();
            buf.extend_from_slice(data);
            let cut = match buf.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if buf.len() > MAX_PARTIAL_LINE => buf.len(),
                None => 0,
            };
            if cut > 0 {
                let done: Vec<u8> = buf.drain(..cut).collect();
                drop(st);
                self.print_lines(host, is_err, &done);
            }
        }
    }

    fn command_finished(&self, session_id: SessionId, host: &str) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        for is_err in [false, true] {
            st.files.remove(&(session_id, is_err));
            if let Some(rest) = st.partial.remove(&(session_id, is_err))
                && !rest.is_empty()
            {
                self.print_lines(host, is_err, &rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn file_names_stay_in_their_directory_and_differ() {
        assert_eq!(safe_file_name("web-1.example.com"), "web-1.example.com");
        assert_eq!(safe_file_name("../../escaped"), "%2E.%2F..%2Fescaped");
        assert_eq!(safe_file_name("/abs/path"), "%2Fabs%2Fpath");
        assert_eq!(safe_file_name("a%2Fb"), "a%252Fb");
        assert_eq!(safe_file_name(".hidden"), "%2Ehidden");
        assert_eq!(safe_file_name("tab\there"), "tab%09here");
        assert_eq!(safe_file_name("back\\slash"), "back%5Cslash");
        for name in ["..", ".", "a/b", "%", "x\u{1b}[31m"] {
            let f = safe_file_name(name);
            assert!(
                !f.contains('/') && !f.starts_with('.') && !f.chars().any(char::is_control),
                "{f}"
            );
        }
        assert_ne!(safe_file_name("a/b"), safe_file_name("a%2Fb"));
    }
}
