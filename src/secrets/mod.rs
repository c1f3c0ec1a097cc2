//! Secrets: generated at random, shown once, stored only as hashes, never logged; and the hub's
//! master key, from which every other key is derived (`keys`, `master_key`).

pub mod client_secrets;
pub mod keys;
pub mod master_key;
pub mod passwords;
pub mod totp;

pub use keys::{Keys, Purpose};
pub use master_key::{describe_master_key, load_keys, MasterKey, SecretString};

pub mod sealed;

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

/// A new credentials token: 48 random alphanumerics (~285 bits), within OCPI's 64 printable
/// characters.
pub fn new_credentials_token() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect()
}

/// Credentials tokens are high-entropy random strings, so a fast unsalted hash is enough to make a
/// leaked table useless (the crates.io approach); passwords use Argon2id instead.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_printable_and_hashed() {
        let a = new_credentials_token();
        let b = new_credentials_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
        assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }
}
