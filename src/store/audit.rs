//! The audit trail of authorization decisions.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::authorization_audit;
use super::{db_run, Conn, StoreError, StoreResult};
use crate::domain::authorization::{AuditResult, Reason};
use crate::domain::datetime::storage_precision;

/// One decision, as recorded. Result and reason are enums here and stable strings in the
/// database ([`AuditResult::as_str`], [`Reason::as_str`]).
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub result: AuditResult,
    pub reason: Reason,
    pub authorization_reference: Option<String>,
    pub request_id: Option<String>,
    /// The eMSP asked in real time (`CC*PID`), if any.
    pub forwarded_to: Option<String>,
    /// How long asking it took, in milliseconds (absent when it was not called at all).
    pub forward_ms: Option<i64>,
    /// What came of asking it (`ANSWERED:ALLOWED`, `TIMEOUT`, ...).
    pub forward_outcome: Option<String>,
}

#[derive(Insertable, Queryable, Selectable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = authorization_audit)]
// NULL, not DEFAULT, for absent values: one SQL text for every entry, so the prepared statement
// is cached instead of re-planned.
#[diesel(treat_none_as_null = true)]
struct AuditRow {
    decided_at: NaiveDateTime,
    token_id: Option<i64>,
    token_country_code: Option<String>,
    token_party_id: Option<String>,
    token_uid: String,
    token_type: String,
    requester_country_code: String,
    requester_party_id: String,
    location_id: Option<String>,
    evse_uids: Option<String>,
    result: String,
    reason: String,
    authorization_reference: Option<String>,
    request_id: Option<String>,
    forwarded_to: Option<String>,
    forward_ms: Option<i64>,
    forward_outcome: Option<String>,
}

impl AuditRow {
    fn new(e: &AuditEntry) -> Self {
        AuditRow {
            decided_at: e.decided_at,
            token_id: e.token_id,
            token_country_code: e.token_country_code.clone(),
            token_party_id: e.token_party_id.clone(),
            token_uid: e.token_uid.clone(),
            token_type: e.token_type.clone(),
            requester_country_code: e.requester_country_code.clone(),
            requester_party_id: e.requester_party_id.clone(),
            location_id: e.location_id.clone(),
            evse_uids: e.evse_uids.clone(),
            result: e.result.as_str().to_owned(),
            reason: e.reason.as_str().to_owned(),
            authorization_reference: e.authorization_reference.clone(),
            request_id: e.request_id.clone(),
            forwarded_to: e.forwarded_to.clone(),
            forward_ms: e.forward_ms,
            forward_outcome: e.forward_outcome.clone(),
        }
    }

    fn entry(self) -> StoreResult<AuditEntry> {
        let corrupt = |what: &str, value: &str| {
            StoreError::Query(format!("audit entry with unknown {what} {value:?}"))
        };
        Ok(AuditEntry {
            result: AuditResult::from_db(&self.result)
                .ok_or_else(|| corrupt("result", &self.result))?,
            reason: Reason::from_db(&self.reason).ok_or_else(|| corrupt("reason", &self.reason))?,
            decided_at: self.decided_at,
            token_id: self.token_id,
            token_country_code: self.token_country_code,
            token_party_id: self.token_party_id,
            token_uid: self.token_uid,
            token_type: self.token_type,
            requester_country_code: self.requester_country_code,
            requester_party_id: self.requester_party_id,
            location_id: self.location_id,
            evse_uids: self.evse_uids,
            authorization_reference: self.authorization_reference,
            request_id: self.request_id,
            forwarded_to: self.forwarded_to,
            forward_ms: self.forward_ms,
            forward_outcome: self.forward_outcome,
        })
    }
}

pub fn record(conn: &mut Conn<'_>, entry: &AuditEntry) -> StoreResult<()> {
    let row = AuditRow::new(entry);
    db_run!(conn => diesel::insert_into(authorization_audit::table).values(&row).execute(conn))?;
    Ok(())
}

/// The newest decisions first, at most `limit` (for tests and, later, the management API).
pub fn recent(conn: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = db_run!(conn => Ok::<_, StoreError>(authorization_audit::table
        .order(authorization_audit::id.desc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?))?;
    rows.into_iter().map(AuditRow::entry).collect()
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
