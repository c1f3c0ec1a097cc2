//! One typed configuration, read from (highest first) flags, `TOKENHUB_*` environment (and
//! `DATABASE_URL`), a TOML file (`--config PATH` or `TOKENHUB_CONFIG`), then defaults; validated
//! at start with an error that names the bad setting.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::domain::agreement::AgreementMode;
use crate::domain::ids::PartyKey;
use crate::secrets::{MasterKey, SecretString};
use crate::store::{BackendKind, StoreSettings};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub hub: HubConfig,
    pub authorization: AuthorizationConfig,
    pub pagination: PaginationConfig,
    pub retention: RetentionConfig,
    pub log: LogConfig,
    pub peers: PeersConfig,
    pub secrets: SecretsConfig,
    pub oauth: OAuthConfig,
    pub push: PushConfig,
}

/// The OAuth 2 authorization server (`oauth` module) and the identity provider it may trust.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// Lifetime of an access token, in seconds.
    pub access_token_ttl_secs: u64,
    /// The `aud` of the hub's access tokens, and the audience its management API requires of
    /// them; defaults to the public URL.
    pub audience: Option<String>,
    /// How often, in milliseconds, each instance checks whether a client, a signing key or a
    /// revocation changed anywhere (another instance, a CLI command) and reloads them.
    pub poll_ms: u64,
    /// An external identity provider whose access tokens the management API accepts as well.
    pub external: Option<ExternalIdpConfig>,
    /// Lifetime of a refresh token (authorization-code grant), in seconds; each use rotates it.
    pub refresh_token_ttl_secs: u64,
    /// A rotated refresh token presented again within this many seconds gets a fresh pair of the
    /// same family (two tabs refreshing at once); later, the whole family is revoked.
    pub refresh_reuse_grace_secs: u64,
    /// Failed logins allowed per minute per username, after the burst below (per address, the
    /// `http.auth_failure*` budget of every authentication applies).
    pub login_failures_per_minute: u32,
    /// Failed logins in a row before a username must wait (whoever types it, from wherever).
    pub login_failure_burst: u32,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 300,
            audience: None,
            poll_ms: 250,
            external: None,
            refresh_token_ttl_secs: 30 * 86_400,
            refresh_reuse_grace_secs: 10,
            login_failures_per_minute: 2,
            login_failure_burst: 5,
        }
    }
}

/// An external identity provider (`oauth.external`): its tokens must be JWTs signed by a key of
/// its JWKS, with its issuer and the given audience.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExternalIdpConfig {
    /// The provider's `iss`.
    pub issuer: String,
    /// Where its JWKS is served (exactly one of `jwks_url` and `jwks_file`).
    pub jwks_url: Option<String>,
    /// A file holding its JWKS.
    pub jwks_file: Option<PathBuf>,
    /// The `aud` its tokens must carry for the hub.
    pub audience: String,
    /// The claim that carries the scopes: a space-separated string or an array of strings.
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
    /// The claim that restricts a token to parties (`CC*PID`, an array or a space-separated
    /// string), as the hub's own `parties` claim does. Unset: the provider's tokens act for every
    /// party (the provider cannot express a restriction the hub would read).
    #[serde(default)]
    pub parties_claim: Option<String>,
    /// A token naming a key the hub does not hold makes it read the JWKS again, at most once per
    /// this many seconds (tokens with made-up key ids must not make it hammer the provider).
    #[serde(default = "default_jwks_refresh_secs")]
    pub jwks_min_refresh_secs: u64,
    /// The console's sign-in through this provider (authorization code + PKCE); unset, the
    /// console signs people in through the hub's own OAuth server only.
    #[serde(default)]
    pub console: Option<ExternalConsoleConfig>,
}

/// `oauth.external.console`: the console as a confidential client of the external provider.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExternalConsoleConfig {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub client_id: String,
    /// The client's secret (`TOKENHUB_OAUTH__EXTERNAL__CONSOLE__CLIENT_SECRET`), or
    /// `client_secret_file`: exactly one.
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    /// The scopes requested (space-separated), e.g. `openid tokens:read tokens:write`.
    #[serde(default)]
    pub scope: String,
}

fn default_jwks_refresh_secs() -> u64 {
    30
}

