//! Prometheus metrics at `/metrics`: requests and latency per route and status, authorization
//! decisions by result, pool usage, database errors, stale sessions by CPO, partner liveness checks,
//! hubclientinfo pushes, forwarded authorizations and circuit breakers, and the push outbox
//! (backlog, oldest age, deliveries and drops per partner).

use std::sync::OnceLock;

use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::domain::ids::PartyKey;
use crate::service::AppState;

/// The `metrics` facade has one process-wide recorder; it is installed once and shared by every
/// server in the process (tests start several).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Every label value comes from a fixed set: a label taken from the request as sent would make a
/// new series, kept forever, for each invented value (`FOO /x` must not grow the registry).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `route` is a registered pattern or `(unmatched)`, never the raw path.
pub fn record_request(method: &'static str, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("tokenhub_http_requests_total", &labels).increment(1);
    metrics::histogram!("tokenhub_http_request_duration_seconds", &labels).record(seconds);
}

pub fn record_decision(result: &'static str) {
    metrics::counter!("tokenhub_authorization_decisions_total", "result" => result).increment(1);
}

/// A session that stopped counting as a use because its CPO stopped updating it before it
/// finished: a CPO that never sends COMPLETED shows here. `cpo` is a registered party, so the
/// label's values are as finite as the parties.
pub fn record_stale_session(cpo: &PartyKey, matched: bool) {
    metrics::counter!(
        "tokenhub_stale_sessions_total",
        "cpo" => cpo.to_string(),
        "matched" => if matched { "true" } else { "false" },
    )
    .increment(1);
}

/// Tokens an OCPI 2.2.1 answer left out because 2.2.1 cannot name their type (`EMAID`, unknown
/// open-enum values): `endpoint` is `list` (counted per page stretch, so a full crawl counts each
/// token once) or `authorize` (answered as unknown).
pub fn record_hidden_tokens_2_2_1(endpoint: &'static str, count: u64) {
    if count > 0 {
        metrics::counter!("tokenhub_ocpi221_tokens_hidden_total", "endpoint" => endpoint)
            .increment(count);
    }
}

/// One hubclientinfo push to one partner (best effort, never retried): `ok` or `failed`.
pub fn record_client_info_push(ok: bool) {
    metrics::counter!(
        "tokenhub_client_info_pushes_total",
        "result" => if ok { "ok" } else { "failed" },
    )
    .increment(1);
}

/// One liveness check of one partner (a GET of its versions): `ok` or `failed`.
pub fn record_liveness_check(ok: bool) {
    metrics::counter!(
        "tokenhub_liveness_checks_total",
        "result" => if ok { "ok" } else { "failed" },
    )
    .increment(1);
}

/// One authorization the hub forwarded, or meant to, to the eMSP `partner` (`CC*PID`, a
/// registered party): `outcome` is `answered`, `unknown_token`, `timeout`, `unreachable`,
/// `failed`, `malformed`, or without a call `breaker_open`, `offline`, `busy`, `no_token`.
pub fn record_forward(partner: &str, outcome: &'static str) {
    metrics::counter!(
        "tokenhub_forward_requests_total",
        "partner" => partner.to_owned(),
        "outcome" => outcome,
    )
    .increment(1);
}

/// How long a forwarded call to `partner` took, answered or not.
pub fn record_forward_duration(partner: &str, seconds: f64) {
    metrics::histogram!("tokenhub_forward_duration_seconds", "partner" => partner.to_owned())
        .record(seconds);
}

/// 1 while this instance's circuit breaker for `partner` is open.
pub fn set_breaker_open(partner: &str, open: bool) {
    metrics::gauge!("tokenhub_breaker_open", "partner" => partner.to_owned()).set(if open {
        1.0
    } else {
        0.0
    });
}

/// Entries delivered to one partner (`partner` is its first party, `CC*PID`: as finite as the
/// registered partners).
pub fn record_push_delivered(partner: &str, count: u64) {
    if count > 0 {
        metrics::counter!("tokenhub_push_delivered_total", "partner" => partner.to_owned())
            .increment(count);
    }
}

