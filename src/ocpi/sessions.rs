//! Sessions receiver interface: CPOs push their sessions so the hub knows which tokens are in use.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};

use super::auth::{Caller, CpoRole};
use super::body::JsonBody;
use super::envelope;
use super::error::ApiError;
use super::routing::with_routing;
use crate::app::AppState;
use crate::config::AuthorizationConfig;
use crate::domain::datetime::storage_precision;
use crate::domain::ids::{CiString36, PartyKey};
use crate::domain::session::{apply_session_patch, validate_session, SessionWrite};
use crate::domain::ValidationError;
use crate::store::sessions::{self, SessionRow};
use crate::store::{tokens, usage, Conn, StoreResult};

fn url_parts(path: &(String, String, String)) -> Result<(PartyKey, CiString36), ApiError> {
    Ok((
        PartyKey::parse(&path.0, &path.1)?,
        CiString36::parse("session_id", &path.2)?,
    ))
}

enum WriteOutcome {
    Created,
    Updated,
    Unknown,
    Stale,
    Invalid(ValidationError),
}

/// Stores the session and brings its token's usage in line with it.
fn store_session(
    conn: &mut Conn<'_>,
    existing: Option<&SessionRow>,
    write: &SessionWrite,
    settings: &AuthorizationConfig,
    now: DateTime<Utc>,
) -> StoreResult<WriteOutcome> {
    if let Some(row) = existing {
        if storage_precision(write.last_updated) < row.last_updated {
            return Ok(WriteOutcome::Stale);
        }
    }
    let token_id = tokens::find_by_key(conn, &write.token, true)?.map(|t| t.id);
    let session_id = sessions::upsert(conn, existing, write, token_id, now)?;
    usage::sync_session(
        conn,
        &usage::SessionUse {
            session_id,
            token_id,
            cpo: &write.owner,
            uses_token: write.status.uses_token(),
            reference_key: write.authorization_reference.as_ref().map(|r| r.key()),
            now,
            until: now + chrono::Duration::hours(settings.session_stale_hours as i64),
        },
    )?;
    Ok(if existing.is_some() {
        WriteOutcome::Updated
    } else {
        WriteOutcome::Created
    })
}

fn answer(
    outcome: WriteOutcome,
    state: &AppState,
    caller: &Caller<CpoRole>,
) -> Result<HttpResponse, ApiError> {
    let status = match outcome {
        WriteOutcome::Created => StatusCode::CREATED,
        WriteOutcome::Updated => StatusCode::OK,
        WriteOutcome::Unknown => return Err(ApiError::NotFound("unknown session".into())),
        WriteOutcome::Stale => {
            return Err(ApiError::invalid(
                "last_updated",
                "is older than the stored session's; the update was not applied",
            ))
        }
        WriteOutcome::Invalid(e) => return Err(ApiError::Invalid(e)),
    };
    Ok(with_routing(
        envelope::ok_empty(status),
        &state.hub,
        caller.key(),
    ))
}

#[utoipa::path(
    get,
    path = "/ocpi/2.3.0/receiver/sessions/{country_code}/{party_id}/{session_id}",
    tag = "sessions",
    operation_id = "get_session",
    summary = "Read back a session the CPO pushed",
    description = "The session as stored (unknown fields included). Only the caller's own sessions: another party's session answers as unknown.",
    security(("credentials_token" = [])),
    params(
        crate::openapi::SessionPath,
    ),
    responses(
        (status = 200, description = "OCPI 1000 with the session; or OCPI 2001 without `data` when a URL parameter breaks a rule.", body = crate::openapi::SessionResponse),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::UnknownSession),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn get(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = url_parts(&path)?;
    let unknown = || ApiError::NotFound("unknown session".into());
    if !caller.owns(&owner) {
        return Err(unknown());
    }
    let row = state
        .store
        .read(move |conn| sessions::find(conn, &owner, &id, false))
        .await?
        .ok_or_else(unknown)?;
    Ok(with_routing(
        envelope::ok(row.stored()?),
        &state.hub,
        caller.key(),
    ))
}

