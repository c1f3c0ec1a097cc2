//! One typed configuration, read from (highest first) flags, `TOKENHUB_*` environment (and
//! `DATABASE_URL`), a TOML file (`--config PATH` or `TOKENHUB_CONFIG`), then defaults; validated
//! at start with an error that names the bad setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

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
}

impl Default for PeersConfig {
    fn default() -> Self {
        Self {
            allow_insecure: false,
            timeout_ms: 5000,
            liveness_interval_secs: 300,
            credentials_poll_ms: 250,
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

impl Config {
    /// Reads and validates the configuration.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
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
        // Taken as is: figment would read a key of only digits as a number.
        if let Some(key) = std::env::var_os("TOKENHUB_SECRETS__KEY") {
            let key = key.into_string().map_err(|_| {
                ConfigError("secrets.key: TOKENHUB_SECRETS__KEY is not valid UTF-8".into())
            })?;
            figment = figment.merge(("secrets.key", key));
        }
        figment = figment.merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database.url".into()),
        );
        if let Some(url) = &overrides.database_url {
            figment = figment.merge(("database.url", url));
        }
        if let Some(bind) = &overrides.bind {
            figment = figment.merge(("http.bind", bind));
        }
        if let Some(public_url) = &overrides.public_url {
            figment = figment.merge(("http.public_url", public_url));
        }
        let mut config: Config = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        config.database.apply_password_file()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, why: String| Err(ConfigError(format!("{name}: {why}")));
        if let Err(e) = self.bind_addr() {
            return bad("http.bind", e);
        }
        if let Some(url) = &self.http.public_url {
            match url::Url::parse(url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => return bad("http.public_url", format!("{url:?} is not an http(s) URL")),
            }
        }
        self.check_bounds()?;
        // Bounded relative to each other (the table walks one setting at a time).
        let a = &self.authorization;
        if a.unmatched_session_minutes == 0
            || a.unmatched_session_minutes > a.session_stale_hours.saturating_mul(60)
        {
            return bad(
                "authorization.unmatched_session_minutes",
                format!(
                    "must be between 1 and authorization.session_stale_hours ({} h) in minutes",
                    a.session_stale_hours
                ),
            );
        }
        let r = &self.retention;
        if r.session_days == 0 {
            return bad("retention.session_days", "must be at least 1".into());
        }
        // A purged session must have stopped counting long before: it takes its use with it.
        if r.abandoned_session_days < r.session_days
            || r.abandoned_session_days > 3650
            || u64::from(r.abandoned_session_days) * 24 <= a.session_stale_hours
        {
            return bad(
                "retention.abandoned_session_days",
                "must be at least retention.session_days, at most 3650, and longer than authorization.session_stale_hours".into(),
            );
        }
        for (name, value) in [
            (
                "http.auth_failures_per_minute",
                self.http.auth_failures_per_minute,
            ),
            ("http.auth_failure_burst", self.http.auth_failure_burst),
        ] {
            if !(1..=MAX_AUTH_FAILURES).contains(&value) {
                return bad(name, format!("must be between 1 and {MAX_AUTH_FAILURES}"));
            }
        }
        if let Err(e) = BackendKind::from_url(&self.database.url) {
            return bad("database.url", e.to_string());
        }
        if let Err(e) = self.hub_party() {
            return bad(&format!("hub.{}", e.field), e.message);
        }
        let p = &self.pagination;
        if p.default_limit > p.max_limit {
            return bad(
                "pagination.default_limit",
                format!(
                    "must be between 1 and pagination.max_limit ({})",
                    p.max_limit
                ),
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return bad("log.level", e.to_string());
        }
        if let Some(key) = &self.secrets.key {
            if self.secrets.key_file.is_some() {
                return bad(
                    "secrets.key",
                    "set either secrets.key (TOKENHUB_SECRETS__KEY) or secrets.key_file, not both"
                        .into(),
                );
            }
            if let Err(why) = MasterKey::from_hex(key.expose()) {
                return bad("secrets.key", why);
            }
        }
        Ok(())
    }

    /// Every numeric setting, with the range it must lie in. The upper bounds keep date arithmetic
    /// (`now + hold`, `now - retention`) and durations far from overflow, which panicked before,
    /// and catch a unit mistaken (milliseconds given for seconds).
    fn bounds(&self) -> [(&'static str, u64, u64, u64); 21] {
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
                "retention.sweep_interval_secs",
                r.sweep_interval_secs,
                1,
                86_400,
            ),
        ]
    }

    fn check_bounds(&self) -> Result<(), ConfigError> {
        for (name, value, min, max) in self.bounds() {
            if !(min..=max).contains(&value) {
                return Err(ConfigError(format!(
                    "{name}: must be between {min} and {max} (got {value})"
                )));
            }
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, String> {
        self.http
            .bind
            .parse()
            .map_err(|_| format!("{:?} is not an address like 127.0.0.1:8080", self.http.bind))
    }

    pub fn hub_party(&self) -> Result<PartyKey, crate::domain::ValidationError> {
        PartyKey::parse(&self.hub.country_code, &self.hub.party_id)
    }

    pub fn store_settings(&self) -> StoreSettings {
        StoreSettings {
            url: self.database.url.clone(),
            pool_size: self.database.pool_size,
            connect_timeout: Duration::from_secs(self.database.connect_timeout_secs.max(1)),
            statement_timeout: Duration::from_millis(self.database.statement_timeout_ms),
            lock_timeout: Duration::from_millis(self.database.lock_timeout_ms),
            outage_backoff: Duration::from_millis(self.database.outage_backoff_ms),
        }
    }
}

impl DatabaseConfig {
    /// Puts the content of `password_file` into `url`, so the password can live in a file (a
    /// Docker secret) instead of the environment, where `docker inspect` shows it. The content
    /// never appears in an error: those name the setting and the file only.
    fn apply_password_file(&mut self) -> Result<(), ConfigError> {
        let Some(path) = &self.password_file else {
            return Ok(());
        };
        let bad = |why: String| Err(ConfigError(format!("database.password_file: {why}")));
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
                return Err(ConfigError(format!(
                    "database.url: {e} in {}",
                    crate::store::mask_url(&self.url)
                )))
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
        self.url = url.into();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            config.validate().map_err(|e| e.0)
        };
        let bounds = base.bounds();
        assert_eq!(bounds.len(), 21);
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

    #[test]
    fn trusted_proxies_are_cidr_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokenhub.toml");
        let load = |proxies: &str| {
            std::fs::write(&file, format!("[http]\ntrusted_proxies = {proxies}\n")).unwrap();
            Config::load(&Overrides {
                config_file: Some(file.clone()),
                ..Overrides::default()
            })
        };
        let config = load(r#"["127.0.0.1/32", "10.1.0.0/16", "::1/128"]"#).unwrap();
        assert_eq!(config.http.trusted_proxies.len(), 3);
        assert!(config.http.trusted_proxies[1]
            .contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        for bad in [r#"["10.0.0.300/8"]"#, r#"["proxy.example"]"#] {
            let err = load(bad).unwrap_err().0;
            assert!(err.contains("http.trusted_proxies"), "{err}");
        }
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
        db.apply_password_file().unwrap();
        let url = url::Url::parse(&db.url).unwrap();
        let decoded = percent_decode(url.password().unwrap());
        assert_eq!(decoded, password);
        assert_eq!((url.username(), url.host_str()), ("tokenhub", Some("db")));
        assert_eq!(url.path(), "/tokenhub");

        let mut twice = DatabaseConfig {
            password_file: Some(file.clone()),
            ..db.clone()
        };
        let err = twice.apply_password_file().unwrap_err().0;
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
        for mut db in [missing, sqlite] {
            let err = db.apply_password_file().unwrap_err().0;
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