fn default_scope_claim() -> String {
    "scope".into()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PeersConfig {
    /// Allow calling partners over plain `http://` and at loopback or private addresses. Off in
    /// production: a partner's URL could otherwise point the hub at its own network. Tests and a
    /// lab with every platform on one machine turn it on.
    pub allow_insecure: bool,
    /// How long one call to a partner may take, in milliseconds.
    pub timeout_ms: u64,
    /// Seconds between two liveness rounds: the hub reads each registered partner's versions
    /// and marks it OFFLINE when that fails, CONNECTED again when it works (hubclientinfo).
    pub liveness_interval_secs: u64,
    /// How often, in milliseconds, each instance checks whether a credentials token changed
    /// anywhere (another instance, a CLI command) and drops its cached token lookups.
    pub credentials_poll_ms: u64,
    /// How long, in milliseconds, an eMSP asked for a real-time authorization may take, unless
    /// its party sets `time_budget_ms` (`party set --time-budget-ms`).
    pub forward_budget_ms: u64,
    /// Authorizations forwarded to one partner platform at once; one more is answered as if the
    /// partner were unreachable, without waiting (a slow eMSP must not hold every worker).
    pub forward_max_in_flight: u64,
    /// Consecutive failed forwards (no answer, timeout, failure, malformed answer) after which a
    /// partner's circuit breaker opens: the partner counts as unreachable without being called,
    /// and shows OFFLINE in hubclientinfo.
    pub breaker_failures: u64,
    /// How long, in milliseconds, an open breaker stays open before one call probes the partner;
    /// an answer closes it (CONNECTED again), a failure opens it for another period.
    pub breaker_cooldown_ms: u64,
}

impl Default for PeersConfig {
    fn default() -> Self {
        Self {
            allow_insecure: false,
            timeout_ms: 5000,
            liveness_interval_secs: 300,
            credentials_poll_ms: 250,
            forward_budget_ms: 2000,
            forward_max_in_flight: 64,
            breaker_failures: 5,
            breaker_cooldown_ms: 30_000,
        }
    }
}

/// Pushes of effective tokens to CPOs and of sessions to eMSPs (docs/design.md §6 "Push").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// How long, in seconds, a change is retried before it is dropped (and counted).
    pub retry_window_secs: u64,
    /// The first wait after a failed push, in milliseconds; it doubles with each failure.
    pub retry_initial_ms: u64,
    /// The longest wait between two attempts, in seconds.
    pub retry_max_secs: u64,
    /// At most this many partners are pushed to at once (each in order, one request at a time).
    pub concurrency: u32,
    /// Entries one partner's delivery takes from the outbox at a time.
    pub batch_size: u32,
    /// How often, in milliseconds, an idle worker looks for new entries.
    pub poll_interval_ms: u64,
    /// The longest time, in seconds, between two looks for hub validity windows opening or
    /// closing (the scheduler otherwise wakes at the next such instant).
    pub window_check_secs: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            retry_window_secs: 600,
            retry_initial_ms: 1000,
            retry_max_secs: 60,
            concurrency: 8,
            batch_size: 200,
            poll_interval_ms: 200,
            window_check_secs: 30,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// Base of every URL the hub advertises; defaults to `http://` + the bound address.
    pub public_url: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Seconds a client has to send its request headers.
    pub client_request_timeout_secs: u64,
    /// How far into the future a pushed `last_updated` may be, in seconds. A later one is refused
    /// (OCPI 2001): stored, it would make every later update of that object look stale.
    pub max_future_skew_secs: u64,
    /// Proxies (CIDR blocks, e.g. `127.0.0.1/32`) whose `X-Forwarded-For` names the client; the
    /// header of any other peer is ignored. Empty: the peer address is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Failed authentications one client address (an IPv6 /64) may make per minute, sustained;
    /// beyond them (and the burst) it gets 429 without a database look-up.
    pub auth_failures_per_minute: u32,
    /// Failed authentications one client address may make at once before the per-minute rate
    /// applies.
    pub auth_failure_burst: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded default) or `postgres://...`.
    pub url: String,
    /// File holding the PostgreSQL password (a Docker secret), read at start into `url`.
    pub password_file: Option<PathBuf>,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
    /// PostgreSQL: a statement running longer is cancelled (the request answers 503).
    pub statement_timeout_ms: u64,
    /// PostgreSQL: a wait for a row lock (the token's, during an authorization) longer than this
    /// is cancelled (the request answers 503).
    pub lock_timeout_ms: u64,
    /// PostgreSQL: after the database could not be reached, requests answer 503 at once for this
    /// long instead of each waiting `connect_timeout_secs`; then one request tries again.
    pub outage_backoff_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// The hub's own identity (its `hub_party_id` in 2.3.0 Credentials).
    pub country_code: String,
    pub party_id: String,
    pub name: String,
    /// Roaming agreements: `open` (every CPO deals with every eMSP) or `explicit` (only the pairs
    /// recorded with `tokenhub agreement add` see each other's tokens, authorize, get pushes and
    /// show each other CONNECTED in hubclientinfo; PLANNED otherwise).
    pub agreements: AgreementMode,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// How long an ALLOWED answer holds the token while no session matches it.
    pub hold_seconds: u64,
    /// A session that took over a hold and is not updated for this long stops counting as a use.
    pub session_stale_hours: u64,
    /// A session that took over no hold (no ALLOWED of the hub matches it) and is not updated for
    /// this long stops counting: bounds how long one CPO's sessions block a token at every CPO.
    pub unmatched_session_minutes: u64,
    /// Concurrent uses per token when neither token nor party sets a limit.
    pub default_max_concurrent: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PaginationConfig {
    pub default_limit: u32,
    /// The server's cap on `limit` (sent as `X-Limit`).
    pub max_limit: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub audit_days: u32,
    /// COMPLETED or INVALID sessions not updated for this long are purged (personal data).
    pub session_days: u32,
    /// Sessions still PENDING, ACTIVE or RESERVATION not updated for this long are taken as
    /// abandoned by their CPO and purged too.
    pub abandoned_session_days: u32,
    /// A stored session keeps only its most recent charging periods, this many at most.
    pub session_charging_periods: u32,
    /// Seconds between background clean-up rounds.
    pub sweep_interval_secs: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `tokenhub=debug,info`.
    pub level: String,
}

/// The master key (`secrets` module): 64 hexadecimal characters, given in at most one of the two
/// settings. Neither: a SQLite hub keeps it in `DATABASE_PATH.key`, a PostgreSQL hub refuses to
/// start.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// File holding the key (a Docker secret).
    pub key_file: Option<PathBuf>,
    /// The key itself, usually from `TOKENHUB_SECRETS__KEY`; shown as `****`.
    pub key: Option<SecretString>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            max_body_bytes: 64 * 1024,
            workers: None,
            shutdown_timeout_secs: 30,
            client_request_timeout_secs: 5,
            max_future_skew_secs: 86_400,
            trusted_proxies: Vec::new(),
            auth_failures_per_minute: 60,
            auth_failure_burst: 20,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://tokenhub.db".into(),
            password_file: None,
            pool_size: 8,
            connect_timeout_secs: 3,
            statement_timeout_ms: crate::store::DEFAULT_STATEMENT_TIMEOUT_MS,
            lock_timeout_ms: crate::store::DEFAULT_LOCK_TIMEOUT_MS,
            outage_backoff_ms: crate::store::DEFAULT_OUTAGE_BACKOFF_MS,
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            country_code: "NL".into(),
            party_id: "HUB".into(),
            name: "tokenhub".into(),
            agreements: AgreementMode::Open,
        }
    }
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            hold_seconds: 120,
            session_stale_hours: 24,
            // A CPO that updates its sessions every 15 minutes (common practice) keeps an
            // unmatched one counting through a missed update; one that never finishes its
            // sessions blocks a driver elsewhere for at most half an hour.
            unmatched_session_minutes: 30,
            default_max_concurrent: 1,
        }
    }
}

impl Default for PaginationConfig {
    fn default() -> Self {
        Self {
            default_limit: 100,
            max_limit: 1000,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            audit_days: 90,
            session_days: 30,
            abandoned_session_days: 90,
            session_charging_periods: 100,
            sweep_interval_secs: 60,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Settings given as command-line flags (they win over everything else).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub database_url: Option<String>,
    pub bind: Option<String>,
    pub public_url: Option<String>,
}

/// Beyond this a failure budget protects nothing.
const MAX_AUTH_FAILURES: u32 = 100_000;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// A bad setting, named by its key (`log.format`) until `Settings::load` knows where it was given.
#[derive(Debug)]
struct Invalid {
    key: String,
    why: String,
}

impl Invalid {
    fn new(key: impl Into<String>, why: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            why: why.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.why)
    }
}

/// The name figment gives the `TOKENHUB_*` provider (`Env::prefixed`).
const ENV_PROVIDER: &str = "`TOKENHUB_` environment variable(s)";
/// Marks the providers of one value given whole (a flag, `DATABASE_URL`): their name is the
/// setting as the user wrote it.
const GIVEN: &str = "tokenhub-given";

/// One value given under its own name (a flag, or a variable read as is).
struct Given {
    name: &'static str,
    key: &'static str,
    value: String,
}

impl figment::Provider for Given {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.name).source(figment::Source::Custom(GIVEN.into()))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::default(self.key, &self.value).data()
    }
}

/// The setting `key` as the user wrote it, from where its effective value came from.
fn source_name(metadata: Option<&figment::Metadata>, key: &str) -> String {
    let Some(metadata) = metadata else {
        return key.to_owned();
    };
    match &metadata.source {
        Some(figment::Source::File(path)) => format!("{key} in {}", path.display()),
        Some(figment::Source::Custom(marker)) if marker == GIVEN => metadata.name.to_string(),
        _ if metadata.name == ENV_PROVIDER => {
            format!("TOKENHUB_{}", key.replace('.', "__").to_ascii_uppercase())
        }
        _ => key.to_owned(),
    }
}

