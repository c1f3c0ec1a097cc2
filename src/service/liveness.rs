//! Partner liveness (OCPI `mod_hub_client_info`): every `peers.liveness_interval_secs` the hub reads each
//! registered partner's versions with the token it holds for it. A failure marks the partner
//! OFFLINE, an answer CONNECTED again; each change goes to the change log (actor `hub`) and is
//! pushed to the partners that take hubclientinfo.
//!
//! Instances sharing a database take turns through a lease row (`claim_liveness_round`): one
//! instance checks the partners once per interval, so partners see one check per interval
//! whatever the number of instances, and no database connection is held while partners are
//! called. Should two rounds overlap anyway (a round longer than the lease), they do no harm:
//! each status change is a compare-and-set, so it is logged and pushed once.

use std::time::Duration;

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use serde_json::json;

use crate::domain::ids::PartyKey;
use crate::domain::partner::ConnectionStatus;
use crate::domain::party::Role;
use crate::store::connections::{self, Change};
use crate::store::{parties, StoreError, StoreResult};

use super::AppState;

/// At most this many partners are checked at once; each check takes at most the client's
/// timeout (`peers.timeout_ms`).
const CONCURRENCY: usize = 8;

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub checked: usize,
    /// Partners whose status this round changed.
    pub changed: usize,
}

/// Runs rounds every `every` until the task is aborted (with the server). The first round comes
/// one interval after the start.
pub async fn run(state: std::sync::Arc<AppState>, every: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match round(&state, every).await {
            Ok(Some(done)) if done.changed > 0 => {
                tracing::debug!(
                    checked = done.checked,
                    changed = done.changed,
                    "liveness round"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "liveness round failed; retrying next round"),
        }
    }
}

/// One round, unless another instance holds the lease for this interval (`None`).
pub async fn round(state: &AppState, every: Duration) -> StoreResult<Option<Round>> {
    let partners: Vec<(i64, ConnectionStatus)> = state
        .store
        .read(connections::reachable_platforms)
        .await?
        .into_iter()
        .filter(|(_, s)| matches!(s, ConnectionStatus::Connected | ConnectionStatus::Offline))
        .collect();
    if partners.is_empty() {
        return Ok(Some(Round::default()));
    }
    let now = Utc::now().timestamp_millis();
    // Slightly shorter than the interval, so this instance's next tick finds it expired.
    let lease = i64::try_from(every.as_millis() * 9 / 10).unwrap_or(i64::MAX);
    let until = now.saturating_add(lease);
    let claimed = state
        .store
        .write(move |conn| connections::claim_liveness_round(conn, now, until))
        .await?;
    if !claimed {
        return Ok(None);
    }
    let checked = partners.len();
    let outcomes: Vec<StoreResult<Vec<(PartyKey, Role)>>> = stream::iter(partners)
        .map(|(platform_id, status)| check(state, platform_id, status))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut changed = 0;
    let mut to_push = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(parties) if !parties.is_empty() => {
                changed += 1;
                to_push.extend(parties);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "liveness check not recorded"),
        }
    }
    state.client_info.push(to_push).await;
    Ok(Some(Round { checked, changed }))
}

/// Checks one partner; returns its parties when its status changed.
async fn check(
    state: &AppState,
    platform_id: i64,
    status: ConnectionStatus,
) -> StoreResult<Vec<(PartyKey, Role)>> {
    let (connection, sealed) = state
        .store
        .read(move |conn| {
            Ok((
                connections::connection(conn, platform_id)?,
                connections::outbound_token(conn, platform_id)?,
            ))
        })
        .await?;
    // Unregistered since the round began.
    let (Some(connection), Some(sealed)) = (connection, sealed) else {
        return Ok(vec![]);
    };
    let answer = match state.sealer.open(&sealed) {
        Ok(token) => state
            .peers
            .versions(&connection.versions_url, &token)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    crate::ops::metrics::record_liveness_check(answer.is_ok());
    let new = match &answer {
        Ok(()) => ConnectionStatus::Connected,
        Err(_) => ConnectionStatus::Offline,
    };
    if new == status {
        return Ok(vec![]);
    }
    let parties = change_status(&state.store, platform_id, status, new).await?;
    if parties.is_empty() {
        return Ok(vec![]);
    }
    match answer {
        Ok(()) => tracing::info!(platform_id, "partner reachable again: CONNECTED"),
        Err(why) => tracing::warn!(platform_id, error = %why, "partner unreachable: OFFLINE"),
    }
    Ok(parties)
}

/// Moves `platform_id` from `from` to `to` if it still is `from` (compare-and-set: another
/// instance or check may have moved it meanwhile), with its change-log entry (actor `hub`) in
/// the same write. Returns the platform's parties when it changed, for the hubclientinfo push.
/// Shared by the liveness checks and the forwarding breakers.
pub(crate) async fn change_status(
    store: &crate::store::Store,
    platform_id: i64,
    from: ConnectionStatus,
    to: ConnectionStatus,
) -> StoreResult<Vec<(PartyKey, Role)>> {
    store
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            if !connections::set_status(conn, platform_id, from, to, now)? {
                return Ok(vec![]);
            }
            connections::record_change(
                conn,
                &Change {
                    actor: "hub",
                    action: "partner.status",
                    subject: &format!("platform:{platform_id}"),
                    before: Some(json!({ "status": from.as_str() })),
                    after: Some(json!({ "status": to.as_str() })),
                },
                now,
            )?;
            Ok::<_, StoreError>(
                parties::all(conn)?
                    .into_iter()
                    .filter(|p| p.platform_id == platform_id)
                    .filter_map(|p| {
                        Some((
                            PartyKey::parse(&p.country_code, &p.party_id).ok()?,
                            p.role.parse().ok()?,
                        ))
                    })
                    .collect(),
            )
        })
        .await
}
