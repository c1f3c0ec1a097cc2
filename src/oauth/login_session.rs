//! The login pages' two cookies, both `HttpOnly`, `SameSite=Lax`, `Path=/oauth`, and `Secure`
//! when the public URL is https:
//! - `th_csrf`: a random value; every form carries an HMAC of it (a signed double-submit token),
//!   so a cross-site form cannot post one, nor can a sibling domain that plants a cookie.
//! - `th_login`: who logged in and how far (password only, or done), until when; HMAC-signed, so
//!   no server-side session table. `Lax`, not `Strict`: the client's redirect to the hub is a
//!   cross-site navigation, and a remembered login must be seen on it.

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secrets::{Keys, Purpose};

pub const CSRF_COOKIE: &str = "th_csrf";
pub const LOGIN_COOKIE: &str = "th_login";
/// A full login stays remembered this long (then the password is asked again).
pub const LOGIN_SECS: i64 = 3600;
/// The TOTP step must follow the password within this.
pub const TOTP_STEP_SECS: i64 = 300;

/// How far a login got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The password checked out; the TOTP code is due.
    Password,
    Done,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Password => "pw",
            Stage::Done => "ok",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginSession {
    pub username: String,
    pub stage: Stage,
    pub expires_at: i64,
}

/// Signs and checks cookie values with the key for [`Purpose::LOGIN_SESSION`].
pub struct Signer {
    mac: Hmac<Sha256>,
    secure: bool,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    pub fn new(keys: &Keys, public_url: &str) -> Self {
        let key = zeroize::Zeroizing::new(keys.derive(Purpose::LOGIN_SESSION));
        Signer {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(&key[..])
                .expect("HMAC takes a key of any length"),
            secure: public_url.starts_with("https://"),
        }
    }

    fn sign(&self, purpose: &str, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        b64(&mac.finalize().into_bytes())
    }

    fn verify(&self, purpose: &str, value: &str, signature: &str) -> bool {
        let expected = self.sign(purpose, value);
        expected.len() == signature.len()
            && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
    }

    /// A `Set-Cookie` value with the attributes every cookie of the login pages has.
    pub fn cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }

    /// The form field that goes with the `th_csrf` cookie value.
    pub fn csrf_field(&self, cookie: &str) -> String {
        self.sign("csrf", cookie)
    }

    pub fn csrf_ok(&self, cookie: Option<&str>, field: Option<&str>) -> bool {
        match (cookie, field) {
            (Some(cookie), Some(field)) if !cookie.is_empty() => self.verify("csrf", cookie, field),
            _ => false,
        }
    }

    pub fn session_value(&self, session: &LoginSession) -> String {
        let payload = b64(format!(
            "{}|{}|{}",
            session.username,
            session.stage.as_str(),
            session.expires_at
        )
        .as_bytes());
        let signature = self.sign("login", &payload);
        format!("{payload}.{signature}")
    }

    /// The session a `th_login` value holds, if signed by this hub and not expired at `now`.
    pub fn session(&self, value: &str, now: i64) -> Option<LoginSession> {
        let (payload, signature) = value.split_once('.')?;
        if !self.verify("login", payload, signature) {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.split('|');
        let (username, stage, expires_at) = (parts.next()?, parts.next()?, parts.next()?);
        let stage = match stage {
            "pw" => Stage::Password,
            "ok" => Stage::Done,
            _ => return None,
        };
        let expires_at: i64 = expires_at.parse().ok()?;
        (expires_at > now).then(|| LoginSession {
            username: username.to_owned(),
            stage,
            expires_at,
        })
    }
}

/// A new random CSRF cookie value (128 bits).
pub fn new_csrf_value() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    b64(&bytes)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn read_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterKey;

    fn signer(hex_byte: &str) -> Signer {
        let keys = Keys::new(MasterKey::from_hex(&hex_byte.repeat(32)).unwrap());
        Signer::new(&keys, "https://hub.example.com")
    }

    #[test]
    fn sessions_verify_only_signed_and_unexpired() {
        let s = signer("ab");
        let session = LoginSession {
            username: "alice".into(),
            stage: Stage::Done,
            expires_at: 1_000,
        };
        let value = s.session_value(&session);
        assert_eq!(s.session(&value, 999), Some(session.clone()));
        assert_eq!(s.session(&value, 1_000), None, "expired");
        assert_eq!(signer("cd").session(&value, 999), None, "another hub's key");
        // The payload changed (another user) under the old signature.
        let forged = s.session_value(&LoginSession {
            username: "mallory".into(),
            ..session
        });
        let tampered = format!(
            "{}.{}",
            forged.split_once('.').unwrap().0,
            value.split_once('.').unwrap().1
        );
        assert_eq!(s.session(&tampered, 999), None);
    }

    #[test]
    fn csrf_field_is_bound_to_the_cookie() {
        let s = signer("ab");
        let cookie = new_csrf_value();
        let field = s.csrf_field(&cookie);
        assert!(s.csrf_ok(Some(&cookie), Some(&field)));
        assert!(!s.csrf_ok(Some(&new_csrf_value()), Some(&field)));
        assert!(!s.csrf_ok(None, Some(&field)));
        assert!(!s.csrf_ok(Some(&cookie), None));
        assert!(
            !s.csrf_ok(Some(&cookie), Some(&cookie)),
            "the cookie itself is not the field"
        );
        assert!(s.cookie("a", "b", 5).contains("; Secure"));
    }
}
