//! Tokens sender interface: the paginated token list (CPOs see every eMSP's tokens, or under
//! explicit roaming agreements those of their agreed eMSPs; an eMSP its own) and real-time
//! authorization (CPOs only). One implementation for every version; [`tokens_sender_handlers`]
//! gives each version its handlers and OpenAPI operations.

use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::agreement::AgreementMode;
use crate::domain::authorization::{AllowedType, LocationRequest};
use crate::domain::ids::{CiString36, TokenUid};
use crate::domain::party::Role;
use crate::domain::token::TokenType;
use crate::domain::version::OcpiVersion;
use crate::error::Error;
use crate::ocpi::common::auth::{Caller, CpoRole, TokenReaderRole};
use crate::ocpi::common::body::JsonBody;
use crate::ocpi::common::envelope;
use crate::ocpi::common::pagination::PageQuery;
use crate::ocpi::common::routing::with_routing;
use crate::ocpi::common::versions::{base_url, TOKENS_SENDER};
use crate::ocpi::common::OcpiError;
use crate::ops::request_context::RequestIds;
use crate::service::authorize::{self, AuthorizeOutcome, AuthorizeRequest};
use crate::service::tokens::{self, ListFilter};
use crate::service::AppState;

pub async fn list(
    version: OcpiVersion,
    caller: Caller<TokenReaderRole>,
    query: PageQuery,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let page = query.page(&state.pagination)?;
    let filter = ListFilter {
        owner: (caller.party.role == Role::Emsp).then(|| {
            (
                caller.key().country_code.key().to_owned(),
                caller.key().party_id.key().to_owned(),
            )
        }),
        // Under explicit agreements a CPO sees the tokens of the eMSPs it deals with only.
        agreed_with_cpo: (caller.party.role == Role::Cpo
            && state.agreements == AgreementMode::Explicit)
            .then(|| caller.key().clone()),
        date_from: page.date_from,
        date_to: page.date_to,
        version,
    };
    let found = tokens::effective_page(&state.store, filter, page.offset, page.limit).await?;
    if version == OcpiVersion::V2_2_1 {
        crate::ops::metrics::record_hidden_tokens_2_2_1("list", found.hidden.max(0) as u64);
    }
    let returned = found.tokens.len();
    Ok(page.headers(
        envelope::ok(found.tokens),
        returned,
        found.total,
        &format!("{}{TOKENS_SENDER}", base_url(state, version)),
    ))
}

#[derive(Deserialize)]
struct LocationReferencesDoc {
    location_id: Option<Value>,
    evse_uids: Option<Vec<Value>>,
}

/// An empty body or `null` means no location; anything else must be `LocationReferences`.
fn location_from_body(body: Option<&Value>) -> Result<Option<LocationRequest>, Error> {
    let value = match body {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v.clone(),
    };
    let doc: LocationReferencesDoc = crate::domain::from_json(value)?;
    let location_id = match doc.location_id {
        Some(Value::String(s)) => CiString36::parse("location_id", &s)?,
        Some(_) => return Err(Error::invalid("location_id", "must be a string")),
        None => {
            return Err(Error::invalid(
                "location_id",
                "is required in LocationReferences",
            ))
        }
    };
    let evse_uids = doc
        .evse_uids
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let field = format!("evse_uids[{i}]");
            v.as_str()
                .ok_or_else(|| Error::invalid(&field, "must be a string"))
                .and_then(|s| CiString36::parse(&field, s).map_err(Error::from))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(LocationRequest {
        location_id,
        evse_uids,
    }))
}

#[derive(Serialize)]
struct DisplayText {
    language: &'static str,
    text: &'static str,
}

