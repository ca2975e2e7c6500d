//! Users, their permissions, web sessions and API tokens (hashes only: hashing is the
//! caller's part).

use diesel::prelude::*;
use minke_core::UserId;
use serde::Serialize;

use crate::schema::{
    minke_api_tokens as tok, minke_user_permissions as perm, minke_users as usr,
    minke_web_sessions as ws,
};
use crate::{Conn, Error, Result, now_micros, with_conn};

/// A user of the admin and the API.
#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = usr)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// The password's hash (PHC string); never shown.
    #[serde(skip)]
    pub password_hash: String,
    /// Superusers hold every permission.
    pub is_superuser: bool,
    /// Inactive users cannot log in.
    pub is_active: bool,
    /// Created at (µs since the epoch).
    pub created_at: i64,
}

impl UserRecord {
    /// True when the user holds `permission` (superusers hold all).
    pub fn has(&self, permissions: &[String], permission: &str) -> bool {
        self.is_superuser || permissions.iter().any(|p| p == permission)
    }
}

/// A web session (logged-in browser).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = ws)]
pub struct WebSessionRecord {
    /// Hash of the cookie's token.
    pub token_hash: String,
    /// The user.
    pub user_id: UserId,
    /// The CSRF token of this session.
    pub csrf_token: String,
    /// Created at (µs).
    pub created_at: i64,
    /// Expires at (µs).
    pub expires_at: i64,
}

/// Adds a user; a taken name is an error naming it.
pub fn create_user(
    conn: &mut Conn,
    username: &str,
    password_hash: &str,
    superuser: bool,
) -> Result<UserId> {
    if username.trim().is_empty() || username.chars().any(char::is_whitespace) {
        return Err(Error::BadQuery(format!(
            "invalid user name `{username}`: no spaces, not empty"
        )));
    }
    if find_user(conn, username)?.is_some() {
        return Err(Error::BadQuery(format!("user `{username}` exists already")));
    }
    with_conn!(conn, |c, B| diesel::insert_into(usr::table)
        .values((
            usr::username.eq(username),
            usr::password_hash.eq(password_hash),
            usr::is_superuser.eq(superuser),
            usr::is_active.eq(true),
            usr::created_at.eq(now_micros()),
        ))
        .returning(usr::id)
        .get_result(c)
        .map_err(Error::query(format!("adding user `{username}`"))))
}

/// The user of that name.
pub fn find_user(conn: &mut Conn, username: &str) -> Result<Option<UserRecord>> {
    with_conn!(conn, |c, B| usr::table
        .filter(usr::username.eq(username))
        .select(UserRecord::as_select())
        .first(c)
        .optional()
        .map_err(Error::query("looking up a user")))
}

/// The user of that id.
pub fn get_user(conn: &mut Conn, id: UserId) -> Result<UserRecord> {
    with_conn!(conn, |c, B| usr::table
        .find(id)
        .select(UserRecord::as_select())
        .first(c)
        .optional()
        .map_err(Error::query("loading a user")))?
    .ok_or(Error::NotFound {
        model: "user".into(),
        id: id.get(),
    })
}

/// All users by name.
pub fn list_users(conn: &mut Conn) -> Result<Vec<UserRecord>> {
    with_conn!(conn, |c, B| usr::table
        .order(usr::username.asc())
        .select(UserRecord::as_select())
        .load(c)
        .map_err(Error::query("listing users")))
}

/// Filters and page of the users list ([`find_users`]), by name.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Users whose name contains this.
    pub name: Option<String>,
    /// Users whose name sorts after this one (the next page).
    pub after: Option<String>,
    /// At most this many.
    pub limit: i64,
}

/// A user as the users page lists them.
#[derive(Clone, Debug, Serialize)]
pub struct UserRow {
    /// The user.
    #[serde(flatten)]
    pub user: UserRecord,
    /// How many permissions they hold.
    pub permissions: i64,
    /// How many API tokens they have.
    pub tokens: i64,
}

