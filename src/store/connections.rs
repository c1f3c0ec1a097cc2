//! Partner connections: invitations (token A), registrations through the Credentials module in
//! both directions, their endpoints and status, the credentials epoch that tells every instance to
//! drop its cached token lookups, and the change log of configuration changes.
//!
//! Registration steps that depend on a token still being the current one are compare-and-set on
//! its hash, so two concurrent handshakes with one token A cannot both succeed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{change_log, counters, parties, platform_endpoints, platforms};
use super::{db_run, Conn, StoreError, StoreResult};
use crate::domain::ids::PartyKey;
use crate::domain::partner::{
    Connection, ConnectionStatus, InterfaceRole, OcpiVersion, PartnerEndpoint,
};
use crate::domain::party::Role;

const CREDENTIALS_EPOCH: &str = "credentials_epoch";
const KIND_REGISTRATION: &str = "A";
const KIND_REGISTERED: &str = "C";

#[derive(Debug, PartialEq, Eq)]
pub enum InviteOutcome {
    /// A new party, waiting for its registration.
    Invited,
    /// A party that had unregistered (or whose earlier invitation was never used) is invited
    /// again; its earlier token stops working.
    Reinvited,
    /// The party is registered (or was added with `party add`): unregister it first.
    AlreadyConnected,
}

/// Creates (or renews) the invitation of `key` in `role`: its platform accepts `token_a_hash` on
/// the versions and credentials modules only, until the partner registers.
pub fn invite(
    conn: &mut Conn<'_>,
    key: &PartyKey,
    role: Role,
    name: &str,
    token_a_hash: &str,
    now: NaiveDateTime,
) -> StoreResult<InviteOutcome> {
    if let Some(party) = super::parties::find_party(conn, key, role)? {
        let status = platform_status(conn, party.platform_id)?;
        if !matches!(
            status,
            ConnectionStatus::Planned | ConnectionStatus::Suspended
        ) {
            return Ok(InviteOutcome::AlreadyConnected);
        }
        db_run!(conn => diesel::update(platforms::table.find(party.platform_id))
            .set((
                platforms::token_hash.eq(token_a_hash),
                platforms::token_kind.eq(KIND_REGISTRATION),
                platforms::status.eq(ConnectionStatus::Planned.as_str()),
                platforms::status_changed_at.eq(Some(now)),
                platforms::versions_url.eq(None::<String>),
                platforms::ocpi_version.eq(None::<String>),
                platforms::outbound_token_sealed.eq(None::<String>),
            ))
            .execute(conn))?;
        bump_credentials_epoch(conn)?;
        return Ok(InviteOutcome::Reinvited);
    }
    let platform_id = insert_platform(
        conn,
        name,
        token_a_hash,
        KIND_REGISTRATION,
        ConnectionStatus::Planned,
        None,
        now,
    )?;
    insert_party(conn, platform_id, key, role, name, now)?;
    Ok(InviteOutcome::Invited)
}

fn insert_platform(
    conn: &mut Conn<'_>,
    name: &str,
    token_hash: &str,
    kind: &str,
    status: ConnectionStatus,
    versions_url: Option<&str>,
    now: NaiveDateTime,
) -> StoreResult<i64> {
    Ok(db_run!(conn => diesel::insert_into(platforms::table)
        .values((
            platforms::name.eq(name),
            platforms::token_hash.eq(token_hash),
            platforms::token_kind.eq(kind),
            platforms::created_at.eq(now),
            platforms::status.eq(status.as_str()),
            platforms::status_changed_at.eq(Some(now)),
            platforms::versions_url.eq(versions_url),
        ))
        .returning(platforms::id)
        .get_result(conn))?)
}

fn insert_party(
    conn: &mut Conn<'_>,
    platform_id: i64,
    key: &PartyKey,
    role: Role,
    name: &str,
    now: NaiveDateTime,
) -> StoreResult<()> {
    db_run!(conn => diesel::insert_into(parties::table)
        .values((
            parties::platform_id.eq(platform_id),
            parties::country_code.eq(key.country_code.key()),
            parties::party_id.eq(key.party_id.key()),
            parties::role.eq(role.as_str()),
            parties::name.eq(name),
            parties::suspended.eq(false),
            parties::created_at.eq(now),
            parties::updated_at.eq(Some(now)),
        ))
        .execute(conn))?;
    Ok(())
}

