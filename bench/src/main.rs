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
//! * the sender list at offset 0 and at a deep offset (900,000 by default), 100 tokens a page,
//!   over OCPI 2.3.0 and over 2.2.1 (its own creation sequence);
//! * the hub's resident memory (VmRSS) after start and after the authorization run;
//! * with `--forward` instead: the latency the hub adds to a forwarded authorization, and local
//!   authorize throughput beside a dead eMSP (`forward.rs`), median and spread over `--rounds`;
//! * with `--oauth-only` instead: the OAuth token endpoint (client credentials, the secret checked
//!   against its stored keyed hash), a management route behind a bearer token, and the
//!   in-process cost of validating one access token;
//! * with `--sizes 100000,1000000` instead: authorize only, at each registry size (one database
//!   each), the sizes alternating over `--rounds` rounds, and the growth ratio of p99 and req/s
//!   from the smallest to the largest size (`sizes.rs`);
//! * with `--push-only`, instead of the above: pushes of effective tokens to one CPO receiver
//!   (tokens/s end to end, see `push.rs`);
//! * with `--login-only` instead: a person's round trip from the login page to an access token
//!   (Argon2id included), and refresh-token rotation under load;
//!
//! then a summary table against the targets (2-core machine shared by client and hub). It only
//! reports figures; it never fails because of a timing.
//!
//! Run it with (the bench starts the `tokenhub` binary found next to its own executable unless
//! `--hub-binary` says otherwise, and `cargo run -p tokenhub-bench` does not build that one):
//!
//! ```text
//! cargo build --release -p tokenhub -p tokenhub-bench --bins
//! cargo run --release -p tokenhub-bench -- --backend sqlite
//! cargo run --release -p tokenhub-bench -- --backend postgres \
//!     --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! For PostgreSQL the URL is an admin connection: the bench creates a database
//! `tokenhub_bench_<random>` next to it and drops it (`WITH (FORCE)`) at the end. For SQLite it
//! works in a fresh temporary directory, removed at the end. Smaller runs:
//! `--tokens 50000 --duration-secs 3`.

mod admin_files;
mod console;
mod forward;
mod hub;
mod list;
mod load;
mod login;
mod oauth;
mod push;
mod report;
mod scratch;
mod seed;
mod sizes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::{Parser, ValueEnum};

use crate::hub::{rss_mb, CpuSnapshot, Hub};
use crate::list::{list_phase, DEEP_OFFSET, PAGE_SIZE};
use crate::load::{auth_header, run_phase, Workload};
use crate::report::{print_hub_log, print_summary};
use crate::scratch::{PgDatabase, TempDir};
use crate::seed::{seed, sqlite_size_mb};

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
    /// Measure forwarding instead (see `forward.rs`): the latency the hub adds to a forwarded
    /// authorization, and local authorize throughput beside a dead eMSP, over `--rounds` rounds.
    #[arg(long)]
    forward: bool,
    /// Authorize only, at each of these registry sizes (comma-separated token counts, smallest
    /// first), alternating over `--rounds` rounds; prints the growth ratio (`sizes.rs`).
    #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
    sizes: Vec<u64>,
    /// Rounds of the `--forward` and `--sizes` measurements (median and spread are reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The fake eMSP's own answer time in `--forward`, in milliseconds.
    #[arg(long, default_value_t = 2)]
    emsp_latency_ms: u64,
    /// Run the OAuth phases only: the token endpoint (client credentials), a management route
    /// with a bearer token, and the in-process cost of validating one JWT.
    #[arg(long)]
    oauth_only: bool,
    /// Measure pushes only: every seeded token's change queued at once, delivered to one CPO
    /// receiver served by the bench (tokens/s end to end).
    #[arg(long)]
    push_only: bool,
    /// Run the login phases only: a person's round trip from the login page to an access token,
    /// and refresh-token rotation under load.
    #[arg(long)]
    login_only: bool,
    /// Run the console phase only: render times of the console's token list (first page and
    /// the page at 90% by cursor) at the seeded size.
    #[arg(long)]
    console_only: bool,
    /// Run the management API's file phases only, on an empty registry: import of `--tokens`
    /// tokens from NDJSON (seconds, peak RSS), the same file again, export (NDJSON and CSV), and
    /// token search p99 at row 900,000 by cursor, without and with filters (`admin_files.rs`).
    #[arg(long)]
    admin_files: bool,
    /// The hub executable (default: `tokenhub` next to this executable).
    #[arg(long, value_name = "PATH")]
    hub_binary: Option<PathBuf>,
}

