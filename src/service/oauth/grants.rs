//! The grants people's tokens come from: authorization codes (single use, at most 10 minutes,
//! PKCE S256) and refresh tokens (rotated on every use, in families). Both are 256 random bits,
//! shown once and stored as keyed hashes.
//!
//! Each exchange is one write job: the checks and the change commit together, so two concurrent
//! exchanges of one code (or one refresh token) cannot both win. The access token is signed
//! before the job (signing needs no database) and thrown away when the job refuses.

use std::collections::HashSet;

use base64::Engine;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{IssuedToken, OAuthServer};
use crate::domain::oauth::{refresh_reuse, Reuse, ScopeSet};
use crate::store::login::{self as rows, CodeRow, RefreshRow};
use crate::store::{Conn, Store, StoreError, StoreResult};

/// RFC 6749 §4.1.2 recommends at most 10 minutes; a person's browser needs seconds.
pub const CODE_TTL: TimeDelta = TimeDelta::minutes(10);
const CODE_PREFIX: &str = "thc_";
const REFRESH_PREFIX: &str = "thr_";

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Whether `token` has the shape of one of the hub's refresh tokens (revocation tells them from
/// access tokens by it).
pub fn is_refresh_token(token: &str) -> bool {
    token.starts_with(REFRESH_PREFIX)
}

/// PKCE S256 (RFC 7636 §4.6): base64url(SHA-256(verifier)) equals the challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    computed.len() == challenge.len() && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// What the authorization endpoint approved, to be bound to a code.
pub struct CodeGrant {
    pub client_id: String,
    pub username: String,
    pub redirect_uri: String,
    pub scopes: ScopeSet,
    pub code_challenge: String,
}

/// Why a grant is refused: `invalid_grant` (RFC 6749 §5.2) with this text, or `invalid_scope`.
#[derive(Debug)]
pub enum GrantError {
    Invalid(&'static str),
    Scope(String),
    Store(StoreError),
}

impl From<StoreError> for GrantError {
    fn from(err: StoreError) -> Self {
        GrantError::Store(err)
    }
}

/// An access token and the refresh token issued with it.
pub struct TokenPair {
    pub access: IssuedToken,
    pub refresh_token: String,
}

fn naive(unix: i64) -> StoreResult<NaiveDateTime> {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.naive_utc())
        .ok_or_else(|| StoreError::Query("timestamp out of range".into()))
}

