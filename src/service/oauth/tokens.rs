//! Access tokens as RFC 9068 JWTs: issued for a client, verified for the management API.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;
use crate::domain::oauth::ScopeSet;

/// The claims of the hub's access tokens (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// RFC 9068 §2.1: the `typ` of an access token, so that no other JWT (an ID token) passes as one.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Signs `claims` with the ring's current key; `None` when the ring has none.
pub fn sign(ring: &KeyRing, claims: &AccessClaims) -> Option<String> {
    let (kid, key) = ring.signing()?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = Some(kid.to_owned());
    Some(jsonwebtoken::encode(&header, claims, key).expect("an Ed25519 key signs any claims"))
}

/// Who a valid access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub issuer: String,
    pub subject: String,
    pub client_id: Option<String>,
    pub scopes: ScopeSet,
    pub jti: Option<String>,
    pub expires_at: i64,
}

/// Why a bearer token is refused (all `invalid_token`); the text goes to `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token is not an access token (typ must be at+jwt)")]
    NotAnAccessToken,
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not for this audience")]
    WrongAudience,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token lacks a required claim or has a malformed one")]
    BadClaims,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the identity provider's keys cannot be read")]
    KeysUnavailable,
}

impl From<jsonwebtoken::errors::Error> for TokenRejection {
    fn from(err: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind;
        match err.kind() {
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => TokenRejection::Expired,
            ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
            ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => TokenRejection::BadSignature,
            ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::Json(_)
            | ErrorKind::InvalidSubject
            | ErrorKind::InvalidClaimFormat(_) => TokenRejection::BadClaims,
            _ => TokenRejection::Malformed,
        }
    }
}

/// Clock skew allowed between instances (and, for an external provider, its clock).
pub const LEEWAY_SECS: u64 = 5;

/// Verifies one of the hub's own tokens: signature by a key of `ring`, `typ`, issuer, audience,
/// expiry. Revocation is checked by the caller.
pub fn verify_own(
    token: &str,
    header: &Header,
    ring: &KeyRing,
    issuer: &str,
    audience: &str,
) -> Result<Principal, TokenRejection> {
    let typ = header.typ.as_deref().unwrap_or_default();
    if !typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
        && !typ.eq_ignore_ascii_case("application/at+jwt")
    {
        return Err(TokenRejection::NotAnAccessToken);
    }
    let kid = header.kid.as_deref().ok_or(TokenRejection::UnknownKey)?;
    let key = ring.verifying(kid).ok_or(TokenRejection::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = LEEWAY_SECS;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)?.claims;
    Ok(Principal {
        issuer: claims.iss,
        subject: claims.sub,
        client_id: Some(claims.client_id),
        scopes: ScopeSet::known(claims.scope.split(' ')),
        jti: Some(claims.jti),
        expires_at: claims.exp,
    })
}
