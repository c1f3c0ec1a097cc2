//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic` (RFC 6749 §2.3.1), `client_secret_post`, and a bare `client_id` for
//! public clients where the endpoint allows it.
//!
//! Unauthenticated callers must not keep the database busy nor slow the clients that know their
//! secret: an address over its failure budget gets 429 without a look-up, unless the client it
//! names was looked up before; a client id over its budget still authenticates with the right
//! secret (checking one costs an HMAC), only failures answer 429. Successes are never counted.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::Engine;

use super::error::OAuthError;
use super::form::Form;
use crate::domain::oauth::is_client_id_shaped;
use crate::service::oauth::clients::{Client, ClientLookup};
use crate::service::AppState;

/// What the request presents to identify its client.
#[derive(Debug, PartialEq, Eq)]
enum Presented {
    Secret {
        client_id: String,
        secret: String,
    },
    /// `client_id` in the body, no secret: a public client.
    IdOnly {
        client_id: String,
    },
}

const FAILED: &str = "client authentication failed";

/// Decodes one half of a Basic credential: RFC 6749 §2.3.1 form-encodes id and secret first
/// (`%XX`, `+` for a space). A raw `&` or `=` (a client that did not encode) stays itself.
fn form_decode(text: &str) -> String {
    let escaped = text.replace('&', "%26").replace('=', "%3D");
    url::form_urlencoded::parse(format!("x={escaped}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn presented(req: &HttpRequest, form: &Form) -> Result<Presented, OAuthError> {
    let basic = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| OAuthError::InvalidClient("malformed Authorization header".into()))?;
            let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::InvalidClient(
                    "authenticate the client with HTTP Basic or client_secret in the body".into(),
                ));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
            Some((form_decode(id), form_decode(secret)))
        }
    };
    let (body_id, body_secret) = (form.get("client_id"), form.get("client_secret"));
    match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method: HTTP Basic or client_secret in the body".into(),
        )),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(OAuthError::InvalidRequest(
            "client_id in the body differs from the one in the Authorization header".into(),
        )),
        (Some((client_id, secret)), _, None) => Ok(Presented::Secret { client_id, secret }),
        (None, Some(id), Some(secret)) => Ok(Presented::Secret {
            client_id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        (None, Some(id), None) => Ok(Presented::IdOnly {
            client_id: id.to_owned(),
        }),
        (None, None, Some(_)) => Err(OAuthError::InvalidRequest(
            "client_secret needs client_id".into(),
        )),
        (None, None, None) => Err(OAuthError::InvalidClient(
            "client authentication required (HTTP Basic, or client_id and client_secret)".into(),
        )),
    }
}

/// Whether a public client (no secret) may call the endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Public {
    Allowed,
    Refused,
}

/// The authenticated client of the request, or why not.
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    form: &Form,
    public: Public,
) -> Result<Arc<Client>, OAuthError> {
    let presented = presented(req, form)?;
    let (client_id, secret) = match &presented {
        Presented::Secret { client_id, secret } => (client_id.as_str(), Some(secret.as_str())),
        Presented::IdOnly { client_id } => (client_id.as_str(), None),
    };
    let ip = state
        .trusted_proxies
        .client_ip(req.peer_addr().map(|a| a.ip()), req.headers());
    let ip_budget = state.auth_failures.check_failure_budget(ip);
    let limits = &state.oauth.client_failures;
    let refuse = |error: OAuthError, reason: &'static str| {
        let mut over = ip_budget.err();
        if over.is_none() {
            over = state.auth_failures.record_failure(ip).err();
        }
        // Malformed ids are not worth a budget entry of their own: the address pays.
        if is_client_id_shaped(client_id) {
            let key = client_id.to_owned();
            let client_over = match limits.check_key_budget(&key) {
                Err(retry) => Some(retry),
                Ok(()) => limits.record_key_failure(key).err(),
            };
            over = over.or(client_over);
        }
        match over {
            Some(retry) => {
                crate::ops::metrics::record_authentication_failure("rate_limited");
                OAuthError::TooManyRequests {
                    retry_after_secs: retry.secs(),
                }
            }
            None => {
                crate::ops::metrics::record_authentication_failure(reason);
                error
            }
        }
    };
    if !is_client_id_shaped(client_id) {
        return Err(refuse(
            OAuthError::InvalidClient(FAILED.into()),
            "malformed",
        ));
    }
    let lookup = state
        .oauth
        .clients
        .lookup(&state.store, client_id, ip_budget.is_ok())
        .await?;
    let client = match lookup {
        ClientLookup::Found(client) => client,
        ClientLookup::Unknown => {
            return Err(refuse(OAuthError::InvalidClient(FAILED.into()), "unknown"))
        }
        ClientLookup::NotLookedUp => {
            crate::ops::metrics::record_authentication_failure("rate_limited");
            return Err(OAuthError::TooManyRequests {
                retry_after_secs: ip_budget.err().map_or(1, |r| r.secs()),
            });
        }
    };
    if client.disabled {
        return Err(refuse(OAuthError::InvalidClient(FAILED.into()), "disabled"));
    }
    match (secret, &client.secret_hash) {
        (Some(secret), Some(stored)) if state.oauth.hasher.verify(secret, stored) => Ok(client),
        (None, None) if public == Public::Allowed => Ok(client),
        (None, None) => Err(OAuthError::UnauthorizedClient(
            "a public client cannot use this endpoint".into(),
        )),
        // A secret for a public client, a wrong one, or none for a confidential client.
        _ => Err(refuse(OAuthError::InvalidClient(FAILED.into()), "unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn basic_credentials_are_form_decoded() {
        for (sent, meant) in [
            ("th_abc", "th_abc"),
            ("a%3Ab", "a:b"),
            ("a+b", "a b"),
            ("a%2Bb", "a+b"),
            ("a&b=c", "a&b=c"),
            ("", ""),
        ] {
            assert_eq!(form_decode(sent), meant, "{sent}");
        }
    }
}
