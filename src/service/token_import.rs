//! Bulk import of tokens (NDJSON, one pushed Token per line; or CSV, `super::token_files`) and the
//! pages an export streams.
//! A line acts as its owner eMSP's PUT: validated the same way, a stale `last_updated` skipped,
//! an unchanged token neither written nor pushed. Lines are applied in batches, one write job each,
//! so memory stays bounded whatever the file's size.

use chrono::{TimeDelta, Utc};
use serde_json::{json, Map, Value};

use crate::domain::access::PartyAccess;
use crate::domain::datetime::{check_not_in_future, storage_precision};
use crate::domain::token::{validate_token, TokenWrite};
use crate::domain::ValidationError;
use crate::store::connections::{self, Change};
use crate::store::token_search::{self, TokenFilter};
use crate::store::tokens::{self, TokenRow};
use crate::store::{Store, StoreError, StoreResult};

use super::push;
use super::token_files::{self, CsvHeader, FileFormat};

/// Why a whole file is refused (a bad line is only a line error).
#[derive(Debug)]
pub enum FileError {
    /// The file cannot be read as its format says (a CSV header naming an unknown column).
    Bad(ValidationError),
    Store(StoreError),
}

impl From<StoreError> for FileError {
    fn from(e: StoreError) -> Self {
        FileError::Store(e)
    }
}

/// Lines per write job.
pub const BATCH: usize = 500;
/// Line errors kept in the answer (the count covers them all).
pub const MAX_REPORTED_ERRORS: usize = 1000;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    pub created: u64,
    pub replaced: u64,
    pub unchanged: u64,
    /// Lines older than the stored token (`last_updated`): skipped, as a PUT would.
    pub stale: u64,
    pub invalid: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// What takes an import file's records one by one (tokens or hub policy).
pub trait RecordSink {
    /// The record starting on line `number` (1-based).
    fn record(
        &mut self,
        number: u64,
        text: &[u8],
    ) -> impl std::future::Future<Output = Result<(), FileError>>;
}

impl RecordSink for Import {
    async fn record(&mut self, number: u64, text: &[u8]) -> Result<(), FileError> {
        Import::record(self, number, text).await
    }
}

/// An import in progress: feed it lines, then [`Import::finish`].
pub struct Import {
    store: Store,
    /// The caller's parties: a line of another owner is a line error.
    access: PartyAccess,
    format: FileFormat,
    /// A CSV file's header, once read.
    header: Option<CsvHeader>,
    dry_run: bool,
    max_future_skew: TimeDelta,
    pending: Vec<(u64, TokenWrite)>,
    pub counts: ImportCounts,
    pub errors: Vec<LineError>,
    pub stale_lines: Vec<u64>,
}

impl Import {
    pub fn new(
        store: Store,
        access: PartyAccess,
        format: FileFormat,
        dry_run: bool,
        max_future_skew: TimeDelta,
    ) -> Self {
        Import {
            store,
            access,
            format,
            header: None,
            dry_run,
            max_future_skew,
            pending: Vec::with_capacity(BATCH),
            counts: ImportCounts::default(),
            errors: Vec::new(),
            stale_lines: Vec::new(),
        }
    }

