//! The tokens receiver (eMSP → hub): pushing, reading back, patching, and the writes it refuses.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{token_json, Answer, TestApp};
use crate::on_both_backends;

const PUSHED: &str = "/ocpi/2.3.0/receiver/tokens/NL/ABC/04a1b2c3";

/// The token of the push tests, with a field OCPI does not know.
fn pushed_token() -> Value {
    let mut token = token_json("04a1b2c3");
    token["an_extension_field"] = json!({"kept": true});
    token
}

async fn get(app: &TestApp, path: &str) -> Answer {
    app.call(Method::GET, path, &app.emsp, None).await
}

async fn patch_valid_false(app: &TestApp) -> Answer {
    let patch = json!({"valid": false, "last_updated": "2026-01-02T00:00:00Z"});
    app.call(Method::PATCH, PUSHED, &app.emsp, Some(patch))
        .await
}

/// Pushes the token and patches it to `valid: false`; returns the token as pushed.
async fn push_then_patch(app: &TestApp) -> Value {
    let token = pushed_token();
    assert_eq!(app.put_token(&token).await.status, 201);
    assert_eq!(patch_valid_false(app).await.status, 200);
    token
}

async fn put_new_token_is_201_1000_without_data(app: TestApp) {
    let created = app.put_token(&pushed_token()).await;
    assert_eq!((created.status, created.ocpi_status()), (201, 1000));
    assert!(
        created.body.get("data").is_none(),
        "PUT answers without data"
    );
}

async fn put_answers_from_the_hub_to_the_owner(app: TestApp) {
    let created = app.put_token(&pushed_token()).await;
    assert_eq!(created.header("ocpi-from-party-id").as_deref(), Some("HUB"));
    assert_eq!(created.header("ocpi-to-party-id").as_deref(), Some("ABC"));
}

/// Errors are answers of the tokens module too: they carry the routing headers.
async fn unknown_token_answers_from_the_hub_to_the_owner(app: TestApp) {
    let unknown = get(&app, PUSHED).await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (404, 2004));
    assert_eq!(unknown.header("ocpi-from-party-id").as_deref(), Some("HUB"));
    assert_eq!(unknown.header("ocpi-to-party-id").as_deref(), Some("ABC"));
}

async fn put_with_same_last_updated_is_idempotent(app: TestApp) {
    let token = pushed_token();
    assert_eq!(app.put_token(&token).await.status, 201);
    let replaced = app.put_token(&token).await;
    assert_eq!(
        (replaced.status, replaced.ocpi_status()),
        (200, 1000),
        "same last_updated applies (idempotent)"
    );
}

/// CiStrings: other spelling, same token.
async fn get_with_other_spelling_returns_exactly_what_was_pushed(app: TestApp) {
    let token = pushed_token();
    assert_eq!(app.put_token(&token).await.status, 201);
    let got = get(&app, "/ocpi/2.3.0/receiver/tokens/nl/abc/04A1B2C3").await;
    assert_eq!((got.status, got.ocpi_status()), (200, 1000));
    assert_eq!(
        got.body["data"], token,
        "GET returns exactly what was pushed"
    );
}

async fn patch_with_newer_last_updated_applies(app: TestApp) {
    assert_eq!(app.put_token(&pushed_token()).await.status, 201);
    let patched = patch_valid_false(&app).await;
    assert_eq!((patched.status, patched.ocpi_status()), (200, 1000));
    let got = get(&app, PUSHED).await;
    assert_eq!(got.body["data"]["valid"], false);
}

async fn patch_keeps_unknown_fields(app: TestApp) {
    push_then_patch(&app).await;
    let got = get(&app, PUSHED).await;
    assert_eq!(
        got.body["data"]["an_extension_field"],
        json!({"kept": true})
    );
}

async fn stale_put_is_2001_naming_last_updated(app: TestApp) {
    let token = push_then_patch(&app).await;
    let stale = app.put_token(&token).await;
    assert_eq!((stale.status, stale.ocpi_status()), (200, 2001));
    assert!(
        stale.message().contains("last_updated"),
        "{}",
        stale.message()
    );
}

