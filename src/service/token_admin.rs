//! What admins do with tokens (docs/design.md §5 `tokens:*`): search, look at one token whole
//! (as pushed, effective, hub policy, current usage, last decisions) and change the hub policy of
//! a filtered set at once. A single token's policy goes through [`super::policy::set_policy`].

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::domain::access::PartyAccess;
use crate::domain::authorization::{ActiveUse, UseKind};
use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::token::{effective_token, HubPolicy, TokenKey, TokenType};
use crate::domain::ValidationError;
use crate::store::audit_search::{self, DecisionFilter, DecisionRow};
use crate::store::connections::{self, Change};
use crate::store::token_search::{self, TokenFilter};
use crate::store::tokens::{self, TokenRow};
use crate::store::{parties, usage, Store, StoreResult};

use super::policy::{self, PolicyChange, PolicyOutcome};

/// How many decisions the view of one token shows.
pub const LAST_DECISIONS: i64 = 10;

/// One token as the management API lists it.
pub struct TokenSummary {
    pub key: TokenKey,
    pub row: TokenRow,
    pub effective: Map<String, Value>,
}

pub struct SearchResult {
    pub tokens: Vec<TokenSummary>,
    pub next_after: Option<i64>,
}

fn key_of(row: &TokenRow) -> StoreResult<TokenKey> {
    Ok(TokenKey {
        owner: PartyKey::parse(&row.country_code, &row.party_id)?,
        uid: TokenUid::parse("uid", &row.uid_key)?,
        token_type: TokenType::parse("type", &row.token_type)?,
    })
}

fn summarize(
    row: TokenRow,
    suspended: &HashSet<(String, String)>,
    now: DateTime<Utc>,
) -> StoreResult<TokenSummary> {
    let owner_suspended = suspended.contains(&(row.country_code.clone(), row.party_id.clone()));
    let effective = effective_token(
        &row.pushed()?,
        row.last_updated_utc(),
        row.effective_updated.and_utc(),
        &row.policy(),
        owner_suspended,
        now,
    );
    let mut key = key_of(&row)?;
    // The uid as the eMSP spelled it, not the lookup key.
    if let Some(uid) = effective.get("uid").and_then(Value::as_str) {
        key.uid = TokenUid::parse("uid", uid)?;
    }
    Ok(TokenSummary {
        key,
        row,
        effective,
    })
}

/// A page of the tokens of `access`'s parties matching `filter`, after the row id `after`.
pub async fn search(
    store: &Store,
    access: &PartyAccess,
    mut filter: TokenFilter,
    after: i64,
    limit: i64,
) -> StoreResult<SearchResult> {
    filter.within = access.clone();
    let (page, suspended) = store
        .read(move |conn| {
            let page = token_search::search(conn, &filter, after, limit)?;
            Ok((page, parties::suspended_emsps(conn)?))
        })
        .await?;
    let suspended: HashSet<(String, String)> = suspended.into_iter().collect();
    let now = Utc::now();
    let tokens = page
        .rows
        .into_iter()
        .map(|row| summarize(row, &suspended, now))
        .collect::<StoreResult<_>>()?;
    Ok(SearchResult {
        tokens,
        next_after: page.next_after,
    })
}

/// Everything about one token.
pub struct TokenDetail {
    pub summary: TokenSummary,
    pub pushed: Map<String, Value>,
    pub policy: HubPolicy,
    pub usage: Vec<ActiveUse>,
    pub decisions: Vec<DecisionRow>,
}

/// One token whole; `None` when it is unknown or another party's than `access`'s (the same
/// answer: a caller learns nothing of other parties' tokens).
pub async fn detail(
    store: &Store,
    access: &PartyAccess,
    key: TokenKey,
) -> StoreResult<Option<TokenDetail>> {
    if !access.permits(&key.owner) {
        return Ok(None);
    }
    let found = store
        .read(move |conn| {
            let Some(row) = tokens::find_by_key(conn, &key, false)? else {
                return Ok(None);
            };
            let now = Utc::now();
            let usage = usage::active_for_token(conn, row.id, now)?;
            let filter = DecisionFilter {
                token_uid: Some(key.uid.as_str().to_owned()),
                token_owner: Some(key.owner.clone()),
                ..DecisionFilter::default()
            };
            let decisions = audit_search::decisions(conn, &filter, None, LAST_DECISIONS)?
                .into_iter()
                .filter(|d| d.token_type == row.token_type)
                .collect();
            let suspended = parties::suspended_emsps(conn)?;
            Ok(Some((row, usage, decisions, suspended)))
        })
        .await?;
    let Some((row, usage, decisions, suspended)) = found else {
        return Ok(None);
    };
    let suspended: HashSet<(String, String)> = suspended.into_iter().collect();
    let pushed = row.pushed()?;
    let policy = row.policy();
    let summary = summarize(row, &suspended, Utc::now())?;
    Ok(Some(TokenDetail {
        summary,
        pushed,
        policy,
        usage,
        decisions,
    }))
}

