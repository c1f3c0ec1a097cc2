//! The OCPI error responses of the OpenAPI document and its status table, built from the one
//! error table (`OcpiError::codes`), so the document cannot drift from what the hub answers.

use actix_web::http::StatusCode;
use serde_json::json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::ToResponse;

use super::error::OcpiError;
use crate::domain::ValidationError;
use crate::error::Error;

const EXAMPLE_TIMESTAMP: &str = "2026-01-02T09:00:00.000Z";

fn error_response(error: Error, what: &str) -> RefOr<Response> {
    let what_went_wrong = error.to_string();
    let (status, code) = OcpiError(error).codes();
    let mut response = ResponseBuilder::new()
        .description(format!("HTTP {} / OCPI {code}: {what}", status.as_u16()))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorResponse")))
                .example(Some(json!({
                    "status_code": code,
                    "status_message": what_went_wrong,
                    "timestamp": EXAMPLE_TIMESTAMP,
                })))
                .build(),
        );
    let retry_after = match status {
        StatusCode::SERVICE_UNAVAILABLE => Some("Seconds to wait before trying again (1)."),
        StatusCode::TOO_MANY_REQUESTS => {
            Some("Seconds until this address may fail an authentication again.")
        }
        _ => None,
    };
    if let Some(description) = retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                .description(Some(description))
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
            vec![$((stringify!($name), OcpiError($error).codes().0.as_u16()),)+]
        }
    };
}

error_responses! {
    NotJson => Error::InvalidJson("expected value at line 1 column 1".into()),
        "the body is not JSON.";
    Unauthorized => Error::Unauthorized("unknown credentials token".into()),
        "the `Authorization: Token ...` header is missing or malformed, or the credentials token is unknown, or a registration token (A) was used on a functional module.";
    Forbidden => Error::Forbidden("NL*XYZ is not an eMSP of this credentials token".into()),
        "the object belongs to a party this credentials token does not serve, or the module is for another role (e.g. authorize is for CPOs).";
    UnknownToken => Error::UnknownToken,
        "unknown token (another party's token answers the same).";
    UnknownSession => Error::NotFound("unknown session".into()),
        "unknown session (another party's session answers the same).";
    RegistrationState => Error::RegistrationState("this platform is registered already: update with PUT, or unregister with DELETE first".into()),
        "the registration's state does not allow this credentials request: a POST from a registered platform, a PUT or DELETE from one that is not (OCPI credentials module).";
    TooManyRequests => Error::TooManyRequests { retry_after_secs: 3 },
        "too many failed authentications from the caller's address (`http.auth_failures_per_minute`, `http.auth_failure_burst`): unknown or malformed credentials tokens are refused without a look-up until `Retry-After` seconds have passed. A token that authenticated before in this process is still accepted.";
    UnknownReceiver => Error::UnknownReceiver("OCPI-to-* names no party of the hub: NL*XYZ".into()),
        "the `OCPI-to-*` headers name no party of the hub (OCPI hub error 4001).";
    ForwardTimeout => Error::ForwardTimeout("NL*ABC did not answer within 2000 ms".into()),
        "the eMSP the request was forwarded to did not answer within its time budget (OCPI hub error 4002).";
    ReceiverNotConnected => Error::ReceiverNotConnected("NL*ABC is not reachable".into()),
        "the eMSP is known but not connected (OFFLINE, circuit breaker open, too many calls in flight), or the forwarded request failed (OCPI hub error 4003).";
    PayloadTooLarge => Error::PayloadTooLarge(65536),
        "the body is larger than `http.max_body_bytes` (64 KiB by default).";
    InternalError => Error::Internal,
        "unexpected server error.";
    Unavailable => Error::Unavailable,
        "the database is unavailable; the hub reconnects by itself. Try again after `Retry-After` seconds.";
}

/// The status table of the API description, from `Error::codes`.
pub fn status_table() -> String {
    let invalid = Error::Invalid(ValidationError::new("uid", "is longer than 36 characters"));
    let rows: Vec<(&str, Option<Error>)> = vec![
        ("success (PUT: 201 created, 200 replaced; no `data` on PUT and PATCH)", None),
        ("the body is not JSON", Some(Error::InvalidJson(String::new()))),
        (
            "JSON that breaks a rule: length, enum, URL/body mismatch, PATCH without `last_updated`, stale `last_updated`, bad `offset`/`limit`/date",
            Some(invalid),
        ),
        (
            "not enough information: several eMSPs hold the token, name one with `OCPI-to-*`",
            Some(Error::NotEnoughInformation(String::new())),
        ),
        ("unknown token", Some(Error::UnknownToken)),
        (
            "unknown session or endpoint; another party's object",
            Some(Error::NotFound(String::new())),
        ),
        (
            "missing or unknown credentials token",
            Some(Error::Unauthorized(String::new())),
        ),
        ("writing as another party", Some(Error::Forbidden(String::new()))),
        (
            "too many failed authentications from the address (`Retry-After`)",
            Some(Error::TooManyRequests {
                retry_after_secs: 0,
            }),
        ),
        ("method not allowed", Some(Error::MethodNotAllowed)),
        (
            "`/authorize` of a uid the hub forwards: `OCPI-to-*` names no party of the hub",
            Some(Error::UnknownReceiver(String::new())),
        ),
        (
            "`/authorize` of a uid the hub forwards: the eMSP did not answer within its time budget",
            Some(Error::ForwardTimeout(String::new())),
        ),
        (
            "`/authorize` of a uid the hub forwards: the eMSP is not connected, or the call failed",
            Some(Error::ReceiverNotConnected(String::new())),
        ),
        ("body larger than 64 KiB", Some(Error::PayloadTooLarge(0))),
        (
            "credentials POST from a registered platform, PUT or DELETE from an unregistered one",
            Some(Error::RegistrationState(String::new())),
        ),
        (
            "credentials POST or PUT: the partner's versions or version details cannot be read with its token",
            Some(Error::PartnerUnreachable(String::new())),
        ),
        (
            "credentials POST or PUT: the partner does not offer the version posted to",
            Some(Error::UnsupportedVersion(String::new())),
        ),
        (
            "credentials POST or PUT: the partner offers no endpoint the hub uses",
            Some(Error::NoUsableEndpoints(String::new())),
        ),
        ("database unavailable (`Retry-After: 1`)", Some(Error::Unavailable)),
        ("internal error", Some(Error::Internal)),
    ];
    let mut table = String::from("| situation | HTTP | OCPI `status_code` |\n|---|---|---|\n");
    for (situation, error) in rows {
        let (http, ocpi) = match error {
            None => ("200".to_owned(), 1000),
            Some(e) => {
                let (status, code) = OcpiError(e).codes();
                (status.as_u16().to_string(), code)
            }
        };
        table.push_str(&format!("| {situation} | {http} | {ocpi} |\n"));
    }
    table
}
