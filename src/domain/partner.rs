//! Partners the hub connects to through the Credentials module: the OCPI versions it speaks,
//! the endpoints a partner offers, and how its connection stands.

use serde::{Deserialize, Serialize};

pub use super::version::OcpiVersion;

/// hubclientinfo's `ConnectionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConnectionStatus {
    /// Online: requests may be sent.
    Connected,
    /// Temporarily unreachable: send nothing, queue nothing; it resyncs by pulling.
    Offline,
    /// Configured (invited) but never connected.
    Planned,
    /// Gone (unregistered or suspended by the operator).
    Suspended,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "CONNECTED",
            ConnectionStatus::Offline => "OFFLINE",
            ConnectionStatus::Planned => "PLANNED",
            ConnectionStatus::Suspended => "SUSPENDED",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        [
            ConnectionStatus::Connected,
            ConnectionStatus::Offline,
            ConnectionStatus::Planned,
            ConnectionStatus::Suspended,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// `InterfaceRole` of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InterfaceRole {
    Sender,
    Receiver,
}

impl InterfaceRole {
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceRole::Sender => "SENDER",
            InterfaceRole::Receiver => "RECEIVER",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "SENDER" => Some(InterfaceRole::Sender),
            "RECEIVER" => Some(InterfaceRole::Receiver),
            _ => None,
        }
    }
}

/// One module endpoint a partner offers, as its version details list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerEndpoint {
    /// `ModuleID` (an open enum: kept as given).
    pub identifier: String,
    pub role: InterfaceRole,
    pub url: url::Url,
}

/// What the hub knows of a connected partner platform.
#[derive(Clone, Debug)]
pub struct Connection {
    pub platform_id: i64,
    pub versions_url: url::Url,
    pub version: OcpiVersion,
    pub endpoints: Vec<PartnerEndpoint>,
    pub status: ConnectionStatus,
}

impl Connection {
    pub fn endpoint(&self, identifier: &str, role: InterfaceRole) -> Option<&url::Url> {
        self.endpoints
            .iter()
            .find(|e| e.identifier == identifier && e.role == role)
            .map(|e| &e.url)
    }
}

/// One party a platform says it serves (a Credentials role).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleClaim {
    pub key: crate::domain::ids::PartyKey,
    pub role: crate::domain::party::Role,
    pub name: String,
}

/// A partner's Credentials, validated: the token the hub must present to it, its versions URL
/// and the parties it serves.
#[derive(Clone, Debug)]
pub struct PartnerCredentials {
    pub token: String,
    pub versions_url: url::Url,
    pub roles: Vec<RoleClaim>,
}

/// A credentials token as OCPI allows it: 1 to 64 printable, non-whitespace ASCII characters.
pub fn check_credentials_token(field: &str, token: &str) -> Result<(), super::ValidationError> {
    if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(super::ValidationError::new(
            field,
            "must be 1 to 64 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

/// The hub's own Credentials, before a version's wire shape is applied.
#[derive(Clone, Debug)]
pub struct HubCredentials {
    /// The token the other side must present to the hub.
    pub token: String,
    /// The hub's versions URL.
    pub versions_url: String,
    pub hub: crate::domain::ids::PartyKey,
    pub hub_name: String,
    /// Every party reachable through the hub (2.3.0 lists them all).
    pub roles: Vec<RoleClaim>,
}

/// hubclientinfo's `ClientInfo`: one party reachable through the hub and how it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub key: crate::domain::ids::PartyKey,
    pub role: crate::domain::party::Role,
    pub status: ConnectionStatus,
    pub last_updated: chrono::DateTime<chrono::Utc>,
}

/// Where and how the hub asks an eMSP for real-time authorization: its platform's Tokens SENDER
/// endpoint (registered in the Credentials handshake), on the platform's OCPI version, with the
/// token the hub presents to it (sealed).
#[derive(Clone, Debug)]
pub struct RealtimeEndpoint {
    pub platform_id: i64,
    pub tokens_sender: url::Url,
    pub version: OcpiVersion,
    pub outbound_token_sealed: String,
    pub status: ConnectionStatus,
    /// The party's `time_budget_ms`, if set (else the hub's default).
    pub time_budget_ms: Option<u32>,
}
