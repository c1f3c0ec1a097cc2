//! The authorization decision (DESIGN §4): a pure function of its inputs. No clock, no I/O; the
//! caller loads the inputs and stores the outcome in the same transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{CiString36, PartyKey};
use super::token::HubPolicy;

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
}

/// A known token as the decision sees it.
#[derive(Clone, Copy, Debug)]
pub struct KnownToken<'a> {
    pub valid: bool,
    pub policy: &'a HubPolicy,
    pub owner: &'a OwnerState,
}

#[derive(Clone, Copy, Debug)]
pub struct DecisionInput<'a> {
    /// `None`: no such token in the registry.
    pub token: Option<KnownToken<'a>>,
    pub requester: &'a PartyKey,
    pub location: Option<&'a LocationRequest>,
    pub usage: &'a [ActiveUse],
    pub now: DateTime<Utc>,
    /// Used when neither the token's policy nor its owner sets `max_concurrent`.
    pub default_max_concurrent: u32,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// HTTP 404 / OCPI 2004.
    Unknown,
    Refused {
        allowed: AllowedType,
        reason: Reason,
    },
    /// `ALLOWED`: with a fresh reference that the caller generates and records as a hold, or
    /// the reference of the hold that this request retries.
    Allowed { reuse_reference: Option<String> },
}

impl Decision {
    pub fn allowed_type(&self) -> Option<AllowedType> {
        match self {
            Decision::Unknown => None,
            Decision::Refused { allowed, .. } => Some(*allowed),
            Decision::Allowed { .. } => Some(AllowedType::Allowed),
        }
    }

    pub fn reason(&self) -> Reason {
        match self {
            Decision::Unknown => Reason::UnknownToken,
            Decision::Refused { reason, .. } => *reason,
            Decision::Allowed {
                reuse_reference: Some(_),
            } => Reason::RetryOfHold,
            Decision::Allowed {
                reuse_reference: None,
            } => Reason::Allowed,
        }
    }
}

fn refuse(allowed: AllowedType, reason: Reason) -> Decision {
    Decision::Refused { allowed, reason }
}

/// DESIGN §4, first match wins.
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    let Some(token) = input.token else {
        return Decision::Unknown;
    };
    if !token.valid {
        return refuse(AllowedType::Blocked, Reason::TokenInvalid);
    }
    if token.policy.blocked {
        return refuse(AllowedType::Blocked, Reason::AdminBlock);
    }
    if token.owner.suspended {
        return refuse(AllowedType::NotAllowed, Reason::OwnerSuspended);
    }
    if matches!(token.policy.valid_until, Some(until) if input.now >= until) {
        return refuse(AllowedType::Expired, Reason::Expired);
    }
    if matches!(token.policy.valid_from, Some(from) if input.now < from) {
        return refuse(AllowedType::NotAllowed, Reason::NotYetValid);
    }

    let counting = || input.usage.iter().filter(|u| u.counts_until > input.now);
    if let Some(reference) = retried_hold(input, counting()) {
        return Decision::Allowed {
            reuse_reference: Some(reference),
        };
    }
    let limit = token
        .policy
        .max_concurrent
        .or(token.owner.max_concurrent)
        .unwrap_or(input.default_max_concurrent);
    if counting().count() >= limit as usize {
        return refuse(AllowedType::NotAllowed, Reason::ConcurrentUse);
    }
    Decision::Allowed {
        reuse_reference: None,
    }
}

