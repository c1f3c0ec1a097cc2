//! Credentials module, `GET`, in the OCPI 2.2.1 shape: a 2.2.1 hub lists only itself, with role
//! `HUB` and its business details, and has no `hub_party_id` (2.2.1 partners learn the parties
//! behind a hub through HubClientInfo). A wire layer only: the registration handshake
//! (POST/PUT/DELETE) plugs in here over the same services as 2.3.0's.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::ocpi::common::auth::AnyPlatform;
use crate::ocpi::common::envelope;
use crate::ocpi::common::OcpiError;
use crate::service::AppState;

#[derive(Serialize)]
struct BusinessDetails<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct HubRole<'a> {
    role: &'static str,
    business_details: BusinessDetails<'a>,
    party_id: &'a str,
    country_code: &'a str,
}

#[derive(Serialize)]
struct Credentials<'a> {
    token: String,
    url: String,
    roles: [HubRole<'a>; 1],
}

/// Echoes the token the caller presented (it is the caller's own secret) with the hub's versions
/// URL and the hub itself as its one role, `HUB`.
#[utoipa::path(
    get,
    path = "/credentials",
    tag = "credentials",
    operation_id = "get_credentials_2_2_1",
    summary = "The hub's credentials for the caller (OCPI 2.2.1)",
    description = "The caller's own credentials token, the hub's versions URL and, as OCPI 2.2.1 has a hub do, one role: the hub itself (`hub.country_code`, `hub.party_id`), role `HUB`, with its name (`hub.name`). No `hub_party_id` (2.3.0 only). Accepts a registration token (A) as well as a registered one (C). The registration handshake (POST/PUT/DELETE) is not offered yet.",
    security(("credentials_token" = [])),
    responses(
        (status = 200, description = "OCPI 1000 with the credentials.", body = crate::ocpi::v2_2_1::schema::CredentialsResponse),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn get(
    caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    Ok(envelope::ok(Credentials {
        token: caller.presented_token,
        url: format!("{}/ocpi/versions", state.public_url),
        roles: [HubRole {
            role: "HUB",
            business_details: BusinessDetails {
                name: &state.hub_name,
            },
            party_id: state.hub.party_id.key(),
            country_code: state.hub.country_code.key(),
        }],
    }))
}
