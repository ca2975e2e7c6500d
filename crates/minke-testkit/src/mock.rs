//! A mock transport for users' own unit tests of their sessions: scripted command
//! results instead of an SSH server.
//!
//! This is a tool for testing session logic quickly. Minke's own tests run against
//! real OpenSSH servers ([`Fleet`](crate::Fleet)).

use std::sync::{Arc, Mutex};

use minke_core::{
    CommandOutput, Context, ExecRequest, Executor, ExitStatus, Message, MinkeModel, ModelObject,
    Params, Session, Status,
};

/// One scripted answer: commands starting with `prefix` get this result.
#[derive(Clone, Debug)]
struct Rule {
    prefix: String,
    exit: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// A scripted host: answers commands by prefix, records what it was asked.
///
/// Commands no rule matches exit 127 with `command not found` on stderr, as a shell
/// would answer.
///
/// ```
/// use minke_testkit::MockHost;
/// let host = MockHost::new().on("uname -r", 0, "6.1.0\n", "").on("df", 1, "", "df: no such file\n");
/// # let _ = host;
/// ```
#[derive(Clone, Debug, Default)]
pub struct MockHost {
    rules: Vec<Rule>,
    stopped: bool,
}

impl MockHost {
    /// A host that knows no command yet.
    pub fn new() -> Self {
        MockHost::default()
    }

    /// Commands starting with `prefix` exit with `exit` and print `stdout`/`stderr`.
    /// The first matching rule wins.
    pub fn on(mut self, prefix: &str, exit: i32, stdout: &str, stderr: &str) -> Self {
        self.rules.push(Rule {
            prefix: prefix.to_owned(),
            exit: ExitStatus::Code(exit),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        });
        self
    }

    /// Commands starting with `prefix` are killed by `signal` (like `"KILL"`).
    pub fn killed(mut self, prefix: &str, signal: &str) -> Self {
        self.rules.push(Rule {
            prefix: prefix.to_owned(),
            exit: ExitStatus::Signal(signal.to_owned()),
            stdout: Vec::new(),
            stderr: Vec::new(),
        });
        self
    }

    /// Acts as if a person had asked the session to stop.
    pub fn stop_requested(mut self) -> Self {
        self.stopped = true;
        self
    }

    fn answer(&self, command: &str) -> CommandOutput {
        match self.rules.iter().find(|r| command.starts_with(&r.prefix)) {
            Some(r) => {
                CommandOutput::new(command, r.exit.clone(), r.stdout.clone(), r.stderr.clone())
            }
            None => CommandOutput::new(
                command,
                ExitStatus::Code(127),
                Vec::new(),
                format!(
                    "sh: 1: {}: not found\n",
                    command.split_whitespace().next().unwrap_or("")
                )
                .into_bytes(),
            ),
        }
    }
}

#[derive(Default)]
struct Log {
    commands: Vec<String>,
    messages: Vec<Message>,
}

struct MockExecutor {
    host: MockHost,
    log: Arc<Mutex<Log>>,
}

#[async_trait::async_trait]
impl Executor for MockExecutor {
    async fn exec(&mut self, req: ExecRequest<'_>) -> minke_core::Result<CommandOutput> {
        if let Ok(mut log) = self.log.lock() {
            log.commands.push(req.display.to_owned());
        }
        let mut out = self.host.answer(req.command);
        out.command = req.display.to_owned();
        Ok(out)
    }

    async fn message(&mut self, msg: &Message) -> minke_core::Result<()> {
        if let Ok(mut log) = self.log.lock() {
            log.messages.push(msg.clone());
        }
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        self.host.stopped
    }
}

/// What a session did on a [`MockHost`].
pub struct MockRun {
    /// What `process` returned.
    pub result: minke_core::Result<()>,
    /// The status it ended with.
    pub status: Status,
    /// The commands it ran, as recorded (secrets redacted).
    pub commands: Vec<String>,
    /// The messages it added.
    pub messages: Vec<Message>,
    /// The fields it changed.
    pub changed: Vec<&'static str>,
    object: Box<dyn ModelObject>,
}

impl std::fmt::Debug for MockRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockRun")
            .field("result", &self.result)
            .field("status", &self.status)
            .field("commands", &self.commands)
            .field("messages", &self.messages)
            .field("changed", &self.changed)
            .field(
                "object",
                &format_args!("{} {}", self.object.model_name(), self.object.id()),
            )
            .finish()
    }
}

impl MockRun {
    /// The object after the session, as its model type.
    pub fn object<T: 'static>(&self) -> Option<&T> {
        self.object.as_any().downcast_ref::<T>()
    }
}

/// Runs session `S` with `params` on `object` against a scripted host.
///
/// ```
/// # use minke_core::*;
/// # #[derive(Clone)] struct Server { kernel: Option<String> }
/// # impl MinkeModel for Server {
/// #     const NAME: &'static str = "server";
/// #     fn meta() -> ModelMeta { ModelMeta { name: "server", verbose_name: "server".into(),
/// #         fields: vec![FieldMeta { name: "kernel", type_name: "text", is_text: true, optional: true,
/// #             ..FieldMeta::default() }],
/// #         id: "kernel", table: "servers", label: "kernel", ..ModelMeta::default() } }
/// #     fn id(&self) -> i64 { 1 }
/// #     fn label(&self) -> String { "s1".into() }
/// #     fn field(&self, n: &str) -> Option<Value> { (n == "kernel").then(|| self.kernel.to_value()) }
/// #     fn set_field(&mut self, _: &str, v: Value) -> Result<()> { self.kernel = FieldType::from_value(v)?; Ok(()) }
/// # }
/// # struct Kernel;
/// # impl SessionInfo for Kernel {
/// #     fn meta() -> SessionMeta { unimplemented!() }
/// #     fn from_params(_: &Params) -> Result<Self> { Ok(Kernel) }
/// # }
/// # impl Session for Kernel {
/// #     async fn process(&self, cx: &mut Context) -> Result<()> { cx.update_field("kernel", "uname -r", None).await?; Ok(()) }
/// # }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use minke_testkit::{MockHost, run_session};
/// let host = MockHost::new().on("uname -r", 0, "6.1.0-13-amd64\n", "");
/// let run = run_session::<Kernel, _>(Server { kernel: None }, Params::new(), host).await.unwrap();
/// assert_eq!(run.status, Status::Success);
/// assert_eq!(run.commands, ["uname -r"]);
/// assert_eq!(run.object::<Server>().unwrap().kernel.as_deref(), Some("6.1.0-13-amd64"));
/// # }
/// ```
pub async fn run_session<S: Session, M: MinkeModel>(
    object: M,
    params: Params,
    host: MockHost,
) -> minke_core::Result<MockRun> {
    let session = S::from_params(&params)?;
    let log = Arc::new(Mutex::new(Log::default()));
    let exec = MockExecutor {
        host,
        log: log.clone(),
    };
    let mut cx = Context::new(Box::new(object), params, Vec::new(), Box::new(exec));
    let result = session.process(&mut cx).await;
    let status = if result.is_err() {
        Status::Error.max(cx.status())
    } else {
        cx.status()
    };
    let changed = cx.changed_fields();
    let object = cx.into_object();
    let log = std::mem::take(
        &mut *log
            .lock()
            .map_err(|_| minke_core::Error::Setup("mock log poisoned".into()))?,
    );
    Ok(MockRun {
        result,
        status,
        commands: log.commands,
        messages: log.messages,
        changed,
        object,
    })
}
