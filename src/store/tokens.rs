//! The token registry: tokens as pushed by their eMSP, plus the hub's policy columns.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::schema::{agreements, counters, tokens};
use super::{db_run, Conn, StoreError, StoreResult};
use crate::domain::datetime::storage_precision;
use crate::domain::ids::PartyKey;
use crate::domain::token::{HubPolicy, TokenKey, TokenWrite, Whitelist};
use crate::domain::version::OcpiVersion;

#[derive(Queryable, QueryableByName, Selectable, Debug, Clone)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    pub id: i64,
    pub seq: i64,
    /// The creation order among the tokens OCPI 2.2.1 can name; `None` for the others.
    pub seq_v221: Option<i64>,
    pub country_code: String,
    pub party_id: String,
    pub uid_key: String,
    pub token_type: String,
    pub valid: bool,
    pub whitelist: String,
    pub last_updated: NaiveDateTime,
    pub body: String,
    pub blocked: bool,
    pub block_reason: Option<String>,
    pub valid_from: Option<NaiveDateTime>,
    pub valid_until: Option<NaiveDateTime>,
    pub max_concurrent: Option<i32>,
    pub whitelist_override: Option<String>,
    pub policy_updated_at: Option<NaiveDateTime>,
    pub effective_updated: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

impl TokenRow {
    pub fn policy(&self) -> HubPolicy {
        HubPolicy {
            blocked: self.blocked,
            block_reason: self.block_reason.clone(),
            valid_from: self.valid_from.map(|t| t.and_utc()),
            valid_until: self.valid_until.map(|t| t.and_utc()),
            max_concurrent: self.max_concurrent.map(|m| m.max(0) as u32),
            whitelist_override: self
                .whitelist_override
                .as_deref()
                .and_then(Whitelist::from_db),
            updated_at: self.policy_updated_at.map(|t| t.and_utc()),
        }
    }

    /// The hub's override, else the eMSP's value.
    pub fn effective_whitelist(&self) -> Whitelist {
        self.policy()
            .whitelist_override
            .or_else(|| Whitelist::from_db(&self.whitelist))
            .unwrap_or(Whitelist::Always)
    }

    /// The document as pushed by the eMSP.
    pub fn pushed(&self) -> StoreResult<Map<String, Value>> {
        serde_json::from_str(&self.body)
            .map_err(|e| StoreError::Query(format!("token {} has a corrupt body: {e}", self.id)))
    }

    pub fn last_updated_utc(&self) -> DateTime<Utc> {
        self.last_updated.and_utc()
    }
}

/// The tokens with this uid and type, of every owner (few: uids rarely collide across eMSPs).
///
/// Hot-path queries avoid `LIMIT ?` (and so `.first()`): with the bundled SQLite (STAT4 on), a
/// bound LIMIT makes SQLite re-prepare the cached statement on every execution, which cost up to
/// 25 µs per query here.
/// With `lock`, PostgreSQL locks them until the transaction ends, which serializes concurrent
/// decisions on one token across hub instances; SQLite needs no lock behind its single writer.
pub fn find_by_uid(
    conn: &mut Conn<'_>,
    uid_key: &str,
    token_type: &str,
    lock: bool,
) -> StoreResult<Vec<TokenRow>> {
    macro_rules! query {
        () => {
            tokens::table
                .filter(tokens::uid_key.eq(uid_key))
                .filter(tokens::token_type.eq(token_type))
                .order(tokens::id)
                .select(TokenRow::as_select())
        };
    }
    Ok(match conn {
        Conn::Pg(c) if lock => query!().for_update().load(&mut **c)?,
        Conn::Pg(c) => query!().load(&mut **c)?,
        Conn::Sqlite(c) => query!().load(&mut **c)?,
    })
}

