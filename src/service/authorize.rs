//! Real-time authorization (docs/design.md §4, §6): read the decision's inputs (locking the token
//! on PostgreSQL), route with the pure [`registry::route`], and write the hold and the audit
//! entry atomically.
//!
//! A local decision reads, decides and writes in one write job, so one fsync serves it (and the
//! SQLite writer shares that fsync among concurrent decisions). A forwarded one leaves the first
//! job without writing anything, asks the owner eMSP outside any transaction or writer job, and
//! writes in a second job that loads the usage again: whatever was committed meanwhile, by this
//! instance or another, is seen before a hold is taken.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::AuthorizationSettings;
use crate::domain::authorization::{AllowedType, AuditResult, LocationRequest, Reason};
use crate::domain::datetime::storage_precision;
use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::token::{effective_token, TokenType};
use crate::domain::version::OcpiVersion;
use crate::registry::{self, Decision, DecisionInput, KnownToken, Route};
use crate::store::audit::{self, AuditEntry};
use crate::store::tokens::TokenRow;
use crate::store::{parties, tokens, usage, Conn, Store, StoreResult};

pub struct AuthorizeRequest {
    pub uid: TokenUid,
    pub token_type: TokenType,
    /// The eMSP named by the `OCPI-to-*` headers, if any.
    pub owner: Option<PartyKey>,
    pub requester: PartyKey,
    pub location: Option<LocationRequest>,
    pub request_id: Option<String>,
    /// The version asked over: a token whose type it cannot name is unknown to it.
    pub version: OcpiVersion,
}

pub enum AuthorizeOutcome {
    /// No such token: HTTP 404 / OCPI 2004.
    Unknown,
    /// The registry holds such a token, but the requester's version has no such type: answered
    /// as `Unknown`.
    Hidden,
    /// Several eMSPs hold this uid and type and no `OCPI-to-*` header says which: OCPI 2002.
    Ambiguous,
    Decided(Box<Decided>),
}

impl AuthorizeOutcome {
    /// What the audit trail (and the decisions metric) call this outcome.
    pub fn result(&self) -> AuditResult {
        match self {
            AuthorizeOutcome::Unknown | AuthorizeOutcome::Hidden => AuditResult::Unknown,
            AuthorizeOutcome::Ambiguous => AuditResult::NotEnoughInformation,
            AuthorizeOutcome::Decided(d) => AuditResult::Answered(d.allowed),
        }
    }
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
    /// the write: JSON work has no place on the single SQLite writer.
    pub fn effective_token(&self) -> StoreResult<Map<String, Value>> {
        Ok(effective_token(
            &self.row.pushed()?,
            self.row.last_updated_utc(),
            self.row.effective_updated.and_utc(),
            &self.row.policy(),
            self.owner_suspended,
            Utc::now(),
        ))
    }
}

/// What the first write job found.
enum Step {
    Done(AuthorizeOutcome),
    /// The owner eMSP decides; nothing was written yet.
    Forward {
        to: PartyKey,
        request: Box<AuthorizeRequest>,
    },
}

