//! The OAuth 2 authorization server's units of work: clients, signing keys, access tokens,
//! revocations and the external identity provider. The HTTP surface is `crate::oauth`; the
//! management API's extractor (`crate::admin`) verifies tokens through [`OAuthServer::verify`].
//!
//! What every request needs is in memory (signing keys, revoked `jti`s, recently seen clients)
//! and reloaded when the OAuth epoch in the database moves, checked every `oauth.poll_ms` by
//! [`watch_epoch`]: a revocation or a key rotation anywhere reaches every instance within that
//! time, and verifying a token never queries the database.

pub mod clients;
pub mod consents;
pub mod external;
pub mod grants;
pub mod keys;
pub mod revocations;
pub mod tokens;
pub mod users;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;

use self::clients::{Client, ClientCache};
use self::external::ExternalIssuer;
use self::keys::KeyRing;
use self::revocations::Revocations;
use self::tokens::{AccessClaims, Principal, TokenRejection};
use crate::config::Settings;
use crate::domain::access::PartyAccess;
use crate::domain::oauth::ScopeSet;
use crate::ops::limits::FailureLimiter;
use crate::secrets::client_secrets::SecretHasher;
use crate::secrets::sealed::Sealer;
use crate::secrets::{Keys, Purpose};
use crate::store::connections::{record_change, Change};
use crate::store::oauth as rows;
use crate::store::{Store, StoreError, StoreResult};

/// How long a looked-up client is trusted without asking the database again (a change anywhere
/// moves the OAuth epoch, which drops the cache sooner).
const CLIENT_TTL: Duration = Duration::from_secs(5);

pub struct OAuthServer {
    /// `iss` of the hub's tokens: the public URL.
    pub issuer: String,
    /// `aud` of the hub's tokens and what the management API requires.
    pub audience: String,
    pub access_token_ttl: Duration,
    pub hasher: SecretHasher,
    /// Seals the signing keys' private halves.
    sealer: Sealer,
    ring: RwLock<Option<Arc<KeyRing>>>,
    pub revocations: Revocations,
    pub clients: ClientCache,
    /// Failed client authentications per client id (per address: `AppState::auth_failures`).
    pub client_failures: FailureLimiter<String>,
    external: Option<ExternalIssuer>,
    /// Hashes refresh tokens and authorization codes (`grants`).
    pub grant_hasher: SecretHasher,
    pub refresh_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    /// Failed logins per username (per address: `AppState::auth_failures`, shared with every
    /// other authentication).
    pub login_failures_by_user: FailureLimiter<String>,
}

/// A token the token endpoint issued.
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: ScopeSet,
    /// Its `jti` and `exp`: refresh tokens remember the access token issued with them.
    pub jti: String,
    pub expires_at: i64,
}

impl OAuthServer {
    pub fn new(settings: &Settings, keys: &Keys, public_url: &str) -> Self {
        OAuthServer {
            issuer: public_url.to_owned(),
            audience: settings
                .oauth
                .audience
                .clone()
                .unwrap_or_else(|| public_url.to_owned()),
            access_token_ttl: settings.oauth.access_token_ttl,
            hasher: SecretHasher::new(keys),
            sealer: Sealer::new(keys.derive(Purpose::JWT_SIGNING_KEYS)),
            ring: RwLock::new(None),
            revocations: Revocations::default(),
            clients: ClientCache::new(CLIENT_TTL),
            client_failures: FailureLimiter::new(
                settings.http.auth_failures_per_minute,
                settings.http.auth_failure_burst,
            ),
            external: settings
                .oauth
                .external
                .clone()
                .map(|e| ExternalIssuer::new(e, settings.peers.timeout)),
            grant_hasher: SecretHasher::for_purpose(keys, Purpose::REFRESH_TOKEN_HASH),
            refresh_token_ttl: settings.oauth.refresh_token_ttl,
            refresh_reuse_grace: settings.oauth.refresh_reuse_grace,
            login_failures_by_user: FailureLimiter::new(
                settings.oauth.login_failures_per_minute,
                settings.oauth.login_failure_burst,
            ),
        }
    }

    fn current_ring(&self) -> Option<Arc<KeyRing>> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The keys, loaded (and the first one created) on first use.
    pub async fn key_ring(&self, store: &Store) -> StoreResult<Arc<KeyRing>> {
        match self.current_ring() {
            Some(ring) => Ok(ring),
            None => self.reload_keys(store).await,
        }
    }