pub fn find_by_key(
    conn: &mut Conn<'_>,
    key: &TokenKey,
    lock: bool,
) -> StoreResult<Option<TokenRow>> {
    Ok(
        find_by_uid(conn, key.uid.key(), key.token_type.as_str(), lock)?
            .into_iter()
            .find(|row| {
                row.country_code == key.owner.country_code.key()
                    && row.party_id == key.owner.party_id.key()
            }),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Replaced,
    /// The stored token has a newer `last_updated`: nothing was changed.
    Stale,
}

/// Creates or replaces a token as pushed by its eMSP (the hub policy columns stay).
///
/// A new token's place in the creation order: SQLite's single writer numbers it as it inserts it.
/// PostgreSQL inserts it pending (a negative placeholder in `seq`) without waiting on any lock
/// shared by other creations, and [`sequence_pending`] numbers it after its commit, so concurrent
/// creations commit in parallel.
pub fn put(conn: &mut Conn<'_>, write: &TokenWrite, now: DateTime<Utc>) -> StoreResult<PutOutcome> {
    if let Some(existing) = find_by_key(conn, &write.key, true)? {
        return replace(conn, &existing, write);
    }
    let (seq, seq_v221) = if conn.is_postgres() {
        let placeholder = pending_placeholder(conn)?;
        (placeholder, knows_v221(write).then_some(placeholder))
    } else {
        dense_numbers(conn, &[knows_v221(write)])?[0]
    };
    let body = serde_json::to_string(&write.body).map_err(|e| StoreError::Query(e.to_string()))?;
    let row = NewToken::new(write, &body, (seq, seq_v221), storage_precision(now));
    // A concurrent creation of the same key (PostgreSQL, another transaction or instance) makes
    // this insert wait for it and then do nothing: the token exists by then, so replace it.
    let inserted = db_run!(conn => diesel::insert_into(tokens::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(conn))?;
    if inserted == 0 {
        let existing = find_by_key(conn, &write.key, true)?.ok_or_else(|| {
            StoreError::Query("a token insert conflicted with no stored token".to_owned())
        })?;
        return replace(conn, &existing, write);
    }
    Ok(PutOutcome::Created)
}

/// Replaces the pushed part of a stored token, unless `write` is older than what is stored.
pub fn replace(
    conn: &mut Conn<'_>,
    existing: &TokenRow,
    write: &TokenWrite,
) -> StoreResult<PutOutcome> {
    let last_updated = storage_precision(write.last_updated);
    if last_updated < existing.last_updated {
        return Ok(PutOutcome::Stale);
    }
    let body = serde_json::to_string(&write.body).map_err(|e| StoreError::Query(e.to_string()))?;
    let effective = existing
        .policy_updated_at
        .map_or(last_updated, |p| p.max(last_updated));
    db_run!(conn => diesel::update(tokens::table.find(existing.id))
        .set((
            tokens::valid.eq(write.valid),
            tokens::whitelist.eq(write.whitelist.as_str()),
            tokens::last_updated.eq(last_updated),
            tokens::body.eq(&body),
            tokens::effective_updated.eq(effective),
        ))
        .execute(conn))?;
    Ok(PutOutcome::Replaced)
}

const TOKENS_SEQ: &str = "tokens_seq";
/// The dense sequence of the tokens OCPI 2.2.1 can name (`seq_v221`).
const TOKENS_SEQ_V221: &str = "tokens_seq_v221";

/// Reserves `count` consecutive numbers of the sequence `counter` and returns the first.
fn next_seq(conn: &mut Conn<'_>, counter: &str, count: i64) -> StoreResult<i64> {
    let last: i64 = db_run!(conn => diesel::update(counters::table.find(counter))
        .set(counters::value.eq(counters::value + count))
        .returning(counters::value)
        .get_result(conn))?;
    Ok(last - count + 1)
}

/// A pending token's placeholder `seq` (PostgreSQL): negative, unique, from a sequence that takes
/// no lock a transaction keeps.
fn pending_placeholder(conn: &mut Conn<'_>) -> StoreResult<i64> {
    #[derive(QueryableByName)]
    struct Placeholder {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        placeholder: i64,
    }
    let Conn::Pg(c) = conn else {
        return Err(StoreError::Query(
            "pending tokens are PostgreSQL's; SQLite numbers at insert".to_owned(),
        ));
    };
    let row: Placeholder = diesel::sql_query("SELECT -nextval('tokens_pending') AS placeholder")
        .get_result(&mut **c)?;
    Ok(row.placeholder)
}

/// How many pending tokens one sequencer pass numbers at most: bounds the pass's transaction.
const SEQUENCER_BATCH: i64 = 10_000;

/// Numbers every token that was pending when this started (PostgreSQL; SQLite has none), in
/// batches, after every numbered token, and returns how many it numbered. Runs in autocommit
/// (each batch is one statement that commits by itself): call it outside a transaction.
/// Passes of several callers and instances take turns on an advisory lock (migration
/// `2026-12-11-000003_sequencer`); a pass that finds nothing pending costs one index probe.
pub fn sequence_pending(conn: &mut Conn<'_>) -> StoreResult<i64> {
    #[derive(QueryableByName)]
    struct Numbered {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        numbered: i64,
    }
    let Conn::Pg(c) = conn else {
        return Ok(0);
    };
    let mut total = 0;
    loop {
        let pass: Numbered = diesel::sql_query("SELECT tokenhub_sequence_tokens($1) AS numbered")
            .bind::<diesel::sql_types::BigInt, _>(SEQUENCER_BATCH)
            .get_result(&mut **c)?;
        total += pass.numbered;
        if pass.numbered < SEQUENCER_BATCH {
            return Ok(total);
        }
    }
}

/// How many tokens the registry has numbered: the sequence is dense, so this is its current value
/// (PostgreSQL: pending tokens are not counted until the sequencer numbers them).
pub fn count_all(conn: &mut Conn<'_>) -> StoreResult<i64> {
    counter(conn, TOKENS_SEQ)
}

fn counter(conn: &mut Conn<'_>, name: &str) -> StoreResult<i64> {
    db_run!(conn => Ok(counters::table
        .find(name)
        .select(counters::value)
        .get_result(conn)?))
}

/// Filters of a sender list request.
#[derive(Clone, Debug)]
pub struct ListFilter {
    /// Only this owner's tokens (an eMSP reconciling its own).
    pub owner: Option<(String, String)>,
    /// Only tokens of the eMSPs this CPO has an agreement with (`hub.agreements = "explicit"`).
    pub agreed_with_cpo: Option<PartyKey>,
    pub date_from: Option<DateTime<Utc>>,
    pub date_to: Option<DateTime<Utc>>,
    /// The version the list is served over: 2.2.1 leaves out the types it cannot name.
    pub version: OcpiVersion,
}

impl ListFilter {
    fn is_unfiltered(&self) -> bool {
        self.owner.is_none()
            && self.agreed_with_cpo.is_none()
            && self.date_from.is_none()
            && self.date_to.is_none()
    }
}

/// One page of a sender list.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<TokenRow>,
    /// The tokens that match the filter, over all pages.
    pub total: i64,
    /// The tokens matching the filter but not the version (2.2.1) in this page's stretch of the
    /// creation order: after the token before the page, up to the page's last token (or on the
    /// last page, to the end). The stretches of a crawl do not overlap, so one full crawl counts
    /// each left-out token once.
    pub hidden: i64,
}

/// One page in creation order, and the number of tokens matching the filter.
///
/// PostgreSQL: first numbers the tokens still pending ([`sequence_pending`]), so a list shows
/// every token whose creation was acknowledged before it (a PUT then a list see each other, on
/// any instance) without waiting for the background sequencer. Call it outside a transaction.
pub fn list_page(
    conn: &mut Conn<'_>,
    filter: &ListFilter,
    offset: i64,
    limit: i64,
) -> StoreResult<Page> {
    sequence_pending(conn)?;
    numbered_page(conn, filter, offset, limit)
}

/// [`list_page`] over the numbered tokens only.
fn numbered_page(
    conn: &mut Conn<'_>,
    filter: &ListFilter,
    offset: i64,
    limit: i64,
) -> StoreResult<Page> {
    // The CPO's agreed eMSPs, known first (few): none is an empty list without a query of the
    // tokens, one is that owner's index range, as an eMSP's own list.
    let agreed = match &filter.agreed_with_cpo {
        None => None,
        Some(cpo) => {
            let mut emsps = super::agreements::emsps_of_cpo(conn, cpo)?;
            if let Some(owner) = &filter.owner {
                emsps.retain(|e| e == owner);
            }
            match emsps.len() {
                0 => {
                    return Ok(Page {
                        rows: Vec::new(),
                        total: 0,
                        hidden: 0,
                    })
                }
                1 => {
                    let narrowed = ListFilter {
                        owner: emsps.pop(),
                        agreed_with_cpo: None,
                        ..filter.clone()
                    };
                    return numbered_page(conn, &narrowed, offset, limit);
                }
                _ => Some(emsps),
            }
        }
    };
    let hides = filter.version == OcpiVersion::V2_2_1;
    // A 2.2.1 page reads the token before it too: where the page's stretch starts.
    let before = i64::from(hides && offset > 0);
    if filter.is_unfiltered() {
        // Dense sequences: offset N starts right after number N, an index seek however deep the
        // page.
        if !hides {
            let total = count_all(conn)?;
            let rows = db_run!(conn => tokens::table
                .filter(tokens::seq.gt(offset))
                .order(tokens::seq)
                .limit(limit)
                .select(TokenRow::as_select())
                .load(conn))?;
            return Ok(Page {
                rows,
                total,
                hidden: 0,
            });
        }
        let total = counter(conn, TOKENS_SEQ_V221)?;
        let mut rows = db_run!(conn => tokens::table
            .filter(tokens::seq_v221.gt(offset - before))
            .order(tokens::seq_v221)
            .limit(limit + before)
            .select(TokenRow::as_select())
            .load(conn))?;
        let hidden = match stretch(&mut rows, before, offset, total) {
            None => 0,
            // `seq` is dense too: the stretch holds `end - after` tokens, `rows` of them shown.
            Some((after, end)) => {
                let end = match end {
                    Some(end) => end,
                    None => count_all(conn)?,
                };
                end - after - rows.len() as i64
            }
        };
        return Ok(Page {
            rows,
            total,
            hidden: hidden.max(0),
        });
    }
    macro_rules! filtered {
        ($filter:expr) => {{
            let filter: &ListFilter = $filter;
            // Numbered tokens only: a pending one (PostgreSQL) has no place in the order yet.
            let mut q = tokens::table.filter(tokens::seq.gt(0)).into_boxed();
            if let Some((cc, pid)) = &filter.owner {
                q = q
                    .filter(tokens::country_code.eq(cc.clone()))
                    .filter(tokens::party_id.eq(pid.clone()));
            }
            if let Some(from) = filter.date_from {
                q = q.filter(tokens::effective_updated.ge(storage_precision(from)));
            }
            if let Some(to) = filter.date_to {
                q = q.filter(tokens::effective_updated.lt(storage_precision(to)));
            }
            if let Some(cpo) = &filter.agreed_with_cpo {
                q = q.filter(diesel::dsl::exists(
                    agreements::table
                        .filter(agreements::cpo_country_code.eq(cpo.country_code.key().to_owned()))
                        .filter(agreements::cpo_party_id.eq(cpo.party_id.key().to_owned()))
                        .filter(agreements::emsp_country_code.eq(tokens::country_code))
                        .filter(agreements::emsp_party_id.eq(tokens::party_id)),
                ));
            }
            q
        }};
    }
    macro_rules! shown {
        ($filter:expr) => {{
            let mut q = filtered!($filter);
            if hides {
                q = q.filter(tokens::seq_v221.is_not_null());
            }
            q
        }};
    }
    let (total, mut rows) = db_run!(conn => {
        let total: i64 = match &agreed {
            // One owner's index range each (the owners are the agreed ones already): a count
            // over every token would scan them all.
            Some(emsps) => {
                let mut total = 0;
                for owner in emsps {
                    let one = ListFilter {
                        owner: Some(owner.clone()),
                        agreed_with_cpo: None,
                        ..filter.clone()
                    };
                    total += shown!(&one).count().get_result::<i64>(conn)?;
                }
                total
            }
            None => shown!(filter).count().get_result(conn)?,
        };
        let rows = match agreed {
            Some(_) => Vec::new(),
            None => shown!(filter)
                .order(tokens::seq)
                .offset(offset - before)
                .limit(limit + before)
                .select(TokenRow::as_select())
                .load(conn)?,
        };
        (total, rows)
    });
    if let Some(emsps) = &agreed {
        rows = merged_page(conn, emsps, filter, hides, offset - before, limit + before)?;
    }
    let hidden = match stretch(&mut rows, before, offset, total) {
        Some((after, end)) if hides => db_run!(conn => {
            let mut q = filtered!(filter)
                .filter(tokens::seq_v221.is_null())
                .filter(tokens::seq.gt(after));
            if let Some(end) = end {
                q = q.filter(tokens::seq.le(end));
            }
            q.count().get_result::<i64>(conn)
        })?,
        _ => 0,
    };
    Ok(Page {
        rows,
        total,
        hidden,
    })
}

/// One page of the tokens of several `owners` in creation order, for the filters of `filter`
/// (dates, the 2.2.1 types): the `seq`s of the page from one index range of `tokens_owner_seq`
/// per owner, merged in `seq` order, then the rows by `seq` (a hundred point reads). No token of
/// another owner is visited, and without dates only the index is read; the tokens before the
/// page cost an index step each. The SQL differs per backend to get the merge: SQLite merges the
/// plain UNION ALL arms (a MERGE), PostgreSQL 15 only bounded ones (`ORDER BY seq LIMIT
/// offset + limit` each, then a Merge Append; unbounded, it sorts every agreed token's `seq`).
/// Measured with 1M tokens of 10 eMSPs, 3 agreed (BENCHMARKS.md): SQLite, offset 290,000 of
/// 300,000 in 25 ms of CPU, against 240 ms walking every token in `seq` order with an `EXISTS`
/// on the agreement; PostgreSQL, offset 0 in 0.2 ms and 290,000 in 131 ms, against 66 ms and
/// 205-305 ms sorting.
fn merged_page(
    conn: &mut Conn<'_>,
    owners: &[(String, String)],
    filter: &ListFilter,
    hides: bool,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<TokenRow>> {
    use diesel::sql_types::{BigInt, Text, Timestamp};

    #[derive(QueryableByName)]
    struct Seq {
        #[diesel(sql_type = BigInt)]
        seq: i64,
    }
    enum Bind {
        Text(String),
        Time(NaiveDateTime),
        Int(i64),
    }
    let postgres = conn.is_postgres();
    let mut binds = Vec::new();
    // The placeholder of the next bound value: `?` on SQLite, `$n` on PostgreSQL.
    let mut param = |value: Bind| {
        binds.push(value);
        if postgres {
            format!("${}", binds.len())
        } else {
            "?".to_owned()
        }
    };
    let mut arms = Vec::with_capacity(owners.len());
    for (cc, pid) in owners {
        let mut arm = format!(
            "SELECT seq FROM tokens WHERE country_code = {} AND party_id = {} AND seq > 0",
            param(Bind::Text(cc.clone())),
            param(Bind::Text(pid.clone()))
        );
        if let Some(from) = filter.date_from {
            let from = param(Bind::Time(storage_precision(from)));
            arm += &format!(" AND effective_updated >= {from}");
        }
        if let Some(to) = filter.date_to {
            let to = param(Bind::Time(storage_precision(to)));
            arm += &format!(" AND effective_updated < {to}");
        }
        if hides {
            arm += " AND seq_v221 IS NOT NULL";
        }
        if postgres {
            let bound = param(Bind::Int(offset + limit));
            arm = format!("({arm} ORDER BY seq LIMIT {bound})");
        }
        arms.push(arm);
    }
    let sql = format!(
        "SELECT seq FROM ({}) AS owned ORDER BY seq LIMIT {} OFFSET {}",
        arms.join(" UNION ALL "),
        param(Bind::Int(limit)),
        param(Bind::Int(offset))
    );
    macro_rules! seqs {
        ($c:expr, $backend:ty) => {{
            let mut q = diesel::sql_query(sql.as_str()).into_boxed::<$backend>();
            for bind in binds {
                q = match bind {
                    Bind::Text(v) => q.bind::<Text, _>(v),
                    Bind::Time(v) => q.bind::<Timestamp, _>(v),
                    Bind::Int(v) => q.bind::<BigInt, _>(v),
                };
            }
            q.load::<Seq>($c)?
        }};
    }
    let seqs: Vec<i64> = match conn {
        Conn::Sqlite(c) => seqs!(&mut **c, diesel::sqlite::Sqlite),
        Conn::Pg(c) => seqs!(&mut **c, diesel::pg::Pg),
    }
    .into_iter()
    .map(|s| s.seq)
    .collect();
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    Ok(db_run!(conn => tokens::table
        .filter(tokens::seq.eq_any(&seqs))
        .order(tokens::seq)
        .select(TokenRow::as_select())
        .load(conn))?)
}

/// Takes the token before the page off `rows` (when `before` is 1) and returns the page's stretch
/// of `seq`: after the token before it (0 on the first page), up to its last token, or `None` on
/// the last page (to the end). No stretch for an empty page past the end.
fn stretch(
    rows: &mut Vec<TokenRow>,
    before: i64,
    offset: i64,
    total: i64,
) -> Option<(i64, Option<i64>)> {
    let after = if before == 1 && !rows.is_empty() {
        rows.remove(0).seq
    } else {
        0
    };
    if rows.is_empty() && offset > 0 {
        return None;
    }
    let last_page = offset + rows.len() as i64 >= total;
    let end = rows.last().map(|r| r.seq).filter(|_| !last_page);
    Some((after, end))
}

/// Inserts many new tokens at once (seeding, bulk import). Keys must not exist yet.
pub fn insert_many(
    conn: &mut Conn<'_>,
    writes: &[TokenWrite],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let knows_v221: Vec<bool> = writes.iter().map(knows_v221).collect();
    let seqs = dense_numbers(conn, &knows_v221)?;
    let bodies = bodies(writes.iter())?;
    let now = storage_precision(now);
    let rows: Vec<NewToken<'_>> = writes
        .iter()
        .zip(&bodies)
        .zip(&seqs)
        .map(|((w, body), &seq)| NewToken::new(w, body, seq, now))
        .collect();
    // Bounded statement size: SQLite allows at most 32766 bound parameters.
    for chunk in rows.chunks(2000) {
        db_run!(conn => diesel::insert_into(tokens::table).values(chunk).execute(conn))?;
    }
    Ok(())
}

/// The tokens with these row ids (a push batch), in no particular order.
pub fn find_by_ids(conn: &mut Conn<'_>, ids: &[i64]) -> StoreResult<Vec<TokenRow>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(db_run!(conn => tokens::table
        .filter(tokens::id.eq_any(ids))
        .select(TokenRow::as_select())
        .load(conn))?)
}

