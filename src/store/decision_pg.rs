//! The write of an optimistic PostgreSQL authorization: the hold and the audit entry in one
//! autocommit statement (its own transaction, durable when it returns), taken only if the token
//! and its uses are still what the decision read (docs/design.md §4 "Atomicity").
//!
//! The decision reads its inputs without a transaction (`usage::candidates_with_uses`,
//! `parties::owner`), decides in Rust, and writes here: three round trips instead of seven
//! (BEGIN, lock, owner, usage, hold, audit, COMMIT). The guard (`tokenhub_hold_guard`, migration
//! `2026-12-10-000002_scale`) locks the token row, then compares the token's versions and the ids
//! of its active uses with a fresh snapshot; two instances deciding on one token at once are
//! serialized on that row lock, and the second sees the first's hold and writes nothing. The
//! caller then decides again. [`write_many`] writes a batch of decisions in one statement
//! (`service::authorize::batch`), each hold behind its own guard.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};

use super::audit::AuditEntry;
use super::usage::{NewHold, EVSE_SEPARATOR, HOLD};
use super::{Conn, StoreError, StoreResult};
use crate::domain::datetime::storage_precision;

/// What the decision saw of its token: the write goes ahead only if it is still so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub token_id: i64,
    pub last_updated: NaiveDateTime,
    pub effective_updated: NaiveDateTime,
    pub policy_updated_at: Option<NaiveDateTime>,
    /// The decision's `now` at storage precision: the uses counted are those alive then.
    pub now: NaiveDateTime,
    /// The ids of the token's uses that counted at `now`, ascending.
    pub use_ids: Vec<i64>,
}

/// One call: `tokenhub_hold_and_record` runs the guard, then the two inserts (its plans are
/// cached per connection; a raw two-insert CTE was planned again on every decision).
const HOLD_AND_RECORD: &str =
    "SELECT tokenhub_hold_and_record($1, $2, $3, $4, $5, $6, $7, $8, $9, \
     $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, \
     $28, $29, $30, $31) AS ok";

#[derive(QueryableByName)]
struct Guarded {
    #[diesel(sql_type = Bool)]
    ok: bool,
}

/// Writes `hold` and `audit` if `guard` still holds; `Ok(false)`: something changed, nothing was
/// written. Outside any transaction (PostgreSQL only).
pub fn hold_and_record(
    conn: &mut Conn<'_>,
    guard: &Guard,
    hold: &NewHold<'_>,
    audit: &AuditEntry,
) -> StoreResult<bool> {
    let Conn::Pg(conn) = conn else {
        return Err(StoreError::Query(
            "the guarded decision write is PostgreSQL's".into(),
        ));
    };
    let evses = hold.evse_set.join(EVSE_SEPARATOR);
    let written: Guarded = diesel::sql_query(HOLD_AND_RECORD)
        .bind::<BigInt, _>(guard.token_id)
        .bind::<Timestamp, _>(guard.last_updated)
        .bind::<Timestamp, _>(guard.effective_updated)
        .bind::<Nullable<Timestamp>, _>(guard.policy_updated_at)
        .bind::<Timestamp, _>(guard.now)
        .bind::<Array<BigInt>, _>(&guard.use_ids)
        .bind::<Text, _>(HOLD)
        .bind::<Text, _>(hold.reference)
        .bind::<Text, _>(hold.cpo.country_code.key())
        .bind::<Text, _>(hold.cpo.party_id.key())
        .bind::<Nullable<Text>, _>(hold.location_key)
        .bind::<Text, _>(&evses)
        .bind::<Timestamp, _>(storage_precision(hold.now))
        .bind::<Timestamp, _>(storage_precision(hold.until))
        .bind::<Timestamp, _>(audit.decided_at)
        .bind::<Nullable<BigInt>, _>(audit.token_id)
        .bind::<Nullable<Text>, _>(audit.token_country_code.as_deref())
        .bind::<Nullable<Text>, _>(audit.token_party_id.as_deref())
        .bind::<Text, _>(&audit.token_uid)
        .bind::<Text, _>(&audit.token_type)
        .bind::<Text, _>(&audit.requester_country_code)
        .bind::<Text, _>(&audit.requester_party_id)
        .bind::<Nullable<Text>, _>(audit.location_id.as_deref())
        .bind::<Nullable<Text>, _>(audit.evse_uids.as_deref())
        .bind::<Text, _>(audit.result.as_str())
        .bind::<Text, _>(audit.reason.as_str())
        .bind::<Nullable<Text>, _>(audit.authorization_reference.as_deref())
        .bind::<Nullable<Text>, _>(audit.request_id.as_deref())
        .bind::<Nullable<Text>, _>(audit.forwarded_to.as_deref())
        .bind::<Nullable<BigInt>, _>(audit.forward_ms)
        .bind::<Nullable<Text>, _>(audit.forward_outcome.as_deref())
        .get_result(&mut **conn)?;
    Ok(written.ok)
}

/// One decision's write, kept for its batch's one statement (`service::authorize::batch`).
#[derive(Debug, Clone)]
pub enum PendingWrite {
    /// A refusal or an answer without a hold: its audit entry.
    Audit(AuditEntry),
    /// An ALLOWED answer: the hold and its audit entry, if `guard` still holds.
    Hold {
        guard: Guard,
        /// Boxed: the enum's variants stay close in size.
        hold: Box<HoldRow>,
        audit: AuditEntry,
    },
}

