//! Schemas of the OCPI values and envelopes that every OCPI version shares, for the OpenAPI
//! document. The handlers read bodies as raw JSON and validate them into domain types, so these
//! types are never built: they only become JSON Schema.

use utoipa::ToSchema;

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

/// OCPI envelopes, one per line: `/// doc` (and e.g. `#[schema(as = ...)]`), then
/// `Name(DataType);`.
#[macro_export]
macro_rules! ocpi_envelopes {
    ($($(#[$attr:meta])+ $name:ident($data:ty);)+) => {
        $(
            #[derive(utoipa::ToSchema)]
            $(#[$attr])+
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
                pub timestamp: $crate::ocpi::common::schema::OcpiDateTime,
            }
        )+
    };
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
// The wire types every OCPI version shares.
// ---------------------------------------------------------------------------------------------

/// The path of a token under its eMSP (Tokens receiver). Documentation only: the handlers parse
/// the segments into domain types themselves.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(
    dead_code,
    reason = "documentation only: its fields become OpenAPI parameters, never read"
)]
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
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(
    dead_code,
    reason = "documentation only: its fields become OpenAPI parameters, never read"
)]
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

/// `EnergyContract`: the driver's energy supplier, for Plug & Charge.
#[derive(ToSchema)]
pub struct EnergyContract {
    #[schema(max_length = 64)]
    pub supplier_name: String,
    #[schema(max_length = 64)]
    pub contract_id: Option<String>,
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

/// The endpoints of one OCPI version at this hub.
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

/// `CredentialsRole`: one party, with its role, that a platform speaks for.
#[derive(ToSchema)]
pub struct CredentialsRole {
    /// `Role`: `CPO`, `EMSP`, ... (in OCPI 2.2.1 a hub lists only itself, as `HUB`).
    #[schema(examples("EMSP"))]
    pub role: String,
    pub business_details: BusinessDetails,
    pub party_id: PartyId,
    pub country_code: CountryCode,
}

crate::ocpi_envelopes! {
    /// The OCPI envelope of the version list.
    VersionListResponse(Vec<Version>);
    /// The OCPI envelope of one version's endpoint list.
    VersionDetailsResponse(VersionDetails);
}

/// The wire types that hold a `TokenType` or a `Price`, whose definitions differ between OCPI
/// versions: the invoking module (a version's `schema`) defines `TokenType` and `Price`. The
/// optional prefix names the schemas (`v2_2_1` gives `v2_2_1.Token`); without it they are named
/// as the types.
macro_rules! token_and_session_schemas {
    ($($prefix:ident)?) => {
        pub use self::versioned::*;

        mod versioned {
            use std::collections::BTreeMap;

            use serde_json::Value;
            use utoipa::ToSchema;

            use super::{Price, TokenType};
            use crate::ocpi::common::schema::{
                AllowedType, AuthMethod, ChargingPeriod, CiString36, CountryCode, DisplayText,
                EnergyContract, LocationReferences, OcpiDateTime, PartyId, ProfileType, SessionStatus,
                WhitelistType,
            };

            crate::ocpi_envelopes! {
                /// The OCPI envelope of one token.
                #[schema(as = $($prefix::)? TokenResponse)]
                TokenResponse(Token);
                /// The OCPI envelope of a page of tokens.
                #[schema(as = $($prefix::)? TokenListResponse)]
                TokenListResponse(Vec<Token>);
                /// The OCPI envelope of an authorization decision.
                #[schema(as = $($prefix::)? AuthorizationInfoResponse)]
                AuthorizationInfoResponse(AuthorizationInfo);
                /// The OCPI envelope of one session.
                #[schema(as = $($prefix::)? SessionResponse)]
                SessionResponse(Session);
                /// The OCPI envelope of a page of sessions.
                #[schema(as = $($prefix::)? SessionListResponse)]
                SessionListResponse(Vec<Session>);
            }

            /// `Token`, keyed by (`country_code`, `party_id`, `uid`, `type`). Unknown fields are kept
            /// and served back. The sender interface serves the *effective* token: `valid` is `false`
            /// while the hub blocks the token or suspends its eMSP, `whitelist` may be overridden by
            /// the hub, and `last_updated` is the later of the eMSP's and the hub's change.
            #[derive(ToSchema)]
            #[schema(as = $($prefix::)? Token, examples(json!({
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
                /// When the eMSP last changed the token; a write with an older value is refused
                /// (2001).
                pub last_updated: OcpiDateTime,
                /// Any other field is kept as pushed.
                #[serde(flatten)]
                pub other_fields: BTreeMap<String, Value>,
            }

            /// A PATCH of a `Token`: the fields to change (`null` clears an optional field) and the
            /// new `last_updated`, which is required. The identifying fields may be repeated, not
            /// changed; the merged token must still be valid.
            #[derive(ToSchema)]
            #[schema(as = $($prefix::)? TokenPatch, examples(json!({"language": "nl", "last_updated": "2026-01-02T09:00:00Z"})))]
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

            /// `AuthorizationInfo`: the hub's real-time decision.
            #[derive(ToSchema)]
            #[schema(as = $($prefix::)? AuthorizationInfo, examples(json!({
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
                /// Upper-case UUID, given with `ALLOWED`; the CPO puts it in the session, which takes
                /// over the hold on the token.
                #[schema(required = false)]
                pub authorization_reference: CiString36,
                /// Why the token may not charge (e.g. it is in use), for the driver.
                #[schema(required = false)]
                pub info: DisplayText,
            }

            /// `CdrToken`: the token a session charges on.
            #[derive(ToSchema)]
            #[schema(as = $($prefix::)? CdrToken)]
            pub struct CdrToken {
                pub country_code: CountryCode,
                pub party_id: PartyId,
                pub uid: CiString36,
                #[serde(rename = "type")]
                pub token_type: TokenType,
                pub contract_id: CiString36,
            }

            /// `Session`, as far as the hub checks it; unknown fields are kept and served back. A
            /// session of status PENDING, ACTIVE or RESERVATION counts as a use of its token (until it
            /// goes 24 hours without an update); its `authorization_reference` takes over the hold of
            /// that authorization.
            #[derive(ToSchema)]
            #[schema(as = $($prefix::)? Session, examples(json!({
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
                /// When the CPO last changed the session; a write with an older value is refused
                /// (2001).
                pub last_updated: OcpiDateTime,
                /// Any other field is kept as pushed.
                #[serde(flatten)]
                pub other_fields: BTreeMap<String, Value>,
            }

