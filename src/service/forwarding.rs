//! Asking the owner eMSP (docs/design.md §6 "Authorize flow"): the partner's breaker and
//! in-flight bound first (refused at once, never waiting), then the call within the party's time
//! budget, then the breaker told how it went. When a breaker opens or closes, the partner's
//! status becomes OFFLINE or CONNECTED in the database (so hubclientinfo shows it and every
//! instance's push worker skips it) and the change is pushed to hubclientinfo receivers, as the
//! liveness checks do; that happens in a task of its own, after the answer.
//!
//! A platform the database shows OFFLINE (liveness, or another instance's breaker) counts as
//! unreachable without a call, except for this instance's half-open probe: the instance whose
//! breaker opened is the one that brings it back, and liveness does too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::Settings;
use crate::domain::ids::PartyKey;
use crate::domain::partner::{ConnectionStatus, RealtimeEndpoint};
use crate::peers::breaker::{BreakerSettings, Breakers, Refusal, Transition};
use crate::peers::forward::{self, AuthorizeCall, EmspAnswer, Outcome};
use crate::peers::OcpiClient;
use crate::secrets::sealed::Sealer;
use crate::store::Store;

use super::client_info::ClientInfoPusher;

/// What came of trying to ask the eMSP.
#[derive(Clone, Debug, PartialEq)]
pub enum Forwarded {
    /// The call was made.
    Called { outcome: Outcome, elapsed: Duration },
    /// Not called: the breaker is open (or its probe is in flight).
    BreakerOpen,
    /// Not called: the platform is OFFLINE.
    Offline,
    /// Not called: `peers.forward_max_in_flight` calls are in flight already.
    Busy,
    /// Not called: the hub's token for the partner cannot be opened (another master key?).
    NoToken,
}

impl Forwarded {
    /// The eMSP's answer, if it gave a usable one.
    pub fn answer(&self) -> Option<&EmspAnswer> {
        match self {
            Forwarded::Called {
                outcome: Outcome::Answered(a),
                ..
            } => Some(a),
            _ => None,
        }
    }

    pub fn is_unknown_token(&self) -> bool {
        matches!(
            self,
            Forwarded::Called {
                outcome: Outcome::UnknownToken,
                ..
            }
        )
    }

    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Forwarded::Called {
                outcome: Outcome::Timeout,
                ..
            }
        )
    }

    /// `forward_outcome` in the audit trail.
    pub fn audit(&self) -> String {
        match self {
            Forwarded::Called { outcome, .. } => outcome.audit(),
            Forwarded::BreakerOpen => "BREAKER_OPEN".into(),
            Forwarded::Offline => "OFFLINE".into(),
            Forwarded::Busy => "BUSY".into(),
            Forwarded::NoToken => "UNREACHABLE".into(),
        }
    }

    /// `forward_ms` in the audit trail: only for a call that was made.
    pub fn elapsed_ms(&self) -> Option<i64> {
        match self {
            Forwarded::Called { elapsed, .. } => {
                Some(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
            }
            _ => None,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Forwarded::Called { outcome, .. } => outcome.label(),
            Forwarded::BreakerOpen => "breaker_open",
            Forwarded::Offline => "offline",
            Forwarded::Busy => "busy",
            Forwarded::NoToken => "no_token",
        }
    }

    /// Why the eMSP gave no usable answer, for the CPO's error message.
    pub fn why(&self, to: &PartyKey) -> String {
        match self {
            Forwarded::Called { outcome, elapsed } => match outcome {
                Outcome::Timeout => {
                    format!("{to} did not answer within {} ms", elapsed.as_millis())
                }
                Outcome::Unreachable(_) => format!("{to} cannot be reached"),
                Outcome::Failed(_) => format!("{to} answered with an error"),
                Outcome::Malformed(_) => format!("{to} answered with no valid AuthorizationInfo"),
                Outcome::Answered(_) | Outcome::UnknownToken => format!("{to} answered"),
            },
            Forwarded::BreakerOpen => {
                format!("{to} is not reachable (it failed repeatedly; the hub retries later)")
            }
            Forwarded::Offline => format!("{to} is OFFLINE"),
            Forwarded::Busy => format!("{to} has too many authorizations in progress"),
            Forwarded::NoToken => format!("{to} is not connected"),
        }
    }
}

/// One authorization to forward, as the CPO asked it.
pub struct ForwardRequest<'a> {
    pub uid: &'a str,
    pub token_type: &'a str,
    pub body: Option<&'a Value>,
    pub correlation_id: &'a str,
    pub requester: &'a PartyKey,
}

/// The forwarding client, its breakers, and what a breaker change needs.
pub struct Forwarder {
    peers: OcpiClient,
    sealer: Arc<Sealer>,
    breakers: Breakers,
    default_budget: Duration,
    store: Store,
    client_info: ClientInfoPusher,
}

