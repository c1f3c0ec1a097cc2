//! The OpenAPI 3.1 description of every route, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types below. Served at `/openapi.json` and rendered by Swagger UI at
//! `/docs`, with every asset compiled into the binary (no CDN: it works offline).
//!
//! `openapi/openapi.json` is this document, checked in; `tests/openapi.rs` fails when it differs
//! from what the code produces (`UPDATE_OPENAPI=1 cargo test --test openapi` rewrites it).
//!
//! The OCPI handlers read their bodies as raw JSON and validate them by hand (`crate::domain`), so
//! the request and response objects are described here by schema-only types: they are never built,
//! only turned into JSON Schema.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object as SchemaObject, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as OpenApiDoc, Ref, RefOr, Required};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse, ToSchema};

use crate::app::AppState;
use crate::domain::ValidationError;
use crate::ocpi::error::ApiError;

/// Name of the security scheme of the OCPI routes.
pub const CREDENTIALS_TOKEN: &str = "credentials_token";

/// Where the document and the documentation page are served.
pub const OPENAPI_PATH: &str = "/openapi.json";
pub const DOCS_PATH: &str = "/docs";

#[derive(OpenApi)]
#[openapi(
    info(title = "tokenhub", version = env!("CARGO_PKG_VERSION")),
    paths(
        crate::ocpi::versions::list,
        crate::ocpi::versions::details,
        crate::ocpi::credentials::get,
        crate::ocpi::tokens_receiver::get,
        crate::ocpi::tokens_receiver::put,
        crate::ocpi::tokens_receiver::patch,
        crate::ocpi::tokens_sender::list,
        crate::ocpi::tokens_sender::authorize,
        crate::ocpi::sessions::get,
        crate::ocpi::sessions::put,
        crate::ocpi::sessions::patch,
        crate::health::healthz,
        crate::health::readyz,
        crate::metrics::render,
        openapi_json,
        docs_page,
        docs_asset,
    ),
    components(
        schemas(ErrorResponse, EmptyResponse),
        responses(
            NotJson,
            Unauthorized,
            Forbidden,
            UnknownToken,
            UnknownSession,
            PayloadTooLarge,
            InternalError,
            Unavailable,
        )
    ),
    modifiers(&Conventions),
    tags(
        (name = "versions", description = "OCPI versions module: the version list and the 2.3.0 endpoints."),
        (name = "credentials", description = "OCPI credentials module (GET): the hub's credentials for the caller."),
        (name = "tokens", description = "OCPI tokens module: eMSPs push tokens (receiver interface); CPOs pull the list and ask for real-time authorization (sender interface)."),
        (name = "sessions", description = "OCPI sessions module (receiver interface): CPOs push sessions, which move token usage."),
        (name = "operations", description = "Liveness, readiness and Prometheus metrics for orchestrators and monitoring."),
        (name = "documentation", description = "This OpenAPI document and its rendering."),
    )
)]
pub struct ApiDoc;

/// The document, as the code describes it.
pub fn document() -> OpenApiDoc {
    ApiDoc::openapi()
}

/// The document as pretty JSON with a final newline: what `openapi/openapi.json` holds. Stable:
/// every map in the document is ordered.
pub fn to_pretty_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

/// `/openapi.json`, `/docs` (Swagger UI) and `/docs/{file}` (its assets, from the binary).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi_json))
            .default_service(web::to(crate::app::method_not_allowed)),
    )
    .service(
        web::resource("/docs")
            .route(web::get().to(docs_page))
            .default_service(web::to(crate::app::method_not_allowed)),
    )
    .service(
        web::resource("/docs/{file}")
            .route(web::get().to(docs_asset))
            .default_service(web::to(crate::app::method_not_allowed)),
    );
}

fn cached_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(to_pretty_json)
}

/// This OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "documentation",
    operation_id = "get_openapi_document",
    summary = "This OpenAPI 3.1 document",
    description = "The same bytes as `openapi/openapi.json` in the repository. No authentication.",
    responses(
        (status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object),
    )
)]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(cached_json())
}

