//! People's passwords: Argon2id (RFC 9106) with the crate's defaults (19 MiB, 2 passes, 1 lane:
//! OWASP's minimum), stored as a PHC string that carries its parameters and salt, so stronger
//! parameters later still verify the old hashes.
//!
//! Hashing costs tens of milliseconds of CPU on purpose: callers run it on the blocking pool.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The Argon2id PHC string of `password`, under a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2id with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches `stored`; false for a malformed stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Verifies `password` against a hash no password matches, at the cost of a real one: a login
/// for an unknown username takes as long as one with a wrong password, so timing does not tell
/// whether the username exists.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password(&crate::secrets::new_credentials_token()));
    let _ = verify_password(password, dummy);
}

/// What a password must be: long enough to resist guessing (NIST SP 800-63B: at least 8; 12 here,
/// the people are operators of a hub), and not absurdly long (Argon2 reads all of it).
pub fn check_password_rules(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < 12 {
        return Err(format!("at least 12 characters (got {chars})"));
    }
    if password.len() > 1024 {
        return Err("at most 1024 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify_only_their_password() {
        let stored = hash_password("correct horse battery");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert_ne!(
            stored,
            hash_password("correct horse battery"),
            "a fresh salt"
        );
        assert!(verify_password("correct horse battery", &stored));
        assert!(!verify_password("correct horse batterY", &stored));
        assert!(!verify_password("correct horse battery", "not a hash"));
    }

    #[test]
    fn password_rules_say_what_is_wrong() {
        assert!(check_password_rules("short").unwrap_err().contains("12"));
        assert!(check_password_rules(&"x".repeat(2000))
            .unwrap_err()
            .contains("1024"));
        assert!(check_password_rules("twelve chars").is_ok());
    }
}
