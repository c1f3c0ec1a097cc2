//! The HTTP load generator: keep-alive HTTP/1.1 connections sending authorize or PUT requests
//! back to back, and the latency histogram and outcome counts of a phase.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpStream;

use crate::seed::{seed_uid, token_json};

/// The fake eMSP does not check the token it is shown.
static NO_AUTH: String = String::new();

/// Every phase stops after this many requests even if its duration has not elapsed.
const PHASE_REQUEST_CAP: u64 = 5_000_000;

pub fn auth_header(token: &str) -> String {
    format!(
        "Token {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    )
}

/// What the connections of a load phase send.
pub enum Workload {
    Authorize {
        auth: String,
        tokens: u64,
    },
    Put {
        auth: String,
    },
    /// Authorize `{prefix}{i:06}` for i uniformly below `count` (every uid known).
    AuthorizeUids {
        auth: String,
        prefix: &'static str,
        count: u64,
    },
    /// The fake eMSP's own `/authorize`, asked directly: its latency without the hub.
    EmspDirect {
        prefix: &'static str,
        count: u64,
    },
    /// `POST /oauth/token`, client credentials with HTTP Basic.
    OAuthToken {
        auth: String,
    },
    /// `GET path` with `Authorization: Bearer ...` (a management route).
    Bearer {
        auth: String,
        path: &'static str,
    },
}

impl Workload {
    fn request(&self, host: &str, task: usize, n: u64, rng: &mut StdRng) -> Request<Full<Bytes>> {
        let (method, path, auth, body) = match self {
            Workload::Authorize { auth, tokens } => {
                let uid = if rng.gen_range(0..10) == 0 {
                    format!("NOPE{}", rng.gen::<u64>())
                } else {
                    seed_uid(rng.gen_range(0..*tokens))
                };
                (
                    Method::POST,
                    format!("/ocpi/2.3.0/sender/tokens/{uid}/authorize"),
                    auth,
                    Bytes::new(),
                )
            }
            Workload::AuthorizeUids {
                auth,
                prefix,
                count,
            } => (
                Method::POST,
                format!(
                    "/ocpi/2.3.0/sender/tokens/{prefix}{:06}/authorize",
                    rng.gen_range(0..*count)
                ),
                auth,
                Bytes::new(),
            ),
            Workload::EmspDirect { prefix, count } => (
                Method::POST,
                format!(
                    "/ocpi/2.3.0/tokens/{prefix}{:06}/authorize?type=RFID",
                    rng.gen_range(0..*count)
                ),
                &NO_AUTH,
                Bytes::new(),
            ),
            Workload::Put { auth } => {
                let uid = format!("PUT{task:03}N{n:09}");
                let body = token_json(&uid, &format!("NL-ABC-P{task:03}N{n:09}"), true);
                let body = serde_json::to_vec(&body).expect("a JSON map serializes");
                (
                    Method::PUT,
                    format!("/ocpi/2.3.0/receiver/tokens/NL/ABC/{uid}"),
                    auth,
                    Bytes::from(body),
                )
            }
            Workload::OAuthToken { auth } => (
                Method::POST,
                "/oauth/token".to_owned(),
                auth,
                Bytes::from_static(b"grant_type=client_credentials"),
            ),
            Workload::Bearer { auth, path } => {
                (Method::GET, (*path).to_owned(), auth, Bytes::new())
            }
        };
        let form = matches!(self, Workload::OAuthToken { .. });
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("authorization", auth.as_str());
        if form {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
        } else if !body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        builder.body(Full::new(body)).expect("a valid request")
    }

    /// The outcome key a response is counted under.
    fn classify(&self, status: StatusCode, body: &[u8]) -> String {
        match self {
            Workload::Authorize { .. }
            | Workload::AuthorizeUids { .. }
            | Workload::EmspDirect { .. } => match status.as_u16() {
                200 => match allowed_value(body) {
                    Some(v) => format!("200 {v}"),
                    None => "200 without `allowed` (unexpected)".to_owned(),
                },
                404 => "404 unknown token".to_owned(),
                s => format!("{s} (unexpected)"),
            },
            Workload::Put { .. } => match status.as_u16() {
                201 => "201 created".to_owned(),
                200 => "200 replaced (unexpected)".to_owned(),
                s => format!("{s} (unexpected)"),
            },
            Workload::OAuthToken { .. } | Workload::Bearer { .. } => match status.as_u16() {
                200 => "200".to_owned(),
                s => format!("{s} (unexpected)"),
            },
        }
    }
}

/// The value of the first `"allowed":"..."` in a response body, without parsing the JSON.
fn allowed_value(body: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"allowed\":\"";
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole response.
pub async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

struct TaskStats {
    histogram: Histogram<u64>,
    outcomes: BTreeMap<String, u64>,
    errors: u64,
    first_error: Option<String>,
}

pub struct PhaseReport {
    elapsed: Duration,
    histogram: Histogram<u64>,
    outcomes: BTreeMap<String, u64>,
    pub errors: u64,
    first_error: Option<String>,
    capped: bool,
}

impl PhaseReport {
    pub fn responses(&self) -> u64 {
        self.histogram.len()
    }

    /// How many responses were counted under `outcome`.
    pub fn outcome(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }

    /// Every outcome with its count, on one line.
    pub fn outcome_summary(&self) -> String {
        let mut shown: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        if self.errors > 0 {
            shown.push(format!("transport errors x{}", self.errors));
        }
        shown.join(", ")
    }

    pub fn rps(&self) -> f64 {
        self.responses() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn unexpected(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(k, _)| k.contains("unexpected"))
            .map(|(_, v)| *v)
            .sum()
    }

    pub fn print(&self, title: &str, connections: usize) {
        println!("== {title} ==");
        println!(
            "  {} responses in {:.2} s with {connections} connections = {:.0} req/s{}",
            self.responses(),
            self.elapsed.as_secs_f64(),
            self.rps(),
            if self.capped {
                format!(" (stopped at the cap of {PHASE_REQUEST_CAP} requests)")
            } else {
                String::new()
            }
        );
        println!(
            "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            self.quantile_ms(0.5),
            self.quantile_ms(0.9),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999),
            self.histogram.max() as f64 / 1000.0
        );
        let total = self.responses().max(1) as f64;
        println!("  outcomes:");
        for (outcome, count) in &self.outcomes {
            println!(
                "    {outcome:<36} {count:>10}  {:>5.1}%",
                *count as f64 * 100.0 / total
            );
        }
        println!("  transport errors: {}", self.errors);
        if let Some(e) = &self.first_error {
            println!("  first error: {e}");
        }
    }
}

/// Runs `workload` on `connections` keep-alive connections for `duration` (or until the request
/// cap), each connection sending its next request as soon as the previous response is read.
pub async fn run_phase(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    workload: Arc<Workload>,
) -> anyhow::Result<PhaseReport> {
    let host = addr.to_string();
    // Every connection is open before the clock starts.
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(addr).await.context("cannot connect to the hub")?);
    }
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::with_capacity(connections);
    for (task, mut sender) in senders.into_iter().enumerate() {
        let workload = Arc::clone(&workload);
        let issued = Arc::clone(&issued);
        let host = host.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(0x7031_0000 + task as u64);
            let mut stats = TaskStats {
                histogram: new_histogram(),
                outcomes: BTreeMap::new(),
                errors: 0,
                first_error: None,
            };
            let mut n = 0u64;
            while Instant::now() < deadline
                && issued.fetch_add(1, Ordering::Relaxed) < PHASE_REQUEST_CAP
            {
                let request = workload.request(&host, task, n, &mut rng);
                n += 1;
                let sent = Instant::now();
                match exchange(&mut sender, request).await {
                    Ok((status, body)) => {
                        let micros = sent.elapsed().as_micros().max(1) as u64;
                        stats.histogram.saturating_record(micros);
                        *stats
                            .outcomes
                            .entry(workload.classify(status, &body))
                            .or_insert(0) += 1;
                    }
                    Err(e) => {
                        stats.errors += 1;
                        if stats.first_error.is_none() {
                            stats.first_error = Some(format!("{e:#}"));
                        }
                        // The connection may be gone: open a new one (or back off a little).
                        match connect(addr).await {
                            Ok(s) => sender = s,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }
            }
            stats
        }));
    }
    let mut report = PhaseReport {
        elapsed: Duration::ZERO,
        histogram: new_histogram(),
        outcomes: BTreeMap::new(),
        errors: 0,
        first_error: None,
        capped: false,
    };
    for handle in handles {
        let stats = handle.await?;
        report.histogram.add(&stats.histogram)?;
        for (k, v) in stats.outcomes {
            *report.outcomes.entry(k).or_insert(0) += v;
        }
        report.errors += stats.errors;
        if report.first_error.is_none() {
            report.first_error = stats.first_error;
        }
    }
    report.elapsed = started.elapsed();
    report.capped = issued.load(Ordering::Relaxed) >= PHASE_REQUEST_CAP;
    Ok(report)
}
