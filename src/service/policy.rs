//! The hub's own policy of a token (docs/design.md §5 `tokens:write`): block or unblock with a
//! reason, the validity window, `max_concurrent`, the whitelist override. One unit of work sets it,
//! for every surface (the management API, tests): the policy, `effective_updated` and the pushes
//! to CPOs in one write job, with the change-log entry.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::token::{HubPolicy, TokenKey};
use crate::domain::ValidationError;
use crate::store::connections::{self, Change};
use crate::store::{tokens, Conn, Store, StoreResult};

use super::push;

/// The policy to set, whole (what is `None` is cleared). `updated_at` is the hub's to set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyChange {
    pub blocked: bool,
    /// Required when `blocked`.
    pub block_reason: Option<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub max_concurrent: Option<u32>,
    pub whitelist_override: Option<crate::domain::token::Whitelist>,
}

impl PolicyChange {
    /// The rules a policy must keep, each error naming its field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.blocked
            && self
                .block_reason
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
        {
            return Err(ValidationError::new(
                "block_reason",
                "is required to block a token",
            ));
        }
        if self.block_reason.as_deref().is_some_and(|r| r.len() > 255) {
            return Err(ValidationError::new(
                "block_reason",
                "must be at most 255 characters",
            ));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until) {
            if until <= from {
                return Err(ValidationError::new(
                    "valid_until",
                    "must be later than valid_from",
                ));
            }
        }
        Ok(())
    }
}

pub enum PolicyOutcome {
    /// Set; this many push entries were queued (one per CPO that gets the token).
    Set {
        pushes: usize,
    },
    Unknown,
    Invalid(ValidationError),
}

/// Sets the hub policy of the token `key` as `actor` (e.g. `admin:<client>`): the policy,
/// `policy_updated_at` and `effective_updated` (now), the change-log entry and the pushes to CPOs,
/// in one write job.
pub async fn set_policy(
    store: &Store,
    key: TokenKey,
    change: PolicyChange,
    actor: String,
) -> StoreResult<PolicyOutcome> {
    if let Err(e) = change.validate() {
        return Ok(PolicyOutcome::Invalid(e));
    }
    store
        .write(move |conn| {
            let Some(row) = tokens::find_by_key(conn, &key, true)? else {
                return Ok(PolicyOutcome::Unknown);
            };
            let now = Utc::now();
            let pushes = apply(conn, &row, &key, &change, &actor, now)?;
            Ok(PolicyOutcome::Set { pushes })
        })
        .await
}

/// Inside a write job: sets `change` on the token `row` (whose key is `key`), records the change
/// and queues its pushes; returns how many pushes were queued. The one place a policy is written,
/// for one token or for a bulk change.
pub fn apply(
    conn: &mut Conn<'_>,
    row: &tokens::TokenRow,
    key: &TokenKey,
    change: &PolicyChange,
    actor: &str,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let before = row.policy();
    let after = HubPolicy {
        blocked: change.blocked,
        block_reason: change.block_reason.clone().filter(|_| change.blocked),
        valid_from: change.valid_from,
        valid_until: change.valid_until,
        max_concurrent: change.max_concurrent,
        whitelist_override: change.whitelist_override,
        updated_at: Some(now),
    };
    tokens::set_policy(conn, row, &after, now)?;
    connections::record_change(
        conn,
        &Change {
            actor,
            action: "token.policy",
            subject: &format!("token:{}:{}:{}", key.owner, row.id, key.token_type.as_str()),
            before: Some(policy_json(&before)),
            after: Some(policy_json(&after)),
        },
        now.naive_utc(),
    )?;
    push::queue_token_change(conn, key, now)
}

/// The change log's view of a policy (no token uid: logs and the change log show none).
fn policy_json(p: &HubPolicy) -> serde_json::Value {
    json!({
        "blocked": p.blocked,
        "block_reason": p.block_reason,
        "valid_from": p.valid_from,
        "valid_until": p.valid_until,
        "max_concurrent": p.max_concurrent,
        "whitelist_override": p.whitelist_override.map(|w| w.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_names_the_field_it_breaks() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let cases = [
            (
                PolicyChange {
                    blocked: true,
                    ..PolicyChange::default()
                },
                Some("block_reason"),
            ),
            (
                PolicyChange {
                    blocked: true,
                    block_reason: Some("  ".into()),
                    ..PolicyChange::default()
                },
                Some("block_reason"),
            ),
            (
                PolicyChange {
                    blocked: true,
                    block_reason: Some("stolen card".into()),
                    ..PolicyChange::default()
                },
                None,
            ),
            (
                PolicyChange {
                    valid_from: Some(at("2026-02-01T00:00:00Z")),
                    valid_until: Some(at("2026-02-01T00:00:00Z")),
                    ..PolicyChange::default()
                },
                Some("valid_until"),
            ),
            (
                PolicyChange {
                    valid_from: Some(at("2026-02-01T00:00:00Z")),
                    valid_until: Some(at("2026-03-01T00:00:00Z")),
                    ..PolicyChange::default()
                },
                None,
            ),
        ];
        for (change, field) in cases {
            assert_eq!(
                change.validate().err().map(|e| e.field),
                field.map(str::to_owned),
                "{change:?}"
            );
        }
    }
}
