//! Minke's web admin: log in, browse models and hosts, pick objects and a session,
//! fill its form, watch the run live (states, messages, output pushed over SSE),
//! stop it, and read the history. Plus a JSON API with the same permissions.
//!
//! Pages are rendered on the server; the live parts are one small static script
//! (no build step). Every page and API answer needs a login: a user stored in the
//! database (`users add NAME` in the app's CLI), a session cookie (HttpOnly,
//! SameSite) and a CSRF token on every state-changing request, or for the API a
//! per-user token (`Authorization: Bearer ...`).
//!
//! Permissions: running a session needs every permission in its
//! [`SessionMeta::permissions`](minke_core::SessionMeta) (`run_<name>` first) and
//! `view_<model>` for the model it runs on; a model's objects and history need
//! `view_<model>`; adding, changing and deleting objects need `add_<model>`,
//! `change_<model>` and `delete_<model>` (hosts and host groups, `group`, alike).
//! Superusers hold all.
//!
//! An app gets all of this with `fleet serve --listen 127.0.0.1:8000`; a program
//! mounts it itself like this:
//!
//! ```no_run
//! # async fn demo(engine: minke_runtime::Engine) -> minke_admin::Result<()> {
//! use minke_admin::AdminConfig;
//! let config = AdminConfig { base_path: "/minke".into(), ..AdminConfig::default() };
//! // Either serve it ...
//! minke_admin::serve(engine.clone(), "127.0.0.1:8000".parse().unwrap(), config.clone()).await?;
//! // ... or nest the router into a bigger axum app.
//! let app: axum::Router = minke_admin::router(engine, config);
//! # let _ = app; Ok(()) }
//! ```

mod api;
mod auth;
mod error;
mod forms;
mod layout;
mod live;
mod login_limits;
mod pages;
mod password_pool;
mod readable;
mod ssh_paths;
mod state;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minke_runtime::Engine;

pub use auth::{
    MIN_PASSWORD, check_new_password, generate_token, hash_password, hash_token, verify_password,
};
pub use error::{Error, Result};
pub use state::AdminConfig;

use crate::error::Problem;
use crate::state::AppState;

const ADMIN_JS: &str = include_str!("../static/admin.js");
const ADMIN_CSS: &str = include_str!("../static/admin.css");

/// The Content-Security-Policy of every answer: scripts and styles only from the
/// admin's own static files, no inline code, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The admin as an axum router, with every path under `config.base_path`.
///
/// Runs started from the admin run in `engine`, in this process. Call it inside a
/// Tokio runtime, or the live views start following the engine with the first
/// request. A base path that [`AdminConfig::normalized_base`] refuses is logged and
/// stripped of its bad characters; [`serve`] refuses it instead.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: the
/// failed-login limits count per client address, and without the connection's
/// address every client counts as one.
pub fn router(engine: Engine, config: AdminConfig) -> Router {
    let base = config.normalized_base().unwrap_or_else(|e| {
        tracing::error!(error = %e, "using a cleaned base path");
        let cleaned: String = config
            .base_path
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "/-_".contains(*c))
            .collect();
        AdminConfig {
            base_path: cleaned,
            ..config.clone()
        }
        .normalized_base()
        .unwrap_or_default()
    });
    let st = AppState::new(engine, config, base);
    if tokio::runtime::Handle::try_current().is_ok() {
        st.hub().start();
    }
    build(st)
}

