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
    /// Ask `to`; when it cannot be asked or gives no usable answer (breaker open, OFFLINE, over
    /// its bound or its time budget, a failed or malformed answer), answer `if_unreachable`.
    Forward {
        to: PartyKey,
        if_unreachable: Decision,
    },
}

/// docs/design.md §6 "Whitelist matrix": hub policy first (the hub never asks an eMSP about a
/// token it would refuse anyway, and a retry of a hold gets the same answer); then the effective
/// whitelist, `valid` and whether the owner serves real-time authorization decide whether it is
/// asked, and what stands when it cannot answer.
pub fn route(input: &DecisionInput<'_>) -> Route {
    let Some(token) = input.token else {
        return Route::Local(Decision::Unknown);
    };
    if let Some(refused) = hub_policy(input, token) {
        // Step 2 (`valid = false`) still comes before the hub's own refusals, as in `decide`.
        return Route::Local(if token.valid { refused } else { invalid() });
    }
    let from_registry = if token.valid { allow_new() } else { invalid() };
    let realtime = token.owner.realtime;
    let forward = |if_unreachable: Decision| Route::Forward {
        to: token.emsp.clone(),
        if_unreachable,
    };
    match (token.whitelist, token.valid) {
        (Whitelist::Always, _) => Route::Local(from_registry),
        (Whitelist::Allowed, true) if realtime && token.owner.forward_allowed => {
            forward(from_registry)
        }
        (Whitelist::Allowed, true) => Route::Local(from_registry),
        // OCPI: `valid` does not change the path; the token may have changed since its push.
        (Whitelist::Allowed | Whitelist::AllowedOffline, _) if realtime => forward(from_registry),
        (Whitelist::Allowed | Whitelist::AllowedOffline, _) => Route::Local(from_registry),
        (Whitelist::Never, _) if realtime => {
            forward(refuse(AllowedType::NotAllowed, Reason::EmspUnreachable))
        }
        (Whitelist::Never, _) if token.owner.delegate_realtime => Route::Local(from_registry),
        (Whitelist::Never, _) => Route::Local(refuse(
            AllowedType::NotAllowed,
            Reason::NoRealtimeAuthorization,
        )),
    }
}

fn allow_new() -> Decision {
    Decision::Allowed {
        reuse_reference: None,
    }
}

fn invalid() -> Decision {
    refuse(AllowedType::Blocked, Reason::TokenInvalid)
}

/// The eMSP a request for a uid the registry does not hold is addressed to, and what the hub
/// knows of it.
#[derive(Clone, Copy, Debug)]
pub struct UnknownUid<'a> {
    /// The `OCPI-to-*` party, else the provider an EMAID names; `None`: nobody to ask.
    pub addressed: Option<&'a PartyKey>,
    /// Whether `addressed` came from the `OCPI-to-*` headers (an explicit address).
    pub by_headers: bool,
    /// The eMSP party `addressed` names; `None` when the hub has no such eMSP.
    pub owner: Option<&'a OwnerState>,
}

/// What the hub does about a uid its registry does not hold (docs/design.md §6, last row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownRoute {
    /// HTTP 404 / OCPI 2004.
    Unknown,
    /// OCPI 4001: the `OCPI-to-*` headers name no party of the hub.
    UnknownReceiver,
    /// OCPI 4003: the eMSP is known but suspended: nobody may be asked on its behalf.
    NotConnected,
    /// Ask the eMSP; its answer (a 2004 included) is the hub's.
    Forward { to: PartyKey },
}

