//! Bulk import of tokens (NDJSON, one pushed Token per line; or CSV, `super::token_files`) and the
//! pages an export streams.
//! A line acts as its owner eMSP's PUT: validated the same way, a stale `last_updated` skipped,
//! an unchanged token neither written nor pushed. Lines are applied in batches, one write job each,
//! so memory stays bounded whatever the file's size.

use std::collections::HashMap;

use chrono::{TimeDelta, Utc};
use serde_json::{json, Map, Value};

use crate::domain::access::PartyAccess;
use crate::domain::datetime::{check_not_in_future, storage_precision};
use crate::domain::token::{validate_token, TokenKey, TokenWrite};
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

impl LineError {
    /// Keeps line `line`'s error in `errors`, up to [`MAX_REPORTED_ERRORS`].
    pub fn report(errors: &mut Vec<LineError>, line: u64, e: ValidationError) {
        if errors.len() < MAX_REPORTED_ERRORS {
            errors.push(LineError {
                line,
                field: e.field,
                message: e.message,
            });
        }
    }
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
        LineError::report(&mut self.errors, line, e);
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
        let apply = move |conn: &mut crate::store::Conn<'_>| apply_batch(conn, &batch, dry_run);
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

/// Decides every line of `batch` as its PUT would, in order (a key seen earlier in the batch
/// compares with that line), then writes the batch: one read of the stored rows, one multi-row
/// insert of the new tokens (in the order of their first line), a replacement per changed stored
/// token with its last line, and one upsert of the pushes of every changed token. A dry run
/// decides only. Batching cuts ~5 statements a line to a few a batch (BENCHMARKS.md, "Management
/// API files").
pub(super) fn apply_batch(
    conn: &mut crate::store::Conn<'_>,
    batch: &[(u64, TokenWrite)],
    dry_run: bool,
) -> StoreResult<Vec<(u64, Outcome)>> {
    let now = Utc::now();
    let keys: Vec<&TokenKey> = batch.iter().map(|(_, w)| &w.key).collect();
    let stored_rows = tokens::find_by_keys(conn, &keys, !dry_run)?;
    let stored: HashMap<DbKey<'_>, &TokenRow> = stored_rows
        .iter()
        .map(|row| {
            let key = (
                row.uid_key.as_str(),
                row.token_type.as_str(),
                row.country_code.as_str(),
                row.party_id.as_str(),
            );
            (key, row)
        })
        .collect();
    // Per key of the batch: the index of the line that wrote it last here, and of its first
    // line when that line created it.
    let mut latest: HashMap<DbKey<'_>, usize> = HashMap::new();
    let mut created: Vec<DbKey<'_>> = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for (i, (line, write)) in batch.iter().enumerate() {
        let key = db_key(&write.key);
        let outcome = match (latest.get(&key), stored.get(&key)) {
            (Some(&j), _) => {
                let before = &batch[j].1;
                let stamp = storage_precision(write.last_updated);
                let before_stamp = storage_precision(before.last_updated);
                if stamp == before_stamp && before.body == write.body {
                    Outcome::Unchanged
                } else if stamp < before_stamp {
                    Outcome::Stale
                } else {
                    Outcome::Replaced
                }
            }
            (None, Some(row)) if unchanged(row, write) => Outcome::Unchanged,
            (None, Some(row)) if storage_precision(write.last_updated) < row.last_updated => {
                Outcome::Stale
            }
            (None, Some(_)) => Outcome::Replaced,
            (None, None) => {
                created.push(key);
                Outcome::Created
            }
        };
        if matches!(outcome, Outcome::Created | Outcome::Replaced) {
            latest.insert(key, i);
        }
        outcomes.push((*line, outcome));
    }
    if dry_run {
        return Ok(outcomes);
    }
    let mut changed: Vec<(i64, &TokenKey)> = Vec::with_capacity(latest.len());
    let new_writes: Vec<&TokenWrite> = created.iter().map(|k| &batch[latest[k]].1).collect();
    let ids = tokens::create_many(conn, &new_writes, now)?;
    for (write, id) in new_writes.iter().zip(ids) {
        match id {
            Some(id) => changed.push((id, &write.key)),
            None => {
                // Created meanwhile by another transaction (PostgreSQL): replace it, as `put`
                // does, and report the key's first line as what that PUT would have been.
                let row = tokens::find_by_key(conn, &write.key, true)?.ok_or_else(|| {
                    StoreError::Query("a token insert conflicted with no stored token".to_owned())
                })?;
                let put = tokens::replace(conn, &row, write)?;
                let first = keys.iter().position(|k| db_key(k) == db_key(&write.key));
                if let Some((_, outcome)) = first.and_then(|f| outcomes.get_mut(f)) {
                    *outcome = match put {
                        tokens::PutOutcome::Stale => Outcome::Stale,
                        _ => Outcome::Replaced,
                    };
                }
                if put != tokens::PutOutcome::Stale {
                    changed.push((row.id, &write.key));
                }
            }
        }
    }
    // In line order, so the pushes queue in a stable order.
    for (i, (_, write)) in batch.iter().enumerate() {
        let key = db_key(&write.key);
        if latest.get(&key) != Some(&i) {
            continue;
        }
        if let Some(row) = stored.get(&key) {
            if tokens::replace(conn, row, write)? != tokens::PutOutcome::Stale {
                changed.push((row.id, &write.key));
            }
        }
    }
    push::queue_token_changes(conn, &changed, now)?;
    Ok(outcomes)
}

/// A token's key as stored (`uid_key`, `token_type`, `country_code`, `party_id`): what the
/// unique index compares.
type DbKey<'a> = (&'a str, &'a str, &'a str, &'a str);

fn db_key(key: &TokenKey) -> DbKey<'_> {
    (
        key.uid.key(),
        key.token_type.as_str(),
        key.owner.country_code.key(),
        key.owner.party_id.key(),
    )
}

pub(super) enum Outcome {
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
