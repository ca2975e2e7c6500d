//! What a session's `process` works with.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    CommandOutput, Download, Error, Message, MessageLevel, ModelObject, Params, Result, Status,
    Transfer, TransferRequest, Upload, Value, shell_quote,
};

/// One command for an [`Executor`].
#[derive(Clone, Copy, Debug)]
pub struct ExecRequest<'a> {
    /// The command line to run.
    pub command: &'a str,
    /// The command line to record and show (secrets replaced by `***`).
    pub display: &'a str,
    /// Time limit for this command (the runtime's default if `None`).
    pub timeout: Option<Duration>,
    /// Bytes to write to the command's standard input.
    pub stdin: Option<&'a [u8]>,
    /// Run it in a pseudo-terminal (`ssh -t`): for programs that insist on one. Its
    /// stderr then arrives in stdout.
    pub pty: bool,
}

/// Runs commands on one host and records what happens: the runtime's SSH-backed
/// executor, or a mock in users' unit tests.
#[async_trait]
pub trait Executor: Send {
    /// Runs a command to its end and records it. A non-zero exit is `Ok`; `Err` means
    /// the command could not be run (connection lost, timeout, stop).
    async fn exec(&mut self, req: ExecRequest<'_>) -> Result<CommandOutput>;
    /// Carries out a file transfer and records it. Executors that cannot (a mock
    /// not taught to) refuse it, failing the session with the reason `transfer`.
    async fn transfer(&mut self, req: TransferRequest<'_>) -> Result<Transfer> {
        Err(Error::Remote {
            reason: crate::FailReason::Transfer,
            detail: format!("`{}`: this executor cannot transfer files", req.describe()),
        })
    }
    /// Records a message at once.
    async fn message(&mut self, msg: &Message) -> Result<()>;
    /// True once a person asked the session to stop.
    fn stop_requested(&self) -> bool;
}

/// Most bytes [`Context::get`] takes into memory: 64 MiB.
pub const GET_LIMIT: u64 = 64 << 20;

/// The context a session's `process` gets: the object, the parameters, commands,
/// messages and the status.
///
/// ```
/// # use minke_core::*;
/// # async fn demo(cx: &mut Context) -> Result<()> {
/// let out = cx.frun("df -h {path}").await?;        // {path} from a parameter, shell-quoted
/// if !out.ok() {
///     cx.add_msg(Message::command(&out)).await?;
///     cx.set_status(Status::Warning);
/// }
/// cx.update_field("kernel", "uname -r", None).await?; // saved when the session ends
/// # Ok(()) }
/// ```
pub struct Context {
    object: Box<dyn ModelObject>,
    original: Box<dyn ModelObject>,
    params: Params,
    secrets: Vec<String>,
    status: Status,
    exec: Box<dyn Executor>,
    /// The user [`sudo`](Self::sudo) runs commands as when the call names none.
    become_user: Option<String>,
    /// The password [`sudo`](Self::sudo) gives when the call gives none.
    sudo_password: Option<crate::Secret>,
}

/// How [`Context::sudo_with`] runs a command: as which user, with which password,
/// in a pseudo-terminal or not.
///
/// ```
/// use minke_core::{Secret, Sudo};
/// let pw = Secret::new("hunter2");
/// let how = Sudo::new().user("postgres").password(Some(&pw)).pty(true);
/// assert_eq!(how.user_name(), Some("postgres"));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Sudo<'a> {
    user: Option<&'a str>,
    password: Option<&'a crate::Secret>,
    pty: bool,
}

impl<'a> Sudo<'a> {
    /// As the host's become user (root when it has none), with the configured
    /// password if any, without a pty.
    pub fn new() -> Self {
        Sudo::default()
    }

    /// As this user instead of the host's become user.
    pub fn user(mut self, user: &'a str) -> Self {
        self.user = Some(user);
        self
    }

    /// With this password (a `Secret` session parameter, say) instead of the
    /// configured one (`MINKE_SUDO_PASSWORD`); `None` keeps the configured one.
    pub fn password(mut self, password: Option<&'a crate::Secret>) -> Self {
        if password.is_some() {
            self.password = password;
        }
        self
    }

