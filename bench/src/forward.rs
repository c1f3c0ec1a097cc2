//! `--forward`: what forwarding costs (docs/design.md §6 "Authorize flow").
//!
//! * **Added latency.** A fake eMSP in this process answers `/authorize` after a fixed delay
//!   (`--emsp-latency-ms`) with `NO_CREDIT` (no hold is taken, so every request is forwarded).
//!   Each round asks it directly (its own latency as a client sees it), then through the hub for
//!   its `NEVER` tokens; the hub's share is the difference of the percentiles.
//! * **A dead eMSP slows nothing else.** A second eMSP's endpoint accepts connections and never
//!   answers. Each round measures local authorizations (the seeded `ALLOWED` tokens) alone, then
//!   the same while other CPO connections keep asking for the dead eMSP's `NEVER` tokens.
//!
//! Rounds alternate, so slow drift of the machine hits both sides alike; the summary gives the
//! median and the spread (min..max) of each figure over the rounds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::partner::{InterfaceRole, OcpiVersion, PartnerEndpoint};
use tokenhub::domain::party::Role;
use tokenhub::domain::token::validate_token;
use tokenhub::secrets::sealed::Sealer;
use tokenhub::secrets::{Keys, MasterKey, Purpose};
use tokenhub::store::connections::{self, Registration};
use tokenhub::store::{tokens, Store, StoreSettings};

use crate::load::{auth_header, run_phase, PhaseReport, Workload};

/// `NEVER` tokens seeded per eMSP.
pub const EMSP_TOKENS: u64 = 10_000;
/// Connections of the latency phases: few, so that the figure is the hub's work, not queueing.
const LATENCY_CONNECTIONS: usize = 8;
/// CPO connections asking for the dead eMSP's tokens.
const DEAD_ASKERS: usize = 4;

/// Answers every request after `latency` with an `AuthorizationInfo` of `NO_CREDIT` for the uid
/// in the path, as the eMSP `owner` (keep-alive HTTP/1.1, one task per connection).
pub async fn fake_emsp(
    latency: Duration,
    owner: (&'static str, &'static str),
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_emsp(stream, latency, owner));
        }
    });
    Ok(addr)
}

async fn serve_emsp(mut stream: TcpStream, latency: Duration, owner: (&str, &str)) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let Some((head_len, body_len)) = read_head(&mut stream, &mut buffer).await else {
            return;
        };
        while buffer.len() < head_len + body_len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buffer[..head_len]).into_owned();
        buffer.drain(..head_len + body_len);
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let uid = path.split('/').rev().nth(1).unwrap_or("").to_owned();
        tokio::time::sleep(latency).await;
        let body = json!({
            "data": {
                "allowed": "NO_CREDIT",
                "token": {
                    "country_code": owner.0, "party_id": owner.1, "uid": uid, "type": "RFID",
                    "contract_id": format!("{}-{}-C1", owner.0, owner.1), "issuer": "bench eMSP",
                    "valid": true, "whitelist": "NEVER", "last_updated": "2026-01-01T00:00:00Z"
                }
            },
            "status_code": 1000,
            "timestamp": "2026-01-01T00:00:00Z"
        })
        .to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads until a whole request head is in `buffer`: its length and the body's `content-length`.
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(usize, usize)> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            return Some((end + 4, body_len));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// An eMSP that is dead in the worst way: it accepts connections and never answers.
pub async fn black_hole() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    Ok(addr)
}

