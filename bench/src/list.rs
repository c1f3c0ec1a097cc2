//! The list phase: one connection timing the sender list of one OCPI version at offset 0 and at a
//! deep offset.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;

use crate::load::{connect, exchange};

/// Page size and deepest offset of the list phase.
pub const PAGE_SIZE: u64 = 100;
pub const DEEP_OFFSET: u64 = 900_000;
const LIST_WARMUP: usize = 5;
const LIST_SAMPLES: usize = 50;

pub struct ListReport {
    version: &'static str,
    first: Vec<Duration>,
    deep: Vec<Duration>,
    pub problems: Vec<String>,
}

fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

impl ListReport {
    pub fn first_median_ms(&self) -> f64 {
        quantile_ms(&self.first, 0.5)
    }

    pub fn deep_median_ms(&self) -> f64 {
        quantile_ms(&self.deep, 0.5)
    }

    pub fn ratio(&self) -> f64 {
        self.deep_median_ms() / self.first_median_ms()
    }

    pub fn print(&self, deep_offset: u64) {
        println!(
            "== list: GET /ocpi/{}/sender/tokens?offset=N&limit={PAGE_SIZE} (CPO, one connection, \
             {LIST_SAMPLES} timed calls after {LIST_WARMUP} warm-ups) ==",
            self.version
        );
        for (offset, samples) in [(0, &self.first), (deep_offset, &self.deep)] {
            println!(
                "  offset {offset:<9} median {:.3} ms  p90 {:.3} ms",
                quantile_ms(samples, 0.5),
                quantile_ms(samples, 0.9)
            );
        }
        println!("  ratio deep/first (medians): {:.2}", self.ratio());
        if self.problems.is_empty() {
            println!("  every response: HTTP 200 with {PAGE_SIZE} tokens");
        } else {
            println!("  problems ({}):", self.problems.len());
            for p in self.problems.iter().take(10) {
                println!("    {p}");
            }
        }
    }
}

/// Checks one list response; returns a description of what is wrong with it, if anything.
fn check_page(offset: u64, status: StatusCode, body: &[u8]) -> Option<String> {
    if status != StatusCode::OK {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        return Some(format!("offset {offset}: HTTP {status}: {text}"));
    }
    let items = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("data").and_then(Value::as_array).map(Vec::len));
    match items {
        Some(n) if n as u64 == PAGE_SIZE => None,
        Some(n) => Some(format!(
            "offset {offset}: {n} tokens instead of {PAGE_SIZE}"
        )),
        None => Some(format!("offset {offset}: the body has no `data` array")),
    }
}

/// The list of OCPI `version` (`2.3.0`, or `2.2.1`, which reads its own creation sequence).
pub async fn list_phase(
    addr: SocketAddr,
    auth: &str,
    deep_offset: u64,
    version: &'static str,
) -> anyhow::Result<ListReport> {
    let host = addr.to_string();
    let mut sender = connect(addr).await?;
    let request = |offset: u64| {
        Request::builder()
            .method(Method::GET)
            .uri(format!(
                "/ocpi/{version}/sender/tokens?offset={offset}&limit={PAGE_SIZE}"
            ))
            .header("host", host.as_str())
            .header("authorization", auth)
            .body(Full::new(Bytes::new()))
            .expect("a valid request")
    };
    let mut report = ListReport {
        version,
        first: Vec::with_capacity(LIST_SAMPLES),
        deep: Vec::with_capacity(LIST_SAMPLES),
        problems: Vec::new(),
    };
    for offset in [0, deep_offset] {
        for _ in 0..LIST_WARMUP {
            let (status, body) = exchange(&mut sender, request(offset)).await?;
            report.problems.extend(check_page(offset, status, &body));
        }
    }
    for (which, offset) in [0, deep_offset].into_iter().enumerate() {
        let mut samples = Vec::with_capacity(LIST_SAMPLES);
        for _ in 0..LIST_SAMPLES {
            let sent = Instant::now();
            let (status, body) = exchange(&mut sender, request(offset)).await?;
            samples.push(sent.elapsed());
            report.problems.extend(check_page(offset, status, &body));
        }
        samples.sort();
        if which == 0 {
            report.first = samples;
        } else {
            report.deep = samples;
        }
    }
    Ok(report)
}
