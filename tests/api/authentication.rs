//! The credentials token in the `Authorization` header.

use reqwest::Method;

use crate::helpers::{read, TestApp};
use crate::on_both_backends;

/// Raw (non-Base64) tokens, as 2.1.1/2.2 peers send them, are accepted too.
async fn raw_token_is_accepted(app: TestApp) {
    let raw = read(
        app.client
            .get(app.url("/ocpi/versions"))
            .header("Authorization", format!("Token {}", app.emsp))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(raw.status, 200);
}

async fn missing_token_is_401_with_envelope(app: TestApp) {
    let missing = read(
        app.client
            .get(app.url("/ocpi/versions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((missing.status, missing.ocpi_status()), (401, 2000));
    assert!(missing.body["timestamp"].is_string());
}

async fn unknown_token_is_401_2000(app: TestApp) {
    let unknown = app
        .call(Method::GET, "/ocpi/versions", "not-a-known-token", None)
        .await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (401, 2000));
}

on_both_backends!(
    raw_token_is_accepted,
    missing_token_is_401_with_envelope,
    unknown_token_is_401_2000,
);