/// The path under which the hub is reached, from `http.public_url` (empty at the root), so that
/// the page finds its assets and the document behind a reverse proxy that adds a prefix.
fn base_path(req: &HttpRequest) -> String {
    req.app_data::<web::Data<AppState>>()
        .and_then(|state| url::Url::parse(&state.public_url).ok())
        .map(|url| url.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

fn swagger_config(base: &str) -> Arc<utoipa_swagger_ui::Config<'static>> {
    Arc::new(
        utoipa_swagger_ui::Config::new([format!("{base}{OPENAPI_PATH}")])
            // The default would load a validator badge from the Internet.
            .validator_url("none")
            .display_operation_id(true),
    )
}

fn swagger_file(file: &str, base: &str) -> HttpResponse {
    match utoipa_swagger_ui::serve(file, swagger_config(base)) {
        Ok(Some(file)) => {
            HttpResponse::Ok()
                .content_type(file.content_type)
                .body(match file.bytes {
                    // The assets are compiled in: no copy of the 1.5 MB bundle per request.
                    Cow::Borrowed(bytes) => web::Bytes::from_static(bytes),
                    Cow::Owned(bytes) => web::Bytes::from(bytes),
                })
        }
        Ok(None) => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such file"),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a Swagger UI file");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Swagger UI, rendering `/openapi.json`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "documentation",
    operation_id = "get_docs_page",
    summary = "Swagger UI rendering this document",
    description = "An HTML page whose scripts and styles come from `/docs/{file}`, served from the binary: it works without Internet access. No authentication.",
    responses(
        (status = 200, description = "The HTML page.", content_type = "text/html", body = String),
    )
)]
async fn docs_page(req: HttpRequest) -> HttpResponse {
    let base = base_path(&req);
    let response = swagger_file("index.html", &base);
    if response.status() != StatusCode::OK {
        return response;
    }
    let Some(html) = response
        .into_body()
        .try_into_bytes()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
    else {
        return HttpResponse::InternalServerError().finish();
    };
    // The app trims trailing slashes, so `/docs` and `/docs/` are one page, and the page's relative
    // asset links (`./swagger-ui.css`) would resolve against `/` at `/docs`: anchor them.
    let html = html
        .replacen(
            "<head>",
            &format!("<head>\n    <base href=\"{base}{DOCS_PATH}/\" />"),
            1,
        )
        .replacen(
            "<title>Swagger UI</title>",
            "<title>tokenhub API</title>",
            1,
        );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// A file of Swagger UI (scripts, styles, icons), compiled into the binary.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "documentation",
    operation_id = "get_docs_asset",
    summary = "A Swagger UI asset",
    description = "Scripts, styles and icons of the `/docs` page, compiled into the binary. No authentication.",
    params(("file" = String, Path, description = "File name, e.g. `swagger-ui-bundle.js`.")),
    responses(
        (status = 200, description = "The file; its content type follows from its name (JavaScript, CSS, PNG, HTML).", content_type = "*/*"),
        (status = 404, description = "No such file.", content_type = "text/plain", body = String),
    )
)]
async fn docs_asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    swagger_file(&file, &base_path(&req))
}

// ---------------------------------------------------------------------------------------------
// Shared scalar types
// ---------------------------------------------------------------------------------------------

/// OCPI `DateTime`: RFC 3339 in UTC, at most 25 characters; the `Z` may be left out (no zone
/// means UTC), fractional seconds are allowed, numeric offsets are rejected. The hub answers with
/// millisecond precision and `Z`.
#[derive(ToSchema)]
#[schema(
    max_length = 25,
    pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z?$",
    examples("2026-01-01T09:00:00Z")
)]
pub struct OcpiDateTime(pub String);

/// ISO 3166-1 alpha-2 country code of a party (`CiString(2)`): two letters, compared
/// case-insensitively.
#[derive(ToSchema)]
#[schema(
    min_length = 2,
    max_length = 2,
    pattern = "^[A-Za-z]{2}$",
    examples("NL")
)]
pub struct CountryCode(pub String);

/// Party id (`CiString(3)`): three letters or digits, compared case-insensitively.
#[derive(ToSchema)]
#[schema(
    min_length = 3,
    max_length = 3,
    pattern = "^[A-Za-z0-9]{3}$",
    examples("ABC")
)]
pub struct PartyId(pub String);

/// OCPI `CiString(36)`: 1 to 36 printable ASCII characters, compared case-insensitively.
#[derive(ToSchema)]
#[schema(
    min_length = 1,
    max_length = 36,
    pattern = "^[ -~]+$",
    examples("04A1B2C3")
)]
pub struct CiString36(pub String);

/// The path of a token under its eMSP (Tokens receiver). Documentation only: the handlers parse
/// the segments into domain types themselves.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TokenPath {
    /// Country code of the eMSP that owns the token.
    #[param(value_type = CountryCode)]
    country_code: String,
    /// Party id of the eMSP that owns the token.
    #[param(value_type = PartyId)]
    party_id: String,
    /// The token's `uid`.
    #[param(value_type = CiString36)]
    token_uid: String,
}

