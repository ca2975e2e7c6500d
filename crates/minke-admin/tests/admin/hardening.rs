//! The login's CSRF token, failed-login limits, trusted proxies, and what the host
//! form accepts (names, SSH file paths).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use minke_admin::AdminConfig;
use minke_store::{HostRecord, StoredModel as _};

use crate::support::{Env, ROOT, Resp, form_body, get};

/// A login form's token and cookie.
async fn login_pair(env: &Env) -> (String, String) {
    let form = env.send(get("/login")).await;
    (
        form.input_value("csrf").unwrap(),
        form.cookie("minke_login").unwrap(),
    )
}

/// `POST /login` from `peer`, with extra headers.
async fn login_from(
    env: &Env,
    peer: &str,
    headers: &[(&str, &str)],
    user: &str,
    password: &str,
) -> Resp {
    let (token, cookie) = login_pair(env).await;
    let mut req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("minke_login={cookie}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req
        .body(Body::from(form_body(&[
            ("csrf", &token),
            ("username", user),
            ("password", password),
        ])))
        .unwrap();
    let addr: SocketAddr = format!("{peer}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    env.send(req).await
}

fn retry_after(r: &Resp) -> u64 {
    r.headers
        .get(header::RETRY_AFTER)
        .unwrap_or_else(|| panic!("no Retry-After on {}", r.status))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_login_token_is_issued_by_the_server() {
    let env = Env::new().await;
    // A value the client chose, the same in cookie and field, with the right password.
    let r = env
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, "minke_login=a")
                .body(Body::from("csrf=a&username=root&password=root-password"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.cookie("minke_session").is_none());
    // A real token with another browser's cookie.
    let (token, _) = login_pair(&env).await;
    let (_, other_cookie) = login_pair(&env).await;
    let r = env
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, format!("minke_login={other_cookie}"))
                .body(Body::from(form_body(&[
                    ("csrf", &token),
                    ("username", "root"),
                    ("password", "root-password"),
                ])))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The real pair works.
    let r = login_from(&env, "10.0.0.1", &[], ROOT.0, ROOT.1).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
}

fn limited(per_addr: u32, per_user: u32, window: Duration) -> AdminConfig {
    AdminConfig {
        login_failures_per_addr: per_addr,
        login_failures_per_user: per_user,
        login_window: window,
        ..AdminConfig::default()
    }
}

/// Logs in with the right password from `peer` until it works (after the window).
async fn until_right_password_works(env: &Env, peer: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = login_from(env, peer, &[], ROOT.0, ROOT.1).await;
        if r.status == StatusCode::SEE_OTHER {
            return;
        }
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
        assert!(Instant::now() < deadline, "still refused after the window");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn failed_logins_per_user_and_address_get_429_until_the_window_ends() {
    let env = Env::with_admin(limited(100, 3, Duration::from_secs(2))).await;
    for _ in 0..3 {
        let r = login_from(&env, "10.0.0.1", &[], "root", "wrong").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&env, "10.0.0.1", &[], "root", "wrong").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let wait = retry_after(&r);
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(r.text().contains("Too many failed logins"), "{}", r.text());
    assert!(r.input_value("csrf").is_some(), "the form is shown again");
    // Even the right password waits, from there; from elsewhere it works.
    let r = login_from(&env, "10.0.0.1", &[], ROOT.0, ROOT.1).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = login_from(&env, "10.0.0.2", &[], ROOT.0, ROOT.1).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // Another user from the first address is not limited by root's failures.
    let r = login_from(&env, "10.0.0.1", &[], "viewer", "wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    until_right_password_works(&env, "10.0.0.1").await;
}

#[tokio::test]
async fn failed_logins_per_address_get_429_for_every_user() {
    let env = Env::with_admin(limited(2, 100, Duration::from_secs(2))).await;
    for user in ["ghost-1", "ghost-2"] {
        let r = login_from(&env, "10.0.0.1", &[], user, "wrong").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&env, "10.0.0.1", &[], "ghost-3", "wrong").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    until_right_password_works(&env, "10.0.0.1").await;
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    // Not trusted: the header is ignored, every attempt is the peer's.
    let env = Env::with_admin(limited(100, 1, Duration::from_secs(60))).await;
    let xff = |ip: &'static str| [("x-forwarded-for", ip)];
    let r = login_from(&env, "10.9.9.9", &xff("1.1.1.1"), "root", "wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = login_from(&env, "10.9.9.9", &xff("2.2.2.2"), "root", "wrong").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

    // Trusted: the proxy's clients count apart, the proxy itself is not limited.
    let env = Env::with_admin(AdminConfig {
        trusted_proxies: vec!["10.9.9.9".parse().unwrap()],
        ..limited(100, 1, Duration::from_secs(60))
    })
    .await;
    let r = login_from(&env, "10.9.9.9", &xff("1.1.1.1"), "root", "wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = login_from(&env, "10.9.9.9", &xff("1.1.1.1"), "root", "wrong").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = login_from(&env, "10.9.9.9", &xff("2.2.2.2"), "root", "wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A forged entry left of the proxy's own is not believed.
    let r = login_from(&env, "10.9.9.9", &xff("3.3.3.3, 1.1.1.1"), "root", "wrong").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_host_form_refuses_bad_names_next_to_the_field() {
    let env = Env::new().await;
    let c = env.login(ROOT).await;
    for bad in ["../../escaped", "/abs/path", "-oProxyCommand=x"] {
        let r = env
            .send(c.post(
                "/hosts/add",
                &[
                    ("name", bad),
                    ("hostname", "10.1.2.3"),
                    ("port", "22"),
                    ("host_key_policy", "strict"),
                ],
            ))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        let t = r.text();
        assert!(t.contains(r#"id="error-name""#), "{bad}: {t}");
        assert!(t.contains("is not allowed"), "{bad}: {t}");
        assert!(t.contains(r#"value="10.1.2.3""#), "values are kept");
    }
    let fourth = env.store.blocking(|c| HostRecord::load_one(c, 4)).await;
    assert!(fourth.is_err(), "no host was added");
}

#[tokio::test]
async fn host_files_only_in_the_allowed_ssh_directories() {
    let root = tempfile::tempdir().unwrap();
    let ssh = root.path().join("ssh");
    std::fs::create_dir(&ssh).unwrap();
    let victim = root.path().join("victim.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    let env = Env::with_admin(AdminConfig {
        ssh_dirs: vec![ssh.clone()],
        ..AdminConfig::default()
    })
    .await;
    let c = env.login(ROOT).await;
    let victim = victim.to_string_lossy().into_owned();
    let dotted = format!("{}/../victim.txt", ssh.display());
    for (field, path) in [
        ("known_hosts", victim.as_str()),
        ("identity_files", victim.as_str()),
        ("known_hosts", dotted.as_str()),
        ("identity_files", "/etc/passwd"),
    ] {
        let r = env
            .send(c.post(
                "/hosts/1/edit",
                &[
                    ("name", "web-1"),
                    ("hostname", "127.0.0.1"),
                    ("port", "1"),
                    ("host_key_policy", "accept-new"),
                    (field, path),
                ],
            ))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}={path}");
        let t = r.text();
        assert!(t.contains(&format!(r#"id="error-{field}""#)), "{t}");
        let kept = if field == "identity_files" {
            format!("{path}</textarea>")
        } else {
            format!(r#"value="{path}""#)
        };
        assert!(t.contains(&kept), "values are kept");
    }
    let kh = ssh.join("known_hosts").to_string_lossy().into_owned();
    let r = env
        .send(c.post(
            "/hosts/1/edit",
            &[
                ("name", "web-1"),
                ("hostname", "127.0.0.1"),
                ("port", "1"),
                ("host_key_policy", "accept-new"),
                ("known_hosts", &kh),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let h = env
        .store
        .blocking(|c| HostRecord::load_one(c, 1))
        .await
        .unwrap();
    assert_eq!(h.known_hosts.as_deref(), Some(kh.as_str()));
}

/// What a host's proxy command, agent forwarding, environment and certificate files
/// do happens on the serving machine: only superusers see and set them; others'
/// forms giving them are refused, and their saves keep what a superuser stored.
#[tokio::test]
async fn serving_machine_host_options_are_for_superusers() {
    let env = Env::new().await;
    let hash = minke_admin::hash_password("operator-password").unwrap();
    env.store
        .write(move |c| {
            minke_store::create_user(c, "operator", &hash, false)?;
            for p in ["view_host", "change_host"] {
                minke_store::grant(c, "operator", p)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let root = env.login(ROOT).await;
    let op = env.login(("operator", "operator-password")).await;
    let base = [
        ("name", "web-1"),
        ("hostname", "127.0.0.1"),
        ("port", "22"),
        ("host_key_policy", "accept-new"),
    ];
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        all
    };
    let page = env.send(op.get("/hosts/1/edit")).await.text();
    assert!(!page.contains(r#"name="proxy_command""#), "{page}");
    assert!(page.contains(r#"name="become_user""#), "{page}");
    let page = env.send(root.get("/hosts/1/edit")).await.text();
    assert!(page.contains(r#"name="proxy_command""#), "{page}");

    let r = env
        .send(op.post("/hosts/1/edit", &form(&[("proxy_command", "nc %h %p")])))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(
        t.contains(r#"id="form-error""#) && t.contains("Only superusers may set"),
        "{t}"
    );

    let r = env
        .send(root.post(
            "/hosts/1/edit",
            &form(&[
                ("proxy_command", "nc %h %p"),
                ("forward_agent", "1"),
                ("environment", "LANG=C.UTF-8\nAPP_ENV=prod"),
                ("become_user", "deploy"),
            ]),
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = env
        .send(op.post("/hosts/1/edit", &form(&[("comment", "by the operator")])))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let h = env
        .store
        .blocking(|c| HostRecord::load_one(c, 1))
        .await
        .unwrap();
    assert_eq!(h.comment.as_deref(), Some("by the operator"));
    assert_eq!(h.options.proxy_command.as_deref(), Some("nc %h %p"));
    assert!(h.options.forward_agent);
    assert_eq!(
        h.options.environment.as_text(),
        "LANG=C.UTF-8\nAPP_ENV=prod"
    );
    assert_eq!(h.options.become_user, None, "the operator's form said none");

    let r = env
        .send(root.post("/hosts/1/edit", &form(&[("environment", "not a pair")])))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains(r#"id="error-environment""#));
}
