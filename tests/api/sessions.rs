//! The sessions receiver (CPO → hub): a session takes over its authorization's hold, keeps the
//! token in use while it runs, and frees it when it ends.

use reqwest::Method;
use serde_json::json;

use chrono::{Duration, Utc};

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

// A session without `authorization_reference` takes over the oldest hold its CPO made.

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

// A session that first arrives finished frees the hold it would have taken over.

const S3: &str = "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-3";

/// Authorizes SESS3 (a hold) and pushes its session S-3 for the first time, already `status`,
/// with the hold's reference.
async fn put_finished_session_first(app: &TestApp, status: &str) {
    assert_eq!(app.put_token(&token_json("SESS3")).await.status, 201);
    let reference = app.authorize("SESS3", None).await.body["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = app
        .call(
            Method::PUT,
            S3,
            &app.cpo,
            Some(session_json("S-3", "SESS3", status, Some(&reference))),
        )
        .await;
    assert_eq!(put.status, 201);
}

async fn first_completed_session_frees_the_hold_it_names(app: TestApp) {
    put_finished_session_first(&app, "COMPLETED").await;
    assert_eq!(
        app.authorize("SESS3", None).await.body["data"]["allowed"],
        "ALLOWED"
    );
}

async fn first_invalid_session_frees_the_hold_it_names(app: TestApp) {
    put_finished_session_first(&app, "INVALID").await;
    assert_eq!(
        app.authorize("SESS3", None).await.body["data"]["allowed"],
        "ALLOWED"
    );
}

// Holds belong to the CPO that asked and to the token's eMSP.

const CP2_AUTHORIZE: &str = "/ocpi/2.3.0/sender/tokens/SESS4/authorize";

/// The CPO DE*CP2 authorizes SESS4 (a hold); then DE*CPO pushes a session S-4 of SESS4 with
/// `status`, without a reference. Returns SESS4's token id.
async fn another_cpo_holds_then_session_without_reference(app: &TestApp, status: &str) -> i64 {
    assert_eq!(app.put_token(&token_json("SESS4")).await.status, 201);
    let cp2 = app.add_cpo("DE", "CP2").await;
    let allowed = app.call(Method::POST, CP2_AUTHORIZE, &cp2, None).await;
    assert_eq!(allowed.body["data"]["allowed"], "ALLOWED");
    let put = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-4",
            &app.cpo,
            Some(session_json("S-4", "SESS4", status, None)),
        )
        .await;
    assert_eq!(put.status, 201);
    app.token_id("SESS4").await
}

fn has_hold_of(uses: &[crate::helpers::ActiveUse], cpo: &str) -> bool {
    uses.iter()
        .any(|u| u.kind == UseKind::Hold && u.cpo.to_string() == cpo)
}

async fn session_without_reference_leaves_another_cpos_hold(app: TestApp) {
    let token_id = another_cpo_holds_then_session_without_reference(&app, "ACTIVE").await;
    let uses = app.active_uses(token_id).await;
    assert!(has_hold_of(&uses, "DE*CP2"), "{uses:?}");
    assert_eq!(uses.len(), 2, "the hold and the session: {uses:?}");
}

async fn finished_session_without_reference_leaves_another_cpos_hold(app: TestApp) {
    let token_id = another_cpo_holds_then_session_without_reference(&app, "COMPLETED").await;
    let uses = app.active_uses(token_id).await;
    assert!(has_hold_of(&uses, "DE*CP2"), "{uses:?}");
}

/// Authorizes SESS6 of NL*ABC (a hold) and pushes a session S-6 with `status` whose `cdr_token` is
/// the token OTHER6 of BE*EMP, quoting the hold's reference. Returns SESS6's token id.
async fn session_of_another_emsp_quotes_the_reference(app: &TestApp, status: &str) -> i64 {
    let be = app.add_emsp("BE", "EMP").await;
    let mut other = token_json("OTHER6");
    other["country_code"] = json!("BE");
    other["party_id"] = json!("EMP");
    let pushed = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/BE/EMP/OTHER6",
            &be,
            Some(other),
        )
        .await;
    assert_eq!(pushed.status, 201);
    assert_eq!(app.put_token(&token_json("SESS6")).await.status, 201);
    let reference = app.authorize("SESS6", None).await.body["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut session = session_json("S-6", "OTHER6", status, Some(&reference));
    session["cdr_token"]["country_code"] = json!("BE");
    session["cdr_token"]["party_id"] = json!("EMP");
    let put = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-6",
            &app.cpo,
            Some(session),
        )
        .await;
    assert_eq!(put.status, 201);
    app.token_id("SESS6").await
}

async fn reference_of_another_emsps_hold_takes_nothing_over(app: TestApp) {
    let token_id = session_of_another_emsp_quotes_the_reference(&app, "ACTIVE").await;
    let uses = app.active_uses(token_id).await;
    assert!(has_hold_of(&uses, "DE*CPO"), "{uses:?}");
}

