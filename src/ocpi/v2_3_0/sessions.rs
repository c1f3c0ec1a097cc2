//! Sessions receiver interface: CPOs push their sessions so the hub knows which tokens are in use.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::domain::ids::{CiString36, PartyKey};
use crate::domain::session::validate_session;
use crate::error::Error;
use crate::ocpi::common::auth::{Caller, CpoRole};
use crate::ocpi::common::body::JsonBody;
use crate::ocpi::common::envelope;
use crate::ocpi::common::routing::with_routing;
use crate::ocpi::common::OcpiError;
use crate::service::sessions::{self, WriteOutcome};
use crate::service::AppState;

fn url_parts(path: &(String, String, String)) -> Result<(PartyKey, CiString36), Error> {
    Ok((
        PartyKey::parse(&path.0, &path.1)?,
        CiString36::parse("session_id", &path.2)?,
    ))
}

fn answer(
    outcome: WriteOutcome,
    state: &AppState,
    caller: &Caller<CpoRole>,
) -> Result<HttpResponse, OcpiError> {
    let status = match outcome {
        WriteOutcome::Created => StatusCode::CREATED,
        WriteOutcome::Updated => StatusCode::OK,
        WriteOutcome::Unknown => return Err(Error::NotFound("unknown session".into()).into()),
        WriteOutcome::Stale => {
            return Err(Error::invalid(
                "last_updated",
                "is older than the stored session's; the update was not applied",
            )
            .into())
        }
        WriteOutcome::Invalid(e) => return Err(Error::Invalid(e).into()),
    };
    Ok(with_routing(
        envelope::ok_empty(status),
        &state.hub,
        caller.key(),
    ))
}

#[utoipa::path(
    get,
    path = "/receiver/sessions/{country_code}/{party_id}/{session_id}",
    tag = "sessions",
    operation_id = "get_session",
    summary = "Read back a session the CPO pushed",
    description = "The session as stored (unknown fields included). Only the caller's own sessions: another party's session answers as unknown.",
    security(("credentials_token" = [])),
    params(
        crate::ocpi::v2_3_0::schema::SessionPath,
    ),
    responses(
        (status = 200, description = "OCPI 1000 with the session; or OCPI 2001 without `data` when a URL parameter breaks a rule.", body = crate::ocpi::v2_3_0::schema::SessionResponse),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 403, response = crate::ocpi::common::responses::Forbidden),
        (status = 404, response = crate::ocpi::common::responses::UnknownSession),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn get(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let (owner, id) = url_parts(&path)?;
    let unknown = || Error::NotFound("unknown session".into());
    if !caller.owns(&owner) {
        return Err(unknown().into());
    }
    let stored = sessions::stored(&state.store, owner, id)
        .await?
        .ok_or_else(unknown)?;
    Ok(with_routing(envelope::ok(stored), &state.hub, caller.key()))
}

