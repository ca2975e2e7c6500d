//! The users page, for superusers: list, add, disable and enable, remove, set a
//! password, grant and revoke permissions (a matrix by model and session), create
//! and revoke API tokens. Each change is written in the audit log in the same
//! transaction. Superusers cannot disable, remove or demote themselves, and the last
//! active superuser cannot go (the store refuses it).

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minke_core::{AuditAction, UserId};
use minke_runtime::Subject;
use minke_store::{Actor, Conn, UserFilter, UserRecord};

use crate::auth::Auth;
use crate::forms::{Form, QueryPairs, encode};
use crate::layout::{Layout, render};
use crate::readable::time;
use crate::state::AppState;
use crate::{Error, Result};

/// Users on a page of the list.
const PAGE: i64 = 100;
/// The longest user name.
const MAX_NAME: usize = 150;
/// The longest label of an API token.
const MAX_LABEL: usize = 100;

/// A user as the list shows them.
struct ListedUser {
    id: UserId,
    name: String,
    superuser: bool,
    active: bool,
    permissions: i64,
    tokens: i64,
    created: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    q: String,
    users: Vec<ListedUser>,
    next: Option<String>,
}

/// `GET /users`: users by name, a page at a time, filtered by name.
pub(crate) async fn users(
    State(st): State<AppState>,
    auth: Auth,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    auth.need_superuser()?;
    p.only(&["q", "after"], &[])?;
    let q = p.text("q").map(str::to_owned);
    let filter = UserFilter {
        name: q.clone(),
        after: p.text("after").map(str::to_owned),
        limit: PAGE + 1,
    };
    let mut rows = st
        .store()
        .blocking(move |c| minke_store::find_users(c, &filter))
        .await?;
    let more = rows.len() > usize::try_from(PAGE).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(PAGE).unwrap_or(usize::MAX));
    let next = more.then(|| rows.last()).flatten().map(|last| {
        let mut pairs = vec![("after", last.user.username.as_str())];
        if let Some(q) = &q {
            pairs.push(("q", q));
        }
        format!("{}?{}", st.url("/users"), encode(pairs))
    });
    let page = UsersPage {
        layout: Layout::new(&st, Some(&auth), "Users"),
        q: q.unwrap_or_default(),
        users: rows
            .into_iter()
            .map(|r| ListedUser {
                id: r.user.id,
                name: r.user.username,
                superuser: r.user.is_superuser,
                active: r.user.is_active,
                permissions: r.permissions,
                tokens: r.tokens,
                created: time(r.user.created_at),
            })
            .collect(),
        next,
    };
    render(StatusCode::OK, &page)
}

/// What the add form holds: the values kept and the errors next to the fields.
#[derive(Default)]
struct AddForm {
    name: String,
    superuser: bool,
    name_error: Option<String>,
    password_error: Option<String>,
}

#[derive(Template)]
#[template(path = "user_add.html")]
struct AddPage {
    layout: Layout,
    csrf: String,
    form: AddForm,
}

fn add_page(st: &AppState, auth: &Auth, form: AddForm) -> AddPage {
    AddPage {
        layout: Layout::new(st, Some(auth), "Add a user"),
        csrf: auth.csrf.clone().unwrap_or_default(),
        form,
    }
}

/// `GET /users/add`.
pub(crate) async fn add_form(State(st): State<AppState>, auth: Auth) -> Result<Response> {
    auth.need_superuser()?;
    render(StatusCode::OK, &add_page(&st, &auth, AddForm::default()))
}

/// Checks a new user's name: what is wrong with it, if anything.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("a user needs a name".into())
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("a user name has no spaces".into())
    } else if name.chars().count() > MAX_NAME {
        Some(format!("a user name has at most {MAX_NAME} characters"))
    } else {
        None
    }
}

/// Hashes a password on a blocking thread (it takes a while, on purpose).
async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || crate::hash_password(&password))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

