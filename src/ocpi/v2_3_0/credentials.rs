//! Credentials module: `GET` the hub's credentials; `POST` registers an invited partner (token A),
//! `PUT` updates a registration and rotates its token, `DELETE` unregisters (digest: Credentials).
//! The wire shape is `peers::credentials`; the handshake is `service::partners`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::domain::partner::OcpiVersion;
use crate::ocpi::common::auth::AnyPlatform;
use crate::ocpi::common::body::JsonBody;
use crate::ocpi::common::envelope;
use crate::ocpi::common::OcpiError;
use crate::peers::credentials::{parse, render};
use crate::service::partners;
use crate::service::AppState;

const VERSION: OcpiVersion = OcpiVersion::V2_3_0;

/// Echoes the token the caller presented (it is the caller's own secret) with the hub's versions
/// URL, its `hub_party_id`, and, as 2.3.0 asks of hubs, every party reachable through it.
#[utoipa::path(
    get,
    path = "/credentials",
    tag = "credentials",
    operation_id = "get_credentials",
    summary = "The hub's credentials for the caller",
    description = "The caller's own credentials token, the hub's versions URL, its `hub_party_id` and, as OCPI 2.3.0 asks of hubs, every party reachable through it. Accepts a registration token (A) as well as a registered one (C).",
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
    let hub = partners::hub_credentials(&state, caller.presented_token).await?;
    Ok(envelope::ok(render(VERSION, &hub)))
}

#[utoipa::path(
    post,
    path = "/credentials",
    tag = "credentials",
    operation_id = "post_credentials",
    summary = "Register with the hub (token A)",
    description = "For a partner invited with `tokenhub party invite`, calling with its token A. The body is the partner's Credentials: the token B the hub will use to call it, its versions URL, and exactly the invited roles. Before answering, the hub reads the partner's versions and the 2.3.0 version details with token B. The answer is the hub's Credentials with a new token C; from then on token A is refused.",
    security(("credentials_token" = [])),
    request_body(content = crate::ocpi::v2_3_0::schema::Credentials, content_type = "application/json", description = "The partner's Credentials."),
    responses(
        (status = 200, description = "OCPI 1000 with the hub's Credentials and token C. Or, without `data`: OCPI 2001 when the body breaks a rule or names roles that were not invited; 3001 when the partner's versions could not be read with token B; 3002 when the partner does not offer 2.3.0; 3003 when it offers no endpoint the hub uses.", body = crate::ocpi::v2_3_0::schema::CredentialsResponse),
        (status = 400, response = crate::ocpi::common::responses::NotJson),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 405, response = crate::ocpi::common::responses::RegistrationState),
        (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn post(
    caller: AnyPlatform,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let credentials = parse(serde_json::Value::Object(body.object()?))?;
    let issued = partners::register_incoming(
        &state,
        &caller.platform,
        &caller.presented_token,
        VERSION,
        credentials,
    )
    .await?;
    answer(&state, issued).await
}

#[utoipa::path(
    put,
    path = "/credentials",
    tag = "credentials",
    operation_id = "put_credentials",
    summary = "Update a registration and rotate its token",
    description = "For a registered partner, calling with its current token C. The body is the partner's Credentials (its current or new token B, its versions URL, the same roles). The hub reads the partner's versions and version details again and answers with a new token C; the previous one is refused from then on.",
    security(("credentials_token" = [])),
    request_body(content = crate::ocpi::v2_3_0::schema::Credentials, content_type = "application/json", description = "The partner's Credentials."),
    responses(
        (status = 200, description = "OCPI 1000 with the hub's Credentials and the new token C; or OCPI 2001, 3001, 3002 or 3003 without `data`, as for POST.", body = crate::ocpi::v2_3_0::schema::CredentialsResponse),
        (status = 400, response = crate::ocpi::common::responses::NotJson),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 405, response = crate::ocpi::common::responses::RegistrationState),
        (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn put(
    caller: AnyPlatform,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let credentials = parse(serde_json::Value::Object(body.object()?))?;
    let issued = partners::update_incoming(
        &state,
        &caller.platform,
        &caller.presented_token,
        VERSION,
        credentials,
    )
    .await?;
    answer(&state, issued).await
}

#[utoipa::path(
    delete,
    path = "/credentials",
    tag = "credentials",
    operation_id = "delete_credentials",
    summary = "Unregister",
    description = "For a registered partner, calling with its token C: the token stops working, the hub forgets the token it used to call the partner, and the partner shows as SUSPENDED until it is invited again.",
    security(("credentials_token" = [])),
    responses(
        (status = 200, description = "OCPI 1000, no `data`: unregistered.", body = crate::ocpi::common::schema::EmptyResponse),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 405, response = crate::ocpi::common::responses::RegistrationState),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn delete(
    caller: AnyPlatform,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    partners::unregister_incoming(&state, &caller.platform, &caller.presented_token).await?;
    Ok(envelope::ok_empty(StatusCode::OK))
}

async fn answer(state: &AppState, issued: partners::Issued) -> Result<HttpResponse, OcpiError> {
    let hub = partners::hub_credentials(state, issued.token_c).await?;
    Ok(envelope::ok(render(VERSION, &hub)))
}