async fn reference_of_another_emsps_hold_frees_nothing(app: TestApp) {
    let token_id = session_of_another_emsp_quotes_the_reference(&app, "COMPLETED").await;
    let uses = app.active_uses(token_id).await;
    assert!(has_hold_of(&uses, "DE*CPO"), "{uses:?}");
}

// A session that took over no hold counts only while its CPO keeps updating it
// (`authorization.unmatched_session_minutes`, 30 by default); one that took over a hold counts
// for `authorization.session_stale_hours` (24) after each update.

const S5: &str = "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-5";

/// Pushes an ACTIVE session S-5 of SESS5, which nobody authorized at the hub; returns the token id.
async fn put_unmatched_session(app: &TestApp) -> i64 {
    assert_eq!(app.put_token(&token_json("SESS5")).await.status, 201);
    let put = app
        .call(
            Method::PUT,
            S5,
            &app.cpo,
            Some(session_json("S-5", "SESS5", "ACTIVE", None)),
        )
        .await;
    assert_eq!(put.status, 201);
    app.token_id("SESS5").await
}

async fn unmatched_session_counts_now(app: TestApp) {
    let token_id = put_unmatched_session(&app).await;
    assert_eq!(app.active_uses(token_id).await.len(), 1);
}

async fn unmatched_session_stops_counting_after_30_minutes(app: TestApp) {
    let token_id = put_unmatched_session(&app).await;
    let later = Utc::now() + Duration::minutes(31);
    assert!(app.active_uses_at(token_id, later).await.is_empty());
}

async fn updated_unmatched_session_still_stops_counting_after_30_minutes(app: TestApp) {
    let token_id = put_unmatched_session(&app).await;
    let update = json!({"kwh": 3, "last_updated": now()});
    let patched = app.call(Method::PATCH, S5, &app.cpo, Some(update)).await;
    assert_eq!(patched.status, 200);
    let later = Utc::now() + Duration::minutes(31);
    assert!(app.active_uses_at(token_id, later).await.is_empty());
}

async fn session_that_took_over_a_hold_counts_for_hours(app: TestApp) {
    put_active_session(&app).await;
    let token_id = app.token_id("SESS1").await;
    let later = Utc::now() + Duration::hours(23);
    assert_eq!(app.active_uses_at(token_id, later).await.len(), 1);
}

// The stored session is bounded: the most recent 100 charging periods
// (`retention.session_charging_periods`), whatever the number of PATCHes.

/// S-1 (ACTIVE, SESS1 in use) after 150 PATCHes adding one charging period each, T0 to T149.
async fn session_patched_150_times(app: &TestApp) {
    put_active_session(app).await;
    for i in 0..150 {
        let period = json!({
            "start_date_time": "2026-01-01T10:00:00Z",
            "tariff_id": format!("T{i}"),
            "dimensions": [{"type": "ENERGY", "volume": 0.1}]
        });
        let patch = json!({"charging_periods": [period], "last_updated": now()});
        let patched = app.call(Method::PATCH, S1, &app.cpo, Some(patch)).await;
        assert_eq!((patched.status, patched.ocpi_status()), (200, 1000));
    }
}

async fn session_keeps_the_latest_100_charging_periods(app: TestApp) {
    session_patched_150_times(&app).await;
    let got = app.call(Method::GET, S1, &app.cpo, None).await;
    let tariffs: Vec<&str> = got.body["data"]["charging_periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["tariff_id"].as_str().unwrap())
        .collect();
    assert_eq!(tariffs.len(), 100);
    assert_eq!((tariffs[0], tariffs[99]), ("T50", "T149"));
}

async fn completed_applies_to_a_session_at_the_bound(app: TestApp) {
    session_patched_150_times(&app).await;
    let done = complete_session(&app).await;
    assert_eq!((done.status, done.ocpi_status()), (200, 1000));
    assert_eq!(
        app.authorize("SESS1", None).await.body["data"]["allowed"],
        "ALLOWED",
        "COMPLETED frees the token"
    );
}

on_both_backends!(
    first_completed_session_frees_the_hold_it_names,
    first_invalid_session_frees_the_hold_it_names,
    session_without_reference_leaves_another_cpos_hold,
    finished_session_without_reference_leaves_another_cpos_hold,
    reference_of_another_emsps_hold_takes_nothing_over,
    reference_of_another_emsps_hold_frees_nothing,
    unmatched_session_counts_now,
    unmatched_session_stops_counting_after_30_minutes,
    updated_unmatched_session_still_stops_counting_after_30_minutes,
    session_that_took_over_a_hold_counts_for_hours,
    session_keeps_the_latest_100_charging_periods,
    completed_applies_to_a_session_at_the_bound,
);

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
