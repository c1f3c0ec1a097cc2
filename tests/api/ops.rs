//! Operations: health and readiness, Prometheus metrics, and the sweeper.

use crate::helpers::{token_json, Backend, StoreError, TestApp};
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