/// `POST /users/add`: adds a user (validated; the form comes back with the errors
/// next to the fields and the values kept, never the password).
pub(crate) async fn add(State(st): State<AppState>, auth: Auth, Form(f): Form) -> Result<Response> {
    auth.need_superuser()?;
    f.only(&["csrf", "name", "password", "password2", "superuser"], &[])?;
    let name = f.get("name").unwrap_or_default().trim().to_owned();
    let superuser = f.get("superuser") == Some("1");
    let password = f.get("password").unwrap_or_default().to_owned();
    let mut form = AddForm {
        name: name.clone(),
        superuser,
        name_error: name_problem(&name),
        password_error: crate::check_new_password(
            &password,
            f.get("password2").unwrap_or_default(),
        )
        .err(),
    };
    if form.name_error.is_some() || form.password_error.is_some() {
        return render(StatusCode::BAD_REQUEST, &add_page(&st, &auth, form));
    }
    let hash = hash(password).await?;
    let actor = auth.actor();
    let n = name.clone();
    let added = st
        .store()
        .write(move |c| {
            let id = minke_store::create_user(c, &n, &hash, superuser)?;
            let detail = if superuser { "superuser" } else { "" };
            minke_store::record_audit(
                c,
                &actor,
                AuditAction::UserAdded,
                &format!("user {n}"),
                detail,
            )?;
            Ok(id)
        })
        .await;
    match added {
        Ok(id) => Ok(Redirect::to(&st.url(&format!("/users/{id}?done=added"))).into_response()),
        Err(minke_store::Error::BadQuery(m)) => {
            form.name_error = Some(m);
            render(StatusCode::BAD_REQUEST, &add_page(&st, &auth, form))
        }
        Err(e) => Err(e.into()),
    }
}

/// One checkbox of the permission matrix.
struct Cell {
    action: String,
    name: String,
    held: bool,
}

/// A row of the permission matrix: a model, a session, or the permissions held that
/// nothing defines any more (a session that was removed, say).
struct Row {
    kind: &'static str,
    name: String,
    label: String,
    cells: Vec<Cell>,
}

/// An API token as the user page lists it.
struct TokenItem {
    id: i64,
    label: String,
    created: String,
    last_used: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    csrf: String,
    id: UserId,
    name: String,
    active: bool,
    superuser: bool,
    created: String,
    matrix: Vec<Row>,
    tokens: Vec<TokenItem>,
    notice: Option<&'static str>,
    error: Option<String>,
    password_error: Option<String>,
}

/// The permission matrix of a user holding `held`.
fn matrix(st: &AppState, held: &[String]) -> Vec<Row> {
    let groups = st.engine().permissions();
    let known: BTreeSet<&str> = groups
        .iter()
        .flat_map(|g| g.permissions.iter().map(|p| p.name.as_str()))
        .collect();
    let mut rows: Vec<Row> = groups
        .iter()
        .map(|g| Row {
            kind: match g.subject {
                Subject::Model => "model",
                Subject::Session => "session",
            },
            name: g.name.clone(),
            label: g.label.clone(),
            cells: g
                .permissions
                .iter()
                .map(|p| Cell {
                    action: p.action.clone(),
                    name: p.name.clone(),
                    held: held.contains(&p.name),
                })
                .collect(),
        })
        .collect();
    let other: Vec<Cell> = held
        .iter()
        .filter(|p| !known.contains(p.as_str()))
        .map(|p| Cell {
            action: p.clone(),
            name: p.clone(),
            held: true,
        })
        .collect();
    if !other.is_empty() {
        rows.push(Row {
            kind: "other",
            name: "unknown".into(),
            label: "defined by nothing any more".into(),
            cells: other,
        });
    }
    rows
}