    /// In a pseudo-terminal, for hosts whose sudoers say `requiretty`. The terminal
    /// does not echo: the password never shows in the output.
    pub fn pty(mut self, pty: bool) -> Self {
        self.pty = pty;
        self
    }

    /// The user asked for, if any.
    pub fn user_name(&self) -> Option<&'a str> {
        self.user
    }
}

impl Context {
    /// A context for one object. `secrets` are the values to hide in recorded commands.
    pub fn new(
        object: Box<dyn ModelObject>,
        params: Params,
        secrets: Vec<String>,
        exec: Box<dyn Executor>,
    ) -> Self {
        let original = object.clone_object();
        let secrets = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        Context {
            object,
            original,
            params,
            secrets,
            status: Status::Success,
            exec,
            become_user: None,
            sudo_password: None,
        }
    }

    /// Sets what [`sudo`](Self::sudo) uses when a call says nothing: the host's
    /// become user (root when `None`) and a password (from `MINKE_SUDO_PASSWORD` or
    /// the engine's configuration), which is hidden like the run's secrets.
    pub fn with_sudo(
        mut self,
        become_user: Option<String>,
        password: Option<crate::Secret>,
    ) -> Self {
        if let Some(p) = &password
            && !p.expose().is_empty()
        {
            self.secrets.push(p.expose().to_owned());
        }
        self.become_user = become_user;
        self.sudo_password = password;
        self
    }

