//! Passwords, tokens, who is asking, and CSRF checks.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use minke_core::SessionMeta;
use minke_runtime::ModelAction;
use minke_store::{Actor, UserRecord};
use ring::rand::SecureRandom as _;

use crate::forms::{MAX_FORM, Pairs};
use crate::state::AppState;
use crate::{Error, Result};

/// The cookie that holds a logged-in browser's session token.
pub(crate) const SESSION_COOKIE: &str = "minke_session";
/// The cookie the login form's CSRF token is bound to (see [`LoginTokens`]).
pub(crate) const LOGIN_COOKIE: &str = "minke_login";
/// The header that carries the CSRF token of script requests.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::Internal("the system's random number generator failed".into()))?;
    Ok(buf)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// A fresh random token (256 bits as 64 hex digits), for API tokens, session
/// cookies and CSRF tokens.
///
/// ```
/// let t = minke_admin::generate_token().unwrap();
/// assert_eq!(t.len(), 64);
/// assert_ne!(t, minke_admin::generate_token().unwrap());
/// ```
pub fn generate_token() -> Result<String> {
    Ok(hex(&random_bytes::<32>()?))
}

/// The SHA-256 of a token as hex: what the database keeps instead of the token.
///
/// ```
/// assert_eq!(
///     minke_admin::hash_token("abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn hash_token(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// Hashes a password with Argon2id and a random salt, as a PHC string for
/// [`minke_store::create_user`] and [`minke_store::set_password_hash`].
///
/// ```
/// let h = minke_admin::hash_password("correct horse").unwrap();
/// assert!(h.starts_with("$argon2id$"));
/// assert!(minke_admin::verify_password("correct horse", &h));
/// assert!(!minke_admin::verify_password("wrong", &h));
/// ```
pub fn hash_password(password: &str) -> Result<String> {
    let salt = random_bytes::<16>()?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Password(e.to_string()))
}

/// The shortest password accepted for a user.
pub const MIN_PASSWORD: usize = 8;

/// Checks a new password (given twice): at least [`MIN_PASSWORD`] characters, the
/// same both times. The error says what is wrong, never the password.
///
/// ```
/// assert!(minke_admin::check_new_password("long enough", "long enough").is_ok());
/// assert!(minke_admin::check_new_password("short", "short").is_err());
/// assert!(minke_admin::check_new_password("long enough", "long enougH").is_err());
/// ```
pub fn check_new_password(password: &str, again: &str) -> std::result::Result<(), String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD} characters"
        ));
    }
    if !same(password, again) {
        return Err("the two passwords differ".into());
    }
    Ok(())
}

/// True when `password` matches a PHC hash made by [`hash_password`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// [`same`] for bytes.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// How long a login form's CSRF token is accepted.
pub(crate) const LOGIN_TOKEN_TTL_SECS: u64 = 3600;

/// The login form's CSRF tokens: the server signs each with a key made when it
/// starts (HMAC-SHA256), bound to a random value in the browser's `minke_login`
/// cookie. A client cannot choose a pair that passes, and a token taken from one
/// browser does not pass with another's cookie.
pub(crate) struct LoginTokens {
    key: ring::hmac::Key,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl LoginTokens {
    /// Signs with a fresh random key.
    pub(crate) fn new() -> Result<Self> {
        Ok(LoginTokens {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &random_bytes::<32>()?),
        })
    }

    fn message(cookie: &str, issued: u64) -> String {
        format!("minke-login\n{cookie}\n{issued}")
    }

    /// A fresh pair: the cookie's value and the form's token.
    pub(crate) fn issue(&self) -> Result<(String, String)> {
        let cookie = generate_token()?;
        let issued = unix_now();
        let tag = ring::hmac::sign(&self.key, Self::message(&cookie, issued).as_bytes());
        Ok((cookie, format!("{issued}.{}", hex(tag.as_ref()))))
    }

