//! Wire types of OCPI 2.2.1 for the OpenAPI document, named `v2_2_1.*` where they differ from
//! 2.3.0's: a closed `TokenType`, the `excl_vat`/`incl_vat` `Price`, and `Credentials` without
//! `hub_party_id`. The types every version shares are in `ocpi::common::schema`.

use utoipa::ToSchema;

use crate::ocpi::common::schema::{token_and_session_schemas, CredentialsRole};

/// `TokenType` of OCPI 2.2.1, a closed enum. A push with another type is refused (OCPI 2001);
/// tokens pushed over 2.3.0 with a type 2.2.1 has no name for (`EMAID`, other values of 2.3.0's
/// open enum) are left out of 2.2.1 lists and unknown to 2.2.1 `authorize`.
#[derive(ToSchema)]
#[schema(as = v2_2_1::TokenType, rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenType {
    AdHocUser,
    AppUser,
    Other,
    Rfid,
}

/// `Price` of OCPI 2.2.1.
#[derive(ToSchema)]
#[schema(as = v2_2_1::Price)]
pub struct Price {
    pub excl_vat: f64,
    pub incl_vat: Option<f64>,
}

token_and_session_schemas!(v2_2_1);

crate::ocpi_envelopes! {
    /// The OCPI envelope of the hub's credentials.
    #[schema(as = v2_2_1::CredentialsResponse)]
    CredentialsResponse(Credentials);
}

/// `Credentials` of OCPI 2.2.1: the caller's own token, the hub's versions URL, and the hub itself
/// as the one role, `HUB` (2.2.1 has no `hub_party_id`; a 2.2.1 hub reports the parties behind it
/// through HubClientInfo).
#[derive(ToSchema)]
#[schema(as = v2_2_1::Credentials)]
pub struct Credentials {
    /// The credentials token the caller presented (decoded when it was sent in Base64).
    #[schema(max_length = 64)]
    pub token: String,
    /// The hub's versions endpoint.
    #[schema(format = "uri", examples("https://hub.example.com/ocpi/versions"))]
    pub url: String,
    pub roles: Vec<CredentialsRole>,
}
