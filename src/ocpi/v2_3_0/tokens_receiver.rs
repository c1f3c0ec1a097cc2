//! Tokens receiver interface: eMSPs push (`PUT`, `PATCH`) and read back (`GET`) their own tokens.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::token::{validate_token, TokenKey, TokenType};
use crate::error::Error;
use crate::ocpi::common::auth::{Caller, EmspRole};
use crate::ocpi::common::body::JsonBody;
use crate::ocpi::common::envelope;
use crate::ocpi::common::routing::with_routing;
use crate::ocpi::common::OcpiError;
use crate::service::tokens::{self, PatchOutcome, PutOutcome};
use crate::service::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TypeQuery {
    /// The token's `TokenType`; `RFID` when absent.
    #[serde(rename = "type")]
    #[param(value_type = Option<crate::ocpi::v2_3_0::schema::TokenType>)]
    token_type: Option<String>,
}

/// The token named by the URL; `?type` defaults to RFID.
fn url_key(path: &(String, String, String), query: &TypeQuery) -> Result<TokenKey, Error> {
    Ok(TokenKey {
        owner: PartyKey::parse(&path.0, &path.1)?,
        uid: TokenUid::parse("token_uid", &path.2)?,
        token_type: TokenType::from_query(query.token_type.as_deref())?,
    })
}

fn stale() -> Error {
    Error::invalid(
        "last_updated",
        "is older than the stored token's; the update was not applied",
    )
}

#[utoipa::path(
    get,
    path = "/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    tag = "tokens",
    operation_id = "get_pushed_token",
    summary = "Read back a token the eMSP pushed",
    description = "The token exactly as pushed (unknown fields included), for an eMSP to reconcile. Only the caller's own tokens: another party's token answers as unknown.",
    security(("credentials_token" = [])),
    params(
        crate::ocpi::v2_3_0::schema::TokenPath,
        TypeQuery,
    ),
    responses(
        (status = 200, description = "OCPI 1000 with the token as pushed; or OCPI 2001 without `data` when a URL parameter breaks a rule.", body = crate::ocpi::v2_3_0::schema::TokenResponse),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 403, response = crate::ocpi::common::responses::Forbidden),
        (status = 404, response = crate::ocpi::common::responses::UnknownToken),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn get(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let key = url_key(&path, &query)?;
    // Another party's token answers as unknown.
    if !caller.owns(&key.owner) {
        return Err(Error::UnknownToken.into());
    }
    let pushed = tokens::pushed(&state.store, key)
        .await?
        .ok_or(Error::UnknownToken)?;
    Ok(with_routing(envelope::ok(pushed), &state.hub, caller.key()))
}

#[utoipa::path(
    put,
    path = "/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    tag = "tokens",
    operation_id = "put_token",
    summary = "Push (create or replace) a token",
    description = "The body is a complete `Token`; its `country_code`, `party_id`, `uid` (and `type`, when `?type` is given) must match the URL. Unknown fields are kept. A `last_updated` older than the stored one, or more than `http.max_future_skew_secs` (default a day) ahead of the hub's clock, is refused (OCPI 2001) and changes nothing. Only an eMSP of the caller's credentials token may write under a party.",
    security(("credentials_token" = [])),
    params(
        crate::ocpi::v2_3_0::schema::TokenPath,
        TypeQuery,
    ),
    request_body(content = crate::ocpi::v2_3_0::schema::Token, content_type = "application/json", description = "The complete token."),
    responses(
        (status = 201, description = "OCPI 1000, no `data`: the token was created.", body = crate::ocpi::common::schema::EmptyResponse),
        (status = 200, description = "OCPI 1000, no `data`: the token was replaced. Or OCPI 2001 (no `data`, `status_message` names the field): the body breaks a rule, differs from the URL, or its `last_updated` is older than the stored token's or too far in the future.", body = crate::ocpi::common::schema::EmptyResponse),
        (status = 400, response = crate::ocpi::common::responses::NotJson),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 403, response = crate::ocpi::common::responses::Forbidden),
        (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn put(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let owner = PartyKey::parse(&path.0, &path.1)?;
    caller.ensure_owns(&owner)?;
    let uid = TokenUid::parse("token_uid", &path.2)?;
    let write = validate_token(body.object()?)?;
    if write.key.owner != owner {
        return Err(Error::invalid(
            "country_code/party_id",
            "the body's owner differs from the URL's",
        )
        .into());
    }
    if write.key.uid != uid {
        return Err(Error::invalid("uid", "the body's uid differs from the URL's").into());
    }
    if let Some(t) = &query.token_type {
        if TokenType::parse("type", t)? != write.key.token_type {
            return Err(Error::invalid("type", "?type differs from the body's type").into());
        }
    }
    let outcome = tokens::put(&state.store, write, state.max_future_skew).await?;
    let status = match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::Replaced => StatusCode::OK,
        PutOutcome::Stale => return Err(stale().into()),
        PutOutcome::Invalid(e) => return Err(Error::Invalid(e).into()),
    };
    Ok(with_routing(
        envelope::ok_empty(status),
        &state.hub,
        caller.key(),
    ))
}

#[utoipa::path(
    patch,
    path = "/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    tag = "tokens",
    operation_id = "patch_token",
    summary = "Change some fields of a pushed token",
    description = "Fields given replace the stored ones, `null` removes an optional field; `last_updated` is required, must not be older than the stored one nor more than `http.max_future_skew_secs` ahead of the hub's clock. The identifying fields cannot change and the merged token must be valid.",
    security(("credentials_token" = [])),
    params(
        crate::ocpi::v2_3_0::schema::TokenPath,
        TypeQuery,
    ),
    request_body(content = crate::ocpi::v2_3_0::schema::TokenPatch, content_type = "application/json", description = "The fields to change, with `last_updated`."),
    responses(
        (status = 200, description = "OCPI 1000, no `data`: applied. Or OCPI 2001 (no `data`): `last_updated` missing, stale or too far in the future, or the merged token breaks a rule.", body = crate::ocpi::common::schema::EmptyResponse),
        (status = 400, response = crate::ocpi::common::responses::NotJson),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 403, response = crate::ocpi::common::responses::Forbidden),
        (status = 404, response = crate::ocpi::common::responses::UnknownToken),
        (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn patch(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let key = url_key(&path, &query)?;
    caller.ensure_owns(&key.owner)?;
    let patch = body.object()?;
    if patch.get("last_updated").is_none_or(|v| v.is_null()) {
        return Err(Error::invalid("last_updated", "is required in a PATCH").into());
    }
    let outcome = tokens::patch(&state.store, key, patch, state.max_future_skew).await?;
    match outcome {
        PatchOutcome::Applied => Ok(with_routing(
            envelope::ok_empty(StatusCode::OK),
            &state.hub,
            caller.key(),
        )),
        PatchOutcome::Unknown => Err(Error::UnknownToken.into()),
        PatchOutcome::Stale => Err(stale().into()),
        PatchOutcome::Invalid(e) => Err(Error::Invalid(e).into()),
    }
}
