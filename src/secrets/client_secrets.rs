//! OAuth client secrets: 256 random bits, shown once, stored as a keyed hash.
//!
//! HMAC-SHA256 under a key derived from the master key, not Argon2id: the secret is generated
//! with 256 bits of entropy, so no guessing attack needs slowing down, and the token endpoint can
//! check a secret in microseconds. The key keeps a stolen table useless without the master key.

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::keys::{Keys, Purpose};

/// Bytes of randomness in a client secret (43 base64url characters).
const SECRET_BYTES: usize = 32;

/// A new client secret: base64url without padding, safe in a form body and a Basic header.
pub fn new_client_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new client id: `th_` and 24 lowercase letters and digits (~124 bits: ids are not secret,
/// but unguessable ids keep a client list from being enumerated through the token endpoint).
pub fn new_client_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    let id: String = (0..24)
        .map(|_| ALPHABET[(rng.next_u32() % ALPHABET.len() as u32) as usize] as char)
        .collect();
    format!("th_{id}")
}

/// Hashes and checks client secrets with the key for [`Purpose::CLIENT_SECRET_HASH`].
#[derive(Clone)]
pub struct SecretHasher {
    mac: Hmac<Sha256>,
}

impl SecretHasher {
    pub fn new(keys: &Keys) -> Self {
        Self::for_purpose(keys, Purpose::CLIENT_SECRET_HASH)
    }

    /// A hasher under another purpose's key: refresh tokens and authorization codes are as
    /// random as client secrets, and a leaked table of them must not verify client secrets.
    pub fn for_purpose(keys: &Keys, purpose: Purpose) -> Self {
        let key = zeroize::Zeroizing::new(keys.derive(purpose));
        Self {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(&key[..])
                .expect("HMAC takes a key of any length"),
        }
    }

    /// The stored form: hex of HMAC-SHA256(secret).
    pub fn hash(&self, secret: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    pub fn verify(&self, secret: &str, stored: &str) -> bool {
        let hash = self.hash(secret);
        hash.len() == stored.len() && bool::from(hash.as_bytes().ct_eq(stored.as_bytes()))
    }
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterKey;

    fn hasher(hex: &str) -> SecretHasher {
        SecretHasher::new(&Keys::new(MasterKey::from_hex(hex).unwrap()))
    }

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

    #[test]
    fn secrets_are_random_and_verify_only_under_their_key() {
        let secret = new_client_secret();
        assert_eq!(secret.len(), 43);
        assert_ne!(secret, new_client_secret());
        let a = hasher(KEY_A);
        let stored = a.hash(&secret);
        assert!(!stored.contains(&secret));
        assert!(a.verify(&secret, &stored));
        assert!(!a.verify(&new_client_secret(), &stored));
        assert!(!a.verify(&secret, &stored[..10]));
        assert!(!hasher(KEY_B).verify(&secret, &stored));
    }

    #[test]
    fn client_ids_are_distinct_and_shaped() {
        let id = new_client_id();
        assert!(id.starts_with("th_") && id.len() == 27, "{id}");
        assert!(crate::domain::oauth::is_client_id_shaped(&id));
        assert_ne!(id, new_client_id());
    }
}