/// The users that `filter` selects, by name, a page at a time (paged by name, so
/// every page costs what the first does), with how many permissions and tokens each
/// holds.
pub fn find_users(conn: &mut Conn, filter: &UserFilter) -> Result<Vec<UserRow>> {
    let limit = filter.limit.clamp(1, 1000);
    let users: Vec<UserRecord> = with_conn!(&mut *conn, |c, B| {
        let mut q = usr::table.select(UserRecord::as_select()).into_boxed::<B>();
        if let Some(n) = &filter.name {
            q = q.filter(usr::username.like(crate::like_pattern(n)).escape('\\'));
        }
        if let Some(a) = &filter.after {
            q = q.filter(usr::username.gt(a.clone()));
        }
        q.order(usr::username.asc())
            .limit(limit)
            .load(c)
            .map_err(Error::query("listing users"))
    })?;
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let counted = |rows: Vec<(UserId, i64)>| -> std::collections::HashMap<UserId, i64> {
        rows.into_iter().collect()
    };
    let perms = counted(with_conn!(&mut *conn, |c, B| perm::table
        .filter(perm::user_id.eq_any(&ids))
        .group_by(perm::user_id)
        .select((perm::user_id, diesel::dsl::count_star()))
        .load(c)
        .map_err(Error::query("counting permissions")))?);
    let tokens = counted(with_conn!(conn, |c, B| tok::table
        .filter(tok::user_id.eq_any(&ids))
        .group_by(tok::user_id)
        .select((tok::user_id, diesel::dsl::count_star()))
        .load(c)
        .map_err(Error::query("counting API tokens")))?);
    Ok(users
        .into_iter()
        .map(|u| UserRow {
            permissions: perms.get(&u.id).copied().unwrap_or(0),
            tokens: tokens.get(&u.id).copied().unwrap_or(0),
            user: u,
        })
        .collect())
}

/// Refuses to take away the last active superuser (disabling, removing, or making
/// them a plain user): nobody could manage users in the admin any more.
fn keep_a_superuser(conn: &mut Conn, id: UserId, username: &str) -> Result<()> {
    let others: i64 = with_conn!(conn, |c, B| usr::table
        .filter(usr::is_superuser.eq(true))
        .filter(usr::is_active.eq(true))
        .filter(usr::id.ne(id))
        .count()
        .get_result(c)
        .map_err(Error::query("counting superusers")))?;
    let this = get_user(conn, id)?;
    if others == 0 && this.is_superuser && this.is_active {
        return Err(Error::BadQuery(format!(
            "`{username}` is the last active superuser: make another user a superuser first"
        )));
    }
    Ok(())
}

/// Makes a user a superuser (every permission) or a plain user.
pub fn set_superuser(conn: &mut Conn, username: &str, superuser: bool) -> Result<()> {
    let id = user_id(conn, username)?;
    if !superuser {
        keep_a_superuser(conn, id, username)?;
    }
    with_conn!(conn, |c, B| diesel::update(usr::table.find(id))
        .set(usr::is_superuser.eq(superuser))
        .execute(c)
        .map(drop)
        .map_err(Error::query("changing a user")))
}

fn user_id(conn: &mut Conn, username: &str) -> Result<UserId> {
    find_user(conn, username)?
        .map(|u| u.id)
        .ok_or_else(|| Error::BadQuery(format!("no user named `{username}`")))
}

/// Replaces a user's password hash and logs them out everywhere: their web sessions
/// and API tokens end.
pub fn set_password_hash(conn: &mut Conn, username: &str, password_hash: &str) -> Result<()> {
    let id = user_id(conn, username)?;
    with_conn!(&mut *conn, |c, B| diesel::update(usr::table.find(id))
        .set(usr::password_hash.eq(password_hash))
        .execute(c)
        .map_err(Error::query("changing a password")))?;
    end_logins(conn, id, true)
}

/// Ends a user's web sessions, and their API tokens when `tokens`.
fn end_logins(conn: &mut Conn, id: UserId, tokens: bool) -> Result<()> {
    with_conn!(conn, |c, B| {
        diesel::delete(ws::table.filter(ws::user_id.eq(id)))
            .execute(c)
            .map_err(Error::query("ending a user's web sessions"))?;
        if tokens {
            diesel::delete(tok::table.filter(tok::user_id.eq(id)))
                .execute(c)
                .map_err(Error::query("ending a user's API tokens"))?;
        }
        Ok(())
    })
}

