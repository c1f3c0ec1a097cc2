//! Versions module: the version list, and the endpoint list each version serves. No routing
//! headers.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::domain::version::OcpiVersion;
use crate::ocpi::common::auth::AnyPlatform;
use crate::ocpi::common::envelope;
use crate::ocpi::common::OcpiError;
use crate::service::AppState;

/// Relative to `/ocpi/{version}`: the module paths every version advertises and links to (each
/// version's routes spell them out, with their parameters).
pub const TOKENS_SENDER: &str = "/sender/tokens";
pub const TOKENS_RECEIVER: &str = "/receiver/tokens";
pub const SESSIONS_RECEIVER: &str = "/receiver/sessions";
pub const SESSIONS_SENDER: &str = "/sender/sessions";
pub const CREDENTIALS: &str = "/credentials";
pub const HUBCLIENTINFO: &str = "/hubclientinfo";

/// The base URL of `version`'s endpoints.
pub fn base_url(state: &AppState, version: OcpiVersion) -> String {
    format!("{}/ocpi/{}", state.public_url, version.as_str())
}

#[derive(Serialize)]
struct Version {
    version: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Endpoint {
    identifier: &'static str,
    role: &'static str,
    url: String,
}

#[derive(Serialize)]
struct VersionDetails {
    version: &'static str,
    endpoints: Vec<Endpoint>,
}

#[utoipa::path(
    get,
    path = "/ocpi/versions",
    tag = "versions",
    operation_id = "get_versions",
    summary = "The OCPI versions this hub supports",
    description = "2.3.0 and 2.2.1, newest first, each with the URL of its endpoint list. Both versions work on the same token registry. Accepts a registration token (A) as well as a registered one (C). No routing headers.",
    security(("credentials_token" = [])),
    responses(
        (status = 200, description = "OCPI 1000 with the version list.", body = crate::ocpi::common::schema::VersionListResponse),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn list(
    _caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let versions: Vec<Version> = crate::ocpi::VERSIONS
        .iter()
        .map(|v| Version {
            version: v.as_str(),
            url: base_url(&state, *v),
        })
        .collect();
    Ok(envelope::ok(versions))
}

/// The endpoints of `version`: every version serves the same modules at the same paths.
pub fn details(version: OcpiVersion, state: &AppState) -> HttpResponse {
    let base = base_url(state, version);
    let endpoint = |identifier, role, path: &str| Endpoint {
        identifier,
        role,
        url: format!("{base}{path}"),
    };
    envelope::ok(VersionDetails {
        version: version.as_str(),
        endpoints: vec![
            // For credentials the role has no meaning; the spec advises SENDER.
            endpoint("credentials", "SENDER", CREDENTIALS),
            endpoint("hubclientinfo", "SENDER", HUBCLIENTINFO),
            endpoint("tokens", "SENDER", TOKENS_SENDER),
            endpoint("tokens", "RECEIVER", TOKENS_RECEIVER),
            endpoint("sessions", "SENDER", SESSIONS_SENDER),
            endpoint("sessions", "RECEIVER", SESSIONS_RECEIVER),
        ],
    })
}

/// The version details handler of one version (`details`), with its OpenAPI operation: the
/// `OcpiVersion` variant, its number and the operation id's suffix.
macro_rules! version_details {
    ($version:ident, $number:literal, $id_suffix:literal) => {
        #[utoipa::path(
            get,
            path = "/",
            tag = "versions",
            operation_id = concat!("get_version_details", $id_suffix),
            summary = concat!("The OCPI ", $number, " endpoints of this hub"),
            description = "credentials (SENDER), hubclientinfo (SENDER), tokens (SENDER: list and authorize; RECEIVER: push), sessions (SENDER: list; RECEIVER: push). Accepts a registration token (A) as well as a registered one (C). No routing headers.",
            security(("credentials_token" = [])),
            responses(
                (status = 200, description = "OCPI 1000 with the endpoint list.", body = crate::ocpi::common::schema::VersionDetailsResponse),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn details(
            _caller: crate::ocpi::common::auth::AnyPlatform,
            state: actix_web::web::Data<crate::service::AppState>,
        ) -> actix_web::HttpResponse {
            crate::ocpi::common::versions::details(
                crate::domain::version::OcpiVersion::$version,
                &state,
            )
        }
    };
}
pub(crate) use version_details;
