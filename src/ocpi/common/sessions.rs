//! Sessions receiver interface: CPOs push their sessions so the hub knows which tokens are in use.
//! One implementation for every version; [`sessions_handlers`] gives each version its handlers
//! and OpenAPI operations.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::domain::ids::{CiString36, PartyKey};
use crate::domain::session::validate_session;
use crate::domain::version::OcpiVersion;
use crate::error::Error;
use crate::ocpi::common::auth::{Caller, CpoRole};
use crate::ocpi::common::body::JsonBody;
use crate::ocpi::common::envelope;
use crate::ocpi::common::OcpiError;
use crate::service::sessions::{self, WriteOutcome};
use crate::service::AppState;

/// `{country_code}/{party_id}/{session_id}`.
pub type SessionPath = (String, String, String);

fn url_parts(path: &SessionPath) -> Result<(PartyKey, CiString36), Error> {
    Ok((
        PartyKey::parse(&path.0, &path.1)?,
        CiString36::parse("session_id", &path.2)?,
    ))
}

fn unknown() -> Error {
    Error::NotFound("unknown session".into())
}

fn answer(outcome: WriteOutcome) -> Result<HttpResponse, OcpiError> {
    let status = match outcome {
        WriteOutcome::Created => StatusCode::CREATED,
        WriteOutcome::Updated => StatusCode::OK,
        WriteOutcome::Unknown => return Err(unknown().into()),
        WriteOutcome::Stale => {
            return Err(Error::invalid(
                "last_updated",
                "is older than the stored session's; the update was not applied",
            )
            .into())
        }
        WriteOutcome::Invalid(e) => return Err(Error::Invalid(e).into()),
    };
    Ok(envelope::ok_empty(status))
}

pub async fn get(
    caller: Caller<CpoRole>,
    path: SessionPath,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let (owner, id) = url_parts(&path)?;
    if !caller.owns(&owner) {
        return Err(unknown().into());
    }
    let stored = sessions::stored(&state.store, owner, id)
        .await?
        .ok_or_else(unknown)?;
    Ok(envelope::ok(stored))
}

/// Stored as pushed, whatever the version: the usage rules read only what the versions share.
pub async fn put(
    version: OcpiVersion,
    caller: Caller<CpoRole>,
    path: SessionPath,
    body: JsonBody,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let (owner, id) = url_parts(&path)?;
    caller.ensure_owns(&owner)?;
    let body = body.object()?;
    version.check_session_fields(&body)?;
    let write = validate_session(body)?;
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
    answer(sessions::put(&state.store, &state.sessions, state.max_future_skew, write).await?)
}

pub async fn patch(
    version: OcpiVersion,
    caller: Caller<CpoRole>,
    path: SessionPath,
    body: JsonBody,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let (owner, id) = url_parts(&path)?;
    caller.ensure_owns(&owner)?;
    let patch = body.object()?;
    if patch.get("last_updated").is_none_or(|v| v.is_null()) {
        return Err(Error::invalid("last_updated", "is required in a PATCH").into());
    }
    version.check_session_fields(&patch)?;
    answer(
        sessions::patch(
            &state.store,
            &state.sessions,
            state.max_future_skew,
            owner,
            id,
            patch,
        )
        .await?,
    )
}

