//! Real-time authorization (docs/design.md §4, §6): read the decision's inputs (locking the token
//! on PostgreSQL), route with the pure [`registry::route`], and write the hold and the audit
//! entry atomically.
//!
//! A local decision reads, decides and writes in one write job, so one fsync serves it (and the
//! SQLite writer shares that fsync among concurrent decisions). A forwarded one leaves the first
//! job without writing anything, asks the owner eMSP outside any transaction or writer job
//! (`service::forwarding`), and writes in a second job that loads the token and its usage again:
//! whatever was committed meanwhile, by this instance or another, is seen before a hold is taken,
//! so an eMSP's ALLOWED for a token that is in use by then is NOT_ALLOWED (the audit keeps both).
//!
//! On PostgreSQL a job is first tried optimistically, outside a transaction: the inputs are read
//! in two statements (the tokens with their uses, the owner), and a new hold is written with its
//! audit entry in one statement that checks, once it holds the token's row lock, that the token
//! and its uses are still what the decision saw (`store::decision_pg`). Three round trips instead
//! of seven; a job that lost the race decides again, and after [`OPTIMISTIC_TRIES`] lost races
//! runs the classic way (one transaction, the token locked before its uses are read). The hub
//! runs these optimistic jobs in batches (`batch`): the reads of all the jobs queued together in
//! one statement, their writes in another.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::AuthorizationSettings;
use crate::domain::agreement::AgreementMode;
use crate::domain::authorization::{
    emaid_provider, AllowedType, AuditResult, LocationRequest, Reason,
};
use crate::domain::datetime::storage_precision;
use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::partner::RealtimeEndpoint;
use crate::domain::token::{effective_token, TokenType};
use crate::domain::version::OcpiVersion;
use crate::peers::forward::EmspAnswer;
use crate::registry::{self, Decision, DecisionInput, KnownToken, Route, UnknownRoute, UnknownUid};
use crate::store::audit::{self, AuditEntry};
use crate::store::decision_pg::{self, Guard, HoldRow, PendingWrite};
use crate::store::tokens::TokenRow;
use crate::store::usage::TokenUses;
use crate::store::{agreements, parties, tokens, usage, BackendKind, Conn, Store, StoreResult};

use super::forwarding::{ForwardRequest, Forwarded, Forwarder};

mod batch;
pub use batch::DecisionBatches;

#[derive(Clone)]
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
    /// The body as received (`LocationReferences`), forwarded to the eMSP unchanged.
    pub body: Option<Value>,
    /// The CPO's `X-Correlation-ID`, kept on a forwarded request.
    pub correlation_id: String,
}

pub enum AuthorizeOutcome {
    /// No such token: HTTP 404 / OCPI 2004.
    Unknown,
    /// The registry holds such a token, but the requester's version has no such type: answered
    /// as `Unknown`.
    Hidden,
    /// Several eMSPs hold this uid and type and no `OCPI-to-*` header says which: OCPI 2002.
    Ambiguous,
    /// OCPI 4001: `OCPI-to-*` names no party of the hub.
    UnknownReceiver(String),
    /// OCPI 4002: the eMSP asked about a uid the hub does not know did not answer in time.
    ForwardTimeout(String),
    /// OCPI 4003: the eMSP asked about a uid the hub does not know is not connected, or failed.
    NotConnected(String),
    Decided(Box<Decided>),
}

impl AuthorizeOutcome {
    /// What the audit trail (and the decisions metric) call this outcome.
    pub fn result(&self) -> AuditResult {
        match self {
            AuthorizeOutcome::Unknown | AuthorizeOutcome::Hidden => AuditResult::Unknown,
            AuthorizeOutcome::Ambiguous => AuditResult::NotEnoughInformation,
            AuthorizeOutcome::UnknownReceiver(_) => AuditResult::UnknownReceiver,
            AuthorizeOutcome::ForwardTimeout(_) => AuditResult::ForwardTimeout,
            AuthorizeOutcome::NotConnected(_) => AuditResult::NotConnected,
            AuthorizeOutcome::Decided(d) => AuditResult::Answered(d.allowed),
        }
    }
}

