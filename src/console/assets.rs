//! The console's stylesheet, compiled into the binary: the pages work offline.

use actix_web::http::header;
use actix_web::HttpResponse;

const CSS: &str = include_str!("assets/console.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(CSS)
}
