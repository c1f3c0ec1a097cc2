//! The push outbox (docs/design.md §6 "Push"): what the hub still has to push to which partner.
//!
//! An entry is written in the transaction of the change it pushes, so a crash loses no pending
//! push. There is one entry per (partner platform, kind, object): a newer change of the same
//! object bumps its `version` and moves it to the back of the partner's order, and the worker
//! sends the object as it is at delivery time (the latest version). A delivery completes its entry
//! only if the version it claimed is still the entry's: a change during the delivery is sent again.
//!
//! One instance at a time delivers a partner's entries, in order: it holds the partner's lease
//! (`push_partners`, claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL) while it sends.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{
    parties, platform_endpoints, platforms, push_drops, push_outbox, push_partners, tokens,
};
use super::{db_run, Conn, StoreError, StoreResult};
use crate::domain::datetime::storage_precision;
use crate::domain::ids::PartyKey;
use crate::domain::partner::{ConnectionStatus, InterfaceRole};
use crate::domain::party::Role;
use crate::domain::token::TokenType;
use crate::domain::version::OcpiVersion;

/// What an entry pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The effective token `tokens.id` to a CPO's Tokens RECEIVER.
    Token,
    /// The session `sessions.id` to its eMSP's Sessions RECEIVER.
    Session,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Token => "TOKEN",
            Kind::Session => "SESSION",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        [Kind::Token, Kind::Session]
            .into_iter()
            .find(|k| k.as_str() == value)
    }
}

/// Why entries were dropped (the `reason` of `push_drops` and of the metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The retry window passed without a delivery.
    Expired,
    /// The partner is OFFLINE or SUSPENDED: it resyncs by pulling (OCPI), nothing is replayed.
    Offline,
    /// The partner refused the object with an OCPI client error (2xxx): sending it again
    /// would get the same answer.
    Rejected,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Expired => "expired",
            DropReason::Offline => "offline",
            DropReason::Rejected => "rejected",
        }
    }
}

/// A partner a change is pushed to: its platform, the version it speaks, and the party the
/// push is addressed to (`OCPI-to-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub platform_id: i64,
    pub version: OcpiVersion,
    pub to: PartyKey,
}

/// Platform statuses that receive nothing: OCPI queues nothing for an OFFLINE partner, and a
/// SUSPENDED one is gone.
const SILENT: [&str; 2] = ["OFFLINE", "SUSPENDED"];

/// Platforms offering the endpoint `identifier` as RECEIVER that may be pushed to now, with
/// their parties of `role` that are not suspended: (platform, version, cc, pid), by platform and
/// party creation.
fn receivers(
    conn: &mut Conn<'_>,
    identifier: &str,
    role: Role,
) -> StoreResult<Vec<(i64, String, String, String)>> {
    let rows: Vec<(i64, Option<String>, String, String)> = db_run!(conn => platform_endpoints::table
        .inner_join(platforms::table)
        .inner_join(parties::table.on(parties::platform_id.eq(platforms::id)))
        .filter(platform_endpoints::identifier.eq(identifier))
        .filter(platform_endpoints::role.eq(InterfaceRole::Receiver.as_str()))
        .filter(platforms::status.ne_all(SILENT))
        .filter(platforms::outbound_token_sealed.is_not_null())
        .filter(parties::role.eq(role.as_str()))
        .filter(parties::suspended.eq(false))
        .order((platforms::id, parties::id))
        .select((platforms::id, platforms::ocpi_version, parties::country_code, parties::party_id))
        .load(conn))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, version, cc, pid)| Some((id, version?, cc, pid)))
        .collect())
}

fn recipient(platform_id: i64, version: &str, cc: &str, pid: &str) -> Option<Recipient> {
    Some(Recipient {
        platform_id,
        version: OcpiVersion::parse(version)?,
        to: PartyKey::parse(cc, pid).ok()?,
    })
}