pub struct Decided {
    pub allowed: AllowedType,
    pub reason: Reason,
    pub owner: PartyKey,
    pub reference: Option<String>,
    /// The eMSP's answer when it was asked and its answer stands: its token, location and info
    /// are what the CPO gets.
    pub emsp_answer: Option<EmspAnswer>,
    /// `None` only for a uid the registry does not hold, answered by its eMSP.
    row: Option<TokenRow>,
    owner_suspended: bool,
}

impl Decided {
    /// The token as `AuthorizationInfo` serves it: the eMSP's when it answered, else the
    /// registry's with hub policy applied. Built by the caller, after the write: JSON work has no
    /// place on the single SQLite writer.
    pub fn effective_token(&self) -> StoreResult<Map<String, Value>> {
        if let Some(answer) = &self.emsp_answer {
            return Ok(answer.token.clone());
        }
        let Some(row) = &self.row else {
            return Err(crate::store::StoreError::Query(
                "a decision without a token or an eMSP answer".into(),
            ));
        };
        Ok(effective_token(
            &row.pushed()?,
            row.last_updated_utc(),
            row.effective_updated.and_utc(),
            &row.policy(),
            self.owner_suspended,
            Utc::now(),
        ))
    }
}

/// How many times a PostgreSQL job decides optimistically before it takes the token's lock
/// first: only requests for one token at the same moment lose the race, and each loss means
/// another decision on that token was committed.
const OPTIMISTIC_TRIES: usize = 3;

/// How a job keeps the decision atomic (docs/design.md §4 "Atomicity").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Inside one transaction (PostgreSQL) or writer job (SQLite), the token locked before its
    /// uses are read.
    Locked,
    /// PostgreSQL, outside a transaction: a new hold is written only if the token and its uses
    /// are unchanged (`store::decision_pg`).
    Optimistic,
}

/// Where a job's one write (an audit entry, or a hold with its audit entry) goes.
enum Writes<'a> {
    /// To the job's connection, as it decides.
    Now,
    /// Kept for its batch's one statement (PostgreSQL, optimistic: `batch`).
    Batched(&'a mut Option<PendingWrite>),
}

/// What a write job found.
enum Step {
    Done(AuthorizeOutcome),
    /// The owner eMSP decides; nothing was written yet.
    Forward {
        to: PartyKey,
        endpoint: Box<RealtimeEndpoint>,
        request: Box<AuthorizeRequest>,
    },
    /// Optimistic only: another decision on the token was committed after this one read it;
    /// nothing was written, decide again.
    Conflict(Box<AuthorizeRequest>),
}

/// What asking the eMSP gave, for the second job.
struct Asked {
    to: PartyKey,
    forwarded: Forwarded,
}

/// Decides `request` and records the decision (docs/design.md §6 "The authorize flow").
pub async fn authorize(
    store: &Store,
    batches: Option<&DecisionBatches>,
    settings: &AuthorizationSettings,
    forwarder: &Forwarder,
    request: AuthorizeRequest,
) -> StoreResult<AuthorizeOutcome> {
    // Generated here, not by the decision, which stays pure; upper-case so that the
    // case-insensitive match against sessions' references is a plain equality.
    let fresh_reference = uuid::Uuid::new_v4().to_string().to_uppercase();
    let step = decide(
        store,
        batches,
        settings,
        request,
        fresh_reference.clone(),
        None,
    )
    .await?;
    let (to, endpoint, request) = match step {
        Step::Done(outcome) => return Ok(outcome),
        Step::Forward {
            to,
            endpoint,
            request,
        } => (to, endpoint, request),
        Step::Conflict(_) => return Err(conflict_escaped()),
    };
    // Outside any transaction or writer job: a slow eMSP holds no connection and no writer.
    let forwarded = forwarder
        .forward(
            &to,
            &endpoint,
            &ForwardRequest {
                uid: request.uid.as_str(),
                token_type: request.token_type.as_str(),
                body: request.body.as_ref(),
                correlation_id: &request.correlation_id,
                requester: &request.requester,
            },
        )
        .await;
    let asked = Arc::new(Asked { to, forwarded });
    let step = decide(
        store,
        batches,
        settings,
        *request,
        fresh_reference,
        Some(asked),
    )
    .await?;
    match step {
        Step::Done(outcome) => Ok(outcome),
        // `run` forwards only when it has not asked yet.
        Step::Forward { .. } => Err(crate::store::StoreError::Query(
            "the second authorization job asked to forward again".into(),
        )),
        Step::Conflict(_) => Err(conflict_escaped()),
    }
}