async fn stale_put_changes_nothing(app: TestApp) {
    let token = push_then_patch(&app).await;
    app.put_token(&token).await;
    let got = get(&app, PUSHED).await;
    assert_eq!(got.body["data"]["valid"], false);
}

/// Unknown token types are stored and served back, distinct from RFID (patched invalid here).
async fn unknown_token_type_is_a_token_apart_from_rfid(app: TestApp) {
    push_then_patch(&app).await;
    let mut odd = token_json("04a1b2c3");
    odd["type"] = json!("FUTURE_TYPE");
    assert_eq!(app.put_token(&odd).await.status, 201);
    let got = get(&app, &format!("{PUSHED}?type=FUTURE_TYPE")).await;
    assert_eq!(got.body["data"]["type"], "FUTURE_TYPE");
    assert_eq!(got.body["data"]["valid"], true);
}

/// Concurrent PUTs (on PostgreSQL written together in batches, `service::tokens::batch`): each
/// gets the answer it would have had alone. Twenty new tokens are each created once; twelve PUTs
/// of one new key create it once and replace it otherwise (or are stale after a newer one); the
/// newest `last_updated` of the key is what stays, whatever order its PUTs were batched in.
async fn concurrent_puts_answer_as_alone(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let put = |token: Value| {
        let app = app.clone();
        tokio::spawn(async move { app.put_token(&token).await })
    };
    let mut calls = Vec::new();
    for n in 0..20 {
        calls.push(put(token_json(&format!("MANY{n:02}"))));
    }
    for second in 0..12 {
        let mut token = token_json("SAMEKEY");
        token["last_updated"] = json!(format!("2026-01-01T00:00:{second:02}Z"));
        calls.push(put(token));
    }
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    for (n, answer) in answers[..20].iter().enumerate() {
        assert_eq!(
            (answer.status, answer.ocpi_status()),
            (201, 1000),
            "MANY{n:02}"
        );
    }
    let same: Vec<(u16, i64)> = answers[20..]
        .iter()
        .map(|a| (a.status, a.ocpi_status()))
        .collect();
    assert_eq!(
        same.iter().filter(|s| **s == (201, 1000)).count(),
        1,
        "SAMEKEY created once: {same:?}"
    );
    assert!(
        same.iter()
            .all(|s| [(201, 1000), (200, 1000), (200, 2001)].contains(s)),
        "created, replaced or stale: {same:?}"
    );
    let stored = get(&app, "/ocpi/2.3.0/receiver/tokens/NL/ABC/SAMEKEY").await;
    assert_eq!(stored.body["data"]["last_updated"], "2026-01-01T00:00:11Z");
    for n in 0..20 {
        let one = get(
            &app,
            &format!("/ocpi/2.3.0/receiver/tokens/NL/ABC/MANY{n:02}"),
        )
        .await;
        assert_eq!(one.status, 200, "MANY{n:02} stored");
    }
}

on_both_backends!(
    concurrent_puts_answer_as_alone,
    put_new_token_is_201_1000_without_data,
    put_answers_from_the_hub_to_the_owner,
    unknown_token_answers_from_the_hub_to_the_owner,
    put_with_same_last_updated_is_idempotent,
    get_with_other_spelling_returns_exactly_what_was_pushed,
    patch_with_newer_last_updated_applies,
    patch_keeps_unknown_fields,
    stale_put_is_2001_naming_last_updated,
    stale_put_changes_nothing,
    unknown_token_type_is_a_token_apart_from_rfid,
);

// Refused writes, each against the stored token ERR1.

const ERR1: &str = "/ocpi/2.3.0/receiver/tokens/NL/ABC/ERR1";

/// Stores ERR1 and returns it as pushed.
async fn stored_err1(app: &TestApp) -> Value {
    let base = token_json("ERR1");
    assert_eq!(app.put_token(&base).await.status, 201);
    base
}

async fn put_err1_with(app: &TestApp, base: &Value, field: &str, value: Value) -> Answer {
    let mut bad = base.clone();
    bad[field] = value;
    app.call(Method::PUT, ERR1, &app.emsp, Some(bad)).await
}

