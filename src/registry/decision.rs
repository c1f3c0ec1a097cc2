//! The authorization decision (docs/design.md §4): a pure function of its inputs. No clock, no I/O; the
//! caller loads the inputs and stores the outcome in the same transaction.

use chrono::{DateTime, Utc};

pub use crate::domain::authorization::Reason;
use crate::domain::authorization::{ActiveUse, AllowedType, LocationRequest, OwnerState, UseKind};
use crate::domain::ids::PartyKey;
use crate::domain::token::{HubPolicy, Whitelist};

/// A known token as the decision sees it.
#[derive(Clone, Copy, Debug)]
pub struct KnownToken<'a> {
    pub valid: bool,
    /// The effective whitelist: the hub's override, else the eMSP's value.
    pub whitelist: Whitelist,
    pub policy: &'a HubPolicy,
    /// The eMSP that owns the token, and what the hub knows of it.
    pub emsp: &'a PartyKey,
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

/// Where the answer comes from (docs/design.md §6): the hub decides locally, or asks the owner
/// eMSP in real time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Local(Decision),
    Forward { to: PartyKey },
}

/// docs/design.md §6: hub policy first (the hub never asks an eMSP about a token it would refuse
/// anyway, and a retry of a hold gets the same answer); then the effective whitelist and `valid`
/// decide whether the owner eMSP is asked. An eMSP without a real-time endpoint is never asked.
pub fn route(input: &DecisionInput<'_>) -> Route {
    let local = decide(input);
    let Some(token) = input.token else {
        return Route::Local(local);
    };
    if !token.owner.realtime || hub_policy(input, token).is_some() {
        return Route::Local(local);
    }
    let forward = match (token.whitelist, token.valid) {
        (Whitelist::Always, _) => false,
        (Whitelist::Allowed, true) => token.owner.forward_allowed,
        (Whitelist::Allowed, false) | (Whitelist::AllowedOffline, _) | (Whitelist::Never, _) => {
            true
        }
    };
    if forward {
        Route::Forward {
            to: token.emsp.clone(),
        }
    } else {
        Route::Local(local)
    }
}

/// docs/design.md §4, first match wins: the local decision.
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    let Some(token) = input.token else {
        return Decision::Unknown;
    };
    if !token.valid {
        return refuse(AllowedType::Blocked, Reason::TokenInvalid);
    }
    hub_policy(input, token).unwrap_or(Decision::Allowed {
        reuse_reference: None,
    })
}