pub fn route_unknown(uid: &UnknownUid<'_>) -> UnknownRoute {
    let Some(addressed) = uid.addressed else {
        return UnknownRoute::Unknown;
    };
    match uid.owner {
        None if uid.by_headers => UnknownRoute::UnknownReceiver,
        None => UnknownRoute::Unknown,
        Some(owner) if owner.suspended => UnknownRoute::NotConnected,
        Some(owner) if owner.realtime => UnknownRoute::Forward {
            to: addressed.clone(),
        },
        Some(_) => UnknownRoute::Unknown,
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

    /// docs/design.md §6 "Whitelist matrix", every cell: (whitelist, valid, the owner has a
    /// real-time endpoint) and the two party settings, each row checked for every value of the
    /// settings it does not depend on.
    #[test]
    fn route_table() {
        use Whitelist::*;
        #[derive(Clone, Copy, Debug)]
        enum Flag {
            Any,
            On,
            Off,
        }
        let blocked = refused(AllowedType::Blocked, Reason::TokenInvalid);
        let unreachable = refused(AllowedType::NotAllowed, Reason::EmspUnreachable);
        let no_realtime = refused(AllowedType::NotAllowed, Reason::NoRealtimeAuthorization);
        let local = |d: &Decision| Route::Local(d.clone());
        let forward = |d: &Decision| Route::Forward {
            to: emsp(),
            if_unreachable: d.clone(),
        };
        // (whitelist, valid, endpoint, forward_allowed, delegate_realtime, expected)
        let rows: Vec<(Whitelist, bool, bool, Flag, Flag, Route)> = vec![
            // ALWAYS: local, endpoint or not.
            (Always, true, true, Flag::Any, Flag::Any, local(&ALLOW_NEW)),
            (Always, false, true, Flag::Any, Flag::Any, local(&blocked)),
            (Always, true, false, Flag::Any, Flag::Any, local(&ALLOW_NEW)),
            (Always, false, false, Flag::Any, Flag::Any, local(&blocked)),
            // ALLOWED + valid: local, forwarded when forward_allowed (unreachable: local ALLOWED).
            (Allowed, true, true, Flag::Off, Flag::Any, local(&ALLOW_NEW)),
            (
                Allowed,
                true,
                true,
                Flag::On,
                Flag::Any,
                forward(&ALLOW_NEW),
            ),
            (
                Allowed,
                true,
                false,
                Flag::Any,
                Flag::Any,
                local(&ALLOW_NEW),
            ),
            // ALLOWED + invalid: forward, unreachable → BLOCKED; no endpoint: BLOCKED.
            (
                Allowed,
                false,
                true,
                Flag::Any,
                Flag::Any,
                forward(&blocked),
            ),
            (Allowed, false, false, Flag::Any, Flag::Any, local(&blocked)),
            // ALLOWED_OFFLINE: forward; unreachable → local ALLOWED (valid) or BLOCKED.
            (
                AllowedOffline,
                true,
                true,
                Flag::Any,
                Flag::Any,
                forward(&ALLOW_NEW),
            ),
            (
                AllowedOffline,
                false,
                true,
                Flag::Any,
                Flag::Any,
                forward(&blocked),
            ),
            (
                AllowedOffline,
                true,
                false,
                Flag::Any,
                Flag::Any,
                local(&ALLOW_NEW),
            ),
            (
                AllowedOffline,
                false,
                false,
                Flag::Any,
                Flag::Any,
                local(&blocked),
            ),
            // NEVER: forward, unreachable → NOT_ALLOWED; no endpoint: NOT_ALLOWED unless
            // delegate_realtime, then local.
            (
                Never,
                true,
                true,
                Flag::Any,
                Flag::Any,
                forward(&unreachable),
            ),
            (
                Never,
                false,
                true,
                Flag::Any,
                Flag::Any,
                forward(&unreachable),
            ),
            (
                Never,
                true,
                false,
                Flag::Any,
                Flag::Off,
                local(&no_realtime),
            ),
            (
                Never,
                false,
                false,
                Flag::Any,
                Flag::Off,
                local(&no_realtime),
            ),
            (Never, true, false, Flag::Any, Flag::On, local(&ALLOW_NEW)),
            (Never, false, false, Flag::Any, Flag::On, local(&blocked)),
        ];
        let values = |f: Flag| match f {
            Flag::Any => vec![false, true],
            Flag::On => vec![true],
            Flag::Off => vec![false],
        };
        let requester = cpo();
        let emsp = emsp();
        let mut checked = std::collections::HashSet::new();
        for (whitelist, valid, realtime, fa, dr, expect) in rows {
            for forward_allowed in values(fa) {
                for delegate_realtime in values(dr) {
                    let owner = OwnerState {
                        realtime,
                        forward_allowed,
                        delegate_realtime,
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
                    let cell = format!(
                        "{whitelist:?} valid={valid} endpoint={realtime} \
                         forward_allowed={forward_allowed} delegate_realtime={delegate_realtime}"
                    );
                    assert_eq!(route(&input), expect, "{cell}");
                    assert!(checked.insert(cell.clone()), "listed twice: {cell}");
                }
            }
        }
        assert_eq!(checked.len(), 4 * 2 * 2 * 2 * 2, "every cell of the matrix");

        // Hub policy first: a token the hub refuses is never forwarded, whatever its mode.
        let owner = OwnerState {
            realtime: true,
            forward_allowed: true,
            ..OwnerState::default()
        };
        let blocked_policy = HubPolicy {
            blocked: true,
            ..HubPolicy::default()
        };
        let expired_policy = HubPolicy {
            valid_until: Some(now() - Duration::hours(1)),
            ..HubPolicy::default()
        };
        let suspended = OwnerState {
            suspended: true,
            ..owner.clone()
        };
        let l1 = loc("LOC1", &["EVSE-1"]);
        for whitelist in [Always, Allowed, AllowedOffline, Never] {
            for (name, policy, owner, usage, location, expect) in [
                (
                    "admin block",
                    blocked_policy.clone(),
                    owner.clone(),
                    vec![],
                    None,
                    refused(AllowedType::Blocked, Reason::AdminBlock),
                ),
                (
                    "suspended owner",
                    HubPolicy::default(),
                    suspended.clone(),
                    vec![],
                    None,
                    refused(AllowedType::NotAllowed, Reason::OwnerSuspended),
                ),
                (
                    "expired",
                    expired_policy.clone(),
                    owner.clone(),
                    vec![],
                    None,
                    refused(AllowedType::Expired, Reason::Expired),
                ),
                (
                    "in use",
                    HubPolicy::default(),
                    owner.clone(),
                    vec![session(3600)],
                    None,
                    refused(AllowedType::NotAllowed, Reason::ConcurrentUse),
                ),
                (
                    "retry of a hold",
                    HubPolicy::default(),
                    owner.clone(),
                    vec![hold(cpo(), Some(&l1), 10)],
                    Some(l1.clone()),
                    Decision::Allowed {
                        reuse_reference: Some("ref-1".into()),
                    },
                ),
            ] {
                let input = DecisionInput {
                    token: Some(KnownToken {
                        valid: true,
                        whitelist,
                        policy: &policy,
                        emsp: &emsp,
                        owner: &owner,
                    }),
                    requester: &requester,
                    location: location.as_ref(),
                    usage: &usage,
                    now: now(),
                    default_max_concurrent: 1,
                };
                assert_eq!(route(&input), Route::Local(expect), "{whitelist:?}: {name}");
            }
        }
    }

    /// docs/design.md §6, the unknown-uid row.
    #[test]
    fn unknown_uid_table() {
        let to = emsp();
        let realtime = OwnerState {
            realtime: true,
            ..OwnerState::default()
        };
        let no_endpoint = OwnerState::default();
        let suspended = OwnerState {
            suspended: true,
            realtime: true,
            ..OwnerState::default()
        };
        let forward = UnknownRoute::Forward { to: emsp() };
        // (addressed, by headers, owner, expected)
        let cases = [
            (None, false, None, UnknownRoute::Unknown),
            (Some(&to), true, None, UnknownRoute::UnknownReceiver),
            (Some(&to), false, None, UnknownRoute::Unknown),
            (Some(&to), true, Some(&realtime), forward.clone()),
            (Some(&to), false, Some(&realtime), forward),
            (Some(&to), true, Some(&no_endpoint), UnknownRoute::Unknown),
            (Some(&to), false, Some(&no_endpoint), UnknownRoute::Unknown),
            (
                Some(&to),
                true,
                Some(&suspended),
                UnknownRoute::NotConnected,
            ),
        ];
        for (addressed, by_headers, owner, expect) in cases {
            let uid = UnknownUid {
                addressed,
                by_headers,
                owner,
            };
            assert_eq!(route_unknown(&uid), expect, "{uid:?}");
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
