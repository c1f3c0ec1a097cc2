//! The console's stylesheet, compiled into the binary: the pages work offline.

use actix_web::http::header;
use actix_web::HttpResponse;

const CSS: &str = include_str!("assets/console.css");

/// The console's stylesheet.
#[utoipa::path(
    get,
    path = "/console/assets/console.css",
    tag = "console",
    operation_id = "console_stylesheet",
    responses(
        (status = 200, description = "The console's stylesheet (compiled into the binary).", content_type = "text/css"),
    )
)]
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(CSS)
}