/// The hub's own rules (admin block, suspended owner, validity window, concurrency): the answer
/// they force, if any. A retry of a hold is answered here too, with the hold's reference.
fn hub_policy(input: &DecisionInput<'_>, token: KnownToken<'_>) -> Option<Decision> {
    if token.policy.blocked {
        return Some(refuse(AllowedType::Blocked, Reason::AdminBlock));
    }
    if token.owner.suspended {
        return Some(refuse(AllowedType::NotAllowed, Reason::OwnerSuspended));
    }
    if matches!(token.policy.valid_until, Some(until) if input.now >= until) {
        return Some(refuse(AllowedType::Expired, Reason::Expired));
    }
    if matches!(token.policy.valid_from, Some(from) if input.now < from) {
        return Some(refuse(AllowedType::NotAllowed, Reason::NotYetValid));
    }

    let counting = || input.usage.iter().filter(|u| u.counts_until > input.now);
    if let Some(reference) = retried_hold(input, counting()) {
        return Some(Decision::Allowed {
            reuse_reference: Some(reference),
        });
    }
    let limit = token
        .policy
        .max_concurrent
        .or(token.owner.max_concurrent)
        .unwrap_or(input.default_max_concurrent);
    if counting().count() >= limit as usize {
        return Some(refuse(AllowedType::NotAllowed, Reason::ConcurrentUse));
    }
    None
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
    use crate::domain::ids::CiString36;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap()
    }
    fn cpo() -> PartyKey {
        PartyKey::parse("DE", "CPO").unwrap()
    }
    fn emsp() -> PartyKey {
        PartyKey::parse("NL", "ABC").unwrap()
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
                    ..OwnerState::default()
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
                    ..OwnerState::default()
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
                    ..OwnerState::default()
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
                    ..OwnerState::default()
                },
                ..base("party max beats global default", ALLOW_NEW)
            },
            Case {
                usage: vec![session(3600)],
                owner: OwnerState {
                    suspended: false,
                    max_concurrent: Some(2),
                    ..OwnerState::default()
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
            let emsp = emsp();
            let input = DecisionInput {
                token: case.known.then_some(KnownToken {
                    valid: case.valid,
                    whitelist: Whitelist::Always,
                    policy: &case.policy,
                    emsp: &emsp,
                    owner: &case.owner,
                }),
                requester: &requester,
                location: case.location.as_ref(),
                usage: &case.usage,
                now: now(),
                default_max_concurrent: case.default_max,
            };
            assert_eq!(decide(&input), case.expect, "case: {}", case.name);
            assert_eq!(
                route(&input),
                Route::Local(case.expect.clone()),
                "an eMSP without a real-time endpoint is never asked; case: {}",
                case.name
            );
        }
    }

    /// docs/design.md §6: every (whitelist, valid, endpoint, forward_allowed) cell, and hub policy
    /// before any forwarding.
    #[test]
    fn route_table() {
        use Whitelist::*;
        let forward = Route::Forward { to: emsp() };
        let local = |d: Decision| Route::Local(d);
        let blocked_invalid = refused(AllowedType::Blocked, Reason::TokenInvalid);
        // (whitelist, valid, realtime endpoint, forward_allowed, expected)
        let cells = vec![
            (Always, true, true, false, local(ALLOW_NEW)),
            (Always, false, true, false, local(blocked_invalid.clone())),
            (Always, true, true, true, local(ALLOW_NEW)),
            (Allowed, true, true, false, local(ALLOW_NEW)),
            (Allowed, true, true, true, forward.clone()),
            (Allowed, false, true, false, forward.clone()),
            (AllowedOffline, true, true, false, forward.clone()),
            (AllowedOffline, false, true, false, forward.clone()),
            (Never, true, true, false, forward.clone()),
            (Never, false, true, false, forward.clone()),
            (Allowed, true, false, true, local(ALLOW_NEW)),
            (Allowed, false, false, false, local(blocked_invalid.clone())),
            (AllowedOffline, true, false, false, local(ALLOW_NEW)),
            (
                AllowedOffline,
                false,
                false,
                false,
                local(blocked_invalid.clone()),
            ),
            (Never, true, false, false, local(ALLOW_NEW)),
        ];
        let requester = cpo();
        let emsp = emsp();
        for (whitelist, valid, realtime, forward_allowed, expect) in cells {
            let owner = OwnerState {
                realtime,
                forward_allowed,
                ..OwnerState::default()
            };
            let policy = HubPolicy::default();
            let input = DecisionInput {
                token: Some(KnownToken {
                    valid,
                    whitelist,
                    policy: &policy,
                    emsp: &emsp,
                    owner: &owner,
                }),
                requester: &requester,
                location: None,
                usage: &[],
                now: now(),
                default_max_concurrent: 1,
            };
            assert_eq!(
                route(&input),
                expect,
                "{whitelist:?} valid={valid} realtime={realtime} forward_allowed={forward_allowed}"
            );
        }

        // Hub policy first: a token the hub refuses is never forwarded.
        let owner = OwnerState {
            realtime: true,
            ..OwnerState::default()
        };
        let blocked = HubPolicy {
            blocked: true,
            ..HubPolicy::default()
        };
        let in_use = vec![session(3600)];
        for (policy, usage, expect) in [
            (
                blocked.clone(),
                vec![],
                refused(AllowedType::Blocked, Reason::AdminBlock),
            ),
            (
                HubPolicy::default(),
                in_use,
                refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
            ),
        ] {
            let input = DecisionInput {
                token: Some(KnownToken {
                    valid: true,
                    whitelist: Never,
                    policy: &policy,
                    emsp: &emsp,
                    owner: &owner,
                }),
                requester: &requester,
                location: None,
                usage: &usage,
                now: now(),
                default_max_concurrent: 1,
            };
            assert_eq!(route(&input), Route::Local(expect));
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