/// Moves `effective_updated` of every token of `owner` to `now` (a change of the owner's state
/// that changes its effective tokens: suspension, resumption). Returns how many rows it wrote.
pub fn touch_owner(
    conn: &mut Conn<'_>,
    owner: &PartyKey,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let now = storage_precision(now);
    Ok(db_run!(conn => diesel::update(
        tokens::table
            .filter(tokens::country_code.eq(owner.country_code.key()))
            .filter(tokens::party_id.eq(owner.party_id.key()))
            .filter(tokens::effective_updated.lt(now)),
    )
    .set(tokens::effective_updated.eq(now))
    .execute(conn))?)
}

/// Replaces the hub policy of the token `row`, changed at `now`: `policy_updated_at` moves to
/// `now` and `effective_updated` with it (never back), so incremental pulls see the change.
pub fn set_policy(
    conn: &mut Conn<'_>,
    row: &TokenRow,
    policy: &HubPolicy,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let now = storage_precision(now);
    let effective = now.max(row.effective_updated);
    let max_concurrent = policy
        .max_concurrent
        .map(|m| i32::try_from(m).unwrap_or(i32::MAX));
    db_run!(conn => diesel::update(tokens::table.find(row.id))
        .set((
            tokens::blocked.eq(policy.blocked),
            tokens::block_reason.eq(policy.block_reason.as_deref()),
            tokens::valid_from.eq(policy.valid_from.map(storage_precision)),
            tokens::valid_until.eq(policy.valid_until.map(storage_precision)),
            tokens::max_concurrent.eq(max_concurrent),
            tokens::whitelist_override.eq(policy.whitelist_override.map(Whitelist::as_str)),
            tokens::policy_updated_at.eq(Some(now)),
            tokens::effective_updated.eq(effective),
        ))
        .execute(conn))?;
    Ok(())
}

