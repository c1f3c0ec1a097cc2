//! The OCPI 2.3.0 interface: versions, credentials, tokens (receiver, sender, authorize), sessions.

pub mod auth;
pub mod body;
pub mod credentials;
pub mod envelope;
pub mod error;
pub mod routing;
pub mod sessions;
pub mod tokens_receiver;
pub mod tokens_sender;
pub mod versions;

use actix_web::web;

use crate::app::method_not_allowed;

pub const VERSION: &str = "2.3.0";

/// Resources are tried in this order, each dynamic one with a regex; the real-time authorize is
/// the hot path, so it comes first.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ocpi/2.3.0/sender/tokens/{token_uid}/authorize")
            .route(web::post().to(tokens_sender::authorize))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ocpi/versions")
            .route(web::get().to(versions::list))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ocpi/2.3.0")
            .route(web::get().to(versions::details))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ocpi/2.3.0/credentials")
            .route(web::get().to(credentials::get))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ocpi/2.3.0/receiver/tokens/{country_code}/{party_id}/{token_uid}")
            .route(web::get().to(tokens_receiver::get))
            .route(web::put().to(tokens_receiver::put))
            .route(web::patch().to(tokens_receiver::patch))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ocpi/2.3.0/sender/tokens")
            .route(web::get().to(tokens_sender::list))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ocpi/2.3.0/receiver/sessions/{country_code}/{party_id}/{session_id}")
            .route(web::get().to(sessions::get))
            .route(web::put().to(sessions::put))
            .route(web::patch().to(sessions::patch))
            .default_service(web::to(method_not_allowed)),
    );
}
