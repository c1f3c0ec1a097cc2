//! Partners connect through the Credentials module (docs/design.md §6 "Partners"): invited
//! parties register with the hub (token A → the partner's token B, the hub's token C), registered
//! ones update (rotation) and unregister; and the hub registers itself with partners that invited
//! it (`party register`).
//!
//! Calls to the partner happen between two store steps, never inside a write job: the first step
//! is the extractor's lookup of the presented token, the last a compare-and-set on that token's
//! hash, so a token used twice at once registers once.

use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::json;
use url::Url;

use crate::domain::ids::PartyKey;
use crate::domain::partner::{
    ConnectionStatus, HubCredentials, OcpiVersion, PartnerCredentials, PartnerEndpoint, RoleClaim,
};
use crate::domain::party::{CredentialsKind, Platform, Role};
use crate::error::Error;
use crate::peers::client::DiscoveryError;
use crate::secrets::{hash_token, new_credentials_token};
use crate::store::connections::{self, Change, Registration};
use crate::store::{parties, StoreError};

use super::AppState;

/// Modules the hub works with; a partner must offer at least one of them.
const USABLE_MODULES: [&str; 4] = ["credentials", "tokens", "sessions", "hubclientinfo"];

/// What a partner that registered or updated gets back: its new token C.
pub struct Issued {
    pub token_c: String,
}

/// POST credentials: the invited platform (holding token A) registers.
pub async fn register_incoming(
    state: &AppState,
    platform: &Platform,
    presented_token: &str,
    version: OcpiVersion,
    credentials: PartnerCredentials,
) -> Result<Issued, Error> {
    if platform.kind == CredentialsKind::Registered {
        return Err(Error::RegistrationState(
            "this platform is registered already: update with PUT, or unregister with DELETE first"
                .into(),
        ));
    }
    connect_incoming(
        state,
        platform,
        presented_token,
        version,
        credentials,
        "credentials.register",
    )
    .await
}

/// PUT credentials: a registered platform switches version, refreshes its endpoints or rotates
/// tokens. The old token C stops working when the answer is sent.
pub async fn update_incoming(
    state: &AppState,
    platform: &Platform,
    presented_token: &str,
    version: OcpiVersion,
    credentials: PartnerCredentials,
) -> Result<Issued, Error> {
    if platform.kind != CredentialsKind::Registered {
        return Err(Error::RegistrationState(
            "this platform is not registered yet: register with POST".into(),
        ));
    }
    connect_incoming(
        state,
        platform,
        presented_token,
        version,
        credentials,
        "credentials.update",
    )
    .await
}

async fn connect_incoming(
    state: &AppState,
    platform: &Platform,
    presented_token: &str,
    version: OcpiVersion,
    credentials: PartnerCredentials,
    action: &'static str,
) -> Result<Issued, Error> {
    check_roles(platform, &credentials.roles)?;
    let discovery = state
        .peers
        .discover(&credentials.versions_url, &credentials.token, &[version])
        .await
        .map_err(|e| match e {
            DiscoveryError::NoCommonVersion(offered) => Error::UnsupportedVersion(format!(
                "the credentials were posted to the {version} endpoint, but the versions at {} offer {offered:?}",
                credentials.versions_url
            )),
            DiscoveryError::Peer(e) => Error::PartnerUnreachable(format!(
                "cannot read the partner's versions with the token it sent: {e}"
            )),
        })?;
    check_endpoints(&discovery.endpoints)?;

    let token_c = new_credentials_token();
    let sealed = state.sealer.seal(&credentials.token);
    let (expected, new_hash) = (hash_token(presented_token), hash_token(&token_c));
    let platform_id = platform.id;
    let actor = actor(platform);
    let versions_url = credentials.versions_url.to_string();
    let endpoints = discovery.endpoints;
    let subject = format!("platform:{platform_id}");
    let (applied, was) = state
        .store
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let was = connections::platform_status(conn, platform_id)?;
            let applied = connections::register(
                conn,
                platform_id,
                &expected,
                &new_hash,
                &Registration {
                    versions_url: &versions_url,
                    version,
                    outbound_token_sealed: &sealed,
                    endpoints: &endpoints,
                },
                now,
            )?;
            if applied {
                connections::record_change(
                    conn,
                    &Change {
                        actor: &actor,
                        action,
                        subject: &subject,
                        before: None,
                        after: Some(json!({
                            "versions_url": versions_url,
                            "version": version.as_str(),
                            "endpoints": endpoints.len(),
                        })),
                    },
                    now,
                )?;
            }
            Ok::<_, StoreError>((applied, was))
        })
        .await?;
    if !applied {
        return Err(Error::RegistrationState(
            "this token was used by a concurrent registration; use the token it returned".into(),
        ));
    }
    // This instance at once; the others when they see the credentials epoch move.
    state.credentials.clear();
    if was != ConnectionStatus::Connected {
        // The partner's answer does not wait for the other partners.
        state.client_info.spawn(party_keys(platform));
    }
    Ok(Issued { token_c })
}

