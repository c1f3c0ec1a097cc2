//! An external identity provider the hub trusts (`oauth.external`): its JWKS is read from a URL
//! or a file, cached, and read again when a token names a key the cache does not hold (the
//! provider rotated), at most once per interval, so that tokens with made-up
//! `kid`s cannot make the hub hammer the provider (`oauth.external.jwks_min_refresh_secs`).

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use tokio::sync::Mutex;

use super::tokens::{Principal, TokenRejection, LEEWAY_SECS};
use crate::config::{ExternalIdpSettings, JwksSource};
use crate::domain::access::PartyAccess;
use crate::domain::oauth::ScopeSet;

pub struct ExternalIssuer {
    settings: ExternalIdpSettings,
    http: reqwest::Client,
    /// The keys and when they were read; `None` until the first read.
    cache: Mutex<Option<(JwkSet, Instant)>>,
}

impl ExternalIssuer {
    pub fn new(settings: ExternalIdpSettings, timeout: Duration) -> Self {
        Self {
            settings,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            cache: Mutex::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    async fn read_jwks(&self) -> Result<JwkSet, String> {
        let text = match &self.settings.jwks {
            JwksSource::Url(url) => {
                let response = self
                    .http
                    .get(url.clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("HTTP {}", response.status()));
                }
                response.text().await.map_err(|e| e.to_string())?
            }
            JwksSource::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
                })
                .await
                .map_err(|e| e.to_string())??
            }
        };
        serde_json::from_str(&text).map_err(|e| format!("not a JWKS: {e}"))
    }

    /// The key `kid`, reading the JWKS again if it is not cached and the last read is old enough.
    async fn key(&self, kid: &str) -> Result<jsonwebtoken::jwk::Jwk, TokenRejection> {
        let mut cache = self.cache.lock().await;
        if let Some((set, _)) = cache.as_ref() {
            if let Some(jwk) = set.find(kid) {
                return Ok(jwk.clone());
            }
        }
        let may_refresh = cache
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= self.settings.jwks_min_refresh);
        if !may_refresh {
            return Err(TokenRejection::UnknownKey);
        }
        match self.read_jwks().await {
            Ok(set) => {
                let found = set.find(kid).cloned();
                *cache = Some((set, Instant::now()));
                found.ok_or(TokenRejection::UnknownKey)
            }
            Err(e) => {
                tracing::warn!(error = %e, issuer = %self.settings.issuer, "cannot read the external identity provider's JWKS");
                Err(TokenRejection::KeysUnavailable)
            }
        }
    }

    /// Verifies a token of the provider: signature by a key of its JWKS (asymmetric algorithms
    /// only: an HMAC "key" from a JWKS would be public), issuer, audience, expiry.
    pub async fn verify(&self, token: &str, header: &Header) -> Result<Principal, TokenRejection> {
        let kid = header.kid.as_deref().ok_or(TokenRejection::UnknownKey)?;
        let jwk = self.key(kid).await?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(TokenRejection::BadSignature);
        }
        if let Some(alg) = jwk.common.key_algorithm {
            if !same_algorithm(alg, header.alg) {
                return Err(TokenRejection::BadSignature);
            }
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| TokenRejection::UnknownKey)?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)?.claims;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let scopes = match claims.get(&self.settings.scope_claim) {
            Some(serde_json::Value::String(s)) => ScopeSet::known(s.split(' ')),
            Some(serde_json::Value::Array(items)) => {
                ScopeSet::known(items.iter().filter_map(|v| v.as_str()))
            }
            _ => ScopeSet::default(),
        };
        let parties = match self.settings.parties_claim.as_ref().map(|c| claims.get(c)) {
            None | Some(None) => PartyAccess::All,
            Some(Some(serde_json::Value::String(s))) => {
                PartyAccess::only("parties", s.split_whitespace())
                    .map_err(|_| TokenRejection::BadClaims)?
            }
            Some(Some(serde_json::Value::Array(items))) => {
                let words: Vec<&str> = items.iter().filter_map(|v| v.as_str()).collect();
                if words.len() != items.len() {
                    return Err(TokenRejection::BadClaims);
                }
                PartyAccess::only("parties", words).map_err(|_| TokenRejection::BadClaims)?
            }
            Some(Some(_)) => return Err(TokenRejection::BadClaims),
        };
        Ok(Principal {
            issuer: self.settings.issuer.clone(),
            subject: text("sub").ok_or(TokenRejection::BadClaims)?,
            client_id: text("client_id").or_else(|| text("azp")),
            scopes,
            jti: text("jti"),
            expires_at: claims
                .get("exp")
                .and_then(|v| v.as_i64())
                .ok_or(TokenRejection::BadClaims)?,
            parties,
        })
    }
}

fn same_algorithm(key: KeyAlgorithm, alg: Algorithm) -> bool {
    KeyAlgorithm::from(alg) == key
}
