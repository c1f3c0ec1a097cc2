//! `--admin-files`: the management API's token files and deep search pages, on an empty registry
//! filled by the import itself:
//!
//! * import of `--tokens` new tokens as one NDJSON body (`POST /admin/v1/tokens/import`, every
//!   20th `valid: false`): seconds, lines/s and the hub's peak RSS during the import;
//! * the same file again: every line unchanged (the path an export re-imported takes);
//! * export of all of them (`GET /admin/v1/tokens/export`, NDJSON and CSV): seconds, bytes and
//!   peak RSS;
//! * token search, the page at row 900,000 (or 90% of `--tokens`) by cursor, 100 a page, without
//!   a filter and with `party` + `valid`: p50/p99 over sequential requests.
//!
//! Peak RSS is the largest VmRSS sampled every 20 ms while the request runs (VmHWM would keep
//! the start-up peak).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::hub::{rss_mb, Hub};
use crate::oauth::BenchClient;
use crate::seed::token_json;

/// Search requests per filter for the percentiles.
const SEARCH_ROUNDS: usize = 300;

/// Samples the hub's VmRSS until dropped; the largest seen.
struct RssPeak {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<f64>>,
}

impl RssPeak {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_mb(pid).unwrap_or(0.0));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        RssPeak {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or(0.0)
    }
}

async fn bearer(
    base: &str,
    http: &reqwest::Client,
    client: &BenchClient,
) -> anyhow::Result<String> {
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", client.client_id, client.secret));
    let answer: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no access_token in {answer}"))
}

fn ndjson(tokens: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(tokens as usize * 200);
    for i in 0..tokens {
        let doc = token_json(
            &format!("IMP{i:010}"),
            &format!("NL-ABC-I{i:010}"),
            i % 20 != 0,
        );
        // A map of JSON values always serializes.
        let _ = serde_json::to_writer(&mut out, &doc);
        out.push(b'\n');
    }
    out
}

async fn import(
    hub: &Hub,
    http: &reqwest::Client,
    token: &str,
    body: Vec<u8>,
    what: &str,
) -> anyhow::Result<()> {
    let base = format!("http://{}", hub.addr);
    let peak = RssPeak::start(hub.pid());
    let started = Instant::now();
    let answer: serde_json::Value = http
        .post(format!("{base}/admin/v1/tokens/import"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak.finish();
    let lines = answer["lines"].as_u64().unwrap_or(0);
    println!(
        "  import {what}: {lines} lines in {seconds:.1} s ({:.0} lines/s), hub peak RSS {peak:.0} MB",
        lines as f64 / seconds
    );
    println!("    counts {}", answer["counts"]);
    Ok(())
}

async fn export(
    hub: &Hub,
    http: &reqwest::Client,
    token: &str,
    format: &str,
) -> anyhow::Result<()> {
    let base = format!("http://{}", hub.addr);
    let peak = RssPeak::start(hub.pid());
    let started = Instant::now();
    let mut response = http
        .get(format!("{base}/admin/v1/tokens/export?format={format}"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await?
        .error_for_status()?;
    let (mut bytes, mut lines) = (0_u64, 0_u64);
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak.finish();
    println!(
        "  export {format}: {lines} lines, {:.0} MB in {seconds:.1} s ({:.0} lines/s), hub peak RSS {peak:.0} MB",
        bytes as f64 / 1e6,
        lines as f64 / seconds
    );
    Ok(())
}

async fn search(
    hub: &Hub,
    http: &reqwest::Client,
    token: &str,
    cursor: u64,
    filter: &str,
) -> anyhow::Result<()> {
    let url = format!(
        "http://{}/admin/v1/tokens?limit=100&cursor={cursor}{filter}",
        hub.addr
    );
    let mut micros = Vec::with_capacity(SEARCH_ROUNDS);
    let mut returned = 0;
    for _ in 0..SEARCH_ROUNDS {
        let started = Instant::now();
        let page: serde_json::Value = http
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        micros.push(started.elapsed().as_micros() as u64);
        returned = page["tokens"].as_array().map_or(0, Vec::len);
    }
    micros.sort_unstable();
    let at =
        |q: f64| micros[((micros.len() as f64 * q) as usize).min(micros.len() - 1)] as f64 / 1000.0;
    let shown = if filter.is_empty() {
        "no filter"
    } else {
        filter
    };
    println!(
        "  search at row {cursor} ({shown}): p50 {:.2} ms, p99 {:.2} ms over {SEARCH_ROUNDS} sequential requests, {returned} tokens a page",
        at(0.5),
        at(0.99)
    );
    Ok(())
}

pub async fn run(hub: &Hub, client: &BenchClient, tokens: u64) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let base = format!("http://{}", hub.addr);
    let token = bearer(&base, &http, client).await?;
    println!("== management API files ({tokens} tokens) ==");
    let body = ndjson(tokens);
    println!("  file {:.0} MB", body.len() as f64 / 1e6);
    import(hub, &http, &token, body.clone(), "new tokens").await?;
    import(hub, &http, &token, body, "the same again (unchanged)").await?;
    // The access token lives 5 minutes: a fresh one for the rest.
    let token = bearer(&base, &http, client).await?;
    export(hub, &http, &token, "ndjson").await?;
    export(hub, &http, &token, "csv").await?;
    let cursor = if tokens >= 1_000_000 {
        900_000
    } else {
        tokens * 9 / 10
    };
    search(hub, &http, &token, cursor, "").await?;
    search(hub, &http, &token, cursor, "&party=NL*ABC&valid=true").await?;
    search(hub, &http, &token, cursor, "&party=NL*ABC&valid=false").await?;
    println!(
        "  hub RSS at the end {:.0} MB",
        rss_mb(hub.pid()).unwrap_or(0.0)
    );
    Ok(())
}
