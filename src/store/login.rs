//! OAuth part 2's tables: people (`users`), authorization codes, refresh tokens and consents.
//! Codes and refresh tokens are stored only as keyed hashes. Revoking a family also records its
//! access tokens in `oauth_revocations` (through `oauth::revoke`, which bumps the OAuth epoch).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::oauth::{bump_epoch, revoke};
use super::schema::{oauth_codes, oauth_consents, oauth_refresh_tokens, users};
use super::{db_run, Conn, StoreResult};

#[derive(Queryable, Selectable, Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub username: String,
    pub password_hash: String,
    pub scopes: String,
    pub totp_secret_sealed: Option<String>,
    pub totp_last_step: Option<i64>,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    /// Space-separated `CC*PID`; `None` = every party (`domain::access::PartyAccess`).
    pub parties: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = oauth_codes)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub username: String,
    pub redirect_uri: String,
    pub scopes: String,
    pub code_challenge: String,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub family_id: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = oauth_refresh_tokens)]
pub struct RefreshRow {
    pub token_hash: String,
    pub family_id: String,
    pub parent_hash: Option<String>,
    pub client_id: String,
    pub username: String,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub access_jti: String,
    pub access_expires_at: NaiveDateTime,
}

pub fn insert_user(conn: &mut Conn<'_>, row: &UserRow) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(users::table).values(row).execute(conn))?;
    Ok(())
}

pub fn find_user(conn: &mut Conn<'_>, username: &str) -> StoreResult<Option<UserRow>> {
    Ok(db_run!(conn => users::table
        .find(username)
        .select(UserRow::as_select())
        .first(conn)
        .optional())?)
}

pub fn list_users(conn: &mut Conn<'_>) -> StoreResult<Vec<UserRow>> {
    Ok(db_run!(conn => users::table
        .order(users::username)
        .select(UserRow::as_select())
        .load(conn))?)
}

/// Disables `username` and revokes every refresh token (and its access token) it holds; false
/// when there is no such user.
pub fn disable_user(conn: &mut Conn<'_>, username: &str, now: NaiveDateTime) -> StoreResult<bool> {
    let changed = db_run!(conn => diesel::update(users::table.find(username))
        .set(users::disabled.eq(true))
        .execute(conn))?;
    if changed == 0 {
        return Ok(false);
    }
    let families: Vec<String> = db_run!(conn => oauth_refresh_tokens::table
        .filter(oauth_refresh_tokens::username.eq(username))
        .filter(oauth_refresh_tokens::revoked_at.is_null())
        .select(oauth_refresh_tokens::family_id)
        .distinct()
        .load(conn))?;
    for family in families {
        revoke_family(conn, &family, now)?;
    }
    Ok(true)
}

/// Sets or clears the sealed TOTP secret; false when there is no such user.
pub fn set_totp(conn: &mut Conn<'_>, username: &str, sealed: Option<&str>) -> StoreResult<bool> {
    let changed = db_run!(conn => diesel::update(users::table.find(username))
        .set((
            users::totp_secret_sealed.eq(sealed),
            users::totp_last_step.eq(None::<i64>),
        ))
        .execute(conn))?;
    Ok(changed > 0)
}

/// Records that the code of `step` was accepted; false when that step (or a later one) was used
/// already: a replayed code, also by a concurrent login.
pub fn use_totp_step(conn: &mut Conn<'_>, username: &str, step: i64) -> StoreResult<bool> {
    let changed = db_run!(conn => diesel::update(
        users::table.find(username).filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        ),
    )
    .set(users::totp_last_step.eq(Some(step)))
    .execute(conn))?;
    Ok(changed == 1)
}

pub fn insert_code(conn: &mut Conn<'_>, row: &CodeRow) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(oauth_codes::table).values(row).execute(conn))?;
    Ok(())
}

pub fn find_code(conn: &mut Conn<'_>, code_hash: &str) -> StoreResult<Option<CodeRow>> {
    Ok(db_run!(conn => oauth_codes::table
        .find(code_hash)
        .select(CodeRow::as_select())
        .first(conn)
        .optional())?)
}

/// Marks the code used and names the family it starts; false when it was used already (by a
/// concurrent exchange that won the race).
pub fn use_code(
    conn: &mut Conn<'_>,
    code_hash: &str,
    family_id: &str,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let changed = db_run!(conn => diesel::update(
        oauth_codes::table
            .find(code_hash)
            .filter(oauth_codes::used_at.is_null()),
    )
    .set((
        oauth_codes::used_at.eq(Some(now)),
        oauth_codes::family_id.eq(Some(family_id)),
    ))
    .execute(conn))?;
    Ok(changed == 1)
}

