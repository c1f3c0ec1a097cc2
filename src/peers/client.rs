//! An OCPI client for calls to partner platforms: the `Authorization: Token base64(token)`
//! header, fresh request ids, a bounded time, the envelope checked on every answer.

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::domain::ids::PartyKey;
use crate::domain::partner::{InterfaceRole, OcpiVersion, PartnerEndpoint};

use super::policy;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The URL may not be called (scheme or address; see `peers::policy`).
    #[error("{0}")]
    Refused(String),
    /// No answer: connection refused, DNS, TLS, timeout.
    #[error("{url}: no answer: {detail}")]
    Unreachable { url: String, detail: String },
    /// An answer that is not a successful OCPI envelope.
    #[error("{url}: HTTP {http}, OCPI status {}: {message}", shown_code(*.ocpi))]
    Failed {
        url: String,
        http: u16,
        ocpi: Option<u16>,
        message: String,
    },
    /// A successful envelope whose `data` is not what the module defines.
    #[error("{url}: malformed answer: {detail}")]
    Malformed { url: String, detail: String },
}

fn shown_code(code: Option<u16>) -> String {
    code.map_or_else(|| "none".to_owned(), |c| c.to_string())
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<Value>,
    status_code: Option<u16>,
    status_message: Option<String>,
}

/// One entry of a partner's version list.
#[derive(Clone, Debug, Deserialize)]
pub struct VersionEntry {
    pub version: String,
    pub url: String,
}

#[derive(Deserialize)]
struct VersionDetailsDoc {
    endpoints: Vec<EndpointDoc>,
}

#[derive(Deserialize)]
struct EndpointDoc {
    identifier: String,
    role: String,
    url: String,
}

/// The parties a routed request is from and to (`OCPI-from-*`, `OCPI-to-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    pub from: PartyKey,
    pub to: PartyKey,
}

#[derive(Clone)]
pub struct OcpiClient {
    http: reqwest::Client,
    allow_insecure: bool,
}

impl OcpiClient {
    pub fn new(timeout: Duration, allow_insecure: bool) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            // A partner's redirect must not lead the hub's token to another host unchecked.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tokenhub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            http,
            allow_insecure,
        })
    }

    /// The HTTP client, for requests `call` does not make (forwarding, with headers of its own).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether the hub may call `url` at all.
    pub async fn check_url(&self, url: &Url) -> Result<(), PeerError> {
        policy::check(url, self.allow_insecure)
            .await
            .map_err(PeerError::Refused)
    }

    /// Sends one OCPI request and returns the envelope's `data` (Null when absent).
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: &Url,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Value, PeerError> {
        self.call_routed(method, url, token, body, None).await
    }

    /// As [`OcpiClient::call`], with the `OCPI-from-*`/`OCPI-to-*` headers of a functional module's
    /// request when `routing` is given.
    pub async fn call_routed(
        &self,
        method: reqwest::Method,
        url: &Url,
        token: &str,
        body: Option<&Value>,
        routing: Option<&Routing>,
    ) -> Result<Value, PeerError> {
        self.check_url(url).await?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(token.as_bytes());
        let id = uuid::Uuid::new_v4().to_string();
        let mut request = self
            .http
            .request(method, url.clone())
            .header("Authorization", format!("Token {encoded}"))
            .header("X-Request-ID", &id)
            .header("X-Correlation-ID", &id);
        if let Some(routing) = routing {
            request = request
                .header("OCPI-from-country-code", routing.from.country_code.as_str())
                .header("OCPI-from-party-id", routing.from.party_id.as_str())
                .header("OCPI-to-country-code", routing.to.country_code.as_str())
                .header("OCPI-to-party-id", routing.to.party_id.as_str());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let shown = url.to_string();
        let response = request.send().await.map_err(|e| PeerError::Unreachable {
            url: shown.clone(),
            detail: e.to_string(),
        })?;
        let http = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| PeerError::Unreachable {
            url: shown.clone(),
            detail: e.to_string(),
        })?;
        let envelope: Option<Envelope> = serde_json::from_slice(&bytes).ok();
        let ocpi = envelope.as_ref().and_then(|e| e.status_code);
        let success = (200..300).contains(&http) && ocpi.is_some_and(|c| (1000..2000).contains(&c));
        match envelope {
            Some(e) if success => Ok(e.data.unwrap_or(Value::Null)),
            other => Err(PeerError::Failed {
                url: shown,
                http,
                ocpi,
                message: other
                    .and_then(|e| e.status_message)
                    .unwrap_or_else(|| "no OCPI envelope".into()),
            }),
        }
    }

    /// The partner's version list.
    pub async fn versions(&self, url: &Url, token: &str) -> Result<Vec<VersionEntry>, PeerError> {
        let data = self.call(reqwest::Method::GET, url, token, None).await?;
        serde_json::from_value(data).map_err(|e| PeerError::Malformed {
            url: url.to_string(),
            detail: format!("version list: {e}"),
        })
    }

    /// The endpoints of one version; entries with an unknown role or a bad URL are left out.
    pub async fn version_details(
        &self,
        url: &Url,
        token: &str,
    ) -> Result<Vec<PartnerEndpoint>, PeerError> {
        let data = self.call(reqwest::Method::GET, url, token, None).await?;
        let doc: VersionDetailsDoc =
            serde_json::from_value(data).map_err(|e| PeerError::Malformed {
                url: url.to_string(),
                detail: format!("version details: {e}"),
            })?;
        Ok(doc
            .endpoints
            .into_iter()
            .filter_map(|e| {
                Some(PartnerEndpoint {
                    identifier: e.identifier,
                    role: InterfaceRole::from_db(&e.role.to_ascii_uppercase())?,
                    url: Url::parse(&e.url).ok()?,
                })
            })
            .collect())
    }

    /// Discovers the partner: its version list at `versions_url`, the entry for one of
    /// `acceptable` (the newest the partner offers), and that version's endpoints.
    pub async fn discover(
        &self,
        versions_url: &Url,
        token: &str,
        acceptable: &[OcpiVersion],
    ) -> Result<Discovery, DiscoveryError> {
        let list = self
            .versions(versions_url, token)
            .await
            .map_err(DiscoveryError::Peer)?;
        let chosen = list
            .iter()
            .filter_map(|v| OcpiVersion::parse(&v.version).map(|known| (known, v)))
            .filter(|(known, _)| acceptable.contains(known))
            .max_by_key(|(known, _)| *known);
        let Some((version, entry)) = chosen else {
            return Err(DiscoveryError::NoCommonVersion(
                list.iter().map(|v| v.version.clone()).collect(),
            ));
        };
        let details_url = Url::parse(&entry.url).map_err(|e| {
            DiscoveryError::Peer(PeerError::Malformed {
                url: versions_url.to_string(),
                detail: format!("version {version} has a bad URL: {e}"),
            })
        })?;
        let endpoints = self
            .version_details(&details_url, token)
            .await
            .map_err(DiscoveryError::Peer)?;
        Ok(Discovery { version, endpoints })
    }
}

/// A partner's chosen version and its endpoints.
pub struct Discovery {
    pub version: OcpiVersion,
    pub endpoints: Vec<PartnerEndpoint>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Peer(PeerError),
    #[error("no OCPI version in common (the partner offers {0:?})")]
    NoCommonVersion(Vec<String>),
}
