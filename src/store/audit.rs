//! The audit trail of authorization decisions.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::authorization_audit;
use super::{db_run, Conn, StoreResult};
use crate::domain::datetime::storage_precision;

/// One decision, as recorded.
#[derive(Insertable, Queryable, Selectable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = authorization_audit)]
// NULL, not DEFAULT, for absent values: one SQL text for every entry, so the prepared statement
// is cached instead of re-planned.
#[diesel(treat_none_as_null = true)]
pub struct AuditEntry {
    pub decided_at: NaiveDateTime,
    pub token_id: Option<i64>,
    pub token_country_code: Option<String>,
    pub token_party_id: Option<String>,
    pub token_uid: String,
    pub token_type: String,
    pub requester_country_code: String,
    pub requester_party_id: String,
    pub location_id: Option<String>,
    pub evse_uids: Option<String>,
    pub result: String,
    pub reason: String,
    pub authorization_reference: Option<String>,
    pub request_id: Option<String>,
}

pub fn record(conn: &mut Conn<'_>, entry: &AuditEntry) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(authorization_audit::table).values(entry).execute(conn))?;
    Ok(())
}

/// The newest decisions first, at most `limit` (for tests and, later, the management API).
pub fn recent(conn: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<AuditEntry>> {
    db_run!(conn => Ok(authorization_audit::table
        .order(authorization_audit::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)?))
}

/// Deletes up to `batch` entries decided before `before`; returns how many went.
pub fn purge_before(conn: &mut Conn<'_>, before: DateTime<Utc>, batch: i64) -> StoreResult<usize> {
    let before = storage_precision(before);
    db_run!(conn => {
        let ids: Vec<i64> = authorization_audit::table
            .filter(authorization_audit::decided_at.lt(before))
            .select(authorization_audit::id)
            .limit(batch)
            .load(conn)?;
        Ok(diesel::delete(authorization_audit::table.filter(authorization_audit::id.eq_any(ids))).execute(conn)?)
    })
}
