//! Sessions pushed by CPOs: kept whole (PATCHes merge into them) and linked to the token they use.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::schema::{sessions, token_usages};
use super::{db_run, Conn, StoreError, StoreResult};
use crate::domain::datetime::storage_precision;
use crate::domain::ids::{CiString36, PartyKey};
use crate::domain::session::{SessionStatus, SessionWrite};

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: i64,
    pub last_updated: NaiveDateTime,
    pub body: String,
}

impl SessionRow {
    pub fn stored(&self) -> StoreResult<Map<String, Value>> {
        serde_json::from_str(&self.body)
            .map_err(|e| StoreError::Query(format!("session {} has a corrupt body: {e}", self.id)))
    }
}

pub fn find(
    conn: &mut Conn<'_>,
    owner: &PartyKey,
    id: &CiString36,
    lock: bool,
) -> StoreResult<Option<SessionRow>> {
    macro_rules! query {
        () => {
            sessions::table
                .filter(sessions::country_code.eq(owner.country_code.key()))
                .filter(sessions::party_id.eq(owner.party_id.key()))
                .filter(sessions::session_key.eq(id.key()))
                .select(SessionRow::as_select())
        };
    }
    Ok(match conn {
        Conn::Pg(c) if lock => query!().for_update().get_result(&mut **c).optional()?,
        Conn::Pg(c) => query!().get_result(&mut **c).optional()?,
        Conn::Sqlite(c) => query!().get_result(&mut **c).optional()?,
    })
}

/// Inserts or replaces the session; returns its row id.
pub fn upsert(
    conn: &mut Conn<'_>,
    existing: Option<&SessionRow>,
    write: &SessionWrite,
    token_id: Option<i64>,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    let body = serde_json::to_string(&write.body).map_err(|e| StoreError::Query(e.to_string()))?;
    let last_updated = storage_precision(write.last_updated);
    let now = storage_precision(now);
    let reference = write
        .authorization_reference
        .as_ref()
        .map(|r| r.key().to_owned());
    db_run!(conn => match existing {
        Some(row) => {
            diesel::update(sessions::table.find(row.id))
                .set((
                    sessions::token_id.eq(token_id),
                    sessions::token_country_code.eq(write.token.owner.country_code.key()),
                    sessions::token_party_id.eq(write.token.owner.party_id.key()),
                    sessions::token_uid_key.eq(write.token.uid.key()),
                    sessions::token_type.eq(write.token.token_type.as_str()),
                    sessions::status.eq(write.status.as_str()),
                    sessions::authorization_reference.eq(&reference),
                    sessions::last_updated.eq(last_updated),
                    sessions::received_at.eq(now),
                    sessions::body.eq(&body),
                ))
                .execute(conn)?;
            Ok(row.id)
        }
        None => Ok(diesel::insert_into(sessions::table)
            .values((
                sessions::country_code.eq(write.owner.country_code.key()),
                sessions::party_id.eq(write.owner.party_id.key()),
                sessions::session_key.eq(write.id.key()),
                sessions::token_id.eq(token_id),
                sessions::token_country_code.eq(write.token.owner.country_code.key()),
                sessions::token_party_id.eq(write.token.owner.party_id.key()),
                sessions::token_uid_key.eq(write.token.uid.key()),
                sessions::token_type.eq(write.token.token_type.as_str()),
                sessions::status.eq(write.status.as_str()),
                sessions::authorization_reference.eq(&reference),
                sessions::last_updated.eq(last_updated),
                sessions::received_at.eq(now),
                sessions::body.eq(&body),
            ))
            .returning(sessions::id)
            .get_result(conn)?),
    })
}