/// Bound parameters per statement of the batch paths: under SQLite's 32766 (and PostgreSQL's
/// 65535) with 13 columns a row.
const ROWS_PER_STATEMENT: usize = 1000;

/// The stored tokens with any of these keys (an import batch), in no particular order: one
/// query per [`ROWS_PER_STATEMENT`] keys, through the `tokens_key` index (its `uid_key` prefix;
/// the few rows of other owners or types with the same uid are left out here). With `lock`,
/// PostgreSQL locks them until the transaction ends, as [`find_by_key`] does.
pub fn find_by_keys(
    conn: &mut Conn<'_>,
    keys: &[&TokenKey],
    lock: bool,
) -> StoreResult<Vec<TokenRow>> {
    let wanted: std::collections::HashSet<(&str, &str, &str, &str)> = keys
        .iter()
        .map(|k| {
            (
                k.uid.key(),
                k.token_type.as_str(),
                k.owner.country_code.key(),
                k.owner.party_id.key(),
            )
        })
        .collect();
    let mut uids: Vec<&str> = keys.iter().map(|k| k.uid.key()).collect();
    uids.sort_unstable();
    uids.dedup();
    let mut found = Vec::new();
    for chunk in uids.chunks(ROWS_PER_STATEMENT) {
        macro_rules! query {
            () => {
                tokens::table
                    .filter(tokens::uid_key.eq_any(chunk))
                    .order(tokens::id)
                    .select(TokenRow::as_select())
            };
        }
        let rows: Vec<TokenRow> = match conn {
            Conn::Pg(c) if lock => query!().for_update().load(&mut **c)?,
            Conn::Pg(c) => query!().load(&mut **c)?,
            Conn::Sqlite(c) => query!().load(&mut **c)?,
        };
        found.extend(rows.into_iter().filter(|r| {
            wanted.contains(&(
                r.uid_key.as_str(),
                r.token_type.as_str(),
                r.country_code.as_str(),
                r.party_id.as_str(),
            ))
        }));
    }
    Ok(found)
}

