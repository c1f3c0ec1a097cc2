//! What every OCPI version shares: the envelope, the credentials-token extractors, routing
//! headers, the JSON body, the rendering of errors, the shared schemas, and the modules' handling
//! itself (versions, tokens, sessions), which each version's module wraps in its wire types.

pub mod auth;
pub mod body;
pub mod credentials;
pub mod envelope;
pub mod error;
pub mod hubclientinfo;
pub mod pagination;
pub mod responses;
pub mod routing;
pub mod schema;
pub mod sessions;
pub mod sessions_sender;
pub mod tokens_receiver;
pub mod tokens_sender;
pub mod versions;

pub use error::OcpiError;

/// Routed as the default of every OCPI resource: a known path with a method it does not serve.
pub async fn method_not_allowed() -> Result<actix_web::HttpResponse, OcpiError> {
    Err(crate::error::Error::MethodNotAllowed.into())
}

/// The default of the OCPI scope: a path no OCPI module serves.
pub async fn not_found() -> Result<actix_web::HttpResponse, OcpiError> {
    Err(crate::error::Error::NotFound("no such endpoint".into()).into())
}