/// Registers the eMSP `cc`*`pid` as a partner whose Tokens SENDER is at `addr` (as a completed
/// Credentials handshake stores it, token B sealed under `master_key`), with `EMSP_TOKENS`
/// `NEVER` tokens `{prefix}{i:06}`.
pub async fn seed_emsp(
    database_url: &str,
    master_key: &str,
    (cc, pid): (&str, &str),
    prefix: &str,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    let store = Store::open(&StoreSettings::for_url(
        database_url.to_owned(),
        2,
        Duration::from_secs(5),
    ))
    .await?;
    let keys = Keys::new(MasterKey::from_hex(master_key).map_err(anyhow::Error::msg)?);
    let sealed = Sealer::new(keys.derive(Purpose::TOKEN_B_ENCRYPTION)).seal("bench-token-b");
    let base = format!("http://{addr}/ocpi");
    let key = PartyKey::parse(cc, pid)?;
    let name = format!("bench eMSP {cc}*{pid}");
    let versions_url = format!("{base}/versions");
    let endpoints = vec![PartnerEndpoint {
        identifier: "tokens".into(),
        role: InterfaceRole::Sender,
        url: url::Url::parse(&format!("{base}/2.3.0/tokens"))?,
    }];
    store
        .write(move |conn| {
            let now = chrono::Utc::now().naive_utc();
            let hash = tokenhub::secrets::hash_token(&format!("bench-token-c-{name}"));
            let platform = connections::begin_outgoing(conn, &name, &hash, &versions_url, now)?;
            connections::finish_outgoing(
                conn,
                platform,
                &[(key, Role::Emsp, name.clone())],
                &Registration {
                    versions_url: &versions_url,
                    version: OcpiVersion::V2_3_0,
                    outbound_token_sealed: &sealed,
                    endpoints: &endpoints,
                },
                now,
            )?
            .map_err(tokenhub::store::StoreError::Query)
        })
        .await?;
    let writes = (0..EMSP_TOKENS)
        .map(|i| {
            let Value::Object(map) = json!({
                "country_code": cc, "party_id": pid, "uid": format!("{prefix}{i:06}"),
                "type": "RFID", "contract_id": format!("{cc}-{pid}-C{i:06}"), "issuer": "bench",
                "valid": true, "whitelist": "NEVER", "last_updated": "2026-01-01T00:00:00Z",
            }) else {
                unreachable!("json! of an object literal")
            };
            validate_token(map as Map<String, Value>).map_err(anyhow::Error::msg)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    store
        .write(move |conn| tokens::insert_many(conn, &writes, chrono::Utc::now()))
        .await?;
    Ok(())
}

/// Median and spread (min..max).
pub fn stats(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    (median, sorted[0], sorted[n - 1])
}

fn count(report: &PhaseReport, outcome: &str) -> u64 {
    report.outcome(outcome)
}

/// The rounds of both measurements and their summary.
pub async fn run(
    hub: SocketAddr,
    emsp: SocketAddr,
    cpo: &str,
    local_tokens: u64,
    connections: usize,
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<()> {
    let cpo = auth_header(cpo);
    println!(
        "== forwarded authorize: latency added by the hub ({LATENCY_CONNECTIONS} connections) =="
    );
    let direct = Arc::new(Workload::EmspDirect {
        prefix: "FWD",
        count: EMSP_TOKENS,
    });
    let forwarded = Arc::new(Workload::AuthorizeUids {
        auth: cpo.clone(),
        prefix: "FWD",
        count: EMSP_TOKENS,
    });
    let (mut added_p50, mut added_p99) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let own = run_phase(emsp, LATENCY_CONNECTIONS, duration, Arc::clone(&direct))
            .await
            .context("the fake eMSP")?;
        let via = run_phase(hub, LATENCY_CONNECTIONS, duration, Arc::clone(&forwarded)).await?;
        let answered = count(&via, "200 NO_CREDIT");
        let p50 = via.quantile_ms(0.5) - own.quantile_ms(0.5);
        let p99 = via.quantile_ms(0.99) - own.quantile_ms(0.99);
        println!(
            "  round {round}: eMSP alone p50 {:.3} p99 {:.3} ms; via the hub p50 {:.3} p99 {:.3} ms \
             ({:.0} req/s, {answered} of {} answered NO_CREDIT by the eMSP); added p50 {p50:.3} p99 {p99:.3} ms",
            own.quantile_ms(0.5),
            own.quantile_ms(0.99),
            via.quantile_ms(0.5),
            via.quantile_ms(0.99),
            via.rps(),
            via.responses(),
        );
        added_p50.push(p50);
        added_p99.push(p99);
    }
    println!();
    println!(
        "== local authorize throughput, without and with a dead eMSP ({connections} local connections; \
         {DEAD_ASKERS} more asking for the dead eMSP's NEVER tokens) =="
    );
    let local = Arc::new(Workload::Authorize {
        auth: cpo.clone(),
        tokens: local_tokens,
    });
    let dead = Arc::new(Workload::AuthorizeUids {
        auth: cpo.clone(),
        prefix: "DED",
        count: EMSP_TOKENS,
    });
    let (mut alone, mut beside_dead) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let without = run_phase(hub, connections, duration, Arc::clone(&local)).await?;
        let (with, asking) = tokio::join!(
            run_phase(hub, connections, duration, Arc::clone(&local)),
            run_phase(hub, DEAD_ASKERS, duration, Arc::clone(&dead)),
        );
        let (with, asking) = (with?, asking?);
        println!(
            "  round {round}: local alone {:.0} req/s (p99 {:.2} ms); beside the dead eMSP {:.0} req/s \
             (p99 {:.2} ms), its CPOs got {:.0} answers/s (p99 {:.2} ms: {})",
            without.rps(),
            without.quantile_ms(0.99),
            with.rps(),
            with.quantile_ms(0.99),
            asking.rps(),
            asking.quantile_ms(0.99),
            asking.outcome_summary(),
        );
        alone.push(without.rps());
        beside_dead.push(with.rps());
    }
    println!();
    let show = |name: &str, values: &[f64], unit: &str| {
        let (median, min, max) = stats(values);
        println!("  {name:<48} median {median:>9.3} {unit}  spread {min:.3} .. {max:.3}");
    };
    println!("== forwarding summary ({rounds} rounds) ==");
    show(
        "forwarded authorize, p50 added by the hub",
        &added_p50,
        "ms",
    );
    show(
        "forwarded authorize, p99 added by the hub",
        &added_p99,
        "ms",
    );
    show("local authorize, no dead eMSP", &alone, "req/s");
    show("local authorize, beside a dead eMSP", &beside_dead, "req/s");
    let (a, a_min, a_max) = stats(&alone);
    let (b, _, _) = stats(&beside_dead);
    println!(
        "  local throughput beside the dead eMSP: {:+.1}% of the median without (spread without: {:.1}%)",
        (b - a) * 100.0 / a,
        (a_max - a_min) * 100.0 / a
    );
    Ok(())
}
