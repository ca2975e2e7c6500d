//! The JSON API.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{Env, NOBODY, ROOT, VIEWER, bearer, read_events};

async fn token_for(env: &Env, user: &str) -> String {
    let token = minke_admin::generate_token().unwrap();
    let (hash, user) = (minke_admin::hash_token(&token), user.to_owned());
    env.store
        .write(move |c| minke_store::create_api_token(c, &user, "test", &hash))
        .await
        .unwrap();
    token
}

#[tokio::test]
async fn me_models_objects_sessions() {
    let env = Env::new().await;
    let t = token_for(&env, "viewer").await;
    let me = env
        .send(bearer(Method::GET, "/api/me", &t, None))
        .await
        .json();
    assert_eq!(me["superuser"], false);
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("view_host"))
    );

    let m = env
        .send(bearer(Method::GET, "/api/models", &t, None))
        .await
        .json();
    assert_eq!(m["models"][0]["name"], "host");
    assert_eq!(m["models"][0]["count"], 3);
    assert_eq!(m["models"][0]["list"][0], "name");

    let o = env
        .send(bearer(
            Method::GET,
            "/api/models/host/objects?q=web&limit=2&offset=1",
            &t,
            None,
        ))
        .await
        .json();
    assert_eq!(o["total"], 3);
    assert_eq!(o["objects"].as_array().unwrap().len(), 2);
    assert_eq!(o["objects"][0]["label"], "web-2");
    assert_eq!(o["objects"][0]["fields"]["comment"], "<b>db</b>");
    let o = env
        .send(bearer(
            Method::GET,
            "/api/models/host/objects?filter=port%3D1+and+name~3",
            &t,
            None,
        ))
        .await
        .json();
    assert_eq!(o["total"], 1);

    let s = env
        .send(bearer(Method::GET, "/api/sessions", &t, None))
        .await
        .json();
    let names: Vec<&str> = s["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "plain", "typed"]);
    assert_eq!(s["sessions"][0]["params"][0]["name"], "text");

    let n = token_for(&env, "nobody").await;
    let m = env
        .send(bearer(Method::GET, "/api/models", &n, None))
        .await
        .json();
    assert_eq!(m["models"], json!([]));
    let r = env
        .send(bearer(Method::GET, "/api/models/host/objects", &n, None))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.json()["error"].as_str().unwrap().contains("view_host"));
}

