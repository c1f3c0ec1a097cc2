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
use crate::domain::party::Role;
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

fn ensure_writer(caller: &Caller<CpoRole>, owner: &PartyKey) -> Result<(), ApiError> {
    if caller.owns(owner, Role::Cpo) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{owner} is not a CPO of this credentials token"
        )))
    }
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

pub async fn get(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = url_parts(&path)?;
    let unknown = || ApiError::NotFound("unknown session".into());
    if !caller.owns(&owner, Role::Cpo) {
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

pub async fn put(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = url_parts(&path)?;
    ensure_writer(&caller, &owner)?;
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

pub async fn patch(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = url_parts(&path)?;
    ensure_writer(&caller, &owner)?;
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
