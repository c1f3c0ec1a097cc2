//! Every key the hub uses, derived from the one master key with HKDF-SHA256, one key per purpose.
//!
//! A purpose label is part of the derivation: changing one gives a different key, so each label
//! carries a version and stays fixed once data depends on it.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroize;

use super::master_key::MasterKey;

/// What a derived key is for. Only the constants below exist, so every label is listed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Purpose(&'static str);

impl Purpose {
    /// Keys the HMAC that stands in for token uids (and other identifiers) in logs.
    pub const LOG_FINGERPRINT: Purpose = Purpose("tokenhub log fingerprint v1");
    /// Planned: encrypts token B (what the hub shows a partner) at rest.
    pub const TOKEN_B_ENCRYPTION: Purpose = Purpose("tokenhub token B encryption v1");
    /// Encrypts the JWT signing keys at rest (`service::oauth::keys`).
    pub const JWT_SIGNING_KEYS: Purpose = Purpose("tokenhub jwt signing key encryption v1");
    /// Keys the hashes of OAuth client secrets (`secrets::client_secrets`).
    pub const CLIENT_SECRET_HASH: Purpose = Purpose("tokenhub client secret hash v1");
    /// Keys the hashes of refresh tokens and authorization codes (`service::oauth::grants`).
    pub const REFRESH_TOKEN_HASH: Purpose = Purpose("tokenhub refresh token hash v1");
    /// Encrypts people's TOTP secrets at rest (`service::oauth::users`).
    pub const TOTP_SECRET_ENCRYPTION: Purpose = Purpose("tokenhub totp secret encryption v1");
    /// Signs the login session and CSRF cookies of the login pages (`oauth::login_session`).
    pub const LOGIN_SESSION: Purpose = Purpose("tokenhub login session mac v1");
    /// The admin console's client secret (`service::console::client`): every instance derives
    /// the same one, so none is stored in plain text or configured.
    pub const CONSOLE_CLIENT_SECRET: Purpose = Purpose("tokenhub console client secret v1");
    /// Seals the OAuth tokens a console session holds, and the login state cookie.
    pub const CONSOLE_SESSION_SEAL: Purpose = Purpose("tokenhub console session encryption v1");
    /// Keys the hash of console session cookies and the CSRF tokens derived from them.
    pub const CONSOLE_SESSION_MAC: Purpose = Purpose("tokenhub console session mac v1");

    /// Every purpose, so a test can prove that no two share a key.
    pub const ALL: [Purpose; 10] = [
        Purpose::LOG_FINGERPRINT,
        Purpose::TOKEN_B_ENCRYPTION,
        Purpose::JWT_SIGNING_KEYS,
        Purpose::CLIENT_SECRET_HASH,
        Purpose::REFRESH_TOKEN_HASH,
        Purpose::TOTP_SECRET_ENCRYPTION,
        Purpose::LOGIN_SESSION,
        Purpose::CONSOLE_CLIENT_SECRET,
        Purpose::CONSOLE_SESSION_SEAL,
        Purpose::CONSOLE_SESSION_MAC,
    ];

    pub fn label(self) -> &'static str {
        self.0
    }
}

/// Hex characters of a log fingerprint: 64 bits, so distinct uids practically never share one.
const FINGERPRINT_HEX: usize = 16;

/// The master key and what is derived from it; built once at start and handed to whatever needs a
/// key. Never printed.
#[derive(Clone)]
pub struct Keys {
    master: MasterKey,
    /// HMAC state already keyed for fingerprints, cloned per call instead of re-keyed.
    fingerprint: Hmac<Sha256>,
}

impl Keys {
    pub fn new(master: MasterKey) -> Keys {
        let mut key = derive(&master, Purpose::LOG_FINGERPRINT);
        let fingerprint =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes a key of any length");
        key.zeroize();
        Keys {
            master,
            fingerprint,
        }
    }

