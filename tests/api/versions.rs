//! Versions: the list of versions and the 2.3.0 version details.

use reqwest::Method;

use crate::helpers::{Answer, TestApp};
use crate::on_both_backends;

async fn versions_list(app: &TestApp) -> Answer {
    app.call(Method::GET, "/ocpi/versions", &app.emsp, None)
        .await
}

/// Whether the 2.3.0 details (asked with a trailing slash) list this endpoint.
async fn details_list(app: &TestApp, id: &str, role: &str, path: &str) -> bool {
    let details = app.call(Method::GET, "/ocpi/2.3.0/", &app.cpo, None).await;
    let endpoints = details.body["data"]["endpoints"].as_array().unwrap();
    endpoints
        .iter()
        .any(|e| e["identifier"] == id && e["role"] == role && e["url"] == app.url(path))
}

async fn versions_list_names_2_3_0_and_its_url(app: TestApp) {
    let list = versions_list(&app).await;
    assert_eq!((list.status, list.ocpi_status()), (200, 1000));
    assert_eq!(list.body["data"][0]["version"], "2.3.0");
    assert_eq!(list.body["data"][0]["url"], app.url("/ocpi/2.3.0"));
}

async fn versions_list_has_no_routing_headers(app: TestApp) {
    let list = versions_list(&app).await;
    assert!(
        list.header("ocpi-from-country-code").is_none(),
        "no routing headers on versions"
    );
}

async fn version_details_accept_a_trailing_slash(app: TestApp) {
    let details = app.call(Method::GET, "/ocpi/2.3.0/", &app.cpo, None).await;
    assert_eq!(details.status, 200, "trailing slash is accepted");
}

async fn version_details_list_the_tokens_sender(app: TestApp) {
    assert!(details_list(&app, "tokens", "SENDER", "/ocpi/2.3.0/sender/tokens").await);
}

async fn version_details_list_the_tokens_receiver(app: TestApp) {
    assert!(details_list(&app, "tokens", "RECEIVER", "/ocpi/2.3.0/receiver/tokens").await);
}

async fn version_details_list_the_sessions_receiver(app: TestApp) {
    assert!(
        details_list(
            &app,
            "sessions",
            "RECEIVER",
            "/ocpi/2.3.0/receiver/sessions"
        )
        .await
    );
}

async fn version_details_list_the_credentials_sender(app: TestApp) {
    assert!(details_list(&app, "credentials", "SENDER", "/ocpi/2.3.0/credentials").await);
}

on_both_backends!(
    versions_list_names_2_3_0_and_its_url,
    versions_list_has_no_routing_headers,
    version_details_accept_a_trailing_slash,
    version_details_list_the_tokens_sender,
    version_details_list_the_tokens_receiver,
    version_details_list_the_sessions_receiver,
    version_details_list_the_credentials_sender,
);
