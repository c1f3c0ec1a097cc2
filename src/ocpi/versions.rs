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

pub async fn list(
    _caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(vec![Version {
        version: VERSION,
        url: format!("{}/ocpi/{VERSION}", state.public_url),
    }]))
}

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
