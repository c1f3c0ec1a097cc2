//! Seeding the database directly through the library: two parties and the benchmark's tokens.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde_json::{json, Map, Value};

use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;
use tokenhub::domain::token::{validate_token, TokenWrite};
use tokenhub::service::parties::register_party;
use tokenhub::store::{tokens, Store, StoreSettings};

/// Tokens inserted per store job while seeding.
const SEED_CHUNK: usize = 20_000;

pub fn token_json(uid: &str, contract_id: &str, valid: bool) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "country_code": "NL",
        "party_id": "ABC",
        "uid": uid,
        "type": "RFID",
        "contract_id": contract_id,
        "issuer": "Bench",
        "valid": valid,
        "whitelist": "ALLOWED",
        "last_updated": "2026-01-01T00:00:00Z",
    }) else {
        unreachable!("json! of an object literal")
    };
    map
}

pub fn seed_uid(i: u64) -> String {
    format!("BENCH{i:010}")
}

fn seed_chunk(from: u64, to: u64) -> anyhow::Result<Vec<TokenWrite>> {
    (from..to)
        .map(|i| {
            let map = token_json(&seed_uid(i), &format!("NL-ABC-C{i:010}"), i % 20 != 0);
            validate_token(map).map_err(|e| anyhow!("seed token {i} is invalid: {e}"))
        })
        .collect()
}

pub struct Credentials {
    pub emsp: String,
    pub cpo: String,
}

/// Creates the parties and the tokens through the library, and reports the time it took.
pub async fn seed(database_url: &str, count: u64) -> anyhow::Result<Credentials> {
    let started = Instant::now();
    let store = Store::open(&StoreSettings::for_url(
        database_url.to_owned(),
        4,
        Duration::from_secs(5),
    ))
    .await?;
    let mut credentials = Vec::new();
    for (cc, pid, role, name) in [
        ("NL", "ABC", Role::Emsp, "bench emsp"),
        ("DE", "CPO", Role::Cpo, "bench cpo"),
    ] {
        let key = PartyKey::parse(cc, pid)?;
        let (_, token) = register_party(&store, &key, role, name, false).await?;
        credentials.push(token);
    }
    let cpo = credentials.pop().expect("two parties");
    let emsp = credentials.pop().expect("two parties");

    // One chunk is generated while the previous one is being written.
    let mut pending: Option<tokio::task::JoinHandle<anyhow::Result<()>>> = None;
    let mut from = 0;
    while from < count {
        let to = (from + SEED_CHUNK as u64).min(count);
        let chunk = seed_chunk(from, to)?;
        if let Some(previous) = pending.take() {
            previous.await??;
        }
        let store = store.clone();
        pending = Some(tokio::spawn(async move {
            store
                .write(move |conn| tokens::insert_many(conn, &chunk, chrono::Utc::now()))
                .await?;
            Ok(())
        }));
        from = to;
    }
    if let Some(previous) = pending.take() {
        previous.await??;
    }
    drop(store);
    let elapsed = started.elapsed().as_secs_f64();
    println!("== seeding ==");
    println!(
        "  {count} tokens + 2 parties in {elapsed:.2} s ({:.0} tokens/s, chunks of {SEED_CHUNK})",
        count as f64 / elapsed
    );
    Ok(Credentials { emsp, cpo })
}

/// Sizes of the SQLite database files, for the report.
pub fn sqlite_size_mb(work_dir: &Path) -> f64 {
    ["bench.db", "bench.db-wal", "bench.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(work_dir.join(f)).ok())
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
        .sum()
}