            /// A PATCH of a `Session`: the fields to change (`null` clears an optional field), with
            /// the new `last_updated`, which is required. `charging_periods` are appended to the
            /// stored ones. The merged session must still be valid and keep its identity.
            #[derive(ToSchema)]
            #[schema(as = $($prefix::)? SessionPatch, examples(json!({"status": "COMPLETED", "kwh": 11.2, "last_updated": "2026-01-02T11:00:00Z"})))]
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
                /// Appended to the stored charging periods, of which the hub keeps the most recent 100
                /// (`retention.session_charging_periods`).
                pub charging_periods: Option<Vec<ChargingPeriod>>,
                pub total_cost: Option<Price>,
                pub status: Option<SessionStatus>,
                /// Required in a PATCH.
                pub last_updated: OcpiDateTime,
                /// Any other field is set (or, with `null`, removed) as given.
                #[serde(flatten)]
                pub other_fields: BTreeMap<String, Value>,
            }
        }
    };
}
pub(crate) use token_and_session_schemas;

// ---------------------------------------------------------------------------------------------
// HubClientInfo (the same in 2.2.1 and 2.3.0)
// ---------------------------------------------------------------------------------------------

/// `ConnectionStatus` of a party reachable through the hub.
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum ConnectionStatus {
    /// Online: send requests as usual.
    Connected,
    /// Unreachable for now: send and queue nothing; the party resyncs by pulling when back.
    Offline,
    /// Configured, never connected: send nothing yet.
    Planned,
    /// Gone: send nothing; settle open business outside OCPI.
    Suspended,
}

/// `ClientInfo`: one party reachable through the hub and how it stands.
#[derive(ToSchema)]
pub struct ClientInfo {
    pub party_id: PartyId,
    pub country_code: CountryCode,
    /// `Role`: `CPO`, `EMSP`, ...
    #[schema(examples("EMSP"))]
    pub role: String,
    pub status: ConnectionStatus,
    /// When the party or its connection last changed.
    pub last_updated: OcpiDateTime,
}

crate::ocpi_envelopes! {
    /// The OCPI envelope of a page of ClientInfo objects.
    ClientInfoListResponse(Vec<ClientInfo>);
}
