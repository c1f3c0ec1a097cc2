//! Access tokens as RFC 9068 JWTs: issued for a client, verified for the management API.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;
use crate::domain::access::PartyAccess;
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
    /// The parties the token may act for, as `CC*PID`; absent = every party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parties: Option<Vec<String>>,
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
    /// The parties the caller may act for (`parties` claim).
    pub parties: PartyAccess,
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
    let parties = PartyAccess::from_claim(claims.parties.as_deref())
        .map_err(|_| TokenRejection::BadClaims)?;
    Ok(Principal {
        issuer: claims.iss,
        subject: claims.sub,
        client_id: Some(claims.client_id),
        scopes: ScopeSet::known(claims.scope.split(' ')),
        jti: Some(claims.jti),
        expires_at: claims.exp,
        parties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::sealed::Sealer;
    use crate::service::oauth::keys::generate;

    const HUB: &str = "https://hub.example.com";

    fn new_ring() -> KeyRing {
        let sealer = Sealer::new([5; 32]);
        let row = generate(&sealer, chrono::Utc::now().naive_utc());
        KeyRing::from_rows(&[row], &sealer).unwrap()
    }

    fn claims() -> AccessClaims {
        let now = chrono::Utc::now().timestamp();
        AccessClaims {
            iss: HUB.into(),
            sub: "th_a".into(),
            aud: HUB.into(),
            client_id: "th_a".into(),
            scope: "tokens:read nonsense".into(),
            exp: now + 60,
            iat: now,
            jti: "j1".into(),
            parties: None,
        }
    }

    fn verify(ring: &KeyRing, jwt: &str) -> Result<Principal, TokenRejection> {
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        verify_own(jwt, &header, ring, HUB, HUB)
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let ring = new_ring();
        let principal = verify(&ring, &sign(&ring, &claims()).unwrap()).unwrap();
        assert_eq!(principal.client_id.as_deref(), Some("th_a"));
        assert_eq!(principal.jti.as_deref(), Some("j1"));
        // Unknown scope words are dropped, not trusted.
        assert_eq!(principal.scopes.to_string(), "tokens:read");
        assert_eq!(principal.parties, PartyAccess::All);
    }

    /// The `parties` claim becomes the principal's restriction; a malformed one refuses the token.
    #[test]
    fn the_parties_claim_restricts() {
        let ring = new_ring();
        let mut restricted = claims();
        restricted.parties = Some(vec!["NL*ABC".into()]);
        let principal = verify(&ring, &sign(&ring, &restricted).unwrap()).unwrap();
        assert_eq!(principal.parties.to_claim(), Some(vec!["NL*ABC".into()]));
        restricted.parties = Some(vec!["NLABC".into()]);
        assert_eq!(
            verify(&ring, &sign(&ring, &restricted).unwrap()),
            Err(TokenRejection::BadClaims)
        );
    }

    /// RFC 9068 §4: a JWT of the hub's own key that is not typed `at+jwt` (an ID token, say) is
    /// not an access token.
    #[test]
    fn only_at_jwt_is_an_access_token() {
        let ring = new_ring();
        let (kid, key) = ring.signing().unwrap();
        for typ in [None, Some("JWT")] {
            let mut header = Header::new(Algorithm::EdDSA);
            header.typ = typ.map(String::from);
            header.kid = Some(kid.to_owned());
            let jwt = jsonwebtoken::encode(&header, &claims(), key).unwrap();
            assert_eq!(
                verify(&ring, &jwt),
                Err(TokenRejection::NotAnAccessToken),
                "{typ:?}"
            );
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("application/at+jwt".into());
        header.kid = Some(kid.to_owned());
        let jwt = jsonwebtoken::encode(&header, &claims(), key).unwrap();
        assert!(verify(&ring, &jwt).is_ok());
    }

    #[test]
    fn each_rejection_has_its_reason() {
        let ring = new_ring();
        let now = chrono::Utc::now().timestamp();
        let mut expired = claims();
        expired.exp = now - 60;
        let mut audience = claims();
        audience.aud = "https://other.example.com".into();
        let mut issuer = claims();
        issuer.iss = "https://other.example.com".into();
        for (c, why) in [
            (expired, TokenRejection::Expired),
            (audience, TokenRejection::WrongAudience),
            (issuer, TokenRejection::WrongIssuer),
        ] {
            assert_eq!(
                verify(&ring, &sign(&ring, &c).unwrap()),
                Err(why.clone()),
                "{why}"
            );
        }
        // Another ring's key, under a kid this ring does not know.
        let other = new_ring();
        assert_eq!(
            verify(&ring, &sign(&other, &claims()).unwrap()),
            Err(TokenRejection::UnknownKey)
        );
    }
}