/// The fields `broken` breaks.
const BROKEN_FIELDS: [&str; 5] = ["uid", "issuer", "whitelist", "last_updated", "valid"];

/// A value that breaks the rule of `field`.
fn broken(field: &str) -> Value {
    match field {
        "uid" => json!("x".repeat(37)),
        "issuer" => json!("i".repeat(65)),
        "whitelist" => json!("SOMETIMES"),
        "last_updated" => json!("2026-01-01T10:00:00+01:00"),
        "valid" => json!("yes"),
        other => panic!("no broken value for {other}"),
    }
}

/// A PUT of ERR1 with `field` broken is 200/2001 and its message names `named`.
async fn assert_put_refused(app: &TestApp, field: &str, named: &str) {
    let base = stored_err1(app).await;
    let answer = put_err1_with(app, &base, field, broken(field)).await;
    assert_eq!(
        (answer.status, answer.ocpi_status()),
        (200, 2001),
        "{field}"
    );
    assert!(
        answer.message().contains(named),
        "{field}: {}",
        answer.message()
    );
}

async fn put_err1_without_contract_id(app: &TestApp, base: &Value) -> Answer {
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("contract_id");
    app.call(Method::PUT, ERR1, &app.emsp, Some(missing)).await
}

async fn put_err1_at_other_uid(app: &TestApp, base: &Value) -> Answer {
    app.call(
        Method::PUT,
        "/ocpi/2.3.0/receiver/tokens/NL/ABC/OTHER",
        &app.emsp,
        Some(base.clone()),
    )
    .await
}

async fn put_err1_with_other_type_query(app: &TestApp, base: &Value) -> Answer {
    app.call(
        Method::PUT,
        &format!("{ERR1}?type=APP_USER"),
        &app.emsp,
        Some(base.clone()),
    )
    .await
}

async fn put_err1_for_foreign_party(app: &TestApp, base: &Value) -> Answer {
    let mut foreign = base.clone();
    foreign["country_code"] = json!("FR");
    foreign["party_id"] = json!("XYZ");
    app.call(
        Method::PUT,
        "/ocpi/2.3.0/receiver/tokens/FR/XYZ/ERR1",
        &app.emsp,
        Some(foreign),
    )
    .await
}

async fn put_err1_with_spoofed_from_headers(app: &TestApp, base: &Value) -> reqwest::Response {
    app.request(Method::PUT, ERR1, &app.emsp)
        .header("OCPI-from-country-code", "FR")
        .header("OCPI-from-party-id", "XYZ")
        .json(base)
        .send()
        .await
        .unwrap()
}

async fn get_err1_as_cpo(app: &TestApp) -> Answer {
    app.call(Method::GET, ERR1, &app.cpo, None).await
}

async fn patch_err1_without_last_updated(app: &TestApp) -> Answer {
    app.call(
        Method::PATCH,
        ERR1,
        &app.emsp,
        Some(json!({"valid": false})),
    )
    .await
}

async fn patch_unknown_token(app: &TestApp) -> Answer {
    app.call(
        Method::PATCH,
        "/ocpi/2.3.0/receiver/tokens/NL/ABC/NOPE",
        &app.emsp,
        Some(json!({"valid": false, "last_updated": "2026-02-01T00:00:00Z"})),
    )
    .await
}

async fn get_unknown_token(app: &TestApp) -> Answer {
    get(app, "/ocpi/2.3.0/receiver/tokens/NL/ABC/NOPE").await
}

async fn uid_over_36_characters_is_refused(app: TestApp) {
    assert_put_refused(&app, "uid", "uid").await;
}

async fn issuer_over_64_characters_is_refused(app: TestApp) {
    assert_put_refused(&app, "issuer", "issuer").await;
}

async fn unknown_whitelist_is_refused(app: TestApp) {
    assert_put_refused(&app, "whitelist", "whitelist").await;
}

async fn last_updated_not_in_utc_is_refused(app: TestApp) {
    assert_put_refused(&app, "last_updated", "last_updated").await;
}

