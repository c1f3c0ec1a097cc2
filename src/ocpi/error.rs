//! One error type for the OCPI layer, mapped in one place to HTTP status + OCPI status code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::envelope::{respond, Envelope};
use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// JSON (or a URL parameter) that breaks a rule: it reached the OCPI layer.
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("{0}")]
    NotEnoughInformation(String),
    #[error("unknown token")]
    UnknownToken,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the database is unavailable, try again later")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(ValidationError::new(field, message))
    }

    /// The one table from error to (HTTP status, OCPI status code).
    pub fn codes(&self) -> (StatusCode, u16) {
        match self {
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, 2001),
            ApiError::Invalid(_) => (StatusCode::OK, 2001),
            ApiError::NotEnoughInformation(_) => (StatusCode::OK, 2002),
            ApiError::UnknownToken => (StatusCode::NOT_FOUND, 2004),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, 2000),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, 2000),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, 2001),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 2000),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, 2000),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, 3000),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, 3000),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::Invalid(err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => {
                crate::metrics::record_database_error("unavailable");
                tracing::warn!(%detail, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::Query(detail) | StoreError::Config(detail) => {
                crate::metrics::record_database_error("query");
                tracing::error!(%detail, "database error");
                ApiError::Internal
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.codes().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.codes();
        let mut response = respond(
            status,
            Envelope::<()>::new(None, code, Some(self.to_string())),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let cases = [
            (ApiError::InvalidJson("x".into()), 400, 2001),
            (ApiError::invalid("uid", "too long"), 200, 2001),
            (ApiError::NotEnoughInformation("x".into()), 200, 2002),
            (ApiError::UnknownToken, 404, 2004),
            (ApiError::Unauthorized("x".into()), 401, 2000),
            (ApiError::Forbidden("x".into()), 403, 2001),
            (ApiError::PayloadTooLarge(1), 413, 2000),
            (ApiError::Unavailable, 503, 3000),
            (ApiError::Internal, 500, 3000),
        ];
        for (err, http, ocpi) in cases {
            let (status, code) = err.codes();
            assert_eq!((status.as_u16(), code), (http, ocpi), "{err:?}");
        }
    }
}
