//! What a session's `process` works with.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    CommandOutput, Error, Message, MessageLevel, ModelObject, Params, Result, Status, Value,
    shell_quote,
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
}

/// Runs commands on one host and records what happens: the runtime's SSH-backed
/// executor, or a mock in users' unit tests.
#[async_trait]
pub trait Executor: Send {
    /// Runs a command to its end and records it. A non-zero exit is `Ok`; `Err` means
    /// the command could not be run (connection lost, timeout, stop).
    async fn exec(&mut self, req: ExecRequest<'_>) -> Result<CommandOutput>;
    /// Records a message at once.
    async fn message(&mut self, msg: &Message) -> Result<()>;
    /// True once a person asked the session to stop.
    fn stop_requested(&self) -> bool;
}

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
        }
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
        })
        .await
    }

    /// Runs a command with `sudo`, the password (if any) written to its standard input,
    /// never to the command line or the history.
    pub async fn sudo(
        &mut self,
        command: &str,
        password: Option<&crate::Secret>,
    ) -> Result<CommandOutput> {
        let wrapped = format!("sudo -S -p '' -- sh -c {}", shell_quote(command));
        let display = self.redact(&wrapped);
        let stdin = password.map(|p| format!("{}\n", p.expose()).into_bytes());
        self.exec_request(ExecRequest {
            command: &wrapped,
            display: &display,
            timeout: None,
            stdin: stdin.as_deref(),
        })
        .await
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
        format_template(template, |name| {
            self.params
                .get(name)
                .map(str::to_owned)
                .or_else(|| self.object.field(name).map(|v| v.to_string()))
        })
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
                out.push_str(&shell_quote(&value));
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