/// A user with their permissions and tokens.
async fn load(st: &AppState, id: UserId) -> Result<(UserRecord, Vec<String>, Vec<TokenItem>)> {
    let (user, perms, tokens) = st
        .store()
        .blocking(move |c| {
            let user = minke_store::get_user(c, id)?;
            let perms = minke_store::user_permissions(c, id)?;
            let tokens = minke_store::list_api_tokens(c, &user.username)?;
            Ok((user, perms, tokens))
        })
        .await?;
    let now = minke_store::now_micros();
    let tokens = tokens
        .into_iter()
        .map(|t| TokenItem {
            id: t.id,
            label: t.name,
            created: time(t.created_at),
            last_used: t.last_used_at.map_or_else(|| "never".to_owned(), time),
            expires: match t.expires_at {
                None => "never".to_owned(),
                Some(at) if at <= now => format!("expired {}", time(at)),
                Some(at) => time(at),
            },
        })
        .collect();
    Ok((user, perms, tokens))
}

/// What a redirect after a change says on the user's page.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "added" => "The user was added.",
        "permissions" => "The permissions were saved.",
        "password" => "The password was set; the user's logins and API tokens have ended.",
        "disabled" => "The user was disabled: their logins ended, their API tokens are refused.",
        "enabled" => "The user was enabled.",
        "token-revoked" => "The API token was revoked.",
        _ => return None,
    })
}

async fn user_page(
    st: &AppState,
    auth: &Auth,
    id: UserId,
    notice: Option<&'static str>,
    error: Option<String>,
    password_error: Option<String>,
) -> Result<UserPage> {
    let (user, perms, tokens) = load(st, id).await?;
    Ok(UserPage {
        layout: Layout::new(st, Some(auth), format!("User {}", user.username)),
        csrf: auth.csrf.clone().unwrap_or_default(),
        id,
        matrix: matrix(st, &perms),
        name: user.username,
        active: user.is_active,
        superuser: user.is_superuser,
        created: time(user.created_at),
        tokens,
        notice,
        error,
        password_error,
    })
}

/// `GET /users/{id}`.
pub(crate) async fn user(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<UserId>,
    QueryPairs(p): QueryPairs,
) -> Result<Response> {
    auth.need_superuser()?;
    p.only(&["done"], &[])?;
    let page = user_page(&st, &auth, id, notice(p.get("done")), None, None).await?;
    render(StatusCode::OK, &page)
}

/// A change refused: the user's page again with the reason (400).
async fn refused(st: &AppState, auth: &Auth, id: UserId, why: String) -> Result<Response> {
    let page = user_page(st, auth, id, None, Some(why), None).await?;
    render(StatusCode::BAD_REQUEST, &page)
}

fn done(st: &AppState, id: UserId, what: &str) -> Response {
    Redirect::to(&st.url(&format!("/users/{id}?done={what}"))).into_response()
}

/// Runs a change of a user on the writer: `change` gets the user; a refusal of the
/// store (the last superuser, say) comes back as the user's page with the reason.
async fn change<F>(
    st: &AppState,
    auth: &Auth,
    id: UserId,
    what: &str,
    change: F,
) -> Result<Response>
where
    F: FnOnce(&mut Conn, &UserRecord, &Actor) -> minke_store::Result<()> + Send + 'static,
{
    let actor = auth.actor();
    let changed = st
        .store()
        .write(move |c| {
            let user = minke_store::get_user(c, id)?;
            change(c, &user, &actor)
        })
        .await;
    match changed {
        Ok(()) => Ok(done(st, id, what)),
        Err(minke_store::Error::BadQuery(m)) => refused(st, auth, id, m).await,
        Err(e) => Err(e.into()),
    }
}

/// Refuses a change of one's own account that would lock oneself out.
fn not_oneself(auth: &Auth, id: UserId, what: &str) -> Result<()> {
    if auth.user.id == id {
        return Err(Error::Conflict(format!(
            "you cannot {what} yourself: ask another superuser"
        )));
    }
    Ok(())
}

