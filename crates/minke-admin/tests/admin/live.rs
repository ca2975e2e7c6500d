//! Real runs on throwaway sshd hosts: live events, catching up mid-run, stopping,
//! large outputs.

use std::time::Duration;

use axum::http::StatusCode;
use minke_runtime::Config;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{Client, Env, ROOT, read_events};

async fn start(env: &Env, c: &Client, body: Value) -> minke_core::RunId {
    let r = env.send(c.post_json("/api/runs", &body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    minke_core::RunId::new(r.json()["run_id"].as_i64().unwrap())
}

async fn stream(env: &Env, c: &Client, run_id: minke_core::RunId) -> axum::body::Body {
    let res = env
        .app
        .clone()
        .oneshot(c.get(&format!("/runs/{run_id}/events")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body()
}

type Texts = Vec<(i64, String)>;
type States = Vec<(i64, String, Value)>;

/// Output text and messages per session, from a snapshot and the events after it.
fn collect(events: &[(String, Value)]) -> (Texts, Texts, States) {
    let mut output = Vec::new();
    let mut messages = Vec::new();
    let mut states = Vec::new();
    for (name, v) in events {
        match name.as_str() {
            "snapshot" => {
                for s in v["sessions"].as_array().unwrap() {
                    let id = s["id"].as_i64().unwrap();
                    for o in s["output"].as_array().unwrap() {
                        output.push((id, o["text"].as_str().unwrap().to_owned()));
                    }
                    for m in s["messages"].as_array().unwrap() {
                        messages.push((id, m["text"].as_str().unwrap().to_owned()));
                    }
                    states.push((
                        id,
                        s["state"].as_str().unwrap().to_owned(),
                        s["status"].clone(),
                    ));
                }
            }
            "output" => output.push((
                v["session_id"].as_i64().unwrap(),
                v["text"].as_str().unwrap().to_owned(),
            )),
            "message" => messages.push((
                v["session_id"].as_i64().unwrap(),
                v["text"].as_str().unwrap().to_owned(),
            )),
            "state" => states.push((
                v["session_id"].as_i64().unwrap(),
                v["state"].as_str().unwrap().to_owned(),
                v["status"].clone(),
            )),
            _ => {}
        }
    }
    (output, messages, states)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_show_states_messages_and_output() {
    let (env, _fleet) = Env::fleet(2, Config::default()).await;
    let c = env.login(ROOT).await;
    let id = start(
        &env,
        &c,
        json!({"session": "slow", "model": "host", "all": true, "params": {"secs": 1}}),
    )
    .await;
    let body = stream(&env, &c, id).await;
    let events = read_events(body, Duration::from_secs(60), |n, _| n == "run_finished").await;
    assert_eq!(events[0].0, "snapshot");
    assert_eq!(events.last().unwrap().0, "run_finished");
    let (output, messages, states) = collect(&events);
    let sessions: Vec<i64> = events[0].1["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(sessions.len(), 2);
    for sid in &sessions {
        let text: String = output
            .iter()
            .filter(|(s, _)| s == sid)
            .map(|(_, t)| t.as_str())
            .collect();
        assert!(
            text.contains("before") && text.contains("after"),
            "{text:?}"
        );
        assert!(text.contains("to-stderr"));
        let ms: Vec<&str> = messages
            .iter()
            .filter(|(s, _)| s == sid)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(ms, ["starting", "done <now>"], "each message once");
        let last = states.iter().rev().find(|(s, _, _)| s == sid).unwrap();
        assert_eq!(last.1, "completed");
        assert_eq!(last.2, "warning");
    }
    assert!(events.iter().any(|(n, _)| n == "command"));
    assert!(events.iter().any(|(n, _)| n == "command_finished"));

    // The session page: the command with its output, messages escaped.
    env.settle().await;
    let sid = sessions[0];
    let t = env.send(c.get(&format!("/sessions/{sid}"))).await.text();
    assert!(t.contains(r#"<pre class="stdout">before"#), "{t}");
    assert!(t.contains(r#"<pre class="stderr">to-stderr"#));
    assert!(t.contains("done &#60;now&#62;"));
    assert!(!t.contains("done <now>"));
    assert!(t.contains(r#"<span class="exit-code">exit 0</span>"#));
    let d = env
        .send(c.get(&format!("/sessions/{sid}/commands/1/stdout")))
        .await;
    assert_eq!(d.text(), "before\nafter\n");
    assert!(
        d.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    // The changelist after the run: last status per row.
    let t = env
        .send(c.get(&format!("/models/host?run={id}")))
        .await
        .text();
    assert!(t.contains(r#"class="status status-warning""#), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_opened_mid_run_catches_up_without_gaps() {
    let (env, _fleet) = Env::fleet(1, Config::default()).await;
    let c = env.login(ROOT).await;
    let id = start(
        &env,
        &c,
        json!({"session": "slow", "model": "host", "ids": [1], "params": {"secs": 2}}),
    )
    .await;
    // A first page sees the command's first output, then goes away.
    let first = stream(&env, &c, id).await;
    let seen = read_events(first, Duration::from_secs(30), |n, v| {
        n == "output" && v["text"].as_str().unwrap_or_default().contains("before")
            || n == "snapshot"
                && v["sessions"][0]["output"].as_array().is_some_and(|o| {
                    o.iter()
                        .any(|p| p["text"].as_str().unwrap_or_default().contains("before"))
                })
    })
    .await;
    assert!(!seen.is_empty());
    // A second page opened now gets what happened so far in its snapshot...
    let second = stream(&env, &c, id).await;
    let events = read_events(second, Duration::from_secs(30), |n, _| n == "run_finished").await;
    let snap = &events[0].1;
    assert_eq!(events[0].0, "snapshot");
    let s = &snap["sessions"][0];
    assert_eq!(s["state"], "running");
    assert_eq!(s["messages"][0]["text"], "starting");
    let tail: String = s["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(tail.contains("before"), "{s}");
    assert!(s["command"].as_str().unwrap().contains("sleep 2"));
    // ... and then the rest, nothing twice.
    let (output, messages, _) = collect(&events);
    let text: String = output.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text.matches("before").count(), 1, "{text:?}");
    assert_eq!(text.matches("after").count(), 1, "{text:?}");
    let ms: Vec<&str> = messages.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(ms, ["starting", "done <now>"]);
    // The API's view of the run agrees.
    env.settle().await;
    let r = env.send(c.get(&format!("/api/runs/{id}"))).await.json();
    assert_eq!(r["sessions"][0]["state"], "completed");
    assert_eq!(r["sessions"][0]["status"], "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_twice_stops_at_once() {
    let (env, _fleet) = Env::fleet(2, Config::default()).await;
    let c = env.login(ROOT).await;
    let id = start(
        &env,
        &c,
        json!({"session": "slow", "model": "host", "all": true, "params": {"secs": 30}}),
    )
    .await;
    let body = stream(&env, &c, id).await;
    let mut running = 0;
    read_events(body, Duration::from_secs(30), |n, _| {
        if n == "command" {
            running += 1;
        }
        running == 2
    })
    .await;
    let stop = |c: &Client| {
        let mut r = c.post_json(&format!("/runs/{id}/stop"), &json!({}));
        *r.body_mut() = axum::body::Body::empty();
        r
    };
    let r = env.send(stop(&c)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["level"], 1);
    let r = env.send(stop(&c)).await;
    assert_eq!(r.json()["level"], 2);
    env.settle().await;
    let s = env
        .store
        .blocking(move |c| minke_store::run_sessions(c, id))
        .await
        .unwrap();
    assert!(
        s.iter().all(|s| s.state == minke_core::State::Stopped),
        "{s:?}"
    );
    // Stopped at once: the running commands were killed, not waited for.
    for session in s {
        let cmds = env
            .store
            .blocking(move |c| minke_store::session_commands(c, session.id))
            .await
            .unwrap();
        assert_eq!(cmds.len(), 1);
        assert_eq!(
            cmds[0].exit_signal.as_deref(),
            Some("KILL"),
            "{:?}",
            cmds[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_one_session_leaves_the_others() {
    let (env, _fleet) = Env::fleet(2, Config::default()).await;
    let c = env.login(ROOT).await;
    let id = start(
        &env,
        &c,
        json!({"session": "slow", "model": "host", "all": true, "params": {"secs": 3}}),
    )
    .await;
    let body = stream(&env, &c, id).await;
    let events = read_events(body, Duration::from_secs(30), |n, _| n == "command").await;
    let first = events[0].1["sessions"][0]["id"].as_i64().unwrap();
    for level in [1, 2] {
        let r = env
            .send(c.post_json(&format!("/api/runs/{id}/sessions/{first}/stop"), &json!({})))
            .await;
        assert_eq!(r.json()["level"], level, "{}", r.text());
    }
    env.settle().await;
    let s = env
        .store
        .blocking(move |c| minke_store::run_sessions(c, id))
        .await
        .unwrap();
    assert!(
        matches!(s[0].state.as_str(), "stopped" | "canceled"),
        "{s:?}"
    );
    assert_eq!(s[1].state, minke_core::State::Completed, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_output_is_previewed_and_downloadable() {
    let config = Config {
        output_cap: 32 << 20,
        ..Config::default()
    };
    let (env, _fleet) = Env::fleet(1, config).await;
    let c = env.login(ROOT).await;
    start(
        &env,
        &c,
        json!({"session": "spew", "model": "host", "ids": [1]}),
    )
    .await;
    env.settle().await;
    let r = env.send(c.get("/sessions/1")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.len() < 200_000, "page is {} bytes", r.body.len());
    let t = r.text();
    assert!(
        t.contains(r#"class="preview-note""#),
        "{}",
        &t[..2000.min(t.len())]
    );
    assert!(t.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!t.contains("<script>alert"));
    let d = env.send(c.get("/sessions/1/commands/1/stdout")).await;
    assert_eq!(d.body.len(), 20_000_000);
    let api = env.send(c.get("/api/runs/1/sessions/1")).await.json();
    assert_eq!(api["commands"][0]["stdout_stored"], 20_000_000);
    assert_eq!(
        api["commands"][0]["stdout"].as_str().unwrap().len(),
        64 * 1024
    );
}