async fn non_boolean_valid_is_refused(app: TestApp) {
    assert_put_refused(&app, "valid", "valid").await;
}

async fn missing_contract_id_is_2001_naming_it(app: TestApp) {
    let base = stored_err1(&app).await;
    let answer = put_err1_without_contract_id(&app, &base).await;
    assert!(
        answer.ocpi_status() == 2001 && answer.message().contains("contract_id"),
        "{}",
        answer.message()
    );
}

async fn body_uid_other_than_the_path_is_2001(app: TestApp) {
    let base = stored_err1(&app).await;
    let mismatch = put_err1_at_other_uid(&app, &base).await;
    assert_eq!((mismatch.status, mismatch.ocpi_status()), (200, 2001));
}

async fn body_type_other_than_the_query_is_2001(app: TestApp) {
    let base = stored_err1(&app).await;
    let type_mismatch = put_err1_with_other_type_query(&app, &base).await;
    assert_eq!(type_mismatch.ocpi_status(), 2001);
}

/// Not the caller's party: 403 to write.
async fn put_for_another_party_is_403_2001(app: TestApp) {
    let base = stored_err1(&app).await;
    let forbidden = put_err1_for_foreign_party(&app, &base).await;
    assert_eq!((forbidden.status, forbidden.ocpi_status()), (403, 2001));
}

async fn from_headers_naming_another_party_are_403(app: TestApp) {
    let base = stored_err1(&app).await;
    let header_spoof = put_err1_with_spoofed_from_headers(&app, &base).await;
    assert_eq!(header_spoof.status(), 403);
}

async fn cpo_cannot_read_the_tokens_receiver(app: TestApp) {
    stored_err1(&app).await;
    let cpo_reads = get_err1_as_cpo(&app).await;
    assert_eq!(cpo_reads.status, 403, "the receiver interface is for eMSPs");
}

async fn patch_without_last_updated_is_2001_naming_it(app: TestApp) {
    stored_err1(&app).await;
    let no_ts = patch_err1_without_last_updated(&app).await;
    assert_eq!((no_ts.status, no_ts.ocpi_status()), (200, 2001));
    assert!(no_ts.message().contains("last_updated"));
}

async fn patch_of_unknown_token_is_404_2004(app: TestApp) {
    let unknown = patch_unknown_token(&app).await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (404, 2004));
}

async fn get_of_unknown_token_is_404_2004(app: TestApp) {
    let got_unknown = get_unknown_token(&app).await;
    assert_eq!((got_unknown.status, got_unknown.ocpi_status()), (404, 2004));
}

async fn refused_writes_leave_the_stored_token_unchanged(app: TestApp) {
    let base = stored_err1(&app).await;
    for field in BROKEN_FIELDS {
        put_err1_with(&app, &base, field, broken(field)).await;
    }
    put_err1_without_contract_id(&app, &base).await;
    put_err1_at_other_uid(&app, &base).await;
    put_err1_with_other_type_query(&app, &base).await;
    put_err1_for_foreign_party(&app, &base).await;
    put_err1_with_spoofed_from_headers(&app, &base).await;
    get_err1_as_cpo(&app).await;
    patch_err1_without_last_updated(&app).await;
    patch_unknown_token(&app).await;
    get_unknown_token(&app).await;

    let got = get(&app, ERR1).await;
    assert_eq!(got.body["data"], base);
}

on_both_backends!(
    uid_over_36_characters_is_refused,
    issuer_over_64_characters_is_refused,
    unknown_whitelist_is_refused,
    last_updated_not_in_utc_is_refused,
    non_boolean_valid_is_refused,
    missing_contract_id_is_2001_naming_it,
    body_uid_other_than_the_path_is_2001,
    body_type_other_than_the_query_is_2001,
    put_for_another_party_is_403_2001,
    from_headers_naming_another_party_are_403,
    cpo_cannot_read_the_tokens_receiver,
    patch_without_last_updated_is_2001_naming_it,
    patch_of_unknown_token_is_404_2004,
    get_of_unknown_token_is_404_2004,
    refused_writes_leave_the_stored_token_unchanged,
);
