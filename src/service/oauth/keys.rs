//! The keys that sign the hub's access tokens: Ed25519, generated here, the private half sealed
//! at rest under a key derived from the master key, the public half served as a JWK.
//!
//! One key signs (the newest); older keys keep verifying until every token they signed has
//! expired, so a rotation invalidates nothing.

use std::collections::HashMap;

use base64::Engine;
use chrono::NaiveDateTime;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

use crate::secrets::sealed::Sealer;
use crate::store::oauth::SigningKeyRow;
use crate::store::{StoreError, StoreResult};

pub const ALGORITHM: &str = "EdDSA";

/// A new Ed25519 key as stored: the PKCS#8 private key sealed, the public key as the JWK's `x`,
/// the `kid` its RFC 7638 thumbprint.
pub fn generate(sealer: &Sealer, now: NaiveDateTime) -> SigningKeyRow {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let der = key
        .to_pkcs8_der()
        .expect("an Ed25519 key encodes as PKCS#8");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let x = b64.encode(key.verifying_key().to_bytes());
    SigningKeyRow {
        kid: thumbprint(&x),
        algorithm: ALGORITHM.into(),
        private_key_sealed: sealer.seal(&b64.encode(der.as_bytes())),
        public_key: x,
        created_at: now,
        retired_at: None,
    }
}

/// RFC 7638 thumbprint of an Ed25519 JWK: the members in lexicographic order, no whitespace.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The keys of one moment: the one that signs, every one that verifies, and the JWKS document.
pub struct KeyRing {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

impl KeyRing {
    pub fn empty() -> KeyRing {
        KeyRing {
            signing: None,
            verifying: HashMap::new(),
            jwks: serde_json::json!({ "keys": [] }),
        }
    }

    /// `rows` newest first (`store::oauth::verifying_keys`): the first one signs.
    pub fn from_rows(rows: &[SigningKeyRow], sealer: &Sealer) -> StoreResult<KeyRing> {
        let mut ring = KeyRing::empty();
        let mut jwks = Vec::with_capacity(rows.len());
        for row in rows {
            if row.algorithm != ALGORITHM {
                return Err(StoreError::Query(format!(
                    "signing key {} has algorithm {:?}",
                    row.kid, row.algorithm
                )));
            }
            let verifying = DecodingKey::from_ed_components(&row.public_key)
                .map_err(|e| StoreError::Query(format!("signing key {}: {e}", row.kid)))?;
            ring.verifying.insert(row.kid.clone(), verifying);
            jwks.push(serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": row.public_key,
                "kid": row.kid,
                "alg": ALGORITHM,
                "use": "sig",
            }));
            if ring.signing.is_none() && row.retired_at.is_none() {
                let der = sealer
                    .open(&row.private_key_sealed)
                    .map_err(|e| StoreError::Query(format!("signing key {}: {e}", row.kid)))?;
                let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(der)
                    .map_err(|e| StoreError::Query(format!("signing key {}: {e}", row.kid)))?;
                ring.signing = Some((row.kid.clone(), EncodingKey::from_ed_der(&der)));
            }
        }
        ring.jwks = serde_json::json!({ "keys": jwks });
        Ok(ring)
    }

    /// The key that signs new tokens and its `kid`.
    pub fn signing(&self) -> Option<(&str, &EncodingKey)> {
        self.signing.as_ref().map(|(kid, key)| (kid.as_str(), key))
    }

    pub fn verifying(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifying.get(kid)
    }

    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_and_verifies_and_is_sealed() {
        let sealer = Sealer::new([3; 32]);
        let now = chrono::Utc::now().naive_utc();
        let row = generate(&sealer, now);
        assert_eq!(row.kid.len(), 43);
        let ring = KeyRing::from_rows(std::slice::from_ref(&row), &sealer).unwrap();
        let (kid, key) = ring.signing().unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let claims = serde_json::json!({"sub": "x", "exp": 4_000_000_000_i64});
        let jwt = jsonwebtoken::encode(&header, &claims, key).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(&jwt, ring.verifying(kid).unwrap(), &validation)
            .unwrap();
        assert_eq!(ring.jwks()["keys"][0]["kid"], row.kid);
        // Another master key cannot open the private key.
        assert!(KeyRing::from_rows(&[row], &Sealer::new([4; 32])).is_err());
    }

    /// RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
