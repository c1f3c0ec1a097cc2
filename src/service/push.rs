//! Pushes (docs/design.md §6 "Push"): the changes of effective tokens go to CPOs' Tokens
//! RECEIVER, the sessions CPOs push go to their eMSP's Sessions RECEIVER.
//!
//! A change queues its pushes in its own write job (`queue_token_change`,
//! `queue_session_change`, `store::outbox::enqueue_owner_tokens`): committed together, so a
//! crash loses no pending push. The worker ([`run`], one per instance) delivers each partner's
//! entries in order, one request at a time, holding the partner's lease so that no other instance
//! delivers them meanwhile; partners are served side by side, so a slow one stalls only itself.
//! A failure waits (exponential backoff, bounded) with the partner's later entries behind it; an
//! entry older than the retry window, every entry of a partner gone OFFLINE, and an object the
//! partner refuses (OCPI 2xxx) are dropped and counted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::config::PushSettings;
use crate::domain::ids::PartyKey;
use crate::domain::partner::{ConnectionStatus, InterfaceRole};
use crate::domain::party::Role;
use crate::domain::token::{effective_token, TokenKey};
use crate::peers::push::{self as leg, Failure};
use crate::peers::Routing;
use crate::store::outbox::{self, Backlog, DropReason, Entry, Kind};
use crate::store::{agreements, connections, parties, sessions, tokens, Conn, Store, StoreResult};

use super::AppState;

/// Queues the change of the token `key` for every CPO that gets it. Called inside the write job
/// of the change. Returns how many entries it wrote.
pub fn queue_token_change(
    conn: &mut Conn<'_>,
    key: &TokenKey,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let recipients = outbox::token_recipients(conn, &key.owner)?;
    if !recipients
        .iter()
        .any(|r| r.version.knows_token_type(&key.token_type))
    {
        return Ok(0);
    }
    let Some(row) = tokens::find_by_key(conn, key, false)? else {
        return Ok(0);
    };
    outbox::enqueue_token(conn, row.id, &key.owner, &key.token_type, now)
}

/// As [`queue_token_change`] for many changed tokens at once (an import batch): `(row id, key)`
/// of each, the recipients read once per owner, the entries written in one multi-row upsert.
/// Called inside the write job of the changes. Returns how many entries it wrote.
pub fn queue_token_changes(
    conn: &mut Conn<'_>,
    changed: &[(i64, &TokenKey)],
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let mut recipients: HashMap<&PartyKey, Vec<outbox::Recipient>> = HashMap::new();
    let mut entries = Vec::new();
    for (id, key) in changed {
        if !recipients.contains_key(&key.owner) {
            recipients.insert(&key.owner, outbox::token_recipients(conn, &key.owner)?);
        }
        for r in &recipients[&key.owner] {
            if r.version.knows_token_type(&key.token_type) {
                entries.push((r.platform_id, *id));
            }
        }
    }
    outbox::enqueue_many(conn, Kind::Token, &entries, now)
}

/// Queues the session `session_id` (of a token of `emsp`) for that eMSP, if it takes sessions.
/// Called inside the write job of the change.
pub fn queue_session_change(
    conn: &mut Conn<'_>,
    session_id: i64,
    emsp: &PartyKey,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    match outbox::session_recipient(conn, emsp)? {
        Some(r) => {
            outbox::enqueue(conn, r.platform_id, Kind::Session, session_id, now)?;
            Ok(1)
        }
        None => Ok(0),
    }
}

/// What is pending per partner, and what was dropped (`tokenhub outbox`, `/metrics`).
pub async fn backlog(store: &Store) -> StoreResult<Vec<Backlog>> {
    store.read(outbox::backlog).await
}

