//! The OCPI response envelope: every OCPI answer, errors included, is one of these.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use chrono::Utc;
use serde::Serialize;

use crate::domain::datetime::format_ocpi_datetime;

pub const SUCCESS: u16 = 1000;

#[derive(Serialize)]
pub struct Envelope<T: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    pub status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    pub timestamp: String,
}

impl<T: Serialize> Envelope<T> {
    pub fn new(data: Option<T>, status_code: u16, status_message: Option<String>) -> Self {
        Self {
            data,
            status_code,
            status_message,
            timestamp: format_ocpi_datetime(&Utc::now()),
        }
    }
}

/// HTTP 200 / OCPI 1000 with `data`.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    respond(StatusCode::OK, Envelope::new(Some(data), SUCCESS, None))
}

/// OCPI 1000 without `data` (the answer to a PUT or PATCH), with the given HTTP status.
pub fn ok_empty(status: StatusCode) -> HttpResponse {
    respond(status, Envelope::<()>::new(None, SUCCESS, None))
}

pub fn respond<T: Serialize>(status: StatusCode, envelope: Envelope<T>) -> HttpResponse {
    HttpResponse::build(status).json(envelope)
}
