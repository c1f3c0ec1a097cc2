//! Units of work, each written once and called from every surface (the OCPI handlers, the CLI,
//! and next the management API and the credentials handshake): authorize, tokens, sessions,
//! parties, credentials. A unit validates nothing the edge already turned into domain types and
//! builds no SQL itself: it composes `registry` and `store`.

pub mod authorize;
pub mod credentials;
pub mod parties;
pub mod sessions;
pub mod tokens;

use crate::config::{AuthorizationConfig, PaginationConfig};
use crate::domain::ids::PartyKey;
use crate::ops::limits::{FailureLimiter, TrustedProxies};
use crate::store::Store;

use self::credentials::CredentialsCache;

/// What every surface can reach: storage, caches and the settings the units of work need.
pub struct AppState {
    pub store: Store,
    pub credentials: CredentialsCache,
    /// Failed authentications per client address (`http.auth_failures_per_minute`).
    pub auth_failures: FailureLimiter,
    /// Whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    pub trusted_proxies: TrustedProxies,
    /// Base of advertised URLs, without a trailing slash.
    pub public_url: String,
    pub hub: PartyKey,
    pub hub_name: String,
    pub authorization: AuthorizationConfig,
    pub pagination: PaginationConfig,
    pub max_body_bytes: usize,
}
