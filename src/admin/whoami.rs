//! `GET /admin/v1/whoami`: who the bearer token speaks for. `GET /admin/v1/whoami/{scope}`, one
//! route per scope, answers the same only when the token carries that scope, each declaring it
//! through the extractor as every management route will. They are served in production on
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
    /// The parties (`CC*PID`) the token may act for; `null` for every party.
    pub parties: Option<Vec<String>>,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

fn answer<S: ScopeRequirement>(caller: Bearer<S>) -> HttpResponse {
    let p = caller.principal;
    HttpResponse::Ok().json(WhoAmI {
        issuer: p.issuer,
        subject: p.subject,
        client_id: p.client_id,
        scopes: p.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        parties: p.parties.to_claim(),
        expires_at: p.expires_at,
    })
}

/// Who the bearer token speaks for.
#[utoipa::path(
    get,
    path = "/admin/v1/whoami",
    tag = "admin",
    operation_id = "get_admin_whoami",
    responses(
        (status = 200, description = "The token's issuer, subject, client and scopes.", body = WhoAmI),
        (status = 400, description = "`invalid_request`: `Authorization: Bearer` without a token."),
        (status = 401, description = "No token (`WWW-Authenticate: Bearer realm=...`, no error code), or `invalid_token` (invalid, expired, wrong audience, revoked, badly signed)."),
    ),
    security(("bearer_token" = []))
)]
pub async fn whoami(caller: Bearer<AnyScope>) -> HttpResponse {
    answer(caller)
}

/// One `whoami` per scope: the handler, its path and its operation id.
macro_rules! whoami_with_scope {
    ($($name:ident: $requirement:ident, $path:literal, $id:literal, $doc:literal;)+) => {
        $(
            #[doc = $doc]
            #[utoipa::path(
                get,
                path = $path,
                tag = "admin",
                operation_id = $id,
                responses(
                    (status = 200, description = "The token carries the scope.", body = WhoAmI),
                    (status = 400, description = "`invalid_request`: `Authorization: Bearer` without a token."),
                    (status = 401, description = "No token, or `invalid_token`."),
                    (status = 403, description = "`insufficient_scope`, naming the scope (body `scope`, challenge `scope=`)."),
                ),
                security(("bearer_token" = []))
            )]
            pub async fn $name(caller: Bearer<$requirement>) -> HttpResponse {
                answer(caller)
            }
        )+
    };
}

whoami_with_scope! {
    whoami_tokens_read: TokensRead, "/admin/v1/whoami/tokens:read", "get_admin_whoami_tokens_read", "Who the token speaks for, if it carries tokens:read.";
    whoami_tokens_write: TokensWrite, "/admin/v1/whoami/tokens:write", "get_admin_whoami_tokens_write", "Who the token speaks for, if it carries tokens:write.";
    whoami_parties_read: PartiesRead, "/admin/v1/whoami/parties:read", "get_admin_whoami_parties_read", "Who the token speaks for, if it carries parties:read.";
    whoami_parties_write: PartiesWrite, "/admin/v1/whoami/parties:write", "get_admin_whoami_parties_write", "Who the token speaks for, if it carries parties:write.";
    whoami_sessions_read: SessionsRead, "/admin/v1/whoami/sessions:read", "get_admin_whoami_sessions_read", "Who the token speaks for, if it carries sessions:read.";
    whoami_audit_read: AuditRead, "/admin/v1/whoami/audit:read", "get_admin_whoami_audit_read", "Who the token speaks for, if it carries audit:read.";
    whoami_clients_write: ClientsWrite, "/admin/v1/whoami/clients:write", "get_admin_whoami_clients_write", "Who the token speaks for, if it carries clients:write.";
}

/// Full paths (the OpenAPI test reads these registrations).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/v1/whoami").route(web::get().to(whoami)));
    cfg.service(
        web::resource("/admin/v1/whoami/tokens:read").route(web::get().to(whoami_tokens_read)),
    );
    cfg.service(
        web::resource("/admin/v1/whoami/tokens:write").route(web::get().to(whoami_tokens_write)),
    );
    cfg.service(
        web::resource("/admin/v1/whoami/parties:read").route(web::get().to(whoami_parties_read)),
    );
    cfg.service(
        web::resource("/admin/v1/whoami/parties:write").route(web::get().to(whoami_parties_write)),
    );
    cfg.service(
        web::resource("/admin/v1/whoami/sessions:read").route(web::get().to(whoami_sessions_read)),
    );
    cfg.service(
        web::resource("/admin/v1/whoami/audit:read").route(web::get().to(whoami_audit_read)),
    );
    cfg.service(
        web::resource("/admin/v1/whoami/clients:write").route(web::get().to(whoami_clients_write)),
    );
}