/// `POST /users/{id}/permissions`: the superuser flag and the checked permissions;
/// what changed is granted and revoked, each in the audit log.
pub(crate) async fn permissions(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<UserId>,
    Form(f): Form,
) -> Result<Response> {
    auth.need_superuser()?;
    f.only(&["csrf", "superuser", "perm"], &[])?;
    let superuser = f.get("superuser") == Some("1");
    let wanted: BTreeSet<String> = f.all("perm").map(str::to_owned).collect();
    let known = st.engine().known_permissions();
    let (user, held) = st
        .store()
        .blocking(move |c| {
            Ok((
                minke_store::get_user(c, id)?,
                minke_store::user_permissions(c, id)?,
            ))
        })
        .await?;
    if let Some(p) = wanted
        .iter()
        .find(|p| !known.contains(*p) && !held.contains(p))
    {
        return Err(Error::BadRequest(format!(
            "unknown permission `{p}`: no model or session defines it"
        )));
    }
    if user.is_superuser && !superuser {
        not_oneself(&auth, id, "take the superuser away from")?;
    }
    change(&st, &auth, id, "permissions", move |c, user, actor| {
        let name = &user.username;
        let target = format!("user {name}");
        if user.is_superuser != superuser {
            minke_store::set_superuser(c, name, superuser)?;
            let action = if superuser {
                AuditAction::PermissionGranted
            } else {
                AuditAction::PermissionRevoked
            };
            minke_store::record_audit(c, actor, action, &target, "superuser")?;
        }
        let held: BTreeSet<String> = minke_store::user_permissions(c, user.id)?
            .into_iter()
            .collect();
        for p in wanted.difference(&held) {
            minke_store::grant(c, name, p)?;
            minke_store::record_audit(c, actor, AuditAction::PermissionGranted, &target, p)?;
        }
        for p in held.difference(&wanted) {
            minke_store::revoke(c, name, p)?;
            minke_store::record_audit(c, actor, AuditAction::PermissionRevoked, &target, p)?;
        }
        Ok(())
    })
    .await
}

/// `POST /users/{id}/password`: sets a password (given twice); the user's logins
/// and API tokens end.
pub(crate) async fn password(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<UserId>,
    Form(f): Form,
) -> Result<Response> {
    auth.need_superuser()?;
    f.only(&["csrf", "password", "password2"], &[])?;
    let password = f.get("password").unwrap_or_default().to_owned();
    if let Err(problem) =
        crate::check_new_password(&password, f.get("password2").unwrap_or_default())
    {
        let page = user_page(&st, &auth, id, None, None, Some(problem)).await?;
        return render(StatusCode::BAD_REQUEST, &page);
    }
    let hash = hash(password).await?;
    change(&st, &auth, id, "password", move |c, user, actor| {
        minke_store::set_password_hash(c, &user.username, &hash)?;
        let target = format!("user {}", user.username);
        minke_store::record_audit(c, actor, AuditAction::PasswordSet, &target, "")
    })
    .await
}

/// `POST /users/{id}/active`: `active=0` disables, `active=1` enables.
pub(crate) async fn active(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<UserId>,
    Form(f): Form,
) -> Result<Response> {
    auth.need_superuser()?;
    f.only(&["csrf", "active"], &[])?;
    let active = match f.get("active") {
        Some("1") => true,
        Some("0") => false,
        other => {
            return Err(Error::BadRequest(format!(
                "`active` must be 1 or 0, not `{}`",
                other.unwrap_or_default()
            )));
        }
    };
    if !active {
        not_oneself(&auth, id, "disable")?;
    }
    let what = if active { "enabled" } else { "disabled" };
    change(&st, &auth, id, what, move |c, user, actor| {
        minke_store::set_active(c, &user.username, active)?;
        let action = if active {
            AuditAction::UserEnabled
        } else {
            AuditAction::UserDisabled
        };
        minke_store::record_audit(c, actor, action, &format!("user {}", user.username), "")
    })
    .await
}

#[derive(Template)]
#[template(path = "user_remove.html")]
struct RemovePage {
    layout: Layout,
    csrf: String,
    id: UserId,
    name: String,
    permissions: usize,
    tokens: usize,
}