    /// The 32-byte key for one purpose; the same master key always gives the same key.
    pub fn derive(&self, purpose: Purpose) -> [u8; 32] {
        derive(&self.master, purpose)
    }

    /// A short, stable stand-in for an identifier in logs. Keyed (HMAC-SHA256), so that a short
    /// RFID uid cannot be recovered from its fingerprint by trying every uid, as an unkeyed hash
    /// would allow in seconds.
    pub fn fingerprint(&self, value: &str) -> String {
        let mut mac = self.fingerprint.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..FINGERPRINT_HEX / 2])
    }
}

fn derive(master: &MasterKey, purpose: Purpose) -> [u8; 32] {
    // No salt: the master key is already 32 uniformly random bytes (RFC 5869, section 3.1).
    let hkdf = Hkdf::<Sha256>::new(None, master.expose());
    let mut key = [0u8; 32];
    hkdf.expand(purpose.label().as_bytes(), &mut key)
        .expect("32 bytes is within HKDF-SHA256's output limit");
    key
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(****)")
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    fn keys(hex: &str) -> Keys {
        Keys::new(MasterKey::from_hex(hex).unwrap())
    }

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

    #[test]
    fn fingerprints_are_stable_under_one_master_key() {
        let a = keys(KEY_A);
        let again = keys(KEY_A);
        assert_eq!(a.fingerprint("04A1B2C3"), again.fingerprint("04A1B2C3"));
        assert_eq!(a.fingerprint("04A1B2C3"), a.fingerprint("04A1B2C3"));
        assert_ne!(a.fingerprint("04A1B2C3"), a.fingerprint("04A1B2C4"));
        assert_eq!(a.fingerprint("04A1B2C3").len(), FINGERPRINT_HEX);
    }

    #[test]
    fn fingerprints_differ_under_two_master_keys() {
        for uid in ["04A1B2C3", "", "NL-ABC-C12345678-X"] {
            assert_ne!(keys(KEY_A).fingerprint(uid), keys(KEY_B).fingerprint(uid));
        }
    }

    /// An unkeyed hash lets anyone with the logs try every short uid; the fingerprint must not be
    /// any part of the plain SHA-256 of the uid.
    #[test]
    fn a_fingerprint_is_not_a_plain_sha256() {
        let keys = keys(KEY_A);
        for uid in ["04A1B2C3", "12345678", "SECRETUID0042"] {
            let plain = hex::encode(Sha256::digest(uid.as_bytes()));
            let fingerprint = keys.fingerprint(uid);
            assert!(!plain.contains(&fingerprint), "{uid}: {fingerprint}");
            assert!(!plain.contains(&fingerprint[..8]), "{uid}: {fingerprint}");
        }
    }

    /// Fixed vectors (computed with Python's `hmac` and `hashlib`, HKDF per RFC 5869), so that a
    /// change to the derivation, which would change every fingerprint and later make encrypted
    /// tokens unreadable, fails here first.
    #[test]
    fn derivation_is_fixed() {
        let keys = keys(KEY_A);
        assert_eq!(
            hex::encode(keys.derive(Purpose::LOG_FINGERPRINT)),
            "7089d9d20e29a6cbc56573e2935679477aaa3e9166f0d40bd6e3087038f591b3"
        );
        assert_eq!(keys.fingerprint("04A1B2C3"), "b6f073c62a725f6e");
    }

    #[test]
    fn every_purpose_has_its_own_key() {
        let keys = keys(KEY_A);
        let derived: Vec<[u8; 32]> = Purpose::ALL.iter().map(|p| keys.derive(*p)).collect();
        for (i, a) in derived.iter().enumerate() {
            assert_ne!(a, &keys.master.expose()[..], "{:?}", Purpose::ALL[i]);
            for b in &derived[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn keys_never_print() {
        let keys = keys(KEY_A);
        let shown = format!("{keys:?} {:?}", keys.master);
        assert!(!shown.contains("0001020304"), "{shown}");
        assert!(!shown.contains("[0, 1, 2"), "{shown}");
    }
}
