//! One enum of what went wrong, for every surface. It says what happened, not how to answer:
//! each surface renders it (the OCPI envelope in `ocpi::common::error`; the OAuth and management
//! surfaces bring their own tables).

use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not JSON at all.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// JSON (or a URL parameter) that breaks a rule: it reached the application.
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
    /// A credentials request that the registration's state does not allow (a POST from a
    /// registered platform, a PUT or DELETE from one that is not).
    #[error("{0}")]
    RegistrationState(String),
    /// The partner's versions or version details could not be fetched during a handshake.
    #[error("{0}")]
    PartnerUnreachable(String),
    #[error("{0}")]
    UnsupportedVersion(String),
    /// The partner offers no endpoint the hub can use.
    #[error("{0}")]
    NoUsableEndpoints(String),
    /// OCPI 4001: the `OCPI-to-*` headers name no party of the hub.
    #[error("{0}")]
    UnknownReceiver(String),
    /// OCPI 4002: the party a request was forwarded to did not answer within its time budget.
    #[error("{0}")]
    ForwardTimeout(String),
    /// OCPI 4003: the party is known but not connected, or the forwarded request failed.
    #[error("{0}")]
    ReceiverNotConnected(String),
    /// Too many failed authentications from the caller's address.
    #[error("too many failed authentications from this address; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the database is unavailable, try again later")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(ValidationError::new(field, message))
    }
}

impl From<ValidationError> for Error {
    fn from(err: ValidationError) -> Self {
        Error::Invalid(err)
    }
}

/// The store's detail is logged here, once; callers only learn whether to retry.
impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => {
                crate::ops::metrics::record_database_error("unavailable");
                tracing::warn!(%detail, "database unavailable");
                Error::Unavailable
            }
            StoreError::Query(detail) | StoreError::Config(detail) => {
                crate::ops::metrics::record_database_error("query");
                tracing::error!(%detail, "database error");
                Error::Internal
            }
        }
    }
}
