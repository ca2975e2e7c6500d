//! Logging in and out.

use std::net::IpAddr;

use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use minke_core::AuditAction;
use minke_store::Actor;

use crate::auth::{self, Auth, LOGIN_COOKIE, SESSION_COOKIE};
use crate::error::set_retry_after;
use crate::forms::{Form, QueryPairs};
use crate::layout::{Layout, render};
use crate::login_limits::client_of;
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

/// The login form, with the reason of a refusal and what was typed kept (never
/// the password).
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    layout: Layout,
    /// Why the last attempt failed.
    error: Option<&'a str>,
    /// The form's CSRF token, signed by the server for the value of the login cookie.
    token: &'a str,
    /// Where to go once logged in.
    next: &'a str,
    /// The user name typed before.
    user: &'a str,
}

/// Adds a `Set-Cookie` header to an answer.
fn set_cookie(res: &mut Response, cookie: &str) -> Result<()> {
    res.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(cookie).map_err(|e| Error::Internal(e.to_string()))?,
    );
    Ok(())
}

/// The client's address: the connection's peer, or what a trusted proxy says.
/// Unknown (one shared address) when the router is served without connect info.
pub(crate) struct Client(pub(crate) IpAddr);

impl FromRequestParts<AppState> for Client {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self> {
        Ok(Client(client_of(
            &parts.extensions,
            &parts.headers,
            &st.config().trusted_proxies,
        )))
    }
}

/// Someone at the login form.
fn web_actor(name: &str, addr: IpAddr) -> Actor {
    Actor {
        name: name.to_owned(),
        via: minke_core::Via::Web,
        address: Some(addr.to_string()),
    }
}

/// `GET /login`: the login form, with a fresh signed CSRF token bound to a cookie.
pub(crate) async fn form(
    State(st): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<Response> {
    let next = safe_next(&st, q.get("next"));
    login_page(&st, StatusCode::OK, &next, "", None)
}

/// The login form with a fresh token and its cookie.
fn login_page(
    st: &AppState,
    status: StatusCode,
    next: &str,
    user: &str,
    error: Option<&str>,
) -> Result<Response> {
    let (cookie, token) = st.login_tokens()?.issue()?;
    let page = LoginPage {
        layout: Layout::new(st, None, "Log in"),
        error,
        token: &token,
        next,
        user,
    };
    let mut res = render(status, &page)?;
    set_cookie(&mut res, &st.cookie(LOGIN_COOKIE, &cookie, 3600, true))?;
    Ok(res)
}

/// The login form again, for a login refused without a check (429, 503).
fn refused(st: &AppState, next: &str, user: &str, why: &Error) -> Result<Response> {
    let text = why.public_message();
    let mut shown: String = text.chars().take(1).flat_map(char::to_uppercase).collect();
    shown.push_str(text.get(1..).unwrap_or_default());
    shown.push('.');
    let mut res = login_page(st, why.status(), next, user, Some(&shown))?;
    set_retry_after(&mut res, why.retry_after_secs());
    Ok(res)
}

/// `POST /login`: checks the form's CSRF token, the failed-login limits of the
/// client, then the password (on the password checkers); on success records a web
/// session and sets its cookie.
pub(crate) async fn login(
    State(st): State<AppState>,
    Client(addr): Client,
    headers: HeaderMap,
    Form(f): Form,
) -> Result<Response> {
    let cookie = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !st
        .login_tokens()?
        .verify(&cookie, f.get("csrf").unwrap_or_default())
    {
        return Err(Error::Csrf);
    }
    let username = f.get("username").unwrap_or_default().trim().to_owned();
    let password = f.get("password").unwrap_or_default().to_owned();
    let next = safe_next(&st, f.get("next"));
    let attempt = match st.limits().begin(&username, addr) {
        Ok(a) => a,
        Err(retry_after) => {
            tracing::warn!(user = %username, client = %addr, "admin login refused: too many failures");
            return refused(&st, &next, &username, &Error::TooManyLogins { retry_after });
        }
    };
    let name = username.clone();
    let found = st
        .store()
        .blocking(move |c| minke_store::find_user(c, &name))
        .await;
    let user = match found {
        Ok(u) => u,
        Err(e) => {
            st.limits().take_back(attempt, false);
            return Err(e.into());
        }
    };
    let hash = user
        .as_ref()
        .filter(|u| u.is_active)
        .map(|u| u.password_hash.clone());
    let checked = match st.passwords() {
        Some(pool) => pool
            .check(password, hash)
            .await
            .map_err(|_| pool.retry_after()),
        None => Err(std::time::Duration::from_secs(60)),
    };
    let ok = match checked {
        Ok(ok) => ok,
        Err(retry_after) => {
            st.limits().take_back(attempt, false);
            tracing::warn!(user = %username, client = %addr, "admin login refused: the password checkers are busy");
            return refused(&st, &next, &username, &Error::Busy { retry_after });
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(user = %username, client = %addr, "failed admin login");
        let actor = web_actor(&username, addr);
        let at = minke_store::now_micros();
        st.store()
            .write_statement_later("a failed login in the audit log", move |c| {
                minke_store::record_failed_login(c, &actor, at)
            });
        return login_page(
            &st,
            StatusCode::UNAUTHORIZED,
            &next,
            &username,
            Some("Wrong user name or password."),
        );
    };
    st.limits().take_back(attempt, true);
    let res = start_session(&st, &user, &next).await?;
    st.audit(
        web_actor(&user.username, addr),
        AuditAction::Login,
        format!("user {}", user.username),
        "",
    );
    Ok(res)
}

/// Records a web session for `user` and answers with its cookie and a redirect.
async fn start_session(
    st: &AppState,
    user: &minke_store::UserRecord,
    next: &str,
) -> Result<Response> {
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
    let mut res = Redirect::to(next).into_response();
    let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    set_cookie(&mut res, &st.cookie(SESSION_COOKIE, &token, max_age, false))?;
    set_cookie(&mut res, &st.cookie(LOGIN_COOKIE, "", 0, true))?;
    Ok(res)
}

/// `POST /logout`: ends the web session and clears its cookie.
pub(crate) async fn logout(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    if let Some(hash) = auth.session_hash.clone() {
        st.store()
            .write(move |c| minke_store::delete_web_session(c, &hash))
            .await?;
        st.audit(
            auth.actor(),
            AuditAction::Logout,
            format!("user {}", auth.user.username),
            "",
        );
    }
    let mut res = Redirect::to(&st.url("/login")).into_response();
    set_cookie(&mut res, &st.cookie(SESSION_COOKIE, "", 0, false))?;
    Ok(res)
}