    /// Reads the keys that verify, creating a signing key if there is none yet.
    pub async fn reload_keys(&self, store: &Store) -> StoreResult<Arc<KeyRing>> {
        let retired_since = self.retired_since();
        let mut found = store
            .read(move |conn| rows::verifying_keys(conn, retired_since))
            .await?;
        if !found.iter().any(|k| k.retired_at.is_none()) {
            let key = keys::generate(&self.sealer, Utc::now().naive_utc());
            store
                .write(move |conn| rows::ensure_signing_key(conn, &key).map(|_| ()))
                .await?;
            found = store
                .read(move |conn| rows::verifying_keys(conn, retired_since))
                .await?;
        }
        let ring = Arc::new(KeyRing::from_rows(&found, &self.sealer)?);
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&ring));
        Ok(ring)
    }

    /// Keys retired after this still verify: a token they signed may not have expired yet.
    fn retired_since(&self) -> chrono::NaiveDateTime {
        let ttl = chrono::TimeDelta::from_std(self.access_token_ttl)
            .unwrap_or(chrono::TimeDelta::days(1));
        Utc::now().naive_utc() - ttl - chrono::TimeDelta::seconds(tokens::LEEWAY_SECS as i64 + 1)
    }

    /// Reads the revoked tokens that have not expired.
    pub async fn reload_revocations(&self, store: &Store) -> StoreResult<()> {
        let now = Utc::now().naive_utc();
        let live = store
            .read(move |conn| rows::live_revocations(conn, now))
            .await?;
        self.revocations.merge(
            live.into_iter()
                .map(|(jti, exp)| (jti, exp.and_utc().timestamp())),
            now.and_utc().timestamp(),
        );
        Ok(())
    }

    /// Issues an access token for `client` with `scope` (already checked against its scopes).
    pub async fn issue(
        &self,
        store: &Store,
        client: &Client,
        scope: ScopeSet,
    ) -> StoreResult<IssuedToken> {
        // A client acting for itself is its own subject (RFC 9068 §2.2).
        self.issue_for(
            store,
            &client.client_id,
            &client.client_id,
            scope,
            &client.parties,
        )
        .await
    }

    /// Issues an access token for `subject` (a client, or a person through `client_id`) that may
    /// act for `parties`.
    pub async fn issue_for(
        &self,
        store: &Store,
        client_id: &str,
        subject: &str,
        scope: ScopeSet,
        parties: &PartyAccess,
    ) -> StoreResult<IssuedToken> {
        let ring = self.key_ring(store).await?;
        let now = Utc::now().timestamp();
        let ttl = self.access_token_ttl.as_secs();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.audience.clone(),
            client_id: client_id.to_owned(),
            scope: scope.to_string(),
            exp: now + ttl as i64,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            parties: parties.to_claim(),
        };
        let access_token = tokens::sign(&ring, &claims)
            .ok_or_else(|| StoreError::Query("no signing key".into()))?;
        Ok(IssuedToken {
            access_token,
            expires_in: ttl,
            scope,
            jti: claims.jti,
            expires_at: claims.exp,
        })
    }

    /// What a person's token through `client_id` may act for: the parties both the person and the
    /// client may act for, read when the token is issued (a restriction set later applies from
    /// the next refresh).
    pub async fn person_parties(
        &self,
        store: &Store,
        client_id: &str,
        username: &str,
    ) -> StoreResult<PartyAccess> {
        let (client_id, username) = (client_id.to_owned(), username.to_owned());
        let (client, user) = store
            .read(move |conn| {
                Ok((
                    rows::find_client(conn, &client_id)?,
                    crate::store::login::find_user(conn, &username)?,
                ))
            })
            .await?;
        let stored = |text: Option<String>| {
            PartyAccess::from_stored(text.as_deref()).map_err(|e| StoreError::Query(e.to_string()))
        };
        // A vanished row is refused by the grant itself; here it restricts to nothing.
        let client = match client {
            Some(row) => stored(row.parties)?,
            None => PartyAccess::Only(Vec::new()),
        };
        let user = match user {
            Some(row) => stored(row.parties)?,
            None => PartyAccess::Only(Vec::new()),
        };
        Ok(client.intersect(&user))
    }

    /// Verifies a bearer token: the hub's own (by `kid`) or the external provider's, then
    /// revocation. No database query: keys and revocations are in memory.
    pub async fn verify(&self, store: &Store, token: &str) -> Result<Principal, TokenRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Malformed)?;
        let ring = self
            .key_ring(store)
            .await
            .map_err(|_| TokenRejection::KeysUnavailable)?;
        let own_key = header
            .kid
            .as_deref()
            .is_some_and(|kid| ring.verifying(kid).is_some());
        let principal = match (&self.external, own_key) {
            (Some(external), false) => external.verify(token, &header).await?,
            _ => tokens::verify_own(token, &header, &ring, &self.issuer, &self.audience)?,
        };
        if let Some(jti) = &principal.jti {
            if principal.issuer == self.issuer && self.revocations.is_revoked(jti) {
                return Err(TokenRejection::Revoked);
            }
        }
        Ok(principal)
    }

    /// Revokes `token` if it is one of the hub's, issued to `client_id` (RFC 7009 §2.1); any
    /// other token is left alone, and the caller answers 200 either way. True when revoked.
    pub async fn revoke(&self, store: &Store, token: &str, client_id: &str) -> StoreResult<bool> {
        let Some(claims) = self.own_claims_ignoring_expiry(store, token).await? else {
            return Ok(false);
        };
        if claims.client_id != client_id || claims.exp <= Utc::now().timestamp() {
            return Ok(false);
        }
        let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0)
            .map(|t| t.naive_utc())
            .ok_or_else(|| StoreError::Query("exp out of range".into()))?;
        let jti = claims.jti.clone();
        let now = Utc::now().naive_utc();
        store
            .write(move |conn| {
                rows::revoke(conn, &jti, expires_at, now)?;
                // Revocations of expired tokens protect nothing: a day's margin for clocks.
                rows::purge_revocations(conn, now - chrono::TimeDelta::days(1))?;
                Ok(())
            })
            .await?;
        self.revocations.insert(claims.jti, claims.exp);
        Ok(true)
    }

    /// The claims of a token this hub signed with a key it still holds, expired or not.
    async fn own_claims_ignoring_expiry(
        &self,
        store: &Store,
        token: &str,
    ) -> StoreResult<Option<AccessClaims>> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        let ring = self.key_ring(store).await?;
        let Some(key) = header.kid.as_deref().and_then(|kid| ring.verifying(kid)) else {
            return Ok(None);
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        Ok(
            jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
                .ok()
                .map(|data| data.claims),
        )
    }

    /// Signs `claims` with the current key as they are: for tests that need a token the token
    /// endpoint would never issue (expired, another audience).
    pub async fn sign_claims(&self, store: &Store, claims: &AccessClaims) -> StoreResult<String> {
        let ring = self.key_ring(store).await?;
        tokens::sign(&ring, claims).ok_or_else(|| StoreError::Query("no signing key".into()))
    }
}

