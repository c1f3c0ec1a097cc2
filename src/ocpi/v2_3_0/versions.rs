//! Versions module: the version list and the 2.3.0 endpoint list. No routing headers.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{
    CREDENTIALS, HUBCLIENTINFO, SESSIONS_RECEIVER, TOKENS_RECEIVER, TOKENS_SENDER, VERSION,
};
use crate::ocpi::common::auth::AnyPlatform;
use crate::ocpi::common::envelope;
use crate::ocpi::common::OcpiError;
use crate::service::AppState;

#[derive(Serialize)]
pub struct Version {
    pub version: &'static str,
    pub url: String,
}

#[derive(Serialize)]
pub struct Endpoint {
    pub identifier: &'static str,
    pub role: &'static str,
    pub url: String,
}

#[derive(Serialize)]
pub struct VersionDetails {
    pub version: &'static str,
    pub endpoints: Vec<Endpoint>,
}

#[utoipa::path(
    get,
    path = "/ocpi/versions",
    tag = "versions",
    operation_id = "get_versions",
    summary = "The OCPI versions this hub supports",
    description = "One entry: 2.3.0, with the URL of its endpoint list. Accepts a registration token (A) as well as a registered one (C). No routing headers.",
    security(("credentials_token" = [])),
    responses(
        (status = 200, description = "OCPI 1000 with the version list.", body = crate::ocpi::v2_3_0::schema::VersionListResponse),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn list(
    _caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    Ok(envelope::ok(vec![Version {
        version: VERSION,
        url: format!("{}/ocpi/{VERSION}", state.public_url),
    }]))
}

#[utoipa::path(
    get,
    path = "/",
    tag = "versions",
    operation_id = "get_version_details",
    summary = "The OCPI 2.3.0 endpoints of this hub",
    description = "credentials (SENDER), hubclientinfo (SENDER), tokens (SENDER: list and authorize; RECEIVER: push), sessions (RECEIVER). Accepts a registration token (A) as well as a registered one (C). No routing headers.",
    security(("credentials_token" = [])),
    responses(
        (status = 200, description = "OCPI 1000 with the endpoint list.", body = crate::ocpi::v2_3_0::schema::VersionDetailsResponse),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn details(
    _caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let base = format!("{}/ocpi/{VERSION}", state.public_url);
    let endpoint = |identifier, role, path: &str| Endpoint {
        identifier,
        role,
        url: format!("{base}{path}"),
    };
    Ok(envelope::ok(VersionDetails {
        version: VERSION,
        endpoints: vec![
            // For credentials the role has no meaning; the spec advises SENDER.
            endpoint("credentials", "SENDER", CREDENTIALS),
            endpoint("hubclientinfo", "SENDER", HUBCLIENTINFO),
            endpoint("tokens", "SENDER", TOKENS_SENDER),
            endpoint("tokens", "RECEIVER", TOKENS_RECEIVER),
            endpoint("sessions", "RECEIVER", SESSIONS_RECEIVER),
        ],
    }))
}