/// The connection status of `platform_id`, as stored.
pub fn platform_status(conn: &mut Conn<'_>, platform_id: i64) -> StoreResult<ConnectionStatus> {
    let status: String = db_run!(conn => platforms::table
        .find(platform_id)
        .select(platforms::status)
        .get_result(conn))?;
    ConnectionStatus::from_db(&status)
        .ok_or_else(|| StoreError::Query(format!("platform {platform_id} has status {status:?}")))
}

/// What a completed handshake stores about the partner.
pub struct Registration<'a> {
    pub versions_url: &'a str,
    pub version: OcpiVersion,
    /// The token the hub presents to the partner, sealed.
    pub outbound_token_sealed: &'a str,
    pub endpoints: &'a [PartnerEndpoint],
}

/// Stores `registration` for `platform_id` and makes `new_token_hash` its credentials token, if
/// its current token is still `expected_token_hash` (false otherwise: nothing changed). Used for
/// a first registration (A → C) and for an update (C → new C).
pub fn register(
    conn: &mut Conn<'_>,
    platform_id: i64,
    expected_token_hash: &str,
    new_token_hash: &str,
    registration: &Registration<'_>,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let changed = db_run!(conn => diesel::update(
        platforms::table
            .find(platform_id)
            .filter(platforms::token_hash.eq(expected_token_hash)),
    )
    .set((
        platforms::token_hash.eq(new_token_hash),
        platforms::token_kind.eq(KIND_REGISTERED),
        platforms::versions_url.eq(Some(registration.versions_url)),
        platforms::ocpi_version.eq(Some(registration.version.as_str())),
        platforms::outbound_token_sealed.eq(Some(registration.outbound_token_sealed)),
        platforms::status.eq(ConnectionStatus::Connected.as_str()),
        platforms::status_changed_at.eq(Some(now)),
    ))
    .execute(conn))?;
    if changed == 0 {
        return Ok(false);
    }
    replace_endpoints(conn, platform_id, registration.endpoints)?;
    bump_credentials_epoch(conn)?;
    Ok(true)
}

fn replace_endpoints(
    conn: &mut Conn<'_>,
    platform_id: i64,
    endpoints: &[PartnerEndpoint],
) -> StoreResult<()> {
    db_run!(conn => {
        diesel::delete(platform_endpoints::table.filter(platform_endpoints::platform_id.eq(platform_id)))
            .execute(conn)?;
        for e in endpoints {
            diesel::insert_into(platform_endpoints::table)
                .values((
                    platform_endpoints::platform_id.eq(platform_id),
                    platform_endpoints::identifier.eq(&e.identifier),
                    platform_endpoints::role.eq(e.role.as_str()),
                    platform_endpoints::url.eq(e.url.as_str()),
                ))
                .execute(conn)?;
        }
        Ok::<_, StoreError>(())
    })
}

/// Unregisters `platform_id` if its token is still `expected_token_hash`: the token stops
/// working, the hub forgets the partner's token and endpoints, and the status is SUSPENDED
/// until the party is invited again.
pub fn unregister(
    conn: &mut Conn<'_>,
    platform_id: i64,
    expected_token_hash: &str,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    // token_hash is unique and required: a value no token hashes to (not hex) retires it.
    let retired = format!("retired:{platform_id}:{}", uuid::Uuid::new_v4());
    let changed = db_run!(conn => diesel::update(
        platforms::table
            .find(platform_id)
            .filter(platforms::token_hash.eq(expected_token_hash)),
    )
    .set((
        platforms::token_hash.eq(&retired),
        platforms::outbound_token_sealed.eq(None::<String>),
        platforms::status.eq(ConnectionStatus::Suspended.as_str()),
        platforms::status_changed_at.eq(Some(now)),
    ))
    .execute(conn))?;
    if changed == 0 {
        return Ok(false);
    }
    replace_endpoints(conn, platform_id, &[])?;
    bump_credentials_epoch(conn)?;
    Ok(true)
}