/// A hold as a batch carries it (owned, at storage precision).
#[derive(Debug, Clone)]
pub struct HoldRow {
    pub reference: String,
    pub cpo_country_code: String,
    pub cpo_party_id: String,
    pub location_key: Option<String>,
    pub evse_set: String,
    pub created_at: NaiveDateTime,
    pub counts_until: NaiveDateTime,
}

impl HoldRow {
    pub fn new(hold: &NewHold<'_>) -> Self {
        HoldRow {
            reference: hold.reference.to_owned(),
            cpo_country_code: hold.cpo.country_code.key().to_owned(),
            cpo_party_id: hold.cpo.party_id.key().to_owned(),
            location_key: hold.location_key.map(str::to_owned),
            evse_set: hold.evse_set.join(EVSE_SEPARATOR),
            created_at: storage_precision(hold.now),
            counts_until: storage_precision(hold.until),
        }
    }
}

impl PendingWrite {
    /// The token whose row the write locks: a batch sends its holds in this order.
    pub fn locked_token(&self) -> Option<i64> {
        match self {
            PendingWrite::Audit(_) => None,
            PendingWrite::Hold { guard, .. } => Some(guard.token_id),
        }
    }

    /// Writes it alone, in its own transaction (a batch that failed writes each of its
    /// decisions this way, so one bad write fails only its own request).
    pub fn write_alone(&self, conn: &mut Conn<'_>) -> StoreResult<bool> {
        match self {
            PendingWrite::Audit(entry) => super::audit::record(conn, entry).map(|()| true),
            PendingWrite::Hold { .. } => Ok(write_many(conn, std::slice::from_ref(self))?
                .first()
                .copied()
                .unwrap_or(false)),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let ts = |t: &NaiveDateTime| t.format(JSON_TIMESTAMP).to_string();
        let (guard, hold, audit) = match self {
            PendingWrite::Audit(audit) => (None, None, audit),
            PendingWrite::Hold { guard, hold, audit } => (Some(guard), Some(hold), audit),
        };
        serde_json::json!({
            "hold": guard.is_some(),
            "token_id": guard.map(|g| g.token_id),
            "last_updated": guard.map(|g| ts(&g.last_updated)),
            "effective_updated": guard.map(|g| ts(&g.effective_updated)),
            "policy_updated_at": guard.and_then(|g| g.policy_updated_at.as_ref().map(ts)),
            "now": guard.map(|g| ts(&g.now)),
            "use_ids": guard.map(|g| &g.use_ids),
            "kind": hold.map(|_| HOLD),
            "reference": hold.map(|h| &h.reference),
            "cpo_country_code": hold.map(|h| &h.cpo_country_code),
            "cpo_party_id": hold.map(|h| &h.cpo_party_id),
            "location_key": hold.and_then(|h| h.location_key.as_ref()),
            "evse_set": hold.map(|h| &h.evse_set),
            "created_at": hold.map(|h| ts(&h.created_at)),
            "counts_until": hold.map(|h| ts(&h.counts_until)),
            "decided_at": ts(&audit.decided_at),
            "audit_token_id": audit.token_id,
            "token_country_code": audit.token_country_code,
            "token_party_id": audit.token_party_id,
            "token_uid": audit.token_uid,
            "token_type": audit.token_type,
            "requester_country_code": audit.requester_country_code,
            "requester_party_id": audit.requester_party_id,
            "location_id": audit.location_id,
            "evse_uids": audit.evse_uids,
            "result": audit.result.as_str(),
            "reason": audit.reason.as_str(),
            "authorization_reference": audit.authorization_reference,
            "request_id": audit.request_id,
            "forwarded_to": audit.forwarded_to,
            "forward_ms": audit.forward_ms,
            "forward_outcome": audit.forward_outcome,
        })
    }
}

/// Microseconds, as the columns keep them; PostgreSQL reads it back exactly.
const JSON_TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%S%.6f";

const WRITE_DECISIONS: &str = "SELECT tokenhub_write_decisions($1::jsonb) AS done";

#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Array<Bool>)]
    done: Vec<bool>,
}

/// Writes `writes` in one statement (one transaction, durable when it returns), in the order
/// given; for each, whether it was written (a hold whose guard failed was not). An error writes
/// nothing. Outside any transaction (PostgreSQL only).
pub fn write_many(conn: &mut Conn<'_>, writes: &[PendingWrite]) -> StoreResult<Vec<bool>> {
    let Conn::Pg(conn) = conn else {
        return Err(StoreError::Query(
            "the batched decision write is PostgreSQL's".into(),
        ));
    };
    let batch =
        serde_json::Value::Array(writes.iter().map(PendingWrite::to_json).collect()).to_string();
    let written: Written = diesel::sql_query(WRITE_DECISIONS)
        .bind::<Text, _>(batch)
        .get_result(&mut **conn)?;
    if written.done.len() != writes.len() {
        return Err(StoreError::Query(format!(
            "the batched decision write answered {} results for {} writes",
            written.done.len(),
            writes.len()
        )));
    }
    Ok(written.done)
}
