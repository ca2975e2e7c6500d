//! The session context on its own: status rules, command templates and their
//! quoting, secrets in recorded command lines, `update_field`, and stops, with a
//! scripted executor (the engine's tests run it on real hosts).
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::{Arc, Mutex};

use minke::{
    CommandOutput, Context, Error, ExecRequest, Executor, ExitStatus, HostRecord, Message,
    MinkeModel as _, Params, Status, Value,
};

/// What the executor was asked: the command run and the command recorded.
#[derive(Default)]
struct Log {
    commands: Vec<(String, String)>,
    messages: Vec<Message>,
}

/// Answers every command with `stdout` and `exit`; can be told a stop was asked for.
struct Scripted {
    stdout: &'static str,
    exit: i32,
    stop: bool,
    log: Arc<Mutex<Log>>,
}

#[async_trait::async_trait]
impl Executor for Scripted {
    async fn exec(&mut self, req: ExecRequest<'_>) -> minke::Result<CommandOutput> {
        self.log
            .lock()
            .unwrap()
            .commands
            .push((req.command.to_owned(), req.display.to_owned()));
        Ok(CommandOutput::new(
            req.display,
            ExitStatus::Code(self.exit),
            self.stdout.as_bytes().to_vec(),
            Vec::new(),
        ))
    }

    async fn message(&mut self, msg: &Message) -> minke::Result<()> {
        self.log.lock().unwrap().messages.push(msg.clone());
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        self.stop
    }
}

fn host() -> HostRecord {
    HostRecord {
        id: minke_core::HostId::new(1),
        name: "web 1".into(),
        hostname: Some("127.0.0.1".into()),
        port: 22,
        username: None,
        identity_files: Default::default(),
        host_key_policy: "strict".into(),
        known_hosts: None,
        disabled: false,
        comment: Some("it's here".into()),
        jump_host_id: None,
        jump_only: false,
        options: Default::default(),
    }
}

fn context(
    stdout: &'static str,
    exit: i32,
    params: &[(&str, &str)],
    secrets: &[&str],
) -> (Context, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let exec = Scripted {
        stdout,
        exit,
        stop: false,
        log: log.clone(),
    };
    let cx = Context::new(
        Box::new(host()),
        Params::from_pairs(params.iter().copied()),
        secrets.iter().map(|s| (*s).to_owned()).collect(),
        Box::new(exec),
    );
    (cx, log)
}

#[tokio::test]
async fn set_status_only_raises() {
    let (mut cx, _) = context("", 0, &[], &[]);
    assert_eq!(cx.status(), Status::Success);
    cx.set_status(Status::Warning);
    cx.set_status(Status::Success);
    assert_eq!(cx.status(), Status::Warning);
    cx.error("broken").await.unwrap();
    cx.warning("only a warning").await.unwrap();
    cx.set_status(Status::Success);
    assert_eq!(cx.status(), Status::Error);
}

#[tokio::test]
async fn templates_are_filled_and_quoted_and_secrets_hidden() {
    let (mut cx, log) = context(
        "",
        0,
        &[("path", "/var/my dir"), ("token", "hunter2")],
        &["hunter2"],
    );
    cx.frun("ls {path} # {name} {comment}").await.unwrap();
    cx.frun("curl -H {token} https://example.invalid")
        .await
        .unwrap();
    let err = cx.frun("echo {nope}").await.unwrap_err();
    assert!(
        err.to_string().contains("unknown placeholder `{nope}`"),
        "{err}"
    );
    let commands = log.lock().unwrap().commands.clone();
    assert_eq!(
        commands[0].0, r#"ls '/var/my dir' # 'web 1' 'it'\''s here'"#,
        "parameters first, then the object's fields, each one shell word"
    );
    // The host gets the secret; the record has `***`.
    assert_eq!(commands[1].0, "curl -H hunter2 https://example.invalid");
    assert_eq!(commands[1].1, "curl -H *** https://example.invalid");
    assert_eq!(commands.len(), 2, "a bad template runs nothing");
}

#[tokio::test]
async fn update_field_sets_a_field_or_says_why_not() {
    let (mut cx, _) = context("release: 6.1.0-18\n", 0, &[], &[]);
    assert!(
        cx.update_field("comment", "uname -r", Some(r"release: (\S+)"))
            .await
            .unwrap()
    );
    assert_eq!(cx.status(), Status::Success);
    assert_eq!(cx.changed_fields(), ["comment"]);
    let object = cx.into_object();
    assert_eq!(
        object.field("comment"),
        Some(Value::Text("6.1.0-18".into()))
    );

    // A failing command leaves the field, says so and raises the status.
    let (mut cx, log) = context("", 3, &[], &[]);
    assert!(!cx.update_field("comment", "false", None).await.unwrap());
    assert_eq!(cx.status(), Status::Warning);
    assert!(cx.changed_fields().is_empty());
    let messages = log.lock().unwrap().messages.clone();
    assert_eq!(messages.len(), 2);
    assert!(
        messages[1]
            .to_plain_text()
            .contains("field `comment` not updated")
    );

    // A field the model does not have is an error of the session's code.
    let (mut cx, _) = context("x", 0, &[], &[]);
    let err = cx.update_field("colour", "true", None).await.unwrap_err();
    assert!(matches!(err, Error::Field { .. }), "{err}");
}

#[tokio::test]
async fn a_stop_request_runs_nothing_more() {
    let log = Arc::new(Mutex::new(Log::default()));
    let exec = Scripted {
        stdout: "",
        exit: 0,
        stop: true,
        log: log.clone(),
    };
    let mut cx = Context::new(Box::new(host()), Params::new(), Vec::new(), Box::new(exec));
    assert!(cx.stop_requested());
    assert!(matches!(cx.run("true").await, Err(Error::Stopped)));
    assert!(log.lock().unwrap().commands.is_empty());
    assert_eq!(host().label(), "web 1");
}
