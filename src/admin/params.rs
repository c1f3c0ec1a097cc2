//! Query and path parameters of the management API, validated into domain types at the edge:
//! every refusal names its parameter (problem type `invalid-parameter`).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::error::AdminError;
use crate::domain::datetime::parse_ocpi_datetime;
use crate::domain::ids::PartyKey;
use crate::domain::token::Whitelist;
use crate::domain::ValidationError;

/// Page size of list routes when `limit` is absent, and its bound.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// The query string as `T` (every field a string, so only an unknown parameter fails here).
pub fn query<T: DeserializeOwned>(query_string: &str) -> Result<T, AdminError> {
    actix_web::web::Query::<T>::from_query(query_string)
        .map(actix_web::web::Query::into_inner)
        .map_err(|e| {
            AdminError::Invalid(ValidationError::new("query", format!("is malformed: {e}")))
        })
}

pub fn limit(value: Option<&str>) -> Result<i64, AdminError> {
    let Some(value) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    match value.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(invalid(
            "limit",
            format!("must be a number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// A cursor the API handed out: opaque to clients, a row id here.
pub fn cursor(value: Option<&str>) -> Result<Option<i64>, AdminError> {
    value
        .map(|v| match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            _ => Err(invalid("cursor", "is not a cursor this API handed out")),
        })
        .transpose()
}

pub fn boolean(field: &str, value: Option<&str>) -> Result<Option<bool>, AdminError> {
    value
        .map(|v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(invalid(field, "must be true or false")),
        })
        .transpose()
}

pub fn datetime(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, AdminError> {
    Ok(value.map(|v| parse_ocpi_datetime(field, v)).transpose()?)
}

pub fn whitelist(field: &str, value: Option<&str>) -> Result<Option<Whitelist>, AdminError> {
    value
        .map(|v| {
            Whitelist::from_db(v)
                .ok_or_else(|| invalid(field, "must be ALWAYS, ALLOWED, ALLOWED_OFFLINE or NEVER"))
        })
        .transpose()
}

/// A party named `CC*PID` (e.g. `NL*ABC`), as the rest of the API writes parties.
pub fn party(field: &str, value: Option<&str>) -> Result<Option<PartyKey>, AdminError> {
    value.map(|v| party_named(field, v)).transpose()
}

pub fn party_named(field: &str, value: &str) -> Result<PartyKey, AdminError> {
    let (cc, pid) = value
        .split_once('*')
        .ok_or_else(|| invalid(field, "must be a party as COUNTRY*PARTY, e.g. NL*ABC"))?;
    PartyKey::parse(cc, pid).map_err(|e| invalid(field, format!("{}: {}", e.field, e.message)))
}

pub fn invalid(field: &str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid(ValidationError::new(field, message))
}