/// `--forward`: two partner eMSPs (one answering, one dead) seeded as registered partners, the
/// hub started with the master key that sealed their tokens and allowed to call 127.0.0.1.
async fn run_forward(
    args: &Args,
    hub_binary: &Path,
    database_url: &str,
    work_dir: &Path,
    cpo: &str,
) -> anyhow::Result<()> {
    let master_key = crate::hub::random_master_key();
    let emsp =
        forward::fake_emsp(Duration::from_millis(args.emsp_latency_ms), ("BE", "FWD")).await?;
    let dead = forward::black_hole().await?;
    forward::seed_emsp(database_url, &master_key, ("BE", "FWD"), "FWD", emsp).await?;
    forward::seed_emsp(database_url, &master_key, ("BE", "DED"), "DED", dead).await?;
    println!(
        "  forwarding eMSP BE*FWD at {emsp} (answers after {} ms), dead eMSP BE*DED at {dead} \
         (accepts, never answers); {} NEVER tokens each",
        args.emsp_latency_ms,
        forward::EMSP_TOKENS
    );
    let hub = Hub::start_with(
        hub_binary,
        database_url,
        work_dir,
        &master_key,
        &[("TOKENHUB_PEERS__ALLOW_INSECURE", "true")],
    )?;
    println!("  hub pid {}, listening on {}", hub.pid(), hub.addr);
    println!();
    let result = forward::run(
        hub.addr,
        emsp,
        cpo,
        args.tokens,
        args.connections,
        Duration::from_secs(args.duration_secs),
        args.rounds.max(1),
    )
    .await;
    print_hub_log(&hub);
    result
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
    if !args.sizes.is_empty() {
        return run_sizes(&args, &hub_binary, &work_dir.path, &suffix);
    }
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

/// `--sizes`: one database per size (see `sizes.rs`), dropped at the end.
fn run_sizes(args: &Args, hub_binary: &Path, work_dir: &Path, suffix: &str) -> anyhow::Result<()> {
    if args.sizes.iter().any(|&n| n < PAGE_SIZE) || args.rounds == 0 {
        bail!("--sizes must each be at least {PAGE_SIZE}, and --rounds at least 1");
    }
    println!(
        "tokenhub-bench --sizes: backend {:?}, sizes {:?}, {} rounds, {} connections, {} s per run",
        args.backend, args.sizes, args.rounds, args.connections, args.duration_secs
    );
    println!("  hub binary {}", hub_binary.display());
    let mut databases = Vec::new();
    let mut sizes = Vec::new();
    for &tokens in &args.sizes {
        let dir = work_dir.join(format!("size-{tokens}"));
        std::fs::create_dir_all(&dir)?;
        let database_url = match args.backend {
            Backend::Sqlite => format!("sqlite://{}", dir.join("bench.db").display()),
            Backend::Postgres => {
                let admin = args.database_url.clone().ok_or_else(|| {
                    anyhow!("--backend postgres needs --database-url postgres://USER@HOST:PORT/DB")
                })?;
                let db = PgDatabase::create(&admin, &format!("tokenhub_bench_{suffix}_{tokens}"))?;
                let url = db.url.clone();
                databases.push(db);
                url
            }
        };
        sizes.push(sizes::Sized {
            tokens,
            database_url,
            work_dir: dir,
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(sizes::run(
        hub_binary,
        &sizes,
        args.rounds,
        args.connections,
        Duration::from_secs(args.duration_secs),
    ));
    drop(runtime);
    drop(databases);
    result
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

    // `--admin-files` fills the registry through the import it measures.
    let seeded = if args.admin_files { 0 } else { args.tokens };
    let credentials = seed(database_url, seeded).await?;
    if args.forward {
        return run_forward(args, hub_binary, database_url, work_dir, &credentials.cpo).await;
    }
    if args.backend == Backend::Sqlite {
        println!("  database files {:.0} MB", sqlite_size_mb(work_dir));
    }
    println!();

    if args.push_only {
        let token_a = push::invite_cpo(database_url).await?;
        // The CPO receiver listens on 127.0.0.1 over plain HTTP.
        let hub = Hub::start_with(
            hub_binary,
            database_url,
            work_dir,
            &crate::hub::random_master_key(),
            &[("TOKENHUB_PEERS__ALLOW_INSECURE", "true")],
        )?;
        push::push_phase(hub.addr, database_url, &token_a, args.tokens).await?;
        print_hub_log(&hub);
        return Ok(());
    }
    // A PostgreSQL hub needs a master key; the run's hub lives no longer than its database.
    let master_key = crate::hub::random_master_key();
    let client = oauth::seed_client(database_url, &master_key).await?;
    let login_seed = login::seed(database_url).await?;
    let start = Instant::now();
    let hub = Hub::start_with(hub_binary, database_url, work_dir, &master_key, &[])?;
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
    if args.console_only {
        console::phase(&hub, args.tokens).await?;
        print_hub_log(&hub);
        return Ok(());
    }
    if args.login_only {
        login::phases(&hub, &login_seed, args.connections, duration).await?;
        print_hub_log(&hub);
        return Ok(());
    }
    if args.admin_files {
        admin_files::run(&hub, &client, args.tokens).await?;
        print_hub_log(&hub);
        return Ok(());
    }
    if args.oauth_only {
        oauth::phases(&hub, &client, args.connections, duration).await?;
        print_hub_log(&hub);
        return Ok(());
    }
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
    let list = list_phase(
        hub.addr,
        &auth_header(&credentials.cpo),
        deep_offset,
        "2.3.0",
    )
    .await?;
    list.print(deep_offset);
    println!();
    let list_221 = list_phase(
        hub.addr,
        &auth_header(&credentials.cpo),
        deep_offset,
        "2.2.1",
    )
    .await?;
    list_221.print(deep_offset);
    println!();

    print_hub_log(&hub);
    drop(hub);

    print_summary(
        args,
        &auth_report,
        &put_report,
        &list,
        rss_start,
        rss_after_authorize,
    );
    Ok(())
}