/// The path of a session under its CPO (Sessions receiver). Documentation only, as `TokenPath`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct SessionPath {
    /// Country code of the CPO that owns the session.
    #[param(value_type = CountryCode)]
    country_code: String,
    /// Party id of the CPO that owns the session.
    #[param(value_type = PartyId)]
    party_id: String,
    /// The session's `id`.
    #[param(value_type = CiString36)]
    session_id: String,
}

/// `TokenType`, an open enum in OCPI 2.3.0: `AD_HOC_USER`, `APP_USER`, `EMAID`, `OTHER`, `RFID`;
/// any other value (1 to 255 characters, no control characters) is kept and compared exactly, as
/// a distinct type.
#[derive(ToSchema)]
#[schema(
    min_length = 1,
    max_length = 255,
    examples("RFID", "APP_USER", "AD_HOC_USER", "EMAID", "OTHER")
)]
pub struct TokenType(pub String);

/// `WhitelistType`.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WhitelistType {
    Always,
    Allowed,
    AllowedOffline,
    Never,
}

/// `ProfileType`: the driver's preferred charging profile.
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum ProfileType {
    Cheap,
    Fast,
    Green,
    Regular,
}

/// `AllowedType`: the answer of a real-time authorization.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AllowedType {
    Allowed,
    Blocked,
    Expired,
    NoCredit,
    NotAllowed,
}

/// `SessionStatus` (note: `RESERVATION`, not `RESERVED`). PENDING, ACTIVE and RESERVATION hold
/// the token; COMPLETED and INVALID free it.
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum SessionStatus {
    Active,
    Completed,
    Invalid,
    Pending,
    Reservation,
}

/// `AuthMethod`: how the session was authorized.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthMethod {
    AuthRequest,
    Command,
    Whitelist,
}

// ---------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------

macro_rules! envelopes {
    ($($(#[doc = $doc:literal])+ $name:ident($data:ty);)+) => {
        $(
            $(#[doc = $doc])+
            #[derive(ToSchema)]
            pub struct $name {
                /// The payload, with OCPI status 1000; absent when the request broke a rule
                /// (OCPI 2001) or lacked information (2002), which HTTP 200 answers too.
                #[schema(required = false)]
                pub data: $data,
                /// OCPI status: 1000 on success; 2001 or 2002 without `data` (see the status
                /// table).
                #[schema(minimum = 1000, maximum = 2999, examples(1000))]
                pub status_code: u16,
                /// What went wrong, naming the field when one is to blame.
                #[schema(required = false)]
                pub status_message: String,
                /// When the hub answered.
                pub timestamp: OcpiDateTime,
            }
        )+
    };
}

envelopes! {
    /// The OCPI envelope of the version list.
    VersionListResponse(Vec<Version>);
    /// The OCPI envelope of the 2.3.0 endpoint list.
    VersionDetailsResponse(VersionDetails);
    /// The OCPI envelope of the hub's credentials.
    CredentialsResponse(Credentials);
    /// The OCPI envelope of one token.
    TokenResponse(Token);
    /// The OCPI envelope of a page of tokens.
    TokenListResponse(Vec<Token>);
    /// The OCPI envelope of an authorization decision.
    AuthorizationInfoResponse(AuthorizationInfo);
    /// The OCPI envelope of one session.
    SessionResponse(Session);
}

/// An OCPI answer without `data`: the success of a PUT or PATCH (OCPI 1000), or a broken rule
/// (OCPI 2001), which HTTP 200 answers too.
#[derive(ToSchema)]
#[schema(examples(json!({"status_code": 1000, "timestamp": "2026-01-02T09:00:00.000Z"})))]
pub struct EmptyResponse {
    /// 1000 on success; 2001 when the request broke a rule.
    #[schema(minimum = 1000, maximum = 2999, examples(1000))]
    pub status_code: u16,
    /// What went wrong, naming the field when one is to blame.
    #[schema(required = false)]
    pub status_message: String,
    /// When the hub answered.
    pub timestamp: OcpiDateTime,
}

/// An OCPI error: the envelope without `data`; `status_message` says what went wrong (naming the
/// field when one is to blame). See the status table in the API description.
#[derive(ToSchema)]
#[schema(examples(json!({
    "status_code": 2001,
    "status_message": "uid: is longer than 36 characters",
    "timestamp": "2026-01-02T09:00:00.000Z"
})))]
pub struct ErrorResponse {
    /// 2000-2999: client error; 3000-3999: server error.
    #[schema(minimum = 2000, maximum = 3999, examples(2001))]
    pub status_code: u16,
    pub status_message: String,
    /// When the hub answered.
    pub timestamp: OcpiDateTime,
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// `EnergyContract`: the driver's energy supplier, for Plug & Charge.
#[derive(ToSchema)]
pub struct EnergyContract {
    #[schema(max_length = 64)]
    pub supplier_name: String,
    #[schema(max_length = 64)]
    pub contract_id: Option<String>,
}

/// OCPI 2.3.0 `Token`, keyed by (`country_code`, `party_id`, `uid`, `type`). Unknown fields are
/// kept and served back. The sender interface serves the *effective* token: `valid` is `false`
/// while the hub blocks the token or suspends its eMSP, `whitelist` may be overridden by the hub,
/// and `last_updated` is the later of the eMSP's and the hub's change.
#[derive(ToSchema)]
#[schema(examples(json!({
    "country_code": "NL", "party_id": "ABC", "uid": "04A1B2C3", "type": "RFID",
    "contract_id": "NL-ABC-C00012345-7", "issuer": "ABC Mobility", "valid": true,
    "whitelist": "ALLOWED", "last_updated": "2026-01-01T09:00:00Z"
})))]
pub struct Token {
    /// Country code of the eMSP that owns the token.
    pub country_code: CountryCode,
    /// Party id of the eMSP that owns the token.
    pub party_id: PartyId,
    /// The token's id: RFID UID, app user id, ...
    pub uid: CiString36,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// The contract (e.g. eMA id) charged for its use.
    pub contract_id: CiString36,
    /// The number printed on the card.
    #[schema(max_length = 64)]
    pub visual_number: Option<String>,
    /// Who issued the token, shown to the driver.
    #[schema(max_length = 64)]
    pub issuer: String,
    /// Groups tokens that belong together.
    pub group_id: Option<CiString36>,
    /// Whether the token may charge (before the hub's own policy).
    pub valid: bool,
    pub whitelist: WhitelistType,
    /// ISO 639-1 language code of the driver.
    #[schema(max_length = 2)]
    pub language: Option<String>,
    pub default_profile_type: Option<ProfileType>,
    pub energy_contract: Option<EnergyContract>,
    /// When the eMSP last changed the token; a write with an older value is refused (2001).
    pub last_updated: OcpiDateTime,
    /// Any other field is kept as pushed.
    #[serde(flatten)]
    pub other_fields: BTreeMap<String, Value>,
}

