//! Platforms (credentials-token holders) and the parties they speak for.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{parties, platform_endpoints, platforms};
use super::{db_run, Conn, StoreResult};
use crate::domain::authorization::OwnerState;
use crate::domain::ids::PartyKey;
use crate::domain::partner::{ConnectionStatus, InterfaceRole, OcpiVersion, RealtimeEndpoint};
use crate::domain::party::{CredentialsKind, PartyRole, PartySettings, Platform, Role};

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = parties)]
pub struct PartyRow {
    pub id: i64,
    pub platform_id: i64,
    pub country_code: String,
    pub party_id: String,
    pub role: String,
    pub name: String,
    pub suspended: bool,
    pub max_concurrent: Option<i32>,
    pub created_at: NaiveDateTime,
    pub forward_allowed: bool,
}

impl PartyRow {
    fn to_role(&self) -> Option<PartyRole> {
        Some(PartyRole {
            key: PartyKey::parse(&self.country_code, &self.party_id).ok()?,
            role: self.role.parse().ok()?,
            name: self.name.clone(),
            suspended: self.suspended,
        })
    }
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = platforms)]
struct PlatformRow {
    id: i64,
    name: String,
    token_kind: String,
}

fn kind_to_db(kind: CredentialsKind) -> &'static str {
    match kind {
        CredentialsKind::Registration => "A",
        CredentialsKind::Registered => "C",
    }
}

/// The platform whose credentials token hashes to `token_hash`, with its roles.
pub fn platform_by_token_hash(
    conn: &mut Conn<'_>,
    token_hash: &str,
) -> StoreResult<Option<Platform>> {
    db_run!(conn => {
        let row: Option<PlatformRow> = platforms::table
            .filter(platforms::token_hash.eq(token_hash))
            .select(PlatformRow::as_select())
            .get_result(conn)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let roles: Vec<PartyRow> = parties::table
            .filter(parties::platform_id.eq(row.id))
            .order(parties::id)
            .select(PartyRow::as_select())
            .load(conn)?;
        Ok(Some(Platform {
            id: row.id,
            name: row.name,
            kind: if row.token_kind == "A" { CredentialsKind::Registration } else { CredentialsKind::Registered },
            roles: roles.iter().filter_map(PartyRow::to_role).collect(),
        }))
    })
}

pub fn find_party(
    conn: &mut Conn<'_>,
    key: &PartyKey,
    role: Role,
) -> StoreResult<Option<PartyRow>> {
    db_run!(conn => Ok(parties::table
        .filter(parties::country_code.eq(key.country_code.key()))
        .filter(parties::party_id.eq(key.party_id.key()))
        .filter(parties::role.eq(role.as_str()))
        .select(PartyRow::as_select())
        .get_result(conn)
        .optional()?))
}

/// A token's eMSP as the decision and the forwarding need it.
#[derive(Clone, Debug, Default)]
pub struct Owner {
    pub state: OwnerState,
    /// Its real-time endpoint, when its platform registered a Tokens SENDER and the hub holds a
    /// token for it.
    pub realtime: Option<RealtimeEndpoint>,
}

