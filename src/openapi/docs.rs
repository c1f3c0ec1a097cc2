//! Serves the document at `/openapi.json` and Swagger UI at `/docs`, with every asset compiled
//! into the binary (no CDN: it works offline).

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{to_pretty_json, DOCS_PATH, OPENAPI_PATH};
use crate::service::AppState;

/// `/openapi.json`, `/docs` (Swagger UI) and `/docs/{file}` (its assets, from the binary).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi_json))
            .default_service(web::to(crate::ops::method_not_allowed)),
    )
    .service(
        web::resource("/docs")
            .route(web::get().to(docs_page))
            .default_service(web::to(crate::ops::method_not_allowed)),
    )
    .service(
        web::resource("/docs/{file}")
            .route(web::get().to(docs_asset))
            .default_service(web::to(crate::ops::method_not_allowed)),
    );
}

fn cached_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(to_pretty_json)
}

/// This OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "documentation",
    operation_id = "get_openapi_document",
    summary = "This OpenAPI 3.1 document",
    description = "The same bytes as `openapi/openapi.json` in the repository. No authentication.",
    responses(
        (status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object),
    )
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(cached_json())
}

/// The path under which the hub is reached, from `http.public_url` (empty at the root), so that
/// the page finds its assets and the document behind a reverse proxy that adds a prefix.
fn base_path(req: &HttpRequest) -> String {
    req.app_data::<web::Data<AppState>>()
        .and_then(|state| url::Url::parse(&state.public_url).ok())
        .map(|url| url.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

fn swagger_config(base: &str) -> Arc<utoipa_swagger_ui::Config<'static>> {
    Arc::new(
        utoipa_swagger_ui::Config::new([format!("{base}{OPENAPI_PATH}")])
            // The default would load a validator badge from the Internet.
            .validator_url("none")
            .display_operation_id(true),
    )
}

fn swagger_file(file: &str, base: &str) -> HttpResponse {
    match utoipa_swagger_ui::serve(file, swagger_config(base)) {
        Ok(Some(file)) => {
            HttpResponse::Ok()
                .content_type(file.content_type)
                .body(match file.bytes {
                    // The assets are compiled in: no copy of the 1.5 MB bundle per request.
                    Cow::Borrowed(bytes) => web::Bytes::from_static(bytes),
                    Cow::Owned(bytes) => web::Bytes::from(bytes),
                })
        }
        Ok(None) => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such file"),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a Swagger UI file");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Swagger UI, rendering `/openapi.json`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "documentation",
    operation_id = "get_docs_page",
    summary = "Swagger UI rendering this document",
    description = "An HTML page whose scripts and styles come from `/docs/{file}`, served from the binary: it works without Internet access. No authentication.",
    responses(
        (status = 200, description = "The HTML page.", content_type = "text/html", body = String),
    )
)]
pub async fn docs_page(req: HttpRequest) -> HttpResponse {
    let base = base_path(&req);
    let response = swagger_file("index.html", &base);
    if response.status() != StatusCode::OK {
        return response;
    }
    let Some(html) = response
        .into_body()
        .try_into_bytes()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
    else {
        return HttpResponse::InternalServerError().finish();
    };
    // The app trims trailing slashes, so `/docs` and `/docs/` are one page, and the page's relative
    // asset links (`./swagger-ui.css`) would resolve against `/` at `/docs`: anchor them.
    let html = html
        .replacen(
            "<head>",
            &format!("<head>\n    <base href=\"{base}{DOCS_PATH}/\" />"),
            1,
        )
        .replacen(
            "<title>Swagger UI</title>",
            "<title>tokenhub API</title>",
            1,
        );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// A file of Swagger UI (scripts, styles, icons), compiled into the binary.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "documentation",
    operation_id = "get_docs_asset",
    summary = "A Swagger UI asset",
    description = "Scripts, styles and icons of the `/docs` page, compiled into the binary. No authentication.",
    params(("file" = String, Path, description = "File name, e.g. `swagger-ui-bundle.js`.")),
    responses(
        (status = 200, description = "The file; its content type follows from its name (JavaScript, CSS, PNG, HTML).", content_type = "*/*"),
        (status = 404, description = "No such file.", content_type = "text/plain", body = String),
    )
)]
pub async fn docs_asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    swagger_file(&file, &base_path(&req))
}