fn conflict_escaped() -> crate::store::StoreError {
    crate::store::StoreError::Query("an optimistic authorization conflict escaped `decide`".into())
}

/// Runs one job of the flow: on PostgreSQL optimistically up to [`OPTIMISTIC_TRIES`] times, then
/// (or on SQLite, whose single writer serializes decisions anyway) in one locked job. Never
/// returns [`Step::Conflict`].
async fn decide(
    store: &Store,
    batches: Option<&DecisionBatches>,
    settings: &AuthorizationSettings,
    mut request: AuthorizeRequest,
    fresh_reference: String,
    asked: Option<Arc<Asked>>,
) -> StoreResult<Step> {
    if store.kind() == BackendKind::Postgres {
        for _ in 0..OPTIMISTIC_TRIES {
            let settings = settings.clone();
            let reference = fresh_reference.clone();
            let asked = asked.clone();
            if let Some(batches) = batches {
                match batches.decide(request, settings, reference, asked).await? {
                    Step::Conflict(back) => request = *back,
                    step => return Ok(step),
                }
                continue;
            }
            let step = store
                .write_autocommit(move |conn| {
                    run(
                        conn,
                        &mut Writes::Now,
                        None,
                        request,
                        &settings,
                        Utc::now(),
                        reference,
                        asked.as_deref(),
                        Mode::Optimistic,
                    )
                })
                .await?;
            match step {
                Step::Conflict(back) => request = *back,
                step => return Ok(step),
            }
        }
    }
    let settings = settings.clone();
    // A job that forwards wrote nothing; the eMSP is asked at once instead of after the group
    // commit's fsync (the second job loads the token again before it writes anything).
    store
        .write_releasing(
            move |conn| {
                run(
                    conn,
                    &mut Writes::Now,
                    None,
                    request,
                    &settings,
                    Utc::now(),
                    fresh_reference,
                    asked.as_deref(),
                    Mode::Locked,
                )
            },
            |step| matches!(step, Step::Forward { .. }),
        )
        .await
}