    /// True when `token` was issued by this server, recently, for `cookie`.
    pub(crate) fn verify(&self, cookie: &str, token: &str) -> bool {
        let Some((issued, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(issued) = issued.parse::<u64>() else {
            return false;
        };
        let now = unix_now();
        if issued > now + 60 || now.saturating_sub(issued) > LOGIN_TOKEN_TTL_SECS {
            return false;
        }
        let Some(tag) = unhex(tag) else {
            return false;
        };
        !cookie.is_empty()
            && ring::hmac::verify(&self.key, Self::message(cookie, issued).as_bytes(), &tag).is_ok()
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// The session cookie of a logged-in browser (CSRF tokens apply).
    Cookie,
    /// An API token in `Authorization: Bearer ...`.
    Token,
}

/// The user behind a request, with their permissions.
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    pub(crate) user: Arc<UserRecord>,
    pub(crate) perms: Arc<Vec<String>>,
    /// The session's CSRF token (cookie logins only).
    pub(crate) csrf: Option<String>,
    pub(crate) via: Via,
    /// Hash of the session cookie's token (cookie logins only).
    pub(crate) session_hash: Option<String>,
    /// The client's address.
    pub(crate) addr: IpAddr,
}

impl Auth {
    /// Who acts, for the audit log.
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            name: self.user.username.clone(),
            via: match self.via {
                Via::Cookie => minke_core::Via::Web,
                Via::Token => minke_core::Via::Api,
            },
            address: Some(self.addr.to_string()),
        }
    }

    /// Fails with 403 unless the user is a superuser.
    pub(crate) fn need_superuser(&self) -> Result<()> {
        if self.user.is_superuser {
            Ok(())
        } else {
            Err(Error::Forbidden("only superusers may do this".into()))
        }
    }

    /// True when the user holds `permission` (superusers hold all).
    pub(crate) fn can(&self, permission: &str) -> bool {
        self.user.has(&self.perms, permission)
    }

    /// True when the user may see a model's objects and history (`view_<model>`).
    pub(crate) fn can_view(&self, model: &str) -> bool {
        self.can(&format!("view_{model}"))
    }

    /// True when the user holds every permission a session needs.
    pub(crate) fn can_run(&self, meta: &SessionMeta) -> bool {
        meta.permissions.iter().all(|p| self.can(p))
    }

    /// Fails with 403 unless the user may view `model`.
    pub(crate) fn need_view(&self, model: &str) -> Result<()> {
        if self.can_view(model) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "you need the permission `view_{model}` for this"
            )))
        }
    }

    /// True when the user may do `action` on objects of `model`.
    pub(crate) fn may(&self, action: ModelAction, model: &str) -> bool {
        self.can(&action.on(model))
    }

    /// Fails with 403 unless the user may do `action` on objects of `model`.
    pub(crate) fn need_to(&self, action: ModelAction, model: &str) -> Result<()> {
        self.need(&action.on(model))
    }

    /// Fails with 403 unless the user holds `permission`.
    pub(crate) fn need(&self, permission: &str) -> Result<()> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "you need the permission `{permission}` for this"
            )))
        }
    }

    /// Fails with 403 unless the user may run the session on the model.
    pub(crate) fn need_run(&self, meta: &SessionMeta, model: &str) -> Result<()> {
        self.need_view(model)?;
        let missing: Vec<&str> = meta
            .permissions
            .iter()
            .filter(|p| !self.can(p))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "running `{}` needs the permissions {}",
                meta.name,
                missing.join(", ")
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or(Error::Unauthorized)
    }
}