fn build(st: AppState) -> Router {
    let p = |path: &str| st.url(path);
    let protected = Router::new()
        .route(&p("/"), get(pages::index::index))
        .route(&p("/logout"), post(pages::login::logout))
        .route(&p("/models/{model}"), get(pages::changelist::changelist))
        .route(&p("/models/{model}/run"), post(pages::changelist::run))
        .route(
            &p("/models/{model}/add"),
            get(pages::objects::add_form).post(pages::objects::add),
        )
        .route(&p("/models/{model}/choices"), get(pages::objects::choices))
        .route(&p("/models/{model}/{id}"), get(pages::objects::object))
        .route(
            &p("/models/{model}/{id}/change"),
            get(pages::objects::change_form).post(pages::objects::change),
        )
        .route(
            &p("/models/{model}/{id}/delete"),
            get(pages::objects::delete_form).post(pages::objects::delete),
        )
        .route(&p("/runs"), get(pages::history::runs))
        .route(&p("/runs/{id}"), get(pages::history::run))
        .route(&p("/runs/{id}/events"), get(pages::history::run_events))
        .route(&p("/runs/{id}/stop"), post(pages::history::stop_run))
        .route(
            &p("/runs/{id}/sessions/{sid}/stop"),
            post(pages::history::stop_session),
        )
        .route(&p("/sessions"), get(pages::history::sessions))
        .route(&p("/sessions/{id}"), get(pages::history::session))
        .route(
            &p("/sessions/{id}/commands/{seq}/{stream}"),
            get(pages::history::download),
        )
        .route(&p("/hosts"), get(pages::hosts::hosts))
        .route(
            &p("/hosts/add"),
            get(pages::hosts::add_form).post(pages::hosts::add),
        )
        .route(
            &p("/hosts/{id}/edit"),
            get(pages::hosts::edit_form).post(pages::hosts::edit),
        )
        .route(&p("/hosts/{id}/disable"), post(pages::hosts::disable))
        .route(&p("/groups"), get(pages::hosts::groups))
        .route(
            &p("/groups/add"),
            get(pages::hosts::group_add_form).post(pages::hosts::group_add),
        )
        .route(
            &p("/groups/{id}/edit"),
            get(pages::hosts::group_edit_form).post(pages::hosts::group_edit),
        )
        .route(&p("/groups/{id}/delete"), post(pages::hosts::group_delete))
        .route(&p("/users"), get(pages::users::users))
        .route(
            &p("/users/add"),
            get(pages::users::add_form).post(pages::users::add),
        )
        .route(&p("/users/{id}"), get(pages::users::user))
        .route(
            &p("/users/{id}/permissions"),
            post(pages::users::permissions),
        )
        .route(&p("/users/{id}/password"), post(pages::users::password))
        .route(&p("/users/{id}/active"), post(pages::users::active))
        .route(
            &p("/users/{id}/remove"),
            get(pages::users::remove_form).post(pages::users::remove),
        )
        .route(&p("/users/{id}/tokens"), post(pages::users::create_token))
        .route(
            &p("/users/{id}/tokens/{tid}/revoke"),
            post(pages::users::revoke_token),
        )
        .route(&p("/audit"), get(pages::audit::audit))
        .route(&p("/api/me"), get(api::me))
        .route(&p("/api/models"), get(api::models))
        .route(
            &p("/api/models/{model}/objects"),
            get(api::objects).post(api::add_object),
        )
        .route(
            &p("/api/models/{model}/objects/{id}"),
            get(api::object)
                .patch(api::change_object)
                .delete(api::delete_object),
        )
        .route(
            &p("/api/models/{model}/objects/{id}/deletion"),
            get(api::deletion),
        )
        .route(&p("/api/sessions"), get(api::sessions))
        .route(&p("/api/runs"), get(api::runs).post(api::start))
        .route(&p("/api/runs/{id}"), get(api::run))
        .route(&p("/api/runs/{id}/events"), get(api::events))
        .route(&p("/api/runs/{id}/stop"), post(api::stop_run))
        .route(&p("/api/runs/{id}/rerun"), post(api::rerun))
        .route(&p("/api/runs/{id}/sessions/{sid}"), get(api::session))
        .route(
            &p("/api/runs/{id}/sessions/{sid}/stop"),
            post(api::stop_session),
        )
        .route_layer(middleware::from_fn_with_state(
            st.clone(),
            auth::require_login,
        ));
    let mut public = Router::new()
        .route(
            &p("/login"),
            get(pages::login::form).post(pages::login::login),
        )
        .route(&p("/static/admin.js"), get(script))
        .route(&p("/static/admin.css"), get(style));
    if !st.base().is_empty() {
        let to = p("/");
        public = public.route(st.base(), get(move || async move { Redirect::to(&to) }));
    }
    public
        .merge(protected)
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(forms::MAX_BODY))
        .layer(middleware::from_fn_with_state(st.clone(), render_problems))
        .layer(middleware::from_fn(security_headers))
        .with_state(st)
}

