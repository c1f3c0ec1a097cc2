//! Tokens receiver interface: eMSPs push (`PUT`, `PATCH`) and read back (`GET`) their own tokens.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use super::auth::{Caller, EmspRole};
use super::body::JsonBody;
use super::envelope;
use super::error::ApiError;
use super::routing::with_routing;
use crate::app::AppState;
use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::token::{apply_token_patch, validate_token, TokenKey, TokenType};
use crate::domain::ValidationError;
use crate::store::tokens::{self, PutOutcome};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TypeQuery {
    /// The token's `TokenType`; `RFID` when absent.
    #[serde(rename = "type")]
    #[param(value_type = Option<crate::openapi::TokenType>)]
    token_type: Option<String>,
}

/// The token named by the URL; `?type` defaults to RFID.
fn url_key(path: &(String, String, String), query: &TypeQuery) -> Result<TokenKey, ApiError> {
    Ok(TokenKey {
        owner: PartyKey::parse(&path.0, &path.1)?,
        uid: TokenUid::parse("token_uid", &path.2)?,
        token_type: TokenType::from_query(query.token_type.as_deref())?,
    })
}

fn stale() -> ApiError {
    ApiError::invalid(
        "last_updated",
        "is older than the stored token's; the update was not applied",
    )
}

#[utoipa::path(
    get,
    path = "/ocpi/2.3.0/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    tag = "tokens",
    operation_id = "get_pushed_token",
    summary = "Read back a token the eMSP pushed",
    description = "The token exactly as pushed (unknown fields included), for an eMSP to reconcile. Only the caller's own tokens: another party's token answers as unknown.",
    security(("credentials_token" = [])),
    params(
        crate::openapi::TokenPath,
        TypeQuery,
    ),
    responses(
        (status = 200, description = "OCPI 1000 with the token as pushed; or OCPI 2001 without `data` when a URL parameter breaks a rule.", body = crate::openapi::TokenResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::UnknownToken),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn get(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = url_key(&path, &query)?;
    // Another party's token answers as unknown.
    if !caller.owns(&key.owner) {
        return Err(ApiError::UnknownToken);
    }
    let row = state
        .store
        .read(move |conn| tokens::find_by_key(conn, &key, false))
        .await?
        .ok_or(ApiError::UnknownToken)?;
    let pushed = row.pushed()?;
    Ok(with_routing(envelope::ok(pushed), &state.hub, caller.key()))
}

#[utoipa::path(
    put,
    path = "/ocpi/2.3.0/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    tag = "tokens",
    operation_id = "put_token",
    summary = "Push (create or replace) a token",
    description = "The body is a complete `Token`; its `country_code`, `party_id`, `uid` (and `type`, when `?type` is given) must match the URL. Unknown fields are kept. A `last_updated` older than the stored one is refused (OCPI 2001) and changes nothing. Only an eMSP of the caller's credentials token may write under a party.",
    security(("credentials_token" = [])),
    params(
        crate::openapi::TokenPath,
        TypeQuery,
    ),
    request_body(content = crate::openapi::Token, content_type = "application/json", description = "The complete token."),
    responses(
        (status = 201, description = "OCPI 1000, no `data`: the token was created.", body = crate::openapi::EmptyResponse),
        (status = 200, description = "OCPI 1000, no `data`: the token was replaced. Or OCPI 2001 (no `data`, `status_message` names the field): the body breaks a rule, differs from the URL, or its `last_updated` is older than the stored token's.", body = crate::openapi::EmptyResponse),
        (status = 400, response = crate::openapi::NotJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn put(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let owner = PartyKey::parse(&path.0, &path.1)?;
    caller.ensure_owns(&owner)?;
    let uid = TokenUid::parse("token_uid", &path.2)?;
    let write = validate_token(body.object()?)?;
    if write.key.owner != owner {
        return Err(ApiError::invalid(
            "country_code/party_id",
            "the body's owner differs from the URL's",
        ));
    }
    if write.key.uid != uid {
        return Err(ApiError::invalid(
            "uid",
            "the body's uid differs from the URL's",
        ));
    }
    if let Some(t) = &query.token_type {
        if TokenType::parse("type", t)? != write.key.token_type {
            return Err(ApiError::invalid(
                "type",
                "?type differs from the body's type",
            ));
        }
    }
    let outcome = state
        .store
        .write(move |conn| tokens::put(conn, &write, Utc::now()))
        .await?;
    let status = match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::Replaced => StatusCode::OK,
        PutOutcome::Stale => return Err(stale()),
    };
    Ok(with_routing(
        envelope::ok_empty(status),
        &state.hub,
        caller.key(),
    ))
}

enum PatchOutcome {
    Applied,
    Unknown,
    Stale,
    Invalid(ValidationError),
}

#[utoipa::path(
    patch,
    path = "/ocpi/2.3.0/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    tag = "tokens",
    operation_id = "patch_token",
    summary = "Change some fields of a pushed token",
    description = "Fields given replace the stored ones, `null` removes an optional field; `last_updated` is required and must not be older than the stored one. The identifying fields cannot change and the merged token must be valid.",
    security(("credentials_token" = [])),
    params(
        crate::openapi::TokenPath,
        TypeQuery,
    ),
    request_body(content = crate::openapi::TokenPatch, content_type = "application/json", description = "The fields to change, with `last_updated`."),
    responses(
        (status = 200, description = "OCPI 1000, no `data`: applied. Or OCPI 2001 (no `data`): `last_updated` missing or stale, or the merged token breaks a rule.", body = crate::openapi::EmptyResponse),
        (status = 400, response = crate::openapi::NotJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::UnknownToken),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn patch(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = url_key(&path, &query)?;
    caller.ensure_owns(&key.owner)?;
    let patch = body.object()?;
    if patch.get("last_updated").is_none_or(|v| v.is_null()) {
        return Err(ApiError::invalid("last_updated", "is required in a PATCH"));
    }
    let outcome = state
        .store
        .write(move |conn| {
            let Some(row) = tokens::find_by_key(conn, &key, true)? else {
                return Ok(PatchOutcome::Unknown);
            };
            let write = match apply_token_patch(&row.pushed()?, patch, &key) {
                Ok(write) => write,
                Err(e) => return Ok(PatchOutcome::Invalid(e)),
            };
            Ok(match tokens::replace(conn, &row, &write)? {
                PutOutcome::Stale => PatchOutcome::Stale,
                PutOutcome::Created | PutOutcome::Replaced => PatchOutcome::Applied,
            })
        })
        .await?;
    match outcome {
        PatchOutcome::Applied => Ok(with_routing(
            envelope::ok_empty(StatusCode::OK),
            &state.hub,
            caller.key(),
        )),
        PatchOutcome::Unknown => Err(ApiError::UnknownToken),
        PatchOutcome::Stale => Err(stale()),
        PatchOutcome::Invalid(e) => Err(ApiError::Invalid(e)),
    }
}
