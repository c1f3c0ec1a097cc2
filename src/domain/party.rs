//! Parties (CPOs, eMSPs, ...) and the platforms that speak for them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ids::PartyKey;

/// OCPI 2.3.0 `Role` (closed enum; `HUB` was removed in 2.3.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    Cpo,
    Emsp,
    Nap,
    Nsp,
    Other,
    Scsp,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Cpo => "CPO",
            Role::Emsp => "EMSP",
            Role::Nap => "NAP",
            Role::Nsp => "NSP",
            Role::Other => "OTHER",
            Role::Scsp => "SCSP",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    /// Case-insensitive, for the CLI and for values read back from storage.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "CPO" => Ok(Role::Cpo),
            "EMSP" => Ok(Role::Emsp),
            "NAP" => Ok(Role::Nap),
            "NSP" => Ok(Role::Nsp),
            "OTHER" => Ok(Role::Other),
            "SCSP" => Ok(Role::Scsp),
            other => Err(format!(
                "unknown role {other:?} (expected CPO, EMSP, NAP, NSP, OTHER or SCSP)"
            )),
        }
    }
}

/// Which kind of credentials token a platform presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsKind {
    /// Token A: only for versions and credentials (registration).
    Registration,
    /// Token C (or a token issued by `party add`): every module.
    Registered,
}

/// One party a platform serves, as registered with the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartyRole {
    pub key: PartyKey,
    pub role: Role,
    pub name: String,
    pub suspended: bool,
}

/// The authenticated caller: a platform identified by its credentials token, with its roles.
#[derive(Clone, Debug)]
pub struct Platform {
    pub id: i64,
    pub name: String,
    pub kind: CredentialsKind,
    pub roles: Vec<PartyRole>,
}

impl Platform {
    pub fn role_for(&self, key: &PartyKey) -> Option<&PartyRole> {
        self.roles.iter().find(|r| &r.key == key)
    }

    pub fn has_role(&self, key: &PartyKey, role: Role) -> bool {
        self.roles.iter().any(|r| &r.key == key && r.role == role)
    }
}

/// What the operator sets per party (docs/design.md §6): suspension, the default concurrent-use
/// limit of its tokens, and how real-time authorizations of its tokens are routed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartySettings {
    /// A suspended eMSP's tokens authorize NOT_ALLOWED; hubclientinfo shows the party SUSPENDED.
    pub suspended: bool,
    /// Concurrent uses of each of its tokens when the token sets none (else the global default).
    pub max_concurrent: Option<u32>,
    /// Forward `ALLOWED` tokens of this eMSP for real-time authorization instead of deciding
    /// locally.
    pub forward_allowed: bool,
    /// Decide `NEVER` tokens locally when the eMSP offers no real-time authorization.
    pub delegate_realtime: bool,
    /// Time budget of a forwarded authorization, in milliseconds (else the hub's default).
    pub time_budget_ms: Option<u32>,
}
