//! Roaming agreements (docs/design.md §6): the (CPO, eMSP) pairs that deal with each other when
//! `hub.agreements = "explicit"`. Party keys are stored upper-cased, like every party key.
//!
//! The two questions the rest of the hub asks go through [`may_deal`] (one pair) and
//! [`cpos_for_emsp`] (which of some CPOs may receive an eMSP's data); both answer "yes" without a
//! query under `open`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::agreements;
use super::{db_run, Conn, StoreResult};
use crate::domain::agreement::{Agreement, AgreementMode};
use crate::domain::ids::PartyKey;

/// An agreement as stored.
#[derive(Clone, Debug)]
pub struct AgreementRow {
    pub agreement: Agreement,
    pub created_at: NaiveDateTime,
}

/// Records that `cpo` and `emsp` deal with each other. Idempotent: false when the agreement was
/// there already (nothing changed).
pub fn add(
    conn: &mut Conn<'_>,
    cpo: &PartyKey,
    emsp: &PartyKey,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let inserted = db_run!(conn => diesel::insert_into(agreements::table)
        .values((
            agreements::cpo_country_code.eq(cpo.country_code.key()),
            agreements::cpo_party_id.eq(cpo.party_id.key()),
            agreements::emsp_country_code.eq(emsp.country_code.key()),
            agreements::emsp_party_id.eq(emsp.party_id.key()),
            agreements::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn))?;
    Ok(inserted == 1)
}

/// Removes the agreement of `cpo` and `emsp`: false when there was none.
pub fn remove(conn: &mut Conn<'_>, cpo: &PartyKey, emsp: &PartyKey) -> StoreResult<bool> {
    let deleted = db_run!(conn => diesel::delete(
        agreements::table
            .filter(agreements::cpo_country_code.eq(cpo.country_code.key()))
            .filter(agreements::cpo_party_id.eq(cpo.party_id.key()))
            .filter(agreements::emsp_country_code.eq(emsp.country_code.key()))
            .filter(agreements::emsp_party_id.eq(emsp.party_id.key())),
    )
    .execute(conn))?;
    Ok(deleted > 0)
}

type Row = (String, String, String, String, NaiveDateTime);

fn to_row((cpo_cc, cpo_pid, emsp_cc, emsp_pid, created_at): Row) -> StoreResult<AgreementRow> {
    Ok(AgreementRow {
        agreement: Agreement {
            cpo: PartyKey::parse(&cpo_cc, &cpo_pid)?,
            emsp: PartyKey::parse(&emsp_cc, &emsp_pid)?,
        },
        created_at,
    })
}

/// Every agreement, oldest first (few: one per pair of partners).
pub fn list(conn: &mut Conn<'_>) -> StoreResult<Vec<AgreementRow>> {
    let rows: Vec<Row> = db_run!(conn => agreements::table
        .order(agreements::id)
        .select((
            agreements::cpo_country_code,
            agreements::cpo_party_id,
            agreements::emsp_country_code,
            agreements::emsp_party_id,
            agreements::created_at,
        ))
        .load(conn))?;
    rows.into_iter().map(to_row).collect()
}

/// Whether an agreement of `cpo` and `emsp` is recorded.
pub fn exists(conn: &mut Conn<'_>, cpo: &PartyKey, emsp: &PartyKey) -> StoreResult<bool> {
    Ok(db_run!(conn => diesel::select(diesel::dsl::exists(
        agreements::table
            .filter(agreements::cpo_country_code.eq(cpo.country_code.key()))
            .filter(agreements::cpo_party_id.eq(cpo.party_id.key()))
            .filter(agreements::emsp_country_code.eq(emsp.country_code.key()))
            .filter(agreements::emsp_party_id.eq(emsp.party_id.key())),
    ))
    .get_result::<bool>(conn))?)
}

/// May this CPO and this eMSP deal with each other under `mode`: see each other's tokens,
/// authorize, get pushes, show each other CONNECTED. No query under `open`.
pub fn may_deal(
    conn: &mut Conn<'_>,
    mode: AgreementMode,
    cpo: &PartyKey,
    emsp: &PartyKey,
) -> StoreResult<bool> {
    Ok(match mode {
        AgreementMode::Open => true,
        AgreementMode::Explicit => mode.permits(exists(conn, cpo, emsp)?),
    })
}

/// The eMSPs `cpo` has an agreement with, as stored keys (upper-case country code, party id).
pub fn emsps_of_cpo(conn: &mut Conn<'_>, cpo: &PartyKey) -> StoreResult<Vec<(String, String)>> {
    Ok(db_run!(conn => agreements::table
        .filter(agreements::cpo_country_code.eq(cpo.country_code.key()))
        .filter(agreements::cpo_party_id.eq(cpo.party_id.key()))
        .order((agreements::emsp_country_code, agreements::emsp_party_id))
        .select((agreements::emsp_country_code, agreements::emsp_party_id))
        .load(conn))?)
}

/// Of `candidates` (CPOs, e.g. those offering a Tokens RECEIVER), the ones `emsp`'s data may go
/// to under `mode`, in the candidates' order: all of them under `open` (no query), those with an
/// agreement under `explicit` (one query, whatever the number of candidates).
pub fn cpos_for_emsp(
    conn: &mut Conn<'_>,
    mode: AgreementMode,
    emsp: &PartyKey,
    candidates: Vec<PartyKey>,
) -> StoreResult<Vec<PartyKey>> {
    if mode == AgreementMode::Open || candidates.is_empty() {
        return Ok(candidates);
    }
    let agreed: Vec<(String, String)> = db_run!(conn => agreements::table
        .filter(agreements::emsp_country_code.eq(emsp.country_code.key()))
        .filter(agreements::emsp_party_id.eq(emsp.party_id.key()))
        .select((agreements::cpo_country_code, agreements::cpo_party_id))
        .load(conn))?;
    Ok(candidates
        .into_iter()
        .filter(|cpo| {
            let recorded = agreed
                .iter()
                .any(|(cc, pid)| cc == cpo.country_code.key() && pid == cpo.party_id.key());
            mode.permits(recorded)
        })
        .collect())
}
