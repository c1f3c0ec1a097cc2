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

#[macro_export]
macro_rules! ocpi_envelopes {
    ($($(#[doc = $doc:literal])+ $name:ident($data:ty);)+) => {
        $(
            $(#[doc = $doc])+
            #[derive(utoipa::ToSchema)]
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
