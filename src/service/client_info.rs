//! hubclientinfo (docs/design.md §6 "Partners"): every party reachable through the hub and how
//! it stands, served to partners (the sender list) and pushed to the partners that offer a
//! ClientInfo receiver whenever a party's status changes.
//!
//! Pushes are best effort: one attempt per partner and change, within the client's timeout, a
//! bounded number at a time; a failure is logged and counted, never queued or retried (OCPI: a
//! partner that missed a change resyncs by pulling the list).

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};

use crate::domain::agreement::{status_seen_by, Agreement, AgreementMode};
use crate::domain::ids::PartyKey;
use crate::domain::partner::ClientInfo;
use crate::domain::party::{PartyRole, Role};
use crate::peers::OcpiClient;
use crate::secrets::sealed::Sealer;
use crate::store::connections::{self, ClientInfoReceiver, PartyStatus};
use crate::store::{agreements, Conn, Store, StoreResult};

/// The parties with their status, the partners taking pushes, the agreements.
type PushInputs = (Vec<PartyStatus>, Vec<ClientInfoReceiver>, Vec<Agreement>);

/// At most this many pushes are in flight at once, per change.
const PUSH_CONCURRENCY: usize = 8;

/// Every party with its status as a platform serving `viewer` sees it (roaming agreements,
/// docs/design.md §6), oldest first.
pub async fn list(
    store: &Store,
    mode: AgreementMode,
    viewer: &[PartyRole],
) -> StoreResult<Vec<ClientInfo>> {
    let (rows, agreements) = store
        .read(move |conn| Ok((connections::client_infos(conn)?, agreements_of(conn, mode)?)))
        .await?;
    let viewer: Vec<(PartyKey, Role)> = viewer.iter().map(|r| (r.key.clone(), r.role)).collect();
    Ok(rows
        .into_iter()
        .map(|r| seen_by(mode, r.info, &viewer, &agreements))
        .collect())
}

/// The agreements that can change a status under `mode`: none under `open` (no query).
fn agreements_of(conn: &mut Conn<'_>, mode: AgreementMode) -> StoreResult<Vec<Agreement>> {
    Ok(match mode {
        AgreementMode::Open => Vec::new(),
        AgreementMode::Explicit => agreements::list(conn)?
            .into_iter()
            .map(|row| row.agreement)
            .collect(),
    })
}

fn seen_by(
    mode: AgreementMode,
    mut info: ClientInfo,
    viewer: &[(PartyKey, Role)],
    agreements: &[Agreement],
) -> ClientInfo {
    info.status = status_seen_by(mode, &info.key, info.role, info.status, viewer, agreements);
    info
}

/// The parties of `platform_id` among `statuses` (a receiver's own parties, as a viewer).
fn parties_of(statuses: &[PartyStatus], platform_id: i64) -> Vec<(PartyKey, Role)> {
    statuses
        .iter()
        .filter(|s| s.platform_id == platform_id)
        .map(|s| (s.info.key.clone(), s.info.role))
        .collect()
}

/// What one push round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    pub delivered: usize,
    pub failed: usize,
}

/// Pushes ClientInfo changes to partners. Cheap to clone, so a change made while answering a
/// request can be pushed by a task of its own after the answer.
#[derive(Clone)]
pub struct ClientInfoPusher {
    store: Store,
    peers: OcpiClient,
    sealer: Arc<Sealer>,
    /// Each receiver is pushed the status as it sees it (roaming agreements).
    mode: AgreementMode,
}

impl ClientInfoPusher {
    pub fn new(store: Store, peers: OcpiClient, sealer: Sealer, mode: AgreementMode) -> Self {
        Self {
            store,
            peers,
            sealer: Arc::new(sealer),
            mode,
        }
    }

