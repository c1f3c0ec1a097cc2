//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second steps,
//! 6 digits, what every authenticator app computes from an `otpauth://` URI. Twenty lines on
//! `hmac` and `sha1` instead of a crate.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP_SECS: i64 = 30;
const DIGITS: u32 = 6;
/// RFC 4226 §4 asks for 128 bits at least; 160 is the HMAC-SHA1 key size RFC 6238 uses.
const SECRET_BYTES: usize = 20;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// The code of `secret` for the 30-second step that holds `unix_secs`.
pub fn code_at(secret: &[u8], unix_secs: i64) -> String {
    let counter = unix_secs.div_euclid(STEP_SECS) as u64;
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // RFC 4226 §5.3: dynamic truncation.
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step (`unix_secs / 30`) whose code `code` is: the one holding `unix_secs` or the one
/// before or after (RFC 6238 §5.2 recommends one step of tolerance for clock drift and typing
/// time). The caller refuses a step used before.
pub fn verify(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Every candidate is computed and compared in constant time, whichever matches.
    let mut found = None;
    for drift in [-STEP_SECS, 0, STEP_SECS] {
        let at = unix_secs + drift;
        if bool::from(code_at(secret, at).as_bytes().ct_eq(code.as_bytes())) {
            found = Some(at.div_euclid(STEP_SECS));
        }
    }
    found
}

/// RFC 4648 base32 without padding, the form `otpauth://` URIs carry.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://totp/` URI an authenticator app imports (as a QR code or pasted).
pub fn otpauth_uri(issuer: &str, username: &str, secret: &[u8]) -> String {
    // Percent-encoded, spaces as %20: apps read a `+` in the path as a plus sign.
    let encode = |text: &str| {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let label = encode(&format!("{issuer}:{username}"));
    let issuer = encode(issuer);
    format!(
        "otpauth://totp/{label}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits there; the last 6 are ours).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(secret, time), eight[2..], "t={time}");
        }
    }

    #[test]
    fn one_step_of_drift_is_accepted_not_two() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let step = now / STEP_SECS;
        assert_eq!(verify(&secret, &code_at(&secret, now), now), Some(step));
        assert_eq!(
            verify(&secret, &code_at(&secret, now - 30), now),
            Some(step - 1)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, now + 30), now),
            Some(step + 1)
        );
        assert_eq!(verify(&secret, &code_at(&secret, now - 90), now), None);
        assert_eq!(verify(&secret, "12345", now), None);
        assert_eq!(verify(&secret, "abcdef", now), None);
    }

    #[test]
    fn base32_and_uri() {
        // RFC 4648 §10.
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let uri = otpauth_uri("Hub One", "alice", b"12345678901234567890");
        assert!(
            uri.starts_with("otpauth://totp/Hub%20One%3Aalice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Hub%20One"),
            "{uri}"
        );
    }
}