/// THE choice of who gets the changes of `owner`'s tokens: every CPO platform with a Tokens
/// RECEIVER that is not OFFLINE or SUSPENDED, addressed to its first CPO party that is not
/// suspended; never the owner's own platform. (Roaming agreements filter here too.)
pub fn token_recipients(conn: &mut Conn<'_>, owner: &PartyKey) -> StoreResult<Vec<Recipient>> {
    let owners_platforms: Vec<i64> = db_run!(conn => parties::table
        .filter(parties::country_code.eq(owner.country_code.key()))
        .filter(parties::party_id.eq(owner.party_id.key()))
        .select(parties::platform_id)
        .load(conn))?;
    let mut found: Vec<Recipient> = Vec::new();
    for (platform_id, version, cc, pid) in receivers(conn, "tokens", Role::Cpo)? {
        if owners_platforms.contains(&platform_id)
            || found.iter().any(|r| r.platform_id == platform_id)
        {
            continue;
        }
        found.extend(recipient(platform_id, &version, &cc, &pid));
    }
    Ok(found)
}

/// Who gets the sessions of `emsp`'s tokens: that eMSP's platform, if it offers a Sessions
/// RECEIVER, is not OFFLINE or SUSPENDED, and the eMSP is not suspended.
pub fn session_recipient(conn: &mut Conn<'_>, emsp: &PartyKey) -> StoreResult<Option<Recipient>> {
    Ok(receivers(conn, "sessions", Role::Emsp)?
        .into_iter()
        .find(|(_, _, cc, pid)| cc == emsp.country_code.key() && pid == emsp.party_id.key())
        .and_then(|(id, version, cc, pid)| recipient(id, &version, &cc, &pid)))
}

/// Queues the push of `object_id` to `platform_id`, or, when an entry is pending already,
/// makes it a newer version at the back of the partner's order (coalescing). The retry window
/// and the backoff of a pending entry stay.
pub fn enqueue(
    conn: &mut Conn<'_>,
    platform_id: i64,
    kind: Kind,
    object_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let now = storage_precision(now);
    db_run!(conn => diesel::insert_into(push_outbox::table)
        .values((
            push_outbox::platform_id.eq(platform_id),
            push_outbox::kind.eq(kind.as_str()),
            push_outbox::object_id.eq(object_id),
            push_outbox::version.eq(1_i64),
            push_outbox::first_enqueued_at.eq(now),
            push_outbox::enqueued_at.eq(now),
            push_outbox::attempts.eq(0),
            push_outbox::next_attempt_at.eq(now),
        ))
        .on_conflict((push_outbox::platform_id, push_outbox::kind, push_outbox::object_id))
        .do_update()
        .set((
            push_outbox::version.eq(push_outbox::version + 1_i64),
            push_outbox::enqueued_at.eq(now),
        ))
        .execute(conn))?;
    Ok(())
}

/// As [`enqueue`] for many `(platform_id, object_id)` entries of one kind (an import batch): one
/// multi-row upsert per 1000 entries instead of a round trip each. Duplicates are queued once.
pub fn enqueue_many(
    conn: &mut Conn<'_>,
    kind: Kind,
    entries: &[(i64, i64)],
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    let unique: Vec<(i64, i64)> = entries
        .iter()
        .copied()
        .filter(|e| seen.insert(*e))
        .collect();
    let now = storage_precision(now);
    // Two binds a row plus two: far under both backends' parameter limits.
    for chunk in unique.chunks(1000) {
        // The same SQL on both backends but for the numbered placeholders (SQLite `?N`).
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, $1, ${}, 1, $2, $2, 0, $2)", 3 + 2 * i, 4 + 2 * i))
            .collect();
        let sql = format!(
            "INSERT INTO push_outbox (platform_id, kind, object_id, version, \
             first_enqueued_at, enqueued_at, attempts, next_attempt_at) VALUES {} \
             ON CONFLICT (platform_id, kind, object_id) DO UPDATE \
             SET version = push_outbox.version + 1, enqueued_at = excluded.enqueued_at",
            values.join(", ")
        );
        macro_rules! run {
            ($sql:expr, $c:expr, $backend:ty) => {{
                let mut q = diesel::sql_query($sql)
                    .into_boxed::<$backend>()
                    .bind::<Text, _>(kind.as_str())
                    .bind::<Timestamp, _>(now);
                for (platform_id, object_id) in chunk {
                    q = q
                        .bind::<BigInt, _>(*platform_id)
                        .bind::<BigInt, _>(*object_id);
                }
                q.execute($c)?
            }};
        }
        match conn {
            Conn::Pg(c) => run!(sql.as_str(), &mut **c, diesel::pg::Pg),
            Conn::Sqlite(c) => run!(sql.replace('$', "?"), &mut **c, diesel::sqlite::Sqlite),
        };
    }
    Ok(unique.len())
}

