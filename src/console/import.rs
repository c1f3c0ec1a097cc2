//! Import: upload an NDJSON or CSV file of tokens (each record acting as its owner eMSP's PUT)
//! through the import service; the answer is the per-line report. The file is read as
//! it arrives, line by line, so memory stays bounded whatever its size.

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use askama::Template;
use futures_util::StreamExt;

use super::auth::{ConsoleUpload, ConsoleUser, TokensWrite};
use super::error::ConsoleError;
use super::view::{page, Nav};
use crate::domain::ValidationError;
use crate::service::token_files::{FileFormat, RecordSplitter};
use crate::service::token_import::{FileError, Import, ImportCounts, LineError};
use crate::service::AppState;

/// A longer line is refused (a token is well under 8 KiB): bounds what one line can hold.
const MAX_LINE_BYTES: usize = 64 * 1024;

#[derive(Template)]
#[template(path = "console/import.html")]
struct ImportPage {
    title: &'static str,
    nav: Nav,
    report: Option<Report>,
}

struct Report {
    dry_run: bool,
    lines: u64,
    counts: ImportCounts,
    errors: Vec<LineError>,
    stale_lines: Vec<u64>,
}

/// The import form.
#[utoipa::path(
    get,
    path = "/console/import",
    tag = "console",
    operation_id = "console_import_form",
    responses(
        (status = 200, description = "The upload form.", content_type = "text/html"),
        (status = 303, description = "No console session: to `/console/login`."),
        (status = 403, description = "The account lacks `tokens:write`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn form(user: ConsoleUser<TokensWrite>) -> Result<HttpResponse, ConsoleError> {
    page(&ImportPage {
        title: "Import",
        nav: Nav::of(&user, "import"),
        report: None,
    })
}

fn file_error(e: FileError) -> ConsoleError {
    match e {
        FileError::Bad(e) => ConsoleError::Invalid(e),
        FileError::Store(e) => e.into(),
    }
}

fn bad_upload(message: impl Into<String>) -> ConsoleError {
    ConsoleError::Invalid(ValidationError::new("file", message))
}

/// Answers with the report on the page itself (not a redirect): it is the result of this upload,
/// kept nowhere else; the change log holds the counts.
#[utoipa::path(
    post,
    path = "/console/import",
    tag = "console",
    operation_id = "console_import",
    params(
        ("csrf" = String, Query, description = "The session's CSRF token (the multipart body is streamed)."),
    ),
    request_body(content_type = "multipart/form-data", description = "`dry_run` (`true`/`false`) then `file` (NDJSON)."),
    responses(
        (status = 200, description = "The report: counts and each refused line with its field.", content_type = "text/html"),
        (status = 400, description = "No file, or a line over 64 KiB.", content_type = "text/html"),
        (status = 403, description = "The account lacks `tokens:write`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn upload(
    upload: ConsoleUpload<TokensWrite>,
    state: web::Data<AppState>,
    mut multipart: Multipart,
) -> Result<HttpResponse, ConsoleError> {
    let mut dry_run = false;
    let mut format = FileFormat::Ndjson;
    let mut done: Option<(Import, u64)> = None;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| bad_upload(format!("cannot be read: {e}")))?;
        match field.name().unwrap_or_default() {
            "dry_run" | "format" => {
                let name = field.name().unwrap_or_default().to_owned();
                let mut value = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| bad_upload(format!("cannot be read: {e}")))?;
                    if value.len() + chunk.len() > 16 {
                        return Err(ValidationError::new(&name, "is too long").into());
                    }
                    value.extend_from_slice(&chunk);
                }
                let value = String::from_utf8_lossy(&value).into_owned();
                if name == "dry_run" {
                    dry_run = value == "true";
                } else {
                    format = FileFormat::parse("format", &value)?;
                }
            }
            "file" => {
                let mut import = Import::new(
                    state.store.clone(),
                    upload.user.parties().clone(),
                    format,
                    dry_run,
                    state.max_future_skew,
                );
                let mut splitter = RecordSplitter::new(format, MAX_LINE_BYTES);
                let mut last = 0;
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| bad_upload(format!("cannot be read: {e}")))?;
                    for (number, record) in splitter.push(&chunk)? {
                        last = number;
                        import.record(number, &record).await.map_err(file_error)?;
                    }
                }
                if let Some((number, record)) = splitter.finish() {
                    last = number;
                    import.record(number, &record).await.map_err(file_error)?;
                }
                done = Some((import, last));
            }
            _ => while field.next().await.is_some() {},
        }
    }
    let Some((import, lines)) = done else {
        return Err(bad_upload("is missing: choose an NDJSON or CSV file"));
    };
    let user = upload.user;
    let import = import.finish(user.actor()).await?;
    page(&ImportPage {
        title: "Import",
        nav: Nav::of(&user, "import"),
        report: Some(Report {
            dry_run,
            lines,
            counts: import.counts.clone(),
            errors: import.errors.clone(),
            stale_lines: import.stale_lines.clone(),
        }),
    })
}
