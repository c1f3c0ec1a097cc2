//! Unauthenticated load: what a caller without a valid credentials token can cost the hub.
//! Malformed tokens never reach the database, unknown ones are remembered briefly, an address
//! that fails too often gets 429 with `Retry-After`, and partners elsewhere (or known partners
//! behind the same address) keep working. Metric labels never come from the request as sent.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Method;
use tokenhub::config::Config;
use tokenhub::domain::party::Role;

use crate::helpers::{add_party_with_token, b64, read, spawn_app_with, Answer, Backend, TestApp};

/// The client addresses the tests pretend to call from, through the trusted proxy 127.0.0.1.
const ATTACKER: &str = "203.0.113.66";
const PARTNER: &str = "198.51.100.7";
/// With one failure a minute after the burst, a blocked address stays blocked for the test.
const BURST: u32 = 5;

fn behind_local_proxy(config: &mut Config) {
    config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.http.auth_failures_per_minute = 1;
    config.http.auth_failure_burst = BURST;
}

/// For tests that fail on purpose more often than a budget allows.
fn generous_budget(config: &mut Config) {
    config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.http.auth_failures_per_minute = 100_000;
    config.http.auth_failure_burst = 100_000;
}

fn without_proxy(config: &mut Config) {
    config.http.auth_failures_per_minute = 1;
    config.http.auth_failure_burst = BURST;
}

/// Runs `$test(app)` on SQLite and PostgreSQL, the app built with `$tweak`.
macro_rules! on_both_backends_with {
    ($tweak:ident; $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let backend = $crate::helpers::Backend::Sqlite;
                    if let Some(app) = $crate::helpers::spawn_app_with(backend, super::$tweak).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let backend = $crate::helpers::Backend::Postgres;
                    if let Some(app) = $crate::helpers::spawn_app_with(backend, super::$tweak).await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

impl TestApp {
    /// `GET /ocpi/versions` with `Authorization: Token <base64(token)>` from `client_ip`.
    async fn versions_from(&self, client_ip: &str, token: &str) -> Answer {
        self.versions_with(client_ip, &format!("Token {}", b64(token)))
            .await
    }

    async fn versions_with(&self, client_ip: &str, authorization: &str) -> Answer {
        read(
            self.client
                .get(self.url("/ocpi/versions"))
                .header(AUTHORIZATION, authorization)
                .header("X-Forwarded-For", client_ip)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Fails authentication from `client_ip` until it is refused; the refusal.
    async fn exhaust_budget(&self, client_ip: &str) -> Answer {
        for i in 0..BURST {
            let failed = self
                .versions_from(client_ip, &format!("guess-{i}-{}", uuid::Uuid::new_v4()))
                .await;
            assert_eq!(failed.status, 401, "failure {i} is within the burst");
        }
        let refused = self.versions_from(client_ip, "one-guess-too-many").await;
        assert_eq!(refused.status, 429);
        refused
    }
}

fn retry_after(answer: &Answer) -> u64 {
    answer
        .header("Retry-After")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds")
}

async fn a_flood_of_bad_tokens_gets_429_with_retry_after(app: TestApp) {
    let refused = app.exhaust_budget(ATTACKER).await;
    assert_eq!(refused.ocpi_status(), 2000);
    assert!(refused.body["timestamp"].is_string());
    assert!(refused
        .message()
        .contains("too many failed authentications"));
    // One failure a minute: the next one is allowed in about a minute.
    assert!(
        (1..=60).contains(&retry_after(&refused)),
        "{:?}",
        refused.headers
    );
    // From now on the address costs no look-up, even with new tokens.
    let lookups = app.database_lookups();
    for i in 0..20 {
        let more = app.versions_from(ATTACKER, &format!("flood-{i}")).await;
        assert_eq!((more.status, more.ocpi_status()), (429, 2000));
    }
    assert_eq!(app.database_lookups(), lookups);
}

async fn a_partner_elsewhere_works_during_a_flood(app: TestApp) {
    let flood = {
        let (client, url) = (app.client.clone(), app.url("/ocpi/versions"));
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..200 {
                let response = client
                    .get(&url)
                    .header(AUTHORIZATION, format!("Token {}", b64(&format!("bad-{i}"))))
                    .header("X-Forwarded-For", ATTACKER)
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status().as_u16());
            }
            statuses
        })
    };
    for _ in 0..20 {
        let partner = app.versions_from(PARTNER, &app.cpo).await;
        assert_eq!(partner.status, 200);
    }
    let statuses = flood.await.unwrap();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        BURST as usize
    );
    assert!(statuses[BURST as usize..].iter().all(|s| *s == 429));
    // The flood is over budget now, the partner is not.
    assert_eq!(app.versions_from(PARTNER, &app.emsp).await.status, 200);
}