pub enum BulkOutcome {
    /// `matched` tokens hold the policy now; `changed` of them did not before (only those were
    /// written, logged and pushed).
    Applied {
        matched: usize,
        changed: usize,
    },
    Invalid(ValidationError),
}

/// Sets one token's hub policy for a caller restricted to `access`: another party's token is
/// [`PolicyOutcome::Unknown`], as an unknown one.
pub async fn set_policy_as(
    store: &Store,
    access: &PartyAccess,
    key: TokenKey,
    change: PolicyChange,
    actor: String,
) -> StoreResult<PolicyOutcome> {
    if !access.permits(&key.owner) {
        return Ok(PolicyOutcome::Unknown);
    }
    policy::set_policy(store, key, change, actor).await
}

/// Sets `change` on every token of `access`'s parties matching `filter`, in one write job: all
/// or none. (A filter naming another party is refused by the caller, which knows the field.)
pub async fn bulk_policy(
    store: &Store,
    access: &PartyAccess,
    mut filter: TokenFilter,
    change: PolicyChange,
    actor: String,
) -> StoreResult<BulkOutcome> {
    filter.within = access.clone();
    let subject = many_tokens_subject(access);
    if let Err(e) = change.validate() {
        return Ok(BulkOutcome::Invalid(e));
    }
    store
        .write(move |conn| {
            let rows = token_search::matching_for_update(conn, &filter)?;
            let now = Utc::now();
            let wanted = HubPolicy {
                blocked: change.blocked,
                block_reason: change.block_reason.clone().filter(|_| change.blocked),
                valid_from: change.valid_from,
                valid_until: change.valid_until,
                max_concurrent: change.max_concurrent,
                whitelist_override: change.whitelist_override,
                updated_at: None,
            };
            let mut changed = 0;
            for row in &rows {
                if token_search::policy_differs(row, &wanted) {
                    policy::apply(conn, row, &key_of(row)?, &change, &actor, now)?;
                    changed += 1;
                }
            }
            connections::record_change(
                conn,
                &Change {
                    actor: &actor,
                    action: "token.policy.bulk",
                    subject: &subject,
                    before: None,
                    after: Some(json!({
                        "filter": filter_json(&filter),
                        "matched": rows.len(),
                        "changed": changed,
                    })),
                },
                now.naive_utc(),
            )?;
            Ok(BulkOutcome::Applied {
                matched: rows.len(),
                changed,
            })
        })
        .await
}

/// The change-log subject of a change to many tokens at once (bulk policy, import): `tokens`, or
/// `tokens:BE*EMP,NL*ABC` for a restricted caller, so that its own audit read finds it.
pub fn many_tokens_subject(access: &PartyAccess) -> String {
    match access.to_stored() {
        None => "tokens".to_owned(),
        Some(list) => format!("tokens:{}", list.replace(' ', ",")),
    }
}

/// The change log's view of a filter (a uid is named only by whether it was given).
fn filter_json(f: &TokenFilter) -> Value {
    json!({
        "uid": f.uid.as_ref().map(|_| "(given)"),
        "contract_id": f.contract_id.as_ref().map(|_| "(given)"),
        "group_id": f.group_id,
        "party": f.owner.as_ref().map(ToString::to_string),
        "type": f.token_type.as_ref().map(TokenType::as_str),
        "valid": f.valid,
        "whitelist": f.whitelist.map(|w| w.as_str()),
        "blocked": f.blocked,
        "expiring_before": f.expiring_before,
        "changed_since": f.changed_since,
    })
}

/// The JSON view of a current use of a token.
pub fn usage_json(u: &ActiveUse) -> Value {
    json!({
        "kind": match u.kind { UseKind::Hold => "HOLD", UseKind::Session => "SESSION" },
        "authorization_reference": u.reference,
        "cpo": u.cpo.to_string(),
        "location_id": u.location_key,
        "evse_uids": u.evse_set,
        "counts_until": u.counts_until,
    })
}