/// A PATCH of a `Token`: the fields to change (`null` clears an optional field) and the new
/// `last_updated`, which is required. The identifying fields may be repeated, not changed; the
/// merged token must still be valid.
#[derive(ToSchema)]
#[schema(examples(json!({"language": "nl", "last_updated": "2026-01-02T09:00:00Z"})))]
pub struct TokenPatch {
    pub country_code: Option<CountryCode>,
    pub party_id: Option<PartyId>,
    pub uid: Option<CiString36>,
    #[serde(rename = "type")]
    pub token_type: Option<TokenType>,
    pub contract_id: Option<CiString36>,
    #[schema(max_length = 64)]
    pub visual_number: Option<String>,
    #[schema(max_length = 64)]
    pub issuer: Option<String>,
    pub group_id: Option<CiString36>,
    pub valid: Option<bool>,
    pub whitelist: Option<WhitelistType>,
    #[schema(max_length = 2)]
    pub language: Option<String>,
    pub default_profile_type: Option<ProfileType>,
    pub energy_contract: Option<EnergyContract>,
    /// Required in a PATCH.
    pub last_updated: OcpiDateTime,
    /// Any other field is set (or, with `null`, removed) as given.
    #[serde(flatten)]
    pub other_fields: BTreeMap<String, Value>,
}

/// `LocationReferences`: where the driver wants to charge. In a request, EVSE uids name the EVSEs
/// asked for; a retry from the same CPO, location and EVSE set gets the same answer.
#[derive(ToSchema)]
#[schema(examples(json!({"location_id": "LOC1", "evse_uids": ["EVSE1"]})))]
pub struct LocationReferences {
    pub location_id: CiString36,
    pub evse_uids: Option<Vec<CiString36>>,
}

/// `DisplayText`: a message for the driver.
#[derive(ToSchema)]
pub struct DisplayText {
    /// ISO 639-1 language code.
    #[schema(max_length = 2)]
    pub language: String,
    #[schema(max_length = 512)]
    pub text: String,
}