/// figment's message, without its backticks nested around the list of expected values.
fn describe(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    let one_of = |expected: &[&str]| {
        expected
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        Kind::UnknownField(_, expected) => {
            format!("unknown field, expected one of {}", one_of(expected))
        }
        Kind::UnknownVariant(found, expected) => {
            format!(
                "unknown value `{found}`, expected one of {}",
                one_of(expected)
            )
        }
        other => other.to_string(),
    }
}

impl Config {
    /// The layers: defaults < TOML file < `TOKENHUB_*` environment < `DATABASE_URL` < flags.
    fn figment(overrides: &Overrides) -> Result<Figment, ConfigError> {
        let file = overrides
            .config_file
            .clone()
            .or_else(|| std::env::var_os("TOKENHUB_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            Env::prefixed("TOKENHUB_")
                .ignore(&["CONFIG", "SECRETS__KEY"])
                .split("__"),
        );
        let var = |name: &'static str| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(ConfigError(format!("{name}: not valid UTF-8")))
            }
        };
        // Taken as is: figment would read a key of only digits as a number, a URL of only digits
        // too.
        let given = [
            (
                "TOKENHUB_SECRETS__KEY",
                "secrets.key",
                var("TOKENHUB_SECRETS__KEY")?,
            ),
            ("DATABASE_URL", "database.url", var("DATABASE_URL")?),
            (
                "--database-url",
                "database.url",
                overrides.database_url.clone(),
            ),
            ("--bind", "http.bind", overrides.bind.clone()),
            (
                "--public-url",
                "http.public_url",
                overrides.public_url.clone(),
            ),
        ];
        for (name, key, value) in given {
            if let Some(value) = value {
                figment = figment.merge(Given { name, key, value });
            }
        }
        Ok(figment)
    }

    /// Every numeric setting, with the range it must lie in. The upper bounds keep date arithmetic
    /// (`now + hold`, `now - retention`) and durations far from overflow, which panicked before,
    /// and catch a unit mistaken (milliseconds given for seconds).
    fn bounds(&self) -> [(&'static str, u64, u64, u64); 38] {
        let (h, d, a) = (&self.http, &self.database, &self.authorization);
        let (p, r) = (&self.pagination, &self.retention);
        [
            (
                "http.max_body_bytes",
                h.max_body_bytes as u64,
                1024,
                16 << 20,
            ),
            ("http.workers", h.workers.unwrap_or(1) as u64, 1, 1024),
            (
                "http.shutdown_timeout_secs",
                h.shutdown_timeout_secs,
                0,
                3600,
            ),
            (
                "http.client_request_timeout_secs",
                h.client_request_timeout_secs,
                1,
                300,
            ),
            (
                "http.max_future_skew_secs",
                h.max_future_skew_secs,
                1,
                366 * 86_400,
            ),
            ("database.pool_size", d.pool_size.into(), 1, 1000),
            (
                "database.connect_timeout_secs",
                d.connect_timeout_secs,
                1,
                300,
            ),
            (
                "database.statement_timeout_ms",
                d.statement_timeout_ms,
                100,
                3_600_000,
            ),
            ("database.lock_timeout_ms", d.lock_timeout_ms, 10, 3_600_000),
            (
                "database.outage_backoff_ms",
                d.outage_backoff_ms,
                10,
                60_000,
            ),
            ("authorization.hold_seconds", a.hold_seconds, 1, 86_400),
            (
                "authorization.session_stale_hours",
                a.session_stale_hours,
                1,
                720,
            ),
            (
                "authorization.default_max_concurrent",
                a.default_max_concurrent.into(),
                1,
                10_000,
            ),
            (
                "pagination.default_limit",
                p.default_limit.into(),
                1,
                10_000,
            ),
            ("pagination.max_limit", p.max_limit.into(), 1, 10_000),
            ("retention.audit_days", r.audit_days.into(), 1, 3650),
            (
                "retention.session_charging_periods",
                r.session_charging_periods.into(),
                1,
                1000,
            ),
            ("peers.timeout_ms", self.peers.timeout_ms, 100, 60_000),
            (
                "peers.liveness_interval_secs",
                self.peers.liveness_interval_secs,
                1,
                86_400,
            ),
            (
                "peers.credentials_poll_ms",
                self.peers.credentials_poll_ms,
                50,
                5_000,
            ),
            (
                "peers.forward_budget_ms",
                self.peers.forward_budget_ms,
                10,
                60_000,
            ),
            (
                "peers.forward_max_in_flight",
                self.peers.forward_max_in_flight,
                1,
                10_000,
            ),
            (
                "peers.breaker_failures",
                self.peers.breaker_failures,
                1,
                1_000,
            ),
            (
                "peers.breaker_cooldown_ms",
                self.peers.breaker_cooldown_ms,
                100,
                3_600_000,
            ),
            (
                "retention.sweep_interval_secs",
                r.sweep_interval_secs,
                1,
                86_400,
            ),
            (
                "oauth.access_token_ttl_secs",
                self.oauth.access_token_ttl_secs,
                30,
                86_400,
            ),
            ("oauth.poll_ms", self.oauth.poll_ms, 50, 5_000),
            (
                "push.retry_window_secs",
                self.push.retry_window_secs,
                1,
                7 * 86_400,
            ),
            (
                "push.retry_initial_ms",
                self.push.retry_initial_ms,
                10,
                3_600_000,
            ),
            ("push.retry_max_secs", self.push.retry_max_secs, 1, 86_400),
            ("push.concurrency", self.push.concurrency.into(), 1, 1024),
            ("push.batch_size", self.push.batch_size.into(), 1, 10_000),
            (
                "push.poll_interval_ms",
                self.push.poll_interval_ms,
                10,
                60_000,
            ),
            (
                "push.window_check_secs",
                self.push.window_check_secs,
                1,
                86_400,
            ),
            (
                "oauth.refresh_token_ttl_secs",
                self.oauth.refresh_token_ttl_secs,
                60,
                365 * 86_400,
            ),
            (
                "oauth.refresh_reuse_grace_secs",
                self.oauth.refresh_reuse_grace_secs,
                0,
                60,
            ),
            (
                "oauth.login_failures_per_minute",
                self.oauth.login_failures_per_minute.into(),
                1,
                1_000,
            ),
            (
                "oauth.login_failure_burst",
                self.oauth.login_failure_burst.into(),
                1,
                1_000,
            ),
        ]
    }

    fn check_bounds(&self) -> Result<(), Invalid> {
        for (name, value, min, max) in self.bounds() {
            if !(min..=max).contains(&value) {
                return Err(Invalid::new(
                    name,
                    format!("must be between {min} and {max} (got {value})"),
                ));
            }
        }
        Ok(())
    }
}