/// `GET /users/{id}/remove`: what removing the user takes with them.
pub(crate) async fn remove_form(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<UserId>,
) -> Result<Response> {
    auth.need_superuser()?;
    not_oneself(&auth, id, "remove")?;
    let (user, perms, tokens) = load(&st, id).await?;
    let page = RemovePage {
        layout: Layout::new(&st, Some(&auth), format!("Remove {}", user.username)),
        csrf: auth.csrf.clone().unwrap_or_default(),
        id,
        name: user.username,
        permissions: perms.len(),
        tokens: tokens.len(),
    };
    render(StatusCode::OK, &page)
}

/// `POST /users/{id}/remove`.
pub(crate) async fn remove(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<UserId>,
) -> Result<Response> {
    auth.need_superuser()?;
    not_oneself(&auth, id, "remove")?;
    let actor = auth.actor();
    let removed = st
        .store()
        .write(move |c| {
            let user = minke_store::get_user(c, id)?;
            minke_store::remove_user(c, &user.username)?;
            let target = format!("user {}", user.username);
            minke_store::record_audit(c, &actor, AuditAction::UserRemoved, &target, "")
        })
        .await;
    match removed {
        Ok(()) => Ok(Redirect::to(&st.url("/users")).into_response()),
        Err(minke_store::Error::BadQuery(m)) => refused(&st, &auth, id, m).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "token_created.html")]
struct TokenPage {
    layout: Layout,
    id: UserId,
    name: String,
    label: String,
    token: String,
}

/// `POST /users/{id}/tokens`: creates an API token (`label`, `days` until it
/// expires, optional) and shows it once.
pub(crate) async fn create_token(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<UserId>,
    Form(f): Form,
) -> Result<Response> {
    auth.need_superuser()?;
    f.only(&["csrf", "label", "days"], &[])?;
    let label = f.text("label").unwrap_or("admin").to_owned();
    if label.chars().count() > MAX_LABEL || label.chars().any(char::is_control) {
        return refused(
            &st,
            &auth,
            id,
            format!("a token's label has at most {MAX_LABEL} characters, no control characters"),
        )
        .await;
    }
    let until = match f.number::<i64>("days")? {
        None => None,
        Some(d @ 1..=3650) => Some(minke_store::now_micros() + d * 86_400_000_000),
        Some(d) => {
            return refused(
                &st,
                &auth,
                id,
                format!("a token expires after 1 to 3650 days, not {d}"),
            )
            .await;
        }
    };
    let token = crate::generate_token()?;
    let hash = crate::hash_token(&token);
    let actor = auth.actor();
    let l = label.clone();
    let name = st
        .store()
        .write(move |c| {
            let user = minke_store::get_user(c, id)?;
            let tid = minke_store::create_api_token_until(c, &user.username, &l, &hash, until)?;
            let target = format!("user {}", user.username);
            let detail = format!("token {tid} `{l}`");
            minke_store::record_audit(c, &actor, AuditAction::TokenCreated, &target, &detail)?;
            Ok(user.username)
        })
        .await?;
    let page = TokenPage {
        layout: Layout::new(&st, Some(&auth), format!("API token for {name}")),
        id,
        name,
        label,
        token,
    };
    render(StatusCode::OK, &page)
}

/// `POST /users/{id}/tokens/{tid}/revoke`.
pub(crate) async fn revoke_token(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, tid)): Path<(UserId, i64)>,
) -> Result<Response> {
    auth.need_superuser()?;
    change(&st, &auth, id, "token-revoked", move |c, user, actor| {
        let mine = minke_store::list_api_tokens(c, &user.username)?
            .iter()
            .any(|t| t.id == tid);
        if !mine {
            return Err(minke_store::Error::BadQuery(format!(
                "{} has no API token {tid}",
                user.username
            )));
        }
        minke_store::revoke_api_token(c, tid)?;
        let target = format!("user {}", user.username);
        let detail = format!("token {tid}");
        minke_store::record_audit(c, actor, AuditAction::TokenRevoked, &target, &detail)
    })
    .await
}
