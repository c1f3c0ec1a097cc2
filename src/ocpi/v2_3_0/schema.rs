//! Wire types of OCPI 2.3.0 for the OpenAPI document: the request and response objects of the
//! 2.3.0 modules. Schema-only: the handlers validate raw JSON into domain types themselves. The
//! types every version shares are in `ocpi::common::schema`; the ones holding a `TokenType` or a
//! `Price` are built from this module's definitions of those two.

use serde_json::Value;
use utoipa::ToSchema;

use crate::ocpi::common::schema::{token_and_session_schemas, CredentialsRole};

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

/// `Price` of OCPI 2.3.0.
#[derive(ToSchema)]
pub struct Price {
    pub before_taxes: f64,
    pub taxes: Option<Vec<Value>>,
}

token_and_session_schemas!();

crate::ocpi_envelopes! {
    /// The OCPI envelope of the hub's credentials.
    CredentialsResponse(Credentials);
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