/// Queues the change of one token for every recipient of its owner that can name its type.
/// Returns how many entries it wrote.
pub fn enqueue_token(
    conn: &mut Conn<'_>,
    token_id: i64,
    owner: &PartyKey,
    token_type: &TokenType,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let mut written = 0;
    for r in token_recipients(conn, owner)? {
        if r.version.knows_token_type(token_type) {
            enqueue(conn, r.platform_id, Kind::Token, token_id, now)?;
            written += 1;
        }
    }
    Ok(written)
}

/// Queues the change of every token of `owner` (a suspension or resumption of the eMSP), one
/// statement per recipient: tokens × recipients rows. Returns how many entries it wrote.
pub fn enqueue_owner_tokens(
    conn: &mut Conn<'_>,
    owner: &PartyKey,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    // The combined backend has no INSERT ... SELECT upsert; the SQL is the same on both but for
    // the placeholders (numbered: SQLite's `?N`, PostgreSQL's `$N`).
    const SQL: &str = "INSERT INTO push_outbox (platform_id, kind, object_id, version, \
         first_enqueued_at, enqueued_at, attempts, next_attempt_at) \
         SELECT $1, 'TOKEN', id, 1, $2, $2, 0, $2 FROM tokens \
         WHERE country_code = $3 AND party_id = $4 AND (seq_v221 IS NOT NULL OR $5 = 0) \
         ON CONFLICT (platform_id, kind, object_id) DO UPDATE \
         SET version = push_outbox.version + 1, enqueued_at = excluded.enqueued_at";
    let now = storage_precision(now);
    let mut written = 0;
    for r in token_recipients(conn, owner)? {
        let only_v221 = i64::from(r.version == OcpiVersion::V2_2_1);
        macro_rules! run {
            ($sql:expr, $c:expr) => {
                diesel::sql_query($sql)
                    .bind::<BigInt, _>(r.platform_id)
                    .bind::<Timestamp, _>(now)
                    .bind::<Text, _>(owner.country_code.key())
                    .bind::<Text, _>(owner.party_id.key())
                    .bind::<BigInt, _>(only_v221)
                    .execute($c)?
            };
        }
        written += match conn {
            Conn::Pg(c) => run!(SQL, &mut **c),
            Conn::Sqlite(c) => run!(SQL.replace('$', "?"), &mut **c),
        };
    }
    Ok(written)
}

/// One pending entry.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = push_outbox)]
pub struct Entry {
    pub id: i64,
    pub platform_id: i64,
    pub kind: String,
    pub object_id: i64,
    pub version: i64,
    pub first_enqueued_at: NaiveDateTime,
    pub enqueued_at: NaiveDateTime,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
}

/// Partners with an entry due at `now`.
pub fn due_partners(conn: &mut Conn<'_>, now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
    let now = storage_precision(now);
    Ok(db_run!(conn => push_outbox::table
        .filter(push_outbox::next_attempt_at.le(now))
        .select(push_outbox::platform_id)
        .distinct()
        .order(push_outbox::platform_id)
        .load(conn))?)
}

/// Claims the delivery of `platform_id`'s entries for this instance until `until` (ms since the
/// epoch): false if another instance holds a lease still running at `now`, or is claiming it
/// right now (PostgreSQL: its row is locked; skipped, not waited for).
pub fn claim_partner(
    conn: &mut Conn<'_>,
    platform_id: i64,
    now: i64,
    until: i64,
) -> StoreResult<bool> {
    db_run!(conn => diesel::insert_into(push_partners::table)
        .values((push_partners::platform_id.eq(platform_id), push_partners::lease_until.eq(0_i64)))
        .on_conflict_do_nothing()
        .execute(conn))?;
    if let Conn::Pg(c) = conn {
        let free: Option<i64> = push_partners::table
            .find(platform_id)
            .filter(push_partners::lease_until.le(now))
            .select(push_partners::platform_id)
            .for_update()
            .skip_locked()
            .get_result(&mut **c)
            .optional()?;
        if free.is_none() {
            return Ok(false);
        }
    }
    let claimed = db_run!(conn => diesel::update(
        push_partners::table
            .find(platform_id)
            .filter(push_partners::lease_until.le(now)),
    )
    .set(push_partners::lease_until.eq(until))
    .execute(conn))?;
    Ok(claimed == 1)
}

