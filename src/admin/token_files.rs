//! `/admin/v1/tokens/export` and `/admin/v1/tokens/import`: tokens as NDJSON (one pushed Token
//! per line), streamed both ways in bounded memory. CSV is not built yet.

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::auth::{Bearer, TokensRead, TokensWrite};
use super::error::AdminError;
use super::params::{self, invalid};
use super::tokens::TokenSearch;
use crate::service::token_import::{self, Import};
use crate::service::AppState;

/// Tokens per page an export reads.
const EXPORT_PAGE: i64 = 1000;

/// Exports the pushed tokens matching the filters as NDJSON, in creation order.
#[utoipa::path(
    get,
    path = "/admin/v1/tokens/export",
    tag = "admin",
    operation_id = "admin_export_tokens",
    params(TokenSearch),
    responses(
        (status = 200, description = "`application/x-ndjson`: one Token as its eMSP pushed it per line, streamed page by page. Importing it again changes nothing. A caller restricted to parties exports only their tokens.", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "`invalid-parameter`, naming the parameter."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `tokens:read`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn export(
    caller: Bearer<TokensRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let search: TokenSearch = params::query(req.query_string())?;
    let filter = search.filter()?;
    let store = state.store.clone();
    let access = caller.parties().clone();
    // (next cursor, done): a page per step, so memory holds one page whatever the count.
    let pages = futures_util::stream::unfold(Some(0_i64), move |after| {
        let (store, filter, access) = (store.clone(), filter.clone(), access.clone());
        async move {
            let after = after?;
            match token_import::export_page(&store, &access, filter, after, EXPORT_PAGE).await {
                Ok((docs, next)) => {
                    let mut out = Vec::with_capacity(docs.len() * 256);
                    for doc in docs {
                        // A map of JSON values always serializes.
                        let _ = serde_json::to_writer(&mut out, &doc);
                        out.push(b'\n');
                    }
                    Some((Ok::<_, AdminError>(Bytes::from(out)), next))
                }
                Err(e) => Some((Err(AdminError::from(e)), None)),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(pages))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `true`: check and count every line, store nothing.
    pub dry_run: Option<String>,
}

/// Imports tokens from NDJSON, each line as its owner eMSP's PUT.
#[utoipa::path(
    post,
    path = "/admin/v1/tokens/import",
    tag = "admin",
    operation_id = "admin_import_tokens",
    params(ImportParams),
    request_body(content = String, content_type = "application/x-ndjson", description = "One Token (as an eMSP pushes it) per line."),
    responses(
        (status = 200, description = "`counts` (`created`, `replaced`, `unchanged`, `stale`, `invalid`), `errors` (line, field, message; the first 1000), `stale_lines`. Every valid line is stored whatever the others; a stale line (older `last_updated`) is skipped; an unchanged one is neither written nor pushed. One change-log entry (`token.import`) with the counts. For a caller restricted to parties, a line of another party is a line error (`party_id`).", body = Object),
        (status = 400, description = "`invalid-parameter`: `dry_run`, or a line longer than `http.max_body_bytes`."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `tokens:write`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn import(
    caller: Bearer<TokensWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    mut body: web::Payload,
) -> Result<HttpResponse, AdminError> {
    let q: ImportParams = params::query(req.query_string())?;
    let dry_run = params::boolean("dry_run", q.dry_run.as_deref())?.unwrap_or(false);
    let max_line = state.max_body_bytes;
    let mut import = Import::new(
        state.store.clone(),
        caller.parties().clone(),
        dry_run,
        state.max_future_skew,
    );
    let mut buffer: Vec<u8> = Vec::new();
    let mut number = 0_u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| invalid("body", format!("could not be read: {e}")))?;
        buffer.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = buffer[start..].iter().position(|b| *b == b'\n') {
            number += 1;
            import.line(number, &buffer[start..start + end]).await?;
            start += end + 1;
        }
        buffer.drain(..start);
        if buffer.len() > max_line {
            return Err(invalid(
                "body",
                format!(
                    "line {} is longer than {max_line} bytes (http.max_body_bytes)",
                    number + 1
                ),
            ));
        }
    }
    if !buffer.is_empty() {
        number += 1;
        import.line(number, &buffer).await?;
    }
    let done = import.finish(caller.actor()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "dry_run": dry_run,
        "lines": number,
        "counts": done.counts,
        "errors": done.errors,
        "stale_lines": done.stale_lines,
    })))
}

/// Full paths (the OpenAPI test reads these registrations).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/v1/tokens/export").route(web::get().to(export)));
    cfg.service(web::resource("/admin/v1/tokens/import").route(web::post().to(import)));
}