/// Runs inside one write job: load the inputs, route, and (unless forwarded) write the outcome.
/// `asked`: the eMSP was asked already (the second job); its answer decides where the matrix
/// still forwards.
#[expect(
    clippy::too_many_arguments,
    reason = "a job's inputs: the request, where its inputs come from and where its write goes"
)]
fn run(
    conn: &mut Conn<'_>,
    writes: &mut Writes<'_>,
    prefetched: Option<Vec<TokenUses>>,
    request: AuthorizeRequest,
    settings: &AuthorizationSettings,
    now: DateTime<Utc>,
    fresh_reference: String,
    asked: Option<&Asked>,
    mode: Mode,
) -> StoreResult<Step> {
    // Optimistic: the uses come with the tokens (one round trip) and are checked again at the
    // write. Locked: they are read after the lock, below.
    let (candidates, mut preloaded) = match mode {
        Mode::Locked => (
            tokens::find_by_uid(conn, request.uid.key(), request.token_type.as_str(), true)?,
            Vec::new(),
        ),
        Mode::Optimistic => {
            let found = match prefetched {
                Some(found) => found,
                None => usage::candidates_with_uses(
                    conn,
                    request.uid.key(),
                    request.token_type.as_str(),
                    now,
                )?,
            };
            let mut rows = Vec::with_capacity(found.len());
            let mut uses = Vec::with_capacity(found.len());
            for f in found {
                uses.push((f.row.id, f.uses, f.use_ids, f.owner));
                rows.push(f.row);
            }
            (rows, uses)
        }
    };
    if !candidates.is_empty() && !request.version.knows_token_type(&request.token_type) {
        record(
            conn,
            writes,
            &request,
            None,
            AuditResult::Unknown,
            Reason::TypeUnknownToVersion,
            None,
            now,
            asked,
        )?;
        return Ok(Step::Done(AuthorizeOutcome::Hidden));
    }
    let (candidates, refused) =
        agreed_candidates(conn, settings.agreements, &request.requester, candidates)?;
    let row = match &request.owner {
        Some(owner) => candidates.into_iter().find(|r| {
            r.country_code == owner.country_code.key() && r.party_id == owner.party_id.key()
        }),
        None if candidates.len() > 1 => {
            record(
                conn,
                writes,
                &request,
                None,
                AuditResult::NotEnoughInformation,
                Reason::AmbiguousOwner,
                None,
                now,
                asked,
            )?;
            return Ok(Step::Done(AuthorizeOutcome::Ambiguous));
        }
        None => candidates.into_iter().next(),
    };
    let Some(row) = row else {
        // A token the CPO may not deal with is unknown to it, audited as such.
        let refused = refused.iter().find(|r| {
            request.owner.as_ref().is_none_or(|owner| {
                r.country_code == owner.country_code.key() && r.party_id == owner.party_id.key()
            })
        });
        if let Some(refused) = refused {
            record(
                conn,
                writes,
                &request,
                Some(refused),
                AuditResult::Unknown,
                Reason::NoAgreement,
                None,
                now,
                asked,
            )?;
            return Ok(Step::Done(AuthorizeOutcome::Unknown));
        }
        return unknown_uid(conn, writes, request, now, asked, settings.agreements);
    };

    let owner = PartyKey::parse(&row.country_code, &row.party_id)?;
    let (uses, use_ids, found) = match preloaded.iter().position(|(id, ..)| *id == row.id) {
        Some(at) => {
            let (_, uses, ids, found) = preloaded.swap_remove(at);
            (uses, ids, found)
        }
        None => (
            usage::active_for_token(conn, row.id, now)?,
            Vec::new(),
            None,
        ),
    };
    let found = match found {
        Some(found) => found.unwrap_or_default(),
        None => parties::owner(conn, &owner)?.unwrap_or_default(),
    };
    let policy = row.policy();
    let input = DecisionInput {
        token: Some(KnownToken {
            valid: row.valid,
            whitelist: row.effective_whitelist(),
            policy: &policy,
            emsp: &owner,
            owner: &found.state,
        }),
        requester: &request.requester,
        location: request.location.as_ref(),
        usage: &uses,
        now,
        default_max_concurrent: settings.default_max_concurrent,
    };
    let (decision, emsp_answer) = match (registry::route(&input), asked) {
        (Route::Local(decision), _) => (decision, None),
        (Route::Forward { to, if_unreachable }, None) => match found.realtime {
            Some(endpoint) => {
                return Ok(Step::Forward {
                    to,
                    endpoint: Box::new(endpoint),
                    request: Box::new(request),
                })
            }
            None => (if_unreachable, None),
        },
        (Route::Forward { if_unreachable, .. }, Some(asked)) => match asked.forwarded.answer() {
            Some(answer) if answer.allowed == AllowedType::Allowed => (
                Decision::Allowed {
                    reuse_reference: None,
                },
                Some(answer.clone()),
            ),
            Some(answer) => (
                Decision::Refused {
                    allowed: answer.allowed,
                    reason: Reason::Forwarded,
                },
                Some(answer.clone()),
            ),
            None => (if_unreachable, None),
        },
    };
    let reason = if emsp_answer.is_some() {
        Reason::Forwarded
    } else {
        decision.reason()
    };
    let reference = match &decision {
        Decision::Allowed {
            reuse_reference: Some(existing),
        } => Some(existing.clone()),
        Decision::Allowed {
            reuse_reference: None,
        } => {
            // The eMSP's reference is the one the CPO repeats in its session; the hold is found by
            // it case-insensitively, as sessions' references are matched.
            let reference = emsp_answer
                .as_ref()
                .and_then(|a| a.authorization_reference.clone())
                .unwrap_or(fresh_reference);
            let evse_set = request
                .location
                .as_ref()
                .map(LocationRequest::evse_set)
                .unwrap_or_default();
            let hold = usage::NewHold {
                token_id: row.id,
                reference: &reference.to_ascii_uppercase(),
                cpo: &request.requester,
                location_key: request.location.as_ref().map(|l| l.location_id.key()),
                evse_set: &evse_set,
                now,
                until: now + settings.hold,
            };
            if mode == Mode::Optimistic {
                let guard = Guard {
                    token_id: row.id,
                    last_updated: row.last_updated,
                    effective_updated: row.effective_updated,
                    policy_updated_at: row.policy_updated_at,
                    now: storage_precision(now),
                    use_ids,
                };
                let entry = audit_entry(
                    &request,
                    Some(&row),
                    AuditResult::Answered(AllowedType::Allowed),
                    reason,
                    Some(&reference),
                    now,
                    asked,
                );
                match writes {
                    Writes::Now => {
                        if !decision_pg::hold_and_record(conn, &guard, &hold, &entry)? {
                            return Ok(Step::Conflict(Box::new(request)));
                        }
                    }
                    // The batch turns a failed guard into a conflict (`batch`).
                    Writes::Batched(kept) => {
                        **kept = Some(PendingWrite::Hold {
                            hold: Box::new(HoldRow::new(&hold)),
                            guard,
                            audit: entry,
                        });
                    }
                }
                return Ok(decided(
                    AllowedType::Allowed,
                    reason,
                    owner,
                    Some(reference),
                    emsp_answer,
                    row,
                    found.state.suspended,
                ));
            }
            usage::insert_hold(conn, &hold)?;
            Some(reference)
        }
        _ => None,
    };
    let allowed = decision.allowed_type().unwrap_or(AllowedType::NotAllowed);
    record(
        conn,
        writes,
        &request,
        Some(&row),
        AuditResult::Answered(allowed),
        reason,
        reference.as_deref(),
        now,
        asked,
    )?;
    Ok(decided(
        allowed,
        reason,
        owner,
        reference,
        emsp_answer,
        row,
        found.state.suspended,
    ))
}

