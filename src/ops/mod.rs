//! What operators run the hub with: health and readiness, Prometheus metrics, the request log
//! and ids, the budgets against unauthenticated load, and the background sweeper.

pub mod health;
pub mod limits;
pub mod metrics;
pub mod request_context;
pub mod sweeper;

use actix_web::HttpResponse;

/// A path outside the OCPI scope, with a method it does not serve: plain JSON, not an envelope.
pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(serde_json::json!({
        "error": "method_not_allowed",
        "message": "method not allowed",
    }))
}