/// `tokenhub keys rotate`: a new key signs from now on (on every instance within the poll
/// interval); the previous one keeps verifying until its tokens expire. Returns the new `kid`.
pub async fn rotate_signing_key(store: &Store, keys: &Keys, actor: &str) -> StoreResult<String> {
    let sealer = Sealer::new(keys.derive(Purpose::JWT_SIGNING_KEYS));
    let now = Utc::now().naive_utc();
    let key = keys::generate(&sealer, now);
    let kid = key.kid.clone();
    let actor = actor.to_owned();
    store
        .write(move |conn| {
            rows::rotate_signing_key(conn, &key, now)?;
            record_change(
                conn,
                &Change {
                    actor: &actor,
                    action: "keys.rotate",
                    subject: &format!("signing_key:{}", key.kid),
                    before: None,
                    after: Some(serde_json::json!({ "kid": key.kid, "alg": key.algorithm })),
                },
                now,
            )
        })
        .await?;
    Ok(kid)
}

/// Reloads keys and revocations and forgets cached clients whenever the OAuth epoch moves (a
/// client, key or revocation changed on any instance or by a CLI command), checking every
/// `every`.
pub async fn watch_epoch(store: Store, server: &OAuthServer, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen: Option<i64> = None;
    let mut failing = false;
    loop {
        ticks.tick().await;
        let result = async {
            let epoch = store.read(rows::epoch).await?;
            if seen != Some(epoch) {
                server.clients.clear();
                server.reload_keys(&store).await?;
                server.reload_revocations(&store).await?;
                seen = Some(epoch);
            }
            Ok::<_, StoreError>(())
        }
        .await;
        match result {
            Ok(()) if failing => {
                tracing::info!("OAuth epoch readable again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot reload OAuth keys and revocations; the last ones stay in force");
                    failing = true;
                }
                seen = None;
            }
        }
    }
}
