//! OCPI 2.3.0: versions, credentials, hubclientinfo, tokens (receiver, sender, authorize), sessions,
//! and the wire types of the OpenAPI document. Every path is built from [`VERSION`], so another version
//! is a sibling module, not a fork of this one.

pub mod credentials;
pub mod hubclientinfo;
pub mod schema;
pub mod sessions;
pub mod sessions_sender;
pub mod tokens_receiver;
pub mod tokens_sender;
pub mod versions;

use actix_web::middleware::from_fn;
use actix_web::{web, Scope};
use utoipa::OpenApi;

use super::common::routing::routing_headers;
use super::common::{method_not_allowed, not_found};

pub const VERSION: &str = "2.3.0";

/// The scope `/{VERSION}` (under `/ocpi`). Paths are relative to it (the module paths advertised
/// are in `common::versions`). Resources are tried in this order, each dynamic one with a regex;
/// the real-time authorize is the hot path, so it comes first. The functional modules (tokens,
/// sessions) answer with routing headers, errors included.
pub fn scope() -> Scope {
    web::scope(&format!("/{VERSION}"))
        .service(
            web::resource("/sender/tokens/{token_uid}/authorize")
                .wrap(from_fn(routing_headers))
                .route(web::post().to(tokens_sender::authorize))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("")
                .route(web::get().to(versions::details))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/credentials")
                .route(web::get().to(credentials::get))
                .route(web::post().to(credentials::post))
                .route(web::put().to(credentials::put))
                .route(web::delete().to(credentials::delete))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/receiver/tokens/{country_code}/{party_id}/{token_uid}")
                .wrap(from_fn(routing_headers))
                .route(web::get().to(tokens_receiver::get))
                .route(web::put().to(tokens_receiver::put))
                .route(web::patch().to(tokens_receiver::patch))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/sender/tokens")
                .wrap(from_fn(routing_headers))
                .route(web::get().to(tokens_sender::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/hubclientinfo")
                .route(web::get().to(hubclientinfo::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/sender/sessions")
                .wrap(from_fn(routing_headers))
                .route(web::get().to(sessions_sender::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/receiver/sessions/{country_code}/{party_id}/{session_id}")
                .wrap(from_fn(routing_headers))
                .route(web::get().to(sessions::get))
                .route(web::put().to(sessions::put))
                .route(web::patch().to(sessions::patch))
                .default_service(web::to(method_not_allowed)),
        )
        .default_service(web::to(not_found))
}

/// The 2.3.0 operations, with paths relative to `/ocpi/{VERSION}`; `openapi` nests them there.
#[derive(OpenApi)]
#[openapi(paths(
    versions::details,
    credentials::get,
    credentials::post,
    credentials::put,
    credentials::delete,
    hubclientinfo::list,
    tokens_receiver::get,
    tokens_receiver::put,
    tokens_receiver::patch,
    tokens_sender::list,
    tokens_sender::authorize,
    sessions::get,
    sessions::put,
    sessions::patch,
    sessions_sender::list,
))]
pub struct Api;
