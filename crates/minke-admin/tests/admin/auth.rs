//! Logins, sessions, CSRF, tokens, security headers.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::support::{Env, NOBODY, ROOT, VIEWER, bearer, form_body, get};

const PAGES: &[&str] = &[
    "/",
    "/models/host",
    "/models/host/1",
    "/runs",
    "/runs/1",
    "/runs/1/events",
    "/sessions",
    "/sessions/1",
    "/sessions/1/commands/1/stdout",
    "/hosts",
    "/hosts/add",
    "/hosts/1/edit",
    "/groups",
    "/groups/add",
    "/groups/1/edit",
];

const API: &[(&str, &str)] = &[
    ("GET", "/api/me"),
    ("GET", "/api/models"),
    ("GET", "/api/models/host/objects"),
    ("GET", "/api/sessions"),
    ("GET", "/api/runs"),
    ("POST", "/api/runs"),
    ("GET", "/api/runs/1"),
    ("GET", "/api/runs/1/events"),
    ("POST", "/api/runs/1/stop"),
    ("GET", "/api/runs/1/sessions/1"),
    ("POST", "/api/runs/1/sessions/1/stop"),
];

#[tokio::test]
async fn every_page_redirects_to_the_login_without_a_session() {
    let env = Env::new().await;
    for p in PAGES {
        let r = env.send(get(p)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{p}");
        let loc = r.location();
        assert!(loc.starts_with("/login?next="), "{p}: {loc}");
    }
    // State-changing pages too, and nothing happens.
    for p in [
        "/models/host/run",
        "/hosts/add",
        "/hosts/1/disable",
        "/logout",
    ] {
        let r = env
            .send(
                Request::post(p)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from("session=plain&ids=1"))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{p}");
    }
    assert!(env.engine.active_runs().is_empty());
}

#[tokio::test]
async fn every_api_endpoint_answers_401_without_login() {
    let env = Env::new().await;
    for (m, p) in API {
        let r = env
            .send(
                Request::builder()
                    .method(*m)
                    .uri(*p)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{m} {p}");
        assert_eq!(r.json()["error"], "login required", "{m} {p}");
        assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    // A wrong token is no login either.
    let r = env.send(bearer(Method::GET, "/api/me", "nope", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_logout_and_cookie_flags() {
    let env = Env::new().await;
    let form = env.send(get("/login?next=/runs")).await;
    assert_eq!(form.status, StatusCode::OK);
    let text = form.text();
    assert!(text.contains(r#"id="login-form""#));
    assert!(text.contains(r#"name="next" value="/runs""#));
    let line = form.set_cookie_line("minke_login");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    assert!(!line.contains("Secure"));

    // Wrong password and unknown user: same answer.
    for (u, p) in [("root", "wrong"), ("ghost", "whatever")] {
        let token = form.input_value("csrf").unwrap();
        let cookie = form.cookie("minke_login").unwrap();
        let r = env
            .send(
                Request::post("/login")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, format!("minke_login={cookie}"))
                    .body(Body::from(form_body(&[
                        ("csrf", &token),
                        ("username", u),
                        ("password", p),
                    ])))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.text().contains("Wrong user name or password."));
        assert!(r.cookie("minke_session").is_none());
        assert!(!r.text().contains(p), "the password is never echoed");
    }

    let c = env.login(ROOT).await;
    let r = env.send(c.get("/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains(r#"id="logout""#));

    // Logout needs the CSRF token, then the cookie is dead.
    let r = env.send(c.post_raw("/logout", &[])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env.send(c.post("/logout", &[])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.set_cookie_line("minke_session").contains("Max-Age=0"));
    let r = env.send(c.get("/")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn login_needs_the_double_submit_token() {
    let env = Env::new().await;
    // No cookie at all.
    let r = env
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("csrf=abc&username=root&password=root-password"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Cookie and field differ.
    let r = env
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, "minke_login=abc")
                .body(Body::from("csrf=abd&username=root&password=root-password"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("CSRF"));
}

#[tokio::test]
async fn login_redirects_only_inside_the_admin() {
    let env = Env::new().await;
    for (next, want) in [
        ("/runs", "/runs"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/login", "/"),
    ] {
        let form = env.send(get("/login")).await;
        let token = form.input_value("csrf").unwrap();
        let cookie = form.cookie("minke_login").unwrap();
        let r = env
            .send(
                Request::post("/login")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, format!("minke_login={cookie}"))
                    .body(Body::from(form_body(&[
                        ("csrf", &token),
                        ("username", "root"),
                        ("password", "root-password"),
                        ("next", next),
                    ])))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.location(), want, "{next}");
        let line = r.set_cookie_line("minke_session");
        assert!(
            line.contains("HttpOnly") && line.contains("SameSite=Lax"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn inactive_users_cannot_log_in_and_lose_their_session() {
    let env = Env::new().await;
    let c = env.login(VIEWER).await;
    env.store
        .write(|c| minke_store::set_active(c, "viewer", false))
        .await
        .unwrap();
    assert_eq!(env.send(c.get("/")).await.status, StatusCode::SEE_OTHER);
    let form = env.send(get("/login")).await;
    let r = env
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(
                    header::COOKIE,
                    format!("minke_login={}", form.cookie("minke_login").unwrap()),
                )
                .body(Body::from(form_body(&[
                    ("csrf", &form.input_value("csrf").unwrap()),
                    ("username", VIEWER.0),
                    ("password", VIEWER.1),
                ])))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    // Form without token, with a wrong token, header with a wrong token.
    let r = env
        .send(c.post_raw("/models/host/run", &[("session", "plain"), ("ids", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .send(c.post_raw(
            "/models/host/run",
            &[("csrf", "0000"), ("session", "plain"), ("ids", "1")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .send(
            Request::post("/api/runs")
                .header(header::COOKIE, &c.cookie)
                .header("x-csrf-token", "wrong")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"session":"plain","model":"host","all":true}"#,
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.json()["error"].as_str().unwrap().contains("CSRF"));
    let r = env
        .send(c.post_raw("/hosts/1/disable", &[("disabled", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    env.settle().await;
    let runs = env
        .store
        .blocking(|c| minke_store::list_runs(c, 10, 0))
        .await
        .unwrap();
    assert!(runs.is_empty(), "nothing ran");
    let host = env
        .store
        .blocking(|c| {
            use minke_store::StoredModel as _;
            minke_store::HostRecord::load_one(c, 1)
        })
        .await
        .unwrap();
    assert!(!host.disabled, "host 1 is still enabled");
    // With the token it works.
    let r = env
        .send(c.post("/models/host/run", &[("session", "plain"), ("ids", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    env.settle().await;
}

#[tokio::test]
async fn api_tokens_work_on_the_api_only() {
    let env = Env::new().await;
    let token = minke_admin::generate_token().unwrap();
    let hash = minke_admin::hash_token(&token);
    env.store
        .write(move |c| minke_store::create_api_token(c, "viewer", "ci", &hash))
        .await
        .unwrap();
    let r = env.send(bearer(Method::GET, "/api/me", &token, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["username"], "viewer");
    // Pages want the browser login.
    let r = env.send(bearer(Method::GET, "/", &token, None)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Token requests need no CSRF token.
    let r = env
        .send(bearer(
            Method::POST,
            "/api/runs",
            &token,
            Some(serde_json::json!({"session": "plain", "model": "host", "all": true})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    env.settle().await;
}

#[tokio::test]
async fn security_headers_and_no_inline_script() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    let r = env
        .send(c.post("/models/host/run", &[("session", "echo"), ("ids", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for p in [
        "/",
        "/models/host",
        "/runs",
        "/sessions",
        "/hosts",
        "/groups",
        "/hosts/add",
    ] {
        let r = env.send(c.get(p)).await;
        assert_eq!(r.status, StatusCode::OK, "{p}");
        let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let t = r.text();
        assert_no_inline_code(p, &t);
    }
    let login = env.send(get("/login")).await;
    assert_no_inline_code("/login", &login.text());
    assert!(login.headers.contains_key(header::CONTENT_SECURITY_POLICY));
}

pub fn assert_no_inline_code(page: &str, t: &str) {
    for (i, _) in t.match_indices("<script") {
        let tag = &t[i..i + t[i..].find('>').unwrap()];
        assert!(tag.contains(" src="), "{page}: inline script {tag}");
    }
    for attr in [
        " onclick=",
        " onload=",
        " onerror=",
        " onchange=",
        " onsubmit=",
        " style=",
    ] {
        assert!(!t.contains(attr), "{page}: inline {attr}");
    }
    assert!(!t.contains("javascript:"), "{page}");
}

#[tokio::test]
async fn static_files_need_no_login() {
    let env = Env::new().await;
    let js = env.send(get("/static/admin.js")).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(
        js.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().contains("EventSource"));
    let css = env.send(get("/static/admin.css")).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let r = env.send(get("/static/other.js")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_pages_are_404_pages() {
    let env = Env::new().await;
    let c = env.login(NOBODY).await;
    let r = env.send(c.get("/no/such/page")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains(r#"id="error-message""#));
    let r = env.send(c.get("/api/nothing")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json()["error"].is_string());
}

#[tokio::test]
async fn the_base_path_prefixes_every_link() {
    let env = Env::with(
        vec![minke_store::NewHost::new("a")],
        minke_admin::AdminConfig {
            base_path: "/minke/".into(),
            secure_cookies: true,
            ..minke_admin::AdminConfig::default()
        },
        minke_runtime::Config::default(),
    )
    .await;
    let r = env.send(get("/minke")).await;
    assert_eq!(r.location(), "/minke/");
    let r = env.send(get("/minke/")).await;
    assert!(
        r.location().starts_with("/minke/login?next="),
        "{}",
        r.location()
    );
    let r = env.send(get("/login")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let form = env.send(get("/minke/login")).await;
    let line = form.set_cookie_line("minke_login");
    assert!(
        line.contains("Path=/minke/") && line.contains("Secure"),
        "{line}"
    );
    let c = env.login_at("/minke", "root", "root-password").await;
    let r = env
        .send(c.post(
            "/minke/models/host/run",
            &[("session", "plain"), ("ids", "1")],
        ))
        .await;
    assert!(
        r.location().starts_with("/minke/models/host?run="),
        "{}",
        r.location()
    );
    env.settle().await;
    for p in [
        "/minke/",
        "/minke/models/host",
        "/minke/models/host/1",
        "/minke/runs",
        "/minke/runs/1",
        "/minke/sessions",
        "/minke/sessions/1",
        "/minke/hosts",
        "/minke/groups",
        "/minke/hosts/add",
    ] {
        let r = env.send(c.get(p)).await;
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.text());
        let t = r.text();
        for attr in [
            "href=\"",
            "src=\"",
            "action=\"",
            "formaction=\"",
            "data-url=\"",
            "data-events-url=\"",
        ] {
            for (i, _) in t.match_indices(attr) {
                let v = &t[i + attr.len()..];
                let v = &v[..v.find('"').unwrap()];
                assert!(v.starts_with("/minke/") || v == "data:,", "{p}: {attr}{v}");
            }
        }
    }
}
