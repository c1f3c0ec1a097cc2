//! Credentials module, `GET`: the hub's credentials for the caller. The registration handshake
//! (POST/PUT/DELETE) comes with the hub connectivity work.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::ocpi::common::auth::AnyPlatform;
use crate::ocpi::common::envelope;
use crate::ocpi::common::OcpiError;
use crate::service::AppState;
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
    path = "/credentials",
    tag = "credentials",
    operation_id = "get_credentials",
    summary = "The hub's credentials for the caller",
    description = "The caller's own credentials token, the hub's versions URL, its `hub_party_id` and, as OCPI 2.3.0 asks of hubs, every party reachable through it. Accepts a registration token (A) as well as a registered one (C). The registration handshake (POST/PUT/DELETE) is not offered yet.",
    security(("credentials_token" = [])),
    responses(
        (status = 200, description = "OCPI 1000 with the credentials.", body = crate::ocpi::v2_3_0::schema::CredentialsResponse),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn get(
    caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
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