/// `AuthorizationInfo`: the hub's real-time decision.
#[derive(ToSchema)]
#[schema(examples(json!({
    "allowed": "ALLOWED",
    "token": {
        "country_code": "NL", "party_id": "ABC", "uid": "04A1B2C3", "type": "RFID",
        "contract_id": "NL-ABC-C00012345-7", "issuer": "ABC Mobility", "valid": true,
        "whitelist": "ALLOWED", "last_updated": "2026-01-01T09:00:00Z"
    },
    "location": {"location_id": "LOC1", "evse_uids": ["EVSE1"]},
    "authorization_reference": "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
})))]
pub struct AuthorizationInfo {
    pub allowed: AllowedType,
    /// The effective token (hub policy applied).
    pub token: Token,
    /// The requested location, echoed when `allowed` is `ALLOWED`.
    #[schema(required = false)]
    pub location: LocationReferences,
    /// Upper-case UUID, given with `ALLOWED`; the CPO puts it in the session, which takes over
    /// the hold on the token.
    #[schema(required = false)]
    pub authorization_reference: CiString36,
    /// Why the token may not charge (e.g. it is in use), for the driver.
    #[schema(required = false)]
    pub info: DisplayText,
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// `CdrToken`: the token a session charges on.
#[derive(ToSchema)]
pub struct CdrToken {
    pub country_code: CountryCode,
    pub party_id: PartyId,
    pub uid: CiString36,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    pub contract_id: CiString36,
}

/// `CdrDimension`: one measured quantity of a charging period.
#[derive(ToSchema)]
pub struct CdrDimension {
    /// `CdrDimensionType`, e.g. `ENERGY`, `TIME`, `PARKING_TIME`.
    #[serde(rename = "type")]
    pub dimension_type: String,
    pub volume: f64,
}

/// `ChargingPeriod`: a part of the session with constant conditions.
#[derive(ToSchema)]
pub struct ChargingPeriod {
    pub start_date_time: OcpiDateTime,
    /// At least one.
    #[schema(min_items = 1)]
    pub dimensions: Vec<CdrDimension>,
    #[schema(max_length = 36)]
    pub tariff_id: Option<String>,
}

/// `Price`.
#[derive(ToSchema)]
pub struct Price {
    pub before_taxes: f64,
    pub taxes: Option<Vec<Value>>,
}

/// OCPI 2.3.0 `Session`, as far as the hub checks it; unknown fields are kept and served back.
/// A session of status PENDING, ACTIVE or RESERVATION counts as a use of its token (until it goes
/// 24 hours without an update); its `authorization_reference` takes over the hold of that
/// authorization.
#[derive(ToSchema)]
#[schema(examples(json!({
    "country_code": "DE", "party_id": "CPO", "id": "S-1",
    "start_date_time": "2026-01-02T10:00:00Z", "kwh": 0, "auth_method": "AUTH_REQUEST",
    "authorization_reference": "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
    "cdr_token": {"country_code": "NL", "party_id": "ABC", "uid": "04A1B2C3", "type": "RFID", "contract_id": "NL-ABC-C00012345-7"},
    "location_id": "LOC1", "evse_uid": "EVSE1", "connector_id": "1", "currency": "EUR",
    "status": "ACTIVE", "last_updated": "2026-01-02T10:00:00Z"
})))]
pub struct Session {
    /// Country code of the CPO that owns the session.
    pub country_code: CountryCode,
    /// Party id of the CPO that owns the session.
    pub party_id: PartyId,
    pub id: CiString36,
    pub start_date_time: OcpiDateTime,
    pub end_date_time: Option<OcpiDateTime>,
    #[schema(minimum = 0)]
    pub kwh: f64,
    pub cdr_token: CdrToken,
    pub auth_method: AuthMethod,
    pub authorization_reference: Option<CiString36>,
    pub location_id: CiString36,
    pub evse_uid: CiString36,
    pub connector_id: CiString36,
    #[schema(max_length = 255)]
    pub meter_id: Option<String>,
    /// ISO 4217 currency code.
    #[schema(max_length = 3)]
    pub currency: String,
    pub charging_periods: Option<Vec<ChargingPeriod>>,
    pub total_cost: Option<Price>,
    pub status: SessionStatus,
    /// When the CPO last changed the session; a write with an older value is refused (2001).
    pub last_updated: OcpiDateTime,
    /// Any other field is kept as pushed.
    #[serde(flatten)]
    pub other_fields: BTreeMap<String, Value>,
}