/// A new token's row as `put`, `insert_many` and `create_many` insert it: the hub policy unset,
/// effective as pushed.
#[derive(Insertable)]
#[diesel(table_name = tokens)]
struct NewToken<'a> {
    seq: i64,
    seq_v221: Option<i64>,
    country_code: &'a str,
    party_id: &'a str,
    uid_key: &'a str,
    token_type: &'a str,
    valid: bool,
    whitelist: &'a str,
    last_updated: NaiveDateTime,
    body: &'a str,
    blocked: bool,
    effective_updated: NaiveDateTime,
    created_at: NaiveDateTime,
}

impl<'a> NewToken<'a> {
    /// `now` at storage precision already.
    fn new(
        w: &'a TokenWrite,
        body: &'a str,
        (seq, seq_v221): (i64, Option<i64>),
        now: NaiveDateTime,
    ) -> Self {
        let last_updated = storage_precision(w.last_updated);
        NewToken {
            seq,
            seq_v221,
            country_code: w.key.owner.country_code.key(),
            party_id: w.key.owner.party_id.key(),
            uid_key: w.key.uid.key(),
            token_type: w.key.token_type.as_str(),
            valid: w.valid,
            whitelist: w.whitelist.as_str(),
            last_updated,
            body,
            blocked: false,
            effective_updated: last_updated,
            created_at: now,
        }
    }
}