/// `party register`, first step: a platform for a partner the hub registers with, holding the
/// token B the partner will use (hashed), PLANNED until the partner answers.
pub fn begin_outgoing(
    conn: &mut Conn<'_>,
    name: &str,
    token_b_hash: &str,
    versions_url: &str,
    now: NaiveDateTime,
) -> StoreResult<i64> {
    insert_platform(
        conn,
        name,
        token_b_hash,
        KIND_REGISTERED,
        ConnectionStatus::Planned,
        Some(versions_url),
        now,
    )
}

/// `party register`, last step: the partner's parties (from its Credentials roles) and what the
/// hub needs to call it. Fails with a message naming the first party the hub already serves
/// through another platform.
pub fn finish_outgoing(
    conn: &mut Conn<'_>,
    platform_id: i64,
    roles: &[(PartyKey, Role, String)],
    registration: &Registration<'_>,
    now: NaiveDateTime,
) -> StoreResult<Result<(), String>> {
    for (key, role, _) in roles {
        if super::parties::find_party(conn, key, *role)?.is_some() {
            return Ok(Err(format!("{key} ({role}) is already a party of the hub")));
        }
    }
    for (key, role, name) in roles {
        insert_party(conn, platform_id, key, *role, name, now)?;
    }
    let token_hash: String = db_run!(conn => platforms::table
        .find(platform_id)
        .select(platforms::token_hash)
        .get_result(conn))?;
    register(
        conn,
        platform_id,
        &token_hash,
        &token_hash,
        registration,
        now,
    )?;
    Ok(Ok(()))
}

/// `party register` that failed: the platform goes, with the token B it held.
pub fn abort_outgoing(conn: &mut Conn<'_>, platform_id: i64) -> StoreResult<()> {
    db_run!(conn => {
        diesel::delete(parties::table.filter(parties::platform_id.eq(platform_id))).execute(conn)?;
        diesel::delete(platforms::table.find(platform_id)).execute(conn)?;
        Ok::<_, StoreError>(())
    })?;
    bump_credentials_epoch(conn)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = platforms)]
struct ConnectionRow {
    id: i64,
    versions_url: Option<String>,
    ocpi_version: Option<String>,
    status: String,
}

/// The partner connection of `platform_id`, if it registered through the Credentials module.
pub fn connection(conn: &mut Conn<'_>, platform_id: i64) -> StoreResult<Option<Connection>> {
    let row: Option<ConnectionRow> = db_run!(conn => platforms::table
        .find(platform_id)
        .select(ConnectionRow::as_select())
        .get_result(conn)
        .optional())?;
    let Some(row) = row else { return Ok(None) };
    let (Some(url), Some(version)) = (row.versions_url, row.ocpi_version) else {
        return Ok(None);
    };
    let corrupt = |what: &str| StoreError::Query(format!("platform {} has a bad {what}", row.id));
    let endpoints: Vec<(String, String, String)> = db_run!(conn => platform_endpoints::table
        .filter(platform_endpoints::platform_id.eq(platform_id))
        .select((platform_endpoints::identifier, platform_endpoints::role, platform_endpoints::url))
        .load(conn))?;
    Ok(Some(Connection {
        platform_id: row.id,
        versions_url: url::Url::parse(&url).map_err(|_| corrupt("versions URL"))?,
        version: OcpiVersion::parse(&version).ok_or_else(|| corrupt("OCPI version"))?,
        endpoints: endpoints
            .into_iter()
            .map(|(identifier, role, url)| {
                Ok(PartnerEndpoint {
                    identifier,
                    role: InterfaceRole::from_db(&role).ok_or_else(|| corrupt("endpoint role"))?,
                    url: url::Url::parse(&url).map_err(|_| corrupt("endpoint URL"))?,
                })
            })
            .collect::<StoreResult<_>>()?,
        status: ConnectionStatus::from_db(&row.status).ok_or_else(|| corrupt("status"))?,
    }))
}