#[tokio::test]
async fn bad_queries_are_400_with_a_clear_message() {
    let env = Env::new().await;
    let t = token_for(&env, "root").await;
    for (q, want) in [
        ("f_secret=1", "no filterable field `secret`"),
        ("filter=password%3Dx", "no filterable field `password`"),
        ("filter=name", "expected an operator"),
        ("order=name", "unknown query parameter `order`"),
        ("limit=0", "`limit`"),
        ("limit=x", "`limit`"),
        ("last_status=nice", "last_status"),
    ] {
        let r = env
            .send(bearer(
                Method::GET,
                &format!("/api/models/host/objects?{q}"),
                &t,
                None,
            ))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        let e = r.json()["error"].as_str().unwrap().to_owned();
        assert!(e.contains(want), "{q}: {e}");
    }
    let r = env
        .send(bearer(Method::GET, "/api/models/nope/objects", &t, None))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = env
        .send(bearer(Method::GET, "/api/runs?colour=red", &t, None))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_api_error_is_json() {
    let env = Env::new().await;
    let t = token_for(&env, "root").await;
    // A path id that is no number, an unknown path, a body over the limit.
    for (method, uri, body, status, want) in [
        (
            Method::GET,
            "/api/runs/abc",
            None,
            StatusCode::BAD_REQUEST,
            "abc",
        ),
        (
            Method::GET,
            "/api/runs/1/sessions/x",
            None,
            StatusCode::BAD_REQUEST,
            "x",
        ),
        (
            Method::GET,
            "/api/nothing-here",
            None,
            StatusCode::NOT_FOUND,
            "no such page",
        ),
        (
            Method::POST,
            "/api/runs",
            Some(json!({"session": "x".repeat(3 << 20)})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 2 MiB",
        ),
    ] {
        let r = env.send(bearer(method, uri, &t, body)).await;
        assert_eq!(r.status, status, "{uri}: {}", r.text());
        let doc: serde_json::Value = serde_json::from_str(&r.text())
            .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", r.text()));
        let e = doc["error"].as_str().unwrap_or_default();
        assert!(e.contains(want), "{uri}: {e}");
        assert_eq!(doc["status"], status.as_u16());
    }
}

#[tokio::test]
async fn start_runs_and_read_them_back() {
    let env = Env::new().await;
    let t = token_for(&env, "viewer").await;
    let start = |body: serde_json::Value| bearer(Method::POST, "/api/runs", &t, Some(body));
    // Refused: unknown fields, bad params, no selection, unknown session, forbidden.
    for (body, status, want) in [
        (
            json!({"session": "plain", "model": "host", "all": true, "sql": "x"}),
            400,
            "unknown field `sql`",
        ),
        (
            json!({"session": "typed", "model": "host", "all": true, "params": {"count": "x"}}),
            400,
            "count",
        ),
        (
            json!({"session": "typed", "model": "host", "all": true, "params": {"nope": 1}}),
            400,
            "no such parameter",
        ),
        (
            json!({"session": "plain", "model": "host"}),
            400,
            "say which objects",
        ),
        (
            json!({"session": "plain", "model": "host", "filter": "bad = 1"}),
            400,
            "no filterable field `bad`",
        ),
        (
            json!({"session": "nope", "model": "host", "all": true}),
            400,
            "unknown session",
        ),
        (
            json!({"session": "danger", "model": "host", "all": true, "params": {"cmd": "id"}}),
            403,
            "danger",
        ),
        (
            json!({"session": "plain", "model": "host", "ids": [99]}),
            400,
            "empty",
        ),
        (
            json!({"session": "plain", "model": "host", "group": "nope"}),
            400,
            "no host group named `nope`",
        ),
        (
            json!({"session": "plain", "model": "host", "last_status": "fine"}),
            400,
            "`last_status` must be",
        ),
    ] {
        let r = env.send(start(body.clone())).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text());
        let e = r.json()["error"].as_str().unwrap().to_owned();
        assert!(e.contains(want), "{body}: {e}");
    }
    let r = env.send(bearer(Method::POST, "/api/runs", &t, None)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"].as_str().unwrap().contains("invalid JSON"));
    env.settle().await;
    let all = env
        .store
        .blocking(|c| minke_store::list_runs(c, 10, 0))
        .await
        .unwrap();
    assert!(all.is_empty(), "nothing ran");

    let r = env
        .send(start(json!({"session": "typed", "model": "host", "ids": [1, 2], "params": {"count": 3, "flag": true}})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let run_id = r.json()["run_id"].as_i64().unwrap();
    assert_eq!(r.json()["sessions"], 2);
    env.settle().await;

    let r = env
        .send(bearer(
            Method::GET,
            &format!("/api/runs/{run_id}"),
            &t,
            None,
        ))
        .await
        .json();
    assert_eq!(r["run"]["session"], "typed");
    assert_eq!(r["active"], false);
    assert_eq!(r["counts"]["total"], 2);
    assert_eq!(r["counts"]["done"], 2);
    assert_eq!(r["status"], "error");
    assert_eq!(r["sessions"][0]["state"], "failed");
    assert_eq!(r["sessions"][0]["reason"], "connect_refused");
    assert!(
        r["sessions"][0]["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("refused")
    );

    let sid = r["sessions"][0]["id"].as_i64().unwrap();
    let s = env
        .send(bearer(
            Method::GET,
            &format!("/api/runs/{run_id}/sessions/{sid}"),
            &t,
            None,
        ))
        .await
        .json();
    assert_eq!(s["session"]["id"], sid);
    assert_eq!(s["commands"], json!([]));
    let r = env
        .send(bearer(
            Method::GET,
            &format!("/api/runs/{}/sessions/{sid}", run_id + 1),
            &t,
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let list = env
        .send(bearer(
            Method::GET,
            "/api/runs?session=typed&user=viewer&status=error",
            &t,
            None,
        ))
        .await
        .json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["runs"][0]["counts"]["error"], 2);

    // Stopping a run that is over: 409.
    let r = env
        .send(bearer(
            Method::POST,
            &format!("/api/runs/{run_id}/stop"),
            &t,
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = env
        .send(bearer(
            Method::POST,
            &format!("/api/runs/{run_id}/sessions/{sid}/stop"),
            &t,
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Nobody may not see it.
    let n = token_for(&env, "nobody").await;
    for p in [
        format!("/api/runs/{run_id}"),
        format!("/api/runs/{run_id}/events"),
    ] {
        let r = env.send(bearer(Method::GET, &p, &n, None)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{p}");
    }
    let r = env
        .send(bearer(
            Method::POST,
            &format!("/api/runs/{run_id}/stop"),
            &n,
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .send(bearer(Method::GET, "/api/runs/999", &t, None))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Targets: the objects whose latest session failed, a host group by name.
    let g = env
        .store
        .write(|c| {
            let g = minke_store::create_group(c, "first", None)?;
            minke_store::set_group_members(c, g, &[minke_core::HostId::new(1)])?;
            Ok(g)
        })
        .await
        .unwrap();
    assert!(g > 0);
    for (body, sessions) in [
        (json!({"last_status": "error"}), 2),
        (json!({"group": "first"}), 1),
        (json!({"filter": "group = first"}), 1),
        (
            json!({"filter": "last_status = error and group = first"}),
            1,
        ),
        (
            json!({"group": "first", "filter": "name = nothing-like-it"}),
            0,
        ),
    ] {
        let mut b = json!({"session": "typed", "model": "host", "params": {"count": 1}});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = env.send(start(b.clone())).await;
        if sessions == 0 {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{b}: {}", r.text());
        } else {
            assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.text());
            assert_eq!(r.json()["sessions"], sessions, "{b}");
        }
        env.settle().await;
    }

    // Rerun over the API: the failed objects of the first run, with its parameters.
    let rerun = |body: Option<serde_json::Value>, who: &str| {
        bearer(
            Method::POST,
            &format!("/api/runs/{run_id}/rerun"),
            who,
            body,
        )
    };
    let r = env.send(rerun(None, &t)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["sessions"], 2);
    let again = r.json()["run_id"].as_i64().unwrap();
    env.settle().await;
    let r = env
        .send(bearer(Method::GET, &format!("/api/runs/{again}"), &t, None))
        .await
        .json();
    assert_eq!(r["run"]["params"], r#"{"count":"3","flag":"true"}"#);
    for (body, status, want) in [
        (
            json!({"only": ["success"]}),
            400,
            "no objects whose sessions ended so",
        ),
        (json!({"only": ["fine"]}), 400, "`fine` is not an outcome"),
        (json!({"params": {"count": "x"}}), 400, "count"),
        (json!({"colour": 1}), 400, "unknown field"),
    ] {
        let r = env.send(rerun(Some(body.clone()), &t)).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text());
        assert!(r.text().contains(want), "{body}: {}", r.text());
    }
    let r = env.send(rerun(None, &n)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn events_of_a_finished_run_are_a_snapshot_and_the_end() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let r = env
        .send(c.post_json(
            "/api/runs",
            &json!({"session": "plain", "model": "host", "all": true}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["run_id"].as_i64().unwrap();
    env.settle().await;
    for path in [
        format!("/api/runs/{id}/events"),
        format!("/runs/{id}/events"),
    ] {
        let res = tower::ServiceExt::oneshot(env.app.clone(), c.get(&path))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let events = read_events(res.into_body(), Duration::from_secs(10), |n, _| {
            n == "run_finished"
        })
        .await;
        assert_eq!(events[0].0, "snapshot");
        assert_eq!(events[0].1["sessions"].as_array().unwrap().len(), 3);
        assert_eq!(events[0].1["sessions"][0]["state"], "failed");
        assert_eq!(events.last().unwrap().0, "run_finished");
    }
    let _ = (VIEWER, NOBODY, ROOT);
}
