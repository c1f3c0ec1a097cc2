//! `/admin/v1/clients`: OAuth clients of the management API, created (secret shown once), listed
//! and disabled (`clients:write`). The work is `service::oauth::clients`, as for
//! `tokenhub client`. Users wait for the users service (branch `login`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Bearer, ClientsWrite, EveryParty};
use super::error::AdminError;
use super::params::invalid;
use super::tokens::json_body;
use crate::domain::access::PartyAccess;
use crate::domain::oauth::ScopeSet;
use crate::service::oauth::clients::{self, NewClient};
use crate::service::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientBody {
    pub name: String,
    /// Space-separated scopes, e.g. `tokens:read audit:read`.
    pub scopes: String,
    /// Redirect URIs of an authorization-code client; none for client credentials.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A public client has no secret (authorization code with PKCE only).
    #[serde(default)]
    pub public: bool,
    /// Restricts the client's tokens to these parties (`CC*PID`); absent or empty: every party.
    #[serde(default)]
    pub parties: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub disabled: bool,
    /// The parties its tokens may act for; `null` for every party.
    pub parties: Option<Vec<String>>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Creates a client: the answer holds its secret, shown this once (only its hash is kept).
#[utoipa::path(
    post,
    path = "/admin/v1/clients",
    tag = "admin",
    operation_id = "admin_add_client",
    request_body = NewClientBody,
    responses(
        (status = 201, description = "`client_id` and, unless public, `client_secret` (shown only here).", body = Object),
        (status = 400, description = "`invalid-parameter`, naming the field."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `clients:write`; `other-party`: the caller is restricted to parties (clients are managed by callers that may act for every party)."),
    ),
    security(("bearer_token" = []))
)]
pub async fn add(
    caller: Bearer<ClientsWrite, EveryParty>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let b: NewClientBody = json_body(&body)?;
    let name = b.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(invalid("name", "must be 1 to 100 characters"));
    }
    let scopes = ScopeSet::parse(&b.scopes).map_err(|e| invalid("scopes", e))?;
    let redirect_uris = b
        .redirect_uris
        .iter()
        .map(|u| url::Url::parse(u).map_err(|e| invalid("redirect_uris", format!("{u}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if b.public && redirect_uris.is_empty() {
        return Err(invalid(
            "redirect_uris",
            "a public client needs at least one (it can only use the authorization code)",
        ));
    }
    let parties = PartyAccess::from_list("parties", &b.parties)?;
    let issued = clients::add_client(
        &state.store,
        &state.oauth.hasher,
        NewClient {
            name: name.to_owned(),
            scopes,
            redirect_uris,
            public: b.public,
            parties,
        },
        &caller.actor(),
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        })))
}

/// The clients (never their secrets).
#[utoipa::path(
    get,
    path = "/admin/v1/clients",
    tag = "admin",
    operation_id = "admin_list_clients",
    responses(
        (status = 200, description = "The clients.", body = Vec<ClientView>),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `clients:write`; `other-party`: the caller is restricted to parties (clients are managed by callers that may act for every party)."),
    ),
    security(("bearer_token" = []))
)]
pub async fn list(
    _caller: Bearer<ClientsWrite, EveryParty>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let views: Vec<ClientView> = clients::list_clients(&state.store)
        .await?
        .into_iter()
        .map(|c| ClientView {
            public: c.secret_hash.is_none(),
            client_id: c.client_id,
            name: c.name,
            scopes: c.scopes.to_string(),
            redirect_uris: c.redirect_uris,
            disabled: c.disabled,
            parties: c.parties.to_claim(),
            created_at: c.created_at.and_utc(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Disables a client: it gets no more tokens (those issued run out within their lifetime).
#[utoipa::path(
    post,
    path = "/admin/v1/clients/{client_id}/disable",
    tag = "admin",
    operation_id = "admin_disable_client",
    params(("client_id" = String, Path, description = "The client.")),
    responses(
        (status = 200, description = "Disabled.", body = Object),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `clients:write`; `other-party`: the caller is restricted to parties (clients are managed by callers that may act for every party)."),
        (status = 404, description = "`not-found`: no such client."),
    ),
    security(("bearer_token" = []))
)]
pub async fn disable(
    caller: Bearer<ClientsWrite, EveryParty>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let client_id = path.into_inner();
    if !clients::disable_client(&state.store, &client_id, &caller.actor()).await? {
        return Err(AdminError::NotFound(format!("no client {client_id}")));
    }
    // This instance at once; the others when they see the OAuth epoch move.
    state.oauth.clients.clear();
    Ok(HttpResponse::Ok().json(json!({"client_id": client_id, "disabled": true})))
}

/// Full paths (the OpenAPI test reads these registrations).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/v1/clients")
            .route(web::get().to(list))
            .route(web::post().to(add)),
    );
    cfg.service(
        web::resource("/admin/v1/clients/{client_id}/disable").route(web::post().to(disable)),
    );
}