async fn not_found() -> Error {
    Error::NotFound("There is no such page.".into())
}

async fn script() -> Response {
    static_file(ADMIN_JS, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    static_file(ADMIN_CSS, "text/css; charset=utf-8")
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// Adds the security headers to every answer.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Turns every error answer into a page (or, under `/api/`, a JSON body): the one
/// place where errors become what the user sees. A page that needs a login
/// redirects to the login form instead.
/// The problem of an error answer that carries none: a rejection of axum's own (a
/// path id that is no number, a body over the limit, an unknown path), which comes
/// as plain text or empty. Other answers are given back as they are.
async fn bare_problem(res: Response) -> std::result::Result<Problem, Response> {
    let status = res.status();
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return Err(res);
    }
    let text = axum::body::to_bytes(res.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body is larger than {} MiB",
            forms::MAX_BODY >> 20
        ),
        StatusCode::NOT_FOUND if text.is_empty() => "no such page".to_owned(),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_owned(),
        _ => text,
    };
    Ok(Problem {
        status,
        message,
        retry_after: None,
        details: None,
    })
}

async fn render_problems(State(st): State<AppState>, req: Request, next: Next) -> Response {
    /// The page of an error: what went wrong and the way back, in the frame of the
    /// user when known (with the navigation).
    #[derive(askama::Template)]
    #[template(path = "error.html")]
    struct ErrorPage {
        layout: layout::Layout,
        message: String,
    }

    /// The error page of `problem`, with its `Retry-After`.
    fn error_page(st: &AppState, auth: Option<&auth::Auth>, problem: Problem) -> Response {
        let title = problem.status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage {
            layout: layout::Layout::new(st, auth, title),
            message: problem.message,
        };
        let mut out = layout::render(problem.status, &page).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the error page could not be rendered");
            (problem.status, title).into_response()
        });
        error::set_retry_after(&mut out, problem.retry_after);
        out
    }

    st.hub().start();
    let api = st.is_api(req.uri().path());
    let here = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let res = next.run(req).await;
    let auth = res.extensions().get::<auth::Auth>().cloned();
    let problem = match res.extensions().get::<Problem>().cloned() {
        Some(p) => p,
        None => match bare_problem(res).await {
            Ok(p) => p,
            Err(res) => return res,
        },
    };
    if api {
        let mut body =
            serde_json::json!({"error": problem.message, "status": problem.status.as_u16()});
        if let (Some(o), Some(serde_json::Value::Object(more))) =
            (body.as_object_mut(), problem.details)
        {
            o.extend(more);
        }
        let mut out = (problem.status, axum::Json(body)).into_response();
        if problem.status == StatusCode::UNAUTHORIZED {
            out.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"minke\""),
            );
        }
        error::set_retry_after(&mut out, problem.retry_after);
        return out;
    }
    if problem.status == StatusCode::UNAUTHORIZED {
        let to = format!(
            "{}?{}",
            st.url("/login"),
            forms::encode([("next", here.as_str())])
        );
        return Redirect::to(&to).into_response();
    }
    error_page(&st, auth.as_ref(), problem)
}

/// Serves the admin on `listen` until the process ends.
pub async fn serve(engine: Engine, listen: SocketAddr, config: AdminConfig) -> Result<()> {
    serve_until(engine, listen, config, std::future::pending()).await
}

/// Serves the admin on `listen` until `shutdown` resolves; live streams end then, and
/// the call returns once every connection is closed.
pub async fn serve_until(
    engine: Engine,
    listen: SocketAddr,
    config: AdminConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let base = config.normalized_base()?;
    let st = AppState::new(engine, config, base);
    st.hub().start();
    let app = build(st.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Serve {
            addr: listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Serve {
        addr: listen.to_string(),
        source,
    })?;
    tracing::info!("the admin listens on http://{addr}{}/", st.base());
    let closer = st.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        closer.close();
    })
    .await
    .map_err(|source| Error::Serve {
        addr: addr.to_string(),
        source,
    })
}
