//! The users page and the audit log: who may see them, every change they make,
//! validation with values kept, the guards against locking oneself out, paging.

use axum::http::{Method, StatusCode};
use minke_core::{AuditAction, Via};
use minke_store::Actor;

use crate::support::{Client, Env, NOBODY, ROOT, VIEWER, bearer, get};

/// The id in a `/users/ID?done=...` redirect.
fn user_id_of(location: &str) -> i64 {
    location
        .trim_start_matches("/users/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("not a user's page: {location}"))
}

async fn login_works(env: &Env, user: &str, password: &str) -> bool {
    let form = env.send(get("/login")).await;
    let token = form.input_value("csrf").unwrap();
    let cookie = form.cookie("minke_login").unwrap();
    let r = env
        .send(
            axum::http::Request::post("/login")
                .header(
                    axum::http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(axum::http::header::COOKIE, format!("minke_login={cookie}"))
                .body(axum::body::Body::from(crate::support::form_body(&[
                    ("csrf", &token),
                    ("username", user),
                    ("password", password),
                ])))
                .unwrap(),
        )
        .await;
    r.status == StatusCode::SEE_OTHER
}

#[tokio::test]
async fn users_and_audit_are_for_superusers_only() {
    let env = Env::new().await;
    let viewer = env.login(VIEWER).await;
    for path in [
        "/users",
        "/users/add",
        "/users/1",
        "/users/1/remove",
        "/audit",
    ] {
        let r = env.send(viewer.get(path)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text());
        assert!(r.text().contains("only superusers"), "{path}");
        // The error page keeps the navigation of who is logged in (a way out).
        assert!(r.text().contains(r#"id="logout""#) && !r.text().contains(r#"id="nav-users""#));
    }
    for (path, form) in [
        (
            "/users/add",
            vec![
                ("name", "eve"),
                ("password", "long enough!"),
                ("password2", "long enough!"),
            ],
        ),
        ("/users/2/permissions", vec![("superuser", "1")]),
        (
            "/users/2/password",
            vec![("password", "long enough!"), ("password2", "long enough!")],
        ),
        ("/users/1/active", vec![("active", "0")]),
        ("/users/1/remove", vec![]),
        ("/users/2/tokens", vec![("label", "x")]),
        ("/users/1/tokens/1/revoke", vec![]),
    ] {
        let r = env.send(viewer.post(path, &form)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text());
    }
    // Nothing changed: viewer is no superuser, root is still active.
    assert!(login_works(&env, ROOT.0, ROOT.1).await);
    let t = env.send(viewer.get("/")).await.text();
    assert!(!t.contains(r#"id="nav-users""#) && !t.contains(r#"id="nav-audit""#));
    let root = env.login(ROOT).await;
    let t = env.send(root.get("/")).await.text();
    assert!(t.contains(r#"id="nav-users""#) && t.contains(r#"id="nav-audit""#));
    let r = env.send(root.get("/users")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for name in ["root", "viewer", "nobody"] {
        assert!(
            r.text().contains(&format!(r#"data-user="{name}""#)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_superuser_manages_a_user_and_the_audit_log_tells_it() {
    let env = Env::new().await;
    let root = env.login(ROOT).await;

    // Validation: errors next to the fields, the values kept, never the password.
    let r = env
        .send(root.post(
            "/users/add",
            &[
                ("name", "ann"),
                ("password", "short"),
                ("password2", "short"),
                ("superuser", "0"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(
        t.contains(r#"id="password-error""#) && t.contains("at least 8"),
        "{t}"
    );
    assert!(t.contains(r#"value="ann""#) && !t.contains("short\""));
    let r = env
        .send(root.post(
            "/users/add",
            &[
                ("name", "ann"),
                ("password", "long enough 1"),
                ("password2", "long enough 2"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("the two passwords differ"));
    let r = env
        .send(root.post(
            "/users/add",
            &[
                ("name", "viewer"),
                ("password", "long enough 1"),
                ("password2", "long enough 1"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains(r#"id="name-error""#) && r.text().contains("exists already"));
    let r = env
        .send(root.post(
            "/users/add",
            &[
                ("name", "a b"),
                ("password", "long enough 1"),
                ("password2", "long enough 1"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("no spaces"));

    // Added; the name is escaped on every page.
    let r = env
        .send(root.post(
            "/users/add",
            &[
                ("name", "<i>ann</i>"),
                ("password", "ann's password"),
                ("password2", "ann's password"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let id = user_id_of(&r.location());
    let page = env.send(root.get(&r.location())).await;
    assert_eq!(page.status, StatusCode::OK);
    let t = page.text();
    assert!(
        t.contains("The user was added.") && t.contains("&#60;i&#62;ann&#60;/i&#62;"),
        "{t}"
    );
    assert!(!t.contains("<i>ann</i>"));
    let name = "<i>ann</i>";

    // No permission yet: the model is refused.
    let ann = env.login((name, "ann's password")).await;
    assert_eq!(
        env.send(ann.get("/models/host")).await.status,
        StatusCode::FORBIDDEN
    );
    // Granted through the matrix.
    let r = env
        .send(root.post(
            &format!("/users/{id}/permissions"),
            &[("perm", "view_host"), ("perm", "run_echo")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        env.send(ann.get("/models/host")).await.status,
        StatusCode::OK
    );
    let t = env.send(root.get(&format!("/users/{id}"))).await.text();
    assert!(
        t.contains(r#"value="view_host" data-permission="view_host" checked"#),
        "{t}"
    );
    assert!(t.contains(r#"value="change_host" data-permission="change_host">"#));
    // An unknown permission is refused and changes nothing.
    let r = env
        .send(root.post(
            &format!("/users/{id}/permissions"),
            &[("perm", "view_host"), ("perm", "view_everything")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("unknown permission `view_everything`"));
    // Revoked: unchecked.
    let r = env
        .send(root.post(&format!("/users/{id}/permissions"), &[("perm", "run_echo")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        env.send(ann.get("/models/host")).await.status,
        StatusCode::FORBIDDEN
    );

    // Disabled: the login is refused, the open one ended; enabled again.
    let r = env
        .send(root.post(&format!("/users/{id}/active"), &[("active", "0")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!login_works(&env, name, "ann's password").await);
    let r = env.send(ann.get("/")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the open login ended");
    let r = env
        .send(root.post(&format!("/users/{id}/active"), &[("active", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(login_works(&env, name, "ann's password").await);

    // A password: checked, then set; the old one no longer works.
    let r = env
        .send(root.post(
            &format!("/users/{id}/password"),
            &[("password", "tiny"), ("password2", "tiny")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains(r#"id="password-error""#));
    let r = env
        .send(root.post(
            &format!("/users/{id}/password"),
            &[
                ("password", "a new password"),
                ("password2", "a new password"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!login_works(&env, name, "ann's password").await);
    assert!(login_works(&env, name, "a new password").await);

    // An API token, shown once, works until revoked.
    let r = env
        .send(root.post(
            &format!("/users/{id}/tokens"),
            &[("label", "ci"), ("days", "0")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("1 to 3650 days"));
    let r = env
        .send(root.post(
            &format!("/users/{id}/tokens"),
            &[("label", "ci"), ("days", "30")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let t = r.text();
    let token = t
        .split(r#"<pre id="token">"#)
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 64);
    let me = env.send(bearer(Method::GET, "/api/me", &token, None)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    let t = env.send(root.get(&format!("/users/{id}"))).await.text();
    assert!(
        t.contains(r#"id="tokens""#) && !t.contains(&token),
        "never shown again"
    );
    let tid = t
        .split(r#"data-token=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    // Another user's token id is refused.
    let viewer_id = {
        let t = env.send(root.get("/users?q=viewer")).await.text();
        let pat = r#"class="user-link" href="/users/"#;
        let at = t.find(pat).unwrap() + pat.len();
        t[at..].split('"').next().unwrap().to_owned()
    };
    let r = env
        .send(root.post(&format!("/users/{viewer_id}/tokens/{tid}/revoke"), &[]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("has no API token"));
    let r = env
        .send(root.post(&format!("/users/{id}/tokens/{tid}/revoke"), &[]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let me = env.send(bearer(Method::GET, "/api/me", &token, None)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);

    // Removed, after a confirmation that says what goes.
    let t = env
        .send(root.get(&format!("/users/{id}/remove")))
        .await
        .text();
    assert!(t.contains("permissions and") && t.contains("The history keeps their name"));
    let r = env
        .send(root.post(&format!("/users/{id}/remove"), &[]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        env.send(root.get(&format!("/users/{id}"))).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!login_works(&env, name, "a new password").await);

    // The audit log has all of it, newest first, with who and from where.
    env.store.flush().await.unwrap();
    let t = env.send(root.get("/audit")).await.text();
    let actions: Vec<&str> = t
        .split(r#"data-action=""#)
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    let expected = [
        "user_removed",
        "token_revoked",
        "token_created",
        "password_set",
        "user_enabled",
        "user_disabled",
        "permission_revoked",
        "permission_granted",
        "permission_granted",
        "user_added",
    ];
    let changes: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|a| !matches!(*a, "login" | "login_failed" | "logout"))
        .collect();
    assert_eq!(changes, expected, "{t}");
    assert!(actions.contains(&"login") && actions.contains(&"login_failed"));
    assert!(t.contains("user &#60;i&#62;ann&#60;/i&#62;") && !t.contains("<i>ann"));
    // Filters: by action, by who, by target.
    let t = env
        .send(root.get("/audit?action=login_failed"))
        .await
        .text();
    assert!(t.contains(r#"data-action="login_failed""#) && !t.contains(r#"data-action="login""#));
    let t = env.send(root.get("/audit?by=nobody")).await.text();
    assert!(t.contains(r#"id="no-entries""#), "{t}");
    let t = env.send(root.get("/audit?target=run+")).await.text();
    assert!(t.contains(r#"id="no-entries""#));
    let r = env.send(root.get("/audit?action=everything")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("is not one of"));
    let r = env.send(root.get("/audit?from=2026-02-30")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn nobody_locks_themselves_out_and_the_last_superuser_stays() {
    let env = Env::new().await;
    let root = env.login(ROOT).await;
    let root_id = {
        let t = env.send(root.get("/users?q=root")).await.text();
        let pat = r#"class="user-link" href="/users/"#;
        let at = t.find(pat).unwrap() + pat.len();
        t[at..].split('"').next().unwrap().to_owned()
    };
    for (path, form) in [
        (format!("/users/{root_id}/active"), vec![("active", "0")]),
        (format!("/users/{root_id}/remove"), vec![]),
        (format!("/users/{root_id}/permissions"), vec![]),
    ] {
        let r = env.send(root.post(&path, &form)).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{path}: {}", r.text());
        assert!(r.text().contains("yourself"), "{path}");
    }
    // A second superuser may take the first away; then it is the last one, which
    // the store keeps (whoever asks: the CLI goes through the same functions).
    let r = env
        .send(root.post(
            "/users/add",
            &[
                ("name", "second"),
                ("password", "second password"),
                ("password2", "second password"),
                ("superuser", "1"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let second = env.login(("second", "second password")).await;
    let r = env
        .send(second.post(&format!("/users/{root_id}/permissions"), &[]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        env.send(root.get("/users")).await.status,
        StatusCode::FORBIDDEN
    );
    let refused = env
        .store
        .write(|c| minke_store::set_active(c, "second", false))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("last active superuser"),
        "{refused}"
    );
    let refused = env
        .store
        .write(|c| minke_store::remove_user(c, "second"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("last active superuser"));
    assert!(login_works(&env, "second", "second password").await);
}

/// An attribute's value as the browser reads it.
fn unescape(s: &str) -> String {
    s.replace("&#38;", "&").replace("&amp;", "&")
}

async fn user_names(env: &Env, c: &Client, url: &str) -> (Vec<String>, Option<String>) {
    let t = env.send(c.get(url)).await.text();
    let names = t
        .split(r#"data-user=""#)
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect();
    let next = t
        .split(r#"id="next-page" href=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(unescape);
    (names, next)
}

#[tokio::test]
async fn users_and_the_audit_log_come_a_page_at_a_time() {
    let env = Env::new().await;
    env.store
        .write(|c| {
            for i in 0..150 {
                minke_store::create_user(c, &format!("u{i:03}"), "x", false)?;
            }
            let actor = Actor {
                name: "bulk".into(),
                via: Via::Api,
                address: Some("127.0.0.5".into()),
            };
            for i in 0..250 {
                minke_store::record_audit(
                    c,
                    &actor,
                    AuditAction::HostChanged,
                    &format!("host h{i}"),
                    "",
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let root = env.login(ROOT).await;
    // 153 users: a page of 100, then the rest, then nothing.
    let (first, next) = user_names(&env, &root, "/users").await;
    assert_eq!(first.len(), 100);
    let (rest, after) = user_names(&env, &root, &next.unwrap()).await;
    assert_eq!(rest.len(), 53);
    assert!(after.is_none());
    assert!(
        first
            .iter()
            .chain(&rest)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == 153
    );
    let (none, _) = user_names(&env, &root, "/users?after=zzz").await;
    assert!(none.is_empty());
    let t = env.send(root.get("/users?after=zzz")).await.text();
    assert!(t.contains(r#"id="no-users""#));
    // One page when it all fits, no next link.
    let (few, next) = user_names(&env, &root, "/users?q=u14").await;
    assert_eq!(few.len(), 10);
    assert!(next.is_none());

    // The audit log, filtered to the 250 entries: 100, 100, 50, and back.
    let ids = |t: &str| -> Vec<i64> {
        t.split(r#"data-entry=""#)
            .skip(1)
            .filter_map(|s| s.split('"').next()?.parse().ok())
            .collect()
    };
    let link = |t: &str, id: &str| {
        t.split(&format!(r#"id="{id}" href=""#))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(unescape)
    };
    let t = env.send(root.get("/audit?by=bulk")).await.text();
    let p1 = ids(&t);
    assert_eq!(p1.len(), 100);
    assert!(link(&t, "newer").is_none());
    let t = env.send(root.get(&link(&t, "older").unwrap())).await.text();
    let p2 = ids(&t);
    assert_eq!(p2.len(), 100);
    assert!(p2[0] < p1[99], "{p1:?} {p2:?}");
    let t3 = env.send(root.get(&link(&t, "older").unwrap())).await.text();
    let p3 = ids(&t3);
    assert_eq!(p3.len(), 50);
    assert!(link(&t3, "older").is_none(), "the last page");
    let back = env
        .send(root.get(&link(&t3, "newer").unwrap()))
        .await
        .text();
    assert_eq!(ids(&back), p2);
    let back = env
        .send(root.get(&link(&back, "newer").unwrap()))
        .await
        .text();
    assert_eq!(ids(&back), p1);
    assert!(link(&back, "newer").is_none(), "the first page again");
    // Past the end: nothing, and no way further.
    let t = env
        .send(root.get(&format!("/audit?by=bulk&before={}", p3[49])))
        .await
        .text();
    assert!(t.contains(r#"id="no-entries""#) && link(&t, "older").is_none());
    let _ = NOBODY;
}