/// What a write job decided.
enum Outcome {
    Issued,
    Refused(&'static str),
    /// A replayed code or a reused refresh token: these access tokens were revoked with the family.
    Revoked(&'static str, Vec<(String, NaiveDateTime)>),
}

impl OAuthServer {
    /// Creates a code for `grant` and returns it (it goes into the redirect only).
    pub async fn new_code(&self, store: &Store, grant: CodeGrant) -> StoreResult<String> {
        let code = random_token(CODE_PREFIX);
        let row = CodeRow {
            code_hash: self.grant_hasher.hash(&code),
            client_id: grant.client_id,
            username: grant.username,
            redirect_uri: grant.redirect_uri,
            scopes: grant.scopes.to_string(),
            code_challenge: grant.code_challenge,
            expires_at: Utc::now().naive_utc() + CODE_TTL,
            used_at: None,
            family_id: None,
        };
        store
            .write(move |conn| {
                // Codes live minutes: forgetting the expired ones (and expired refresh tokens)
                // at each new login keeps both tables small without a sweeper of their own.
                rows::purge_codes(conn, row.expires_at - CODE_TTL - TimeDelta::hours(1))?;
                rows::purge_refresh_tokens(conn, row.expires_at - CODE_TTL - TimeDelta::days(1))?;
                rows::insert_code(conn, &row)
            })
            .await?;
        Ok(code)
    }

    /// The `authorization_code` grant: `code` for `client_id`, with the same `redirect_uri` and
    /// the PKCE verifier. A code presented a second time revokes what its first exchange issued
    /// (RFC 6749 §4.1.2: it was stolen, or the first exchange was).
    pub async fn exchange_code(
        &self,
        store: &Store,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenPair, GrantError> {
        let code_hash = self.grant_hasher.hash(code);
        let row = {
            let hash = code_hash.clone();
            store.read(move |conn| rows::find_code(conn, &hash)).await?
        };
        let Some(row) = row else {
            return Err(GrantError::Invalid("the code is unknown or expired"));
        };
        let scopes = ScopeSet::parse(&row.scopes).map_err(StoreError::Query)?;
        let parties = self.person_parties(store, client_id, &row.username).await?;
        let access = self
            .issue_for(store, client_id, &row.username, scopes.clone(), &parties)
            .await?;
        let refresh_token = random_token(REFRESH_PREFIX);
        let now = Utc::now().naive_utc();
        let refresh = RefreshRow {
            token_hash: self.grant_hasher.hash(&refresh_token),
            family_id: uuid::Uuid::new_v4().to_string(),
            parent_hash: None,
            client_id: client_id.to_owned(),
            username: row.username.clone(),
            scopes: row.scopes.clone(),
            created_at: now,
            expires_at: now + ttl(self.refresh_token_ttl),
            rotated_at: None,
            revoked_at: None,
            access_jti: access.jti.clone(),
            access_expires_at: naive(access.expires_at)?,
        };
        let (client_id, redirect_uri, verifier) = (
            client_id.to_owned(),
            redirect_uri.to_owned(),
            verifier.to_owned(),
        );
        let outcome = store
            .write(move |conn| {
                let Some(row) = rows::find_code(conn, &code_hash)? else {
                    return Ok(Outcome::Refused("the code is unknown or expired"));
                };
                if row.client_id != client_id {
                    return Ok(Outcome::Refused("the code was issued to another client"));
                }
                if row.used_at.is_some() {
                    let revoked = match &row.family_id {
                        Some(family) => rows::revoke_family(conn, family, now)?,
                        None => Vec::new(),
                    };
                    return Ok(Outcome::Revoked(
                        "the code was used already; the tokens issued for it are revoked",
                        revoked,
                    ));
                }
                if row.expires_at <= now {
                    return Ok(Outcome::Refused("the code is unknown or expired"));
                }
                if row.redirect_uri != redirect_uri {
                    return Ok(Outcome::Refused(
                        "redirect_uri differs from the one of the authorization request",
                    ));
                }
                if !pkce_matches(&verifier, &row.code_challenge) {
                    return Ok(Outcome::Refused(
                        "code_verifier does not match the code_challenge",
                    ));
                }
                if !user_enabled(conn, &row.username)? {
                    return Ok(Outcome::Refused("the user is disabled"));
                }
                if !rows::use_code(conn, &code_hash, &refresh.family_id, now)? {
                    return Ok(Outcome::Refused("the code was used already"));
                }
                rows::insert_refresh(conn, &refresh)?;
                Ok(Outcome::Issued)
            })
            .await?;
        self.settle(outcome)?;
        Ok(TokenPair {
            access,
            refresh_token,
        })
    }

    /// The `refresh_token` grant: a new access token and a new refresh token of the same family;
    /// the presented one is rotated. `scope` may narrow the original scope (RFC 6749 §6).
    pub async fn refresh(
        &self,
        store: &Store,
        client_id: &str,
        token: &str,
        scope: Option<&str>,
    ) -> Result<TokenPair, GrantError> {
        let token_hash = self.grant_hasher.hash(token);
        let row = {
            let hash = token_hash.clone();
            store
                .read(move |conn| rows::find_refresh(conn, &hash))
                .await?
        };
        let Some(row) = row else {
            return Err(GrantError::Invalid(
                "the refresh token is unknown or expired",
            ));
        };
        let original = ScopeSet::parse(&row.scopes).map_err(StoreError::Query)?;
        let scopes = match scope {
            None => original,
            Some(text) => {
                let asked = ScopeSet::parse(text).map_err(GrantError::Scope)?;
                if !asked.is_subset(&original) {
                    return Err(GrantError::Scope(format!(
                        "scope: beyond what the refresh token was granted ({original})"
                    )));
                }
                asked
            }
        };
        let parties = self.person_parties(store, client_id, &row.username).await?;
        let access = self
            .issue_for(store, client_id, &row.username, scopes.clone(), &parties)
            .await?;
        let new_token = random_token(REFRESH_PREFIX);
        let now = Utc::now().naive_utc();
        let child = RefreshRow {
            token_hash: self.grant_hasher.hash(&new_token),
            family_id: row.family_id.clone(),
            parent_hash: Some(token_hash.clone()),
            client_id: client_id.to_owned(),
            username: row.username.clone(),
            // The family keeps the original scope: a narrowed refresh may widen back later.
            scopes: row.scopes.clone(),
            created_at: now,
            // Rotation does not extend the family's life: a stolen chain dies with the first.
            expires_at: row.expires_at,
            rotated_at: None,
            revoked_at: None,
            access_jti: access.jti.clone(),
            access_expires_at: naive(access.expires_at)?,
        };
        let grace = ttl(self.refresh_reuse_grace);
        let client_id = client_id.to_owned();
        let outcome = store
            .write(move |conn| {
                let Some(row) = rows::find_refresh(conn, &token_hash)? else {
                    return Ok(Outcome::Refused("the refresh token is unknown or expired"));
                };
                if row.client_id != client_id {
                    return Ok(Outcome::Refused(
                        "the refresh token was issued to another client",
                    ));
                }
                if row.revoked_at.is_some() {
                    return Ok(Outcome::Refused("the refresh token is revoked"));
                }
                if row.expires_at <= now {
                    return Ok(Outcome::Refused("the refresh token is unknown or expired"));
                }
                if !user_enabled(conn, &row.username)? {
                    rows::revoke_family(conn, &row.family_id, now)?;
                    return Ok(Outcome::Refused("the user is disabled"));
                }
                let fresh = rows::rotate_refresh(conn, &token_hash, now)?;
                // Not rotated now: rotated before, or by a concurrent refresh a moment ago
                // (whose commit this statement waited for).
                if !fresh {
                    let since = now - row.rotated_at.unwrap_or(now);
                    if refresh_reuse(since, grace) == Reuse::RevokeFamily {
                        let revoked = rows::revoke_family(conn, &row.family_id, now)?;
                        return Ok(Outcome::Revoked(
                            "the refresh token was used already; its family is revoked",
                            revoked,
                        ));
                    }
                }
                rows::insert_refresh(conn, &child)?;
                Ok(Outcome::Issued)
            })
            .await?;
        self.settle(outcome)?;
        Ok(TokenPair {
            access,
            refresh_token: new_token,
        })
    }

    /// Revokes the family of a refresh token issued to `client_id` (RFC 7009: revoking one
    /// revokes what was issued with it); false when there is none.
    pub async fn revoke_refresh(
        &self,
        store: &Store,
        token: &str,
        client_id: &str,
    ) -> StoreResult<bool> {
        let token_hash = self.grant_hasher.hash(token);
        let client_id = client_id.to_owned();
        let revoked = store
            .write(move |conn| {
                let Some(row) = rows::find_refresh(conn, &token_hash)? else {
                    return Ok(None);
                };
                if row.client_id != client_id {
                    return Ok(None);
                }
                Ok(Some(rows::revoke_family(
                    conn,
                    &row.family_id,
                    Utc::now().naive_utc(),
                )?))
            })
            .await?;
        match revoked {
            Some(jtis) => {
                self.remember_revoked(jtis);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Refuses every access token in `jtis` on this instance at once (the others reload them
    /// when the OAuth epoch moves, which the revocation bumped).
    fn remember_revoked(&self, jtis: Vec<(String, NaiveDateTime)>) {
        let mut seen = HashSet::new();
        for (jti, expires_at) in jtis {
            if seen.insert(jti.clone()) {
                self.revocations
                    .insert(jti, expires_at.and_utc().timestamp());
            }
        }
    }

    fn settle(&self, outcome: Outcome) -> Result<(), GrantError> {
        match outcome {
            Outcome::Issued => Ok(()),
            Outcome::Refused(why) => Err(GrantError::Invalid(why)),
            Outcome::Revoked(why, jtis) => {
                tracing::warn!(
                    reason = why,
                    revoked_access_tokens = jtis.len(),
                    "grant replayed"
                );
                self.remember_revoked(jtis);
                Err(GrantError::Invalid(why))
            }
        }
    }
}

fn user_enabled(conn: &mut Conn<'_>, username: &str) -> StoreResult<bool> {
    Ok(rows::find_user(conn, username)?.is_some_and(|u| !u.disabled))
}

fn ttl(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::days(365))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn pkce_s256_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(challenge, challenge), "plain is not S256");
        assert!(!pkce_matches(verifier, &challenge[1..]));
    }

    #[test]
    fn tokens_are_random_and_tell_their_kind() {
        let a = random_token(REFRESH_PREFIX);
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(a, random_token(REFRESH_PREFIX));
        assert!(is_refresh_token(&a));
        assert!(!is_refresh_token(&random_token(CODE_PREFIX)));
    }
}
