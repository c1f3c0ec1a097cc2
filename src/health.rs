//! Liveness and readiness for orchestrators and load balancers.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// The process is up and serving.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.check_ready().await {
        Ok(()) => HttpResponse::Ok()
            .json(json!({"status": "ready", "database": state.store.kind().name()})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "database": state.store.kind().name()}))
        }
    }
}
