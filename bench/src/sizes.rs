//! `--sizes 100000,1000000`: authorize throughput and latency at several registry sizes, in one
//! invocation. Each size gets its own database, seeded once; then every round runs the authorize
//! phase against each size in turn (a fresh hub per run), so the sizes meet the same machine load.
//! Prints each run, each size's median and spread over `--rounds`, and the growth ratio of the
//! largest size's p99 to the smallest's (medians).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::forward::stats;
use crate::hub::{random_master_key, rss_mb, CpuSnapshot, Hub};
use crate::load::{auth_header, run_phase, Workload};
use crate::seed::seed;

/// One registry size and its database.
pub struct Sized {
    pub tokens: u64,
    pub database_url: String,
    /// Where its hub writes its log (and, on SQLite, where its database lives).
    pub work_dir: std::path::PathBuf,
}

struct Figures {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

pub async fn run(
    hub_binary: &Path,
    sizes: &[Sized],
    rounds: usize,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let mut seeded = Vec::with_capacity(sizes.len());
    for size in sizes {
        let start = Instant::now();
        let credentials = seed(&size.database_url, size.tokens).await?;
        println!(
            "  {} tokens seeded in {:.1} s",
            size.tokens,
            start.elapsed().as_secs_f64()
        );
        // One key per database: a PostgreSQL hub seals with it and must find it again.
        seeded.push((credentials, random_master_key()));
    }
    println!();
    let mut figures: Vec<Figures> = sizes
        .iter()
        .map(|_| Figures {
            rps: Vec::new(),
            p50: Vec::new(),
            p99: Vec::new(),
        })
        .collect();
    for round in 1..=rounds {
        for (i, size) in sizes.iter().enumerate() {
            let (credentials, master_key) = &seeded[i];
            let hub = Hub::start_with(
                hub_binary,
                &size.database_url,
                &size.work_dir,
                master_key,
                &[],
            )?;
            let workload = Arc::new(Workload::Authorize {
                auth: auth_header(&credentials.cpo),
                tokens: size.tokens,
            });
            let cpu = CpuSnapshot::take(hub.pid());
            let report = run_phase(hub.addr, connections, duration, workload).await?;
            println!(
                "  round {round}, {:>9} tokens: {:>8.0} req/s, p50 {:.2} ms, p99 {:.2} ms, RSS {:.1} MB, CPU {}",
                size.tokens,
                report.rps(),
                report.quantile_ms(0.5),
                report.quantile_ms(0.99),
                rss_mb(hub.pid())?,
                cpu.usage_since(hub.pid()),
            );
            figures[i].rps.push(report.rps());
            figures[i].p50.push(report.quantile_ms(0.5));
            figures[i].p99.push(report.quantile_ms(0.99));
            drop(hub);
        }
    }
    println!();
    println!("== authorize by registry size ({rounds} rounds, median and spread) ==");
    for (size, f) in sizes.iter().zip(&figures) {
        let (rps, rps_min, rps_max) = stats(&f.rps);
        let (p50, ..) = stats(&f.p50);
        let (p99, p99_min, p99_max) = stats(&f.p99);
        println!(
            "  {:>9} tokens: {rps:>8.0} req/s ({rps_min:.0} .. {rps_max:.0}), p50 {p50:.2} ms, \
             p99 {p99:.2} ms ({p99_min:.2} .. {p99_max:.2})",
            size.tokens
        );
    }
    if let (Some(first), Some(last)) = (figures.first(), figures.last()) {
        if sizes.len() > 1 {
            let (p99_small, ..) = stats(&first.p99);
            let (p99_large, ..) = stats(&last.p99);
            let (rps_small, ..) = stats(&first.rps);
            let (rps_large, ..) = stats(&last.rps);
            // Per round too: the rounds ran side by side, so their ratios show the spread.
            let per_round: Vec<f64> = first
                .p99
                .iter()
                .zip(&last.p99)
                .map(|(small, large)| large / small)
                .collect();
            let (_, ratio_min, ratio_max) = stats(&per_round);
            println!(
                "  growth {} → {} tokens: p99 ×{:.2} (per round {ratio_min:.2} .. {ratio_max:.2}), \
                 req/s ×{:.2}",
                sizes[0].tokens,
                sizes[sizes.len() - 1].tokens,
                p99_large / p99_small,
                rps_large / rps_small,
            );
        }
    }
    Ok(())
}
