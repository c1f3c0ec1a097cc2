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
use crate::domain::party::Role;
use crate::domain::token::{apply_token_patch, validate_token, TokenKey, TokenType};
use crate::domain::ValidationError;
use crate::store::tokens::{self, PutOutcome};

#[derive(Deserialize)]
pub struct TypeQuery {
    #[serde(rename = "type")]
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

/// Writing under a party that is not the caller's is refused outright.
fn ensure_writer(caller: &Caller<EmspRole>, owner: &PartyKey) -> Result<(), ApiError> {
    if caller.owns(owner, Role::Emsp) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{owner} is not an eMSP of this credentials token"
        )))
    }
}

pub async fn get(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = url_key(&path, &query)?;
    // Another party's token answers as unknown.
    if !caller.owns(&key.owner, Role::Emsp) {
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

pub async fn put(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let owner = PartyKey::parse(&path.0, &path.1)?;
    ensure_writer(&caller, &owner)?;
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

pub async fn patch(
    caller: Caller<EmspRole>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeQuery>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = url_key(&path, &query)?;
    ensure_writer(&caller, &key.owner)?;
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
            Ok(match tokens::put(conn, &write, Utc::now())? {
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