/// A retry is the same CPO asking again for the same token at the same location and the same
/// non-empty EVSE set while the first answer's hold still counts: one EVSE cannot run two
/// transactions, so it gets the same answer. Without EVSE uids nothing identifies a retry.
fn retried_hold<'a>(
    input: &DecisionInput<'_>,
    mut counting: impl Iterator<Item = &'a ActiveUse>,
) -> Option<String> {
    let location = input.location?;
    let evses = location.evse_set();
    if evses.is_empty() {
        return None;
    }
    counting
        .find(|u| {
            u.kind == UseKind::Hold
                && &u.cpo == input.requester
                && u.location_key.as_deref() == Some(location.location_id.key())
                && u.evse_set == evses
        })
        .and_then(|u| u.reference.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap()
    }
    fn cpo() -> PartyKey {
        PartyKey::parse("DE", "CPO").unwrap()
    }
    fn other_cpo() -> PartyKey {
        PartyKey::parse("FR", "XYZ").unwrap()
    }
    fn loc(id: &str, evses: &[&str]) -> LocationRequest {
        LocationRequest {
            location_id: CiString36::parse("location_id", id).unwrap(),
            evse_uids: evses
                .iter()
                .map(|e| CiString36::parse("evse_uids", e).unwrap())
                .collect(),
        }
    }
    fn hold(cpo: PartyKey, location: Option<&LocationRequest>, age_s: i64) -> ActiveUse {
        ActiveUse {
            kind: UseKind::Hold,
            reference: Some("ref-1".into()),
            cpo,
            location_key: location.map(|l| l.location_id.key().to_owned()),
            evse_set: location.map(|l| l.evse_set()).unwrap_or_default(),
            counts_until: now() - Duration::seconds(age_s) + Duration::seconds(120),
        }
    }
    fn session(stale_in_s: i64) -> ActiveUse {
        ActiveUse {
            kind: UseKind::Session,
            reference: None,
            cpo: cpo(),
            location_key: None,
            evse_set: vec![],
            counts_until: now() + Duration::seconds(stale_in_s),
        }
    }

    struct Case {
        name: &'static str,
        known: bool,
        valid: bool,
        policy: HubPolicy,
        owner: OwnerState,
        location: Option<LocationRequest>,
        usage: Vec<ActiveUse>,
        default_max: u32,
        expect: Decision,
    }

    fn base(name: &'static str, expect: Decision) -> Case {
        Case {
            name,
            known: true,
            valid: true,
            policy: HubPolicy::default(),
            owner: OwnerState::default(),
            location: None,
            usage: vec![],
            default_max: 1,
            expect,
        }
    }

    const ALLOW_NEW: Decision = Decision::Allowed {
        reuse_reference: None,
    };

    fn refused(allowed: AllowedType, reason: Reason) -> Decision {
        Decision::Refused { allowed, reason }
    }

    #[test]
    fn decision_table() {
        let at = |h: i64| Some(now() + Duration::hours(h));
        let l1 = loc("LOC1", &["EVSE-1", "evse-2"]);
        let l1_reordered = loc("loc1", &["EVSE-2", "EVSE-1"]);
        let l1_other_evse = loc("LOC1", &["EVSE-3"]);
        let l1_no_evse = loc("LOC1", &[]);

        let cases = vec![
            // 1. unknown
            Case {
                known: false,
                ..base("unknown token", Decision::Unknown)
            },
            // 2. valid = false
            Case {
                valid: false,
                ..base(
                    "valid=false is BLOCKED",
                    refused(AllowedType::Blocked, Reason::TokenInvalid),
                )
            },
            Case {
                valid: false,
                policy: HubPolicy {
                    valid_until: at(-1),
                    ..HubPolicy::default()
                },
                ..base(
                    "valid=false beats expiry",
                    refused(AllowedType::Blocked, Reason::TokenInvalid),
                )
            },
            // 3. admin block, suspended owner
            Case {
                policy: HubPolicy {
                    blocked: true,
                    block_reason: Some("stolen".into()),
                    ..HubPolicy::default()
                },
                ..base(
                    "admin block is BLOCKED",
                    refused(AllowedType::Blocked, Reason::AdminBlock),
                )
            },
            Case {
                owner: OwnerState {
                    suspended: true,
                    max_concurrent: None,
                },
                ..base(
                    "suspended eMSP is NOT_ALLOWED",
                    refused(AllowedType::NotAllowed, Reason::OwnerSuspended),
                )
            },
            Case {
                policy: HubPolicy {
                    blocked: true,
                    ..HubPolicy::default()
                },
                owner: OwnerState {
                    suspended: true,
                    max_concurrent: None,
                },
                ..base(
                    "admin block beats suspension",
                    refused(AllowedType::Blocked, Reason::AdminBlock),
                )
            },
            Case {
                owner: OwnerState {
                    suspended: true,
                    max_concurrent: None,
                },
                policy: HubPolicy {
                    valid_until: at(-1),
                    ..HubPolicy::default()
                },
                ..base(
                    "suspension beats expiry",
                    refused(AllowedType::NotAllowed, Reason::OwnerSuspended),
                )
            },
            // 4. validity window: valid_from inclusive, valid_until exclusive
            Case {
                policy: HubPolicy {
                    valid_until: Some(now()),
                    ..HubPolicy::default()
                },
                ..base(
                    "now == valid_until is EXPIRED",
                    refused(AllowedType::Expired, Reason::Expired),
                )
            },
            Case {
                policy: HubPolicy {
                    valid_until: at(-5),
                    ..HubPolicy::default()
                },
                ..base(
                    "past valid_until is EXPIRED",
                    refused(AllowedType::Expired, Reason::Expired),
                )
            },
            Case {
                policy: HubPolicy {
                    valid_until: Some(now() + Duration::seconds(1)),
                    ..HubPolicy::default()
                },
                ..base("just before valid_until is allowed", ALLOW_NEW)
            },
            Case {
                policy: HubPolicy {
                    valid_from: Some(now() + Duration::seconds(1)),
                    ..HubPolicy::default()
                },
                ..base(
                    "before valid_from is NOT_ALLOWED",
                    refused(AllowedType::NotAllowed, Reason::NotYetValid),
                )
            },
            Case {
                policy: HubPolicy {
                    valid_from: Some(now()),
                    ..HubPolicy::default()
                },
                ..base("now == valid_from is allowed", ALLOW_NEW)
            },
            Case {
                policy: HubPolicy {
                    valid_from: at(1),
                    valid_until: at(-1),
                    ..HubPolicy::default()
                },
                ..base(
                    "expiry is checked before not-yet-valid",
                    refused(AllowedType::Expired, Reason::Expired),
                )
            },
            Case {
                policy: HubPolicy {
                    valid_until: at(-1),
                    ..HubPolicy::default()
                },
                usage: vec![session(60)],
                ..base(
                    "expiry beats concurrent use",
                    refused(AllowedType::Expired, Reason::Expired),
                )
            },
            // 5. concurrency
            Case {
                usage: vec![session(3600)],
                ..base(
                    "active session blocks with default 1",
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                )
            },
            Case {
                usage: vec![hold(other_cpo(), None, 10)],
                ..base(
                    "unmatched hold blocks",
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                )
            },
            Case {
                usage: vec![hold(cpo(), None, 121)],
                ..base("hold older than hold time does not count", ALLOW_NEW)
            },
            Case {
                usage: vec![session(-1)],
                ..base("stale session does not count", ALLOW_NEW)
            },
            Case {
                usage: vec![session(3600)],
                default_max: 2,
                ..base("global default 2 allows a second use", ALLOW_NEW)
            },
            Case {
                usage: vec![session(3600)],
                owner: OwnerState {
                    suspended: false,
                    max_concurrent: Some(2),
                },
                ..base("party max beats global default", ALLOW_NEW)
            },
            Case {
                usage: vec![session(3600)],
                owner: OwnerState {
                    suspended: false,
                    max_concurrent: Some(2),
                },
                policy: HubPolicy {
                    max_concurrent: Some(1),
                    ..HubPolicy::default()
                },
                ..base(
                    "token max beats party max",
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                )
            },
            Case {
                usage: vec![session(3600), hold(other_cpo(), None, 5)],
                policy: HubPolicy {
                    max_concurrent: Some(2),
                    ..HubPolicy::default()
                },
                ..base(
                    "holds and sessions add up",
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                )
            },
            Case {
                policy: HubPolicy {
                    max_concurrent: Some(0),
                    ..HubPolicy::default()
                },
                ..base(
                    "max 0 never allows",
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                )
            },
            // retries
            Case {
                location: Some(l1_reordered.clone()),
                usage: vec![hold(cpo(), Some(&l1), 30)],
                ..base(
                    "same CPO, location, EVSE set is a retry",
                    Decision::Allowed {
                        reuse_reference: Some("ref-1".into()),
                    },
                )
            },
            Case {
                location: Some(l1.clone()),
                usage: vec![hold(other_cpo(), Some(&l1), 30)],
                ..base(
                    "another CPO is not a retry",
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                )
            },
            Case {
                location: Some(l1_other_evse.clone()),
                usage: vec![hold(cpo(), Some(&l1), 30)],
                ..base(
                    "another EVSE is not a retry",
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                )
            },
            Case {
                location: Some(l1_no_evse.clone()),
                usage: vec![hold(cpo(), Some(&l1_no_evse), 30)],
                ..base(
                    "without EVSE uids nothing is a retry",
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                )
            },
            Case {
                location: Some(l1.clone()),
                usage: vec![hold(cpo(), Some(&l1), 130)],
                ..base("an expired hold is neither retry nor use", ALLOW_NEW)
            },
            Case {
                location: Some(l1.clone()),
                usage: vec![hold(cpo(), Some(&l1), 30)],
                valid: false,
                ..base(
                    "a retry of a now invalid token is BLOCKED",
                    refused(AllowedType::Blocked, Reason::TokenInvalid),
                )
            },
            // 6. allowed
            base("nothing in the way is ALLOWED", ALLOW_NEW),
            Case {
                location: Some(l1.clone()),
                ..base("with a location, ALLOWED", ALLOW_NEW)
            },
        ];

        for case in &cases {
            let requester = cpo();
            let input = DecisionInput {
                token: case.known.then_some(KnownToken {
                    valid: case.valid,
                    policy: &case.policy,
                    owner: &case.owner,
                }),
                requester: &requester,
                location: case.location.as_ref(),
                usage: &case.usage,
                now: now(),
                default_max_concurrent: case.default_max,
            };
            assert_eq!(decide(&input), case.expect, "case: {}", case.name);
        }
    }

    #[test]
    fn reasons_match_decisions() {
        assert_eq!(Decision::Unknown.reason(), Reason::UnknownToken);
        assert_eq!(ALLOW_NEW.reason(), Reason::Allowed);
        assert_eq!(ALLOW_NEW.allowed_type(), Some(AllowedType::Allowed));
        assert_eq!(
            Decision::Allowed {
                reuse_reference: Some("r".into())
            }
            .reason(),
            Reason::RetryOfHold
        );
        assert!(Reason::ConcurrentUse
            .info_text()
            .unwrap()
            .contains("already in progress"));
    }
}