/// Gives the lease back (the next round of any instance may take it at once).
pub fn release_partner(conn: &mut Conn<'_>, platform_id: i64) -> StoreResult<()> {
    db_run!(conn => diesel::update(push_partners::table.find(platform_id))
        .set(push_partners::lease_until.eq(0_i64))
        .execute(conn))?;
    Ok(())
}

/// The first `limit` entries of the partner, in order.
pub fn head(conn: &mut Conn<'_>, platform_id: i64, limit: i64) -> StoreResult<Vec<Entry>> {
    Ok(db_run!(conn => push_outbox::table
        .filter(push_outbox::platform_id.eq(platform_id))
        .order((push_outbox::enqueued_at, push_outbox::id))
        .limit(limit)
        .select(Entry::as_select())
        .load(conn))?)
}

fn count_drops(
    conn: &mut Conn<'_>,
    platform_id: i64,
    reason: DropReason,
    count: usize,
) -> StoreResult<()> {
    if count == 0 {
        return Ok(());
    }
    let count = count as i64;
    db_run!(conn => diesel::insert_into(push_drops::table)
        .values((
            push_drops::platform_id.eq(platform_id),
            push_drops::reason.eq(reason.as_str()),
            push_drops::dropped.eq(count),
        ))
        .on_conflict((push_drops::platform_id, push_drops::reason))
        .do_update()
        .set(push_drops::dropped.eq(push_drops::dropped + count))
        .execute(conn))?;
    Ok(())
}

/// Drops (and counts) the partner's entries first queued before `before`: their retry window
/// passed. Returns how many.
pub fn drop_expired(
    conn: &mut Conn<'_>,
    platform_id: i64,
    before: DateTime<Utc>,
) -> StoreResult<usize> {
    let before = storage_precision(before);
    let dropped = db_run!(conn => diesel::delete(
        push_outbox::table
            .filter(push_outbox::platform_id.eq(platform_id))
            .filter(push_outbox::first_enqueued_at.lt(before)),
    )
    .execute(conn))?;
    count_drops(conn, platform_id, DropReason::Expired, dropped)?;
    Ok(dropped)
}

/// Drops (and counts) every entry of the partner. Returns how many.
pub fn drop_all(conn: &mut Conn<'_>, platform_id: i64, reason: DropReason) -> StoreResult<usize> {
    let dropped = db_run!(conn => diesel::delete(
        push_outbox::table.filter(push_outbox::platform_id.eq(platform_id)),
    )
    .execute(conn))?;
    count_drops(conn, platform_id, reason, dropped)?;
    Ok(dropped)
}

/// Completes the delivered `(id, version)`s; an entry whose version moved on meanwhile stays, to
/// send the newer version. Returns how many were completed.
pub fn complete(conn: &mut Conn<'_>, delivered: &[(i64, i64)]) -> StoreResult<usize> {
    let mut done = 0;
    for (id, version) in delivered {
        done += db_run!(conn => diesel::delete(
            push_outbox::table
                .find(*id)
                .filter(push_outbox::version.eq(*version)),
        )
        .execute(conn))?;
    }
    Ok(done)
}

/// Drops (and counts) one entry the partner refused, unless it changed meanwhile (then the new
/// version gets its chance).
pub fn drop_entry(
    conn: &mut Conn<'_>,
    platform_id: i64,
    id: i64,
    version: i64,
    reason: DropReason,
) -> StoreResult<bool> {
    let dropped = db_run!(conn => diesel::delete(
        push_outbox::table
            .find(id)
            .filter(push_outbox::version.eq(version)),
    )
    .execute(conn))?;
    count_drops(conn, platform_id, reason, dropped)?;
    Ok(dropped == 1)
}

/// A failed delivery: the entry waits until `next_attempt_at`, and the partner's entries behind
/// it with it (order per partner).
pub fn retry_later(
    conn: &mut Conn<'_>,
    id: i64,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> StoreResult<()> {
    let next = storage_precision(next_attempt_at);
    let error: String = error.chars().take(500).collect();
    db_run!(conn => diesel::update(push_outbox::table.find(id))
        .set((
            push_outbox::attempts.eq(push_outbox::attempts + 1),
            push_outbox::next_attempt_at.eq(next),
            push_outbox::last_error.eq(Some(error)),
        ))
        .execute(conn))?;
    Ok(())
}

/// What is pending for one partner, and what was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backlog {
    pub platform_id: i64,
    /// The partner's first party (`CC*PID`), or `platform:N` for a platform without one.
    pub partner: String,
    pub pending: i64,
    /// When the oldest pending change was first queued.
    pub oldest: Option<DateTime<Utc>>,
    /// Dropped entries by reason (`expired`, `offline`, `rejected`).
    pub dropped: Vec<(String, i64)>,
}

