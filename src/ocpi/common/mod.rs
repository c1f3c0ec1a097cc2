//! What every OCPI version shares: the envelope, the credentials-token extractors, routing
//! headers, the JSON body, the rendering of errors, and the shared schemas.

pub mod auth;
pub mod body;
pub mod envelope;
pub mod error;
pub mod pagination;
pub mod responses;
pub mod routing;
pub mod schema;

pub use error::OcpiError;

/// Routed as the default of every OCPI resource: a known path with a method it does not serve.
pub async fn method_not_allowed() -> Result<actix_web::HttpResponse, OcpiError> {
    Err(crate::error::Error::MethodNotAllowed.into())
}

/// The default of the OCPI scope: a path no OCPI module serves.
pub async fn not_found() -> Result<actix_web::HttpResponse, OcpiError> {
    Err(crate::error::Error::NotFound("no such endpoint".into()).into())
}
