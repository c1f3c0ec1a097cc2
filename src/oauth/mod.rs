//! The OAuth 2 authorization server's HTTP surface: token (client credentials), revocation,
//! introspection, metadata and JWKS, with client authentication and RFC 6749's error table. The
//! work is done in `service::oauth`.

pub mod client_auth;
pub mod error;
pub mod form;
pub mod introspect;
pub mod metadata;
pub mod revoke;
pub mod token;

use actix_web::web;

/// Bodies of these endpoints are a few form parameters; a token is well under 2 KiB.
const MAX_FORM_BYTES: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/oauth")
            .app_data(web::PayloadConfig::new(MAX_FORM_BYTES))
            .route("/token", web::post().to(token::token))
            .route("/revoke", web::post().to(revoke::revoke))
            .route("/introspect", web::post().to(introspect::introspect))
            .route("/jwks.json", web::get().to(metadata::jwks)),
    )
    .route(metadata::METADATA_PATH, web::get().to(metadata::metadata));
}