/// `database.url`, which may hold a password: shown (`Debug`, `Display`) masked by
/// `store::mask_url`; the URL itself only through `expose`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(SecretString::new(url))
    }

    /// The URL with its password: for opening the store, never for printing.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::mask_url(self.0.expose()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// A `tracing` filter (`log.level`), checked to parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFilter(String);

impl LogFilter {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The configuration once validated, every value parsed once into the type its consumers use.
/// Built by `Settings::load` (the process) or `Settings::from_config` (tests, tools).
#[derive(Clone, Debug)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub hub: HubSettings,
    pub authorization: AuthorizationSettings,
    pub pagination: PaginationConfig,
    pub retention: RetentionSettings,
    pub log: LogSettings,
    pub peers: PeersSettings,
    pub secrets: SecretsConfig,
    pub oauth: OAuthSettings,
    pub push: PushSettings,
    /// What was given, for `config check`; `database.url` masked.
    given: Config,
}

#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub bind: SocketAddr,
    pub public_url: Option<url::Url>,
    pub max_body_bytes: usize,
    pub workers: Option<NonZeroUsize>,
    pub shutdown_timeout: Duration,
    pub client_request_timeout: Duration,
    pub max_future_skew: TimeDelta,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub auth_failures_per_minute: NonZeroU32,
    pub auth_failure_burst: NonZeroU32,
}

impl HttpSettings {
    /// The URL partners reach the hub at, without a trailing slash: `http.public_url`, else
    /// `http://` + `bound` (the address listened on, port 0 resolved).
    pub fn public_url_or(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }

    /// `http.workers`, else what the server starts: one per CPU.
    pub fn effective_workers(&self) -> NonZeroUsize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().unwrap_or(NonZeroUsize::new(2).expect("2 > 0"))
        })
    }
}

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// With the password of `database.password_file`, if any.
    pub url: DatabaseUrl,
    pub backend: BackendKind,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    pub outage_backoff: Duration,
}

#[derive(Clone, Debug)]
pub struct HubSettings {
    pub party: PartyKey,
    pub name: String,
    pub agreements: AgreementMode,
}

#[derive(Clone, Debug)]
pub struct AuthorizationSettings {
    pub hold: TimeDelta,
    pub session_stale: TimeDelta,
    pub unmatched_session: TimeDelta,
    pub default_max_concurrent: u32,
    /// `hub.agreements`: a CPO authorizes only tokens of eMSPs it may deal with.
    pub agreements: AgreementMode,
}

#[derive(Clone, Debug)]
pub struct RetentionSettings {
    pub audit: TimeDelta,
    pub session: TimeDelta,
    pub abandoned_session: TimeDelta,
    pub session_charging_periods: usize,
    pub sweep_interval: Duration,
}

#[derive(Clone, Debug)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: LogFilter,
}

#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub access_token_ttl: Duration,
    pub audience: Option<String>,
    pub poll: Duration,
    pub external: Option<ExternalIdpSettings>,
    pub refresh_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    pub login_failures_per_minute: NonZeroU32,
    pub login_failure_burst: NonZeroU32,
}

#[derive(Clone, Debug)]
pub struct ExternalIdpSettings {
    pub issuer: String,
    pub jwks: JwksSource,
    pub audience: String,
    pub scope_claim: String,
    pub parties_claim: Option<String>,
    pub jwks_min_refresh: Duration,
    pub console: Option<ExternalConsoleSettings>,
}

#[derive(Clone, Debug)]
pub struct ExternalConsoleSettings {
    pub authorization_endpoint: url::Url,
    pub token_endpoint: url::Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scope: String,
}

fn http_url(name: String, value: &str) -> Result<url::Url, Invalid> {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(u),
        _ => Err(Invalid::new(
            name,
            format!("{value:?} is not an http(s) URL"),
        )),
    }
}

impl ExternalConsoleConfig {
    fn validate(&self) -> Result<ExternalConsoleSettings, Invalid> {
        const AT: &str = "oauth.external.console";
        let authorization_endpoint = http_url(
            format!("{AT}.authorization_endpoint"),
            &self.authorization_endpoint,
        )?;
        let token_endpoint = http_url(format!("{AT}.token_endpoint"), &self.token_endpoint)?;
        if self.client_id.trim().is_empty() {
            return Err(Invalid::new(format!("{AT}.client_id"), "must not be empty"));
        }
        let secret_name = format!("{AT}.client_secret");
        let client_secret = match (&self.client_secret, &self.client_secret_file) {
            (Some(secret), None) => secret.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| SecretString::new(s.trim()))
                .map_err(|e| {
                    Invalid::new(
                        format!("{AT}.client_secret_file"),
                        format!("{}: {e}", path.display()),
                    )
                })?,
            _ => {
                return Err(Invalid::new(
                    secret_name,
                    format!("set exactly one of {AT}.client_secret and {AT}.client_secret_file"),
                ))
            }
        };
        if client_secret.expose().is_empty() {
            return Err(Invalid::new(secret_name, "must not be empty"));
        }
        Ok(ExternalConsoleSettings {
            authorization_endpoint,
            token_endpoint,
            client_id: self.client_id.clone(),
            client_secret,
            scope: self.scope.trim().to_owned(),
        })
    }
}

/// Where an external identity provider's keys are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    Url(url::Url),
    File(PathBuf),
}

