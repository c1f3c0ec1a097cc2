//! The admin console's tables: the decision rollup (decisions per minute by result and reason)
//! and the console's server-side sessions.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::{console_sessions, decision_rollup};
use super::{db_run, Conn, StoreResult};

/// One cell of the rollup: `count` decisions with `result` and `reason` in the minute starting
/// at `minute` (Unix seconds).
#[derive(Queryable, Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = decision_rollup)]
pub struct RollupRow {
    pub minute: i64,
    pub result: String,
    pub reason: String,
    pub count: i64,
}

/// Adds `rows` to the rollup: a cell that exists grows by the row's count, so instances that
/// flush the same minute add up instead of overwriting each other.
pub fn add_to_rollup(conn: &mut Conn<'_>, rows: &[RollupRow]) -> StoreResult<()> {
    for row in rows {
        db_run!(conn => diesel::insert_into(decision_rollup::table)
            .values(row)
            .on_conflict((decision_rollup::minute, decision_rollup::result, decision_rollup::reason))
            .do_update()
            .set(decision_rollup::count.eq(decision_rollup::count + excluded(decision_rollup::count)))
            .execute(conn))?;
    }
    Ok(())
}

/// Every cell from the minute `since` (Unix seconds) on, oldest first.
pub fn rollup_since(conn: &mut Conn<'_>, since: i64) -> StoreResult<Vec<RollupRow>> {
    Ok(db_run!(conn => decision_rollup::table
        .filter(decision_rollup::minute.ge(since))
        .order((decision_rollup::minute, decision_rollup::result, decision_rollup::reason))
        .load(conn))?)
}

/// Forgets the cells before `before` (Unix seconds): the dashboard shows a day at most.
pub fn purge_rollup(conn: &mut Conn<'_>, before: i64) -> StoreResult<usize> {
    Ok(db_run!(conn => diesel::delete(
        decision_rollup::table.filter(decision_rollup::minute.lt(before))
    )
    .execute(conn))?)
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = console_sessions)]
pub struct SessionRow {
    pub id_hash: String,
    pub username: String,
    pub tokens_sealed: String,
    pub access_expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Stores a new session, and forgets the ones that expired before `now`.
pub fn insert_session(
    conn: &mut Conn<'_>,
    row: &SessionRow,
    now: NaiveDateTime,
) -> StoreResult<()> {
    db_run!(conn => diesel::delete(
        console_sessions::table.filter(console_sessions::expires_at.lt(now))
    )
    .execute(conn))?;
    db_run!(conn => diesel::insert_into(console_sessions::table)
        .values(row)
        .execute(conn))?;
    Ok(())
}

/// The session whose cookie hashes to `id_hash`, if it has not expired at `now`.
pub fn find_session(
    conn: &mut Conn<'_>,
    id_hash: &str,
    now: NaiveDateTime,
) -> StoreResult<Option<SessionRow>> {
    Ok(db_run!(conn => console_sessions::table
        .find(id_hash)
        .filter(console_sessions::expires_at.ge(now))
        .select(SessionRow::as_select())
        .first(conn)
        .optional())?)
}

/// New tokens (after a refresh) and the session's new idle deadline.
pub fn update_session_tokens(
    conn: &mut Conn<'_>,
    id_hash: &str,
    tokens_sealed: &str,
    access_expires_at: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> StoreResult<()> {
    db_run!(conn => diesel::update(console_sessions::table.find(id_hash))
        .set((
            console_sessions::tokens_sealed.eq(tokens_sealed),
            console_sessions::access_expires_at.eq(access_expires_at),
            console_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn))?;
    Ok(())
}

/// Ends the session; false when there was none.
pub fn delete_session(conn: &mut Conn<'_>, id_hash: &str) -> StoreResult<bool> {
    let deleted = db_run!(conn => diesel::delete(console_sessions::table.find(id_hash))
        .execute(conn))?;
    Ok(deleted == 1)
}

/// Makes the client `row` exist as given (its name, secret hash, scopes and redirect URIs), keeping
/// `disabled` and `created_at` of an existing one: an operator may disable it. True when it
/// changed; a change moves the OAuth epoch so every instance forgets its cached copy.
pub fn ensure_client(conn: &mut Conn<'_>, row: &super::oauth::ClientRow) -> StoreResult<bool> {
    use super::schema::oauth_clients;
    let Some(found) = super::oauth::find_client(conn, &row.client_id)? else {
        super::oauth::insert_client(conn, row)?;
        return Ok(true);
    };
    if found.name == row.name
        && found.secret_hash == row.secret_hash
        && found.scopes == row.scopes
        && found.redirect_uris == row.redirect_uris
    {
        return Ok(false);
    }
    db_run!(conn => diesel::update(oauth_clients::table.find(&row.client_id))
        .set((
            oauth_clients::name.eq(&row.name),
            oauth_clients::secret_hash.eq(&row.secret_hash),
            oauth_clients::scopes.eq(&row.scopes),
            oauth_clients::redirect_uris.eq(&row.redirect_uris),
        ))
        .execute(conn))?;
    super::oauth::bump_epoch(conn)?;
    Ok(true)
}

/// The sessions of `username`, newest first.
pub fn sessions_of(conn: &mut Conn<'_>, username: &str) -> StoreResult<Vec<SessionRow>> {
    Ok(db_run!(conn => console_sessions::table
        .filter(console_sessions::username.eq(username))
        .order(console_sessions::created_at.desc())
        .select(SessionRow::as_select())
        .load(conn))?)
}
