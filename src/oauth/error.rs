//! How the OAuth endpoints answer an error: RFC 6749 §5.2's table from error to (HTTP status,
//! `error` code), with `Cache-Control: no-store` like every answer of the token endpoint.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::Error;
use crate::ops::request_context::ErrorReason;

/// The realm of the Basic challenge on a failed client authentication.
pub const REALM: &str = "tokenhub";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// A parameter missing, repeated or malformed, or two client authentication methods.
    #[error("{0}")]
    InvalidRequest(String),
    /// Client authentication failed (unknown client, wrong secret, disabled, none given).
    #[error("{0}")]
    InvalidClient(String),
    /// The grant (an authorization code, a refresh token) is invalid, expired or revoked.
    #[error("{0}")]
    InvalidGrant(String),
    /// The client may not use this grant type.
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// The requested scope is unknown, malformed or beyond the client's.
    #[error("{0}")]
    InvalidScope(String),
    /// Too many failed client authentications from the address or for the client id.
    #[error("too many failed client authentications; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("the database is unavailable, try again later")]
    TemporarilyUnavailable,
    #[error("internal error")]
    ServerError,
}

impl OAuthError {
    /// The one table from error to (HTTP status, RFC 6749 `error` code).
    pub fn codes(&self) -> (StatusCode, &'static str) {
        match self {
            OAuthError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            OAuthError::InvalidClient(_) => (StatusCode::UNAUTHORIZED, "invalid_client"),
            OAuthError::InvalidGrant(_) => (StatusCode::BAD_REQUEST, "invalid_grant"),
            OAuthError::UnauthorizedClient(_) => (StatusCode::BAD_REQUEST, "unauthorized_client"),
            OAuthError::UnsupportedGrantType(_) => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type")
            }
            OAuthError::InvalidScope(_) => (StatusCode::BAD_REQUEST, "invalid_scope"),
            // RFC 6749 has no code for this: the client was not authenticated, so
            // `invalid_client`, with the status and `Retry-After` that say when to try again.
            OAuthError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "invalid_client"),
            OAuthError::TemporarilyUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
            }
            OAuthError::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        }
    }
}

/// Storage errors are logged by `Error`'s conversion; the client learns whether to retry.
impl From<Error> for OAuthError {
    fn from(err: Error) -> Self {
        match err {
            Error::Unavailable => OAuthError::TemporarilyUnavailable,
            _ => OAuthError::ServerError,
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(err: crate::store::StoreError) -> Self {
        Error::from(err).into()
    }
}

/// The headers every OAuth answer carries: tokens and errors must not be cached (RFC 6749 §5.1).
pub fn no_store(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.codes().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.codes();
        let mut response = HttpResponse::build(status).json(serde_json::json!({
            "error": code,
            "error_description": self.to_string(),
        }));
        response
            .extensions_mut()
            .insert(ErrorReason(format!("{code}: {self}")));
        no_store(&mut response);
        let headers = response.headers_mut();
        match self {
            // RFC 6749 §5.2: a 401 names the scheme the client should authenticate with.
            OAuthError::InvalidClient(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_str(&format!("Basic realm=\"{REALM}\""))
                        .expect("a fixed ASCII header"),
                );
            }
            OAuthError::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            OAuthError::TemporarilyUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error, row by row: HTTP status, `error` code, and the headers that go with it.
    #[test]
    fn the_error_table() {
        let s = || "x".to_owned();
        // (error, status, code, WWW-Authenticate, Retry-After)
        type Row = (
            OAuthError,
            u16,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
        );
        let rows: [Row; 9] = [
            (
                OAuthError::InvalidRequest(s()),
                400,
                "invalid_request",
                None,
                None,
            ),
            (
                OAuthError::InvalidClient(s()),
                401,
                "invalid_client",
                Some("Basic realm=\"tokenhub\""),
                None,
            ),
            (
                OAuthError::InvalidGrant(s()),
                400,
                "invalid_grant",
                None,
                None,
            ),
            (
                OAuthError::UnauthorizedClient(s()),
                400,
                "unauthorized_client",
                None,
                None,
            ),
            (
                OAuthError::UnsupportedGrantType(s()),
                400,
                "unsupported_grant_type",
                None,
                None,
            ),
            (
                OAuthError::InvalidScope(s()),
                400,
                "invalid_scope",
                None,
                None,
            ),
            (
                OAuthError::TooManyRequests {
                    retry_after_secs: 7,
                },
                429,
                "invalid_client",
                None,
                Some("7"),
            ),
            (
                OAuthError::TemporarilyUnavailable,
                503,
                "temporarily_unavailable",
                None,
                Some("1"),
            ),
            (OAuthError::ServerError, 500, "server_error", None, None),
        ];
        for (error, status, code, challenge, retry_after) in rows {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{error:?}");
            assert_eq!(error.codes().1, code, "{error:?}");
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
            };
            assert_eq!(header(header::CACHE_CONTROL).as_deref(), Some("no-store"));
            assert_eq!(
                header(header::WWW_AUTHENTICATE).as_deref(),
                challenge,
                "{error:?}"
            );
            assert_eq!(
                header(header::RETRY_AFTER).as_deref(),
                retry_after,
                "{error:?}"
            );
        }
    }

    #[test]
    fn store_errors_say_whether_to_retry() {
        assert_eq!(
            OAuthError::from(Error::Unavailable),
            OAuthError::TemporarilyUnavailable
        );
        assert_eq!(OAuthError::from(Error::Internal), OAuthError::ServerError);
    }
}