fn decided(
    allowed: AllowedType,
    reason: Reason,
    owner: PartyKey,
    reference: Option<String>,
    emsp_answer: Option<EmspAnswer>,
    row: TokenRow,
    owner_suspended: bool,
) -> Step {
    Step::Done(AuthorizeOutcome::Decided(Box::new(Decided {
        allowed,
        reason,
        owner,
        reference,
        emsp_answer,
        row: Some(row),
        owner_suspended,
    })))
}

/// Splits `candidates` into the tokens whose eMSP may deal with `cpo` under `mode` and the
/// others (docs/design.md §6 "Roaming agreements").
fn agreed_candidates(
    conn: &mut Conn<'_>,
    mode: AgreementMode,
    cpo: &PartyKey,
    candidates: Vec<TokenRow>,
) -> StoreResult<(Vec<TokenRow>, Vec<TokenRow>)> {
    if mode == AgreementMode::Open {
        return Ok((candidates, Vec::new()));
    }
    let mut agreed = Vec::with_capacity(candidates.len());
    let mut refused = Vec::new();
    for row in candidates {
        let emsp = PartyKey::parse(&row.country_code, &row.party_id)?;
        if agreements::may_deal(conn, mode, cpo, &emsp)? {
            agreed.push(row);
        } else {
            refused.push(row);
        }
    }
    Ok((agreed, refused))
}