/// Every partner with pending entries or drops, by platform.
pub fn backlog(conn: &mut Conn<'_>) -> StoreResult<Vec<Backlog>> {
    use diesel::dsl::{count_star, min};
    let pending: Vec<(i64, i64, Option<NaiveDateTime>)> = db_run!(conn => push_outbox::table
        .group_by(push_outbox::platform_id)
        .select((push_outbox::platform_id, count_star(), min(push_outbox::first_enqueued_at)))
        .load(conn))?;
    let drops: Vec<(i64, String, i64)> = db_run!(conn => push_drops::table
        .select((push_drops::platform_id, push_drops::reason, push_drops::dropped))
        .order((push_drops::platform_id, push_drops::reason))
        .load(conn))?;
    let names: Vec<(i64, String, String)> = db_run!(conn => parties::table
        .order(parties::id)
        .select((parties::platform_id, parties::country_code, parties::party_id))
        .load(conn))?;
    let mut ids: Vec<i64> = pending
        .iter()
        .map(|p| p.0)
        .chain(drops.iter().map(|d| d.0))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids
        .into_iter()
        .map(|platform_id| {
            let (count, oldest) = pending
                .iter()
                .find(|p| p.0 == platform_id)
                .map_or((0, None), |p| (p.1, p.2));
            Backlog {
                platform_id,
                partner: names.iter().find(|n| n.0 == platform_id).map_or_else(
                    || format!("platform:{platform_id}"),
                    |n| format!("{}*{}", n.1, n.2),
                ),
                pending: count,
                oldest: oldest.map(|t| t.and_utc()),
                dropped: drops
                    .iter()
                    .filter(|d| d.0 == platform_id)
                    .map(|d| (d.1.clone(), d.2))
                    .collect(),
            }
        })
        .collect())
}

/// The connection status of `platform_id` (`None`: gone).
pub fn partner_status(
    conn: &mut Conn<'_>,
    platform_id: i64,
) -> StoreResult<Option<ConnectionStatus>> {
    let status: Option<String> = db_run!(conn => platforms::table
        .find(platform_id)
        .select(platforms::status)
        .get_result(conn)
        .optional())?;
    status
        .map(|s| {
            ConnectionStatus::from_db(&s).ok_or_else(|| {
                StoreError::Query(format!("platform {platform_id} has a bad status"))
            })
        })
        .transpose()
}

// ---- The validity-window scheduler's state ----

const WINDOW_PROCESSED_UNTIL: &str = "window_processed_until";

/// The tokens whose hub validity window opened or closed in `(after, until]`: their
/// `effective_updated` moves to that instant (when it is later), and their change is queued.
/// Returns how many tokens changed. Several instances: the caller holds the scheduler's row lock
/// ([`lock_window_state`]), so each instant is processed once.
pub fn process_window_edges(
    conn: &mut Conn<'_>,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<usize> {
    let (after, until) = (storage_precision(after), storage_precision(until));
    let hits: Vec<(i64, String, String, String, NaiveDateTime)> = db_run!(conn => {
        let opened: Vec<(i64, String, String, String, Option<NaiveDateTime>)> = tokens::table
            .filter(tokens::valid_from.gt(after))
            .filter(tokens::valid_from.le(until))
            .select((tokens::id, tokens::country_code, tokens::party_id, tokens::token_type, tokens::valid_from))
            .load(conn)?;
        let closed: Vec<(i64, String, String, String, Option<NaiveDateTime>)> = tokens::table
            .filter(tokens::valid_until.gt(after))
            .filter(tokens::valid_until.le(until))
            .select((tokens::id, tokens::country_code, tokens::party_id, tokens::token_type, tokens::valid_until))
            .load(conn)?;
        opened
            .into_iter()
            .chain(closed)
            .filter_map(|(id, cc, pid, t, at)| Some((id, cc, pid, t, at?)))
            .collect::<Vec<_>>()
    });
    let mut changed = 0;
    for (id, cc, pid, token_type, at) in hits {
        db_run!(conn => diesel::update(
            tokens::table.find(id).filter(tokens::effective_updated.lt(at)),
        )
        .set(tokens::effective_updated.eq(at))
        .execute(conn))?;
        let owner = PartyKey::parse(&cc, &pid)?;
        let token_type = TokenType::parse("type", &token_type)?;
        // Queued now, not at the edge: after a downtime the retry window starts at the catch-up.
        enqueue_token(conn, id, &owner, &token_type, until.and_utc())?;
        changed += 1;
    }
    Ok(changed)
}