/// Deletes up to `batch` sessions the hub keeps no longer, with any use they still hold: finished
/// ones (COMPLETED, INVALID) last received before `finished_before`, and open ones last received
/// before `abandoned_before` (not after `finished_before`). Returns how many went.
pub fn purge_old(
    conn: &mut Conn<'_>,
    finished_before: DateTime<Utc>,
    abandoned_before: DateTime<Utc>,
    batch: i64,
) -> StoreResult<usize> {
    let finished_before = storage_precision(finished_before);
    let abandoned_before = storage_precision(abandoned_before.min(finished_before.and_utc()));
    let finished = [
        SessionStatus::Completed.as_str(),
        SessionStatus::Invalid.as_str(),
    ];
    macro_rules! candidates {
        () => {
            sessions::table
                .filter(sessions::received_at.lt(finished_before))
                .filter(
                    sessions::status
                        .eq_any(finished)
                        .or(sessions::received_at.lt(abandoned_before)),
                )
                .select(sessions::id)
                .limit(batch)
        };
    }
    // On PostgreSQL the rows are locked until they are gone: a PATCH arriving meanwhile waits and
    // then finds no session (404) instead of being lost, a session a PATCH holds is skipped, and
    // instances sweeping together skip each other's rows.
    let ids: Vec<i64> = match conn {
        Conn::Pg(c) => candidates!().for_update().skip_locked().load(&mut **c)?,
        Conn::Sqlite(c) => candidates!().load(&mut **c)?,
    };
    if ids.is_empty() {
        return Ok(0);
    }
    db_run!(conn => {
        diesel::delete(token_usages::table.filter(token_usages::session_id.eq_any(&ids)))
            .execute(conn)?;
        Ok(diesel::delete(sessions::table.filter(sessions::id.eq_any(&ids))).execute(conn)?)
    })
}

/// Filters of a Sessions sender list: whose sessions, and the `last_updated` window.
#[derive(Clone, Debug)]
pub struct SessionListFilter {
    /// The sessions of this eMSP's tokens (the `cdr_token`'s party).
    pub emsp: Option<PartyKey>,
    /// This CPO's own sessions.
    pub cpo: Option<PartyKey>,
    /// Required by OCPI for this list.
    pub date_from: DateTime<Utc>,
    pub date_to: Option<DateTime<Utc>>,
    /// Only sessions whose token has one of these types (the closed `TokenType` of OCPI 2.2.1);
    /// `None`: every type.
    pub token_types: Option<&'static [&'static str]>,
}

/// One page of the Sessions sender list.
#[derive(Debug)]
pub struct SessionPage {
    pub rows: Vec<SessionRow>,
    /// The sessions that match the filter, over all pages.
    pub total: i64,
}

/// One page in creation order (row id), and the number of sessions matching the filter. The
/// party filter is the leading column of an index ending in the id (`sessions_emsp_id`,
/// `sessions_cpo_id`): the page is read in that index's order, no sort.
pub fn list_page(
    conn: &mut Conn<'_>,
    filter: &SessionListFilter,
    offset: i64,
    limit: i64,
) -> StoreResult<SessionPage> {
    macro_rules! filtered {
        () => {{
            let mut q = sessions::table.into_boxed();
            if let Some(emsp) = &filter.emsp {
                q = q
                    .filter(sessions::token_country_code.eq(emsp.country_code.key().to_owned()))
                    .filter(sessions::token_party_id.eq(emsp.party_id.key().to_owned()));
            }
            if let Some(cpo) = &filter.cpo {
                q = q
                    .filter(sessions::country_code.eq(cpo.country_code.key().to_owned()))
                    .filter(sessions::party_id.eq(cpo.party_id.key().to_owned()));
            }
            q = q.filter(sessions::last_updated.ge(storage_precision(filter.date_from)));
            if let Some(to) = filter.date_to {
                q = q.filter(sessions::last_updated.lt(storage_precision(to)));
            }
            if let Some(types) = filter.token_types {
                q = q.filter(sessions::token_type.eq_any(types.to_vec()));
            }
            q
        }};
    }
    let (total, rows) = db_run!(conn => {
        let total: i64 = filtered!().count().get_result(conn)?;
        let rows = filtered!()
            .order(sessions::id)
            .offset(offset)
            .limit(limit)
            .select(SessionRow::as_select())
            .load(conn)?;
        (total, rows)
    });
    Ok(SessionPage { rows, total })
}

/// The sessions with these row ids (a push batch), in no particular order.
pub fn find_by_ids(conn: &mut Conn<'_>, ids: &[i64]) -> StoreResult<Vec<SessionRow>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(db_run!(conn => sessions::table
        .filter(sessions::id.eq_any(ids))
        .select(SessionRow::as_select())
        .load(conn))?)
}
