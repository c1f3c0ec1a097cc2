//! Tokens receiver interface: eMSPs push (`PUT`, `PATCH`) and read back (`GET`) their own tokens.
//! One implementation for every version; [`tokens_receiver_handlers`] gives each version its
//! handlers and OpenAPI operations.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::token::{validate_token, TokenKey};
use crate::domain::version::OcpiVersion;
use crate::error::Error;
use crate::ocpi::common::auth::{Caller, EmspRole};
use crate::ocpi::common::body::JsonBody;
use crate::ocpi::common::envelope;
use crate::ocpi::common::OcpiError;
use crate::service::tokens::{self, PatchOutcome, PutOutcome};
use crate::service::AppState;

/// `{country_code}/{party_id}/{token_uid}`.
pub type TokenPath = (String, String, String);

/// The token named by the URL; `?type` defaults to RFID.
fn url_key(
    version: OcpiVersion,
    path: &TokenPath,
    token_type: Option<&str>,
) -> Result<TokenKey, Error> {
    Ok(TokenKey {
        owner: PartyKey::parse(&path.0, &path.1)?,
        uid: TokenUid::parse("token_uid", &path.2)?,
        token_type: version.token_type_query(token_type)?,
    })
}

fn stale() -> Error {
    Error::invalid(
        "last_updated",
        "is older than the stored token's; the update was not applied",
    )
}

pub async fn get(
    version: OcpiVersion,
    caller: Caller<EmspRole>,
    path: TokenPath,
    token_type: Option<String>,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let key = url_key(version, &path, token_type.as_deref())?;
    // Another party's token answers as unknown.
    if !caller.owns(&key.owner) {
        return Err(Error::UnknownToken.into());
    }
    let pushed = tokens::pushed(&state.store, key)
        .await?
        .ok_or(Error::UnknownToken)?;
    Ok(envelope::ok(pushed))
}

pub async fn put(
    version: OcpiVersion,
    caller: Caller<EmspRole>,
    path: TokenPath,
    token_type: Option<String>,
    body: JsonBody,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let owner = PartyKey::parse(&path.0, &path.1)?;
    caller.ensure_owns(&owner)?;
    let uid = TokenUid::parse("token_uid", &path.2)?;
    let body = body.object()?;
    version.check_token_fields(&body)?;
    let write = validate_token(body)?;
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
    if let Some(t) = &token_type {
        if version.token_type("type", t)? != write.key.token_type {
            return Err(Error::invalid("type", "?type differs from the body's type").into());
        }
    }
    let status = match tokens::put(
        &state.store,
        state.token_puts.as_ref(),
        write,
        state.max_future_skew,
    )
    .await?
    {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::Replaced => StatusCode::OK,
        PutOutcome::Stale => return Err(stale().into()),
        PutOutcome::Invalid(e) => return Err(Error::Invalid(e).into()),
    };
    Ok(envelope::ok_empty(status))
}

pub async fn patch(
    version: OcpiVersion,
    caller: Caller<EmspRole>,
    path: TokenPath,
    token_type: Option<String>,
    body: JsonBody,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let key = url_key(version, &path, token_type.as_deref())?;
    caller.ensure_owns(&key.owner)?;
    let patch = body.object()?;
    if patch.get("last_updated").is_none_or(|v| v.is_null()) {
        return Err(Error::invalid("last_updated", "is required in a PATCH").into());
    }
    version.check_token_fields(&patch)?;
    match tokens::patch(&state.store, key, patch, state.max_future_skew).await? {
        PatchOutcome::Applied => Ok(envelope::ok_empty(StatusCode::OK)),
        PatchOutcome::Unknown => Err(Error::UnknownToken.into()),
        PatchOutcome::Stale => Err(stale().into()),
        PatchOutcome::Invalid(e) => Err(Error::Invalid(e).into()),
    }
}