/// Makes a user active or inactive. An inactive user cannot log in and their API
/// tokens are refused (they work again once the user is active); their web sessions
/// end. The last active superuser cannot be disabled.
pub fn set_active(conn: &mut Conn, username: &str, active: bool) -> Result<()> {
    let id = user_id(conn, username)?;
    if !active {
        keep_a_superuser(conn, id, username)?;
    }
    with_conn!(&mut *conn, |c, B| diesel::update(usr::table.find(id))
        .set(usr::is_active.eq(active))
        .execute(c)
        .map(drop)
        .map_err(Error::query("changing a user")))?;
    if active {
        Ok(())
    } else {
        end_logins(conn, id, false)
    }
}

/// Removes a user with their permissions, web sessions and API tokens (the history
/// keeps their name on the runs they started). The last active superuser cannot be
/// removed.
pub fn remove_user(conn: &mut Conn, username: &str) -> Result<()> {
    let id = user_id(conn, username)?;
    keep_a_superuser(conn, id, username)?;
    end_logins(conn, id, true)?;
    with_conn!(conn, |c, B| {
        diesel::delete(perm::table.filter(perm::user_id.eq(id)))
            .execute(c)
            .map_err(Error::query("removing a user's permissions"))?;
        diesel::delete(usr::table.find(id))
            .execute(c)
            .map(drop)
            .map_err(Error::query(format!("removing user `{username}`")))
    })
}

/// Grants a permission (granting twice is harmless).
pub fn grant(conn: &mut Conn, username: &str, permission: &str) -> Result<()> {
    let id = user_id(conn, username)?;
    with_conn!(conn, |c, B| diesel::insert_into(perm::table)
        .values((perm::user_id.eq(id), perm::permission.eq(permission)))
        .on_conflict_do_nothing()
        .execute(c)
        .map(drop)
        .map_err(Error::query("granting a permission")))
}

/// Revokes a permission.
pub fn revoke(conn: &mut Conn, username: &str, permission: &str) -> Result<()> {
    let id = user_id(conn, username)?;
    with_conn!(conn, |c, B| diesel::delete(
        perm::table
            .filter(perm::user_id.eq(id))
            .filter(perm::permission.eq(permission))
    )
    .execute(c)
    .map(drop)
    .map_err(Error::query("revoking a permission")))
}

/// A user's permissions, sorted.
pub fn user_permissions(conn: &mut Conn, user_id: UserId) -> Result<Vec<String>> {
    with_conn!(conn, |c, B| perm::table
        .filter(perm::user_id.eq(user_id))
        .order(perm::permission.asc())
        .select(perm::permission)
        .load(c)
        .map_err(Error::query("loading permissions")))
}

/// Records a web session.
pub fn create_web_session(
    conn: &mut Conn,
    token_hash: &str,
    user_id: UserId,
    csrf: &str,
    ttl_us: i64,
) -> Result<()> {
    let now = now_micros();
    with_conn!(conn, |c, B| {
        diesel::delete(ws::table.filter(ws::expires_at.lt(now)))
            .execute(c)
            .map_err(Error::query("removing expired web sessions"))?;
        diesel::insert_into(ws::table)
            .values((
                ws::token_hash.eq(token_hash),
                ws::user_id.eq(user_id),
                ws::csrf_token.eq(csrf),
                ws::created_at.eq(now),
                ws::expires_at.eq(now + ttl_us),
            ))
            .execute(c)
            .map(drop)
            .map_err(Error::query("recording a web session"))
    })
}

/// The unexpired web session with that token hash.
pub fn find_web_session(conn: &mut Conn, token_hash: &str) -> Result<Option<WebSessionRecord>> {
    let now = now_micros();
    with_conn!(conn, |c, B| ws::table
        .filter(ws::token_hash.eq(token_hash))
        .filter(ws::expires_at.gt(now))
        .select(WebSessionRecord::as_select())
        .first(c)
        .optional()
        .map_err(Error::query("loading a web session")))
}

/// Ends a web session.
pub fn delete_web_session(conn: &mut Conn, token_hash: &str) -> Result<()> {
    with_conn!(conn, |c, B| diesel::delete(
        ws::table.filter(ws::token_hash.eq(token_hash))
    )
    .execute(c)
    .map(drop)
    .map_err(Error::query("ending a web session")))
}

/// An API token as listed (never its value, which only its owner saw once).
#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = tok)]
pub struct ApiTokenRecord {
    /// Id (for `users revoke-token ID`).
    pub id: i64,
    /// The label given when it was created.
    pub name: String,
    /// Created at (µs since the epoch).
    pub created_at: i64,
    /// Last accepted at (µs), to within [`TOKEN_TOUCH_US`].
    pub last_used_at: Option<i64>,
    /// Refused from then on (µs), if it expires.
    pub expires_at: Option<i64>,
}

