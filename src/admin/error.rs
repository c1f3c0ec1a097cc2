//! How the management API refuses a bearer token (RFC 6750 §3): the status, the
//! `WWW-Authenticate` challenge and a JSON body saying the same.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::domain::oauth::Scope;
use crate::ops::request_context::ErrorReason;

/// The realm of the management API's Bearer challenge.
pub const REALM: &str = "tokenhub";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No bearer token at all (or another scheme): the challenge carries no error code.
    #[error("a bearer token is required")]
    NoToken,
    /// `Authorization: Bearer` without a token.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("the token lacks the scope {0}")]
    InsufficientScope(Scope),
    #[error("the database is unavailable, try again later")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl AdminError {
    /// The one table: (HTTP status, RFC 6750 error code, if any).
    pub fn codes(&self) -> (StatusCode, Option<&'static str>) {
        match self {
            AdminError::NoToken => (StatusCode::UNAUTHORIZED, None),
            AdminError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, Some("invalid_request")),
            AdminError::InvalidToken(_) => (StatusCode::UNAUTHORIZED, Some("invalid_token")),
            AdminError::InsufficientScope(_) => (StatusCode::FORBIDDEN, Some("insufficient_scope")),
            AdminError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
            AdminError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, None),
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3), for the answers that carry one.
    fn challenge(&self) -> Option<String> {
        let quoted = |s: &str| s.replace(['"', '\\'], "'");
        match self {
            AdminError::NoToken => Some(format!("Bearer realm=\"{REALM}\"")),
            AdminError::InvalidRequest(why) | AdminError::InvalidToken(why) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                self.codes().1.unwrap_or_default(),
                quoted(why)
            )),
            AdminError::InsufficientScope(scope) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"{}\", scope=\"{scope}\"",
                quoted(&self.to_string())
            )),
            AdminError::Unavailable | AdminError::Internal => None,
        }
    }
}

impl From<crate::error::Error> for AdminError {
    fn from(err: crate::error::Error) -> Self {
        match err {
            crate::error::Error::Unavailable => AdminError::Unavailable,
            _ => AdminError::Internal,
        }
    }
}

impl From<crate::store::StoreError> for AdminError {
    fn from(err: crate::store::StoreError) -> Self {
        crate::error::Error::from(err).into()
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.codes().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.codes();
        let mut body = serde_json::json!({ "error_description": self.to_string() });
        if let Some(code) = code {
            body["error"] = code.into();
        }
        if let AdminError::InsufficientScope(scope) = self {
            body["scope"] = scope.as_str().into();
        }
        let mut response = HttpResponse::build(status).json(body);
        response
            .extensions_mut()
            .insert(ErrorReason(self.to_string()));
        if let Some(challenge) = self.challenge() {
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if matches!(self, AdminError::Unavailable) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row by row: status, `error` code in the body, the challenge.
    #[test]
    fn the_error_table() {
        let rows: [(AdminError, u16, Option<&str>, Option<&str>); 6] = [
            (AdminError::NoToken, 401, None, Some("Bearer realm=\"tokenhub\"")),
            (
                AdminError::InvalidRequest("empty".into()),
                400,
                Some("invalid_request"),
                Some("Bearer realm=\"tokenhub\", error=\"invalid_request\", error_description=\"empty\""),
            ),
            (
                AdminError::InvalidToken("the \"token\" has expired".into()),
                401,
                Some("invalid_token"),
                Some("Bearer realm=\"tokenhub\", error=\"invalid_token\", error_description=\"the 'token' has expired\""),
            ),
            (
                AdminError::InsufficientScope(Scope::AuditRead),
                403,
                Some("insufficient_scope"),
                Some("Bearer realm=\"tokenhub\", error=\"insufficient_scope\", error_description=\"the token lacks the scope audit:read\", scope=\"audit:read\""),
            ),
            (AdminError::Unavailable, 503, None, None),
            (AdminError::Internal, 500, None, None),
        ];
        for (error, status, code, challenge) in rows {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{error:?}");
            assert_eq!(error.codes().1, code, "{error:?}");
            let got = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(got.as_deref(), challenge, "{error:?}");
        }
    }
}