/// A PATCH of a `Session`: the fields to change (`null` clears an optional field), with the new
/// `last_updated`, which is required. `charging_periods` are appended to the stored ones. The
/// merged session must still be valid and keep its identity.
#[derive(ToSchema)]
#[schema(examples(json!({"status": "COMPLETED", "kwh": 11.2, "last_updated": "2026-01-02T11:00:00Z"})))]
pub struct SessionPatch {
    pub start_date_time: Option<OcpiDateTime>,
    pub end_date_time: Option<OcpiDateTime>,
    #[schema(minimum = 0)]
    pub kwh: Option<f64>,
    pub cdr_token: Option<CdrToken>,
    pub auth_method: Option<AuthMethod>,
    pub authorization_reference: Option<CiString36>,
    pub location_id: Option<CiString36>,
    pub evse_uid: Option<CiString36>,
    pub connector_id: Option<CiString36>,
    #[schema(max_length = 255)]
    pub meter_id: Option<String>,
    #[schema(max_length = 3)]
    pub currency: Option<String>,
    /// Appended to the stored charging periods.
    pub charging_periods: Option<Vec<ChargingPeriod>>,
    pub total_cost: Option<Price>,
    pub status: Option<SessionStatus>,
    /// Required in a PATCH.
    pub last_updated: OcpiDateTime,
    /// Any other field is set (or, with `null`, removed) as given.
    #[serde(flatten)]
    pub other_fields: BTreeMap<String, Value>,
}

// ---------------------------------------------------------------------------------------------
// Versions and credentials
// ---------------------------------------------------------------------------------------------

/// One supported OCPI version.
#[derive(ToSchema)]
pub struct Version {
    #[schema(examples("2.3.0"))]
    pub version: String,
    /// The version's details.
    #[schema(format = "uri", examples("https://hub.example.com/ocpi/2.3.0"))]
    pub url: String,
}

/// One module endpoint of a version.
#[derive(ToSchema)]
pub struct Endpoint {
    /// `ModuleID`: `credentials`, `tokens`, `sessions`.
    #[schema(examples("tokens"))]
    pub identifier: String,
    /// `InterfaceRole` of the hub for this endpoint.
    pub role: InterfaceRole,
    #[schema(
        format = "uri",
        examples("https://hub.example.com/ocpi/2.3.0/sender/tokens")
    )]
    pub url: String,
}

/// `InterfaceRole`.
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum InterfaceRole {
    Sender,
    Receiver,
}

/// The endpoints of OCPI 2.3.0 at this hub.
#[derive(ToSchema)]
pub struct VersionDetails {
    #[schema(examples("2.3.0"))]
    pub version: String,
    pub endpoints: Vec<Endpoint>,
}

/// `BusinessDetails`.
#[derive(ToSchema)]
pub struct BusinessDetails {
    #[schema(max_length = 100)]
    pub name: String,
}

/// `CredentialsRole`: one party reachable through the hub.
#[derive(ToSchema)]
pub struct CredentialsRole {
    /// `Role`: `CPO`, `EMSP`, ...
    #[schema(examples("EMSP"))]
    pub role: String,
    pub business_details: BusinessDetails,
    pub party_id: PartyId,
    pub country_code: CountryCode,
}

/// `Credentials`: the caller's own token, the hub's versions URL, its `hub_party_id`, and every
/// party reachable through the hub (suspended parties left out).
#[derive(ToSchema)]
pub struct Credentials {
    /// The credentials token the caller presented (decoded when it was sent in Base64).
    #[schema(max_length = 64)]
    pub token: String,
    /// The hub's versions endpoint.
    #[schema(format = "uri", examples("https://hub.example.com/ocpi/versions"))]
    pub url: String,
    /// The hub's own country code and party id, e.g. `NLHUB`.
    #[schema(min_length = 5, max_length = 5, examples("NLHUB"))]
    pub hub_party_id: String,
    pub roles: Vec<CredentialsRole>,
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Liveness.
#[derive(ToSchema)]
#[schema(examples(json!({"status": "ok"})))]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Readiness: the database answers and every migration is applied.
#[derive(ToSchema)]
#[schema(examples(json!({"status": "ready", "database": "sqlite"})))]
pub struct Readiness {
    /// `ready` (HTTP 200) or `unavailable` (HTTP 503).
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

// ---------------------------------------------------------------------------------------------
// Error responses, built from `ApiError`: the status codes come from its one table.
// ---------------------------------------------------------------------------------------------

const EXAMPLE_TIMESTAMP: &str = "2026-01-02T09:00:00.000Z";

fn error_response(error: ApiError, what: &str) -> RefOr<Response> {
    let (status, code) = error.codes();
    let mut response = ResponseBuilder::new()
        .description(format!("HTTP {} / OCPI {code}: {what}", status.as_u16()))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorResponse")))
                .example(Some(json!({
                    "status_code": code,
                    "status_message": error.to_string(),
                    "timestamp": EXAMPLE_TIMESTAMP,
                })))
                .build(),
        );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                .description(Some("Seconds to wait before trying again (1)."))
                .build(),
        );
    }
    response.build().into()
}