    fn refuse(&mut self, line: u64, e: ValidationError) {
        self.counts.invalid += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(LineError {
                line,
                field: e.field,
                message: e.message,
            });
        }
    }

    /// The record starting on line `number` (1-based) of the file; blank lines are skipped, and
    /// a CSV file's first record is its header.
    pub async fn record(&mut self, number: u64, text: &[u8]) -> Result<(), FileError> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let document = match self.format {
            FileFormat::Ndjson => match serde_json::from_slice::<Value>(text) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(ValidationError::new(
                    "",
                    "a line must be a JSON object (a Token)",
                )),
                Err(e) => Err(ValidationError::new("", format!("not JSON: {e}"))),
            },
            FileFormat::Csv => match &self.header {
                None => {
                    let header = CsvHeader::parse(text, &token_files::TOKEN_COLUMNS, &[])
                        .map_err(FileError::Bad)?;
                    self.header = Some(header);
                    return Ok(());
                }
                Some(header) => token_files::token_from_csv(header, text),
            },
        };
        self.document(number, document).await?;
        Ok(())
    }

    async fn document(
        &mut self,
        number: u64,
        document: Result<Map<String, Value>, ValidationError>,
    ) -> StoreResult<()> {
        let parsed = document.and_then(validate_token).and_then(|write| {
            if !self.access.permits(&write.key.owner) {
                return Err(ValidationError::new(
                    "party_id",
                    format!(
                        "{} is not one of the caller's parties ({})",
                        write.key.owner, self.access
                    ),
                ));
            }
            check_not_in_future(
                "last_updated",
                write.last_updated,
                Utc::now(),
                self.max_future_skew,
            )?;
            Ok(write)
        });
        match parsed {
            Ok(write) => {
                self.pending.push((number, write));
                if self.pending.len() >= BATCH {
                    self.flush().await?;
                }
            }
            Err(e) => self.refuse(number, e),
        }
        Ok(())
    }

    async fn flush(&mut self) -> StoreResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let dry_run = self.dry_run;
        let apply = move |conn: &mut crate::store::Conn<'_>| {
            let now = Utc::now();
            let mut outcomes = Vec::with_capacity(batch.len());
            for (line, write) in &batch {
                let existing = tokens::find_by_key(conn, &write.key, true)?;
                let outcome = match &existing {
                    Some(row) if unchanged(row, write) => Outcome::Unchanged,
                    Some(row) if storage_precision(write.last_updated) < row.last_updated => {
                        Outcome::Stale
                    }
                    Some(_) if dry_run => Outcome::Replaced,
                    None if dry_run => Outcome::Created,
                    _ => {
                        let put = tokens::put(conn, write, now)?;
                        if put != tokens::PutOutcome::Stale {
                            push::queue_token_change(conn, &write.key, now)?;
                        }
                        match put {
                            tokens::PutOutcome::Created => Outcome::Created,
                            tokens::PutOutcome::Replaced => Outcome::Replaced,
                            tokens::PutOutcome::Stale => Outcome::Stale,
                        }
                    }
                };
                outcomes.push((*line, outcome));
            }
            Ok(outcomes)
        };
        // A dry run writes nothing: it reads, so it runs as a read job.
        let outcomes = if dry_run {
            self.store.read(apply).await?
        } else {
            self.store.write(apply).await?
        };
        for (line, outcome) in outcomes {
            match outcome {
                Outcome::Created => self.counts.created += 1,
                Outcome::Replaced => self.counts.replaced += 1,
                Outcome::Unchanged => self.counts.unchanged += 1,
                Outcome::Stale => {
                    self.counts.stale += 1;
                    if self.stale_lines.len() < MAX_REPORTED_ERRORS {
                        self.stale_lines.push(line);
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies what is left and records one change-log entry with the counts (not for a dry run).
    pub async fn finish(mut self, actor: String) -> StoreResult<Import> {
        self.flush().await?;
        if !self.dry_run {
            let counts = self.counts.clone();
            let subject = super::token_admin::many_tokens_subject(&self.access);
            self.store
                .write(move |conn| {
                    connections::record_change(
                        conn,
                        &Change {
                            actor: &actor,
                            action: "token.import",
                            subject: &subject,
                            before: None,
                            after: Some(json!(counts)),
                        },
                        Utc::now().naive_utc(),
                    )
                })
                .await?;
        }
        Ok(self)
    }
}

enum Outcome {
    Created,
    Replaced,
    Unchanged,
    Stale,
}

/// The same document with the same `last_updated`: a PUT of it would change nothing.
fn unchanged(row: &TokenRow, write: &TokenWrite) -> bool {
    storage_precision(write.last_updated) == row.last_updated
        && row.pushed().is_ok_and(|stored| stored == write.body)
}

/// One page of an export: the pushed documents after the row id `after`, and the next cursor.
pub async fn export_page(
    store: &Store,
    access: &PartyAccess,
    mut filter: TokenFilter,
    after: i64,
    limit: i64,
) -> StoreResult<(Vec<Map<String, Value>>, Option<i64>)> {
    filter.within = access.clone();
    store
        .read(move |conn| {
            let page = token_search::search(conn, &filter, after, limit)?;
            let docs = page
                .rows
                .iter()
                .map(TokenRow::pushed)
                .collect::<StoreResult<_>>()?;
            Ok((docs, page.next_after))
        })
        .await
}