    /// The object as its model type.
    ///
    /// Fails with a setup error when the object is of another model.
    pub fn object<T: 'static>(&self) -> Result<&T> {
        let name = self.object.model_name();
        self.object.as_any().downcast_ref::<T>().ok_or_else(|| {
            Error::Setup(format!(
                "the object is a `{name}`, not a `{}`",
                std::any::type_name::<T>()
            ))
        })
    }

    /// The object as its model type, to change fields (saved when the session ends).
    pub fn object_mut<T: 'static>(&mut self) -> Result<&mut T> {
        let name = self.object.model_name();
        self.object.as_any_mut().downcast_mut::<T>().ok_or_else(|| {
            Error::Setup(format!(
                "the object is a `{name}`, not a `{}`",
                std::any::type_name::<T>()
            ))
        })
    }

    /// The object without its type.
    pub fn object_dyn(&self) -> &dyn ModelObject {
        &*self.object
    }

    /// The parameters as given.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The session's status so far.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Raises the status; a lower one is ignored (success < warning < error).
    pub fn set_status(&mut self, status: Status) {
        self.status = self.status.max(status);
    }

    /// True once a person asked to stop.
    pub fn stop_requested(&self) -> bool {
        self.exec.stop_requested()
    }

    /// Fields whose values differ from when the session started.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        self.object
            .field_names()
            .into_iter()
            .filter(|f| self.object.field(f) != self.original.field(f))
            .collect()
    }

    /// Gives the object back (after `process`), to save its changed fields.
    pub fn into_object(self) -> Box<dyn ModelObject> {
        self.object
    }

    /// Runs a command as it is and records it.
    pub async fn run(&mut self, command: &str) -> Result<CommandOutput> {
        let display = self.redact(command);
        self.exec_request(ExecRequest {
            command,
            display: &display,
            timeout: None,
            stdin: None,
            pty: false,
        })
        .await
    }

    /// Runs a command with a time limit of its own.
    pub async fn run_with_timeout(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<CommandOutput> {
        let display = self.redact(command);
        self.exec_request(ExecRequest {
            command,
            display: &display,
            timeout: Some(timeout),
            stdin: None,
            pty: false,
        })
        .await
    }

    /// Runs a command in a pseudo-terminal (as `ssh -t` does), for programs that
    /// refuse to run without one; its stderr arrives mixed into stdout.
    pub async fn run_in_pty(&mut self, command: &str) -> Result<CommandOutput> {
        let display = self.redact(command);
        self.exec_request(ExecRequest {
            command,
            display: &display,
            timeout: None,
            stdin: None,
            pty: true,
        })
        .await
    }

    /// Runs a command with `sudo` as the host's become user (root when it has none),
    /// the password (`password`, else the configured one) written to its standard
    /// input, never to the command line or the history. Without any password, sudo
    /// must not ask for one (`NOPASSWD`). See [`sudo_with`](Self::sudo_with).
    pub async fn sudo(
        &mut self,
        command: &str,
        password: Option<&crate::Secret>,
    ) -> Result<CommandOutput> {
        self.sudo_with(command, Sudo::new().password(password))
            .await
    }

    /// Runs a command with `sudo` as `how` says. The command exiting non-zero is an
    /// output like any other; sudo refusing (a wrong or missing password, a user not
    /// allowed) is an error that fails the session with the reason `sudo`.
    pub async fn sudo_with(&mut self, command: &str, how: Sudo<'_>) -> Result<CommandOutput> {
        let user = how.user.or(self.become_user.as_deref());
        let password = how.password.or(self.sudo_password.as_ref()).cloned();
        let mut wrapped = String::from("sudo");
        wrapped.push_str(if password.is_some() {
            " -S -p ''"
        } else {
            " -n"
        });
        if let Some(u) = user {
            wrapped.push_str(" -u ");
            wrapped.push_str(&shell_quote(u));
        }
        wrapped.push_str(" -- sh -c ");
        wrapped.push_str(&shell_quote(command));
        let display = self.redact(&wrapped);
        let stdin = password.map(|p| format!("{}\n", p.expose()).into_bytes());
        let out = self
            .exec_request(ExecRequest {
                command: &wrapped,
                display: &display,
                timeout: None,
                stdin: stdin.as_deref(),
                pty: how.pty,
            })
            .await?;
        match sudo_refusal(&out) {
            None => Ok(out),
            Some(why) => Err(Error::Remote {
                reason: crate::FailReason::Sudo,
                detail: format!("sudo refused to run `{}`: {why}", self.redact(command)),
            }),
        }
    }

    /// Runs a prepared request.
    pub async fn exec_request(&mut self, req: ExecRequest<'_>) -> Result<CommandOutput> {
        if self.exec.stop_requested() {
            return Err(Error::Stopped);
        }
        self.exec.exec(req).await
    }

    /// Fills `{name}` placeholders (parameters first, then object fields), each value
    /// shell-quoted, then runs the command.
    pub async fn frun(&mut self, template: &str) -> Result<CommandOutput> {
        let command = self.format(template)?;
        self.run(&command).await
    }

    /// Like [`frun`](Self::frun), then adds the result as a message and raises the
    /// status to the result's status.
    pub async fn xrun(&mut self, template: &str) -> Result<CommandOutput> {
        let out = self.frun(template).await?;
        self.add_msg(Message::command(&out)).await?;
        self.set_status(out.status());
        Ok(out)
    }

    /// Runs a command and stores its output in a field of the object.
    ///
    /// Without `regex` the field gets stdout with its trailing newline trimmed; with
    /// one, the first capture group of the first match (the whole match if there is no
    /// group). If the command fails, prints nothing, doesn't match, or the value doesn't
    /// fit the field, the field is left alone, an error message is added, the status
    /// raised to warning and `false` returned.
    pub async fn update_field(
        &mut self,
        field: &str,
        template: &str,
        regex: Option<&str>,
    ) -> Result<bool> {
        if !self.object.field_names().contains(&field) {
            return Err(Error::Field {
                model: self.object.model_name().to_owned(),
                field: field.to_owned(),
                problem: format!(
                    "no such field (fields: {})",
                    self.object.field_names().join(", ")
                ),
            });
        }
        let re = regex
            .map(|p| {
                regex::Regex::new(p).map_err(|e| Error::Regex {
                    pattern: p.to_owned(),
                    problem: e.to_string(),
                })
            })
            .transpose()?;
        let out = self.frun(template).await?;
        let text = out.stdout_text();
        let value = if !out.ok() {
            None
        } else if let Some(re) = &re {
            re.captures(&text).map(|c| {
                c.get(1)
                    .or_else(|| c.get(0))
                    .map_or("", |m| m.as_str())
                    .to_owned()
            })
        } else {
            Some(text.trim_end_matches(['\n', '\r']).to_owned()).filter(|s| !s.is_empty())
        };
        let problem = match value {
            Some(v) => match self.object.set_field(field, Value::Text(v)) {
                Ok(()) => return Ok(true),
                Err(e) => e.to_string(),
            },
            None if !out.ok() => "the command failed".to_owned(),
            None if re.is_some() => "the output did not match".to_owned(),
            None => "the command printed nothing".to_owned(),
        };
        self.add_msg(Message::command_at(MessageLevel::Error, &out))
            .await?;
        self.add_msg(Message::text(
            MessageLevel::Error,
            format!("field `{field}` not updated: {problem}"),
        ))
        .await?;
        self.set_status(Status::Warning);
        Ok(false)
    }

    /// Adds a message (recorded at once, so it shows up live).
    pub async fn add_msg(&mut self, msg: Message) -> Result<()> {
        self.exec.message(&msg).await
    }

    /// Adds an info text message.
    pub async fn info(&mut self, text: impl Into<String>) -> Result<()> {
        self.add_msg(Message::text(MessageLevel::Info, text)).await
    }

    /// Adds a warning text message and raises the status to warning.
    pub async fn warning(&mut self, text: impl Into<String>) -> Result<()> {
        self.set_status(Status::Warning);
        self.add_msg(Message::text(MessageLevel::Warning, text))
            .await
    }

    /// Adds an error text message and raises the status to error.
    pub async fn error(&mut self, text: impl Into<String>) -> Result<()> {
        self.set_status(Status::Error);
        self.add_msg(Message::text(MessageLevel::Error, text)).await
    }

    /// Fills `{name}` placeholders in a command template.
    ///
    /// A placeholder is `{` identifier `}`; `{{` and `}}` give literal braces; `${VAR}`,
    /// `{}` and anything that is not an identifier (`awk '{print $1}'`) stay as they are.
    /// Values come from the parameters first, then the object's fields, and are
    /// shell-quoted. An unknown placeholder is an error.
    pub fn format(&self, template: &str) -> Result<String> {
        format_template(template, |name| self.lookup(name))
    }

    /// A placeholder's value: the parameter of that name, else the object's field.
    fn lookup(&self, name: &str) -> Option<String> {
        self.params
            .get(name)
            .map(str::to_owned)
            .or_else(|| self.object.field(name).map(|v| v.to_string()))
    }

    /// Sends `source` to `remote_path` on the host with file `mode` (like `0o644`),
    /// over SFTP, recorded in the history like a command (size, SHA-256, time). The
    /// file is written beside the target and renamed into place: a failed transfer
    /// never leaves half a file. A failure is an error that fails the session with
    /// the reason `transfer` when returned with `?`.
    ///
    /// ```no_run
    /// # use minke_core::*;
    /// # async fn demo(cx: &mut Context) -> Result<()> {
    /// let sent = cx.put(Upload::file("dist/app.tar.gz"), "/srv/app/app.tar.gz", 0o640).await?;
    /// cx.info(format!("sent {} bytes, sha256 {}", sent.bytes, sent.sha256)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn put(&mut self, source: Upload, remote_path: &str, mode: u32) -> Result<Transfer> {
        self.transfer(TransferRequest::Put {
            source: &source,
            path: remote_path,
            mode,
        })
        .await
    }

    /// Fills `{name}` placeholders of `template` (parameters, then the object's
    /// fields; `{{`/`}}` for braces) with their values as they are, and sends the
    /// text as [`put`](Self::put) does: a configuration file from a template.
    pub async fn put_template(
        &mut self,
        template: &str,
        remote_path: &str,
        mode: u32,
    ) -> Result<Transfer> {
        let text = fill_template(template, |name| self.lookup(name))?;
        self.put(Upload::Bytes(text.into_bytes()), remote_path, mode)
            .await
    }

    /// Receives the remote file `remote_path` into memory, over SFTP, recorded in
    /// the history; a file larger than [`GET_LIMIT`] is refused (use
    /// [`get_to_file`](Self::get_to_file)).
    pub async fn get(&mut self, remote_path: &str) -> Result<Vec<u8>> {
        let dest = Download::Bytes { limit: GET_LIMIT };
        let done = self
            .transfer(TransferRequest::Get {
                path: remote_path,
                dest: &dest,
            })
            .await?;
        Ok(done.content.unwrap_or_default())
    }

    /// Receives the remote file `remote_path` into the local file `local` (created
    /// or truncated), streamed, recorded in the history.
    pub async fn get_to_file(
        &mut self,
        remote_path: &str,
        local: impl Into<std::path::PathBuf>,
    ) -> Result<Transfer> {
        let dest = Download::File(local.into());
        self.transfer(TransferRequest::Get {
            path: remote_path,
            dest: &dest,
        })
        .await
    }

    /// Carries out a prepared transfer.
    pub async fn transfer(&mut self, req: TransferRequest<'_>) -> Result<Transfer> {
        if self.exec.stop_requested() {
            return Err(Error::Stopped);
        }
        self.exec.transfer(req).await
    }

    fn redact(&self, command: &str) -> String {
        let mut out = command.to_owned();
        for s in &self.secrets {
            for form in [s.clone(), shell_quote(s)] {
                out = out.replace(&form, "***");
            }
        }
        out
    }
}

