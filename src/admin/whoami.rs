//! `GET /admin/v1/whoami`: who the bearer token speaks for. `GET /admin/v1/whoami/{scope}` answers
//! the same only when the token carries that scope: one real route per scope, each declaring its
//! scope through the extractor as every management route will. They are served in production on
//! purpose (harmless: they show the caller its own token), so an installer can check a token's
//! scopes before it calls the routes that need them.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{
    AnyScope, AuditRead, Bearer, ClientsWrite, PartiesRead, PartiesWrite, ScopeRequirement,
    SessionsRead, TokensRead, TokensWrite,
};

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub issuer: String,
    pub subject: String,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

/// Who the bearer token speaks for.
#[utoipa::path(
    get,
    path = "/admin/v1/whoami",
    tag = "admin",
    operation_id = "get_admin_whoami",
    responses(
        (status = 200, description = "The token's issuer, subject, client and scopes.", body = WhoAmI),
        (status = 401, description = "No token (`WWW-Authenticate: Bearer realm=...`), or `invalid_token`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn whoami(caller: Bearer<AnyScope>) -> HttpResponse {
    answer(caller)
}

/// As `whoami`, when the token carries the scope of the path.
#[utoipa::path(
    get,
    path = "/admin/v1/whoami/{scope}",
    tag = "admin",
    operation_id = "get_admin_whoami_scope",
    params(("scope" = String, Path, description = "One of tokens:read, tokens:write, parties:read, parties:write, sessions:read, audit:read, clients:write.")),
    responses(
        (status = 200, description = "The token carries the scope.", body = WhoAmI),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`, naming the scope."),
    ),
    security(("bearer_token" = []))
)]
pub async fn whoami_with<S: ScopeRequirement + 'static>(caller: Bearer<S>) -> HttpResponse {
    answer(caller)
}

fn answer<S: ScopeRequirement>(caller: Bearer<S>) -> HttpResponse {
    let p = caller.principal;
    HttpResponse::Ok().json(WhoAmI {
        issuer: p.issuer,
        subject: p.subject,
        client_id: p.client_id,
        scopes: p.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        expires_at: p.expires_at,
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/whoami", web::get().to(whoami))
        .route(
            "/whoami/tokens:read",
            web::get().to(whoami_with::<TokensRead>),
        )
        .route(
            "/whoami/tokens:write",
            web::get().to(whoami_with::<TokensWrite>),
        )
        .route(
            "/whoami/parties:read",
            web::get().to(whoami_with::<PartiesRead>),
        )
        .route(
            "/whoami/parties:write",
            web::get().to(whoami_with::<PartiesWrite>),
        )
        .route(
            "/whoami/sessions:read",
            web::get().to(whoami_with::<SessionsRead>),
        )
        .route(
            "/whoami/audit:read",
            web::get().to(whoami_with::<AuditRead>),
        )
        .route(
            "/whoami/clients:write",
            web::get().to(whoami_with::<ClientsWrite>),
        );
}