macro_rules! error_responses {
    ($($name:ident => $error:expr, $what:literal;)+) => {
        $(
            #[doc = $what]
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), error_response($error, $what))
                }
            }
        )+

        /// Every error response component, by name, with its HTTP status.
        pub fn error_statuses() -> Vec<(&'static str, u16)> {
            vec![$((stringify!($name), $error.codes().0.as_u16()),)+]
        }
    };
}

error_responses! {
    NotJson => ApiError::InvalidJson("expected value at line 1 column 1".into()),
        "the body is not JSON.";
    Unauthorized => ApiError::Unauthorized("unknown credentials token".into()),
        "the `Authorization: Token ...` header is missing or malformed, or the credentials token is unknown, or a registration token (A) was used on a functional module.";
    Forbidden => ApiError::Forbidden("NL*XYZ is not an eMSP of this credentials token".into()),
        "the object belongs to a party this credentials token does not serve, or the module is for another role (e.g. authorize is for CPOs).";
    UnknownToken => ApiError::UnknownToken,
        "unknown token (another party's token answers the same).";
    UnknownSession => ApiError::NotFound("unknown session".into()),
        "unknown session (another party's session answers the same).";
    PayloadTooLarge => ApiError::PayloadTooLarge(65536),
        "the body is larger than `http.max_body_bytes` (64 KiB by default).";
    InternalError => ApiError::Internal,
        "unexpected server error.";
    Unavailable => ApiError::Unavailable,
        "the database is unavailable; the hub reconnects by itself. Try again after `Retry-After` seconds.";
}

/// The status table of the API description, from `ApiError::codes`.
fn status_table() -> String {
    let invalid = ApiError::Invalid(ValidationError::new("uid", "is longer than 36 characters"));
    let rows: Vec<(&str, Option<ApiError>)> = vec![
        ("success (PUT: 201 created, 200 replaced; no `data` on PUT and PATCH)", None),
        ("the body is not JSON", Some(ApiError::InvalidJson(String::new()))),
        (
            "JSON that breaks a rule: length, enum, URL/body mismatch, PATCH without `last_updated`, stale `last_updated`, bad `offset`/`limit`/date",
            Some(invalid),
        ),
        (
            "not enough information: several eMSPs hold the token, name one with `OCPI-to-*`",
            Some(ApiError::NotEnoughInformation(String::new())),
        ),
        ("unknown token", Some(ApiError::UnknownToken)),
        (
            "unknown session or endpoint; another party's object",
            Some(ApiError::NotFound(String::new())),
        ),
        (
            "missing or unknown credentials token",
            Some(ApiError::Unauthorized(String::new())),
        ),
        ("writing as another party", Some(ApiError::Forbidden(String::new()))),
        ("method not allowed", Some(ApiError::MethodNotAllowed)),
        ("body larger than 64 KiB", Some(ApiError::PayloadTooLarge(0))),
        ("database unavailable (`Retry-After: 1`)", Some(ApiError::Unavailable)),
        ("internal error", Some(ApiError::Internal)),
    ];
    let mut table = String::from("| situation | HTTP | OCPI `status_code` |\n|---|---|---|\n");
    for (situation, error) in rows {
        let (http, ocpi) = match error {
            None => ("200".to_owned(), 1000),
            Some(e) => {
                let (status, code) = e.codes();
                (status.as_u16().to_string(), code)
            }
        };
        table.push_str(&format!("| {situation} | {http} | {ocpi} |\n"));
    }
    table
}

// ---------------------------------------------------------------------------------------------
// What every operation shares: security scheme, request ids, routing headers.
// ---------------------------------------------------------------------------------------------

const REQUEST_ID: &str = "X-Request-ID";
const CORRELATION_ID: &str = "X-Correlation-ID";
const ROUTING_HEADERS: [(&str, &str); 4] = [
    (
        "OCPI-from-country-code",
        "Country code of the party that sends the message.",
    ),
    (
        "OCPI-from-party-id",
        "Party id of the party that sends the message.",
    ),
    (
        "OCPI-to-country-code",
        "Country code of the party the message is for.",
    ),
    (
        "OCPI-to-party-id",
        "Party id of the party the message is for.",
    ),
];

