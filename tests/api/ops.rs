//! Operations: health and readiness, Prometheus metrics, and the sweeper.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{session_json, token_json, Backend, StoreError, TestApp};
use crate::on_both_backends;

async fn healthz_is_200(app: TestApp) {
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

async fn readyz_is_ready_and_names_the_backend(app: TestApp) {
    let ready: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["database"],
        if app.backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
}

/// The metrics page after one allowed and one unknown authorization of MET1 and NOPE.
async fn metrics_after_two_decisions(app: &TestApp) -> String {
    assert_eq!(app.put_token(&token_json("MET1")).await.status, 201);
    assert_eq!(app.authorize("MET1", None).await.status, 200);
    assert_eq!(app.authorize("NOPE", None).await.status, 404);
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn assert_metrics_have(app: &TestApp, expected: &[&str]) {
    let text = metrics_after_two_decisions(app).await;
    for expected in expected {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}

async fn metrics_count_decisions_by_result(app: TestApp) {
    assert_metrics_have(
        &app,
        &[
            "tokenhub_authorization_decisions_total{result=\"ALLOWED\"}",
            "tokenhub_authorization_decisions_total{result=\"UNKNOWN\"}",
        ],
    )
    .await;
}

async fn metrics_label_requests_by_route_pattern(app: TestApp) {
    assert_metrics_have(
        &app,
        &["route=\"/ocpi/2.3.0/sender/tokens/{token_uid}/authorize\""],
    )
    .await;
}

async fn metrics_have_request_durations(app: TestApp) {
    assert_metrics_have(&app, &["tokenhub_http_request_duration_seconds_bucket"]).await;
}

async fn metrics_have_the_pool_connections(app: TestApp) {
    assert_metrics_have(&app, &["tokenhub_db_pool_connections"]).await;
}

async fn metrics_carry_no_raw_paths(app: TestApp) {
    let text = metrics_after_two_decisions(&app).await;
    assert!(
        !text.contains("MET1"),
        "metrics carry route patterns, not raw paths"
    );
}

/// A live hold and a recent decision of SWEEP1, a hold and an audit entry 100 days old, then one
/// sweep keeping 90 days of audit. Returns the token id and what the sweep purged.
async fn sweep_after_seeding_old_rows(app: &TestApp) -> (i64, (usize, usize)) {
    assert_eq!(app.put_token(&token_json("SWEEP1")).await.status, 201);
    assert_eq!(
        app.authorize("SWEEP1", None).await.body["data"]["allowed"],
        "ALLOWED"
    );
    let token_id = app.token_id("SWEEP1").await;
    app.seed_expired_hold_and_ancient_audit(token_id).await;
    (token_id, app.sweep_once(90).await)
}

async fn sweeper_purges_the_expired_hold_and_the_old_audit(app: TestApp) {
    let (_, (holds, audits)) = sweep_after_seeding_old_rows(&app).await;
    assert_eq!((holds, audits), (1, 1));
}

async fn sweeper_keeps_recent_audit(app: TestApp) {
    sweep_after_seeding_old_rows(&app).await;
    let remaining = app.audit_entries().await;
    assert!(remaining
        .iter()
        .all(|e| e.authorization_reference.as_deref() != Some("ANCIENT")));
    assert_eq!(remaining.len(), 1, "the recent decision stays");
}

async fn sweeper_keeps_live_holds(app: TestApp) {
    let (token_id, _) = sweep_after_seeding_old_rows(&app).await;
    let uses = app.active_uses(token_id).await;
    assert_eq!(uses.len(), 1, "the live hold stays");
}

// Sessions past retention (`retention.session_days`, 30 by default, for COMPLETED and INVALID;
// `retention.abandoned_session_days`, 90, for sessions never finished).

/// Seeds sessions of DE*CPO last received: OLD-DONE (COMPLETED) and OLD-BAD (INVALID) 40 days
/// ago, NEW-DONE (COMPLETED) a day ago, OLD-OPEN (ACTIVE) 40 days ago, and ABANDONED (ACTIVE,
/// with a use of RET1 still stored) 100 days ago; then sweeps once.
async fn sweep_after_seeding_sessions(app: &TestApp) {
    assert_eq!(app.put_token(&token_json("RET1")).await.status, 201);
    let token_id = app.token_id("RET1").await;
    for (id, status, days, use_token) in [
        ("OLD-DONE", "COMPLETED", 40, None),
        ("OLD-BAD", "INVALID", 40, None),
        ("NEW-DONE", "COMPLETED", 1, None),
        ("OLD-OPEN", "ACTIVE", 40, None),
        ("ABANDONED", "ACTIVE", 100, Some(token_id)),
    ] {
        app.seed_session(session_json(id, "RET1", status, None), days, use_token)
            .await;
    }
    app.sweep_at(Utc::now()).await;
}

async fn sweeper_purges_old_finished_sessions(app: TestApp) {
    sweep_after_seeding_sessions(&app).await;
    assert!(!app.has_session("OLD-DONE").await);
    assert!(!app.has_session("OLD-BAD").await);
}

async fn sweeper_keeps_recent_finished_sessions(app: TestApp) {
    sweep_after_seeding_sessions(&app).await;
    assert!(app.has_session("NEW-DONE").await);
}

async fn sweeper_keeps_old_open_sessions(app: TestApp) {
    sweep_after_seeding_sessions(&app).await;
    assert!(app.has_session("OLD-OPEN").await);
}

async fn sweeper_purges_abandoned_sessions_with_their_use(app: TestApp) {
    sweep_after_seeding_sessions(&app).await;
    assert!(!app.has_session("ABANDONED").await);
    let token_id = app.token_id("RET1").await;
    assert!(app.active_uses(token_id).await.is_empty());
}

/// A CPO of its own (one per backend: the metrics are shared by every test in the process)
/// pushes an ACTIVE session of STALE1 nobody authorized and never updates it; the sweeper runs as
/// if 31 minutes had passed. Returns the CPO as the metric names it and the metrics page.
async fn metrics_after_a_session_goes_stale(app: &TestApp) -> (&'static str, String) {
    let (pid, cpo) = match app.backend {
        Backend::Sqlite => ("STL", "SE*STL"),
        Backend::Postgres => ("STP", "SE*STP"),
    };
    let token = app.add_cpo("SE", pid).await;
    assert_eq!(app.put_token(&token_json("STALE1")).await.status, 201);
    let mut session = session_json("S-1", "STALE1", "ACTIVE", None);
    session["country_code"] = json!("SE");
    session["party_id"] = json!(pid);
    let put = app
        .call(
            Method::PUT,
            &format!("/ocpi/2.3.0/receiver/sessions/SE/{pid}/S-1"),
            &token,
            Some(session),
        )
        .await;
    assert_eq!(put.status, 201);
    let swept = app.sweep_at(Utc::now() + Duration::minutes(31)).await;
    assert_eq!(swept.usages, 1);
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cpo, text)
}

async fn metrics_count_stale_sessions_by_cpo(app: TestApp) {
    let (cpo, text) = metrics_after_a_session_goes_stale(&app).await;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("tokenhub_stale_sessions_total{") && l.contains(&format!("cpo=\"{cpo}\""))
        })
        .unwrap_or_else(|| panic!("no stale sessions of {cpo} in:\n{text}"));
    assert!(line.contains("matched=\"false\""), "{line}");
    assert!(line.ends_with(" 1"), "{line}");
}