#[utoipa::path(
    put,
    path = "/receiver/sessions/{country_code}/{party_id}/{session_id}",
    tag = "sessions",
    operation_id = "put_session",
    summary = "Push (create or replace) a session",
    description = "The body is a complete `Session`; its `country_code`, `party_id` and `id` must match the URL. The session's status moves its token's usage: PENDING, ACTIVE and RESERVATION hold the token, taking over the hold of its `authorization_reference` (among the holds of that token), or without a reference the token's oldest hold made by the same CPO. A session that took over a hold counts for `authorization.session_stale_hours` (24 h) after each update, one that took over none only for `authorization.unmatched_session_minutes` (30 min). COMPLETED and INVALID free the token, also on a first push: then they free the hold the session would have taken over. The hub keeps the most recent `retention.session_charging_periods` (100) charging periods. A `last_updated` older than the stored one, or more than `http.max_future_skew_secs` (default a day) ahead of the hub's clock, is refused (OCPI 2001). Only a CPO of the caller's credentials token may write under a party.",
    security(("credentials_token" = [])),
    params(
        crate::ocpi::v2_3_0::schema::SessionPath,
    ),
    request_body(content = crate::ocpi::v2_3_0::schema::Session, content_type = "application/json", description = "The complete session."),
    responses(
        (status = 201, description = "OCPI 1000, no `data`: the session was created.", body = crate::ocpi::common::schema::EmptyResponse),
        (status = 200, description = "OCPI 1000, no `data`: the session was replaced. Or OCPI 2001 (no `data`, `status_message` names the field): the body breaks a rule, differs from the URL, or its `last_updated` is older than the stored session's or too far in the future.", body = crate::ocpi::common::schema::EmptyResponse),
        (status = 400, response = crate::ocpi::common::responses::NotJson),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 403, response = crate::ocpi::common::responses::Forbidden),
        (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn put(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let (owner, id) = url_parts(&path)?;
    caller.ensure_owns(&owner)?;
    let write = validate_session(body.object()?)?;
    if write.owner != owner {
        return Err(Error::invalid(
            "country_code/party_id",
            "the body's owner differs from the URL's",
        )
        .into());
    }
    if write.id != id {
        return Err(Error::invalid("id", "the body's id differs from the URL's").into());
    }
    let outcome =
        sessions::put(&state.store, &state.sessions, state.max_future_skew, write).await?;
    answer(outcome, &state, &caller)
}

#[utoipa::path(
    patch,
    path = "/receiver/sessions/{country_code}/{party_id}/{session_id}",
    tag = "sessions",
    operation_id = "patch_session",
    summary = "Change some fields of a pushed session",
    description = "Fields given replace the stored ones, `null` removes an optional field, `charging_periods` are appended; `last_updated` is required, must not be older than the stored one nor more than `http.max_future_skew_secs` ahead of the hub's clock. The merged session must be valid and keep its identity. A status change moves the token's usage as with PUT. The stored session is bounded, so that a session patched for hours does not grow without end: it keeps only the most recent `retention.session_charging_periods` (100) charging periods, and should it still exceed `http.max_body_bytes` the oldest periods and then the fields OCPI does not define are dropped. Totals (`kwh`, `total_cost`), status and the other OCPI fields always stay: no PATCH is refused for the session's size, and a COMPLETED always applies.",
    security(("credentials_token" = [])),
    params(
        crate::ocpi::v2_3_0::schema::SessionPath,
    ),
    request_body(content = crate::ocpi::v2_3_0::schema::SessionPatch, content_type = "application/json", description = "The fields to change, with `last_updated`."),
    responses(
        (status = 200, description = "OCPI 1000, no `data`: applied. Or OCPI 2001 (no `data`): `last_updated` missing, stale or too far in the future, or the merged session breaks a rule.", body = crate::ocpi::common::schema::EmptyResponse),
        (status = 400, response = crate::ocpi::common::responses::NotJson),
        (status = 401, response = crate::ocpi::common::responses::Unauthorized),
        (status = 403, response = crate::ocpi::common::responses::Forbidden),
        (status = 404, response = crate::ocpi::common::responses::UnknownSession),
        (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
        (status = 500, response = crate::ocpi::common::responses::InternalError),
        (status = 503, response = crate::ocpi::common::responses::Unavailable),
    )
)]
pub async fn patch(
    caller: Caller<CpoRole>,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OcpiError> {
    let (owner, id) = url_parts(&path)?;
    caller.ensure_owns(&owner)?;
    let patch = body.object()?;
    if patch.get("last_updated").is_none_or(|v| v.is_null()) {
        return Err(Error::invalid("last_updated", "is required in a PATCH").into());
    }
    let outcome = sessions::patch(
        &state.store,
        &state.sessions,
        state.max_future_skew,
        owner,
        id,
        patch,
    )
    .await?;
    answer(outcome, &state, &caller)
}