/// Delivers until the task is aborted (with the server).
pub async fn run(state: Arc<AppState>, settings: PushSettings) {
    // SQLite has one instance: a lease left behind was a killed process's, not a live one's.
    if state.store.kind() == crate::store::BackendKind::Sqlite {
        if let Err(e) = state.store.write(outbox::release_all_partners).await {
            tracing::warn!(error = %e, "push: cannot release old leases");
        }
    }
    let mut in_flight: HashSet<i64> = HashSet::new();
    // Partners whose first entry waits (backoff): not claimed again before then by this instance.
    let mut waiting: HashMap<i64, DateTime<Utc>> = HashMap::new();
    let mut tasks: JoinSet<(i64, StoreResult<Delivered>)> = JoinSet::new();
    loop {
        let due = state
            .store
            .read(|conn| outbox::due_partners(conn, Utc::now()))
            .await;
        match due {
            Ok(due) => {
                let now = Utc::now();
                waiting.retain(|_, until| *until > now);
                for platform_id in due {
                    if in_flight.len() >= settings.concurrency {
                        break;
                    }
                    if waiting.contains_key(&platform_id) {
                        continue;
                    }
                    if in_flight.insert(platform_id) {
                        let (state, settings) = (Arc::clone(&state), settings.clone());
                        tasks.spawn(async move {
                            let done = deliver_partner(&state, &settings, platform_id).await;
                            (platform_id, done)
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "push: cannot read the outbox; retrying"),
        }
        // Next look: as soon as a partner made progress (more may be waiting), else after the
        // poll interval.
        let poll = tokio::time::sleep(settings.poll_interval);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                finished = tasks.join_next(), if !tasks.is_empty() => {
                    let Some(finished) = finished else { break };
                    let Ok((platform_id, done)) = finished else { continue };
                    in_flight.remove(&platform_id);
                    match done {
                        Ok(done) => {
                            if let Some(until) = done.wait_until {
                                waiting.insert(platform_id, until);
                            }
                            if done.settled > 0 {
                                break;
                            }
                        }
                        Err(e) => tracing::warn!(platform_id, error = %e, "push: delivery round failed"),
                    }
                }
                _ = &mut poll => break,
            }
        }
    }
}

/// What the claim of a partner found to do (`None`: another instance delivers it, or nothing
/// is due): entries to send, and where.
struct Work {
    head: Vec<Entry>,
    receiver: url::Url,
    version: crate::domain::version::OcpiVersion,
    /// Sealed.
    token: String,
    to: Option<PartyKey>,
    label: String,
}

/// The lease on a partner: generous against the time a batch may take, since a batch stops
/// sending when less than one call's timeout is left.
fn lease_for(settings: &PushSettings, timeout: Duration) -> Duration {
    (timeout * 4).max(Duration::from_secs(30)) + settings.poll_interval
}

/// What one delivery round for one partner did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delivered {
    /// Entries delivered or dropped.
    pub settled: usize,
    /// The partner's first entry waits until then (a failed attempt's backoff).
    pub wait_until: Option<DateTime<Utc>>,
}

/// One delivery round for one partner.
pub async fn deliver_partner(
    state: &AppState,
    settings: &PushSettings,
    platform_id: i64,
) -> StoreResult<Delivered> {
    let now = Utc::now();
    let now_ms = now.timestamp_millis();
    let timeout = state.peers_timeout;
    let lease = lease_for(settings, timeout);
    let until_ms = now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    let window = TimeDelta::from_std(settings.retry_window).unwrap_or(TimeDelta::MAX);
    let batch = settings.batch_size as i64;
    let (claim, dropped, wait_until) = state
        .store
        .write(move |conn| {
            if !outbox::claim_partner(conn, platform_id, now_ms, until_ms)? {
                return Ok((None, vec![], None));
            }
            let label = outbox::partner_label(conn, platform_id)?;
            let status = outbox::partner_status(conn, platform_id)?;
            if matches!(
                status,
                None | Some(ConnectionStatus::Offline | ConnectionStatus::Suspended)
            ) {
                let n = outbox::drop_all(conn, platform_id, DropReason::Offline)?;
                outbox::release_partner(conn, platform_id)?;
                return Ok((None, vec![(label, DropReason::Offline, n)], None));
            }
            let expired = outbox::drop_expired(conn, platform_id, now - window)?;
            let mut dropped = vec![(label.clone(), DropReason::Expired, expired)];
            let head = outbox::head(conn, platform_id, batch)?;
            let wait = head
                .first()
                .map(|e| e.next_attempt_at.and_utc())
                .filter(|at| *at > now);
            if head.is_empty() || wait.is_some() {
                outbox::release_partner(conn, platform_id)?;
                return Ok((None, dropped, wait));
            }
            let connection = connections::connection(conn, platform_id)?;
            let sealed = connections::outbound_token(conn, platform_id)?;
            let kind = Kind::from_db(&head[0].kind);
            let endpoint = connection.as_ref().and_then(|c| {
                let identifier = match kind? {
                    Kind::Token => "tokens",
                    Kind::Session => "sessions",
                };
                Some((
                    c.endpoint(identifier, InterfaceRole::Receiver)?.clone(),
                    c.version,
                ))
            });
            let (Some((receiver, version)), Some(token)) = (endpoint, sealed) else {
                // Re-registered without the receiver, or unregistered: nothing can be sent.
                let n = outbox::drop_all(conn, platform_id, DropReason::Rejected)?;
                outbox::release_partner(conn, platform_id)?;
                dropped.push((label, DropReason::Rejected, n));
                return Ok((None, dropped, None));
            };
            // One kind per request run: the head's. The next round takes the other kind.
            let head: Vec<Entry> = head
                .into_iter()
                .take_while(|e| Kind::from_db(&e.kind) == kind)
                .collect();
            let to = outbox::platform_party(conn, platform_id, Role::Cpo)?;
            Ok((
                Some(Work {
                    head,
                    receiver,
                    version,
                    token,
                    to,
                    label,
                }),
                dropped,
                None,
            ))
        })
        .await?;
    let mut settled = 0;
    for (label, reason, n) in dropped {
        if n > 0 {
            tracing::info!(platform_id, partner = %label, reason = reason.as_str(), dropped = n, "pushes dropped");
        }
        settled += n;
    }
    let Some(Work {
        head,
        receiver,
        version,
        token,
        to,
        label,
    }) = claim
    else {
        return Ok(Delivered {
            settled,
            wait_until,
        });
    };
    let token = match state.sealer.open(&token) {
        Ok(token) => token,
        Err(e) => {
            // Not retried sooner than the poll: the entries expire (counted) unless the key
            // comes back (a wrong master key on this instance).
            tracing::warn!(platform_id, partner = %label, error = %e, "push: cannot open the partner's token");
            state
                .store
                .write(move |conn| outbox::release_partner(conn, platform_id))
                .await?;
            return Ok(Delivered {
                settled,
                wait_until: None,
            });
        }
    };
    let kind = Kind::from_db(&head[0].kind);
    let ids: Vec<i64> = head.iter().map(|e| e.object_id).collect();
    let hub = state.hub.clone();
    let mode = state.agreements;
    let payloads: HashMap<i64, Option<(url::Url, Value, Routing)>> = state
        .store
        .read(move |conn| {
            let now = Utc::now();
            let mut out = HashMap::new();
            // Roaming agreements (docs/design.md §6) are applied here, at delivery, rather than
            // when the change is queued: every path that queues (PUT, PATCH, policy, suspension,
            // validity windows) is covered by this one check, and an agreement removed while a
            // push waits stops it. An entry for a pair without an agreement settles unsent.
            let may_deal = |conn: &mut Conn<'_>, cpo: &PartyKey, emsp_cc: &str, emsp_pid: &str| {
                let emsp = PartyKey::parse(emsp_cc, emsp_pid)?;
                agreements::may_deal(conn, mode, cpo, &emsp)
            };
            match kind {
                Some(Kind::Token) => {
                    let suspended: HashSet<(String, String)> =
                        parties::suspended_emsps(conn)?.into_iter().collect();
                    for row in tokens::find_by_ids(conn, &ids)? {
                        if let Some(to) = &to {
                            if !may_deal(conn, to, &row.country_code, &row.party_id)? {
                                out.insert(row.id, None);
                                continue;
                            }
                        }
                        let owner_suspended =
                            suspended.contains(&(row.country_code.clone(), row.party_id.clone()));
                        let effective = effective_token(
                            &row.pushed()?,
                            row.last_updated_utc(),
                            row.effective_updated.and_utc(),
                            &row.policy(),
                            owner_suspended,
                            now,
                        );
                        let shown = version.knows_token_type(
                            &crate::domain::token::TokenType::parse("type", &row.token_type)?,
                        );
                        let sent = match (&to, shown) {
                            (Some(to), true) => token_request(&receiver, effective, &hub, to),
                            _ => None,
                        };
                        out.insert(row.id, sent);
                    }
                }
                Some(Kind::Session) => {
                    for row in sessions::find_by_ids(conn, &ids)? {
                        let stored = row.stored()?;
                        let field = |v: Option<&Value>, name: &str| {
                            v.and_then(|v| v.get(name))
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        };
                        let token = stored.get("cdr_token");
                        let agreed = match (
                            stored.get("country_code").and_then(Value::as_str),
                            stored.get("party_id").and_then(Value::as_str),
                            field(token, "country_code"),
                            field(token, "party_id"),
                        ) {
                            (Some(cc), Some(pid), Some(ecc), Some(epid)) => {
                                let cpo = PartyKey::parse(cc, pid)?;
                                may_deal(conn, &cpo, &ecc, &epid)?
                            }
                            _ => false,
                        };
                        out.insert(
                            row.id,
                            agreed
                                .then(|| session_request(&receiver, version.session_for(stored)))
                                .flatten(),
                        );
                    }
                }
                None => {}
            }
            Ok(out)
        })
        .await?;
    let mut delivered: Vec<(i64, i64)> = Vec::new();
    let mut rejected: Vec<(i64, i64)> = Vec::new();
    let mut failed: Option<(Entry, String)> = None;
    let stop_at = until_ms - i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX) - 1000;
    for entry in head {
        if Utc::now().timestamp_millis() >= stop_at {
            break;
        }
        // Gone meanwhile (deleted), or nothing this partner can be sent: settled as delivered.
        let Some(Some((url, body, routing))) = payloads.get(&entry.object_id) else {
            delivered.push((entry.id, entry.version));
            continue;
        };
        match leg::put(&state.peers, url, &token, body, routing).await {
            Ok(()) => delivered.push((entry.id, entry.version)),
            Err(e) => match leg::classify(&e) {
                Failure::Rejected => {
                    tracing::warn!(platform_id, partner = %label, error = %e, "push refused by the partner; dropped");
                    rejected.push((entry.id, entry.version));
                }
                Failure::Retry => {
                    tracing::info!(platform_id, partner = %label, attempts = entry.attempts + 1, error = %e, "push failed; retrying later");
                    failed = Some((entry, e.to_string()));
                    break;
                }
            },
        }
    }
    let backoff = |attempts: i32| {
        let factor = 2u32.saturating_pow(attempts.clamp(0, 30) as u32);
        settings
            .retry_initial
            .saturating_mul(factor)
            .min(settings.retry_max)
    };
    let retry = failed.map(|(entry, why)| {
        let wait = TimeDelta::from_std(backoff(entry.attempts)).unwrap_or(TimeDelta::MAX);
        (entry.id, Utc::now() + wait, why)
    });
    let wait_until = retry.as_ref().map(|(_, at, _)| *at);
    let (sent, refused) = (delivered.clone(), rejected.clone());
    let (completed, dropped) = state
        .store
        .write(move |conn| {
            let completed = outbox::complete(conn, &sent)?;
            let mut dropped = 0;
            for (id, version) in &refused {
                dropped += usize::from(outbox::drop_entry(
                    conn,
                    platform_id,
                    *id,
                    *version,
                    DropReason::Rejected,
                )?);
            }
            if let Some((id, at, why)) = &retry {
                outbox::retry_later(conn, *id, *at, why)?;
            }
            outbox::release_partner(conn, platform_id)?;
            Ok((completed, dropped))
        })
        .await?;
    crate::ops::metrics::record_push_delivered(&label, delivered.len() as u64);
    Ok(Delivered {
        settled: settled + completed + dropped,
        wait_until,
    })
}

