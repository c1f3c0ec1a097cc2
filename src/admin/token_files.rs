//! `/admin/v1/tokens/export`, `/admin/v1/tokens/import` and `/admin/v1/tokens/policy/import`:
//! tokens as NDJSON (one pushed Token per line) or CSV (`service::token_files`: a header, the
//! documented columns), and hub-policy lines in either format; streamed both ways in bounded
//! memory (a page of the export, a record of the import at a time).

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
use crate::service::policy_import::PolicyImport;
use crate::service::token_files::{self, FileFormat, RecordSplitter};
use crate::service::token_import::{self, FileError, Import, RecordSink};
use crate::service::AppState;

/// Tokens per page an export reads.
const EXPORT_PAGE: i64 = 1000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatParam {
    /// `ndjson` (default) or `csv`.
    pub format: Option<String>,
}

/// [`TokenSearch`] and `format` in one query string (written out: serde's `flatten` would accept
/// unknown parameters).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    uid: Option<String>,
    contract_id: Option<String>,
    group_id: Option<String>,
    party: Option<String>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    valid: Option<String>,
    whitelist: Option<String>,
    blocked: Option<String>,
    expiring_before: Option<String>,
    changed_since: Option<String>,
    format: Option<String>,
}

fn format_of(value: Option<&str>) -> Result<FileFormat, AdminError> {
    Ok(value
        .map(|f| FileFormat::parse("format", f))
        .transpose()?
        .unwrap_or(FileFormat::Ndjson))
}

/// Exports the pushed tokens matching the filters as NDJSON or CSV, in creation order.
#[utoipa::path(
    get,
    path = "/admin/v1/tokens/export",
    tag = "admin",
    operation_id = "admin_export_tokens",
    params(TokenSearch, FormatParam),
    responses(
        (status = 200, description = "`application/x-ndjson`: one Token as its eMSP pushed it per line; or `text/csv` (`format=csv`): a header and one record per token, columns `country_code, party_id, uid, type, contract_id, visual_number, issuer, group_id, valid, whitelist, language, default_profile_type, energy_contract_supplier_name, energy_contract_id, last_updated, extra` (`extra`: a JSON object of any other field). Streamed page by page. Importing it again changes nothing. A caller restricted to parties exports only their tokens.", content_type = "application/x-ndjson", body = String),
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
    let q: ExportQuery = params::query(req.query_string())?;
    let format = format_of(q.format.as_deref())?;
    let search = TokenSearch {
        uid: q.uid,
        contract_id: q.contract_id,
        group_id: q.group_id,
        party: q.party,
        token_type: q.token_type,
        valid: q.valid,
        whitelist: q.whitelist,
        blocked: q.blocked,
        expiring_before: q.expiring_before,
        changed_since: q.changed_since,
    };
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
                    if format == FileFormat::Csv && after == 0 {
                        out.extend(token_files::csv_record(token_files::TOKEN_COLUMNS));
                    }
                    for doc in docs {
                        match format {
                            FileFormat::Ndjson => {
                                // A map of JSON values always serializes.
                                let _ = serde_json::to_writer(&mut out, &doc);
                                out.push(b'\n');
                            }
                            FileFormat::Csv => out.extend(token_files::token_to_csv(&doc)),
                        }
                    }
                    Some((Ok::<_, AdminError>(Bytes::from(out)), next))
                }
                Err(e) => Some((Err(AdminError::from(e)), None)),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .streaming(pages))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `true`: check and count every line, store nothing.
    pub dry_run: Option<String>,
    /// `ndjson` or `csv`; absent: `csv` when the body is `text/csv`, else `ndjson`.
    pub format: Option<String>,
}

/// The import's options: dry run, and the format from `format` or the body's content type.
fn import_options(req: &HttpRequest) -> Result<(bool, FileFormat), AdminError> {
    let q: ImportParams = params::query(req.query_string())?;
    let dry_run = params::boolean("dry_run", q.dry_run.as_deref())?.unwrap_or(false);
    let format = match q.format.as_deref() {
        Some(f) => FileFormat::parse("format", f)?,
        None => {
            let csv = req
                .headers()
                .get(actix_web::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
            if csv {
                FileFormat::Csv
            } else {
                FileFormat::Ndjson
            }
        }
    };
    Ok((dry_run, format))
}

impl From<FileError> for AdminError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Bad(e) => AdminError::Invalid(e),
            FileError::Store(e) => e.into(),
        }
    }
}