/// The tokens receiver handlers of one version (`get`, `put`, `patch`), with their OpenAPI
/// operations: the version's module (whose `schema` has the wire types), its `OcpiVersion`
/// variant, the operation ids' suffix, and what the version adds to the `PUT` description.
macro_rules! tokens_receiver_handlers {
    ($module:ident, $version:ident, $id_suffix:literal, put_note = $put_note:literal) => {
        use actix_web::web;
        use actix_web::HttpResponse;

        use crate::domain::version::OcpiVersion;
        use crate::ocpi::common::auth::{Caller, EmspRole};
        use crate::ocpi::common::body::JsonBody;
        use crate::ocpi::common::tokens_receiver as shared;
        use crate::ocpi::common::OcpiError;
        use crate::service::AppState;

        #[derive(serde::Deserialize, utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        pub struct TypeQuery {
            /// The token's `TokenType`; `RFID` when absent.
            #[serde(rename = "type")]
            #[param(value_type = Option<crate::ocpi::$module::schema::TokenType>)]
            token_type: Option<String>,
        }

        #[utoipa::path(
            get,
            path = "/receiver/tokens/{country_code}/{party_id}/{token_uid}",
            tag = "tokens",
            operation_id = concat!("get_pushed_token", $id_suffix),
            summary = "Read back a token the eMSP pushed",
            description = "The token exactly as pushed (unknown fields included), for an eMSP to reconcile. Only the caller's own tokens: another party's token answers as unknown.",
            security(("credentials_token" = [])),
            params(
                crate::ocpi::common::schema::TokenPath,
                TypeQuery,
            ),
            responses(
                (status = 200, description = "OCPI 1000 with the token as pushed; or OCPI 2001 without `data` when a URL parameter breaks a rule.", body = crate::ocpi::$module::schema::TokenResponse),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 403, response = crate::ocpi::common::responses::Forbidden),
                (status = 404, response = crate::ocpi::common::responses::UnknownToken),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn get(
            caller: Caller<EmspRole>,
            path: web::Path<shared::TokenPath>,
            query: web::Query<TypeQuery>,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let version = OcpiVersion::$version;
            let token_type = query.into_inner().token_type;
            shared::get(version, caller, path.into_inner(), token_type, &state).await
        }

        #[utoipa::path(
            put,
            path = "/receiver/tokens/{country_code}/{party_id}/{token_uid}",
            tag = "tokens",
            operation_id = concat!("put_token", $id_suffix),
            summary = "Push (create or replace) a token",
            description = concat!("The body is a complete `Token`; its `country_code`, `party_id`, `uid` (and `type`, when `?type` is given) must match the URL. Unknown fields are kept. A `last_updated` older than the stored one, or more than `http.max_future_skew_secs` (default a day) ahead of the hub's clock, is refused (OCPI 2001) and changes nothing. Only an eMSP of the caller's credentials token may write under a party.", $put_note),
            security(("credentials_token" = [])),
            params(
                crate::ocpi::common::schema::TokenPath,
                TypeQuery,
            ),
            request_body(content = crate::ocpi::$module::schema::Token, content_type = "application/json", description = "The complete token."),
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
            path: web::Path<shared::TokenPath>,
            query: web::Query<TypeQuery>,
            body: JsonBody,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let version = OcpiVersion::$version;
            let token_type = query.into_inner().token_type;
            shared::put(version, caller, path.into_inner(), token_type, body, &state).await
        }

        #[utoipa::path(
            patch,
            path = "/receiver/tokens/{country_code}/{party_id}/{token_uid}",
            tag = "tokens",
            operation_id = concat!("patch_token", $id_suffix),
            summary = "Change some fields of a pushed token",
            description = "Fields given replace the stored ones, `null` removes an optional field; `last_updated` is required, must not be older than the stored one nor more than `http.max_future_skew_secs` ahead of the hub's clock. The identifying fields cannot change and the merged token must be valid.",
            security(("credentials_token" = [])),
            params(
                crate::ocpi::common::schema::TokenPath,
                TypeQuery,
            ),
            request_body(content = crate::ocpi::$module::schema::TokenPatch, content_type = "application/json", description = "The fields to change, with `last_updated`."),
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
            path: web::Path<shared::TokenPath>,
            query: web::Query<TypeQuery>,
            body: JsonBody,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let version = OcpiVersion::$version;
            let token_type = query.into_inner().token_type;
            shared::patch(version, caller, path.into_inner(), token_type, body, &state).await
        }
    };
}
pub(crate) use tokens_receiver_handlers;