/// Decides `request` and records the decision (docs/design.md §6 "The authorize flow").
pub async fn authorize(
    store: &Store,
    settings: &AuthorizationSettings,
    request: AuthorizeRequest,
) -> StoreResult<AuthorizeOutcome> {
    // Generated here, not by the decision, which stays pure; upper-case so that the
    // case-insensitive match against sessions' references is a plain equality.
    let fresh_reference = uuid::Uuid::new_v4().to_string().to_uppercase();
    let first_settings = settings.clone();
    let reference = fresh_reference.clone();
    let step = store
        .write(move |conn| {
            run(
                conn,
                request,
                &first_settings,
                Utc::now(),
                reference,
                May::Forward,
            )
        })
        .await?;
    match step {
        Step::Done(outcome) => Ok(outcome),
        Step::Forward { to, request } => {
            // Forwarding to partners is not built yet (no party has a real-time endpoint, so
            // the registry never routes here today): the hub answers for the eMSP, in a second
            // job that loads the usage again under the lock, as a forwarded answer will be.
            tracing::debug!(emsp = %to, "no forwarding client yet: deciding locally");
            let settings = settings.clone();
            let step = store
                .write(move |conn| {
                    run(
                        conn,
                        *request,
                        &settings,
                        Utc::now(),
                        fresh_reference,
                        May::DecideLocally,
                    )
                })
                .await?;
            match step {
                Step::Done(outcome) => Ok(outcome),
                Step::Forward { .. } => unreachable!("the second job decides locally"),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum May {
    Forward,
    DecideLocally,
}

/// Runs inside one write job: load the inputs, route, and (unless forwarded) write the outcome.
fn run(
    conn: &mut Conn<'_>,
    request: AuthorizeRequest,
    settings: &AuthorizationSettings,
    now: DateTime<Utc>,
    fresh_reference: String,
    may: May,
) -> StoreResult<Step> {
    let candidates =
        tokens::find_by_uid(conn, request.uid.key(), request.token_type.as_str(), true)?;
    if !candidates.is_empty() && !request.version.knows_token_type(&request.token_type) {
        record(
            conn,
            &request,
            None,
            AuditResult::Unknown,
            Reason::TypeUnknownToVersion,
            None,
            now,
        )?;
        return Ok(Step::Done(AuthorizeOutcome::Hidden));
    }
    let row = match &request.owner {
        Some(owner) => candidates.into_iter().find(|r| {
            r.country_code == owner.country_code.key() && r.party_id == owner.party_id.key()
        }),
        None if candidates.len() > 1 => {
            record(
                conn,
                &request,
                None,
                AuditResult::NotEnoughInformation,
                Reason::AmbiguousOwner,
                None,
                now,
            )?;
            return Ok(Step::Done(AuthorizeOutcome::Ambiguous));
        }
        None => candidates.into_iter().next(),
    };
    let Some(row) = row else {
        let decision = registry::decide(&DecisionInput {
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
            &request,
            None,
            AuditResult::Unknown,
            decision.reason(),
            None,
            now,
        )?;
        return Ok(Step::Done(AuthorizeOutcome::Unknown));
    };

    let owner = PartyKey::parse(&row.country_code, &row.party_id)?;
    let owner_state = parties::owner_state(conn, &owner)?;
    let uses = usage::active_for_token(conn, row.id, now)?;
    let policy = row.policy();
    let input = DecisionInput {
        token: Some(KnownToken {
            valid: row.valid,
            whitelist: row.effective_whitelist(),
            policy: &policy,
            emsp: &owner,
            owner: &owner_state,
        }),
        requester: &request.requester,
        location: request.location.as_ref(),
        usage: &uses,
        now,
        default_max_concurrent: settings.default_max_concurrent,
    };
    let decision = match (registry::route(&input), may) {
        (Route::Forward { to }, May::Forward) => {
            return Ok(Step::Forward {
                to,
                request: Box::new(request),
            })
        }
        (Route::Local(decision), _) => decision,
        (Route::Forward { .. }, May::DecideLocally) => registry::decide(&input),
    };
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
                    until: now + settings.hold,
                },
            )?;
            Some(fresh_reference)
        }
        _ => None,
    };
    let allowed = decision.allowed_type().unwrap_or(AllowedType::NotAllowed);
    record(
        conn,
        &request,
        Some(&row),
        AuditResult::Answered(allowed),
        decision.reason(),
        reference.as_deref(),
        now,
    )?;
    Ok(Step::Done(AuthorizeOutcome::Decided(Box::new(Decided {
        allowed,
        reason: decision.reason(),
        owner,
        reference,
        row,
        owner_suspended: owner_state.suspended,
    }))))
}

fn record(
    conn: &mut Conn<'_>,
    request: &AuthorizeRequest,
    row: Option<&TokenRow>,
    result: AuditResult,
    reason: Reason,
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
            result,
            reason,
            authorization_reference: reference.map(str::to_owned),
            request_id: request.request_id.clone(),
        },
    )
}
