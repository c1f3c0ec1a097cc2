//! Versions module: the version list and the 2.3.0 endpoint list. No routing headers.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::auth::AnyPlatform;
use super::envelope;
use super::error::ApiError;
use super::VERSION;
use crate::app::AppState;

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
        (status = 200, description = "OCPI 1000 with the version list.", body = crate::openapi::VersionListResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn list(
    _caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(vec![Version {
        version: VERSION,
        url: format!("{}/ocpi/{VERSION}", state.public_url),
    }]))
}

#[utoipa::path(
    get,
    path = "/ocpi/2.3.0",
    tag = "versions",
    operation_id = "get_version_details",
    summary = "The OCPI 2.3.0 endpoints of this hub",
    description = "credentials (SENDER), tokens (SENDER: list and authorize; RECEIVER: push), sessions (RECEIVER). Accepts a registration token (A) as well as a registered one (C). No routing headers.",
    security(("credentials_token" = [])),
    responses(
        (status = 200, description = "OCPI 1000 with the endpoint list.", body = crate::openapi::VersionDetailsResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn details(
    _caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let base = format!("{}/ocpi/{VERSION}", state.public_url);
    let endpoint = |identifier, role, path: &str| Endpoint {
        identifier,
        role,
        url: format!("{base}/{path}"),
    };
    Ok(envelope::ok(VersionDetails {
        version: VERSION,
        endpoints: vec![
            // For credentials the role has no meaning; the spec advises SENDER.
            endpoint("credentials", "SENDER", "credentials"),
            endpoint("tokens", "SENDER", "sender/tokens"),
            endpoint("tokens", "RECEIVER", "receiver/tokens"),
            endpoint("sessions", "RECEIVER", "receiver/sessions"),
        ],
    }))
}
