//! Liveness and readiness for orchestrators and load balancers.

use actix_web::{web, HttpResponse};
use serde_json::json;
use utoipa::ToSchema;

use crate::service::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "get_healthz",
    summary = "Liveness",
    description = "The process is up and serving. No authentication; not an OCPI envelope.",
    responses(
        (status = 200, description = "Alive.", body = crate::ops::health::Health),
    )
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers, every migration is applied, and (SQLite) the writer takes writes.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "get_readyz",
    summary = "Readiness",
    description = "The database answers, every migration is applied, and on SQLite the single writer takes writes. No authentication; not an OCPI envelope.",
    responses(
        (status = 200, description = "Ready.", body = crate::ops::health::Readiness),
        (status = 503, description = "Not ready: the database does not answer, a migration is missing, or the SQLite writer has stopped.", body = crate::ops::health::Readiness,
            example = json!({"status": "unavailable", "database": "postgres"})),
    )
)]
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

/// Liveness.
#[derive(ToSchema)]
#[schema(examples(json!({"status": "ok"})))]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Readiness: the database answers, every migration is applied, and (SQLite) the writer takes
/// writes.
#[derive(ToSchema)]
#[schema(examples(json!({"status": "ready", "database": "sqlite"})))]
pub struct Readiness {
    /// `ready` (HTTP 200) or `unavailable` (HTTP 503).
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}