/// Whether OCPI 2.2.1 can name the token's type (it then takes a `seq_v221` too).
fn knows_v221(w: &TokenWrite) -> bool {
    OcpiVersion::V2_2_1.knows_token_type(&w.key.token_type)
}

/// The stored text of each write's document.
fn bodies<'a>(writes: impl Iterator<Item = &'a TokenWrite>) -> StoreResult<Vec<String>> {
    writes
        .map(|w| serde_json::to_string(&w.body))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Query(e.to_string()))
}

/// One dense block of `seq` for these new tokens, in order, and of `seq_v221` for those 2.2.1
/// can name (the counter rows; SQLite, and seeding on either backend).
fn dense_numbers(conn: &mut Conn<'_>, knows: &[bool]) -> StoreResult<Vec<(i64, Option<i64>)>> {
    let first = next_seq(conn, TOKENS_SEQ, knows.len() as i64)?;
    let v221_count = knows.iter().filter(|k| **k).count() as i64;
    let mut next_v221 = if v221_count > 0 {
        next_seq(conn, TOKENS_SEQ_V221, v221_count)?
    } else {
        0
    };
    Ok(knows
        .iter()
        .enumerate()
        .map(|(i, known)| {
            let v221 = known.then(|| {
                next_v221 += 1;
                next_v221 - 1
            });
            (first + i as i64, v221)
        })
        .collect())
}

