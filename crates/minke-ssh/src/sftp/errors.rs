//! SFTP failures in words.

use super::*;

/// Turns russh-sftp's error into ours.
pub(super) fn sftp_error(
    conn: &Connection,
    path: &str,
    action: &'static str,
    e: SftpError,
) -> Error {
    let host = conn.host().to_owned();
    let path = path.to_owned();
    match e {
        SftpError::Status(status) => match problem_of(status.status_code) {
            Some(problem) => Error::RemoteFile {
                host,
                path,
                action,
                problem,
                message: status.error_message,
            },
            None => Error::Sftp {
                host,
                path,
                detail: format!(
                    "the server answered `{}` to the request to {action} it",
                    status.status_code
                ),
            },
        },
        SftpError::Timeout => Error::TransferTimeout {
            host,
            path,
            timeout: REQUEST_TIMEOUT,
        },
        other if conn.is_closed() => Error::Disconnected {
            host,
            detail: format!("while trying to {action} `{path}` over SFTP: {other}"),
            output: None,
        },
        other => Error::Sftp {
            host,
            path,
            detail: format!("{other} (while trying to {action} it)"),
        },
    }
}

/// The problem an SFTP status names, if it is about the file.
pub(super) fn problem_of(code: StatusCode) -> Option<RemoteFileProblem> {
    match code {
        StatusCode::NoSuchFile => Some(RemoteFileProblem::NoSuchFile),
        StatusCode::PermissionDenied => Some(RemoteFileProblem::PermissionDenied),
        StatusCode::Failure => Some(RemoteFileProblem::Failure),
        StatusCode::OpUnsupported => Some(RemoteFileProblem::Unsupported),
        // Ok, Eof, BadMessage, NoConnection, ConnectionLost: not about the file.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_become_problems_in_words() {
        assert_eq!(
            problem_of(StatusCode::NoSuchFile),
            Some(RemoteFileProblem::NoSuchFile)
        );
        assert_eq!(
            problem_of(StatusCode::PermissionDenied),
            Some(RemoteFileProblem::PermissionDenied)
        );
        assert_eq!(problem_of(StatusCode::BadMessage), None);
        let e = Error::RemoteFile {
            host: "web1 (127.0.0.1:22)".into(),
            path: "/nope".into(),
            action: "open",
            problem: RemoteFileProblem::NoSuchFile,
            message: "No such file".into(),
        };
        assert_eq!(
            e.to_string(),
            "web1 (127.0.0.1:22): cannot open `/nope`: no such file or directory"
        );
        assert_eq!(e.reason(), minke_core::FailReason::Transfer);
        let e = Error::RemoteFile {
            host: "web1 (127.0.0.1:22)".into(),
            path: "/q".into(),
            action: "write",
            problem: RemoteFileProblem::Failure,
            message: "Disk quota exceeded".into(),
        };
        assert!(
            e.to_string().ends_with(
                "the SFTP server reported a failure (the server said: Disk quota exceeded)"
            ),
            "{e}"
        );
        let e = Error::NoSftp {
            host: "web1 (127.0.0.1:22)".into(),
            path: "/x".into(),
        };
        assert!(
            e.to_string().starts_with(
                "web1 (127.0.0.1:22) has no SFTP subsystem (sshd_config `Subsystem sftp`)"
            ),
            "{e}"
        );
    }
}
