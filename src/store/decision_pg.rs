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
//! caller then decides again.

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
