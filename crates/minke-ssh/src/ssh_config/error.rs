//! The one error of the resolver: a file, a line and what is wrong there.

/// A problem that stops reading or resolving an ssh_config: it names the file, the
/// line (from 1; 0 when the problem is not about one line) and what is wrong.
///
/// ```
/// use minke_ssh::ssh_config::{Config, Local};
///
/// let local = Local::new("me", "/home/me", "box");
/// let err = Config::parse("Host web\n  Port 70000\n", "cfg", &local).unwrap_err();
/// assert_eq!((err.file.as_str(), err.line), ("cfg", 2));
/// assert_eq!(err.to_string(), "cfg:2: bad port `70000` (a number from 1 to 65535 or a service name)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{at}: {problem}", at = line_suffix(*.line))]
#[non_exhaustive]
pub struct ConfigError {
    /// The file (as given, or as an `Include` found it), or `ssh -G` for its output.
    pub file: String,
    /// The line, from 1; 0 when the problem is not about one line.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    /// An error about `line` of `file`.
    pub(crate) fn new(file: impl Into<String>, line: usize, problem: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            line,
            problem: problem.into(),
        }
    }
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_file_and_line_unless_zero() {
        assert_eq!(ConfigError::new("a", 3, "bad").to_string(), "a:3: bad");
        assert_eq!(ConfigError::new("a", 0, "bad").to_string(), "a: bad");
    }
}
