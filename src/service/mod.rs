//! Units of work, each written once and called from every surface (the OCPI handlers, the CLI,
//! and next the management API and the credentials handshake): authorize, tokens, sessions,
//! parties, credentials. A unit validates nothing the edge already turned into domain types and
//! builds no SQL itself: it composes `registry` and `store`.

pub mod agreements;
pub mod audit_trail;
pub mod authorize;
mod batch_queue;
pub mod client_info;
pub mod console;
pub mod credentials;
pub mod forwarding;
pub mod liveness;
pub mod oauth;
pub mod parties;
pub mod partners;
pub mod policy;
pub mod policy_import;
pub mod push;
pub mod sessions;
pub mod token_admin;
pub mod token_files;
pub mod token_import;
pub mod tokens;
pub mod windows;

use std::time::Duration;

use crate::config::{AuthorizationSettings, PaginationConfig, Settings};
use crate::domain::agreement::AgreementMode;
use crate::domain::ids::PartyKey;
use crate::ops::limits::{FailureLimiter, TrustedProxies};
use crate::peers::OcpiClient;
use crate::secrets::sealed::Sealer;
use crate::secrets::{Keys, Purpose};
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
    /// `hub.agreements`: whether every CPO deals with every eMSP, or only recorded pairs.
    pub agreements: AgreementMode,
    pub authorization: AuthorizationSettings,
    pub sessions: sessions::SessionSettings,
    pub pagination: PaginationConfig,
    pub max_body_bytes: usize,
    /// Calls to partners' platforms.
    pub peers: OcpiClient,
    /// Seals the tokens the hub presents to partners.
    pub sealer: Sealer,
    /// Keys derived from the master key (log fingerprints today).
    pub keys: Keys,
    /// How far ahead of the hub's clock a pushed `last_updated` may be (`http.max_future_skew_secs`).
    pub max_future_skew: chrono::TimeDelta,
    /// Pushes party status changes to the partners that take hubclientinfo.
    pub client_info: client_info::ClientInfoPusher,
    /// Asks owner eMSPs for real-time authorizations, behind per-partner breakers.
    pub forwarder: forwarding::Forwarder,
    /// PostgreSQL: the threads that read and write concurrent decisions in batches.
    pub decisions: Option<authorize::DecisionBatches>,
    /// PostgreSQL: the threads that write concurrent token PUTs in batches.
    pub token_puts: Option<tokens::PutBatches>,
    /// The OAuth 2 authorization server: clients, signing keys, revocations.
    pub oauth: oauth::OAuthServer,
    /// How pushes of tokens and sessions are delivered and retried (`push.*`).
    pub push: crate::config::PushSettings,
    /// How long one call to a partner may take (`peers.timeout_ms`).
    pub peers_timeout: Duration,
    /// The admin console: its sessions' keys and the decision rollup.
    pub console: console::Console,
}

/// How long a looked-up credentials token is trusted without asking the database again (a
/// change anywhere moves the credentials epoch, which drops the cache sooner).
const CREDENTIALS_TTL: Duration = Duration::from_secs(5);
/// How long an unknown credentials token is refused without asking the database again: a token
/// registered meanwhile by another process (the CLI) works after at most this long.
const UNKNOWN_CREDENTIALS_TTL: Duration = Duration::from_secs(5);

impl AppState {
    /// The state of a hub reached at `public_url` (no trailing slash), for the server and for
    /// CLI commands that act as the hub (`party register`).
    pub fn new(
        settings: &Settings,
        store: Store,
        keys: Keys,
        public_url: String,
    ) -> Result<Self, String> {
        let peers = OcpiClient::new(settings.peers.timeout, settings.peers.allow_insecure)?;
        let client_info = client_info::ClientInfoPusher::new(
            store.clone(),
            peers.clone(),
            Sealer::new(keys.derive(Purpose::TOKEN_B_ENCRYPTION)),
            settings.hub.agreements,
        );
        let oauth = oauth::OAuthServer::new(settings, &keys, &public_url);
        let console = console::Console::new(settings, &keys, &public_url);
        Ok(AppState {
            forwarder: forwarding::Forwarder::new(
                settings,
                peers.clone(),
                Sealer::new(keys.derive(Purpose::TOKEN_B_ENCRYPTION)),
                store.clone(),
                client_info.clone(),
            ),
            client_info,
            decisions: (store.kind() == crate::store::BackendKind::Postgres)
                .then(|| authorize::DecisionBatches::start(store.clone())),
            token_puts: (store.kind() == crate::store::BackendKind::Postgres)
                .then(|| tokens::PutBatches::start(store.clone())),
            store,
            credentials: CredentialsCache::new(CREDENTIALS_TTL, UNKNOWN_CREDENTIALS_TTL),
            auth_failures: FailureLimiter::new(
                settings.http.auth_failures_per_minute,
                settings.http.auth_failure_burst,
            ),
            trusted_proxies: TrustedProxies::new(settings.http.trusted_proxies.clone()),
            public_url,
            hub: settings.hub.party.clone(),
            hub_name: settings.hub.name.clone(),
            agreements: settings.hub.agreements,
            authorization: settings.authorization.clone(),
            sessions: sessions::SessionSettings::from_settings(settings),
            pagination: settings.pagination.clone(),
            max_body_bytes: settings.http.max_body_bytes,
            peers,
            sealer: Sealer::new(keys.derive(Purpose::TOKEN_B_ENCRYPTION)),
            max_future_skew: settings.http.max_future_skew,
            oauth,
            keys,
            push: settings.push.clone(),
            peers_timeout: settings.peers.timeout,
            console,
        })
    }
}