/// Tags of the OCPI functional modules, which carry the routing headers.
const FUNCTIONAL_MODULES: [&str; 2] = ["tokens", "sessions"];

fn string_schema(max_length: usize) -> SchemaObject {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max_length))
        .build()
}

fn header_ref(name: &str) -> RefOr<utoipa::openapi::header::Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

fn parameter_ref(name: &str) -> RefOr<utoipa::openapi::path::Parameter> {
    RefOr::Ref(Ref::new(format!("#/components/parameters/{name}")))
}

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        openapi.info.description = Some(format!("{}\n\n{}", API_DESCRIPTION, status_table()));
        openapi.info.license = Some(
            utoipa::openapi::LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        );
        openapi.info.contact = None;

        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            CREDENTIALS_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "OCPI credentials token: `Authorization: Token <base64(credentials token)>`. The \
                 raw token is accepted too (older peers). `party add` prints a party's token. The \
                 versions and credentials modules also accept a registration token (A); the \
                 functional modules need a registered token (C).",
            ))),
        );

        let ids = [
            (
                REQUEST_ID,
                "Identifies this request; echoed on the response, generated (UUID) when absent. At most 255 characters.",
            ),
            (
                CORRELATION_ID,
                "Identifies the exchange this request belongs to; echoed on the response, generated (UUID) when absent. At most 255 characters.",
            ),
        ];
        for (name, description) in ids {
            components.parameters.insert(
                name.to_owned(),
                RefOr::T(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(description))
                        .schema(Some(string_schema(255)))
                        .build(),
                ),
            );
            components.headers.insert(
                name.to_owned(),
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(string_schema(255)))
                        .description(Some(description))
                        .build(),
                ),
            );
        }
        for (name, description) in ROUTING_HEADERS {
            let max = if name.ends_with("country-code") { 2 } else { 3 };
            components.parameters.insert(
                name.to_owned(),
                RefOr::T(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(format!(
                            "{description} Give both `OCPI-from-*` headers to act as one of several \
                             parties of the credentials token (or neither when it serves one fitting \
                             party); give both `OCPI-to-*` headers to name the token's eMSP on \
                             `authorize`."
                        )))
                        .schema(Some(string_schema(max)))
                        .build(),
                ),
            );
            components.headers.insert(
                name.to_owned(),
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(string_schema(max)))
                        .description(Some(format!(
                            "{description} Set on successful answers of the functional modules."
                        )))
                        .build(),
                ),
            );
        }

        for (_, response) in components.responses.iter_mut() {
            if let RefOr::T(response) = response {
                add_id_headers(response);
            }
        }

        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                decorate(operation);
            }
        }
    }
}

fn add_id_headers(response: &mut Response) {
    for name in [REQUEST_ID, CORRELATION_ID] {
        response.headers.insert(name.to_owned(), header_ref(name));
    }
}

fn decorate(operation: &mut Operation) {
    let functional = operation
        .tags
        .iter()
        .flatten()
        .any(|t| FUNCTIONAL_MODULES.contains(&t.as_str()));
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    parameters.push(parameter_ref(REQUEST_ID));
    parameters.push(parameter_ref(CORRELATION_ID));
    if functional {
        for (name, _) in ROUTING_HEADERS {
            parameters.push(parameter_ref(name));
        }
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        add_id_headers(response);
        if functional && status.starts_with('2') {
            for (name, _) in ROUTING_HEADERS {
                response.headers.insert(name.to_owned(), header_ref(name));
            }
        }
    }
}

const API_DESCRIPTION: &str = "\
An OCPI 2.3.0 token-authorization hub. eMSPs push their driver tokens to the hub; CPOs pull the \
token list and ask the hub in real time whether a token may charge. The hub decides from its \
token registry (validity, hub policy, expiry window, concurrent use) and keeps every decision in \
an audit trail.

**Authentication.** The OCPI routes need `Authorization: Token <base64(credentials token)>` (see \
the `credentials_token` scheme); `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/docs` \
need none.

**Envelope.** Every OCPI answer, errors included, is `{data?, status_code, status_message?, \
timestamp}`. A broken rule is answered with HTTP 200 and OCPI 2001, with a `status_message` \
naming the field. Every answer echoes `X-Request-ID` and `X-Correlation-ID` (generated when \
absent).";
