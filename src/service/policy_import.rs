//! Bulk import of hub policy (NDJSON or CSV, `super::token_files`): each line names a token and
//! its whole policy and acts as `PUT /admin/v1/tokens/.../policy` (through [`policy::apply`]: the
//! change log and the pushes), applied in batches, one write job each. A line whose policy is
//! the stored one changes nothing and pushes nothing; an unknown token, a bad field or another
//! party's token is a line error while every valid line is applied.

use chrono::Utc;
use serde_json::json;

use crate::domain::access::PartyAccess;
use crate::domain::token::HubPolicy;
use crate::domain::ValidationError;
use crate::store::connections::{self, Change};
use crate::store::token_search::policy_differs;
use crate::store::{tokens, Store, StoreResult};

use super::policy;
use super::token_files::{self, CsvHeader, FileFormat, PolicyLine};
use super::token_import::{FileError, LineError, RecordSink, BATCH};

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyCounts {
    /// Tokens whose policy changed (written, logged, pushed).
    pub changed: u64,
    /// Tokens that held the policy already.
    pub unchanged: u64,
    pub invalid: u64,
}

pub struct PolicyImport {
    store: Store,
    access: PartyAccess,
    format: FileFormat,
    header: Option<CsvHeader>,
    dry_run: bool,
    actor: String,
    pending: Vec<(u64, PolicyLine)>,
    pub counts: PolicyCounts,
    pub errors: Vec<LineError>,
    /// Push entries queued for CPOs.
    pub pushes: u64,
}

impl RecordSink for PolicyImport {
    async fn record(&mut self, number: u64, text: &[u8]) -> Result<(), FileError> {
        PolicyImport::record(self, number, text).await
    }
}

enum Outcome {
    Changed(usize),
    Unchanged,
    Unknown,
}

impl PolicyImport {
    pub fn new(
        store: Store,
        access: PartyAccess,
        format: FileFormat,
        dry_run: bool,
        actor: String,
    ) -> Self {
        PolicyImport {
            store,
            access,
            format,
            header: None,
            dry_run,
            actor,
            pending: Vec::with_capacity(BATCH),
            counts: PolicyCounts::default(),
            errors: Vec::new(),
            pushes: 0,
        }
    }

    fn refuse(&mut self, line: u64, e: ValidationError) {
        self.counts.invalid += 1;
        LineError::report(&mut self.errors, line, e);
    }

    /// The record starting on line `number`; blank lines are skipped, a CSV file's first record is
    /// its header.
    pub async fn record(&mut self, number: u64, text: &[u8]) -> Result<(), FileError> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let line = match self.format {
            FileFormat::Ndjson => token_files::policy_from_json(text),
            FileFormat::Csv => match &self.header {
                None => {
                    self.header = Some(
                        CsvHeader::parse(
                            text,
                            &token_files::POLICY_COLUMNS,
                            &["country_code", "party_id", "uid"],
                        )
                        .map_err(FileError::Bad)?,
                    );
                    return Ok(());
                }
                Some(header) => token_files::policy_from_csv(header, text),
            },
        };
        match line {
            Ok(line) if !self.access.permits(&line.key.owner) => self.refuse(
                number,
                ValidationError::new(
                    "party_id",
                    format!(
                        "{} is not one of the caller's parties ({})",
                        line.key.owner, self.access
                    ),
                ),
            ),
            Ok(line) => {
                self.pending.push((number, line));
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
        let (dry_run, actor) = (self.dry_run, self.actor.clone());
        let apply = move |conn: &mut crate::store::Conn<'_>| {
            let now = Utc::now();
            let mut outcomes = Vec::with_capacity(batch.len());
            for (number, line) in &batch {
                let Some(row) = tokens::find_by_key(conn, &line.key, true)? else {
                    outcomes.push((*number, Outcome::Unknown));
                    continue;
                };
                let c = &line.change;
                let wanted = HubPolicy {
                    blocked: c.blocked,
                    block_reason: c.block_reason.clone().filter(|_| c.blocked),
                    valid_from: c.valid_from,
                    valid_until: c.valid_until,
                    max_concurrent: c.max_concurrent,
                    whitelist_override: c.whitelist_override,
                    updated_at: None,
                };
                let outcome = if !policy_differs(&row, &wanted) {
                    Outcome::Unchanged
                } else if dry_run {
                    Outcome::Changed(0)
                } else {
                    Outcome::Changed(policy::apply(conn, &row, &line.key, c, &actor, now)?)
                };
                outcomes.push((*number, outcome));
            }
            Ok(outcomes)
        };
        let outcomes = if dry_run {
            self.store.read(apply).await?
        } else {
            self.store.write(apply).await?
        };
        for (number, outcome) in outcomes {
            match outcome {
                Outcome::Changed(pushes) => {
                    self.counts.changed += 1;
                    self.pushes += pushes as u64;
                }
                Outcome::Unchanged => self.counts.unchanged += 1,
                Outcome::Unknown => {
                    self.refuse(number, ValidationError::new("uid", "no such token"))
                }
            }
        }
        Ok(())
    }

    /// Applies what is left and records one change-log entry with the counts (not for a dry run).
    pub async fn finish(mut self) -> StoreResult<PolicyImport> {
        self.flush().await?;
        if !self.dry_run {
            let (counts, actor) = (self.counts.clone(), self.actor.clone());
            let subject = super::token_admin::many_tokens_subject(&self.access);
            self.store
                .write(move |conn| {
                    connections::record_change(
                        conn,
                        &Change {
                            actor: &actor,
                            action: "token.policy.import",
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
