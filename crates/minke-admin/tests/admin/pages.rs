//! Pages: index, changelist, run flow, object pages, history, hosts and groups.

use axum::http::StatusCode;

use crate::auth::assert_no_inline_code;
use crate::support::{Env, NOBODY, ROOT, VIEWER};

async fn runs(env: &Env) -> Vec<minke_store::RunRecord> {
    env.store
        .blocking(|c| minke_store::list_runs(c, 100, 0))
        .await
        .unwrap()
}

fn run_id_of(location: &str) -> minke_core::RunId {
    location.rsplit("run=").next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn index_shows_models_counts_and_latest_run() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let r = env.send(c.get("/")).await;
    let t = r.text();
    assert!(t.contains(r#"<tr data-model="host">"#), "{t}");
    assert!(t.contains(r#"<td class="count">3</td>"#));
    assert!(t.contains("no run yet"));
    assert!(t.contains(r#"id="hosts-summary""#));
    let r = env
        .send(c.post("/models/host/run", &[("session", "plain"), ("ids", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    env.settle().await;
    let t = env.send(c.get("/")).await.text();
    assert!(t.contains("#1 plain"), "{t}");
    assert!(t.contains(r#"class="status status-error""#), "{t}");
    assert!(t.contains(r#"<tr data-run-id="1">"#));

    // Nobody holds no view permission: no model, no hosts, no runs.
    let n = env.login(NOBODY).await;
    let t = env.send(n.get("/")).await.text();
    assert!(t.contains("You may view no model."));
    assert!(!t.contains("hosts-summary"));
    assert!(!t.contains("data-run-id"));
}

#[tokio::test]
async fn changelist_columns_search_filters_order_pages() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let t = env.send(c.get("/models/host")).await.text();
    for col in ["name", "hostname", "port", "username", "disabled"] {
        assert!(t.contains(&format!(r#"<th data-field="{col}">"#)), "{col}");
    }
    assert_eq!(t.matches("<tr data-object-id=").count(), 3);
    assert!(t.contains(r#"id="select-all-matching""#));
    assert!(t.contains(r#"<b id="matching-count">3</b>"#));
    // HTML in data is escaped (comment is searched, not listed; name is listed).
    let t = env.send(c.get("/models/host?q=%3Cb%3Edb")).await.text();
    assert_eq!(t.matches("<tr data-object-id=").count(), 1, "{t}");
    assert!(t.contains(r#"<tr data-object-id="2""#));
    assert!(t.contains(r#"value="&#60;b&#62;db""#), "{t}");
    // Declared filters, text contains.
    let t = env.send(c.get("/models/host?f_name=web-3")).await.text();
    assert_eq!(t.matches("<tr data-object-id=").count(), 1);
    let t = env.send(c.get("/models/host?f_disabled=true")).await.text();
    assert!(t.contains("No object matches."));
    // A filter expression.
    let t = env
        .send(c.get("/models/host?filter=name+%3D+web-1"))
        .await
        .text();
    assert_eq!(t.matches("<tr data-object-id=").count(), 1);
    // Ordering, both ways.
    let t = env.send(c.get("/models/host?o=-name")).await.text();
    let a = t.find(r#"data-object-id="3""#).unwrap();
    let b = t.find(r#"data-object-id="1""#).unwrap();
    assert!(a < b);
    assert!(t.contains("name ▼"));
    // Pagination.
    let t = env
        .send(c.get("/models/host?per_page=2&page=2"))
        .await
        .text();
    assert_eq!(t.matches("<tr data-object-id=").count(), 1);
    assert!(t.contains("page 2 of 2"));
    assert!(t.contains(r#"class="page-link page-prev""#));
}

#[tokio::test]
async fn changelist_bad_queries_are_400() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    for (q, want) in [
        ("f_password=x", "no filterable field `password`"),
        ("f_comment=x", "no filterable field `comment`"),
        ("filter=port+%7E+2", "`~` needs a text field"),
        ("filter=port+%3D+abc", "abc"),
        ("filter=name+is+x", "expected an operator"),
        ("o=secret", "unknown field `secret`"),
        ("last_status=great", "last_status"),
        ("page=two", "`page`"),
        ("sql=drop", "unknown query parameter `sql`"),
    ] {
        let r = env.send(c.get(&format!("/models/host?{q}"))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.text().contains(want), "{q}: {}", r.text());
    }
    let r = env.send(c.get("/models/nothing")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changelist_needs_view_permission_and_lists_permitted_sessions() {
    let env = Env::new().await;
    let n = env.login(NOBODY).await;
    let r = env.send(n.get("/models/host")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("view_host"));

    let v = env.login(VIEWER).await;
    let t = env.send(v.get("/models/host")).await.text();
    // Grouped; doc text as tooltip (escaped); danger needs `danger` too; slow not held.
    assert!(t.contains(r#"<optgroup label="Info">"#), "{t}");
    assert!(
        t.contains("<option value=\"echo\" title=\"Echo text\n\nHelp of echo &#60;b&#62;bold&#60;/b&#62;\">"),
        "{t}"
    );
    assert!(t.contains(r#"<option value="plain""#));
    assert!(t.contains(r#"<option value="typed""#));
    assert!(!t.contains(r#"<option value="danger""#));
    assert!(!t.contains(r#"<option value="slow""#));
    let root = env.login(ROOT).await;
    let t = env.send(root.get("/models/host")).await.text();
    assert!(t.contains(r#"<option value="danger""#));
    assert!(t.contains(r#"<optgroup label="Checks">"#));
}

#[tokio::test]
async fn forbidden_runs_answer_403_and_run_nothing() {
    let env = Env::new().await;
    let v = env.login(VIEWER).await;
    for s in ["danger", "slow"] {
        let r = env
            .send(v.post(
                "/models/host/run",
                &[
                    ("session", s),
                    ("ids", "1"),
                    ("confirmed", "1"),
                    ("p_cmd", "id"),
                    ("p_secs", "1"),
                ],
            ))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{s}");
    }
    let n = env.login(NOBODY).await;
    let r = env
        .send(n.post("/models/host/run", &[("session", "plain"), ("ids", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    env.settle().await;
    assert!(runs(&env).await.is_empty());
}

#[tokio::test]
async fn a_session_without_form_starts_at_once_and_the_changelist_follows_it() {
    let env = Env::new().await;
    let c = env.login(VIEWER).await;
    let r = env
        .send(c.post(
            "/models/host/run",
            &[("session", "plain"), ("ids", "1"), ("ids", "3")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let loc = r.location();
    assert!(loc.starts_with("/models/host?run="), "{loc}");
    let run_id = run_id_of(&loc);
    env.settle().await;
    let all = runs(&env).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].username, "viewer");
    let t = env.send(c.get(&loc)).await.text();
    assert!(t.contains(&format!(r#"data-run-id="{run_id}""#)));
    assert!(t.contains(&format!(r#"data-events-url="/runs/{run_id}/events""#)));
    assert_eq!(
        t.matches("<tr data-object-id=").count(),
        2,
        "only the run's objects"
    );
    assert!(t.contains(r#"<tr data-object-id="1" data-session-id="#));
    assert!(t.contains(r#"class="state state-failed""#), "{t}");
    assert!(t.contains(r#"id="stop-all""#) && t.contains(r#"class="stop""#));
    assert!(t.contains(r#"id="count-waiting""#));
    // Empty selection.
    let r = env
        .send(c.post("/models/host/run", &[("session", "plain")]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("Select at least one object"));
    // No session chosen, unknown session, wrong model.
    let r = env.send(c.post("/models/host/run", &[("ids", "1")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env
        .send(c.post("/models/host/run", &[("session", "nope"), ("ids", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env
        .send(c.get(&format!("/models/nothing?run={run_id}")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn all_matching_runs_on_the_filtered_objects() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let page = env.send(c.get("/models/host?f_name=web-2")).await.text();
    assert!(page.contains(r#"<input type="hidden" name="f_name" value="web-2">"#));
    let r = env
        .send(c.post(
            "/models/host/run",
            &[
                ("session", "plain"),
                ("all_matching", "1"),
                ("f_name", "web-2"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    env.settle().await;
    let id = run_id_of(&r.location());
    let sessions = env
        .store
        .blocking(move |c| minke_store::run_sessions(c, id))
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].object_label, "web-2");
}

#[tokio::test]
async fn parameter_form_validates_and_keeps_values() {
    let env = Env::new().await;
    let c = env.login(VIEWER).await;
    let r = env
        .send(c.post(
            "/models/host/run",
            &[("session", "typed"), ("ids", "1"), ("ids", "2")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert!(t.contains(r#"id="run-form""#));
    assert!(
        t.contains(r#"<input id="p_count" name="p_count" type="number""#),
        "{t}"
    );
    assert!(t.contains(r#"<select id="p_flag" name="p_flag">"#));
    assert!(t.contains(r#"<input id="p_token" name="p_token" type="password""#));
    assert!(t.contains(r#"<input type="hidden" name="ids" value="2">"#));
    assert!(t.contains(r#"2 objects selected"#));
    assert_no_inline_code("run form", &t);

    // Wrong values: errors next to the fields, values kept, secret not echoed.
    let r = env
        .send(c.post(
            "/models/host/run",
            &[
                ("session", "typed"),
                ("confirmed", "1"),
                ("ids", "1"),
                ("ids", "2"),
                ("p_count", "many"),
                ("p_flag", "true"),
                ("p_token", "hunter2"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(t.contains(r#"id="error-count""#), "{t}");
    assert!(t.contains("Enter a whole number."));
    assert!(t.contains(r#"value="many""#));
    assert!(t.contains(r#"<option value="true" selected>"#));
    assert!(!t.contains("hunter2"), "secrets never in pages");
    // A number the session's type refuses (u32): the error comes from the session.
    let r = env
        .send(c.post(
            "/models/host/run",
            &[
                ("session", "typed"),
                ("confirmed", "1"),
                ("ids", "1"),
                ("p_count", "-4"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains(r#"id="error-count""#));
    // Missing required value.
    let r = env
        .send(c.post(
            "/models/host/run",
            &[("session", "typed"), ("confirmed", "1"), ("ids", "1")],
        ))
        .await;
    assert!(r.text().contains("This field is required."));
    env.settle().await;
    assert!(runs(&env).await.is_empty());
    // Right values start the run; the secret is redacted in the history.
    let r = env
        .send(c.post(
            "/models/host/run",
            &[
                ("session", "typed"),
                ("confirmed", "1"),
                ("ids", "1"),
                ("p_count", "4"),
                ("p_token", "hunter2"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    env.settle().await;
    let all = runs(&env).await;
    assert_eq!(all.len(), 1);
    assert!(
        all[0].params.contains(r#""count":"4""#),
        "{}",
        all[0].params
    );
    assert!(!all[0].params.contains("hunter2"));
    let t = env
        .send(c.get(&format!("/runs/{}", all[0].id)))
        .await
        .text();
    assert!(!t.contains("hunter2"));

    // Rerun (the host is unreachable: the session failed): the button carries the
    // object and the run's parameters, not the secret; its form asks for the secret.
    assert!(t.contains(r#"<form id="rerun""#), "{t}");
    assert!(t.contains(r#"<input type="hidden" name="p_count" value="4">"#));
    assert!(t.contains(r#"<input type="hidden" name="ids" value="1">"#));
    assert!(!t.contains(r#"name="p_token" value"#));
    let r = env
        .send(c.post(
            "/models/host/run",
            &[("session", "typed"), ("ids", "1"), ("p_count", "4")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert!(t.contains(r#"id="run-form""#), "{t}");
    assert!(
        t.contains(r#"name="p_count" type="number" value="4""#),
        "{t}"
    );
    assert!(t.contains(r#"<input id="p_token" name="p_token" type="password""#));
    let r = env
        .send(c.post(
            "/models/host/run",
            &[
                ("session", "typed"),
                ("confirmed", "1"),
                ("ids", "1"),
                ("p_count", "4"),
                ("p_token", "again"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    env.settle().await;
    assert_eq!(runs(&env).await.len(), 2);
    // Nothing to rerun once every object succeeded, or for who may not run it.
    let n = env.login(NOBODY).await;
    let t = env
        .send(n.get(&format!("/runs/{}", all[0].id)))
        .await
        .text();
    assert!(!t.contains(r#"<form id="rerun""#));
}

#[tokio::test]
async fn confirmation_lists_objects_to_deselect() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let r = env
        .send(c.post(
            "/models/host/run",
            &[("session", "danger"), ("all_matching", "1")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert!(t.contains(r#"id="confirm-objects""#));
    assert_eq!(t.matches(r#"class="confirm-object""#).count(), 3);
    assert!(t.contains(r#"<textarea id="p_cmd" name="p_cmd""#));
    // Leave web-2 out.
    let r = env
        .send(c.post(
            "/models/host/run",
            &[
                ("session", "danger"),
                ("confirmed", "1"),
                ("p_cmd", "id\r\nuname"),
                ("ids", "1"),
                ("ids", "3"),
                ("shown", "1"),
                ("shown", "2"),
                ("shown", "3"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    env.settle().await;
    let id = run_id_of(&r.location());
    let s = env
        .store
        .blocking(move |c| minke_store::run_sessions(c, id))
        .await
        .unwrap();
    let labels: Vec<&str> = s.iter().map(|s| s.object_label.as_str()).collect();
    assert_eq!(labels, ["web-1", "web-3"]);
    // Everything deselected: the form again, with the objects, none checked.
    let r = env
        .send(c.post(
            "/models/host/run",
            &[
                ("session", "danger"),
                ("confirmed", "1"),
                ("p_cmd", "id"),
                ("shown", "1"),
                ("shown", "2"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(t.contains("Select at least one object."));
    assert_eq!(t.matches(r#"class="confirm-object""#).count(), 2);
    assert!(!t.contains(" checked>"));
    assert!(t.contains(">id</textarea>"));
}

#[tokio::test]
async fn object_pages_show_fields_and_session_log_links() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    env.send(c.post("/models/host/run", &[("session", "plain"), ("ids", "2")]))
        .await;
    env.settle().await;
    let r = env.send(c.get("/models/host/2")).await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert!(
        t.contains(
            r#"<tr data-field="comment"><th>comment</th><td>&#60;b&#62;db&#60;/b&#62;</td></tr>"#
        ),
        "{t}"
    );
    assert!(t.contains(r#"id="session-log""#));
    assert!(t.contains(r#"href="/sessions?model=host&#38;object=2""#));
    assert!(t.contains(r#"class="session-log" href="/sessions/1""#));
    assert_eq!(
        env.send(c.get("/models/host/99")).await.status,
        StatusCode::NOT_FOUND
    );
    let n = env.login(NOBODY).await;
    assert_eq!(
        env.send(n.get("/models/host/2")).await.status,
        StatusCode::FORBIDDEN
    );
    // The object's session log.
    let t = env
        .send(c.get("/sessions?model=host&object=2"))
        .await
        .text();
    assert_eq!(t.matches("<tr data-session-id=").count(), 1);
}

#[tokio::test]
async fn history_lists_filter_and_pages_show_runs_and_sessions() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    for s in ["plain", "plain"] {
        env.send(c.post(
            "/models/host/run",
            &[("session", s), ("ids", "1"), ("ids", "2")],
        ))
        .await;
        env.settle().await;
    }
    let v = env.login(VIEWER).await;
    env.send(v.post("/models/host/run", &[("session", "plain"), ("ids", "3")]))
        .await;
    env.settle().await;

    let t = env.send(c.get("/runs")).await.text();
    assert_eq!(t.matches("<tr data-run-id=").count(), 3);
    let t = env.send(c.get("/runs?user=viewer")).await.text();
    assert_eq!(t.matches("<tr data-run-id=").count(), 1);
    let t = env
        .send(c.get("/runs?status=error&session=plain&model=host&state=done"))
        .await
        .text();
    assert_eq!(t.matches("<tr data-run-id=").count(), 3);
    let t = env.send(c.get("/runs?status=success")).await.text();
    assert!(t.contains("No run matches."));
    let t = env
        .send(c.get("/runs?from=2000-01-01&to=2000-01-02"))
        .await
        .text();
    assert!(t.contains("No run matches."));
    for bad in ["status=fine", "state=sleeping", "from=yesterday", "limit=3"] {
        let r = env.send(c.get(&format!("/runs?{bad}"))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let t = env.send(c.get("/sessions")).await.text();
    assert_eq!(t.matches("<tr data-session-id=").count(), 5);
    let t = env
        .send(c.get("/sessions?state=failed&host=web-1&run=1"))
        .await
        .text();
    assert_eq!(t.matches("<tr data-session-id=").count(), 1);
    let r = env.send(c.get("/sessions?status=meh")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // By who started them (counted and listed alike), and by outcome.
    let t = env.send(c.get("/sessions?user=root")).await.text();
    assert_eq!(t.matches("<tr data-session-id=").count(), 4);
    assert!(t.contains(r#"<p class="total">4 sessions</p>"#), "{t}");
    let t = env.send(c.get("/sessions?user=viewer")).await.text();
    assert_eq!(t.matches("<tr data-session-id=").count(), 1);
    let t = env.send(c.get("/sessions?user=nobody")).await.text();
    assert!(t.contains("No session matches.") && t.contains(r#"<p class="total">0 sessions</p>"#));
    let t = env
        .send(c.get("/sessions?status=error&user=root"))
        .await
        .text();
    let errors = t.matches("<tr data-session-id=").count();
    assert!(
        t.contains(&format!(r#"<p class="total">{errors} sessions</p>"#)),
        "{t}"
    );

    let r = env.send(c.get("/runs/1")).await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert!(t.contains(r#"id="run-sessions""#));
    assert_eq!(t.matches("<tr data-session-id=").count(), 2);
    assert!(t.contains(r#"id="run-info""#));
    assert_eq!(
        env.send(c.get("/runs/99")).await.status,
        StatusCode::NOT_FOUND
    );

    let r = env.send(c.get("/sessions/1")).await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert!(t.contains(r#"id="messages""#));
    assert!(t.contains("connect_refused"), "{t}");
    assert!(t.contains(r#"class="message level-error""#));
    assert_eq!(
        env.send(c.get("/sessions/99")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = env.send(c.get("/sessions/1/commands/1/stdout")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no command was run");
    let r = env.send(c.get("/sessions/1/commands/1/other")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Nobody may view no history.
    let n = env.login(NOBODY).await;
    let t = env.send(n.get("/runs")).await.text();
    assert!(t.contains("No run matches."));
    assert_eq!(
        env.send(n.get("/runs/1")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.send(n.get("/sessions/1")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.send(n.get("/runs?model=host")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.send(n.get("/runs/1/events")).await.status,
        StatusCode::FORBIDDEN
    );
    // Stopping a finished run: 409, a run one may not view: 403.
    let r = env.send(c.post("/runs/1/stop", &[])).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = env.send(n.post("/runs/1/stop", &[])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn hosts_add_edit_disable_with_validation() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let t = env.send(c.get("/hosts")).await.text();
    assert_eq!(t.matches("<tr data-host-id=").count(), 3);
    assert!(t.contains(r#"id="add-host""#));
    let t = env.send(c.get("/hosts/add")).await.text();
    assert!(t.contains(r#"id="host-form""#));

    // Invalid: port out of range, unknown policy; values kept.
    let r = env
        .send(c.post(
            "/hosts/add",
            &[
                ("name", "new-1"),
                ("port", "70000"),
                ("host_key_policy", "maybe"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(t.contains(r#"id="error-port""#), "{t}");
    assert!(t.contains(r#"id="error-host_key_policy""#));
    assert!(t.contains(r#"value="70000""#));
    assert!(t.contains(r#"value="new-1""#));
    // Duplicate name.
    let r = env
        .send(c.post("/hosts/add", &[("name", "web-1"), ("port", "22")]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("exists already"));
    // Valid.
    let r = env
        .send(c.post(
            "/hosts/add",
            &[
                ("name", "new-1"),
                ("hostname", "10.0.0.9"),
                ("port", "2222"),
                ("host_key_policy", "accept-new"),
                ("comment", "<i>x</i>"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let t = env.send(c.get("/hosts?q=new")).await.text();
    assert_eq!(t.matches("<tr data-host-id=").count(), 1);
    assert!(t.contains("accept-new"));
    let id: i64 = 4;
    // Edit (rename, port).
    let t = env.send(c.get(&format!("/hosts/{id}/edit"))).await.text();
    assert!(t.contains(r#"value="2222""#));
    assert!(t.contains(r#"<option value="accept-new" selected>"#));
    let r = env
        .send(c.post(
            &format!("/hosts/{id}/edit"),
            &[
                ("name", "new-2"),
                ("port", "22"),
                ("host_key_policy", "strict"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let h = env
        .store
        .blocking(move |c| {
            let h = <minke_store::HostRecord as minke_store::StoredModel>::load_one(c, id)?;
            Ok((h.name, h.port))
        })
        .await
        .unwrap();
    assert_eq!(h.0, "new-2");
    assert_eq!(h.1, 22);
    let r = env
        .send(c.post(
            &format!("/hosts/{id}/edit"),
            &[("name", "web-1"), ("port", "22")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        env.send(c.get("/hosts/99/edit")).await.status,
        StatusCode::NOT_FOUND
    );
    // Jump hosts, by name: not itself, an existing host; an id is refused, not
    // dropped.
    for (field, j, want) in [
        ("jump_host", "new-2", "its own jump host"),
        ("jump_host", "web-99", "No host is named `web-99`."),
        ("jump_host_id", "1", "given by its name"),
    ] {
        let r = env
            .send(c.post(
                &format!("/hosts/{id}/edit"),
                &[("name", "new-2"), ("port", "22"), (field, j)],
            ))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{j}");
        assert!(r.text().contains(want), "{j}: {}", r.text());
    }
    let r = env
        .send(c.post(
            &format!("/hosts/{id}/edit"),
            &[("name", "new-2"), ("port", "22"), ("jump_host", "web-1")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let t = env.send(c.get("/hosts?q=new-2")).await.text();
    assert!(t.contains(r#"<td class="jump-host">web-1</td>"#), "{t}");
    let t = env.send(c.get(&format!("/hosts/{id}/edit"))).await.text();
    assert!(
        t.contains(r#"<input id="jump_host" name="jump_host" value="web-1""#),
        "{t}"
    );
    assert!(!t.contains("<option value=\"1\""), "no menu of hosts");
    // Disable and enable.
    let r = env
        .send(c.post("/hosts/1/disable", &[("disabled", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let t = env.send(c.get("/hosts")).await.text();
    assert!(t.contains(r#"<tr data-host-id="1" class="disabled">"#));
    // A run on a disabled host cancels that session.
    env.send(c.post("/models/host/run", &[("session", "plain"), ("ids", "1")]))
        .await;
    env.settle().await;
    let s = env
        .store
        .blocking(|c| minke_store::run_sessions(c, minke_core::RunId::new(1)))
        .await
        .unwrap();
    assert_eq!(s[0].state, minke_core::State::Canceled);
    let r = env
        .send(c.post("/hosts/1/disable", &[("disabled", "0")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = env
        .send(c.post("/hosts/1/disable", &[("disabled", "x")]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Viewers see hosts but change nothing.
    let v = env.login(VIEWER).await;
    let t = env.send(v.get("/hosts")).await.text();
    assert!(!t.contains("add-host") && !t.contains("toggle-disabled"));
    for (p, f) in [
        ("/hosts/add", vec![("name", "x")]),
        ("/hosts/2/edit", vec![("name", "x")]),
        ("/hosts/2/disable", vec![("disabled", "1")]),
        ("/groups/add", vec![("name", "g")]),
    ] {
        let r = env.send(v.post(p, &f)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{p}");
    }
    assert_eq!(
        env.send(v.get("/hosts/add")).await.status,
        StatusCode::FORBIDDEN
    );
    let n = env.login(NOBODY).await;
    assert_eq!(
        env.send(n.get("/hosts")).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn groups_add_edit_delete_and_filter_hosts() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let r = env
        .send(c.post(
            "/groups/add",
            &[
                ("name", "front"),
                ("comment", "web"),
                ("add", "web-1\nweb-3"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = env.send(c.post("/groups/add", &[("name", "front")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("exists already"));
    let r = env.send(c.post("/groups/add", &[("name", " ")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = env.send(c.get("/groups")).await.text();
    assert!(t.contains(r#"<tr data-group-id="1">"#));
    assert!(t.contains("2 hosts</a>: web-1, web-3"), "{t}");
    // Hosts by group, in the hosts list and the host changelist.
    let t = env.send(c.get("/hosts?group=1")).await.text();
    assert_eq!(t.matches("<tr data-host-id=").count(), 2);
    let t = env.send(c.get("/models/host?group=1")).await.text();
    assert_eq!(t.matches("<tr data-object-id=").count(), 2);
    assert!(t.contains(r#"<select name="group" id="group">"#));
    // The group by name in the filter expression; an unknown one is said so.
    let t = env
        .send(c.get("/models/host?filter=group+%3D+front+and+name+%3D+web-3"))
        .await
        .text();
    assert_eq!(t.matches("<tr data-object-id=").count(), 1, "{t}");
    let r = env.send(c.get("/models/host?filter=group+%3D+back")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("no host group named `back`"));
    // Edit: rename, take members out and add one by name.
    let t = env.send(c.get("/groups/1/edit")).await.text();
    assert!(t.contains(r#"id="group-form""#) && t.contains(r#"id="delete-group""#));
    assert!(t.contains(r#"name="remove" value="3">"#), "{t}");
    let r = env
        .send(c.post(
            "/groups/1/edit",
            &[
                ("name", "frontends"),
                ("remove", "1"),
                ("remove", "3"),
                ("add", "web-2"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let t = env.send(c.get("/groups")).await.text();
    assert!(
        t.contains("frontends") && t.contains("1 host</a>: web-2"),
        "{t}"
    );
    let t = env.send(c.get("/hosts/2/edit")).await.text();
    assert!(t.contains(r#"<input type="checkbox" name="groups" value="1" checked>"#));
    // Delete.
    let r = env.send(c.post("/groups/1/delete", &[])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        env.send(c.get("/groups"))
            .await
            .text()
            .contains("No groups yet.")
    );
    assert_eq!(
        env.send(c.post("/groups/1/delete", &[])).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.send(c.get("/groups/1/edit")).await.status,
        StatusCode::NOT_FOUND
    );
    // Group filter on another model is a bad query.
    let r = env.send(c.get("/models/host?group=abc")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn failed_history_writes_are_said_on_every_page() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let t = env.send(c.get("/")).await.text();
    assert!(!t.contains("write-failures"), "{t}");
    // A write the database refuses, as a full disk would.
    env.store.write_statement_later("a test write", |c| {
        minke_store::insert_message(
            c,
            &minke_store::MessageRow {
                session_id: minke_core::SessionId::new(999_999),
                seq: 1,
                level: "info".into(),
                body: "{}".into(),
                created_at: 1,
            },
        )
    });
    env.store.flush().await.unwrap();
    for page in ["/", "/runs", "/hosts"] {
        let t = env.send(c.get(page)).await.text();
        assert!(
            t.contains(r#"id="write-failures""#)
                && t.contains("1 write to the history failed")
                && t.contains("writing a test write failed"),
            "{page}: {t}"
        );
    }
}