/// A uid the registry does not hold (docs/design.md §6, last row of the matrix): asked of the
/// eMSP the `OCPI-to-*` headers name, else of the one an EMAID's provider prefix names.
fn unknown_uid(
    conn: &mut Conn<'_>,
    writes: &mut Writes<'_>,
    request: AuthorizeRequest,
    now: DateTime<Utc>,
    asked: Option<&Asked>,
    agreements_mode: AgreementMode,
) -> StoreResult<Step> {
    let Some(asked) = asked else {
        // A type the requester's version cannot name is unknown to it (docs/design.md §8 "OCPI
        // 2.2.1"): an EMAID asked over 2.2.1 is not forwarded either.
        if !request.version.knows_token_type(&request.token_type) {
            record(
                conn,
                writes,
                &request,
                None,
                AuditResult::Unknown,
                Reason::TypeUnknownToVersion,
                None,
                now,
                None,
            )?;
            return Ok(Step::Done(AuthorizeOutcome::Unknown));
        }
        let by_headers = request.owner.is_some();
        let addressed = request.owner.clone().or_else(|| {
            (request.token_type.as_str() == "EMAID")
                .then(|| emaid_provider(request.uid.as_str()))
                .flatten()
        });
        let found = match &addressed {
            Some(key) => parties::owner(conn, key)?,
            None => None,
        };
        // An eMSP the CPO may not deal with is not asked on its behalf: unknown to it.
        if let (Some(key), Some(_)) = (&addressed, &found) {
            if !agreements::may_deal(conn, agreements_mode, &request.requester, key)? {
                record(
                    conn,
                    writes,
                    &request,
                    None,
                    AuditResult::Unknown,
                    Reason::NoAgreement,
                    None,
                    now,
                    None,
                )?;
                return Ok(Step::Done(AuthorizeOutcome::Unknown));
            }
        }
        let route = registry::route_unknown(&UnknownUid {
            addressed: addressed.as_ref(),
            by_headers,
            owner: found.as_ref().map(|f| &f.state),
        });
        let named = addressed
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let (result, reason, outcome) = match route {
            UnknownRoute::Forward { to } => match found.and_then(|f| f.realtime) {
                Some(endpoint) => {
                    return Ok(Step::Forward {
                        to,
                        endpoint: Box::new(endpoint),
                        request: Box::new(request),
                    })
                }
                None => (
                    AuditResult::Unknown,
                    Reason::UnknownToken,
                    AuthorizeOutcome::Unknown,
                ),
            },
            UnknownRoute::Unknown => (
                AuditResult::Unknown,
                Reason::UnknownToken,
                AuthorizeOutcome::Unknown,
            ),
            UnknownRoute::UnknownReceiver => (
                AuditResult::UnknownReceiver,
                Reason::UnknownReceiver,
                AuthorizeOutcome::UnknownReceiver(format!(
                    "OCPI-to-* names no eMSP of the hub: {named}"
                )),
            ),
            UnknownRoute::NotConnected => (
                AuditResult::NotConnected,
                Reason::OwnerSuspended,
                AuthorizeOutcome::NotConnected(format!("{named} is suspended")),
            ),
        };
        record(
            conn, writes, &request, None, result, reason, None, now, None,
        )?;
        return Ok(Step::Done(outcome));
    };
    let why = asked.forwarded.why(&asked.to);
    let (result, reason, reference, outcome) = match asked.forwarded.answer() {
        // No hold: a hold belongs to a token row and the registry has none for this uid (no
        // session could take it over either). The eMSP that answered keeps its own count.
        Some(answer) => (
            AuditResult::Answered(answer.allowed),
            Reason::Forwarded,
            answer.authorization_reference.clone(),
            AuthorizeOutcome::Decided(Box::new(Decided {
                allowed: answer.allowed,
                reason: Reason::Forwarded,
                owner: asked.to.clone(),
                reference: answer.authorization_reference.clone(),
                emsp_answer: Some(answer.clone()),
                row: None,
                owner_suspended: false,
            })),
        ),
        None if asked.forwarded.is_unknown_token() => (
            AuditResult::Unknown,
            Reason::UnknownToken,
            None,
            AuthorizeOutcome::Unknown,
        ),
        None if asked.forwarded.is_timeout() => (
            AuditResult::ForwardTimeout,
            Reason::EmspUnreachable,
            None,
            AuthorizeOutcome::ForwardTimeout(why),
        ),
        None => (
            AuditResult::NotConnected,
            Reason::EmspUnreachable,
            None,
            AuthorizeOutcome::NotConnected(why),
        ),
    };
    record(
        conn,
        writes,
        &request,
        None,
        result,
        reason,
        reference.as_deref(),
        now,
        Some(asked),
    )?;
    Ok(Step::Done(outcome))
}

#[expect(
    clippy::too_many_arguments,
    reason = "one audit row's columns, each from a different stage of the decision"
)]
fn record(
    conn: &mut Conn<'_>,
    writes: &mut Writes<'_>,
    request: &AuthorizeRequest,
    row: Option<&TokenRow>,
    result: AuditResult,
    reason: Reason,
    reference: Option<&str>,
    now: DateTime<Utc>,
    asked: Option<&Asked>,
) -> StoreResult<()> {
    let entry = audit_entry(request, row, result, reason, reference, now, asked);
    match writes {
        Writes::Now => audit::record(conn, &entry),
        Writes::Batched(kept) => {
            **kept = Some(PendingWrite::Audit(entry));
            Ok(())
        }
    }
}

fn audit_entry(
    request: &AuthorizeRequest,
    row: Option<&TokenRow>,
    result: AuditResult,
    reason: Reason,
    reference: Option<&str>,
    now: DateTime<Utc>,
    asked: Option<&Asked>,
) -> AuditEntry {
    AuditEntry {
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
        forwarded_to: asked.map(|a| a.to.to_string()),
        forward_ms: asked.and_then(|a| a.forwarded.elapsed_ms()),
        forward_outcome: asked.map(|a| a.forwarded.audit()),
    }
}
