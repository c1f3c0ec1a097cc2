//! Credentials: what the hub tells a platform about its registration.

use reqwest::Method;

use crate::helpers::{Answer, TestApp};
use crate::on_both_backends;

async fn credentials(app: &TestApp) -> Answer {
    app.call(Method::GET, "/ocpi/2.3.0/credentials", &app.emsp, None)
        .await
}

async fn credentials_echo_the_presented_token(app: TestApp) {
    let creds = credentials(&app).await;
    assert_eq!(
        creds.body["data"]["token"],
        app.emsp.as_str(),
        "echoes the presented token"
    );
}

async fn credentials_name_the_hub_party_nlhub(app: TestApp) {
    let creds = credentials(&app).await;
    assert_eq!(creds.body["data"]["hub_party_id"], "NLHUB");
}

async fn credentials_list_two_roles(app: TestApp) {
    let creds = credentials(&app).await;
    assert_eq!(creds.body["data"]["roles"].as_array().unwrap().len(), 2);
}

on_both_backends!(
    credentials_echo_the_presented_token,
    credentials_name_the_hub_party_nlhub,
    credentials_list_two_roles,
);
