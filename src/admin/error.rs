//! How the management API answers an error: RFC 9457 problem details (`application/problem+json`)
//! with a stable `type` per kind of error, and for a refused bearer token (RFC 6750 §3) the
//! `WWW-Authenticate` challenge plus `error`/`error_description` in the body too.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::domain::oauth::Scope;
use crate::domain::ValidationError;
use crate::ops::request_context::ErrorReason;

/// The realm of the management API's Bearer challenge.
pub const REALM: &str = "tokenhub";

/// The prefix of every problem `type` (RFC 9457 §3.1.1): URNs, stable and never dereferenced.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:tokenhub:problem:";

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
    /// A parameter or body field that breaks a rule; the message names the field.
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("{0}")]
    NotFound(String),
    /// A party-restricted caller names a party it may not act for in a write, or calls a route
    /// that needs every party. (Reading another party's object is `NotFound` instead.)
    #[error("{0}")]
    OtherParty(String),
    /// The request contradicts what is stored (a party that exists already).
    #[error("{0}")]
    Conflict(String),
    #[error("the database is unavailable, try again later")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl AdminError {
    /// The one table: (HTTP status, RFC 6750 error code if any, problem type suffix, title).
    pub fn codes(&self) -> (StatusCode, Option<&'static str>) {
        let (status, code, _, _) = self.row();
        (status, code)
    }

    fn row(&self) -> (StatusCode, Option<&'static str>, &'static str, &'static str) {
        match self {
            AdminError::NoToken => (
                StatusCode::UNAUTHORIZED,
                None,
                "unauthenticated",
                "A bearer token is required",
            ),
            AdminError::InvalidRequest(_) => (
                StatusCode::BAD_REQUEST,
                Some("invalid_request"),
                "invalid-request",
                "Malformed authorization",
            ),
            AdminError::InvalidToken(_) => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "invalid-token",
                "Invalid bearer token",
            ),
            AdminError::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "insufficient-scope",
                "The token lacks the scope",
            ),
            AdminError::Invalid(_) => (
                StatusCode::BAD_REQUEST,
                None,
                "invalid-parameter",
                "Invalid parameter",
            ),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, None, "not-found", "Not found"),
            AdminError::OtherParty(_) => (
                StatusCode::FORBIDDEN,
                None,
                "other-party",
                "Outside the caller's parties",
            ),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, None, "conflict", "Conflict"),
            AdminError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "unavailable",
                "Service unavailable",
            ),
            AdminError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "internal",
                "Internal error",
            ),
        }
    }

    /// The problem's `type` (RFC 9457 §3.1.1).
    pub fn problem_type(&self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.row().2)
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
            AdminError::Invalid(_)
            | AdminError::NotFound(_)
            | AdminError::OtherParty(_)
            | AdminError::Conflict(_)
            | AdminError::Unavailable
            | AdminError::Internal => None,
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

impl From<ValidationError> for AdminError {
    fn from(err: ValidationError) -> Self {
        AdminError::Invalid(err)
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
        let (status, code, _, title) = self.row();
        let mut body = serde_json::json!({
            "type": self.problem_type(),
            "title": title,
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        if let Some(code) = code {
            body["error"] = code.into();
            body["error_description"] = self.to_string().into();
        }
        match self {
            AdminError::InsufficientScope(scope) => body["scope"] = scope.as_str().into(),
            AdminError::Invalid(e) => body["field"] = e.field.clone().into(),
            _ => {}
        }
        let mut response = HttpResponse::build(status)
            .content_type("application/problem+json")
            .body(body.to_string());
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
        let rows: [(AdminError, u16, Option<&str>, Option<&str>); 10] = [
            (AdminError::NoToken, 401, None, Some("Bearer realm=\"tokenhub\"")),
            (AdminError::OtherParty("NL*XYZ".into()), 403, None, None),
            (AdminError::Invalid(ValidationError::new("limit", "must be 1 to 1000")), 400, None, None),
            (AdminError::NotFound("unknown token".into()), 404, None, None),
            (AdminError::Conflict("the party exists".into()), 409, None, None),
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

    /// Row by row: the problem `type`, `title` and `status` of RFC 9457, and the fields the body
    /// adds for its kind of error. A `type` is a contract with clients: it never changes.
    #[test]
    fn the_problem_table() {
        let rows: [(AdminError, &str, serde_json::Value); 10] = [
            (
                AdminError::OtherParty("party: NL*XYZ is not one of the caller's parties".into()),
                "other-party",
                serde_json::json!({"detail": "party: NL*XYZ is not one of the caller's parties"}),
            ),
            (
                AdminError::NoToken,
                "unauthenticated",
                serde_json::json!({}),
            ),
            (
                AdminError::InvalidRequest("empty".into()),
                "invalid-request",
                serde_json::json!({"error": "invalid_request", "error_description": "empty"}),
            ),
            (
                AdminError::InvalidToken("expired".into()),
                "invalid-token",
                serde_json::json!({"error": "invalid_token"}),
            ),
            (
                AdminError::InsufficientScope(Scope::TokensWrite),
                "insufficient-scope",
                serde_json::json!({"error": "insufficient_scope", "scope": "tokens:write"}),
            ),
            (
                AdminError::Invalid(ValidationError::new("limit", "must be 1 to 1000")),
                "invalid-parameter",
                serde_json::json!({"field": "limit", "detail": "limit: must be 1 to 1000"}),
            ),
            (
                AdminError::NotFound("unknown token".into()),
                "not-found",
                serde_json::json!({"detail": "unknown token"}),
            ),
            (
                AdminError::Conflict("exists".into()),
                "conflict",
                serde_json::json!({}),
            ),
            (
                AdminError::Unavailable,
                "unavailable",
                serde_json::json!({}),
            ),
            (
                AdminError::Internal,
                "internal",
                serde_json::json!({"detail": "internal error"}),
            ),
        ];
        for (error, kind, extra) in rows {
            let response = error.error_response();
            assert_eq!(
                response.headers().get(header::CONTENT_TYPE).unwrap(),
                "application/problem+json",
                "{error:?}"
            );
            let body = match actix_web::body::MessageBody::try_into_bytes(response.into_body()) {
                Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                Err(_) => panic!("{error:?}: a streamed body"),
            };
            assert_eq!(
                body["type"],
                format!("urn:tokenhub:problem:{kind}"),
                "{error:?}"
            );
            assert_eq!(body["status"], error.codes().0.as_u16(), "{error:?}");
            assert!(
                body["title"].as_str().is_some_and(|t| !t.is_empty()),
                "{error:?}"
            );
            assert_eq!(body["detail"], error.to_string(), "{error:?}");
            for (k, v) in extra.as_object().unwrap() {
                assert_eq!(&body[k], v, "{error:?}: {k}");
            }
        }
    }
}
