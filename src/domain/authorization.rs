//! Values the authorization decision works on: what was asked (`LocationRequest`), what the hub
//! knows of the token's current uses and of its owner, and what it can answer (`AllowedType`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{CiString36, PartyKey};

/// OCPI `AllowedType` (closed enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AllowedType {
    Allowed,
    Blocked,
    Expired,
    NoCredit,
    NotAllowed,
}

impl AllowedType {
    pub fn as_str(self) -> &'static str {
        match self {
            AllowedType::Allowed => "ALLOWED",
            AllowedType::Blocked => "BLOCKED",
            AllowedType::Expired => "EXPIRED",
            AllowedType::NoCredit => "NO_CREDIT",
            AllowedType::NotAllowed => "NOT_ALLOWED",
        }
    }
}

/// `LocationReferences` of an authorize request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationRequest {
    pub location_id: CiString36,
    pub evse_uids: Vec<CiString36>,
}

impl LocationRequest {
    /// EVSE uids as a canonical set (upper-case, sorted, unique), for comparing retries.
    pub fn evse_set(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.evse_uids.iter().map(|e| e.key().to_owned()).collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UseKind {
    /// An ALLOWED authorization not yet matched by a session.
    Hold,
    /// A session PENDING, ACTIVE or RESERVATION.
    Session,
}

/// One current use of a token, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveUse {
    pub kind: UseKind,
    pub reference: Option<String>,
    pub cpo: PartyKey,
    /// Upper-cased location id of the authorization that created a hold.
    pub location_key: Option<String>,
    /// Canonical EVSE set of that authorization (see [`LocationRequest::evse_set`]).
    pub evse_set: Vec<String>,
    /// The use stops counting at this instant (hold time, or stale-session timeout).
    pub counts_until: DateTime<Utc>,
}

/// What the hub knows of the token's owner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerState {
    pub suspended: bool,
    pub max_concurrent: Option<u32>,
    /// Whether the owner eMSP serves real-time authorization (a Tokens SENDER endpoint the hub
    /// can call). False for every party until the hub connects to partners' endpoints.
    pub realtime: bool,
    /// Party setting: forward `ALLOWED` tokens too, not only those the eMSP keeps to itself.
    pub forward_allowed: bool,
}

/// Why a decision came out as it did: stored in the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    UnknownToken,
    TokenInvalid,
    AdminBlock,
    OwnerSuspended,
    Expired,
    NotYetValid,
    ConcurrentUse,
    Allowed,
    RetryOfHold,
    /// Several eMSPs hold the uid and type and the request named none (OCPI 2002).
    AmbiguousOwner,
    /// The registry holds the token but the requester's OCPI version has no such token type
    /// (an `EMAID` token asked for over 2.2.1): answered as unknown.
    TypeUnknownToVersion,
    /// The token's eMSP and the requesting CPO have no roaming agreement (`hub.agreements =
    /// "explicit"`): answered as unknown.
    NoAgreement,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownToken => "unknown_token",
            Reason::TokenInvalid => "token_invalid",
            Reason::AdminBlock => "admin_block",
            Reason::OwnerSuspended => "owner_suspended",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::ConcurrentUse => "concurrent_use",
            Reason::Allowed => "allowed",
            Reason::RetryOfHold => "retry_of_hold",
            Reason::AmbiguousOwner => "ambiguous_owner",
            Reason::TypeUnknownToVersion => "type_unknown_to_version",
            Reason::NoAgreement => "no_agreement",
        }
    }

    /// Text for the driver (`AuthorizationInfo.info`), where the answer needs an explanation.
    pub fn info_text(self) -> Option<&'static str> {
        match self {
            Reason::ConcurrentUse => Some("A transaction with this token is already in progress"),
            Reason::NotYetValid => Some("This token is not valid yet"),
            Reason::OwnerSuspended => Some("The provider of this token is currently suspended"),
            Reason::AdminBlock => Some("This token is blocked"),
            _ => None,
        }
    }
}

impl Reason {
    /// The inverse of [`Reason::as_str`], for reading the audit trail back.
    pub fn from_db(value: &str) -> Option<Self> {
        [
            Reason::UnknownToken,
            Reason::TokenInvalid,
            Reason::AdminBlock,
            Reason::OwnerSuspended,
            Reason::Expired,
            Reason::NotYetValid,
            Reason::ConcurrentUse,
            Reason::Allowed,
            Reason::RetryOfHold,
            Reason::AmbiguousOwner,
            Reason::TypeUnknownToVersion,
            Reason::NoAgreement,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }
}

/// What the audit trail records as the answer: an `AllowedType`, or why there was none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditResult {
    Answered(AllowedType),
    /// HTTP 404 / OCPI 2004.
    Unknown,
    /// OCPI 2002: several eMSPs hold the token.
    NotEnoughInformation,
}

impl AuditResult {
    /// The stable string stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Answered(allowed) => allowed.as_str(),
            AuditResult::Unknown => "UNKNOWN",
            AuditResult::NotEnoughInformation => "NOT_ENOUGH_INFORMATION",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "UNKNOWN" => Some(AuditResult::Unknown),
            "NOT_ENOUGH_INFORMATION" => Some(AuditResult::NotEnoughInformation),
            other => [
                AllowedType::Allowed,
                AllowedType::Blocked,
                AllowedType::Expired,
                AllowedType::NoCredit,
                AllowedType::NotAllowed,
            ]
            .into_iter()
            .find(|a| a.as_str() == other)
            .map(AuditResult::Answered),
        }
    }
}
