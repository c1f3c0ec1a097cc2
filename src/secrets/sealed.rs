//! Secrets the hub must read back (the token it presents to a partner), encrypted at rest with
//! XChaCha20-Poly1305 under a key derived from the master key. The random 192-bit nonce is stored
//! with each value; a value sealed under another key, or altered, does not open.

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Marks the format, so a later scheme can be told apart.
const PREFIX: &str = "v1:";
const NONCE_BYTES: usize = 24;

#[derive(Debug, thiserror::Error)]
#[error("a sealed secret does not open: {0}")]
pub struct SealError(&'static str);

pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("XChaCha20-Poly1305 encrypts any input that fits in memory");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        let encoded = sealed
            .strip_prefix(PREFIX)
            .ok_or(SealError("unknown format"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SealError("not base64"))?;
        if bytes.len() < NONCE_BYTES {
            return Err(SealError("too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| SealError("wrong key or altered"))?;
        String::from_utf8(plain).map_err(|_| SealError("not text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_their_key() {
        let sealer = Sealer::new([7; 32]);
        let sealed = sealer.seal("partner-token-123");
        assert!(!sealed.contains("partner-token-123"));
        assert_ne!(
            sealed,
            sealer.seal("partner-token-123"),
            "a fresh nonce each time"
        );
        assert_eq!(sealer.open(&sealed).unwrap(), "partner-token-123");
        assert!(Sealer::new([8; 32]).open(&sealed).is_err());
        let mut altered = sealed.clone();
        altered.replace_range(10..11, if &sealed[10..11] == "A" { "B" } else { "A" });
        assert!(sealer.open(&altered).is_err());
    }
}
