//! The sessions receiver (CPO → hub): a session takes over its authorization's hold, keeps the
//! token in use while it runs, and frees it when it ends.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{session_json, token_json, Answer, TestApp, UseKind};
use crate::on_both_backends;

const S1: &str = "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-1";

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Authorizes SESS1 and pushes its session S-1, ACTIVE, with the authorization's reference (in
/// other letter case, as is the uid).
async fn put_active_session(app: &TestApp) -> Answer {
    assert_eq!(app.put_token(&token_json("SESS1")).await.status, 201);
    let reference = app.authorize("SESS1", None).await.body["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_lowercase();
    app.call(
        Method::PUT,
        S1,
        &app.cpo,
        Some(session_json("S-1", "sess1", "ACTIVE", Some(&reference))),
    )
    .await
}

async fn complete_session(app: &TestApp) -> Answer {
    app.call(
        Method::PATCH,
        S1,
        &app.cpo,
        Some(json!({"status": "COMPLETED", "kwh": 12.5, "last_updated": now()})),
    )
    .await
}

async fn put_new_session_is_201_1000(app: TestApp) {
    let active = put_active_session(&app).await;
    assert_eq!((active.status, active.ocpi_status()), (201, 1000));
}

async fn active_session_keeps_the_token_in_use(app: TestApp) {
    put_active_session(&app).await;
    assert_eq!(
        app.authorize("SESS1", None).await.body["data"]["allowed"],
        "NOT_ALLOWED"
    );
}

/// The session took over the hold: there is exactly one use, not two.
async fn session_takes_over_the_hold(app: TestApp) {
    put_active_session(&app).await;
    let token_id = app.token_id("SESS1").await;
    let uses = app.active_uses(token_id).await;
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].kind, UseKind::Session);
}

async fn get_returns_the_session(app: TestApp) {
    put_active_session(&app).await;
    let got = app.call(Method::GET, S1, &app.cpo, None).await;
    assert_eq!(got.body["data"]["status"], "ACTIVE");
}

async fn patch_with_last_updated_is_200_1000(app: TestApp) {
    put_active_session(&app).await;
    let done = complete_session(&app).await;
    assert_eq!((done.status, done.ocpi_status()), (200, 1000));
}

async fn completed_session_frees_the_token(app: TestApp) {
    put_active_session(&app).await;
    complete_session(&app).await;
    assert_eq!(
        app.authorize("SESS1", None).await.body["data"]["allowed"],
        "ALLOWED",
        "COMPLETED frees the token"
    );
}

async fn patch_of_unknown_session_is_404(app: TestApp) {
    let unknown = app
        .call(
            Method::PATCH,
            "/ocpi/2.3.0/receiver/sessions/DE/CPO/NOPE",
            &app.cpo,
            Some(json!({"status": "COMPLETED", "last_updated": "2026-05-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(unknown.status, 404);
}

/// Errors are answers of the sessions module too: they carry the routing headers.
async fn unknown_session_answers_from_the_hub_to_the_cpo(app: TestApp) {
    let unknown = app.call(Method::GET, S1, &app.cpo, None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("ocpi-from-party-id").as_deref(), Some("HUB"));
    assert_eq!(unknown.header("ocpi-to-party-id").as_deref(), Some("CPO"));
}

async fn patch_without_last_updated_is_2001(app: TestApp) {
    put_active_session(&app).await;
    let no_ts = app
        .call(
            Method::PATCH,
            S1,
            &app.cpo,
            Some(json!({"status": "ACTIVE"})),
        )
        .await;
    assert_eq!((no_ts.status, no_ts.ocpi_status()), (200, 2001));
}

async fn session_of_another_party_is_403(app: TestApp) {
    assert_eq!(app.put_token(&token_json("SESS1")).await.status, 201);
    let foreign = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/sessions/FR/XYZ/S-2",
            &app.cpo,
            Some(session_json("S-2", "SESS1", "ACTIVE", None)),
        )
        .await;
    assert_eq!(foreign.status, 403);
}

async fn emsp_cannot_read_the_sessions_receiver(app: TestApp) {
    put_active_session(&app).await;
    let by_emsp = app.call(Method::GET, S1, &app.emsp, None).await;
    assert_eq!(by_emsp.status, 403, "the sessions receiver is for CPOs");
}

// A session without `authorization_reference` takes over the oldest unmatched hold.

const S9: &str = "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-9";

/// Authorizes SESS2 and pushes its session S-9, PENDING, without a reference.
async fn put_session_without_reference(app: &TestApp) -> Answer {
    assert_eq!(app.put_token(&token_json("SESS2")).await.status, 201);
    assert_eq!(
        app.authorize("SESS2", None).await.body["data"]["allowed"],
        "ALLOWED"
    );
    app.call(
        Method::PUT,
        S9,
        &app.cpo,
        Some(session_json("S-9", "SESS2", "PENDING", None)),
    )
    .await
}

async fn session_without_reference_is_201(app: TestApp) {
    let put = put_session_without_reference(&app).await;
    assert_eq!(put.status, 201);
}

async fn invalid_session_frees_the_hold_it_took_over(app: TestApp) {
    put_session_without_reference(&app).await;
    let invalid = app
        .call(
            Method::PATCH,
            S9,
            &app.cpo,
            Some(json!({"status": "INVALID", "last_updated": now()})),
        )
        .await;
    assert_eq!(invalid.status, 200);
    assert_eq!(
        app.authorize("SESS2", None).await.body["data"]["allowed"],
        "ALLOWED",
        "the session took over the hold, and INVALID freed it"
    );
}

on_both_backends!(
    put_new_session_is_201_1000,
    unknown_session_answers_from_the_hub_to_the_cpo,
    active_session_keeps_the_token_in_use,
    session_takes_over_the_hold,
    get_returns_the_session,
    patch_with_last_updated_is_200_1000,
    completed_session_frees_the_token,
    patch_of_unknown_session_is_404,
    patch_without_last_updated_is_2001,
    session_of_another_party_is_403,
    emsp_cannot_read_the_sessions_receiver,
    session_without_reference_is_201,
    invalid_session_frees_the_hold_it_took_over,
);
