//! Credentials module, `GET`: the hub's credentials for the caller. The registration handshake
//! (POST/PUT/DELETE) comes with the hub connectivity work.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::auth::AnyPlatform;
use super::envelope;
use super::error::ApiError;
use crate::app::AppState;
use crate::store::parties;

#[derive(Serialize)]
struct BusinessDetails {
    name: String,
}

#[derive(Serialize)]
struct CredentialsRole {
    role: String,
    business_details: BusinessDetails,
    party_id: String,
    country_code: String,
}

#[derive(Serialize)]
struct Credentials {
    token: String,
    url: String,
    hub_party_id: String,
    roles: Vec<CredentialsRole>,
}

/// Echoes the token the caller presented (it is the caller's own secret) with the hub's versions
/// URL, its `hub_party_id`, and, as 2.3.0 asks of hubs, every party reachable through it.
#[utoipa::path(
    get,
    path = "/ocpi/2.3.0/credentials",
    tag = "credentials",
    operation_id = "get_credentials",
    summary = "The hub's credentials for the caller",
    description = "The caller's own credentials token, the hub's versions URL, its `hub_party_id` and, as OCPI 2.3.0 asks of hubs, every party reachable through it. Accepts a registration token (A) as well as a registered one (C). The registration handshake (POST/PUT/DELETE) is not offered yet.",
    security(("credentials_token" = [])),
    responses(
        (status = 200, description = "OCPI 1000 with the credentials.", body = crate::openapi::CredentialsResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn get(
    caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.store.read(parties::all).await?;
    Ok(envelope::ok(Credentials {
        token: caller.presented_token,
        url: format!("{}/ocpi/versions", state.public_url),
        hub_party_id: format!(
            "{}{}",
            state.hub.country_code.key(),
            state.hub.party_id.key()
        ),
        roles: rows
            .into_iter()
            .filter(|p| !p.suspended)
            .map(|p| CredentialsRole {
                role: p.role,
                business_details: BusinessDetails { name: p.name },
                party_id: p.party_id,
                country_code: p.country_code,
            })
            .collect(),
    }))
}
