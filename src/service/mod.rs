//! Units of work, each written once and called from every surface (the OCPI handlers, the CLI,
//! and next the management API and the credentials handshake): authorize, tokens, sessions,
//! parties, credentials. A unit validates nothing the edge already turned into domain types and
//! builds no SQL itself: it composes `registry` and `store`.

pub mod authorize;
pub mod client_info;
pub mod credentials;
pub mod liveness;
pub mod parties;
pub mod partners;
pub mod sessions;
pub mod tokens;

use std::time::Duration;

use crate::config::{AuthorizationConfig, Config, PaginationConfig};
use crate::domain::ids::PartyKey;
use crate::peers::OcpiClient;
use crate::secrets::sealed::Sealer;
use crate::secrets::{Keys, Purpose};
use crate::store::Store;

use self::credentials::CredentialsCache;

/// What every surface can reach: storage, caches and the settings the units of work need.
pub struct AppState {
    pub store: Store,
    pub credentials: CredentialsCache,
    /// Base of advertised URLs, without a trailing slash.
    pub public_url: String,
    pub hub: PartyKey,
    pub hub_name: String,
    pub authorization: AuthorizationConfig,
    pub sessions: sessions::SessionSettings,
    pub pagination: PaginationConfig,
    pub max_body_bytes: usize,
    /// Calls to partners' platforms.
    pub peers: OcpiClient,
    /// Seals the tokens the hub presents to partners.
    pub sealer: Sealer,
    /// Keys derived from the master key (log fingerprints today).
    pub keys: Keys,
    /// Pushes party status changes to the partners that take hubclientinfo.
    pub client_info: client_info::ClientInfoPusher,
}

/// How long a looked-up credentials token is trusted without asking the database again (a
/// change anywhere moves the credentials epoch, which drops the cache sooner).
const CREDENTIALS_TTL: Duration = Duration::from_secs(5);

impl AppState {
    /// The state of a hub reached at `public_url` (no trailing slash), for the server and for
    /// CLI commands that act as the hub (`party register`).
    pub fn new(
        config: &Config,
        store: Store,
        keys: Keys,
        public_url: String,
    ) -> Result<Self, String> {
        let peers = OcpiClient::new(
            Duration::from_millis(config.peers.timeout_ms),
            config.peers.allow_insecure,
        )?;
        Ok(AppState {
            client_info: client_info::ClientInfoPusher::new(
                store.clone(),
                peers.clone(),
                Sealer::new(keys.derive(Purpose::TOKEN_B_ENCRYPTION)),
            ),
            store,
            credentials: CredentialsCache::new(CREDENTIALS_TTL),
            public_url,
            hub: config.hub_party().map_err(|e| format!("hub.{e}"))?,
            hub_name: config.hub.name.clone(),
            authorization: config.authorization.clone(),
            sessions: sessions::SessionSettings::from_config(config),
            pagination: config.pagination.clone(),
            max_body_bytes: config.http.max_body_bytes,
            peers,
            sealer: Sealer::new(keys.derive(Purpose::TOKEN_B_ENCRYPTION)),
            keys,
        })
    }
}