/// Why sudo itself refused (rather than the command failing), from what it printed:
/// sudo exits 1 and says so on stderr (on stdout in a pty).
fn sudo_refusal(out: &CommandOutput) -> Option<&'static str> {
    if out.exit.code() != Some(1) {
        return None;
    }
    let said = format!("{}{}", out.stderr_text(), out.stdout_text());
    const REFUSALS: [(&str, &str); 6] = [
        ("incorrect password attempt", "the password is wrong"),
        (
            "a password is required",
            "it asks for a password and none was given (a `Secret` parameter or MINKE_SUDO_PASSWORD)",
        ),
        (
            "no password was provided",
            "it asks for a password and none was given (a `Secret` parameter or MINKE_SUDO_PASSWORD)",
        ),
        (
            "is not in the sudoers file",
            "the user is not in the sudoers file",
        ),
        (
            "is not allowed to execute",
            "the user may not run this command as that user",
        ),
        ("unknown user", "the become user does not exist"),
    ];
    REFUSALS
        .iter()
        .find(|(text, _)| {
            said.lines()
                .any(|l| l.starts_with("sudo:") && l.contains(text))
        })
        .map(|(_, why)| *why)
}

/// Fills `{name}` placeholders with shell-quoted values from `lookup`.
///
/// ```
/// use minke_core::format_template;
/// let get = |n: &str| (n == "path").then(|| "/var/my dir".to_owned());
/// assert_eq!(format_template("du -s {path}", get).unwrap(), "du -s '/var/my dir'");
/// assert_eq!(format_template("awk '{print $1}' ${HOME} {{x}}", get).unwrap(), "awk '{print $1}' ${HOME} {x}");
/// assert!(format_template("echo {nope}", get).is_err());
/// ```
pub fn format_template(template: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String> {
    fill(template, lookup, true)
}

/// Fills `{name}` placeholders with values from `lookup` as they are (not quoted):
/// for the text of a file (see [`Context::put_template`]), never for a command line.
///
/// ```
/// use minke_core::fill_template;
/// let get = |n: &str| (n == "port").then(|| "8080".to_owned());
/// assert_eq!(fill_template("listen {port};", get).unwrap(), "listen 8080;");
/// assert!(fill_template("{nope}", get).is_err());
/// ```
pub fn fill_template(template: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String> {
    fill(template, lookup, false)
}

fn fill(template: &str, lookup: impl Fn(&str) -> Option<String>, quote: bool) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'{' && b.get(i + 1) == Some(&b'{') {
            out.push('{');
            i += 2;
        } else if c == b'}' && b.get(i + 1) == Some(&b'}') {
            out.push('}');
            i += 2;
        } else if c == b'{' && (i == 0 || b[i - 1] != b'$') {
            let rest = &template[i + 1..];
            let len = rest
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            let ident = &rest[..len];
            let is_ident = len > 0
                && !ident.as_bytes()[0].is_ascii_digit()
                && rest.as_bytes().get(len) == Some(&b'}');
            if is_ident {
                let value = lookup(ident).ok_or_else(|| Error::UnknownPlaceholder {
                    name: ident.to_owned(),
                    command: template.to_owned(),
                })?;
                if quote {
                    out.push_str(&shell_quote(&value));
                } else {
                    out.push_str(&value);
                }
                i += len + 2;
            } else {
                out.push('{');
                i += 1;
            }
        } else {
            let ch = template[i..].chars().next().unwrap_or_default();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    Ok(out)
}