    /// What every push reads: the parties with their status, the receivers, the agreements.
    async fn load(&self) -> Option<PushInputs> {
        let mode = self.mode;
        let loaded = self
            .store
            .read(move |conn| {
                Ok((
                    connections::client_infos(conn)?,
                    connections::client_info_receivers(conn)?,
                    agreements_of(conn, mode)?,
                ))
            })
            .await;
        match loaded {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::warn!(error = %e, "hubclientinfo push skipped: cannot read the parties");
                crate::ops::metrics::record_client_info_push(false);
                None
            }
        }
    }

    /// After an agreement of `cpo` and `emsp` was added or removed: each of the two sees the
    /// other's status change, so each platform offering a hubclientinfo RECEIVER is pushed the
    /// other party's ClientInfo as it now sees it (best effort, as every push).
    pub async fn push_agreement(&self, cpo: PartyKey, emsp: PartyKey) -> Pushed {
        let Some((statuses, receivers, agreements)) = self.load().await else {
            return Pushed {
                delivered: 0,
                failed: 1,
            };
        };
        let find = |key: &PartyKey, role: Role| {
            statuses
                .iter()
                .find(|s| s.info.key == *key && s.info.role == role)
        };
        let (Some(cpo), Some(emsp)) = (find(&cpo, Role::Cpo), find(&emsp, Role::Emsp)) else {
            return Pushed::default();
        };
        let calls: Vec<(ClientInfoReceiver, ClientInfo)> = [(cpo, emsp), (emsp, cpo)]
            .into_iter()
            .filter(|(viewer, shown)| viewer.platform_id != shown.platform_id)
            .flat_map(|(viewer, shown)| {
                let seen_as = parties_of(&statuses, viewer.platform_id);
                receivers
                    .iter()
                    .filter(|r| r.platform_id == viewer.platform_id)
                    .map(|r| {
                        let info = seen_by(self.mode, shown.info.clone(), &seen_as, &agreements);
                        (r.clone(), info)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        self.deliver(calls).await
    }

    /// Pushes the current ClientInfo of each of `parties` to every receiving partner except the
    /// party's own platform, and waits for the answers (each bounded by the client's timeout).
    pub async fn push(&self, parties: Vec<(PartyKey, Role)>) -> Pushed {
        if parties.is_empty() {
            return Pushed::default();
        }
        let Some((statuses, receivers, agreements)) = self.load().await else {
            return Pushed {
                delivered: 0,
                failed: 1,
            };
        };
        let changed: Vec<&PartyStatus> = statuses
            .iter()
            .filter(|s| {
                parties
                    .iter()
                    .any(|(key, role)| *key == s.info.key && *role == s.info.role)
            })
            .collect();
        let calls: Vec<(ClientInfoReceiver, ClientInfo)> = receivers
            .iter()
            .flat_map(|r| {
                let seen_as = parties_of(&statuses, r.platform_id);
                changed
                    .iter()
                    .filter(|s| s.platform_id != r.platform_id)
                    .map(|s| {
                        let info = seen_by(self.mode, s.info.clone(), &seen_as, &agreements);
                        (r.clone(), info)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        self.deliver(calls).await
    }

    /// One attempt per call, a bounded number at a time.
    async fn deliver(&self, calls: Vec<(ClientInfoReceiver, ClientInfo)>) -> Pushed {
        let outcomes: Vec<bool> = stream::iter(calls)
            .map(|(receiver, info)| self.push_one(receiver, info))
            .buffer_unordered(PUSH_CONCURRENCY)
            .collect()
            .await;
        let delivered = outcomes.iter().filter(|ok| **ok).count();
        Pushed {
            delivered,
            failed: outcomes.len() - delivered,
        }
    }

    /// Pushes in a task of its own: for changes made while answering a partner, whose answer
    /// must not wait for other partners. Needs a runtime that outlives the push (the server's).
    pub fn spawn(&self, parties: Vec<(PartyKey, Role)>) {
        let pusher = self.clone();
        tokio::spawn(async move {
            pusher.push(parties).await;
        });
    }

    async fn push_one(&self, receiver: ClientInfoReceiver, info: ClientInfo) -> bool {
        let party = info.key.to_string();
        let token = match self.sealer.open(&receiver.outbound_token_sealed) {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(platform_id = receiver.platform_id, %party, error = %e, "hubclientinfo push failed");
                crate::ops::metrics::record_client_info_push(false);
                return false;
            }
        };
        let url = object_url(&receiver.url, &info.key);
        let body = crate::peers::client_info::render(&info);
        let result = self
            .peers
            .call(reqwest::Method::PUT, &url, &token, Some(&body))
            .await;
        crate::ops::metrics::record_client_info_push(result.is_ok());
        match result {
            Ok(_) => {
                tracing::debug!(platform_id = receiver.platform_id, %party, status = info.status.as_str(), "hubclientinfo pushed");
                true
            }
            Err(e) => {
                tracing::warn!(platform_id = receiver.platform_id, %party, error = %e, "hubclientinfo push failed; not retried");
                false
            }
        }
    }
}

/// `{receiver url}/{country_code}/{party_id}`.
fn object_url(base: &url::Url, key: &PartyKey) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .push(key.country_code.as_str())
            .push(key.party_id.as_str());
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_url_appends_the_party() {
        let key = PartyKey::parse("NL", "ABC").unwrap();
        for base in [
            "https://p.example/ocpi/2.3.0/hubclientinfo",
            "https://p.example/ocpi/2.3.0/hubclientinfo/",
        ] {
            let url = object_url(&url::Url::parse(base).unwrap(), &key);
            assert_eq!(
                url.as_str(),
                "https://p.example/ocpi/2.3.0/hubclientinfo/NL/ABC"
            );
        }
    }
}