/// The outbox as the database has it (every instance's): pending entries and the age of the
/// oldest per partner, drops per partner and reason. The drops are counted in the database
/// (`push_drops`), so the counter is the same on every instance and survives restarts.
fn record_push_backlog(backlog: &[crate::store::outbox::Backlog]) {
    let now = chrono::Utc::now();
    for b in backlog {
        metrics::gauge!("tokenhub_push_backlog", "partner" => b.partner.clone())
            .set(b.pending as f64);
        let age = b
            .oldest
            .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!("tokenhub_push_oldest_age_seconds", "partner" => b.partner.clone())
            .set(age);
        for (reason, dropped) in &b.dropped {
            metrics::counter!(
                "tokenhub_push_dropped_total",
                "partner" => b.partner.clone(),
                "reason" => reason.clone(),
            )
            .absolute(u64::try_from(*dropped).unwrap_or(0));
        }
    }
}

pub fn record_database_error(kind: &'static str) {
    metrics::counter!("tokenhub_database_errors_total", "kind" => kind).increment(1);
}

/// A credentials token looked up in the database: `found` or `unknown`.
pub fn record_credentials_lookup(result: &'static str) {
    metrics::counter!("tokenhub_credentials_lookups_total", "result" => result).increment(1);
}

/// An authentication refused: `malformed` (no or a malformed header or token, never looked up),
/// `unknown` (looked up or remembered as unknown), `rate_limited` (429).
pub fn record_authentication_failure(reason: &'static str) {
    metrics::counter!("tokenhub_authentication_failures_total", "reason" => reason).increment(1);
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(render));
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "get_metrics",
    summary = "Prometheus metrics",
    description = "Prometheus text exposition: `tokenhub_http_requests_total` and `tokenhub_http_request_duration_seconds` by method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or OTHER), route pattern (or `(unmatched)`) and status; `tokenhub_authorization_decisions_total` by result; `tokenhub_ocpi221_tokens_hidden_total` by endpoint (`list`, `authorize`): tokens left out of OCPI 2.2.1 answers because 2.2.1 cannot name their type; `tokenhub_db_pool_connections`, `tokenhub_db_pool_idle_connections`; `tokenhub_database_errors_total` by kind; `tokenhub_credentials_lookups_total` (credentials tokens looked up in the database) by result (found, unknown); `tokenhub_authentication_failures_total` by reason (malformed, unknown, rate_limited); `tokenhub_stale_sessions_total` by CPO and whether the session had taken over a hold; `tokenhub_liveness_checks_total` and `tokenhub_client_info_pushes_total` by result (`ok`, `failed`); `tokenhub_forward_requests_total` by partner (the eMSP) and outcome (answered, unknown_token, timeout, unreachable, failed, malformed; without a call: breaker_open, offline, busy, no_token), `tokenhub_forward_duration_seconds` by partner, and `tokenhub_breaker_open` by partner (1 while this instance's circuit breaker for it is open); `tokenhub_push_backlog` and `tokenhub_push_oldest_age_seconds` (pending pushes of tokens and sessions, and the age of the oldest) by partner, `tokenhub_push_delivered_total` by partner, `tokenhub_push_dropped_total` by partner and reason (`expired`, `offline`, `rejected`). No authentication.",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain; version=0.0.4", body = String),
    )
)]
async fn render(state: web::Data<AppState>) -> HttpResponse {
    let (connections, idle) = state.store.pool_state();
    metrics::gauge!("tokenhub_db_pool_connections").set(f64::from(connections));
    metrics::gauge!("tokenhub_db_pool_idle_connections").set(f64::from(idle));
    match state.store.read(crate::store::outbox::backlog).await {
        Ok(backlog) => record_push_backlog(&backlog),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the push outbox"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle().render())
}
