//! Real-time authorization as one atomic unit of work: load the decision's inputs (locking the
//! token on PostgreSQL), decide with the pure [`decide`], record the hold and the audit entry.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::AuthorizationConfig;
use crate::domain::authorization::{
    decide, AllowedType, Decision, DecisionInput, KnownToken, LocationRequest, Reason,
};
use crate::domain::datetime::storage_precision;
use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::token::{effective_token, TokenType};
use crate::store::audit::{self, AuditEntry};
use crate::store::tokens::TokenRow;
use crate::store::{parties, tokens, usage, Conn, StoreResult};

pub struct AuthorizeRequest {
    pub uid: TokenUid,
    pub token_type: TokenType,
    /// The eMSP named by the `OCPI-to-*` headers, if any.
    pub owner: Option<PartyKey>,
    pub requester: PartyKey,
    pub location: Option<LocationRequest>,
    pub request_id: Option<String>,
}

pub enum AuthorizeOutcome {
    /// No such token: HTTP 404 / OCPI 2004.
    Unknown,
    /// Several eMSPs hold this uid and type and no `OCPI-to-*` header says which: OCPI 2002.
    Ambiguous,
    Decided(Box<Decided>),
}

pub struct Decided {
    pub allowed: AllowedType,
    pub reason: Reason,
    pub owner: PartyKey,
    pub reference: Option<String>,
    row: TokenRow,
    owner_suspended: bool,
}

impl Decided {
    /// The token as `AuthorizationInfo` serves it (hub policy applied). Built by the caller, after
    /// the transaction: JSON work has no place on the single SQLite writer.
    pub fn effective_token(&self) -> StoreResult<Map<String, Value>> {
        Ok(effective_token(
            &self.row.pushed()?,
            self.row.last_updated_utc(),
            &self.row.policy(),
            self.owner_suspended,
        ))
    }
}

/// Runs inside the caller's transaction. `fresh_reference` becomes the authorization reference
/// if this request creates a new hold.
pub fn authorize(
    conn: &mut Conn<'_>,
    request: &AuthorizeRequest,
    settings: &AuthorizationConfig,
    now: DateTime<Utc>,
    fresh_reference: String,
) -> StoreResult<AuthorizeOutcome> {
    let candidates =
        tokens::find_by_uid(conn, request.uid.key(), request.token_type.as_str(), true)?;
    let row = match &request.owner {
        Some(owner) => candidates.into_iter().find(|r| {
            r.country_code == owner.country_code.key() && r.party_id == owner.party_id.key()
        }),
        None if candidates.len() > 1 => {
            record(
                conn,
                request,
                None,
                "NOT_ENOUGH_INFORMATION",
                "ambiguous_owner",
                None,
                now,
            )?;
            return Ok(AuthorizeOutcome::Ambiguous);
        }
        None => candidates.into_iter().next(),
    };
    let Some(row) = row else {
        let decision = decide(&DecisionInput {
            token: None,
            requester: &request.requester,
            location: request.location.as_ref(),
            usage: &[],
            now,
            default_max_concurrent: settings.default_max_concurrent,
        });
        debug_assert_eq!(decision, Decision::Unknown);
        record(
            conn,
            request,
            None,
            "UNKNOWN",
            decision.reason().as_str(),
            None,
            now,
        )?;
        return Ok(AuthorizeOutcome::Unknown);
    };

    let owner = PartyKey::parse(&row.country_code, &row.party_id)?;
    let owner_state = parties::owner_state(conn, &owner)?;
    let uses = usage::active_for_token(conn, row.id, now)?;
    let policy = row.policy();
    let decision = decide(&DecisionInput {
        token: Some(KnownToken {
            valid: row.valid,
            policy: &policy,
            owner: &owner_state,
        }),
        requester: &request.requester,
        location: request.location.as_ref(),
        usage: &uses,
        now,
        default_max_concurrent: settings.default_max_concurrent,
    });
    let reference = match &decision {
        Decision::Allowed {
            reuse_reference: Some(existing),
        } => Some(existing.clone()),
        Decision::Allowed {
            reuse_reference: None,
        } => {
            let evse_set = request
                .location
                .as_ref()
                .map(LocationRequest::evse_set)
                .unwrap_or_default();
            usage::insert_hold(
                conn,
                &usage::NewHold {
                    token_id: row.id,
                    reference: &fresh_reference,
                    cpo: &request.requester,
                    location_key: request.location.as_ref().map(|l| l.location_id.key()),
                    evse_set: &evse_set,
                    now,
                    until: now + chrono::Duration::seconds(settings.hold_seconds as i64),
                },
            )?;
            Some(fresh_reference)
        }
        _ => None,
    };
    let allowed = decision.allowed_type().unwrap_or(AllowedType::NotAllowed);
    record(
        conn,
        request,
        Some(&row),
        allowed.as_str(),
        decision.reason().as_str(),
        reference.as_deref(),
        now,
    )?;
    Ok(AuthorizeOutcome::Decided(Box::new(Decided {
        allowed,
        reason: decision.reason(),
        owner,
        reference,
        row,
        owner_suspended: owner_state.suspended,
    })))
}

fn record(
    conn: &mut Conn<'_>,
    request: &AuthorizeRequest,
    row: Option<&TokenRow>,
    result: &str,
    reason: &str,
    reference: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    audit::record(
        conn,
        &AuditEntry {
            decided_at: storage_precision(now),
            token_id: row.map(|r| r.id),
            token_country_code: row.map(|r| r.country_code.clone()).or_else(|| {
                request
                    .owner
                    .as_ref()
                    .map(|o| o.country_code.key().to_owned())
            }),
            token_party_id: row
                .map(|r| r.party_id.clone())
                .or_else(|| request.owner.as_ref().map(|o| o.party_id.key().to_owned())),
            token_uid: request.uid.as_str().to_owned(),
            token_type: request.token_type.as_str().to_owned(),
            requester_country_code: request.requester.country_code.key().to_owned(),
            requester_party_id: request.requester.party_id.key().to_owned(),
            location_id: request
                .location
                .as_ref()
                .map(|l| l.location_id.as_str().to_owned()),
            evse_uids: request.location.as_ref().map(|l| {
                l.evse_uids
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            result: result.to_owned(),
            reason: reason.to_owned(),
            authorization_reference: reference.map(str::to_owned),
            request_id: request.request_id.clone(),
        },
    )
}