/// Creates the tokens `writes` (keys not stored, each once), in this order, as [`put`] creates
/// one: SQLite numbers them with one block of `seq` (and of `seq_v221`) for the batch, dense and
/// in order; PostgreSQL inserts them pending with placeholders in this order, numbered later by
/// [`sequence_pending`]. Returns each write's row id, or `None` where a concurrent creation of
/// the same key (PostgreSQL, another transaction or instance) got there first and this insert
/// did nothing: the caller replaces that token as [`put`] does.
pub fn create_many(
    conn: &mut Conn<'_>,
    writes: &[&TokenWrite],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Option<i64>>> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let knows_v221: Vec<bool> = writes.iter().map(|w| knows_v221(w)).collect();
    let seqs: Vec<(i64, Option<i64>)> = if conn.is_postgres() {
        pending_placeholders(conn, writes.len() as i64)?
            .into_iter()
            .zip(&knows_v221)
            .map(|(p, known)| (p, known.then_some(p)))
            .collect()
    } else {
        dense_numbers(conn, &knows_v221)?
    };
    let bodies = bodies(writes.iter().copied())?;
    let now = storage_precision(now);
    let rows: Vec<NewToken<'_>> = writes
        .iter()
        .zip(&bodies)
        .zip(&seqs)
        .map(|((w, body), &seq)| NewToken::new(w, body, seq, now))
        .collect();
    let mut ids: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let inserted: Vec<(i64, i64)> = match conn {
            // A concurrent creation of one of these keys makes the insert wait for it and then
            // skip that row (as `put`'s insert does).
            Conn::Pg(c) => diesel::insert_into(tokens::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning((tokens::seq, tokens::id))
                .get_results(&mut **c)?,
            // The single writer read these keys absent in this transaction: no conflict can
            // happen, and a skipped row would leave a hole in the dense `seq`.
            Conn::Sqlite(c) => diesel::insert_into(tokens::table)
                .values(chunk)
                .returning((tokens::seq, tokens::id))
                .get_results(&mut **c)?,
        };
        ids.extend(inserted);
    }
    Ok(seqs.iter().map(|(seq, _)| ids.get(seq).copied()).collect())
}

/// `count` pending placeholders (PostgreSQL), in the order the sequencer numbers them.
fn pending_placeholders(conn: &mut Conn<'_>, count: i64) -> StoreResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Placeholder {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        placeholder: i64,
    }
    let Conn::Pg(c) = conn else {
        return Err(StoreError::Query(
            "pending tokens are PostgreSQL's; SQLite numbers at insert".to_owned(),
        ));
    };
    let rows: Vec<Placeholder> = diesel::sql_query(
        "SELECT -nextval('tokens_pending') AS placeholder FROM generate_series(1, $1) AS n ORDER BY n",
    )
    .bind::<diesel::sql_types::BigInt, _>(count)
    .load(&mut **c)?;
    // nextval is evaluated per row before the sort; order by the values so the sequencer's
    // order (placeholder descending = nextval ascending) is the order of `writes`.
    let mut placeholders: Vec<i64> = rows.into_iter().map(|r| r.placeholder).collect();
    placeholders.sort_unstable_by(|a, b| b.cmp(a));
    Ok(placeholders)
}
