//! The OAuth 2 authorization server's HTTP surface: authorization (login, TOTP and consent
//! pages), token (client credentials, authorization code, refresh token), revocation,
//! introspection, metadata and JWKS, with client authentication and RFC 6749's error table. The
//! work is done in `service::oauth`.

pub mod authorize;
pub mod client_auth;
pub mod error;
pub mod form;
pub mod introspect;
pub mod login_session;
pub mod metadata;
pub mod pages;
pub mod revoke;
pub mod token;

use actix_web::web;

/// Bodies of these endpoints are a few form parameters; a token is well under 2 KiB.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Full paths, one resource each (the OpenAPI test reads these registrations).
pub fn routes(cfg: &mut web::ServiceConfig) {
    let form = || web::PayloadConfig::new(MAX_FORM_BYTES);
    cfg.service(
        web::resource("/oauth/token")
            .app_data(form())
            .route(web::post().to(token::token)),
    )
    .service(
        web::resource("/oauth/revoke")
            .app_data(form())
            .route(web::post().to(revoke::revoke)),
    )
    .service(
        web::resource("/oauth/introspect")
            .app_data(form())
            .route(web::post().to(introspect::introspect)),
    )
    .service(web::resource("/oauth/authorize").route(web::get().to(authorize::authorize)))
    .service(
        web::resource("/oauth/authorize/login")
            .app_data(form())
            .route(web::post().to(authorize::login)),
    )
    .service(
        web::resource("/oauth/authorize/totp")
            .app_data(form())
            .route(web::post().to(authorize::totp_step)),
    )
    .service(
        web::resource("/oauth/authorize/consent")
            .app_data(form())
            .route(web::post().to(authorize::consent)),
    )
    .service(web::resource("/oauth/jwks.json").route(web::get().to(metadata::jwks)))
    .service(
        web::resource("/.well-known/oauth-authorization-server")
            .route(web::get().to(metadata::metadata)),
    );
}
