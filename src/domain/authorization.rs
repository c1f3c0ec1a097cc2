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

    /// The closed enum as an eMSP's answer spells it; anything else is no `AllowedType`.
    pub fn parse(value: &str) -> Option<Self> {
        [
            AllowedType::Allowed,
            AllowedType::Blocked,
            AllowedType::Expired,
            AllowedType::NoCredit,
            AllowedType::NotAllowed,
        ]
        .into_iter()
        .find(|a| a.as_str() == value)
    }
}

/// The eMSP an EMAID names by its provider prefix (ISO 15118 / eMI3: country code, then a
/// three-character provider id, each optionally followed by `-`): `NL-ABC-C12345678-X` and
/// `NLABCC12345678X` are both NL*ABC. Plug & Charge tokens are rarely pushed (OCPI recommends
/// not to), so this is how the hub finds whom to ask about one it does not know.
pub fn emaid_provider(emaid: &str) -> Option<PartyKey> {
    let bytes = emaid.as_bytes();
    let country = bytes.get(..2)?;
    let mut rest = &bytes[2..];
    if rest.first() == Some(&b'-') {
        rest = &rest[1..];
    }
    let provider = rest.get(..3)?;
    let after = &rest[3..];
    let contract = after.strip_prefix(b"-").unwrap_or(after);
    if !country.iter().all(u8::is_ascii_alphabetic)
        || !provider.iter().all(u8::is_ascii_alphanumeric)
        || contract.is_empty()
    {
        return None;
    }
    PartyKey::parse(
        std::str::from_utf8(country).ok()?,
        std::str::from_utf8(provider).ok()?,
    )
    .ok()
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
    /// Whether the owner eMSP serves real-time authorization: its platform registered a Tokens
    /// SENDER endpoint in the Credentials handshake and the hub holds a token to call it.
    pub realtime: bool,
    /// Party setting: forward `ALLOWED` tokens too, not only those the eMSP keeps to itself.
    pub forward_allowed: bool,
    /// Party setting: the hub may decide `NEVER` tokens of an eMSP without a real-time endpoint
    /// locally (otherwise they are `NOT_ALLOWED`).
    pub delegate_realtime: bool,
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
    /// The owner eMSP was asked in real time and its answer is the hub's.
    Forwarded,
    /// The matrix forwards the token, but the eMSP could not be asked or did not answer (breaker
    /// open, OFFLINE, over its bound, timeout, failure, malformed answer).
    EmspUnreachable,
    /// A `NEVER` token of an eMSP without a real-time endpoint (and no `delegate_realtime`).
    NoRealtimeAuthorization,
    /// `OCPI-to-*` names no party of the hub (OCPI 4001).
    UnknownReceiver,
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
            Reason::Forwarded => "forwarded",
            Reason::EmspUnreachable => "emsp_unreachable",
            Reason::NoRealtimeAuthorization => "no_realtime_authorization",
            Reason::UnknownReceiver => "unknown_receiver",
        }
    }

    /// Text for the driver (`AuthorizationInfo.info`), where the answer needs an explanation.
    pub fn info_text(self) -> Option<&'static str> {
        match self {
            Reason::ConcurrentUse => Some("A transaction with this token is already in progress"),
            Reason::NotYetValid => Some("This token is not valid yet"),
            Reason::OwnerSuspended => Some("The provider of this token is currently suspended"),
            Reason::AdminBlock => Some("This token is blocked"),
            Reason::EmspUnreachable => Some("eMSP not reachable"),
            Reason::NoRealtimeAuthorization => Some("eMSP offers no real-time authorization"),
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
            Reason::Forwarded,
            Reason::EmspUnreachable,
            Reason::NoRealtimeAuthorization,
            Reason::UnknownReceiver,
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
    /// OCPI 4001: `OCPI-to-*` names no party of the hub.
    UnknownReceiver,
    /// OCPI 4002: the eMSP asked about an unknown uid did not answer within its time budget.
    ForwardTimeout,
    /// OCPI 4003: the eMSP asked about an unknown uid is not connected, or the call failed.
    NotConnected,
}

impl AuditResult {
    /// The stable string stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Answered(allowed) => allowed.as_str(),
            AuditResult::Unknown => "UNKNOWN",
            AuditResult::NotEnoughInformation => "NOT_ENOUGH_INFORMATION",
            AuditResult::UnknownReceiver => "UNKNOWN_RECEIVER",
            AuditResult::ForwardTimeout => "FORWARD_TIMEOUT",
            AuditResult::NotConnected => "NOT_CONNECTED",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "UNKNOWN" => Some(AuditResult::Unknown),
            "NOT_ENOUGH_INFORMATION" => Some(AuditResult::NotEnoughInformation),
            "UNKNOWN_RECEIVER" => Some(AuditResult::UnknownReceiver),
            "FORWARD_TIMEOUT" => Some(AuditResult::ForwardTimeout),
            "NOT_CONNECTED" => Some(AuditResult::NotConnected),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emaid_names_its_provider() {
        let nl_abc = PartyKey::parse("NL", "ABC").ok();
        for (emaid, expect) in [
            ("NL-ABC-C12345678-X", nl_abc.clone()),
            ("NLABCC12345678X", nl_abc.clone()),
            ("nl-abc-c12345678", PartyKey::parse("nl", "abc").ok()),
            ("NL-ABC", None),
            ("NL-ABC-", None),
            ("N1-ABC-C1", None),
            ("NL-A_C-C1", None),
            ("", None),
        ] {
            assert_eq!(emaid_provider(emaid), expect, "{emaid}");
        }
    }

    #[test]
    fn allowed_type_parses_only_the_closed_enum() {
        assert_eq!(AllowedType::parse("NO_CREDIT"), Some(AllowedType::NoCredit));
        assert_eq!(AllowedType::parse("allowed"), None);
        assert_eq!(AllowedType::parse("MAYBE"), None);
    }
}