/// The eMSP `key` as the decision needs it, with its real-time endpoint: one query (the hot path
/// of every authorization). An owner the hub has no party for is neither suspended nor limited
/// nor reachable.
pub fn owner(conn: &mut Conn<'_>, key: &PartyKey) -> StoreResult<Option<Owner>> {
    type Row = (
        bool,
        Option<i32>,
        bool,
        bool,
        Option<i32>,
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = db_run!(conn => parties::table
        .inner_join(platforms::table)
        .left_join(
            platform_endpoints::table.on(platform_endpoints::platform_id
                .eq(parties::platform_id)
                .and(platform_endpoints::identifier.eq(TOKENS_MODULE))
                .and(platform_endpoints::role.eq(InterfaceRole::Sender.as_str()))),
        )
        .filter(parties::country_code.eq(key.country_code.key()))
        .filter(parties::party_id.eq(key.party_id.key()))
        .filter(parties::role.eq(Role::Emsp.as_str()))
        .select((
            parties::suspended,
            parties::max_concurrent,
            parties::forward_allowed,
            parties::delegate_realtime,
            parties::time_budget_ms,
            platforms::id,
            platforms::status,
            platforms::ocpi_version,
            platforms::outbound_token_sealed,
            platform_endpoints::url.nullable(),
        ))
        .get_result(conn)
        .optional())?;
    Ok(row.map(
        |(
            suspended,
            max,
            forward_allowed,
            delegate_realtime,
            budget,
            platform_id,
            status,
            version,
            sealed,
            url,
        )| {
            owner_from_row(OwnerRow {
                suspended,
                max_concurrent: max,
                forward_allowed,
                delegate_realtime,
                time_budget_ms: budget,
                platform_id,
                status,
                ocpi_version: version,
                outbound_token_sealed: sealed,
                tokens_sender: url,
            })
        },
    ))
}

/// The columns `owner` reads, also read by the PostgreSQL candidates function
/// (`store::usage::candidates_with_uses`).
pub(super) struct OwnerRow {
    pub suspended: bool,
    pub max_concurrent: Option<i32>,
    pub forward_allowed: bool,
    pub delegate_realtime: bool,
    pub time_budget_ms: Option<i32>,
    pub platform_id: i64,
    pub status: String,
    pub ocpi_version: Option<String>,
    pub outbound_token_sealed: Option<String>,
    pub tokens_sender: Option<String>,
}

pub(super) fn owner_from_row(row: OwnerRow) -> Owner {
    let positive = |v: Option<i32>| v.map(|v| v.max(0) as u32);
    // A partner that unregistered keeps no token; a corrupt URL or version is no endpoint.
    let realtime = (|| {
        Some(RealtimeEndpoint {
            platform_id: row.platform_id,
            tokens_sender: url::Url::parse(&row.tokens_sender?).ok()?,
            version: OcpiVersion::parse(&row.ocpi_version?)?,
            outbound_token_sealed: row.outbound_token_sealed?,
            status: ConnectionStatus::from_db(&row.status)?,
            time_budget_ms: positive(row.time_budget_ms),
        })
    })();
    Owner {
        state: OwnerState {
            suspended: row.suspended,
            max_concurrent: positive(row.max_concurrent),
            realtime: realtime.is_some(),
            forward_allowed: row.forward_allowed,
            delegate_realtime: row.delegate_realtime,
        },
        realtime,
    }
}

/// The OCPI module id of tokens.
const TOKENS_MODULE: &str = "tokens";

/// Sets the hub's policy for an eMSP: suspension and its concurrent-use limit (for the
/// management API). False if the hub has no such eMSP.
pub fn set_emsp_policy(
    conn: &mut Conn<'_>,
    key: &PartyKey,
    suspended: bool,
    max_concurrent: Option<i32>,
) -> StoreResult<bool> {
    let updated = db_run!(conn => diesel::update(
        parties::table
            .filter(parties::country_code.eq(key.country_code.key()))
            .filter(parties::party_id.eq(key.party_id.key()))
            .filter(parties::role.eq(Role::Emsp.as_str())),
    )
    .set((
        parties::suspended.eq(suspended),
        parties::max_concurrent.eq(max_concurrent),
    ))
    .execute(conn))?;
    Ok(updated == 1)
}

/// The eMSPs currently suspended (few), to serve effective tokens of a whole page.
pub fn suspended_emsps(conn: &mut Conn<'_>) -> StoreResult<Vec<(String, String)>> {
    db_run!(conn => Ok(parties::table
        .filter(parties::suspended.eq(true))
        .filter(parties::role.eq(Role::Emsp.as_str()))
        .select((parties::country_code, parties::party_id))
        .load(conn)?))
}

/// Every party connected to the hub (for the hub's Credentials `roles`).
pub fn all(conn: &mut Conn<'_>) -> StoreResult<Vec<PartyRow>> {
    db_run!(conn => Ok(parties::table
        .order(parties::id)
        .select(PartyRow::as_select())
        .load(conn)?))
}

pub struct NewParty<'a> {
    pub key: &'a PartyKey,
    pub role: Role,
    pub name: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AddOutcome {
    Created,
    Rotated,
    AlreadyExists,
    /// `rotate` of a party that does not exist: nothing is written (a typo must not create one).
    NoSuchParty,
}

/// Registers a trusted party with a platform of its own, or (with `rotate`) gives the existing
/// party's platform a new credentials token.
pub fn add_party(
    conn: &mut Conn<'_>,
    party: NewParty<'_>,
    token_hash: &str,
    kind: CredentialsKind,
    rotate: bool,
    now: NaiveDateTime,
) -> StoreResult<AddOutcome> {
    if let Some(existing) = find_party(conn, party.key, party.role)? {
        if !rotate {
            return Ok(AddOutcome::AlreadyExists);
        }
        db_run!(conn => diesel::update(platforms::table.find(existing.platform_id))
            .set((platforms::token_hash.eq(token_hash), platforms::token_kind.eq(kind_to_db(kind))))
            .execute(conn))?;
        // Other instances (and a running hub, when the CLI rotates) drop the old token's lookup.
        super::connections::bump_credentials_epoch(conn)?;
        return Ok(AddOutcome::Rotated);
    }
    if rotate {
        return Ok(AddOutcome::NoSuchParty);
    }
    db_run!(conn => {
        let platform_id: i64 = diesel::insert_into(platforms::table)
            .values((
                platforms::name.eq(party.name),
                platforms::token_hash.eq(token_hash),
                platforms::token_kind.eq(kind_to_db(kind)),
                platforms::created_at.eq(now),
            ))
            .returning(platforms::id)
            .get_result(conn)?;
        diesel::insert_into(parties::table)
            .values((
                parties::platform_id.eq(platform_id),
                parties::country_code.eq(party.key.country_code.key()),
                parties::party_id.eq(party.key.party_id.key()),
                parties::role.eq(party.role.as_str()),
                parties::name.eq(party.name),
                parties::suspended.eq(false),
                parties::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(AddOutcome::Created)
    })
}

/// A party with the settings the operator manages (`party list`, `party set`).
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = parties)]
pub struct PartySettingsRow {
    pub id: i64,
    pub platform_id: i64,
    pub country_code: String,
    pub party_id: String,
    pub role: String,
    pub name: String,
    pub suspended: bool,
    pub max_concurrent: Option<i32>,
    pub forward_allowed: bool,
    pub delegate_realtime: bool,
    pub time_budget_ms: Option<i32>,
}

impl PartySettingsRow {
    pub fn settings(&self) -> PartySettings {
        let positive = |v: Option<i32>| v.map(|v| v.max(0) as u32);
        PartySettings {
            suspended: self.suspended,
            max_concurrent: positive(self.max_concurrent),
            forward_allowed: self.forward_allowed,
            delegate_realtime: self.delegate_realtime,
            time_budget_ms: positive(self.time_budget_ms),
        }
    }
}

/// Every party with its settings, oldest first.
pub fn all_settings(conn: &mut Conn<'_>) -> StoreResult<Vec<PartySettingsRow>> {
    db_run!(conn => Ok(parties::table
        .order(parties::id)
        .select(PartySettingsRow::as_select())
        .load(conn)?))
}

/// The parties with this country code and party id (one per role), oldest first.
pub fn settings_of(conn: &mut Conn<'_>, key: &PartyKey) -> StoreResult<Vec<PartySettingsRow>> {
    db_run!(conn => Ok(parties::table
        .filter(parties::country_code.eq(key.country_code.key()))
        .filter(parties::party_id.eq(key.party_id.key()))
        .order(parties::id)
        .select(PartySettingsRow::as_select())
        .load(conn)?))
}

/// Stores `settings` for the party with row id `id`.
pub fn set_settings(
    conn: &mut Conn<'_>,
    id: i64,
    settings: &PartySettings,
    now: NaiveDateTime,
) -> StoreResult<()> {
    let to_db = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    db_run!(conn => diesel::update(parties::table.find(id))
        .set((
            parties::suspended.eq(settings.suspended),
            parties::max_concurrent.eq(to_db(settings.max_concurrent)),
            parties::forward_allowed.eq(settings.forward_allowed),
            parties::delegate_realtime.eq(settings.delegate_realtime),
            parties::time_budget_ms.eq(to_db(settings.time_budget_ms)),
            parties::updated_at.eq(Some(now)),
        ))
        .execute(conn))?;
    Ok(())
}

/// Marks the party `key` in `role` changed at `now` (its hubclientinfo `last_updated`), for a
/// change that alters how others see it, e.g. a roaming agreement. False if there is no such
/// party.
pub fn touch(
    conn: &mut Conn<'_>,
    key: &PartyKey,
    role: Role,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let updated = db_run!(conn => diesel::update(
        parties::table
            .filter(parties::country_code.eq(key.country_code.key()))
            .filter(parties::party_id.eq(key.party_id.key()))
            .filter(parties::role.eq(role.as_str())),
    )
    .set(parties::updated_at.eq(Some(now)))
    .execute(conn))?;
    Ok(updated == 1)
}