/// A partner behind the attacker's address (one NAT, one proxy) keeps working: its token was
/// valid before, so it is still looked up; an unknown token from there is not.
async fn a_known_partner_behind_a_blocked_address_still_works(app: TestApp) {
    assert_eq!(app.versions_from(ATTACKER, &app.cpo).await.status, 200);
    app.exhaust_budget(ATTACKER).await;
    assert_eq!(app.versions_from(ATTACKER, &app.cpo).await.status, 200);
    // Past the credentials cache's 5 s: the token is looked up again, budget or not.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let lookups = app.database_lookups();
    assert_eq!(app.versions_from(ATTACKER, &app.cpo).await.status, 200);
    assert_eq!(app.database_lookups(), lookups + 1);
    assert_eq!(
        app.versions_from(ATTACKER, "still-guessing").await.status,
        429
    );
}

/// What the README says a blocked address costs: a token this process has never seen succeed
/// cannot be told from a guess without a look-up, so it waits like the guesses.
async fn a_token_never_seen_waits_behind_a_blocked_address(app: TestApp) {
    app.exhaust_budget(ATTACKER).await;
    let first_call = app.versions_from(ATTACKER, &app.emsp).await;
    assert_eq!(first_call.status, 429);
    assert_eq!(app.versions_from(PARTNER, &app.emsp).await.status, 200);
}

/// Without `http.trusted_proxies`, `X-Forwarded-For` is the caller's own claim: changing it on
/// every guess does not give a fresh budget.
async fn forwarded_for_from_an_untrusted_peer_is_ignored(app: TestApp) {
    for i in 0..BURST {
        let spoofed = app
            .versions_from(&format!("192.0.2.{i}"), &format!("guess-{i}"))
            .await;
        assert_eq!(spoofed.status, 401);
    }
    let refused = app.versions_from("192.0.2.200", "another-guess").await;
    assert_eq!(refused.status, 429);
}

async fn malformed_tokens_never_reach_the_database(app: TestApp) {
    let too_long = "x".repeat(65);
    let authorizations: Vec<HeaderValue> = vec![
        // 65 characters, raw and in Base64: longer than any credentials token.
        HeaderValue::from_str(&format!("Token {too_long}")).unwrap(),
        HeaderValue::from_str(&format!("Token {}", b64(&too_long))).unwrap(),
        HeaderValue::from_str(&format!("Token {}", "y".repeat(4000))).unwrap(),
        // Whitespace and control characters are not printable token characters.
        HeaderValue::from_str("Token two words").unwrap(),
        HeaderValue::from_str("Token tab\tinside").unwrap(),
        HeaderValue::from_bytes(b"Token caf\xc3\xa9").unwrap(),
    ];
    let unknown = app.versions_from(PARTNER, "well-formed-but-unknown").await;
    assert_eq!(unknown.status, 401);
    let lookups = app.database_lookups();
    for authorization in authorizations {
        let answer = read(
            app.client
                .get(app.url("/ocpi/versions"))
                .header(AUTHORIZATION, authorization.clone())
                .header("X-Forwarded-For", PARTNER)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (answer.status, answer.ocpi_status(), answer.message()),
            (401, 2000, unknown.message()),
            "{authorization:?}"
        );
    }
    assert_eq!(app.database_lookups(), lookups);
    let control = app.versions_from(PARTNER, "another-well-formed-one").await;
    assert_eq!(control.status, 401);
    assert!(app.database_lookups() > lookups, "the counter counts");
}

/// An unknown token is remembered only briefly: registered meanwhile by another process (the
/// CLI writes straight to the database), it works within the cache's 5 s.
async fn a_token_registered_after_a_miss_works_soon(app: TestApp) {
    let token = format!("late-{}", uuid::Uuid::new_v4().simple());
    assert_eq!(app.versions_from(PARTNER, &token).await.status, 401);
    add_party_with_token(&app.store, "FR", "LTE", Role::Emsp, &token).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = app.versions_from(PARTNER, &token).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 401);
        assert!(Instant::now() < deadline, "the new token never worked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

on_both_backends_with!(behind_local_proxy;
    a_flood_of_bad_tokens_gets_429_with_retry_after,
    a_partner_elsewhere_works_during_a_flood,
    a_known_partner_behind_a_blocked_address_still_works,
    a_token_never_seen_waits_behind_a_blocked_address,
);

on_both_backends_with!(generous_budget;
    malformed_tokens_never_reach_the_database,
    a_token_registered_after_a_miss_works_soon,
);

on_both_backends_with!(without_proxy;
    forwarded_for_from_an_untrusted_peer_is_ignored,
);

/// An invented HTTP method becomes `OTHER` in the request metrics: a label taken from the request
/// would add a series, kept forever, per invented method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invented_method_adds_no_metric_series() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let invented = format!("PROBE{}", uuid::Uuid::new_v4().simple()).to_uppercase();
    let method = Method::from_bytes(invented.as_bytes()).unwrap();
    let answer = app
        .client
        .request(method, app.url("/ocpi/versions"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 405);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains(&invented), "{invented} is a label");
    assert!(
        metrics.contains(r#"method="OTHER""#),
        "invented methods count as OTHER"
    );
}
