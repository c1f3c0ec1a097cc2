//! hubclientinfo (docs/design.md §6 "Partners"): every party reachable through the hub and how
//! it stands, served to partners (the sender list) and pushed to the partners that offer a
//! ClientInfo receiver whenever a party's status changes.
//!
//! Pushes are best effort: one attempt per partner and change, within the client's timeout, a
//! bounded number at a time; a failure is logged and counted, never queued or retried (OCPI: a
//! partner that missed a change resyncs by pulling the list).

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};

use crate::domain::ids::PartyKey;
use crate::domain::partner::ClientInfo;
use crate::domain::party::Role;
use crate::peers::OcpiClient;
use crate::secrets::sealed::Sealer;
use crate::store::connections::{self, ClientInfoReceiver, PartyStatus};
use crate::store::{Store, StoreResult};

/// At most this many pushes are in flight at once, per change.
const PUSH_CONCURRENCY: usize = 8;

/// Every party with its status, oldest first.
pub async fn list(store: &Store) -> StoreResult<Vec<ClientInfo>> {
    let rows = store.read(connections::client_infos).await?;
    Ok(rows.into_iter().map(|r| r.info).collect())
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
}

impl ClientInfoPusher {
    pub fn new(store: Store, peers: OcpiClient, sealer: Sealer) -> Self {
        Self {
            store,
            peers,
            sealer: Arc::new(sealer),
        }
    }

    /// Pushes the current ClientInfo of each of `parties` to every receiving partner except the
    /// party's own platform, and waits for the answers (each bounded by the client's timeout).
    pub async fn push(&self, parties: Vec<(PartyKey, Role)>) -> Pushed {
        if parties.is_empty() {
            return Pushed::default();
        }
        let loaded = self
            .store
            .read(|conn| {
                Ok((
                    connections::client_infos(conn)?,
                    connections::client_info_receivers(conn)?,
                ))
            })
            .await;
        let (statuses, receivers): (Vec<PartyStatus>, Vec<ClientInfoReceiver>) = match loaded {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "hubclientinfo push skipped: cannot read the parties");
                crate::ops::metrics::record_client_info_push(false);
                return Pushed {
                    delivered: 0,
                    failed: 1,
                };
            }
        };
        let changed: Vec<PartyStatus> = statuses
            .into_iter()
            .filter(|s| {
                parties
                    .iter()
                    .any(|(key, role)| *key == s.info.key && *role == s.info.role)
            })
            .collect();
        let calls: Vec<(ClientInfoReceiver, ClientInfo)> = receivers
            .iter()
            .flat_map(|r| {
                changed
                    .iter()
                    .filter(move |s| s.platform_id != r.platform_id)
                    .map(move |s| (r.clone(), s.info.clone()))
            })
            .collect();
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