/// How stale a token's "last used" may get before a use records it again: a busy
/// API client does not turn every request into a write.
pub const TOKEN_TOUCH_US: i64 = 60_000_000;

/// Records an API token (its hash) for a user; returns its id.
pub fn create_api_token(
    conn: &mut Conn,
    username: &str,
    name: &str,
    token_hash: &str,
) -> Result<i64> {
    create_api_token_until(conn, username, name, token_hash, None)
}

/// Records an API token (its hash) for a user, refused from `expires_at` (µs since
/// the epoch) on when given; returns its id.
pub fn create_api_token_until(
    conn: &mut Conn,
    username: &str,
    name: &str,
    token_hash: &str,
    expires_at: Option<i64>,
) -> Result<i64> {
    let id = user_id(conn, username)?;
    with_conn!(conn, |c, B| diesel::insert_into(tok::table)
        .values((
            tok::user_id.eq(id),
            tok::name.eq(name),
            tok::token_hash.eq(token_hash),
            tok::created_at.eq(now_micros()),
            tok::expires_at.eq(expires_at),
        ))
        .returning(tok::id)
        .get_result(c)
        .map_err(Error::query("recording an API token")))
}

/// A user's API tokens, oldest first.
pub fn list_api_tokens(conn: &mut Conn, username: &str) -> Result<Vec<ApiTokenRecord>> {
    let id = user_id(conn, username)?;
    with_conn!(conn, |c, B| tok::table
        .filter(tok::user_id.eq(id))
        .order(tok::id.asc())
        .select(ApiTokenRecord::as_select())
        .load(c)
        .map_err(Error::query("listing API tokens")))
}

/// Revokes (deletes) an API token; returns the name of its user. An unknown id is
/// [`Error::NotFound`].
pub fn revoke_api_token(conn: &mut Conn, id: i64) -> Result<String> {
    let owner: Option<String> = with_conn!(&mut *conn, |c, B| tok::table
        .inner_join(usr::table)
        .filter(tok::id.eq(id))
        .select(usr::username)
        .first(c)
        .optional()
        .map_err(Error::query("looking up an API token")))?;
    let owner = owner.ok_or(Error::NotFound {
        model: "API token".into(),
        id,
    })?;
    with_conn!(conn, |c, B| diesel::delete(tok::table.find(id))
        .execute(c)
        .map_err(Error::query("revoking an API token")))?;
    Ok(owner)
}

/// The active user an API token hash belongs to, when the token has not expired.
/// Records when the token was last used (at most every [`TOKEN_TOUCH_US`]; on a
/// read-only SQLite connection it is not recorded).
pub fn user_by_token(conn: &mut Conn, token_hash: &str) -> Result<Option<UserRecord>> {
    let now = now_micros();
    let found: Option<(i64, UserId, Option<i64>)> = with_conn!(&mut *conn, |c, B| tok::table
        .filter(tok::token_hash.eq(token_hash))
        .filter(tok::expires_at.is_null().or(tok::expires_at.gt(now)))
        .select((tok::id, tok::user_id, tok::last_used_at))
        .first(c)
        .optional()
        .map_err(Error::query("looking up an API token")))?;
    let Some((id, uid, last)) = found else {
        return Ok(None);
    };
    let user: Option<UserRecord> = with_conn!(&mut *conn, |c, B| usr::table
        .find(uid)
        .filter(usr::is_active.eq(true))
        .select(UserRecord::as_select())
        .first(c)
        .optional()
        .map_err(Error::query("loading a token's user")))?;
    if user.is_some() && last.is_none_or(|l| now - l >= TOKEN_TOUCH_US) {
        touch_token(conn, id, now)?;
    }
    Ok(user)
}

/// Records that a token was used (a single statement: it waits for the write lock
/// like any other; a read-only database keeps no record).
fn touch_token(conn: &mut Conn, id: i64, now: i64) -> Result<()> {
    if crate::history::query_only(conn) {
        return Ok(());
    }
    with_conn!(conn, |c, B| diesel::update(tok::table.find(id))
        .set(tok::last_used_at.eq(now))
        .execute(c)
        .map(drop)
        .map_err(Error::query("recording the use of an API token")))
}
