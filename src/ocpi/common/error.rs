//! How the OCPI surface answers an [`Error`]: the one table from error to (HTTP status, OCPI
//! status code), rendered as the OCPI envelope.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::envelope::{respond, Envelope};
use crate::error::Error;
use crate::ops::request_context::ErrorReason;

/// An [`Error`] as the OCPI surface renders it. Any error converts with `?`.
#[derive(Debug)]
pub struct OcpiError(pub Error);

impl<E: Into<Error>> From<E> for OcpiError {
    fn from(err: E) -> Self {
        OcpiError(err.into())
    }
}

impl std::fmt::Display for OcpiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl OcpiError {
    /// The one table from error to (HTTP status, OCPI status code).
    pub fn codes(&self) -> (StatusCode, u16) {
        match &self.0 {
            Error::InvalidJson(_) => (StatusCode::BAD_REQUEST, 2001),
            Error::Invalid(_) => (StatusCode::OK, 2001),
            Error::NotEnoughInformation(_) => (StatusCode::OK, 2002),
            Error::UnknownToken => (StatusCode::NOT_FOUND, 2004),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, 2000),
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, 2000),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, 2001),
            Error::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 2000),
            Error::RegistrationState(_) => (StatusCode::METHOD_NOT_ALLOWED, 2000),
            Error::PartnerUnreachable(_) => (StatusCode::OK, 3001),
            Error::UnsupportedVersion(_) => (StatusCode::OK, 3002),
            Error::NoUsableEndpoints(_) => (StatusCode::OK, 3003),
            // OCPI leaves the HTTP status of hub errors open; these say what happened to a
            // forwarded request (docs/design.md §6 "Authorize flow").
            Error::UnknownReceiver(_) => (StatusCode::NOT_FOUND, 4001),
            Error::ForwardTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, 4002),
            Error::ReceiverNotConnected(_) => (StatusCode::BAD_GATEWAY, 4003),
            Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, 2000),
            // OCPI has no code of its own for this: the generic client error.
            Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, 2000),
            Error::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, 3000),
            Error::Internal => (StatusCode::INTERNAL_SERVER_ERROR, 3000),
        }
    }
}

impl ResponseError for OcpiError {
    fn status_code(&self) -> StatusCode {
        self.codes().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.codes();
        let mut response = respond(
            status,
            Envelope::<()>::new(None, code, Some(self.0.to_string())),
        );
        // For the request log: why, in the words the caller gets (messages never hold a secret).
        response
            .extensions_mut()
            .insert(ErrorReason(self.0.to_string()));
        let retry_after = match &self.0 {
            Error::Unavailable => Some(1),
            Error::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(secs),
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
            (Error::InvalidJson("x".into()), 400, 2001),
            (Error::invalid("uid", "too long"), 200, 2001),
            (Error::NotEnoughInformation("x".into()), 200, 2002),
            (Error::UnknownToken, 404, 2004),
            (Error::NotFound("x".into()), 404, 2000),
            (Error::Unauthorized("x".into()), 401, 2000),
            (Error::Forbidden("x".into()), 403, 2001),
            (Error::MethodNotAllowed, 405, 2000),
            (Error::RegistrationState("x".into()), 405, 2000),
            (Error::PartnerUnreachable("x".into()), 200, 3001),
            (Error::UnsupportedVersion("x".into()), 200, 3002),
            (Error::NoUsableEndpoints("x".into()), 200, 3003),
            (Error::UnknownReceiver("x".into()), 404, 4001),
            (Error::ForwardTimeout("x".into()), 504, 4002),
            (Error::ReceiverNotConnected("x".into()), 502, 4003),
            (Error::PayloadTooLarge(1), 413, 2000),
            (
                Error::TooManyRequests {
                    retry_after_secs: 1,
                },
                429,
                2000,
            ),
            (Error::Unavailable, 503, 3000),
            (Error::Internal, 500, 3000),
        ];
        for (err, http, ocpi) in cases {
            let err = OcpiError(err);
            let (status, code) = err.codes();
            assert_eq!((status.as_u16(), code), (http, ocpi), "{err:?}");
        }
    }
}
