//! The admin console under `/console` (issue 15): server-rendered HTML pages for people who
//! manage tokens, parties and the audit trail in a browser. Every action is a plain form post
//! answered by a redirect (POST-redirect-GET), so nothing needs JavaScript; the stylesheet is
//! compiled in, so it works offline.
//!
//! The console logs people in as an OAuth client of the hub itself (`service::console`), keeps
//! their tokens on the server and checks scopes with the `ConsoleUser<S>` extractor, as the
//! management API does with `Bearer<S>`. It calls the service layer only.

pub mod assets;
pub mod audit;
pub mod auth;
pub mod chart;
pub mod dashboard;
pub mod error;
pub mod import;
pub mod login;
pub mod parties;
pub mod tokens;
pub mod view;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console").route(web::get().to(dashboard::dashboard)))
        .service(
            web::resource("/console/assets/console.css").route(web::get().to(assets::stylesheet)),
        )
        .service(web::resource("/console/login").route(web::get().to(login::login)))
        .service(web::resource("/console/callback").route(web::get().to(login::callback)))
        .service(
            web::resource("/console/callback/external")
                .route(web::get().to(login::callback_external)),
        )
        .service(web::resource("/console/logout").route(web::post().to(login::logout)))
        .service(web::resource("/console/signed-out").route(web::get().to(login::signed_out)))
        .service(web::resource("/console/tokens").route(web::get().to(tokens::list)))
        .service(
            web::resource("/console/tokens/{country_code}/{party_id}/{uid}")
                .route(web::get().to(tokens::show)),
        )
        .service(
            web::resource("/console/tokens/{country_code}/{party_id}/{uid}/block")
                .route(web::post().to(tokens::block)),
        )
        .service(
            web::resource("/console/tokens/{country_code}/{party_id}/{uid}/unblock")
                .route(web::post().to(tokens::unblock)),
        )
        .service(
            web::resource("/console/tokens/{country_code}/{party_id}/{uid}/policy")
                .route(web::post().to(tokens::policy)),
        )
        .service(web::resource("/console/parties").route(web::get().to(parties::list)))
        .service(web::resource("/console/parties/invite").route(web::post().to(parties::invite)))
        .service(
            web::resource("/console/parties/{country_code}/{party_id}/{role}/{action}")
                .route(web::post().to(parties::suspend_or_resume)),
        )
        .service(web::resource("/console/audit").route(web::get().to(audit::audit)))
        .service(
            web::resource("/console/import")
                .route(web::get().to(import::form))
                .route(web::post().to(import::upload)),
        );
}