#[derive(Serialize)]
struct LocationReferences {
    location_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evse_uids: Vec<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Relayed<T> {
    /// Decided by the hub.
    Hub(T),
    /// What the eMSP answered, relayed as it said it.
    Emsp(Value),
}

#[derive(Serialize)]
struct AuthorizationInfo {
    allowed: AllowedType,
    token: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Relayed<LocationReferences>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<Relayed<DisplayText>>,
}

/// `?type` is read as 2.3.0's open enum over every version: a type the version cannot name is
/// not a broken parameter but a token the version does not know (2004), like any other unknown.
pub async fn authorize(
    version: OcpiVersion,
    caller: Caller<CpoRole>,
    req: HttpRequest,
    uid: String,
    token_type: Option<String>,
    body: JsonBody,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let uid = TokenUid::parse("token_uid", &uid)?;
    // Logs name the token by a fingerprint only, never by its uid.
    let logged_token =
        tracing::enabled!(tracing::Level::DEBUG).then(|| state.keys.fingerprint(uid.key()));
    let token_type = TokenType::from_query(token_type.as_deref())?;
    let location = location_from_body(body.0.as_ref())?;
    // A TO naming the hub itself (GET-all style addressing) does not name an eMSP.
    let owner = caller.to.clone().filter(|to| *to != state.hub);
    let ids = req.extensions().get::<RequestIds>().cloned();
    let request = AuthorizeRequest {
        uid,
        token_type,
        owner,
        requester: caller.key().clone(),
        location: location.clone(),
        request_id: ids.as_ref().map(|ids| ids.request_id.clone()),
        version,
        body: body.0.filter(|b| !b.is_null()),
        correlation_id: ids
            .map(|ids| ids.correlation_id)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    let outcome = authorize::authorize(
        &state.store,
        state.decisions.as_ref(),
        &state.authorization,
        &state.forwarder,
        request,
    )
    .await?;
    let result = outcome.result().as_str();
    crate::ops::metrics::record_decision(result);
    state.console.rollup.record(&outcome);
    if let Some(token) = logged_token {
        tracing::debug!(%token, result, cpo = %caller.key(), "authorization decision");
    }
    let decided = match outcome {
        AuthorizeOutcome::Unknown => return Err(Error::UnknownToken.into()),
        AuthorizeOutcome::Hidden => {
            crate::ops::metrics::record_hidden_tokens_2_2_1("authorize", 1);
            return Err(Error::UnknownToken.into());
        }
        AuthorizeOutcome::Ambiguous => {
            return Err(Error::NotEnoughInformation(
                "several eMSPs hold a token with this uid and type: name the eMSP with the OCPI-to-* headers".into(),
            ).into())
        }
        AuthorizeOutcome::UnknownReceiver(why) => return Err(Error::UnknownReceiver(why).into()),
        AuthorizeOutcome::ForwardTimeout(why) => return Err(Error::ForwardTimeout(why).into()),
        AuthorizeOutcome::NotConnected(why) => {
            return Err(Error::ReceiverNotConnected(why).into())
        }
        AuthorizeOutcome::Decided(d) => d,
    };
    let allowed = decided.allowed == AllowedType::Allowed;
    let token = decided.effective_token()?;
    // The eMSP's answer stands: where it lets the driver charge and what it tells them.
    let (location, info) = match decided.emsp_answer {
        Some(answer) => (
            answer.location.filter(|_| allowed).map(Relayed::Emsp),
            answer.info.map(Relayed::Emsp),
        ),
        None => (
            location.filter(|_| allowed).map(|l| {
                Relayed::Hub(LocationReferences {
                    location_id: l.location_id.as_str().to_owned(),
                    evse_uids: l.evse_uids.iter().map(|e| e.as_str().to_owned()).collect(),
                })
            }),
            decided.reason.info_text().map(|text| {
                Relayed::Hub(DisplayText {
                    language: "en",
                    text,
                })
            }),
        ),
    };
    let info = AuthorizationInfo {
        allowed: decided.allowed,
        token,
        location,
        authorization_reference: decided.reference,
        info,
    };
    // From the token's eMSP, on whose behalf the hub answers.
    Ok(with_routing(
        envelope::ok(info),
        &decided.owner,
        caller.key(),
    ))
}

/// The tokens sender handlers of one version (`list`, `authorize`), with their OpenAPI
/// operations: the version's module (whose `schema` has the wire types), its `OcpiVersion`
/// variant, the operation ids' suffix, and what the version adds to each description.
macro_rules! tokens_sender_handlers {
    (
        $module:ident,
        $version:ident,
        $id_suffix:literal,
        list_note = $list_note:literal,
        authorize_note = $authorize_note:literal
    ) => {
        use actix_web::{web, HttpRequest, HttpResponse};

        use crate::domain::version::OcpiVersion;
        use crate::ocpi::common::auth::{Caller, CpoRole, TokenReaderRole};
        use crate::ocpi::common::body::JsonBody;
        use crate::ocpi::common::pagination::PageQuery;
        use crate::ocpi::common::tokens_sender as shared;
        use crate::ocpi::common::OcpiError;
        use crate::service::AppState;

        #[utoipa::path(
            get,
            path = "/sender/tokens",
            tag = "tokens",
            operation_id = concat!("list_tokens", $id_suffix),
            summary = "The paginated token list",
            description = concat!("Effective tokens (hub policy applied), oldest first. A CPO sees every eMSP's tokens (with `hub.agreements = \"explicit\"`: those of the eMSPs it has a roaming agreement with), an eMSP its own. Follow the `Link` header for the next page.", $list_note),
            security(("credentials_token" = [])),
            params(PageQuery),
            responses(
                (
                    status = 200,
                    description = "OCPI 1000 with one page of tokens; or OCPI 2001 without `data` when `offset`, `limit` or a date breaks a rule.",
                    body = crate::ocpi::$module::schema::TokenListResponse,
                    headers(
                        ("X-Total-Count" = u64, description = "How many tokens match, over all pages."),
                        ("X-Limit" = u64, description = "The largest page the hub serves (`pagination.max_limit`)."),
                        ("Link" = String, description = "`<URL>; rel=\"next\"` of the next page; absent on the last page."),
                    )
                ),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 403, response = crate::ocpi::common::responses::Forbidden),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn list(
            caller: Caller<TokenReaderRole>,
            query: web::Query<PageQuery>,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            shared::list(OcpiVersion::$version, caller, query.into_inner(), &state).await
        }

        #[derive(serde::Deserialize, utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        pub struct AuthorizeQuery {
            /// The token's `TokenType`; `RFID` when absent.
            #[serde(rename = "type")]
            #[param(value_type = Option<crate::ocpi::$module::schema::TokenType>)]
            token_type: Option<String>,
        }

        #[utoipa::path(
            post,
            path = "/sender/tokens/{token_uid}/authorize",
            tag = "tokens",
            operation_id = concat!("authorize_token", $id_suffix),
            summary = "Real-time authorization of a token",
            description = concat!("For CPOs. The hub decides from its registry (validity, hub block, suspended eMSP, validity window, concurrent uses) and records the decision. `ALLOWED` comes with an `authorization_reference` and holds the token for `authorization.hold_seconds` (120 s) until a session takes it over; a retry from the same CPO, location and EVSE set gets the same answer. When several eMSPs hold a token with this uid and type, name the eMSP with the `OCPI-to-*` headers (otherwise OCPI 2002). Tokens whose whitelist calls for real-time authorization (`NEVER`, `ALLOWED_OFFLINE`, `ALLOWED` with `valid: false`, or `ALLOWED` when the eMSP sets `forward_allowed`) are forwarded to the owner eMSP's Tokens SENDER when it registered one, and its answer (its `authorization_reference` included) is returned; when it cannot answer, `ALLOWED_OFFLINE` falls back to the hub's decision and the others are refused. A uid the hub does not hold is forwarded to the eMSP named by `OCPI-to-*` or, for an `EMAID`, by its provider prefix; then the eMSP's 2004 is passed through, and the hub answers 4001 (`OCPI-to-*` names no party, HTTP 404), 4002 (timeout, HTTP 504) or 4003 (not connected or failed, HTTP 502).", $authorize_note),
            security(("credentials_token" = [])),
            params(
                (
                    "token_uid" = crate::ocpi::common::schema::CiString36,
                    Path,
                    description = "The token's `uid`."
                ),
                AuthorizeQuery,
            ),
            request_body(content = Option<crate::ocpi::common::schema::LocationReferences>, content_type = "application/json", description = "Optional `LocationReferences`: where the driver wants to charge. An empty body or `null` means no location."),
            responses(
                (status = 200, description = "OCPI 1000 with the decision. Or, without `data`: OCPI 2001 when the body or a parameter breaks a rule; OCPI 2002 when several eMSPs hold the token (name one with `OCPI-to-*`).", body = crate::ocpi::$module::schema::AuthorizationInfoResponse),
                (status = 400, response = crate::ocpi::common::responses::NotJson),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 403, response = crate::ocpi::common::responses::Forbidden),
                (status = 404, response = crate::ocpi::common::responses::UnknownToken),
                (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 502, response = crate::ocpi::common::responses::ReceiverNotConnected),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
                (status = 504, response = crate::ocpi::common::responses::ForwardTimeout),
            )
        )]
        pub async fn authorize(
            caller: Caller<CpoRole>,
            req: HttpRequest,
            path: web::Path<String>,
            query: web::Query<AuthorizeQuery>,
            body: JsonBody,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let version = OcpiVersion::$version;
            let (uid, token_type) = (path.into_inner(), query.into_inner().token_type);
            shared::authorize(version, caller, req, uid, token_type, body, &state).await
        }
    };
}
pub(crate) use tokens_sender_handlers;