/// DELETE credentials: the partner unregisters; its token stops working and the hub forgets the
/// token it used to call the partner.
pub async fn unregister_incoming(
    state: &AppState,
    platform: &Platform,
    presented_token: &str,
) -> Result<(), Error> {
    if platform.kind != CredentialsKind::Registered {
        return Err(Error::RegistrationState(
            "this platform is not registered".into(),
        ));
    }
    let expected = hash_token(presented_token);
    let platform_id = platform.id;
    let actor = actor(platform);
    let done = state
        .store
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let done = connections::unregister(conn, platform_id, &expected, now)?;
            if done {
                connections::record_change(
                    conn,
                    &Change {
                        actor: &actor,
                        action: "credentials.unregister",
                        subject: &format!("platform:{platform_id}"),
                        before: None,
                        after: None,
                    },
                    now,
                )?;
            }
            Ok::<_, StoreError>(done)
        })
        .await?;
    if !done {
        return Err(Error::RegistrationState(
            "this token was changed by a concurrent request".into(),
        ));
    }
    state.credentials.clear();
    state.client_info.spawn(party_keys(platform));
    Ok(())
}

/// The parties `platform` speaks for, as hubclientinfo pushes name them.
fn party_keys(platform: &Platform) -> Vec<(PartyKey, Role)> {
    platform
        .roles
        .iter()
        .map(|r| (r.key.clone(), r.role))
        .collect()
}

fn actor(platform: &Platform) -> String {
    match platform.roles.first() {
        Some(role) => format!("partner:{}", role.key),
        None => format!("platform:{}", platform.id),
    }
}

/// The posted roles must be the ones the platform was invited (or registered) with.
fn check_roles(platform: &Platform, posted: &[RoleClaim]) -> Result<(), Error> {
    let show = |set: &BTreeSet<(String, Role)>| {
        set.iter()
            .map(|(k, r)| format!("{k} ({r})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let known: BTreeSet<(String, Role)> = platform
        .roles
        .iter()
        .map(|r| (r.key.to_string(), r.role))
        .collect();
    let claimed: BTreeSet<(String, Role)> =
        posted.iter().map(|r| (r.key.to_string(), r.role)).collect();
    let extra: BTreeSet<_> = claimed.difference(&known).cloned().collect();
    if !extra.is_empty() {
        return Err(Error::invalid(
            "roles",
            format!("not invited for this token: {}", show(&extra)),
        ));
    }
    let missing: BTreeSet<_> = known.difference(&claimed).cloned().collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            "roles",
            format!("missing the invited role(s): {}", show(&missing)),
        ));
    }
    Ok(())
}

fn check_endpoints(endpoints: &[PartnerEndpoint]) -> Result<(), Error> {
    if endpoints
        .iter()
        .any(|e| USABLE_MODULES.contains(&e.identifier.as_str()))
    {
        Ok(())
    } else {
        Err(Error::NoUsableEndpoints(format!(
            "the partner's version details list none of the modules the hub uses ({})",
            USABLE_MODULES.join(", ")
        )))
    }
}

/// What `party register` did.
pub struct Registered {
    pub platform_id: i64,
    pub version: OcpiVersion,
    pub roles: Vec<RoleClaim>,
}