/// The sealed token the hub presents to `platform_id`, if it has one.
pub fn outbound_token(conn: &mut Conn<'_>, platform_id: i64) -> StoreResult<Option<String>> {
    Ok(db_run!(conn => platforms::table
        .find(platform_id)
        .select(platforms::outbound_token_sealed)
        .get_result::<Option<String>>(conn)
        .optional())?
    .flatten())
}

/// Registered partners the hub can call (liveness checks, pushes): platform id and status.
pub fn reachable_platforms(conn: &mut Conn<'_>) -> StoreResult<Vec<(i64, ConnectionStatus)>> {
    let rows: Vec<(i64, String)> = db_run!(conn => platforms::table
        .filter(platforms::outbound_token_sealed.is_not_null())
        .filter(platforms::versions_url.is_not_null())
        .order(platforms::id)
        .select((platforms::id, platforms::status))
        .load(conn))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, s)| ConnectionStatus::from_db(&s).map(|s| (id, s)))
        .collect())
}

/// Sets the connection status if it is still `expected` (what the caller read before calling
/// the partner, outside any transaction): a registration, an unregistration or another
/// instance's round in the meantime wins. True if it changed.
pub fn set_status(
    conn: &mut Conn<'_>,
    platform_id: i64,
    expected: ConnectionStatus,
    status: ConnectionStatus,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    if expected == status {
        return Ok(false);
    }
    let changed = db_run!(conn => diesel::update(
        platforms::table
            .find(platform_id)
            .filter(platforms::status.eq(expected.as_str())),
    )
    .set((
        platforms::status.eq(status.as_str()),
        platforms::status_changed_at.eq(Some(now)),
    ))
    .execute(conn))?;
    Ok(changed > 0)
}

/// Every credentials change bumps the epoch in the same transaction; instances that see it move
/// drop their cached token lookups (docs/design.md §8 "Secrets").
pub fn bump_credentials_epoch(conn: &mut Conn<'_>) -> StoreResult<()> {
    db_run!(conn => diesel::update(counters::table.find(CREDENTIALS_EPOCH))
        .set(counters::value.eq(counters::value + 1))
        .execute(conn))?;
    Ok(())
}

pub fn credentials_epoch(conn: &mut Conn<'_>) -> StoreResult<i64> {
    Ok(db_run!(conn => counters::table
        .find(CREDENTIALS_EPOCH)
        .select(counters::value)
        .get_result(conn))?)
}

/// One configuration change, for the change log.
pub struct Change<'a> {
    /// Who: `operator` (CLI), `partner:CC*PID`, later `user:NAME` or `client:ID`.
    pub actor: &'a str,
    /// What, e.g. `party.invite`, `party.suspend`, `credentials.register`.
    pub action: &'a str,
    /// Which object, e.g. `party:NL*ABC:EMSP`.
    pub subject: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub fn record_change(
    conn: &mut Conn<'_>,
    change: &Change<'_>,
    now: NaiveDateTime,
) -> StoreResult<()> {
    let before = change.before.as_ref().map(|v| v.to_string());
    let after = change.after.as_ref().map(|v| v.to_string());
    db_run!(conn => diesel::insert_into(change_log::table)
        .values((
            change_log::changed_at.eq(now),
            change_log::actor.eq(change.actor),
            change_log::action.eq(change.action),
            change_log::subject.eq(change.subject),
            change_log::before.eq(before.as_deref()),
            change_log::after.eq(after.as_deref()),
        ))
        .execute(conn))?;
    Ok(())
}

