//! `tokenhub-bench`: an end-to-end load benchmark of the hub, for SQLite or PostgreSQL.
//!
//! It seeds a fresh database directly through the library (two parties and `--tokens` tokens,
//! every 20th one invalid), starts the `tokenhub` binary as a child process on a free port, and
//! drives it over persistent HTTP/1.1 keep-alive connections. It measures and prints:
//!
//! * real-time authorization (`POST /ocpi/2.3.0/sender/tokens/{uid}/authorize`): throughput,
//!   latency percentiles and the outcome mix (~90% seeded uids, ~10% unknown ones);
//! * token pushes (`PUT /ocpi/2.3.0/receiver/tokens/NL/ABC/{uid}`, all creates): throughput and
//!   latency;
//! * the sender list at offset 0 and at a deep offset (900,000 by default), 100 tokens a page;
//! * the hub's resident memory (VmRSS) after start and after the authorization run;
//!
//! then a summary table against the targets (2-core machine shared by client and hub). It only
//! reports figures; it never fails because of a timing.
//!
//! Run it with (`cargo build --release` builds both the hub and the bench; the bench starts the
//! `tokenhub` binary found next to its own executable unless `--hub-binary` says otherwise):
//!
//! ```text
//! cargo build --release --bin tokenhub --bin tokenhub-bench
//! cargo run --release --bin tokenhub-bench -- --backend sqlite
//! cargo run --release --bin tokenhub-bench -- --backend postgres \
//!     --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! For PostgreSQL the URL is an admin connection: the bench creates a database
//! `tokenhub_bench_<random>` next to it and drops it (`WITH (FORCE)`) at the end. For SQLite it
//! works in a fresh temporary directory, removed at the end. Smaller runs:
//! `--tokens 50000 --duration-secs 3`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;

use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;
use tokenhub::domain::token::{validate_token, TokenWrite};
use tokenhub::service::parties::register_party;
use tokenhub::store::{tokens, Store, StoreSettings};

/// Targets the report compares against.
const TARGET_AUTHORIZE_RPS: f64 = 20_000.0;
const TARGET_AUTHORIZE_P99_MS: f64 = 5.0;
const TARGET_PUT_RPS: f64 = 5_000.0;
const TARGET_LIST_RATIO: f64 = 2.0;
const TARGET_RSS_MB: f64 = 150.0;

/// Tokens inserted per store job while seeding.
const SEED_CHUNK: usize = 20_000;
/// Every phase stops after this many requests even if its duration has not elapsed.
const PHASE_REQUEST_CAP: u64 = 5_000_000;
/// Page size and deepest offset of the list phase.
const PAGE_SIZE: u64 = 100;
const DEEP_OFFSET: u64 = 900_000;
const LIST_WARMUP: usize = 5;
const LIST_SAMPLES: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

/// End-to-end load benchmark of the tokenhub OCPI hub.
#[derive(Parser, Debug)]
#[command(name = "tokenhub-bench")]
struct Args {
    /// Storage backend to benchmark.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    backend: Backend,
    /// PostgreSQL admin URL; the bench creates (and drops) its own database next to it.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Number of tokens to seed.
    #[arg(long, default_value_t = 1_000_000)]
    tokens: u64,
    /// Concurrent keep-alive HTTP connections of the load phases.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Duration of each load phase, in seconds.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Run the authorize phase only, without the summary (quick iterations on the hot path).
    #[arg(long)]
    authorize_only: bool,
    /// The hub executable (default: `tokenhub` next to this executable).
    #[arg(long, value_name = "PATH")]
    hub_binary: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tokenhub::store::pg_pool::init_tls();
    let args = Args::parse();
    if args.tokens < PAGE_SIZE {
        bail!("--tokens must be at least {PAGE_SIZE}");
    }
    if args.connections == 0 || args.duration_secs == 0 {
        bail!("--connections and --duration-secs must be at least 1");
    }
    let hub_binary = match &args.hub_binary {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("tokenhub"),
    };
    if !hub_binary.is_file() {
        bail!(
            "hub binary {} not found: build it first (cargo build --release --bin tokenhub) \
             or pass --hub-binary",
            hub_binary.display()
        );
    }

    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let work_dir = TempDir::create(&format!("tokenhub-bench-{suffix}"))?;
    // Dropped after the runtime (and so after the hub), at the end of main.
    let mut pg_database = None;
    let database_url = match args.backend {
        Backend::Sqlite => format!("sqlite://{}", work_dir.path.join("bench.db").display()),
        Backend::Postgres => {
            let admin = args.database_url.clone().ok_or_else(|| {
                anyhow!("--backend postgres needs --database-url postgres://USER@HOST:PORT/DB")
            })?;
            let db = PgDatabase::create(&admin, &format!("tokenhub_bench_{suffix}"))?;
            let url = db.url.clone();
            pg_database = Some(db);
            url
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&args, &hub_binary, &database_url, &work_dir.path));
    drop(runtime);
    drop(pg_database);
    drop(work_dir);
    result
}

