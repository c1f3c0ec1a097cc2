//! Request bodies: read with a size limit, parsed as JSON into an object. Not-JSON is HTTP 400;
//! everything about its content is checked later and answered with OCPI 2001.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::ocpi::common::OcpiError;
use crate::service::AppState;

/// A JSON body, possibly empty.
pub struct JsonBody(pub Option<Value>);

impl JsonBody {
    /// The body must be a JSON object.
    pub fn object(self) -> Result<Map<String, Value>, Error> {
        match self.0 {
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(Error::invalid("", "the body must be a JSON object")),
            None => Err(Error::invalid("", "a JSON body is required")),
        }
    }
}

impl FromRequest for JsonBody {
    type Error = OcpiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.max_body_bytes)
            .unwrap_or(64 * 1024);
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            let body: Result<JsonBody, Error> = async move {
                if declared.is_some_and(|len| len > limit) {
                    return Err(Error::PayloadTooLarge(limit));
                }
                let mut bytes = web::BytesMut::new();
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk
                        .map_err(|e| Error::InvalidJson(format!("cannot read the body: {e}")))?;
                    if bytes.len() + chunk.len() > limit {
                        return Err(Error::PayloadTooLarge(limit));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(JsonBody(None));
                }
                serde_json::from_slice::<Value>(&bytes)
                    .map(|v| JsonBody(Some(v)))
                    .map_err(|e| Error::InvalidJson(e.to_string()))
            }
            .await;
            body.map_err(OcpiError::from)
        })
    }
}