/// The value of a cookie.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    axum_extra::extract::CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl AppState {
    /// Finds the user of a request: an API token (API paths only) or the session cookie.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        api: bool,
        addr: IpAddr,
    ) -> Result<Option<Auth>> {
        let token = if api { bearer(headers) } else { None };
        if let Some(token) = token {
            let hash = hash_token(token);
            return self
                .store()
                .blocking(move |c| {
                    let Some(user) = minke_store::user_by_token(c, &hash)? else {
                        return Ok(None);
                    };
                    let perms = minke_store::user_permissions(c, user.id)?;
                    Ok(Some(Auth {
                        user: Arc::new(user),
                        perms: Arc::new(perms),
                        csrf: None,
                        via: Via::Token,
                        session_hash: None,
                        addr,
                    }))
                })
                .await
                .map_err(Error::from);
        }
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let hash = hash_token(&token);
        self.store()
            .blocking(move |c| {
                let Some(ws) = minke_store::find_web_session(c, &hash)? else {
                    return Ok(None);
                };
                let user = minke_store::get_user(c, ws.user_id)?;
                if !user.is_active {
                    return Ok(None);
                }
                let perms = minke_store::user_permissions(c, user.id)?;
                Ok(Some(Auth {
                    user: Arc::new(user),
                    perms: Arc::new(perms),
                    csrf: Some(ws.csrf_token),
                    via: Via::Cookie,
                    session_hash: Some(hash),
                    addr,
                }))
            })
            .await
            .map_err(Error::from)
    }

    /// A `Set-Cookie` value for this admin's path.
    pub(crate) fn cookie(
        &self,
        name: &str,
        value: &str,
        max_age_secs: i64,
        strict: bool,
    ) -> String {
        let path = if self.base().is_empty() {
            "/".to_owned()
        } else {
            format!("{}/", self.base())
        };
        format!(
            "{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite={}{}",
            if strict { "Strict" } else { "Lax" },
            if self.config().secure_cookies {
                "; Secure"
            } else {
                ""
            }
        )
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks the CSRF token of a cookie-authenticated, state-changing request: in the
/// `X-CSRF-Token` header or the form field `csrf`. The body is read and put back.
async fn check_csrf(req: Request, expected: &str) -> Result<Request> {
    if let Some(h) = req.headers().get(CSRF_HEADER) {
        return if h.to_str().is_ok_and(|v| same(v, expected)) {
            Ok(req)
        } else {
            Err(Error::Csrf)
        };
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM)
        .await
        .map_err(|_| Error::BadRequest("the form is too large or was cut off".into()))?;
    let ok = Pairs::parse(&bytes)
        .get("csrf")
        .is_some_and(|v| same(v, expected));
    if !ok {
        return Err(Error::Csrf);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The gate in front of every page and API endpoint but the login page and the
/// static files: finds the user (401, or a redirect to the login page, without one)
/// and checks the CSRF token of state-changing requests made with the cookie.
pub(crate) async fn require_login(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let api = st.is_api(req.uri().path());
    let addr = crate::login_limits::client_of(
        req.extensions(),
        req.headers(),
        &st.config().trusted_proxies,
    );
    let auth = match st.authenticate(req.headers(), api, addr).await {
        Ok(Some(a)) => a,
        Ok(None) => return Error::Unauthorized.into_response(),
        Err(e) => return e.into_response(),
    };
    let mut req = req;
    if changes_state(req.method()) && auth.via == Via::Cookie {
        let expected = auth.csrf.clone().unwrap_or_default();
        req = match check_csrf(req, &expected).await {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
    }
    req.extensions_mut().insert(auth.clone());
    let mut res = next.run(req).await;
    // An error page shows the navigation of who is logged in.
    res.extensions_mut().insert(auth);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_cookies() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            axum::http::HeaderValue::from_static("a=1; minke_session=xyz ; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
        h.insert(
            header::AUTHORIZATION,
            axum::http::HeaderValue::from_static("Bearer  tok "),
        );
        assert_eq!(bearer(&h), Some("tok"));
    }

    #[test]
    fn login_tokens_are_signed_and_bound_to_the_cookie() {
        let t = LoginTokens::new().unwrap();
        let (cookie, token) = t.issue().unwrap();
        assert!(t.verify(&cookie, &token));
        let (other, _) = t.issue().unwrap();
        assert!(!t.verify(&other, &token));
        assert!(!t.verify("a", "a"));
        // The token with its last digit changed (to another digit: a token that ends
        // in `0` stayed the same when always set to `0`, one run in sixteen).
        let flipped = if token.ends_with('0') { '1' } else { '0' };
        let altered = format!("{}{flipped}", &token[..token.len() - 1]);
        assert_ne!(altered, token);
        assert!(!t.verify(&cookie, &altered));
        assert!(!LoginTokens::new().unwrap().verify(&cookie, &token));
        let old = unix_now() - LOGIN_TOKEN_TTL_SECS - 10;
        let tag = ring::hmac::sign(&t.key, LoginTokens::message(&cookie, old).as_bytes());
        assert!(!t.verify(&cookie, &format!("{old}.{}", hex(tag.as_ref()))));
    }
}