/// Locks the scheduler's state for the transaction and returns up to where window edges were
/// processed, initialised to `now` the first time (a new hub has no past to catch up).
/// PostgreSQL: a second instance waits here until the first commits, then sees its progress.
pub fn lock_window_state(conn: &mut Conn<'_>, now: DateTime<Utc>) -> StoreResult<DateTime<Utc>> {
    use super::schema::counters;
    let now_micros = now.timestamp_micros();
    db_run!(conn => diesel::insert_into(counters::table)
        .values((counters::name.eq(WINDOW_PROCESSED_UNTIL), counters::value.eq(now_micros)))
        .on_conflict_do_nothing()
        .execute(conn))?;
    let micros: i64 = match conn {
        Conn::Pg(c) => counters::table
            .find(WINDOW_PROCESSED_UNTIL)
            .select(counters::value)
            .for_update()
            .get_result(&mut **c)?,
        Conn::Sqlite(c) => counters::table
            .find(WINDOW_PROCESSED_UNTIL)
            .select(counters::value)
            .get_result(&mut **c)?,
    };
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Query("window_processed_until is out of range".into()))
}

pub fn set_window_state(conn: &mut Conn<'_>, until: DateTime<Utc>) -> StoreResult<()> {
    use super::schema::counters;
    db_run!(conn => diesel::update(counters::table.find(WINDOW_PROCESSED_UNTIL))
        .set(counters::value.eq(until.timestamp_micros()))
        .execute(conn))?;
    Ok(())
}

/// The first instant after `after` at which some token's window opens or closes.
pub fn next_window_edge(
    conn: &mut Conn<'_>,
    after: DateTime<Utc>,
) -> StoreResult<Option<DateTime<Utc>>> {
    use diesel::dsl::min;
    let after = storage_precision(after);
    let (from, until): (Option<NaiveDateTime>, Option<NaiveDateTime>) = db_run!(conn => (
        tokens::table
            .filter(tokens::valid_from.gt(after))
            .select(min(tokens::valid_from))
            .get_result(conn)?,
        tokens::table
            .filter(tokens::valid_until.gt(after))
            .select(min(tokens::valid_until))
            .get_result(conn)?,
    ));
    Ok([from, until]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.and_utc()))
}

/// The first party of `role` on `platform_id` that is not suspended: whom a push to that
/// platform is addressed to.
pub fn platform_party(
    conn: &mut Conn<'_>,
    platform_id: i64,
    role: Role,
) -> StoreResult<Option<PartyKey>> {
    let found: Option<(String, String)> = db_run!(conn => parties::table
        .filter(parties::platform_id.eq(platform_id))
        .filter(parties::role.eq(role.as_str()))
        .filter(parties::suspended.eq(false))
        .order(parties::id)
        .select((parties::country_code, parties::party_id))
        .first(conn)
        .optional())?;
    Ok(found.and_then(|(cc, pid)| PartyKey::parse(&cc, &pid).ok()))
}

/// The name of a partner in metrics and `tokenhub outbox`: its first party, `CC*PID`.
pub fn partner_label(conn: &mut Conn<'_>, platform_id: i64) -> StoreResult<String> {
    let found: Option<(String, String)> = db_run!(conn => parties::table
        .filter(parties::platform_id.eq(platform_id))
        .order(parties::id)
        .select((parties::country_code, parties::party_id))
        .first(conn)
        .optional())?;
    Ok(found.map_or_else(
        || format!("platform:{platform_id}"),
        |(cc, pid)| format!("{cc}*{pid}"),
    ))
}

/// Gives back every partner lease: for a SQLite hub at start, the only instance its database can
/// have, so a lease left by a killed process delays nothing.
pub fn release_all_partners(conn: &mut Conn<'_>) -> StoreResult<usize> {
    Ok(db_run!(conn => diesel::update(push_partners::table)
        .set(push_partners::lease_until.eq(0_i64))
        .execute(conn))?)
}