/// Feeds the body's records to `sink`, one at a time; the number of lines read.
async fn each_record<S: RecordSink>(
    body: &mut web::Payload,
    format: FileFormat,
    max_record: usize,
    sink: &mut S,
) -> Result<u64, AdminError> {
    let mut splitter = RecordSplitter::new(format, max_record);
    let mut last = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| invalid("body", format!("could not be read: {e}")))?;
        for (number, record) in splitter.push(&chunk)? {
            last = number;
            sink.record(number, &record).await?;
        }
    }
    if let Some((number, record)) = splitter.finish() {
        last = number;
        sink.record(number, &record).await?;
    }
    Ok(last)
}

/// Imports tokens from NDJSON or CSV, each line as its owner eMSP's PUT.
#[utoipa::path(
    post,
    path = "/admin/v1/tokens/import",
    tag = "admin",
    operation_id = "admin_import_tokens",
    params(ImportParams),
    request_body(content = String, content_type = "application/x-ndjson", description = "One Token (as an eMSP pushes it) per line; or `text/csv` with a header naming columns of the export's set (any order; `extra`: a JSON object of other fields)."),
    responses(
        (status = 200, description = "`counts` (`created`, `replaced`, `unchanged`, `stale`, `invalid`), `errors` (line, field, message; the first 1000), `stale_lines`. Every valid line is stored whatever the others; a stale line (older `last_updated`) is skipped; an unchanged one is neither written nor pushed. One change-log entry (`token.import`) with the counts. For a caller restricted to parties, a line of another party is a line error (`party_id`).", body = Object),
        (status = 400, description = "`invalid-parameter`: `dry_run`, `format`, a CSV `header` naming an unknown column, or a line longer than `http.max_body_bytes`."),
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
    let (dry_run, format) = import_options(&req)?;
    let mut import = Import::new(
        state.store.clone(),
        caller.parties().clone(),
        format,
        dry_run,
        state.max_future_skew,
    );
    let lines = each_record(&mut body, format, state.max_body_bytes, &mut import).await?;
    let done = import.finish(caller.actor()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "dry_run": dry_run,
        "lines": lines,
        "counts": done.counts,
        "errors": done.errors,
        "stale_lines": done.stale_lines,
    })))
}

/// Imports hub policy: each line names a token and sets its whole policy, as `PUT .../policy`.
#[utoipa::path(
    post,
    path = "/admin/v1/tokens/policy/import",
    tag = "admin",
    operation_id = "admin_import_token_policy",
    params(ImportParams),
    request_body(content = String, content_type = "application/x-ndjson", description = "Per line: `country_code`, `party_id`, `uid`, `type` (default `RFID`) and the policy: `blocked`, `block_reason` (required to block), `valid_from`, `valid_until`, `max_concurrent`, `whitelist_override`; what is absent is cleared. NDJSON objects with these keys, or `text/csv` with these columns (a header line first)."),
    responses(
        (status = 200, description = "`counts` (`changed`, `unchanged`, `invalid`), `errors` (line, field, message; the first 1000; an unknown token is a line error on `uid`), `pushes_queued`. Every valid line is applied whatever the others; a line whose policy is the stored one writes and pushes nothing. One change-log entry (`token.policy.import`) with the counts, beside each token's `token.policy`. For a caller restricted to parties, a line of another party is a line error (`party_id`).", body = Object),
        (status = 400, description = "`invalid-parameter`: `dry_run`, `format`, a CSV `header`, or a line longer than `http.max_body_bytes`."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `tokens:write`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn import_policy(
    caller: Bearer<TokensWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    mut body: web::Payload,
) -> Result<HttpResponse, AdminError> {
    let (dry_run, format) = import_options(&req)?;
    let mut import = PolicyImport::new(
        state.store.clone(),
        caller.parties().clone(),
        format,
        dry_run,
        caller.actor(),
    );
    let lines = each_record(&mut body, format, state.max_body_bytes, &mut import).await?;
    let done = import.finish().await?;
    Ok(HttpResponse::Ok().json(json!({
        "dry_run": dry_run,
        "lines": lines,
        "counts": done.counts,
        "errors": done.errors,
        "pushes_queued": done.pushes,
    })))
}

/// Full paths (the OpenAPI test reads these registrations). Registered before
/// `tokens::routes`: `/admin/v1/tokens/policy/import` would otherwise match its
/// `/{country_code}/{party_id}/{uid}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/v1/tokens/export").route(web::get().to(export)));
    cfg.service(web::resource("/admin/v1/tokens/import").route(web::post().to(import)));
    cfg.service(
        web::resource("/admin/v1/tokens/policy/import").route(web::post().to(import_policy)),
    );
}
