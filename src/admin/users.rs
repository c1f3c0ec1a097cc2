//! `/admin/v1/users`: people who log in on the login page, created, listed and disabled
//! (`clients:write`, by a caller that may act for every party). The work is
//! `service::oauth::users`, as for `tokenhub user`.
//!
//! A new user's password is the admin's choice or, when the body gives none, generated (256 random
//! bits) and shown in the answer this once: an admin creating an account in a console expects
//! either, and a generated one is never weaker than the rules. Either way only its Argon2id hash is
//! kept, and neither is ever logged.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Bearer, ClientsWrite, EveryParty};
use super::error::AdminError;
use super::params::invalid;
use super::tokens::json_body;
use crate::domain::access::PartyAccess;
use crate::domain::oauth::{ScopeSet, Username};
use crate::secrets::client_secrets::new_client_secret;
use crate::secrets::passwords::check_password_rules;
use crate::service::oauth::users;
use crate::service::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// Login name: lowercase letters, digits and `. _ - @`, 1 to 64.
    pub username: String,
    /// Space-separated scopes any token for the person may carry.
    pub scopes: String,
    /// At least 12 characters. Absent: one is generated and shown in the answer, once.
    pub password: Option<String>,
    /// Restricts the person to these parties (`CC*PID`); absent or empty: every party.
    #[serde(default)]
    pub parties: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub scopes: String,
    pub totp: bool,
    pub disabled: bool,
    /// The parties the person may act for; `null` for every party.
    pub parties: Option<Vec<String>>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Creates a user who logs in on the login page.
#[utoipa::path(
    post,
    path = "/admin/v1/users",
    tag = "admin",
    operation_id = "admin_add_user",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "`username`, and `password` when it was generated (shown only here).", body = Object),
        (status = 400, description = "`invalid-parameter`, naming the field."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `clients:write`; `other-party`: the caller is restricted to parties (users are managed by callers that may act for every party)."),
        (status = 409, description = "`conflict`: the username is taken."),
    ),
    security(("bearer_token" = []))
)]
pub async fn add(
    caller: Bearer<ClientsWrite, EveryParty>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let b: NewUserBody = json_body(&body)?;
    let name = Username::parse(&b.username).map_err(|e| invalid("username", e))?;
    let scopes = ScopeSet::parse(&b.scopes).map_err(|e| invalid("scopes", e))?;
    let parties = PartyAccess::from_list("parties", &b.parties)?;
    let (password, generated) = match b.password {
        Some(p) => {
            check_password_rules(&p).map_err(|e| invalid("password", e))?;
            (p, false)
        }
        None => (new_client_secret(), true),
    };
    let shown = generated.then(|| password.clone());
    if !users::add_user(
        &state.store,
        &name,
        password,
        &scopes,
        &parties,
        &caller.actor(),
    )
    .await?
    {
        return Err(AdminError::Conflict(format!("the user {name} exists")));
    }
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "username": name.as_str(),
            "password": shown,
        })))
}

/// The users (never a password or a TOTP secret).
#[utoipa::path(
    get,
    path = "/admin/v1/users",
    tag = "admin",
    operation_id = "admin_list_users",
    responses(
        (status = 200, description = "The users, oldest first.", body = Vec<UserView>),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `clients:write`; `other-party`: the caller is restricted to parties (users are managed by callers that may act for every party)."),
    ),
    security(("bearer_token" = []))
)]
pub async fn list(
    _caller: Bearer<ClientsWrite, EveryParty>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let views: Vec<UserView> = users::list_users(&state.store)
        .await?
        .into_iter()
        .map(|u| UserView {
            scopes: u.scopes.to_string(),
            username: u.username,
            totp: u.totp,
            disabled: u.disabled,
            parties: u.parties.to_claim(),
            created_at: u.created_at.and_utc(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Disables a user: no more logins, and its refresh tokens and the access tokens issued with them
/// are revoked (here at once, on other instances within `oauth.poll_ms`).
#[utoipa::path(
    post,
    path = "/admin/v1/users/{username}/disable",
    tag = "admin",
    operation_id = "admin_disable_user",
    params(("username" = String, Path, description = "The user.")),
    responses(
        (status = 200, description = "Disabled.", body = Object),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `clients:write`; `other-party`: the caller is restricted to parties (users are managed by callers that may act for every party)."),
        (status = 404, description = "`not-found`: no such user."),
    ),
    security(("bearer_token" = []))
)]
pub async fn disable(
    caller: Bearer<ClientsWrite, EveryParty>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let username = path.into_inner();
    if !users::disable_user(&state.store, &username, &caller.actor()).await? {
        return Err(AdminError::NotFound(format!("no user {username}")));
    }
    state.oauth.reload_revocations(&state.store).await?;
    Ok(HttpResponse::Ok().json(json!({"username": username, "disabled": true})))
}

/// Full paths (the OpenAPI test reads these registrations).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/v1/users")
            .route(web::get().to(list))
            .route(web::post().to(add)),
    );
    cfg.service(web::resource("/admin/v1/users/{username}/disable").route(web::post().to(disable)));
}