on_both_backends!(
    sweeper_purges_old_finished_sessions,
    sweeper_keeps_recent_finished_sessions,
    sweeper_keeps_old_open_sessions,
    sweeper_purges_abandoned_sessions_with_their_use,
    metrics_count_stale_sessions_by_cpo,
);

/// A bug that panics inside a write job fails that job alone (its writes undone); later writes
/// and readiness are unaffected (on SQLite the panic used to end the one writer thread).
async fn a_panicking_write_job_fails_alone(app: TestApp) {
    assert_eq!(app.put_token(&token_json("PANIC1")).await.status, 201);
    let err = app.write_that_panics_after_suspending("NL", "ABC").await;
    assert!(matches!(err, StoreError::Query(_)), "{err:?}");
    assert_eq!(app.put_token(&token_json("PANIC2")).await.status, 201);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let allowed = app.authorize("PANIC1", None).await;
    assert_eq!(
        allowed.body["data"]["allowed"], "ALLOWED",
        "the suspension written before the panic was rolled back"
    );
}

on_both_backends!(
    a_panicking_write_job_fails_alone,
    healthz_is_200,
    readyz_is_ready_and_names_the_backend,
    metrics_count_decisions_by_result,
    metrics_label_requests_by_route_pattern,
    metrics_have_request_durations,
    metrics_have_the_pool_connections,
    metrics_carry_no_raw_paths,
    sweeper_purges_the_expired_hold_and_the_old_audit,
    sweeper_keeps_recent_audit,
    sweeper_keeps_live_holds,
);
