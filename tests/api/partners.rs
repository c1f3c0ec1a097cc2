//! Partners connect themselves through the Credentials module, over real HTTP in both
//! directions: the test starts the hub and a small partner platform (`partner_platform`).

use reqwest::Method;
use serde_json::{json, Value};
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;
use tokenhub::store::connections::InviteOutcome;

use crate::helpers::{b64, Answer, TestApp};
use crate::on_both_backends;
use crate::partner_platform::{self, Partner, PartnerState};

const TOKEN_B: &str = "partner-token-B-for-the-hub";

async fn invite(app: &TestApp, cc: &str, pid: &str, role: Role) -> String {
    let key = PartyKey::parse(cc, pid).unwrap();
    let (outcome, token) =
        tokenhub::service::parties::invite_party(&app.store, &key, role, "Partner eMSP")
            .await
            .unwrap();
    assert_eq!(outcome, InviteOutcome::Invited);
    token
}

fn partner_credentials(token: &str, partner: &Partner) -> Value {
    json!({
        "token": token,
        "url": partner.versions_url(),
        "roles": [{"role": "EMSP", "business_details": {"name": "Partner eMSP"},
                   "party_id": "PEM", "country_code": "BE"}],
    })
}

async fn post_credentials(app: &TestApp, token: &str, body: &Value) -> Answer {
    app.call(
        Method::POST,
        "/ocpi/2.3.0/credentials",
        token,
        Some(body.clone()),
    )
    .await
}

/// An invited eMSP registers: the answer carries token C.
async fn register(app: &TestApp, partner: &Partner) -> (String, String) {
    let token_a = invite(app, "BE", "PEM", Role::Emsp).await;
    let answer = post_credentials(app, &token_a, &partner_credentials(TOKEN_B, partner)).await;
    assert_eq!(
        (answer.status, answer.ocpi_status()),
        (200, 1000),
        "{}",
        answer.message()
    );
    let token_c = answer.body["data"]["token"].as_str().unwrap().to_owned();
    (token_a, token_c)
}

async fn versions_status(app: &TestApp, token: &str) -> u16 {
    app.call(Method::GET, "/ocpi/versions", token, None)
        .await
        .status
}

async fn registration_towards_the_hub_issues_token_c(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let token_a = invite(&app, "BE", "PEM", Role::Emsp).await;
    let answer = post_credentials(&app, &token_a, &partner_credentials(TOKEN_B, &partner)).await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 1000));
    let data = &answer.body["data"];
    let token_c = data["token"].as_str().unwrap();
    assert_ne!(token_c, token_a);
    assert_eq!(data["url"], app.url("/ocpi/versions"));
    assert_eq!(data["hub_party_id"], "NLHUB");
    assert!(
        data["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["party_id"] == "PEM" && r["role"] == "EMSP"),
        "the hub lists the new party among the reachable ones"
    );
    assert!(
        answer.header("ocpi-from-country-code").is_none(),
        "no routing headers on credentials"
    );
    let seen = partner.state.lock().unwrap().seen_tokens.clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|t| t == TOKEN_B),
        "the hub read the partner's versions and details with token B: {seen:?}"
    );
}

async fn token_a_stops_working_and_token_c_works(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let (token_a, token_c) = register(&app, &partner).await;
    assert_eq!(versions_status(&app, &token_a).await, 401);
    assert_eq!(versions_status(&app, &token_c).await, 200);
    // Token C is a registered token: the functional modules accept it for the invited party.
    let token = json!({
        "country_code": "BE", "party_id": "PEM", "uid": "PEM-1", "type": "RFID",
        "contract_id": "BE-PEM-C1", "issuer": "Partner", "valid": true,
        "whitelist": "ALWAYS", "last_updated": "2026-01-01T00:00:00Z"
    });
    let pushed = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/BE/PEM/PEM-1",
            &token_c,
            Some(token),
        )
        .await;
    assert_eq!((pushed.status, pushed.ocpi_status()), (201, 1000));
}

async fn a_second_post_is_405(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let (_, token_c) = register(&app, &partner).await;
    let again = post_credentials(&app, &token_c, &partner_credentials(TOKEN_B, &partner)).await;
    assert_eq!(again.status, 405, "{}", again.message());
}

async fn roles_that_were_not_invited_are_2001_naming_them(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let token_a = invite(&app, "BE", "PEM", Role::Emsp).await;
    let mut body = partner_credentials(TOKEN_B, &partner);
    body["roles"].as_array_mut().unwrap().push(json!({
        "role": "CPO", "business_details": {"name": "Sneaky"}, "party_id": "SNK", "country_code": "BE"
    }));
    let answer = post_credentials(&app, &token_a, &body).await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 2001));
    assert!(
        answer.message().contains("BE*SNK (CPO)"),
        "{}",
        answer.message()
    );
    assert_eq!(
        versions_status(&app, &token_a).await,
        200,
        "a refused registration leaves token A usable"
    );
}

