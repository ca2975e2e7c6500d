//! The host form's jump host among many hosts: given by name, never a menu of every
//! host; found by the relations' search a bounded page at a time; resolved and
//! checked (unknown, itself, a loop) when saved, with what was typed kept.

use axum::http::StatusCode;
use minke_admin::AdminConfig;
use minke_runtime::Config;
use minke_store::{HostRecord, NewHost, StoredModel as _};

use crate::support::{Client, Env, ROOT};

/// Hosts `h000`..`h499`; `h499` is only a jump host.
async fn env() -> Env {
    let hosts = (0..500)
        .map(|i| {
            let mut h = NewHost::new(format!("h{i:03}"));
            h.hostname = Some("127.0.0.1".into());
            h.port = 1;
            h.jump_only = i == 499;
            h
        })
        .collect();
    Env::with(hosts, AdminConfig::default(), Config::default()).await
}

/// The stored host named `name`.
async fn host(env: &Env, name: &str) -> HostRecord {
    let name = name.to_owned();
    env.store
        .blocking(move |c| {
            let id = minke_store::host_named(c, &name)?.expect("the host exists");
            HostRecord::load_one(c, id.get())
        })
        .await
        .unwrap()
}

/// Changes host `name`'s jump host (its other fields as the test hosts have them).
async fn set_jump(env: &Env, c: &Client, name: &str, jump: &str) -> crate::support::Resp {
    let id = host(env, name).await.id;
    env.send(c.post(
        &format!("/hosts/{id}/edit"),
        &[
            ("name", name),
            ("hostname", "127.0.0.1"),
            ("port", "1"),
            ("jump_host", jump),
        ],
    ))
    .await
}

#[tokio::test]
async fn the_host_form_lists_no_hosts_but_its_jump_host() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let r = env.send(c.get("/hosts/add")).await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    for name in ["h000", "h250", "h499"] {
        assert!(!t.contains(name), "the form lists {name}");
    }
    assert!(
        t.contains(r#"<input id="jump_host" name="jump_host" value="""#),
        "{t}"
    );
    assert!(t.contains(r#"data-choices="/models/host/choices""#), "{t}");

    // A stored host shows its jump host's name, and only that.
    let r = set_jump(&env, &c, "h000", "h499").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let id = host(&env, "h000").await.id;
    let t = env.send(c.get(&format!("/hosts/{id}/edit"))).await.text();
    assert!(t.contains(r#"name="jump_host" value="h499""#), "{t}");
    assert_eq!(t.matches("h499").count(), 1, "{t}");
    assert!(!t.contains("h498"));
}

#[tokio::test]
async fn the_jump_host_search_finds_hosts_by_name_a_bounded_page_at_a_time() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let labels = |v: &serde_json::Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["label"].as_str().unwrap().to_owned())
            .collect()
    };
    // A fragment: its hosts only, the jump-only one among them.
    let v = env.send(c.get("/models/host/choices?q=h49")).await.json();
    let found = labels(&v);
    let want: Vec<String> = (490..500).map(|i| format!("h{i}")).collect();
    assert_eq!(found, want);
    assert_eq!(v["more"], false);
    // Many matches: 20 at a time, the next page after.
    let first = env.send(c.get("/models/host/choices?q=h4")).await.json();
    let second = env
        .send(c.get("/models/host/choices?q=h4&page=2"))
        .await
        .json();
    assert_eq!(labels(&first).len(), 20);
    assert_eq!(first["more"], true);
    assert_eq!(labels(&first)[0], "h400");
    assert_eq!(labels(&second)[0], "h420");
}

#[tokio::test]
async fn a_jump_host_is_saved_by_name() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let r = env
        .send(c.post(
            "/hosts/add",
            &[("name", "behind"), ("port", "22"), ("jump_host", " h499 ")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let jump = host(&env, "h499").await;
    assert!(jump.jump_only);
    assert_eq!(host(&env, "behind").await.jump_host_id, Some(jump.id));
    let t = env.send(c.get("/hosts?q=behind")).await.text();
    assert!(t.contains(r#"<td class="jump-host">h499</td>"#), "{t}");
    // Emptied, it connects directly.
    let r = set_jump(&env, &c, "behind", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(host(&env, "behind").await.jump_host_id, None);
}

#[tokio::test]
async fn an_unknown_jump_host_is_named_and_nothing_typed_is_lost() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let typed = [
        ("name", "new-x"),
        ("hostname", "10.1.2.3"),
        ("port", "2222"),
        ("username", "deploy"),
        ("comment", "kept as typed"),
        ("jump_host", "nowhere-7"),
        ("jump_only", "1"),
    ];
    let r = env.send(c.post("/hosts/add", &typed)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(
        t.contains(r#"id="error-jump_host">No host is named `nowhere-7`.</span>"#),
        "{t}"
    );
    for (name, value) in &typed[..6] {
        assert_eq!(r.input_value(name).as_deref(), Some(*value), "{name}: {t}");
    }
    assert!(t.contains(r#"id="jump_only" name="jump_only" value="1" checked"#));
    let stored = env
        .store
        .blocking(|c| minke_store::host_named(c, "new-x"))
        .await
        .unwrap();
    assert_eq!(stored, None, "nothing is saved");
}

#[tokio::test]
async fn a_loop_of_jump_hosts_is_refused() {
    let env = env().await;
    let c = env.login(ROOT).await;
    for (name, jump) in [("h001", "h002"), ("h002", "h003")] {
        let r = set_jump(&env, &c, name, jump).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    }
    for (name, jump, want) in [
        (
            "h003",
            "h001",
            "Jump hosts would go round in a loop: h003 → h001 → h002 → h003.",
        ),
        (
            "h002",
            "h001",
            "Jump hosts would go round in a loop: h002 → h001 → h002.",
        ),
        ("h003", "h003", "A host cannot be its own jump host."),
    ] {
        let r = set_jump(&env, &c, name, jump).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name} → {jump}");
        let t = r.text();
        assert!(t.contains(want), "{name} → {jump}: {t}");
        assert_eq!(r.input_value("jump_host").as_deref(), Some(jump));
    }
    // Nothing changed; a chain without a loop is fine.
    let h3 = host(&env, "h003").await;
    assert_eq!(h3.jump_host_id, None);
    let r = set_jump(&env, &c, "h003", "h000").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
}
