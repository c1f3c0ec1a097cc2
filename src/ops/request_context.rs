//! Request ids and the request log: echoes (or creates) `X-Request-ID` and `X-Correlation-ID`,
//! and writes one log line and one metric sample per request.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

/// Who called, as the request log shows it; set by the surface's authentication.
#[derive(Clone, Debug)]
pub struct CallerTag(pub String);

/// Why the request was refused, as the OCPI error message says it (never a secret): set on the
/// response where an OCPI error is rendered, logged as `reason` on client errors.
#[derive(Clone, Debug)]
pub struct ErrorReason(pub String);

/// The request's ids, echoed on the response and logged.
#[derive(Clone, Debug)]
pub struct RequestIds {
    pub request_id: String,
    pub correlation_id: String,
}

const X_REQUEST_ID: &str = "x-request-id";
const X_CORRELATION_ID: &str = "x-correlation-id";

fn id_header(req: &ServiceRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .map(str::to_owned)
}

/// Echoes (or creates) `X-Request-ID` and `X-Correlation-ID`, and writes one log line per request
/// with the route pattern, never the raw path (it holds token uids).
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let ids = RequestIds {
        request_id: id_header(&req, X_REQUEST_ID)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        correlation_id: id_header(&req, X_CORRELATION_ID)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    req.extensions_mut().insert(ids.clone());
    let method = req.method().clone();
    let method_label = crate::ops::metrics::method_label(&method);
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    for (name, value) in [
        (X_REQUEST_ID, &ids.request_id),
        (X_CORRELATION_ID, &ids.correlation_id),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".into());
    let caller = res
        .request()
        .extensions()
        .get::<CallerTag>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let status = res.status().as_u16();
    // 5xx messages are generic ("internal error"); the cause is logged where it happened.
    let reason = (status < 500)
        .then(|| res.response().extensions().get::<ErrorReason>().cloned())
        .flatten()
        .map(|r| r.0);
    let elapsed = started.elapsed().as_secs_f64();
    crate::ops::metrics::record_request(method_label, &route, status, elapsed);
    tracing::info!(
        request_id = %ids.request_id,
        correlation_id = %ids.correlation_id,
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed * 1000.0,
        party = %caller,
        reason = reason.as_deref(),
        "request"
    );
    Ok(res)
}
