//! A credentials token rotated or revoked anywhere stops working on every instance within the
//! credentials-epoch poll (`peers.credentials_poll_ms`, 250 ms), not only after the cache's 5 s.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;

use crate::helpers::{b64, spawn_app, Backend, TestApp};
use crate::on_both_backends;
use crate::partner_platform::{self, PartnerState};

/// Well under the cache's 5 s TTL, well over the 250 ms poll.
const WITHIN: Duration = Duration::from_secs(3);

async fn versions_status(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    client
        .get(format!("{base}/ocpi/versions"))
        .header("Authorization", format!("Token {}", b64(token)))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls (bounded by [`WITHIN`]) until `token` is refused at `base`.
async fn refused_within(client: &reqwest::Client, base: &str, token: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        if versions_status(client, base, token).await == 401 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old token still works at {base} after {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two instances on one PostgreSQL database: a Credentials PUT through one rotates token C; the
/// other, which had the old token cached, refuses it within the poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_reaches_every_instance() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let other = app.spawn_sibling().await;
    let client = reqwest::Client::new();
    let state = PartnerState::party("EMSP", "BE", "PEM", "token-B-pem", false);
    let role = state.roles[0].clone();
    let (partner, token_c) = partner_platform::register_partner(&app, state).await;
    // The other instance looks the token up now, and caches it.
    assert_eq!(versions_status(&client, &other, &token_c).await, 200);

    partner
        .state
        .lock()
        .unwrap()
        .expected_tokens
        .push("token-B2-pem".into());
    let rotated = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/credentials",
            &token_c,
            Some(json!({"token": "token-B2-pem", "url": partner.versions_url(), "roles": [role]})),
        )
        .await;
    assert_eq!((rotated.status, rotated.ocpi_status()), (200, 1000));
    let new_c = rotated.body["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        versions_status(&client, &app.base, &token_c).await,
        401,
        "at once on the instance that rotated"
    );
    refused_within(&client, &other, &token_c).await;
    assert_eq!(versions_status(&client, &other, &new_c).await, 200);
}

/// `party add --rotate` (another process on the same database) reaches a running hub within the
/// poll too.
async fn a_rotation_by_the_cli_reaches_the_running_hub(app: TestApp) {
    let client = reqwest::Client::new();
    assert_eq!(versions_status(&client, &app.base, &app.emsp).await, 200);
    let key = PartyKey::parse("NL", "ABC").unwrap();
    let (_, new_token) =
        tokenhub::service::parties::register_party(&app.store, &key, Role::Emsp, "ABC", true)
            .await
            .unwrap();
    refused_within(&client, &app.base, &app.emsp).await;
    assert_eq!(versions_status(&client, &app.base, &new_token).await, 200);
}

on_both_backends!(a_rotation_by_the_cli_reaches_the_running_hub);