/// Forgets codes expired before `before` (used or not: a replay of one is refused as unknown).
pub fn purge_codes(conn: &mut Conn<'_>, before: NaiveDateTime) -> StoreResult<usize> {
    Ok(
        db_run!(conn => diesel::delete(oauth_codes::table.filter(oauth_codes::expires_at.lt(before)))
        .execute(conn))?,
    )
}

pub fn insert_refresh(conn: &mut Conn<'_>, row: &RefreshRow) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(oauth_refresh_tokens::table)
        .values(row)
        .execute(conn))?;
    Ok(())
}

pub fn find_refresh(conn: &mut Conn<'_>, token_hash: &str) -> StoreResult<Option<RefreshRow>> {
    Ok(db_run!(conn => oauth_refresh_tokens::table
        .find(token_hash)
        .select(RefreshRow::as_select())
        .first(conn)
        .optional())?)
}

/// Marks the token rotated; false when it was rotated or revoked already (a concurrent refresh).
pub fn rotate_refresh(
    conn: &mut Conn<'_>,
    token_hash: &str,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let changed = db_run!(conn => diesel::update(
        oauth_refresh_tokens::table
            .find(token_hash)
            .filter(oauth_refresh_tokens::rotated_at.is_null())
            .filter(oauth_refresh_tokens::revoked_at.is_null()),
    )
    .set(oauth_refresh_tokens::rotated_at.eq(Some(now)))
    .execute(conn))?;
    Ok(changed == 1)
}

/// Revokes every refresh token of `family_id` and every access token issued with one that has not
/// expired; returns those access tokens (jti, expiry) so the caller can refuse them at once.
pub fn revoke_family(
    conn: &mut Conn<'_>,
    family_id: &str,
    now: NaiveDateTime,
) -> StoreResult<Vec<(String, NaiveDateTime)>> {
    db_run!(conn => diesel::update(
        oauth_refresh_tokens::table
            .filter(oauth_refresh_tokens::family_id.eq(family_id))
            .filter(oauth_refresh_tokens::revoked_at.is_null()),
    )
    .set(oauth_refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn))?;
    let live: Vec<(String, NaiveDateTime)> = db_run!(conn => oauth_refresh_tokens::table
        .filter(oauth_refresh_tokens::family_id.eq(family_id))
        .filter(oauth_refresh_tokens::access_expires_at.gt(now))
        .select((oauth_refresh_tokens::access_jti, oauth_refresh_tokens::access_expires_at))
        .load(conn))?;
    for (jti, expires_at) in &live {
        revoke(conn, jti, *expires_at, now)?;
    }
    bump_epoch(conn)?;
    Ok(live)
}

/// Forgets refresh tokens expired before `before`.
pub fn purge_refresh_tokens(conn: &mut Conn<'_>, before: NaiveDateTime) -> StoreResult<usize> {
    Ok(db_run!(conn => diesel::delete(
        oauth_refresh_tokens::table.filter(oauth_refresh_tokens::expires_at.lt(before))
    )
    .execute(conn))?)
}

/// The scopes `username` allowed `client_id` so far.
pub fn consent(
    conn: &mut Conn<'_>,
    username: &str,
    client_id: &str,
) -> StoreResult<Option<String>> {
    Ok(db_run!(conn => oauth_consents::table
        .find((username, client_id))
        .select(oauth_consents::scopes)
        .first(conn)
        .optional())?)
}

/// Records what `username` allowed `client_id` (all of it so far: the caller merges).
pub fn save_consent(
    conn: &mut Conn<'_>,
    username: &str,
    client_id: &str,
    scopes: &str,
    now: NaiveDateTime,
) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(oauth_consents::table)
        .values((
            oauth_consents::username.eq(username),
            oauth_consents::client_id.eq(client_id),
            oauth_consents::scopes.eq(scopes),
            oauth_consents::granted_at.eq(now),
        ))
        .on_conflict((oauth_consents::username, oauth_consents::client_id))
        .do_update()
        .set((
            oauth_consents::scopes.eq(scopes),
            oauth_consents::granted_at.eq(now),
        ))
        .execute(conn))?;
    Ok(())
}
