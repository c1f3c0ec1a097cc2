//! The OAuth 2 authorization server's tables: clients, the keys that sign access tokens, and
//! revoked access tokens (kept until they expire). Every change bumps the OAuth epoch in the same
//! transaction; each instance polls it and reloads what it keeps in memory.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{counters, oauth_clients, oauth_revocations, oauth_signing_keys};
use super::{db_run, Conn, StoreResult};

const OAUTH_EPOCH: &str = "oauth_epoch";

#[derive(Queryable, Selectable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = oauth_clients)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub scopes: String,
    pub redirect_uris: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    /// Space-separated `CC*PID`; `None` = every party (`domain::access::PartyAccess`).
    pub parties: Option<String>,
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = oauth_signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    pub private_key_sealed: String,
    pub public_key: String,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

/// Tells every instance to reload clients, keys and revocations.
pub fn bump_epoch(conn: &mut Conn<'_>) -> StoreResult<()> {
    db_run!(conn => diesel::update(counters::table.find(OAUTH_EPOCH))
        .set(counters::value.eq(counters::value + 1))
        .execute(conn))?;
    Ok(())
}

pub fn epoch(conn: &mut Conn<'_>) -> StoreResult<i64> {
    Ok(db_run!(conn => counters::table
        .find(OAUTH_EPOCH)
        .select(counters::value)
        .get_result(conn))?)
}

pub fn insert_client(conn: &mut Conn<'_>, row: &ClientRow) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(oauth_clients::table)
        .values((
            oauth_clients::client_id.eq(&row.client_id),
            oauth_clients::name.eq(&row.name),
            oauth_clients::secret_hash.eq(&row.secret_hash),
            oauth_clients::scopes.eq(&row.scopes),
            oauth_clients::redirect_uris.eq(&row.redirect_uris),
            oauth_clients::disabled.eq(row.disabled),
            oauth_clients::created_at.eq(row.created_at),
            oauth_clients::parties.eq(&row.parties),
        ))
        .execute(conn))?;
    bump_epoch(conn)
}

pub fn find_client(conn: &mut Conn<'_>, client_id: &str) -> StoreResult<Option<ClientRow>> {
    Ok(db_run!(conn => oauth_clients::table
        .find(client_id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional())?)
}

/// Every client, oldest first.
pub fn list_clients(conn: &mut Conn<'_>) -> StoreResult<Vec<ClientRow>> {
    Ok(db_run!(conn => oauth_clients::table
        .order((oauth_clients::created_at, oauth_clients::client_id))
        .select(ClientRow::as_select())
        .load(conn))?)
}

/// Disables `client_id`; false when there is no such client.
pub fn disable_client(conn: &mut Conn<'_>, client_id: &str) -> StoreResult<bool> {
    let changed = db_run!(conn => diesel::update(oauth_clients::table.find(client_id))
        .set(oauth_clients::disabled.eq(true))
        .execute(conn))?;
    if changed > 0 {
        bump_epoch(conn)?;
    }
    Ok(changed > 0)
}

/// Retires every current key at `now` and makes `key` the one that signs.
pub fn rotate_signing_key(
    conn: &mut Conn<'_>,
    key: &SigningKeyRow,
    now: NaiveDateTime,
) -> StoreResult<()> {
    db_run!(conn => diesel::update(oauth_signing_keys::table.filter(oauth_signing_keys::retired_at.is_null()))
        .set(oauth_signing_keys::retired_at.eq(Some(now)))
        .execute(conn))?;
    insert_signing_key(conn, key)
}

/// Adds `key` unless a current (unretired) key exists already; true when added. Two instances
/// starting on an empty table at once may both add one: both then verify, the newer signs.
pub fn ensure_signing_key(conn: &mut Conn<'_>, key: &SigningKeyRow) -> StoreResult<bool> {
    let current: i64 = db_run!(conn => oauth_signing_keys::table
        .filter(oauth_signing_keys::retired_at.is_null())
        .count()
        .get_result(conn))?;
    if current > 0 {
        return Ok(false);
    }
    insert_signing_key(conn, key)?;
    Ok(true)
}

fn insert_signing_key(conn: &mut Conn<'_>, key: &SigningKeyRow) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(oauth_signing_keys::table)
        .values((
            oauth_signing_keys::kid.eq(&key.kid),
            oauth_signing_keys::algorithm.eq(&key.algorithm),
            oauth_signing_keys::private_key_sealed.eq(&key.private_key_sealed),
            oauth_signing_keys::public_key.eq(&key.public_key),
            oauth_signing_keys::created_at.eq(key.created_at),
            oauth_signing_keys::retired_at.eq(key.retired_at),
        ))
        .execute(conn))?;
    bump_epoch(conn)
}

/// The keys that still verify: the current ones and those retired after `retired_since` (a
/// token they signed may still be unexpired). Newest first: the first one signs.
pub fn verifying_keys(
    conn: &mut Conn<'_>,
    retired_since: NaiveDateTime,
) -> StoreResult<Vec<SigningKeyRow>> {
    Ok(db_run!(conn => oauth_signing_keys::table
        .filter(
            oauth_signing_keys::retired_at
                .is_null()
                .or(oauth_signing_keys::retired_at.gt(retired_since)),
        )
        .order((oauth_signing_keys::created_at.desc(), oauth_signing_keys::kid.desc()))
        .select(SigningKeyRow::as_select())
        .load(conn))?)
}

/// Records the revocation of `jti` (a second one is a no-op).
pub fn revoke(
    conn: &mut Conn<'_>,
    jti: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(oauth_revocations::table)
        .values((
            oauth_revocations::jti.eq(jti),
            oauth_revocations::expires_at.eq(expires_at),
            oauth_revocations::revoked_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn))?;
    bump_epoch(conn)
}

/// Revoked tokens that have not expired at `now`: (jti, expiry).
pub fn live_revocations(
    conn: &mut Conn<'_>,
    now: NaiveDateTime,
) -> StoreResult<Vec<(String, NaiveDateTime)>> {
    Ok(db_run!(conn => oauth_revocations::table
        .filter(oauth_revocations::expires_at.gt(now))
        .select((oauth_revocations::jti, oauth_revocations::expires_at))
        .load(conn))?)
}

/// Forgets revocations of tokens that expired before `before`: they are refused by their `exp`.
pub fn purge_revocations(conn: &mut Conn<'_>, before: NaiveDateTime) -> StoreResult<usize> {
    Ok(db_run!(conn => diesel::delete(
        oauth_revocations::table.filter(oauth_revocations::expires_at.lt(before))
    )
    .execute(conn))?)
}