/// The hub's Credentials for a caller that is to present `token`: every party reachable through
/// the hub (suspended ones left out).
pub async fn hub_credentials(state: &AppState, token: String) -> Result<HubCredentials, Error> {
    let rows = state.store.read(parties::all).await?;
    Ok(HubCredentials {
        token,
        versions_url: format!("{}/ocpi/versions", state.public_url),
        hub: state.hub.clone(),
        hub_name: state.hub_name.clone(),
        roles: rows
            .into_iter()
            .filter(|p| !p.suspended)
            .filter_map(|p| {
                Some(RoleClaim {
                    key: PartyKey::parse(&p.country_code, &p.party_id).ok()?,
                    role: p.role.parse().ok()?,
                    name: p.name,
                })
            })
            .collect(),
    })
}

/// `party register`: the hub registers with a partner that gave it `token_a` and its versions
/// URL. The partner will call the hub's versions with the token B created here before it
/// answers, so B is stored (PLANNED) first, and everything is undone if the handshake fails.
pub async fn register_outgoing(
    state: &AppState,
    versions_url: &Url,
    token_a: &str,
    name: &str,
) -> Result<Registered, String> {
    let discovery = state
        .peers
        .discover(versions_url, token_a, &OcpiVersion::ALL)
        .await
        .map_err(|e| format!("discovering the partner: {e}"))?;
    let credentials_url = discovery
        .endpoints
        .iter()
        .find(|e| e.identifier == "credentials")
        .map(|e| e.url.clone())
        .ok_or("the partner's version details have no credentials endpoint")?;

    let token_b = new_credentials_token();
    let (hash_b, url, owned_name) = (
        hash_token(&token_b),
        versions_url.to_string(),
        name.to_owned(),
    );
    let platform_id = state
        .store
        .write(move |conn| {
            connections::begin_outgoing(conn, &owned_name, &hash_b, &url, Utc::now().naive_utc())
        })
        .await
        .map_err(|e| e.to_string())?;
    let outcome = finish_outgoing(
        state,
        platform_id,
        &discovery,
        &credentials_url,
        token_a,
        token_b,
    )
    .await;
    if outcome.is_err() {
        let undo = state
            .store
            .write(move |conn| connections::abort_outgoing(conn, platform_id))
            .await;
        if let Err(e) = undo {
            tracing::error!(error = %e, platform_id, "cannot undo a failed registration");
        }
    }
    outcome
}

async fn finish_outgoing(
    state: &AppState,
    platform_id: i64,
    discovery: &crate::peers::client::Discovery,
    credentials_url: &Url,
    token_a: &str,
    token_b: String,
) -> Result<Registered, String> {
    let hub = hub_credentials(state, token_b)
        .await
        .map_err(|e| e.to_string())?;
    let body = crate::peers::credentials::render(discovery.version, &hub);
    let answer = state
        .peers
        .call(reqwest::Method::POST, credentials_url, token_a, Some(&body))
        .await
        .map_err(|e| format!("posting the hub's credentials: {e}"))?;
    let partner = crate::peers::credentials::parse(answer)
        .map_err(|e| format!("the partner's credentials: {e}"))?;
    state
        .peers
        .check_url(&partner.versions_url)
        .await
        .map_err(|e| e.to_string())?;
    let sealed = state.sealer.seal(&partner.token);
    let (version, endpoints) = (discovery.version, discovery.endpoints.clone());
    let roles = partner.roles.clone();
    let versions_url = partner.versions_url.to_string();
    let stored_roles: Vec<_> = roles
        .iter()
        .map(|r| (r.key.clone(), r.role, r.name.clone()))
        .collect();
    state
        .store
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let finished = connections::finish_outgoing(
                conn,
                platform_id,
                &stored_roles,
                &Registration {
                    versions_url: &versions_url,
                    version,
                    outbound_token_sealed: &sealed,
                    endpoints: &endpoints,
                },
                now,
            )?;
            if finished.is_ok() {
                connections::record_change(
                    conn,
                    &Change {
                        actor: "operator",
                        action: "party.register",
                        subject: &format!("platform:{platform_id}"),
                        before: None,
                        after: Some(json!({
                            "versions_url": versions_url,
                            "version": version.as_str(),
                            "roles": stored_roles.iter().map(|(k, r, _)| format!("{k} ({r})")).collect::<Vec<_>>(),
                        })),
                    },
                    now,
                )?;
            }
            Ok::<_, StoreError>(finished)
        })
        .await
        .map_err(|e| e.to_string())??;
    state
        .client_info
        .push(roles.iter().map(|r| (r.key.clone(), r.role)).collect())
        .await;
    Ok(Registered {
        platform_id,
        version,
        roles,
    })
}
