//! The audit trail as admins read it (docs/design.md §5 `audit:read`): decisions and the change
//! log, filtered, newest first, keyset pages.

use serde_json::{json, Value};

use crate::domain::access::PartyAccess;
use crate::store::audit_search::{self, ChangeFilter, DecisionFilter, DecisionRow};
use crate::store::connections::ChangeRow;
use crate::store::{Store, StoreResult};

/// A decision as the management API shows it.
pub fn decision_json(d: &DecisionRow) -> Value {
    let owner = match (&d.token_country_code, &d.token_party_id) {
        (Some(cc), Some(pid)) => Some(format!("{cc}*{pid}")),
        _ => None,
    };
    json!({
        "id": d.id,
        "decided_at": d.decided_at.and_utc(),
        "token_owner": owner,
        "token_uid": d.token_uid,
        "token_type": d.token_type,
        "requester": format!("{}*{}", d.requester_country_code, d.requester_party_id),
        "location_id": d.location_id,
        "evse_uids": d.evse_uids.as_deref().map(|e| e.split('\n').collect::<Vec<_>>()),
        "result": d.result,
        "reason": d.reason,
        "authorization_reference": d.authorization_reference,
        "request_id": d.request_id,
        "forwarded_to": d.forwarded_to,
        "forward_ms": d.forward_ms,
        "forward_outcome": d.forward_outcome,
    })
}

/// Decisions, newest first, below the row id `before`.
pub async fn decisions(
    store: &Store,
    access: &PartyAccess,
    mut filter: DecisionFilter,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<DecisionRow>> {
    filter.within = access.clone();
    store
        .read(move |conn| audit_search::decisions(conn, &filter, before, limit))
        .await
}

/// Change-log entries, newest first, below the row id `before`.
pub async fn changes(
    store: &Store,
    access: &PartyAccess,
    mut filter: ChangeFilter,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<ChangeRow>> {
    filter.within = access.clone();
    store
        .read(move |conn| audit_search::changes(conn, &filter, before, limit))
        .await
}