/// One entry of the change log, as stored.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = change_log)]
pub struct ChangeRow {
    pub id: i64,
    pub changed_at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The newest changes first, at most `limit`.
pub fn recent_changes(conn: &mut Conn<'_>, limit: i64) -> StoreResult<Vec<ChangeRow>> {
    Ok(db_run!(conn => change_log::table
        .order(change_log::id.desc())
        .limit(limit)
        .select(ChangeRow::as_select())
        .load(conn))?)
}

/// A party's `ClientInfo` and the platform that speaks for it.
#[derive(Clone, Debug)]
pub struct PartyStatus {
    pub platform_id: i64,
    pub info: crate::domain::partner::ClientInfo,
}

/// Every party with its connection status (a suspended party is SUSPENDED whatever its platform
/// says), oldest first; `last_updated` is the later of the party's and its platform's change.
/// The hub has few parties (one per partner role), so callers filter and page in memory.
pub fn client_infos(conn: &mut Conn<'_>) -> StoreResult<Vec<PartyStatus>> {
    type Row = (
        i64,
        String,
        String,
        String,
        bool,
        NaiveDateTime,
        Option<NaiveDateTime>,
        String,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = db_run!(conn => parties::table
        .inner_join(platforms::table)
        .order(parties::id)
        .select((
            parties::platform_id,
            parties::country_code,
            parties::party_id,
            parties::role,
            parties::suspended,
            parties::created_at,
            parties::updated_at,
            platforms::status,
            platforms::status_changed_at,
        ))
        .load(conn))?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(platform_id, cc, pid, role, suspended, created, updated, status, changed)| {
                let status = if suspended {
                    ConnectionStatus::Suspended
                } else {
                    ConnectionStatus::from_db(&status)?
                };
                let last = [Some(created), updated, changed]
                    .into_iter()
                    .flatten()
                    .max()?;
                Some(PartyStatus {
                    platform_id,
                    info: crate::domain::partner::ClientInfo {
                        key: PartyKey::parse(&cc, &pid).ok()?,
                        role: role.parse().ok()?,
                        status,
                        last_updated: last.and_utc(),
                    },
                })
            },
        )
        .collect())
}

/// A partner that takes hubclientinfo pushes: where, and the sealed token to present.
#[derive(Clone, Debug)]
pub struct ClientInfoReceiver {
    pub platform_id: i64,
    pub url: url::Url,
    pub outbound_token_sealed: String,
}

/// Partners offering a hubclientinfo RECEIVER that the hub may push to now: CONNECTED (nothing
/// goes to an OFFLINE partner, as OCPI asks), with a token to present, and serving at least one
/// party that is not suspended.
pub fn client_info_receivers(conn: &mut Conn<'_>) -> StoreResult<Vec<ClientInfoReceiver>> {
    let rows: Vec<(i64, String, Option<String>)> = db_run!(conn => platform_endpoints::table
        .inner_join(platforms::table)
        .filter(platform_endpoints::identifier.eq("hubclientinfo"))
        .filter(platform_endpoints::role.eq(InterfaceRole::Receiver.as_str()))
        .filter(platforms::status.eq(ConnectionStatus::Connected.as_str()))
        .filter(platforms::outbound_token_sealed.is_not_null())
        .filter(diesel::dsl::exists(
            parties::table
                .filter(parties::platform_id.eq(platforms::id))
                .filter(parties::suspended.eq(false)),
        ))
        .order(platforms::id)
        .select((platforms::id, platform_endpoints::url, platforms::outbound_token_sealed))
        .load(conn))?;
    Ok(rows
        .into_iter()
        .filter_map(|(platform_id, url, sealed)| {
            Some(ClientInfoReceiver {
                platform_id,
                url: url::Url::parse(&url).ok()?,
                outbound_token_sealed: sealed?,
            })
        })
        .collect())
}

const LIVENESS_LEASE: &str = "liveness_lease";

/// Claims the next liveness round for this instance until `until` (milliseconds since the
/// epoch): true if no other instance holds a lease that is still running at `now`. Instances
/// sharing one database thus check partners once per interval between them, not once each.
pub fn claim_liveness_round(conn: &mut Conn<'_>, now: i64, until: i64) -> StoreResult<bool> {
    let claimed = db_run!(conn => {
        diesel::insert_into(counters::table)
            .values((counters::name.eq(LIVENESS_LEASE), counters::value.eq(0_i64)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        diesel::update(
            counters::table
                .find(LIVENESS_LEASE)
                .filter(counters::value.le(now)),
        )
        .set(counters::value.eq(until))
        .execute(conn)
    })?;
    Ok(claimed == 1)
}