impl ExternalIdpConfig {
    fn validate(&self) -> Result<ExternalIdpSettings, Invalid> {
        if self.issuer.trim().is_empty() {
            return Err(Invalid::new("oauth.external.issuer", "must not be empty"));
        }
        if self.audience.trim().is_empty() {
            return Err(Invalid::new("oauth.external.audience", "must not be empty"));
        }
        if self.scope_claim.trim().is_empty() {
            return Err(Invalid::new(
                "oauth.external.scope_claim",
                "must not be empty",
            ));
        }
        if self
            .parties_claim
            .as_ref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(Invalid::new(
                "oauth.external.parties_claim",
                "must not be empty when set",
            ));
        }
        let jwks = match (&self.jwks_url, &self.jwks_file) {
            (Some(url), None) => match url::Url::parse(url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => JwksSource::Url(u),
                _ => {
                    return Err(Invalid::new(
                        "oauth.external.jwks_url",
                        format!("{url:?} is not an http(s) URL"),
                    ))
                }
            },
            (None, Some(file)) => JwksSource::File(file.clone()),
            _ => {
                return Err(Invalid::new(
                    "oauth.external.jwks_url",
                    "set exactly one of oauth.external.jwks_url and oauth.external.jwks_file",
                ))
            }
        };
        if self.jwks_min_refresh_secs > 3600 {
            return Err(Invalid::new(
                "oauth.external.jwks_min_refresh_secs",
                format!(
                    "must be between 0 and 3600 (got {})",
                    self.jwks_min_refresh_secs
                ),
            ));
        }
        Ok(ExternalIdpSettings {
            issuer: self.issuer.clone(),
            jwks,
            audience: self.audience.clone(),
            scope_claim: self.scope_claim.clone(),
            parties_claim: self.parties_claim.clone(),
            jwks_min_refresh: Duration::from_secs(self.jwks_min_refresh_secs),
            console: self.console.as_ref().map(|c| c.validate()).transpose()?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct PushSettings {
    pub retry_window: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub concurrency: usize,
    pub batch_size: usize,
    pub poll_interval: Duration,
    pub window_check: Duration,
}

#[derive(Clone, Debug)]
pub struct PeersSettings {
    pub allow_insecure: bool,
    pub timeout: Duration,
    pub liveness_interval: Duration,
    pub credentials_poll: Duration,
    pub forward_budget: Duration,
    pub forward_max_in_flight: usize,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
}

impl Settings {
    /// Reads the layers, then validates: an error names the bad setting as it was given (the
    /// variable, the flag, or the key and its file).
    pub fn load(overrides: &Overrides) -> Result<Settings, ConfigError> {
        let figment = Config::figment(overrides)?;
        let config: Config = figment.extract().map_err(|e| {
            // The setting, not the element of a list (`http.trusted_proxies`, not `...proxies.0`).
            let key: Vec<&str> = e
                .path
                .iter()
                .map(String::as_str)
                .take_while(|part| part.parse::<usize>().is_err())
                .collect();
            if key.is_empty() {
                return ConfigError(e.to_string());
            }
            let name = source_name(e.metadata.as_ref(), &key.join("."));
            ConfigError(format!("{name}: {}", describe(&e.kind)))
        })?;
        Settings::build(config).map_err(|invalid| {
            let name = source_name(figment.find_metadata(&invalid.key), &invalid.key);
            ConfigError(format!("{name}: {}", invalid.why))
        })
    }

    /// Validates `config` and parses every value; the error names the first bad setting by key.
    pub fn from_config(config: Config) -> Result<Settings, ConfigError> {
        Settings::build(config).map_err(|invalid| ConfigError(invalid.to_string()))
    }

    fn build(config: Config) -> Result<Settings, Invalid> {
        let bind: SocketAddr = config.http.bind.parse().map_err(|_| {
            Invalid::new(
                "http.bind",
                format!(
                    "{:?} is not an address like 127.0.0.1:8080",
                    config.http.bind
                ),
            )
        })?;
        let public_url = match &config.http.public_url {
            None => None,
            Some(given) => match url::Url::parse(given) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Some(u),
                _ => {
                    return Err(Invalid::new(
                        "http.public_url",
                        format!("{given:?} is not an http(s) URL"),
                    ))
                }
            },
        };
        config.check_bounds()?;
        // Bounded relative to each other (the table walks one setting at a time).
        let a = &config.authorization;
        if a.unmatched_session_minutes == 0
            || a.unmatched_session_minutes > a.session_stale_hours.saturating_mul(60)
        {
            return Err(Invalid::new(
                "authorization.unmatched_session_minutes",
                format!(
                    "must be between 1 and authorization.session_stale_hours ({} h) in minutes",
                    a.session_stale_hours
                ),
            ));
        }
        let r = &config.retention;
        if r.session_days == 0 {
            return Err(Invalid::new("retention.session_days", "must be at least 1"));
        }
        // A purged session must have stopped counting long before: it takes its use with it.
        if r.abandoned_session_days < r.session_days
            || r.abandoned_session_days > 3650
            || u64::from(r.abandoned_session_days) * 24 <= a.session_stale_hours
        {
            return Err(Invalid::new(
                "retention.abandoned_session_days",
                "must be at least retention.session_days, at most 3650, and longer than authorization.session_stale_hours",
            ));
        }
        let failures = |name: &str, value: u32| {
            NonZeroU32::new(value)
                .filter(|v| v.get() <= MAX_AUTH_FAILURES)
                .ok_or_else(|| {
                    Invalid::new(name, format!("must be between 1 and {MAX_AUTH_FAILURES}"))
                })
        };
        let auth_failures_per_minute = failures(
            "http.auth_failures_per_minute",
            config.http.auth_failures_per_minute,
        )?;
        let auth_failure_burst =
            failures("http.auth_failure_burst", config.http.auth_failure_burst)?;
        let db_url = config.database.url_with_password()?;
        let backend = BackendKind::from_url(&db_url)
            .map_err(|e| Invalid::new("database.url", e.to_string()))?;
        let party = PartyKey::parse(&config.hub.country_code, &config.hub.party_id)
            .map_err(|e| Invalid::new(format!("hub.{}", e.field), e.message))?;
        let p = &config.pagination;
        if p.default_limit > p.max_limit {
            return Err(Invalid::new(
                "pagination.default_limit",
                format!(
                    "must be between 1 and pagination.max_limit ({})",
                    p.max_limit
                ),
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
            return Err(Invalid::new("log.level", e.to_string()));
        }
        if let Some(key) = &config.secrets.key {
            if config.secrets.key_file.is_some() {
                return Err(Invalid::new(
                    "secrets.key",
                    "set either secrets.key (TOKENHUB_SECRETS__KEY) or secrets.key_file, not both",
                ));
            }
            MasterKey::from_hex(key.expose()).map_err(|why| Invalid::new("secrets.key", why))?;
        }
        if let Some(audience) = &config.oauth.audience {
            if audience.trim().is_empty() {
                return Err(Invalid::new("oauth.audience", "must not be empty when set"));
            }
        }
        let external = match &config.oauth.external {
            Some(external) => Some(external.validate()?),
            None => None,
        };
        // In range (the bounds above): none of these conversions can fail or overflow.
        let (h, d, a, r, pe) = (
            &config.http,
            &config.database,
            &config.authorization,
            &config.retention,
            &config.peers,
        );
        let days = |n: u32| TimeDelta::days(i64::from(n));
        // Kept for `config check` only, and masked so that `Debug` shows no password either.
        let given = Config {
            database: DatabaseConfig {
                url: crate::store::mask_url(&db_url),
                ..config.database.clone()
            },
            ..config.clone()
        };
        Ok(Settings {
            http: HttpSettings {
                bind,
                public_url,
                max_body_bytes: h.max_body_bytes,
                workers: h.workers.and_then(NonZeroUsize::new),
                shutdown_timeout: Duration::from_secs(h.shutdown_timeout_secs),
                client_request_timeout: Duration::from_secs(h.client_request_timeout_secs),
                max_future_skew: TimeDelta::seconds(h.max_future_skew_secs as i64),
                trusted_proxies: h.trusted_proxies.clone(),
                auth_failures_per_minute,
                auth_failure_burst,
            },
            database: DatabaseSettings {
                url: DatabaseUrl::new(db_url),
                backend,
                pool_size: d.pool_size,
                connect_timeout: Duration::from_secs(d.connect_timeout_secs),
                statement_timeout: Duration::from_millis(d.statement_timeout_ms),
                lock_timeout: Duration::from_millis(d.lock_timeout_ms),
                outage_backoff: Duration::from_millis(d.outage_backoff_ms),
            },
            hub: HubSettings {
                party,
                name: config.hub.name.clone(),
                agreements: config.hub.agreements,
            },
            authorization: AuthorizationSettings {
                hold: TimeDelta::seconds(a.hold_seconds as i64),
                session_stale: TimeDelta::hours(a.session_stale_hours as i64),
                unmatched_session: TimeDelta::minutes(a.unmatched_session_minutes as i64),
                default_max_concurrent: a.default_max_concurrent,
                agreements: config.hub.agreements,
            },
            pagination: config.pagination.clone(),
            retention: RetentionSettings {
                audit: days(r.audit_days),
                session: days(r.session_days),
                abandoned_session: days(r.abandoned_session_days),
                session_charging_periods: r.session_charging_periods as usize,
                sweep_interval: Duration::from_secs(r.sweep_interval_secs),
            },
            log: LogSettings {
                format: config.log.format,
                filter: LogFilter(config.log.level.clone()),
            },
            peers: PeersSettings {
                allow_insecure: pe.allow_insecure,
                timeout: Duration::from_millis(pe.timeout_ms),
                liveness_interval: Duration::from_secs(pe.liveness_interval_secs),
                credentials_poll: Duration::from_millis(pe.credentials_poll_ms),
                forward_budget: Duration::from_millis(pe.forward_budget_ms),
                forward_max_in_flight: pe.forward_max_in_flight as usize,
                breaker_failures: pe.breaker_failures as u32,
                breaker_cooldown: Duration::from_millis(pe.breaker_cooldown_ms),
            },
            secrets: config.secrets.clone(),
            oauth: OAuthSettings {
                access_token_ttl: Duration::from_secs(config.oauth.access_token_ttl_secs),
                audience: config.oauth.audience.clone(),
                poll: Duration::from_millis(config.oauth.poll_ms),
                external,
                refresh_token_ttl: Duration::from_secs(config.oauth.refresh_token_ttl_secs),
                refresh_reuse_grace: Duration::from_secs(config.oauth.refresh_reuse_grace_secs),
                // The bounds above keep both at 1 or more.
                login_failures_per_minute: NonZeroU32::new(config.oauth.login_failures_per_minute)
                    .unwrap_or(NonZeroU32::MIN),
                login_failure_burst: NonZeroU32::new(config.oauth.login_failure_burst)
                    .unwrap_or(NonZeroU32::MIN),
            },
            push: PushSettings {
                retry_window: Duration::from_secs(config.push.retry_window_secs),
                retry_initial: Duration::from_millis(config.push.retry_initial_ms),
                retry_max: Duration::from_secs(config.push.retry_max_secs),
                concurrency: config.push.concurrency as usize,
                batch_size: config.push.batch_size as usize,
                poll_interval: Duration::from_millis(config.push.poll_interval_ms),
                window_check: Duration::from_secs(config.push.window_check_secs),
            },
            given,
        })
    }

    pub fn store_settings(&self) -> StoreSettings {
        let d = &self.database;
        StoreSettings {
            url: d.url.expose().to_owned(),
            pool_size: d.pool_size,
            connect_timeout: d.connect_timeout,
            statement_timeout: d.statement_timeout,
            lock_timeout: d.lock_timeout,
            outage_backoff: d.outage_backoff,
        }
    }

    /// Every effective value as TOML (what `config check` prints), secrets masked; a comment
    /// follows each value the hub derived rather than read.
    pub fn effective_toml(&self) -> Result<String, toml::ser::Error> {
        let mut shown = self.given.clone();
        let derived_url = shown.http.public_url.is_none();
        let derived_workers = shown.http.workers.is_none();
        shown.http.public_url = Some(self.http.public_url_or(self.http.bind));
        shown.http.workers = Some(self.http.effective_workers().get());
        let text = toml::to_string_pretty(&shown)?;
        let mut out = String::with_capacity(text.len() + 128);
        let mut section = "";
        for line in text.lines() {
            if line.starts_with('[') {
                section = line;
            }
            out.push_str(line);
            out.push('\n');
            if section == "[http]" {
                if derived_url && line.starts_with("public_url = ") {
                    out.push_str("# derived: http:// + http.bind (the port the hub listens on when bind ends in :0)\n");
                }
                if derived_workers && line.starts_with("workers = ") {
                    out.push_str("# derived: one worker per CPU\n");
                }
            }
        }
        Ok(out)
    }
}

impl DatabaseConfig {
    /// `url` with the content of `password_file`, so the password can live in a file (a Docker
    /// secret) instead of the environment, where `docker inspect` shows it. The content never
    /// appears in an error: those name the setting and the file only.
    fn url_with_password(&self) -> Result<String, Invalid> {
        let Some(path) = &self.password_file else {
            return Ok(self.url.clone());
        };
        let bad = |why: String| Err(Invalid::new("database.password_file", why));
        if !matches!(BackendKind::from_url(&self.url), Ok(BackendKind::Postgres)) {
            return bad("only a postgres:// database.url takes a password".into());
        }
        let content = match std::fs::read_to_string(path) {
            Ok(content) => content,
            Err(e) => return bad(format!("cannot read {}: {e}", path.display())),
        };
        // `echo secret > file` leaves a newline that is not part of the password.
        let password = content.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return bad(format!("{} is empty", path.display()));
        }
        let mut url = match url::Url::parse(&self.url) {
            Ok(url) => url,
            Err(e) => {
                return Err(Invalid::new(
                    "database.url",
                    format!("{e} in {}", crate::store::mask_url(&self.url)),
                ))
            }
        };
        if url.password().is_some() {
            return bad("database.url holds a password already; keep only one of the two".into());
        }
        // `set_password` percent-encodes the URL's delimiters but leaves `%` alone, which libpq
        // would then decode: encode it first so every password arrives unchanged.
        if url
            .set_password(Some(&password.replace('%', "%25")))
            .is_err()
        {
            return bad("database.url has no host to attach a password to".into());
        }
        Ok(url.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Config {
        fn validate(self) -> Result<Settings, ConfigError> {
            Settings::from_config(self)
        }
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_setting() {
        let mut c = Config::default();
        c.http.bind = "localhost".into();
        assert!(c.validate().unwrap_err().0.starts_with("http.bind"));
        let mut c = Config::default();
        c.database.url = "mysql://x".into();
        assert!(c.validate().unwrap_err().0.starts_with("database.url"));
        let mut c = Config::default();
        c.hub.party_id = "TOOLONG".into();
        assert!(c.validate().unwrap_err().0.starts_with("hub.party_id"));
        let mut c = Config::default();
        c.http.auth_failures_per_minute = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .starts_with("http.auth_failures_per_minute"));
        let mut c = Config::default();
        c.http.auth_failure_burst = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .starts_with("http.auth_failure_burst"));
        let mut c = Config::default();
        c.pagination.default_limit = 5000;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .starts_with("pagination.default_limit"));
        let mut c = Config::default();
        c.secrets.key = Some(SecretString::new("0123456789abcdef"));
        let err = c.validate().unwrap_err().0;
        assert!(err.starts_with("secrets.key: must be 64"), "{err}");
        assert!(!err.contains("0123456789abcdef"), "{err}");
        let mut c = Config::default();
        c.authorization.unmatched_session_minutes = 24 * 60 + 1;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .starts_with("authorization.unmatched_session_minutes"));
        let mut c = Config::default();
        c.retention.abandoned_session_days = 1;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .starts_with("retention.abandoned_session_days"));
        let mut c = Config::default();
        c.retention.session_charging_periods = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .starts_with("retention.session_charging_periods"));
        let mut c = Config::default();
        c.peers.liveness_interval_secs = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .starts_with("peers.liveness_interval_secs"));
        let mut c = Config::default();
        c.peers.credentials_poll_ms = 10;
        assert!(c
            .validate()
            .unwrap_err()
            .0
            .starts_with("peers.credentials_poll_ms"));
    }

    /// Every numeric setting: its bounds are accepted, one past either is refused by name. The
    /// values go through the loader's own layering, as a TOML file or the environment would.
    #[test]
    fn numeric_settings_are_bounded() {
        let mut base = Config::default();
        base.pagination.max_limit = 10_000;
        base.pagination.default_limit = 1;
        let with = |name: &str, value: u64| -> Result<(), String> {
            let config: Config = Figment::from(Serialized::defaults(base.clone()))
                .merge((name, value))
                .extract()
                .map_err(|e| e.to_string())?;
            config.validate().map(drop).map_err(|e| e.0)
        };
        let bounds = base.bounds();
        assert_eq!(bounds.len(), 38);
        for (name, _, min, max) in bounds {
            with(name, min).unwrap_or_else(|e| panic!("{name} = {min}: {e}"));
            with(name, max).unwrap_or_else(|e| panic!("{name} = {max}: {e}"));
            let mut outside = vec![max + 1, u64::from(u32::MAX)];
            if min > 0 {
                outside.push(min - 1);
            }
            for value in outside {
                let err = with(name, value).expect_err(&format!("{name} = {value} is refused"));
                assert!(
                    err.starts_with(&format!("{name}: ")),
                    "{name} = {value}: {err}"
                );
            }
        }
        // The values that panicked in date arithmetic before they were bounded.
        for (name, value) in [
            ("authorization.hold_seconds", i64::MAX as u64),
            ("authorization.session_stale_hours", 1 << 40),
        ] {
            let err = with(name, value).unwrap_err();
            assert!(err.starts_with(name), "{err}");
        }
    }

    /// `oauth.external`: exactly one JWKS source, an http(s) URL, no empty names.
    #[test]
    fn the_external_identity_provider_is_checked() {
        let external = |url: Option<&str>, file: Option<&str>, issuer: &str| {
            let mut c = Config::default();
            c.oauth.external = Some(ExternalIdpConfig {
                issuer: issuer.into(),
                jwks_url: url.map(String::from),
                jwks_file: file.map(PathBuf::from),
                audience: "tokenhub".into(),
                scope_claim: "scp".into(),
                parties_claim: None,
                jwks_min_refresh_secs: 30,
                console: None,
            });
            c.validate().map(|s| s.oauth.external.unwrap().jwks)
        };
        let idp = "https://idp.example.com";
        assert_eq!(
            external(None, Some("/etc/jwks.json"), idp).unwrap(),
            JwksSource::File("/etc/jwks.json".into())
        );
        assert!(matches!(
            external(Some("https://idp.example.com/jwks"), None, idp).unwrap(),
            JwksSource::Url(_)
        ));
        for (url, file, issuer, setting) in [
            (None, None, idp, "oauth.external.jwks_url"),
            (
                Some("https://x/jwks"),
                Some("/f"),
                idp,
                "oauth.external.jwks_url",
            ),
            (Some("ftp://x/jwks"), None, idp, "oauth.external.jwks_url"),
            (Some("https://x/jwks"), None, " ", "oauth.external.issuer"),
        ] {
            let err = external(url, file, issuer).unwrap_err().0;
            assert!(err.starts_with(setting), "{err}");
        }
        let mut c = Config::default();
        c.oauth.audience = Some(String::new());
        assert!(c.validate().unwrap_err().0.starts_with("oauth.audience"));
    }

    /// `oauth.external.console`: http(s) endpoints, a client id, exactly one secret source; a
    /// secret file is read at start (trimmed) and the error names the setting.
    #[test]
    fn the_external_console_sign_in_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "from-a-file\n").unwrap();
        let good = ExternalConsoleConfig {
            authorization_endpoint: "https://idp.example.com/authorize".into(),
            token_endpoint: "https://idp.example.com/token".into(),
            client_id: "hub".into(),
            client_secret: Some(SecretString::new("s")),
            client_secret_file: None,
            scope: " openid tokens:read ".into(),
        };
        let check = |console: ExternalConsoleConfig| {
            let mut c = Config::default();
            c.oauth.external = Some(ExternalIdpConfig {
                issuer: "https://idp.example.com".into(),
                jwks_url: None,
                jwks_file: Some("/etc/jwks.json".into()),
                audience: "tokenhub".into(),
                scope_claim: "scp".into(),
                parties_claim: None,
                jwks_min_refresh_secs: 30,
                console: Some(console),
            });
            c.validate()
                .map(|s| s.oauth.external.unwrap().console.unwrap())
        };
        let settings = check(good.clone()).unwrap();
        assert_eq!(
            (settings.client_secret.expose(), settings.scope.as_str()),
            ("s", "openid tokens:read")
        );
        let from_file = check(ExternalConsoleConfig {
            client_secret: None,
            client_secret_file: Some(secret_file.clone()),
            ..good.clone()
        })
        .unwrap();
        assert_eq!(from_file.client_secret.expose(), "from-a-file");
        let bad: [(ExternalConsoleConfig, &str); 6] = [
            (
                ExternalConsoleConfig {
                    authorization_endpoint: "idp.example.com/authorize".into(),
                    ..good.clone()
                },
                "oauth.external.console.authorization_endpoint",
            ),
            (
                ExternalConsoleConfig {
                    token_endpoint: "ftp://idp.example.com/token".into(),
                    ..good.clone()
                },
                "oauth.external.console.token_endpoint",
            ),
            (
                ExternalConsoleConfig {
                    client_id: " ".into(),
                    ..good.clone()
                },
                "oauth.external.console.client_id",
            ),
            (
                ExternalConsoleConfig {
                    client_secret: None,
                    ..good.clone()
                },
                "oauth.external.console.client_secret",
            ),
            (
                ExternalConsoleConfig {
                    client_secret_file: Some(secret_file.clone()),
                    ..good.clone()
                },
                "oauth.external.console.client_secret",
            ),
            (
                ExternalConsoleConfig {
                    client_secret: None,
                    client_secret_file: Some(dir.path().join("missing")),
                    ..good.clone()
                },
                "oauth.external.console.client_secret_file",
            ),
        ];
        for (console, setting) in bad {
            let err = check(console).unwrap_err().0;
            assert!(err.starts_with(setting), "{err}");
        }
        // The secret is never shown.
        assert!(!format!("{settings:?}").contains("\"s\""));
    }

    /// Each way of giving a bad value, and how the error names it: the variable, the flag, the
    /// key and its file, or the key alone for a default.
    // `Jail` takes closures returning figment's own (large) error.
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures return figment's own large error type"
    )]
    #[test]
    fn errors_name_the_setting_as_given() {
        let flag = |f: fn(&mut Overrides, String), value: &str| {
            let mut o = Overrides::default();
            f(&mut o, value.into());
            o
        };
        let none = Overrides::default;
        // (environment, TOML file, flags, expected message start; empty: valid)
        type Case = (
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
            Overrides,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (&[("TOKENHUB_LOG__FORMAT", "xml")], None, none(), "TOKENHUB_LOG__FORMAT: unknown value `xml`, expected one of `text`, `json`"),
            (&[("TOKENHUB_PAGINATION__MAX_LIMIT", "many")], None, none(), "TOKENHUB_PAGINATION__MAX_LIMIT: invalid type"),
            (&[("TOKENHUB_PAGINATION__MAX_LIMIT", "0")], None, none(), "TOKENHUB_PAGINATION__MAX_LIMIT: must be between 1 and 10000 (got 0)"),
            (&[("TOKENHUB_HTTP__BIND", "localhost")], None, none(), "TOKENHUB_HTTP__BIND: \"localhost\" is not an address"),
            (&[("TOKENHUB_HUB__PARTY_ID", "TOOLONG")], None, none(), "TOKENHUB_HUB__PARTY_ID: "),
            (&[("TOKENHUB_NOPE", "1")], None, none(), "TOKENHUB_NOPE: unknown field"),
            (&[("TOKENHUB_HUB__AGREEMENTS", "closed")], None, none(), "TOKENHUB_HUB__AGREEMENTS: unknown value `closed`, expected one of `open`, `explicit`"),
            (&[("TOKENHUB_HUB__AGREEMENTS", "explicit")], None, none(), ""),
            (&[("TOKENHUB_SECRETS__KEY", "0123")], None, none(), "TOKENHUB_SECRETS__KEY: must be 64"),
            (&[("DATABASE_URL", "mysql://x")], None, none(), "DATABASE_URL: "),
            (&[("DATABASE_URL", "mysql://x")], None, flag(|o, v| o.database_url = Some(v), "oracle://y"), "--database-url: "),
            (&[], None, flag(|o, v| o.bind = Some(v), "localhost"), "--bind: \"localhost\""),
            (&[], None, flag(|o, v| o.public_url = Some(v), "ftp://x"), "--public-url: \"ftp://x\" is not an http(s) URL"),
            (&[], Some("[log]\nformat = \"xml\"\n"), none(), "log.format in {file}: unknown value `xml`"),
            (&[], Some("[pagination]\nmax_limt = 5\n"), none(), "pagination.max_limt in {file}: unknown field, expected one of `default_limit`, `max_limit`"),
            (&[], Some("[http]\nbind = \"localhost\"\n"), none(), "http.bind in {file}: "),
            (&[("TOKENHUB_HTTP__BIND", "localhost")], Some("[http]\nbind = \"localhost\"\n"), none(), "TOKENHUB_HTTP__BIND: "),
            // Set in the file, bad by a default: the default is named, by its key.
            (&[], Some("[retention]\nsession_days = 100\n"), none(), "retention.abandoned_session_days: must be"),
            (&[], None, none(), ""),
        ];
        figment::Jail::expect_with(|jail| {
            let file = jail.directory().join("tokenhub.toml");
            for (env, toml, overrides, expected) in cases {
                jail.clear_env();
                for (name, value) in env {
                    jail.set_env(name, value);
                }
                let overrides = Overrides {
                    config_file: toml.map(|toml| {
                        std::fs::write(&file, toml).unwrap();
                        file.clone()
                    }),
                    ..overrides
                };
                let case = format!("{env:?} {toml:?} {overrides:?}");
                let result = Settings::load(&overrides);
                if expected.is_empty() {
                    result.unwrap_or_else(|e| panic!("{case}: {e}"));
                    continue;
                }
                let err = result.expect_err(&case).0;
                let expected = expected.replace("{file}", &file.display().to_string());
                assert!(err.starts_with(&expected), "{case}: {err}");
                assert!(
                    !err.contains("\"\"") && !err.contains("``") && !err.contains("`\""),
                    "{case}: {err}"
                );
                assert!(!err.contains("default."), "{case}: {err}");
            }
            Ok(())
        });
    }

    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail closures return figment's own large error type"
    )]
    #[test]
    fn trusted_proxies_are_cidr_blocks() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let file = jail.directory().join("tokenhub.toml");
            let load = |proxies: &str| {
                std::fs::write(&file, format!("[http]\ntrusted_proxies = {proxies}\n")).unwrap();
                Settings::load(&Overrides {
                    config_file: Some(file.clone()),
                    ..Overrides::default()
                })
            };
            let settings = load(r#"["127.0.0.1/32", "10.1.0.0/16", "::1/128"]"#).unwrap();
            assert_eq!(settings.http.trusted_proxies.len(), 3);
            assert!(settings.http.trusted_proxies[1]
                .contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
            for bad in [r#"["10.0.0.300/8"]"#, r#"["proxy.example"]"#] {
                let err = load(bad).unwrap_err().0;
                assert!(err.starts_with("http.trusted_proxies in "), "{err}");
            }
            Ok(())
        });
    }

    #[test]
    fn password_file_goes_into_the_url_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db_password");
        let password = "p@ss:w/rd %41#?+";
        std::fs::write(&file, format!("{password}\n")).unwrap();
        let mut db = DatabaseConfig {
            url: "postgres://tokenhub@db:5432/tokenhub".into(),
            password_file: Some(file.clone()),
            ..DatabaseConfig::default()
        };
        db.url = db.url_with_password().unwrap();
        let url = url::Url::parse(&db.url).unwrap();
        let decoded = percent_decode(url.password().unwrap());
        assert_eq!(decoded, password);
        assert_eq!((url.username(), url.host_str()), ("tokenhub", Some("db")));
        assert_eq!(url.path(), "/tokenhub");

        let twice = DatabaseConfig {
            password_file: Some(file.clone()),
            ..db.clone()
        };
        let err = twice.url_with_password().unwrap_err().to_string();
        assert!(err.starts_with("database.password_file"), "{err}");
        assert!(!err.contains(password), "{err}");
    }

    #[test]
    fn password_file_errors_name_the_setting() {
        let missing = DatabaseConfig {
            url: "postgres://tokenhub@db/tokenhub".into(),
            password_file: Some("/nonexistent/db_password".into()),
            ..DatabaseConfig::default()
        };
        let sqlite = DatabaseConfig {
            password_file: Some("/nonexistent/db_password".into()),
            ..DatabaseConfig::default()
        };
        for db in [missing, sqlite] {
            let err = db.url_with_password().unwrap_err().to_string();
            assert!(err.starts_with("database.password_file: "), "{err}");
        }
    }

    /// libpq's reading of `%XX` in a connection URI.
    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}