/// The PUT of an effective token: at `{receiver}/{cc}/{pid}/{uid}?type=`, from the hub to `to`
/// (a broadcast leg: the URL keeps the owner's segments).
fn token_request(
    receiver: &url::Url,
    effective: Map<String, Value>,
    hub: &PartyKey,
    to: &PartyKey,
) -> Option<(url::Url, Value, Routing)> {
    let field = |name: &str| effective.get(name).and_then(Value::as_str);
    let url = leg::object_url(
        receiver,
        &[field("country_code")?, field("party_id")?, field("uid")?],
        Some(field("type")?),
    );
    let routing = Routing {
        from: hub.clone(),
        to: to.clone(),
    };
    Some((url, Value::Object(effective), routing))
}

/// The PUT of a session: at `{receiver}/{cc}/{pid}/{id}` of the CPO that owns it, from that CPO
/// to the token's eMSP (routed, not broadcast).
fn session_request(
    receiver: &url::Url,
    session: Map<String, Value>,
) -> Option<(url::Url, Value, Routing)> {
    let field = |name: &str| session.get(name).and_then(Value::as_str);
    let token_field = |name: &str| session.get("cdr_token")?.get(name)?.as_str();
    let from = PartyKey::parse(field("country_code")?, field("party_id")?).ok()?;
    let to = PartyKey::parse(token_field("country_code")?, token_field("party_id")?).ok()?;
    let url = leg::object_url(
        receiver,
        &[
            from.country_code.as_str(),
            from.party_id.as_str(),
            field("id")?,
        ],
        None,
    );
    Some((url, Value::Object(session), Routing { from, to }))
}
