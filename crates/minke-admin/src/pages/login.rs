//! Logging in and out.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::{self, Auth, LOGIN_COOKIE, SESSION_COOKIE};
use crate::forms::{Form, QueryPairs};
use crate::html::{self, esc};
use crate::state::AppState;
use crate::{Error, Result};

/// Only paths of this admin are followed after logging in (no open redirects).
fn safe_next(st: &AppState, next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with(&format!("{}/", st.base()))
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.chars().all(|c| c.is_ascii_graphic())
                && !n.contains("/login") =>
        {
            n.to_owned()
        }
        _ => st.url("/"),
    }
}

fn render(st: &AppState, token: &str, next: &str, user: &str, error: Option<&str>) -> String {
    let err = error
        .map(|e| format!(r#"<p class="error" id="login-error">{}</p>"#, esc(e)))
        .unwrap_or_default();
    let body = format!(
        r#"{err}<form id="login-form" method="post" action="{action}">
<input type="hidden" name="csrf" value="{token}"><input type="hidden" name="next" value="{next}">
<p><label for="username">User name</label> <input id="username" name="username" autocomplete="username" required value="{user}"></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button id="login" type="submit">Log in</button></p></form>"#,
        action = esc(&st.url("/login")),
        token = esc(token),
        next = esc(next),
        user = esc(user),
    );
    html::page(st, None, "Log in", &body)
}

fn with_login_cookie(
    st: &AppState,
    status: StatusCode,
    body: String,
    token: &str,
) -> Result<Response> {
    let mut res = html::respond(status, body);
    let cookie = st.cookie(LOGIN_COOKIE, token, 3600, true);
    res.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| Error::Internal(e.to_string()))?,
    );
    Ok(res)
}

/// `GET /login`: the login form, with a fresh double-submit CSRF token.
pub(crate) async fn form(
    State(st): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<Response> {
    let token = auth::generate_token()?;
    let next = safe_next(&st, q.get("next"));
    with_login_cookie(
        &st,
        StatusCode::OK,
        render(&st, &token, &next, "", None),
        &token,
    )
}

/// `POST /login`: checks the form's token against its cookie, then the password;
/// on success records a web session and sets its cookie.
pub(crate) async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form,
) -> Result<Response> {
    let cookie = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let sent = f.get("csrf").unwrap_or_default();
    if cookie.is_empty() || !auth::same(&cookie, sent) {
        return Err(Error::Csrf);
    }
    let username = f.get("username").unwrap_or_default().trim().to_owned();
    let password = f.get("password").unwrap_or_default().to_owned();
    let next = safe_next(&st, f.get("next"));
    let name = username.clone();
    let user = st
        .store()
        .blocking(move |c| minke_store::find_user(c, &name))
        .await?;
    let hash = user
        .as_ref()
        .filter(|u| u.is_active)
        .map(|u| u.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || auth::check_login(&password, hash.as_deref()))
        .await
        .map_err(|e| Error::Internal(format!("the password check failed: {e}")))?;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(user = %username, "failed admin login");
        let token = auth::generate_token()?;
        return with_login_cookie(
            &st,
            StatusCode::UNAUTHORIZED,
            render(
                &st,
                &token,
                &next,
                &username,
                Some("Wrong user name or password."),
            ),
            &token,
        );
    };
    let token = auth::generate_token()?;
    let csrf = auth::generate_token()?;
    let hash = auth::hash_token(&token);
    let ttl = st.config().session_ttl;
    let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
    let uid = user.id;
    st.store()
        .write(move |c| minke_store::create_web_session(c, &hash, uid, &csrf, ttl_us))
        .await?;
    tracing::info!(user = %user.username, "admin login");
    let mut res = Redirect::to(&next).into_response();
    let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    for c in [
        st.cookie(SESSION_COOKIE, &token, max_age, false),
        st.cookie(LOGIN_COOKIE, "", 0, true),
    ] {
        res.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&c).map_err(|e| Error::Internal(e.to_string()))?,
        );
    }
    Ok(res)
}

/// `POST /logout`: ends the web session and clears its cookie.
pub(crate) async fn logout(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    if let Some(hash) = auth.session_hash.clone() {
        st.store()
            .write(move |c| minke_store::delete_web_session(c, &hash))
            .await?;
    }
    let mut res = Redirect::to(&st.url("/login")).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&st.cookie(SESSION_COOKIE, "", 0, false))
            .map_err(|e| Error::Internal(e.to_string()))?,
    );
    Ok(res)
}