async fn unreadable_partner_versions_are_3001(app: TestApp) {
    let mut state = PartnerState::emsp(TOKEN_B);
    state.broken = true;
    let partner = partner_platform::start(state).await;
    let token_a = invite(&app, "BE", "PEM", Role::Emsp).await;
    let answer = post_credentials(&app, &token_a, &partner_credentials(TOKEN_B, &partner)).await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 3001));
}

async fn a_partner_without_2_3_0_is_3002(app: TestApp) {
    let mut state = PartnerState::emsp(TOKEN_B);
    state.versions = vec!["2.1.1"];
    let partner = partner_platform::start(state).await;
    let token_a = invite(&app, "BE", "PEM", Role::Emsp).await;
    let answer = post_credentials(&app, &token_a, &partner_credentials(TOKEN_B, &partner)).await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 3002));
}

async fn a_partner_without_usable_endpoints_is_3003(app: TestApp) {
    let mut state = PartnerState::emsp(TOKEN_B);
    state.endpoints = vec![("locations", "SENDER")];
    let partner = partner_platform::start(state).await;
    let token_a = invite(&app, "BE", "PEM", Role::Emsp).await;
    let answer = post_credentials(&app, &token_a, &partner_credentials(TOKEN_B, &partner)).await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 3003));
}

async fn put_rotates_token_c(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let (_, token_c) = register(&app, &partner).await;
    partner
        .state
        .lock()
        .unwrap()
        .expected_tokens
        .push("partner-token-B2".into());
    let answer = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/credentials",
            &token_c,
            Some(partner_credentials("partner-token-B2", &partner)),
        )
        .await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 1000));
    let new_c = answer.body["data"]["token"].as_str().unwrap().to_owned();
    assert_ne!(new_c, token_c);
    assert_eq!(
        versions_status(&app, &token_c).await,
        401,
        "the old C is refused"
    );
    assert_eq!(versions_status(&app, &new_c).await, 200);
    let seen = partner.state.lock().unwrap().seen_tokens.clone();
    assert_eq!(
        seen.last().map(String::as_str),
        Some("partner-token-B2"),
        "the hub re-read the partner's versions with the new token"
    );
}

async fn put_and_delete_need_a_registration(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let token_a = invite(&app, "BE", "PEM", Role::Emsp).await;
    let put = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/credentials",
            &token_a,
            Some(partner_credentials(TOKEN_B, &partner)),
        )
        .await;
    assert_eq!(put.status, 405);
    let delete = app
        .call(Method::DELETE, "/ocpi/2.3.0/credentials", &token_a, None)
        .await;
    assert_eq!(delete.status, 405);
}

async fn delete_unregisters(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let (_, token_c) = register(&app, &partner).await;
    let delete = app
        .call(Method::DELETE, "/ocpi/2.3.0/credentials", &token_c, None)
        .await;
    assert_eq!((delete.status, delete.ocpi_status()), (200, 1000));
    assert_eq!(versions_status(&app, &token_c).await, 401);
    // Invited again, it can register again.
    let key = PartyKey::parse("BE", "PEM").unwrap();
    let (outcome, token_a) =
        tokenhub::service::parties::invite_party(&app.store, &key, Role::Emsp, "Partner eMSP")
            .await
            .unwrap();
    assert_eq!(outcome, InviteOutcome::Reinvited);
    let again = post_credentials(&app, &token_a, &partner_credentials(TOKEN_B, &partner)).await;
    assert_eq!((again.status, again.ocpi_status()), (200, 1000));
}

async fn unknown_tokens_are_401(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let answer = post_credentials(
        &app,
        "never-issued",
        &partner_credentials(TOKEN_B, &partner),
    )
    .await;
    assert_eq!((answer.status, answer.ocpi_status()), (401, 2000));
}

/// Tokens the partners present (A, C) are stored as hashes; the token the hub presents (B) is
/// sealed: nothing in the database is a usable token.
async fn the_database_holds_no_usable_token(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp(TOKEN_B)).await;
    let (token_a, token_c) = register(&app, &partner).await;
    let dump = app.dump_platforms().await;
    for secret in [
        token_a.as_str(),
        token_c.as_str(),
        TOKEN_B,
        &b64(TOKEN_B),
        &b64(&token_c),
    ] {
        assert!(
            !dump.contains(secret),
            "{secret} is readable in the database"
        );
    }
}