impl Forwarder {
    pub fn new(
        settings: &Settings,
        peers: OcpiClient,
        sealer: Sealer,
        store: Store,
        client_info: ClientInfoPusher,
    ) -> Self {
        let p = &settings.peers;
        Forwarder {
            peers,
            sealer: Arc::new(sealer),
            breakers: Breakers::new(BreakerSettings {
                failures: p.breaker_failures,
                cooldown: p.breaker_cooldown,
                max_in_flight: p.forward_max_in_flight,
            }),
            default_budget: p.forward_budget,
            store,
            client_info,
        }
    }

    /// Asks `to` at `endpoint`, or says why it was not asked. Never waits for a place.
    pub async fn forward(
        &self,
        to: &PartyKey,
        endpoint: &RealtimeEndpoint,
        request: &ForwardRequest<'_>,
    ) -> Forwarded {
        let forwarded = self.try_forward(to, endpoint, request).await;
        let partner = to.to_string();
        crate::ops::metrics::record_forward(&partner, forwarded.label());
        crate::ops::metrics::set_breaker_open(
            &partner,
            self.breakers.is_open(endpoint.platform_id),
        );
        if let Forwarded::Called { elapsed, .. } = &forwarded {
            crate::ops::metrics::record_forward_duration(&partner, elapsed.as_secs_f64());
        }
        forwarded
    }

    async fn try_forward(
        &self,
        to: &PartyKey,
        endpoint: &RealtimeEndpoint,
        request: &ForwardRequest<'_>,
    ) -> Forwarded {
        let platform_id = endpoint.platform_id;
        let permit = match self.breakers.admit(platform_id, Instant::now()) {
            Ok(permit) => permit,
            Err(Refusal::Open) => return Forwarded::BreakerOpen,
            Err(Refusal::Busy) => return Forwarded::Busy,
        };
        if endpoint.status != ConnectionStatus::Connected && !permit.probe {
            return Forwarded::Offline;
        }
        let Ok(token) = self.sealer.open(&endpoint.outbound_token_sealed) else {
            tracing::warn!(
                platform_id,
                "cannot open the token for the partner: not forwarded"
            );
            return Forwarded::NoToken;
        };
        let budget = endpoint
            .time_budget_ms
            .map_or(self.default_budget, |ms| Duration::from_millis(ms.into()));
        let started = Instant::now();
        let outcome = forward::authorize(
            &self.peers,
            &AuthorizeCall {
                tokens_sender: &endpoint.tokens_sender,
                version: endpoint.version,
                token: &token,
                uid: request.uid,
                token_type: request.token_type,
                body: request.body,
                correlation_id: request.correlation_id,
                from: request.requester,
                to,
                budget,
            },
        )
        .await;
        let elapsed = started.elapsed();
        drop(permit);
        match &outcome {
            Outcome::Unreachable(why) | Outcome::Failed(why) | Outcome::Malformed(why) => {
                tracing::warn!(platform_id, emsp = %to, error = %why, "forwarded authorization failed")
            }
            Outcome::Timeout => {
                tracing::warn!(platform_id, emsp = %to, budget_ms = budget.as_millis() as u64, "forwarded authorization timed out")
            }
            Outcome::Answered(_) | Outcome::UnknownToken => {}
        }
        let transition = self
            .breakers
            .record(platform_id, !outcome.is_failure(), Instant::now());
        if let Some(transition) = transition {
            self.on_transition(to, endpoint, transition);
        }
        Forwarded::Called { outcome, elapsed }
    }

    /// Publishes a breaker change, in a task of its own: the CPO's answer does not wait for the
    /// database or the hubclientinfo pushes.
    fn on_transition(&self, to: &PartyKey, endpoint: &RealtimeEndpoint, transition: Transition) {
        let (from, status, open) = match transition {
            Transition::Opened => (ConnectionStatus::Connected, ConnectionStatus::Offline, true),
            Transition::Closed => (
                ConnectionStatus::Offline,
                ConnectionStatus::Connected,
                false,
            ),
        };
        crate::ops::metrics::set_breaker_open(&to.to_string(), open);
        let platform_id = endpoint.platform_id;
        match transition {
            Transition::Opened => {
                tracing::warn!(platform_id, emsp = %to, "circuit breaker open: partner OFFLINE")
            }
            Transition::Closed => {
                tracing::info!(platform_id, emsp = %to, "circuit breaker closed: partner CONNECTED")
            }
        }
        let store = self.store.clone();
        let pusher = self.client_info.clone();
        tokio::spawn(async move {
            match super::liveness::change_status(&store, platform_id, from, status).await {
                Ok(parties) => pusher.push(parties).await,
                Err(e) => {
                    tracing::warn!(platform_id, error = %e, "breaker change not recorded");
                    Default::default()
                }
            };
        });
    }
}