#[utoipa::path(
    put,
    path = "/ocpi/2.3.0/receiver/sessions/{country_code}/{party_id}/{session_id}",
    tag = "sessions",
    operation_id = "put_session",
    summary = "Push (create or replace) a session",
    description = "The body is a complete `Session`; its `country_code`, `party_id` and `id` must match the URL. The session's status moves its token's usage: PENDING, ACTIVE and RESERVATION hold the token (taking over the hold of its `authorization_reference`, or else the token's oldest hold), COMPLETED and INVALID free it. A `last_updated` older than the stored one is refused (OCPI 2001). Only a CPO of the caller's credentials token may write under a party.",
    security(("credentials_token" = [])),
    params(
        crate::openapi::SessionPath,
    ),
    request_body(content = crate::openapi::Session, content_type = "application/json", description = "The complete session."),
    responses(
        (status = 201, description = "OCPI 1000, no `data`: the session was created.", body = crate::openapi::EmptyResponse),
        (status = 200, description = "OCPI 1000, no `data`: the session was replaced. Or OCPI 2001 (no `data`, `status_message` names the field): the body breaks a rule, differs from the URL, or its `last_updated` is older than the stored session's.", body = crate::openapi::EmptyResponse),
        (status = 400, response = crate::openapi::NotJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn put(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = url_parts(&path)?;
    caller.ensure_owns(&owner)?;
    let write = validate_session(body.object()?)?;
    if write.owner != owner {
        return Err(ApiError::invalid(
            "country_code/party_id",
            "the body's owner differs from the URL's",
        ));
    }
    if write.id != id {
        return Err(ApiError::invalid(
            "id",
            "the body's id differs from the URL's",
        ));
    }
    let settings = state.authorization.clone();
    let outcome = state
        .store
        .write(move |conn| {
            let existing = sessions::find(conn, &owner, &id, true)?;
            store_session(conn, existing.as_ref(), &write, &settings, Utc::now())
        })
        .await?;
    answer(outcome, &state, &caller)
}

#[utoipa::path(
    patch,
    path = "/ocpi/2.3.0/receiver/sessions/{country_code}/{party_id}/{session_id}",
    tag = "sessions",
    operation_id = "patch_session",
    summary = "Change some fields of a pushed session",
    description = "Fields given replace the stored ones, `null` removes an optional field, `charging_periods` are appended; `last_updated` is required and must not be older than the stored one. The merged session must be valid and keep its identity. A status change moves the token's usage as with PUT.",
    security(("credentials_token" = [])),
    params(
        crate::openapi::SessionPath,
    ),
    request_body(content = crate::openapi::SessionPatch, content_type = "application/json", description = "The fields to change, with `last_updated`."),
    responses(
        (status = 200, description = "OCPI 1000, no `data`: applied. Or OCPI 2001 (no `data`): `last_updated` missing or stale, or the merged session breaks a rule.", body = crate::openapi::EmptyResponse),
        (status = 400, response = crate::openapi::NotJson),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::UnknownSession),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn patch(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = url_parts(&path)?;
    caller.ensure_owns(&owner)?;
    let patch = body.object()?;
    if patch.get("last_updated").is_none_or(|v| v.is_null()) {
        return Err(ApiError::invalid("last_updated", "is required in a PATCH"));
    }
    let settings = state.authorization.clone();
    let outcome = state
        .store
        .write(move |conn| {
            let Some(existing) = sessions::find(conn, &owner, &id, true)? else {
                return Ok(WriteOutcome::Unknown);
            };
            let write = match apply_session_patch(&existing.stored()?, patch, &owner, &id) {
                Ok(write) => write,
                Err(e) => return Ok(WriteOutcome::Invalid(e)),
            };
            store_session(conn, Some(&existing), &write, &settings, Utc::now())
        })
        .await?;
    answer(outcome, &state, &caller)
}