async fn the_hub_registers_with_a_partner(app: TestApp) {
    let mut state = PartnerState::emsp("token-A-for-the-hub");
    state.roles = json!([{"role": "CPO", "business_details": {"name": "Partner CPO"},
                          "party_id": "PCP", "country_code": "FR"}]);
    let partner = partner_platform::start(state).await;
    let registered = app
        .register_with(&partner.versions_url(), "token-A-for-the-hub")
        .await
        .expect("the hub registers");
    assert_eq!(registered, vec!["FR*PCP (CPO)".to_owned()]);
    let (posted, status) = {
        let s = partner.state.lock().unwrap();
        (s.hub_posted.clone().unwrap(), s.hub_versions_status)
    };
    assert_eq!(
        status,
        Some(200),
        "the partner could read the hub's versions with token B"
    );
    assert_eq!(posted["hub_party_id"], "NLHUB");
    assert_eq!(posted["url"], app.url("/ocpi/versions"));
    // Token B, which the hub gave the partner, is the partner's token C-equivalent at the hub.
    let token_b = posted["token"].as_str().unwrap();
    assert_eq!(versions_status(&app, token_b).await, 200);
    let dump = app.dump_platforms().await;
    assert!(
        !dump.contains("partner-token-for-the-hub"),
        "the partner's token is sealed"
    );
}

async fn a_failed_outgoing_registration_leaves_nothing(app: TestApp) {
    let partner = partner_platform::start(PartnerState::emsp("token-A-for-the-hub")).await;
    let err = app
        .register_with(&partner.versions_url(), "a-wrong-token-A")
        .await
        .unwrap_err();
    assert!(err.contains("401"), "{err}");
    let dump = app.dump_platforms().await;
    assert_eq!(
        dump.matches("platform").count(),
        2,
        "only the two test parties: {dump}"
    );
}

async fn a_2_2_1_partner_registers_on_2_2_1(app: TestApp) {
    let mut state = PartnerState::emsp(TOKEN_B);
    state.versions = vec!["2.2.1"];
    let partner = partner_platform::start(state).await;
    let token_a = invite(&app, "BE", "PEM", Role::Emsp).await;
    let on_2_3_0 = post_credentials(&app, &token_a, &partner_credentials(TOKEN_B, &partner)).await;
    assert_eq!(
        (on_2_3_0.status, on_2_3_0.ocpi_status()),
        (200, 3002),
        "the version is the one posted to"
    );
    let answer = app
        .call(
            Method::POST,
            "/ocpi/2.2.1/credentials",
            &token_a,
            Some(partner_credentials(TOKEN_B, &partner)),
        )
        .await;
    assert_eq!(
        (answer.status, answer.ocpi_status()),
        (200, 1000),
        "{}",
        answer.message()
    );
    let data = &answer.body["data"];
    assert!(
        data.get("hub_party_id").is_none(),
        "2.2.1 has no hub_party_id"
    );
    assert_eq!(data["roles"][0]["role"], "HUB");
    let token_c = data["token"].as_str().unwrap();
    assert_eq!(versions_status(&app, token_c).await, 200);
}

async fn the_hub_registers_on_the_highest_common_version(app: TestApp) {
    let mut state = PartnerState::emsp("token-A-for-the-hub");
    state.versions = vec!["2.1.1", "2.2.1"];
    let partner = partner_platform::start(state).await;
    app.register_with(&partner.versions_url(), "token-A-for-the-hub")
        .await
        .expect("the hub registers");
    let posted = partner.state.lock().unwrap().hub_posted.clone().unwrap();
    assert_eq!(
        posted["roles"][0]["role"], "HUB",
        "the 2.2.1 shape: {posted}"
    );
    assert!(posted.get("hub_party_id").is_none());
}

on_both_backends!(
    a_2_2_1_partner_registers_on_2_2_1,
    the_hub_registers_on_the_highest_common_version,
    registration_towards_the_hub_issues_token_c,
    token_a_stops_working_and_token_c_works,
    a_second_post_is_405,
    roles_that_were_not_invited_are_2001_naming_them,
    unreadable_partner_versions_are_3001,
    a_partner_without_2_3_0_is_3002,
    a_partner_without_usable_endpoints_is_3003,
    put_rotates_token_c,
    put_and_delete_need_a_registration,
    delete_unregisters,
    unknown_tokens_are_401,
    the_database_holds_no_usable_token,
    the_hub_registers_with_a_partner,
    a_failed_outgoing_registration_leaves_nothing,
);
