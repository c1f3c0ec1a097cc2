//! The summary table against the targets, and the hub's own log.

use crate::hub::Hub;
use crate::list::ListReport;
use crate::load::PhaseReport;
use crate::Args;

/// Targets the report compares against.
const TARGET_AUTHORIZE_RPS: f64 = 20_000.0;
const TARGET_AUTHORIZE_P99_MS: f64 = 5.0;
const TARGET_PUT_RPS: f64 = 5_000.0;
const TARGET_LIST_RATIO: f64 = 2.0;
const TARGET_RSS_MB: f64 = 150.0;

/// Prints the measured figures next to their targets; a missed target is reported, not an error.
pub fn print_summary(
    args: &Args,
    auth_report: &PhaseReport,
    put_report: &PhaseReport,
    list: &ListReport,
    rss_start: f64,
    rss_after_authorize: f64,
) {
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
}

pub fn print_hub_log(hub: &Hub) {
    let log_lines = hub.log_line_count();
    if log_lines > 0 {
        println!("== hub stderr: {log_lines} line(s), last ones ==");
        println!("{}", hub.log_tail());
        println!();
    }
}