/// The sessions receiver handlers of one version (`get`, `put`, `patch`), with their OpenAPI
/// operations: the version's module (whose `schema` has the wire types), its `OcpiVersion`
/// variant and the operation ids' suffix.
macro_rules! sessions_handlers {
    ($module:ident, $version:ident, $id_suffix:literal) => {
        use actix_web::web;
        use actix_web::HttpResponse;

        use crate::domain::version::OcpiVersion;
        use crate::ocpi::common::auth::{Caller, CpoRole};
        use crate::ocpi::common::body::JsonBody;
        use crate::ocpi::common::sessions as shared;
        use crate::ocpi::common::OcpiError;
        use crate::service::AppState;

        #[utoipa::path(
            get,
            path = "/receiver/sessions/{country_code}/{party_id}/{session_id}",
            tag = "sessions",
            operation_id = concat!("get_session", $id_suffix),
            summary = "Read back a session the CPO pushed",
            description = "The session as stored (unknown fields included), whichever version pushed it. Only the caller's own sessions: another party's session answers as unknown.",
            security(("credentials_token" = [])),
            params(
                crate::ocpi::common::schema::SessionPath,
            ),
            responses(
                (status = 200, description = "OCPI 1000 with the session; or OCPI 2001 without `data` when a URL parameter breaks a rule.", body = crate::ocpi::$module::schema::SessionResponse),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 403, response = crate::ocpi::common::responses::Forbidden),
                (status = 404, response = crate::ocpi::common::responses::UnknownSession),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn get(
            caller: Caller<CpoRole>,
            path: web::Path<shared::SessionPath>,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            shared::get(caller, path.into_inner(), &state).await
        }

        #[utoipa::path(
            put,
            path = "/receiver/sessions/{country_code}/{party_id}/{session_id}",
            tag = "sessions",
            operation_id = concat!("put_session", $id_suffix),
            summary = "Push (create or replace) a session",
            description = "The body is a complete `Session`; its `country_code`, `party_id` and `id` must match the URL. The session's status moves its token's usage: PENDING, ACTIVE and RESERVATION hold the token, taking over the hold of its `authorization_reference` (among the holds of that token), or without a reference the token's oldest hold made by the same CPO. A session that took over a hold counts for `authorization.session_stale_hours` (24 h) after each update, one that took over none only for `authorization.unmatched_session_minutes` (30 min). COMPLETED and INVALID free the token, also on a first push: then they free the hold the session would have taken over. The hub keeps the most recent `retention.session_charging_periods` (100) charging periods. A `last_updated` older than the stored one, or more than `http.max_future_skew_secs` (default a day) ahead of the hub's clock, is refused (OCPI 2001). Only a CPO of the caller's credentials token may write under a party.",
            security(("credentials_token" = [])),
            params(
                crate::ocpi::common::schema::SessionPath,
            ),
            request_body(content = crate::ocpi::$module::schema::Session, content_type = "application/json", description = "The complete session."),
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
            path: web::Path<shared::SessionPath>,
            body: JsonBody,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let version = OcpiVersion::$version;
            shared::put(version, caller, path.into_inner(), body, &state).await
        }

        #[utoipa::path(
            patch,
            path = "/receiver/sessions/{country_code}/{party_id}/{session_id}",
            tag = "sessions",
            operation_id = concat!("patch_session", $id_suffix),
            summary = "Change some fields of a pushed session",
            description = "Fields given replace the stored ones, `null` removes an optional field, `charging_periods` are appended; `last_updated` is required, must not be older than the stored one nor more than `http.max_future_skew_secs` ahead of the hub's clock. The fields given must have this version's shape (`total_cost`, `cdr_token.type`); the merged session must be valid and keep its identity, whichever version pushed it. A status change moves the token's usage as with PUT. The stored session is bounded, so that a session patched for hours does not grow without end: it keeps only the most recent `retention.session_charging_periods` (100) charging periods, and should it still exceed `http.max_body_bytes` the oldest periods and then the fields OCPI does not define are dropped. Totals (`kwh`, `total_cost`), status and the other OCPI fields always stay: no PATCH is refused for the session's size, and a COMPLETED always applies.",
            security(("credentials_token" = [])),
            params(
                crate::ocpi::common::schema::SessionPath,
            ),
            request_body(content = crate::ocpi::$module::schema::SessionPatch, content_type = "application/json", description = "The fields to change, with `last_updated`."),
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
            path: web::Path<shared::SessionPath>,
            body: JsonBody,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let version = OcpiVersion::$version;
            shared::patch(version, caller, path.into_inner(), body, &state).await
        }
    };
}
pub(crate) use sessions_handlers;