/// A scratch directory, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn create(name: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("warning: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// A PostgreSQL database created for this run, dropped on drop.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(admin_url: &str, name: &str) -> anyhow::Result<Self> {
        use diesel::Connection;
        use diesel::RunQueryDsl;
        let mut url = url::Url::parse(admin_url).context("--database-url is not a valid URL")?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            bail!("--database-url must start with postgres://");
        }
        url.set_path(&format!("/{name}"));
        let mut admin = diesel::pg::PgConnection::establish(admin_url).with_context(|| {
            format!("cannot connect to {}", tokenhub::store::mask_url(admin_url))
        })?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name: name.to_owned(),
            url: url.to_string(),
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::Connection;
        use diesel::RunQueryDsl;
        let dropped = diesel::pg::PgConnection::establish(&self.admin_url)
            .map_err(|e| e.to_string())
            .and_then(|mut admin| {
                diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .execute(&mut admin)
                .map_err(|e| e.to_string())
            });
        match dropped {
            Ok(_) => eprintln!("dropped database {}", self.name),
            Err(e) => eprintln!("warning: cannot drop database {}: {e}", self.name),
        }
    }
}

/// The hub child process: killed (by its own handle) and reaped on drop, on every exit path.
struct Hub {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
}

impl Hub {
    fn start(binary: &Path, database_url: &str, work_dir: &Path) -> anyhow::Result<Self> {
        let log_path = work_dir.join("hub-stderr.log");
        let log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(binary)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", database_url)
            .env("TOKENHUB_LOG__LEVEL", "warn")
            .env(
                "TOKENHUB_DATABASE__POOL_SIZE",
                std::env::var("BENCH_POOL_SIZE").unwrap_or_else(|_| "16".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        // From here on the guard owns the child, so an error below still kills it.
        let mut hub = Hub {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_path,
        };
        let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keeps draining stdout for the hub's whole life so that it never blocks on a pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        const PREFIX: &str = "tokenhub listening on http://127.0.0.1:";
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.trim().strip_prefix(PREFIX) {
                        let port: u16 = port
                            .trim_end_matches('/')
                            .parse()
                            .with_context(|| format!("unexpected hub line: {line}"))?;
                        hub.addr = SocketAddr::from(([127, 0, 0, 1], port));
                        return Ok(hub);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "the hub did not report its port within 60 s; its log:\n{}",
                        hub.log_tail()
                    )
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = hub.child.wait()?;
                    bail!(
                        "the hub exited ({status}) before listening; its log:\n{}",
                        hub.log_tail()
                    )
                }
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the hub's stderr.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn log_line_count(&self) -> usize {
        std::fs::read_to_string(&self.log_path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS of a process, in MB (from `/proc/<pid>/status`).
fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kb / 1024.0)
}

/// CPU time counters, to show how the two cores were shared during a phase.
struct CpuSnapshot {
    at: Instant,
    hub_ticks: u64,
    bench_ticks: u64,
    /// Busy and total ticks of the whole machine (`/proc/stat`, all cores).
    machine_busy: u64,
    machine_total: u64,
}

/// Clock ticks per second of `/proc` counters (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses and may contain spaces.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

impl CpuSnapshot {
    fn take(hub_pid: u32) -> Self {
        let (machine_busy, machine_total) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| {
                let line = stat.lines().next()?.strip_prefix("cpu ")?.to_owned();
                let v: Vec<u64> = line
                    .split_whitespace()
                    .take(8)
                    .filter_map(|f| f.parse().ok())
                    .collect();
                let total: u64 = v.iter().sum();
                // idle and iowait
                let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
                Some((total - idle, total))
            })
            .unwrap_or((0, 0));
        Self {
            at: Instant::now(),
            hub_ticks: process_ticks(&hub_pid.to_string()),
            bench_ticks: process_ticks("self"),
            machine_busy,
            machine_total,
        }
    }

    /// "hub 1.2 cores, bench 0.6, everything else 0.1 (machine 95% busy)" since `self`.
    fn usage_since(&self, hub_pid: u32) -> String {
        let now = CpuSnapshot::take(hub_pid);
        let secs = now.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let cores = |ticks: u64| ticks as f64 / USER_HZ / secs;
        let hub = now.hub_ticks.saturating_sub(self.hub_ticks);
        let bench = now.bench_ticks.saturating_sub(self.bench_ticks);
        let busy = now.machine_busy.saturating_sub(self.machine_busy);
        let total = now.machine_total.saturating_sub(self.machine_total).max(1);
        format!(
            "hub {:.2} cores, bench {:.2} cores, everything else (database server, other \
             processes) {:.2} cores; machine {:.0}% busy over {} cores",
            cores(hub),
            cores(bench),
            cores(busy.saturating_sub(hub + bench)),
            busy as f64 * 100.0 / total as f64,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )
    }
}

fn auth_header(token: &str) -> String {
    format!(
        "Token {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    )
}

fn token_json(uid: &str, contract_id: &str, valid: bool) -> Map<String, Value> {
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

fn seed_uid(i: u64) -> String {
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

struct Credentials {
    emsp: String,
    cpo: String,
}

/// Creates the parties and the tokens through the library, and reports the time it took.
async fn seed(database_url: &str, count: u64) -> anyhow::Result<Credentials> {
    let started = Instant::now();
    let store = Store::open(&StoreSettings {
        url: database_url.to_owned(),
        pool_size: 4,
        connect_timeout: Duration::from_secs(5),
    })
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
fn sqlite_size_mb(work_dir: &Path) -> f64 {
    ["bench.db", "bench.db-wal", "bench.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(work_dir.join(f)).ok())
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
        .sum()
}

async fn run(
    args: &Args,
    hub_binary: &Path,
    database_url: &str,
    work_dir: &Path,
) -> anyhow::Result<()> {
    println!(
        "tokenhub-bench: backend {:?}, {} tokens, {} connections, {} s per phase",
        args.backend, args.tokens, args.connections, args.duration_secs
    );
    println!("  hub binary {}", hub_binary.display());
    println!("  database {}", tokenhub::store::mask_url(database_url));
    println!();

    let credentials = seed(database_url, args.tokens).await?;
    if args.backend == Backend::Sqlite {
        println!("  database files {:.0} MB", sqlite_size_mb(work_dir));
    }
    println!();

    let start = Instant::now();
    let hub = Hub::start(hub_binary, database_url, work_dir)?;
    println!("== hub ==");
    println!(
        "  pid {}, listening on {} after {:.2} s",
        hub.pid(),
        hub.addr,
        start.elapsed().as_secs_f64()
    );
    let rss_start = rss_mb(hub.pid())?;
    println!("  RSS after start (database seeded): {rss_start:.1} MB");
    println!();

    let duration = Duration::from_secs(args.duration_secs);
    let authorize = Arc::new(Workload::Authorize {
        auth: auth_header(&credentials.cpo),
        tokens: args.tokens,
    });
    let cpu = CpuSnapshot::take(hub.pid());
    let auth_report = run_phase(hub.addr, args.connections, duration, authorize).await?;
    let auth_cpu = cpu.usage_since(hub.pid());
    auth_report.print(
        "authorize: POST /ocpi/2.3.0/sender/tokens/{uid}/authorize (CPO, ~90% seeded uids, ~10% unknown)",
        args.connections,
    );
    println!("  CPU: {auth_cpu}");
    println!(
        "  note: seeded uids repeated within the hub's repeat window answer NOT_ALLOWED; \
         every 20th seeded token is invalid (BLOCKED)"
    );
    let rss_after_authorize = rss_mb(hub.pid())?;
    println!("  hub RSS after the authorize run: {rss_after_authorize:.1} MB");
    println!();
    if args.authorize_only {
        print_hub_log(&hub);
        return Ok(());
    }

    let put = Arc::new(Workload::Put {
        auth: auth_header(&credentials.emsp),
    });
    let cpu = CpuSnapshot::take(hub.pid());
    let put_report = run_phase(hub.addr, args.connections, duration, put).await?;
    let put_cpu = cpu.usage_since(hub.pid());
    put_report.print(
        "put: PUT /ocpi/2.3.0/receiver/tokens/NL/ABC/{uid} (eMSP, new uids: creates)",
        args.connections,
    );
    println!("  CPU: {put_cpu}");
    println!("  hub RSS after the PUT run: {:.1} MB", rss_mb(hub.pid())?);
    println!();

    let deep_offset = DEEP_OFFSET.min(args.tokens - PAGE_SIZE);
    let list = list_phase(hub.addr, &auth_header(&credentials.cpo), deep_offset).await?;
    list.print(deep_offset);
    println!();

    print_hub_log(&hub);
    drop(hub);

    let authorize_rps = auth_report.rps();
    let authorize_p99 = auth_report.quantile_ms(0.99);
    let put_rps = put_report.rps();
    let ratio = list.ratio();
    let rows = [
        (
            "authorize throughput",
            format!("{authorize_rps:.0} req/s"),
            format!(">= {TARGET_AUTHORIZE_RPS:.0} req/s"),
            authorize_rps >= TARGET_AUTHORIZE_RPS,
        ),
        (
            "authorize p99 latency",
            format!("{authorize_p99:.2} ms"),
            format!("<= {TARGET_AUTHORIZE_P99_MS:.0} ms"),
            authorize_p99 <= TARGET_AUTHORIZE_P99_MS,
        ),
        (
            "PUT throughput",
            format!("{put_rps:.0} req/s"),
            format!(">= {TARGET_PUT_RPS:.0} req/s"),
            put_rps >= TARGET_PUT_RPS,
        ),
        (
            "list deep/first (median)",
            format!(
                "{ratio:.2}x ({:.2} / {:.2} ms)",
                list.deep_median_ms(),
                list.first_median_ms()
            ),
            format!("<= {TARGET_LIST_RATIO:.0}x"),
            ratio <= TARGET_LIST_RATIO && list.problems.is_empty(),
        ),
        (
            "hub RSS after seeding",
            format!("{rss_start:.1} MB"),
            format!("<= {TARGET_RSS_MB:.0} MB"),
            rss_start <= TARGET_RSS_MB,
        ),
        (
            "hub RSS after authorize",
            format!("{rss_after_authorize:.1} MB"),
            format!("<= {TARGET_RSS_MB:.0} MB"),
            rss_after_authorize <= TARGET_RSS_MB,
        ),
    ];
    println!(
        "== summary ({:?}, {} tokens, {} connections, {} s phases) ==",
        args.backend, args.tokens, args.connections, args.duration_secs
    );
    println!("  {:<26} {:<28} {:<16} met", "metric", "measured", "target");
    for (metric, measured, target, met) in &rows {
        println!(
            "  {metric:<26} {measured:<28} {target:<16} {}",
            if *met { "yes" } else { "NO" }
        );
    }
    let errors = auth_report.errors + put_report.errors;
    let unexpected =
        auth_report.unexpected() + put_report.unexpected() + list.problems.len() as u64;
    println!(
        "  transport errors: {errors}; unexpected responses: {unexpected} \
         (see the phase reports above)"
    );
    Ok(())
}

fn print_hub_log(hub: &Hub) {
    let log_lines = hub.log_line_count();
    if log_lines > 0 {
        println!("== hub stderr: {log_lines} line(s), last ones ==");
        println!("{}", hub.log_tail());
        println!();
    }
}

/// What the connections of a load phase send.
enum Workload {
    Authorize { auth: String, tokens: u64 },
    Put { auth: String },
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
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("authorization", auth.as_str());
        if !body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        builder.body(Full::new(body)).expect("a valid request")
    }

    /// The outcome key a response is counted under.
    fn classify(&self, status: StatusCode, body: &[u8]) -> String {
        match self {
            Workload::Authorize { .. } => match status.as_u16() {
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

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole response.
async fn exchange(
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

struct PhaseReport {
    elapsed: Duration,
    histogram: Histogram<u64>,
    outcomes: BTreeMap<String, u64>,
    errors: u64,
    first_error: Option<String>,
    capped: bool,
}

impl PhaseReport {
    fn responses(&self) -> u64 {
        self.histogram.len()
    }

    fn rps(&self) -> f64 {
        self.responses() as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }

    fn unexpected(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(k, _)| k.contains("unexpected"))
            .map(|(_, v)| *v)
            .sum()
    }

    fn print(&self, title: &str, connections: usize) {
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
async fn run_phase(
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

struct ListReport {
    first: Vec<Duration>,
    deep: Vec<Duration>,
    problems: Vec<String>,
}

fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

impl ListReport {
    fn first_median_ms(&self) -> f64 {
        quantile_ms(&self.first, 0.5)
    }

    fn deep_median_ms(&self) -> f64 {
        quantile_ms(&self.deep, 0.5)
    }

    fn ratio(&self) -> f64 {
        self.deep_median_ms() / self.first_median_ms()
    }

    fn print(&self, deep_offset: u64) {
        println!(
            "== list: GET /ocpi/2.3.0/sender/tokens?offset=N&limit={PAGE_SIZE} (CPO, one connection, \
             {LIST_SAMPLES} timed calls after {LIST_WARMUP} warm-ups) =="
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

async fn list_phase(addr: SocketAddr, auth: &str, deep_offset: u64) -> anyhow::Result<ListReport> {
    let host = addr.to_string();
    let mut sender = connect(addr).await?;
    let request = |offset: u64| {
        Request::builder()
            .method(Method::GET)
            .uri(format!(
                "/ocpi/2.3.0/sender/tokens?offset={offset}&limit={PAGE_SIZE}"
            ))
            .header("host", host.as_str())
            .header("authorization", auth)
            .body(Full::new(Bytes::new()))
            .expect("a valid request")
    };
    let mut report = ListReport {
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
