//! hubclientinfo: the hub's list of parties and their status (paginated like every list), the
//! status of each way of joining and leaving, and the pushes to partners that take ClientInfo.

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use reqwest::Method;
use serde_json::Value;
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;
use tokenhub::service::parties::{change_settings, SettingsChange};

use crate::helpers::{Answer, TestApp};
use crate::on_both_backends;
use crate::partner_platform::{self, PartnerState};

async fn list(app: &TestApp, query: &str) -> Answer {
    app.call(
        Method::GET,
        &format!("/ocpi/2.3.0/hubclientinfo{query}"),
        &app.cpo,
        None,
    )
    .await
}

async fn suspend(app: &TestApp, cc: &str, pid: &str, suspended: bool) {
    let change = SettingsChange {
        suspended: Some(suspended),
        ..SettingsChange::default()
    };
    let key = PartyKey::parse(cc, pid).unwrap();
    let outcome = change_settings(&app.app_state(), &key, None, change, "party.suspend")
        .await
        .unwrap();
    assert!(outcome.changed());
}

async fn every_way_in_and_out_has_its_status(app: TestApp) {
    // `party add`: the two test parties.
    assert_eq!(
        app.client_status("NL", "ABC").await.as_deref(),
        Some("CONNECTED")
    );
    assert_eq!(
        app.client_status("DE", "CPO").await.as_deref(),
        Some("CONNECTED")
    );
    // Invited, not registered yet.
    let key = PartyKey::parse("FR", "INV").unwrap();
    let (_, token_a) =
        tokenhub::service::parties::invite_party(&app.store, &key, Role::Cpo, "Invited")
            .await
            .unwrap();
    assert_eq!(
        app.client_status("FR", "INV").await.as_deref(),
        Some("PLANNED")
    );
    // Registered through the Credentials handshake.
    let (_partner, token_c) = partner_platform::register_partner(
        &app,
        PartnerState::party("EMSP", "BE", "PEM", "token-B-pem", false),
    )
    .await;
    assert_eq!(
        app.client_status("BE", "PEM").await.as_deref(),
        Some("CONNECTED")
    );
    // Suspended by the operator, then resumed.
    suspend(&app, "NL", "ABC", true).await;
    assert_eq!(
        app.client_status("NL", "ABC").await.as_deref(),
        Some("SUSPENDED")
    );
    suspend(&app, "NL", "ABC", false).await;
    assert_eq!(
        app.client_status("NL", "ABC").await.as_deref(),
        Some("CONNECTED")
    );
    // Unregistered.
    let delete = app
        .call(Method::DELETE, "/ocpi/2.3.0/credentials", &token_c, None)
        .await;
    assert_eq!((delete.status, delete.ocpi_status()), (200, 1000));
    assert_eq!(
        app.client_status("BE", "PEM").await.as_deref(),
        Some("SUSPENDED")
    );

    let all = app.client_infos().await;
    assert_eq!(all.len(), 4, "{all:?}");
    let first = all[0].as_object().unwrap();
    let mut fields: Vec<&str> = first.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["country_code", "last_updated", "party_id", "role", "status"]
    );
    assert_eq!(all[0]["role"], "EMSP");
    // A registration token is refused like on the functional modules.
    let refused = app
        .call(Method::GET, "/ocpi/2.3.0/hubclientinfo", &token_a, None)
        .await;
    assert_eq!((refused.status, refused.ocpi_status()), (401, 2000));
}

async fn any_registered_platform_reads_it_without_routing_headers(app: TestApp) {
    for token in [&app.cpo, &app.emsp] {
        let answer = app
            .call(Method::GET, "/ocpi/2.3.0/hubclientinfo", token, None)
            .await;
        assert_eq!((answer.status, answer.ocpi_status()), (200, 1000));
        for header in [
            "ocpi-from-country-code",
            "ocpi-from-party-id",
            "ocpi-to-country-code",
            "ocpi-to-party-id",
        ] {
            assert!(answer.header(header).is_none(), "{header} on hubclientinfo");
        }
    }
    let unknown = app
        .call(
            Method::GET,
            "/ocpi/2.3.0/hubclientinfo",
            "never-issued",
            None,
        )
        .await;
    assert_eq!(unknown.status, 401);
}

async fn the_version_details_advertise_it(app: TestApp) {
    let details = app.call(Method::GET, "/ocpi/2.3.0", &app.cpo, None).await;
    let endpoints = details.body["data"]["endpoints"].as_array().unwrap();
    assert!(endpoints.iter().any(|e| e["identifier"] == "hubclientinfo"
        && e["role"] == "SENDER"
        && e["url"] == app.url("/ocpi/2.3.0/hubclientinfo")));
}

fn party_ids(answer: &Answer) -> Vec<String> {
    answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["party_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_list_pages_and_filters_like_every_list(app: TestApp) {
    // Parties created from here on are last updated at or after `cut`, the two test parties
    // before it.
    let cut = Utc::now().trunc_subsecs(3) + chrono::Duration::milliseconds(2);
    while Utc::now() <= cut {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for pid in ["P01", "P02", "P03", "P04", "P05"] {
        app.add_cpo("FR", pid).await;
    }
    let first = list(&app, "?limit=3").await;
    assert_eq!((first.status, first.ocpi_status()), (200, 1000));
    assert_eq!(party_ids(&first), ["ABC", "CPO", "P01"], "oldest first");
    assert_eq!(first.header("x-total-count").as_deref(), Some("7"));
    assert_eq!(first.header("x-limit").as_deref(), Some("1000"));
    let link = first.header("link").unwrap();
    assert_eq!(
        link,
        format!(
            "<{}>; rel=\"next\"",
            app.url("/ocpi/2.3.0/hubclientinfo?offset=3&limit=3")
        )
    );
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let second = crate::helpers::read(
        app.request(Method::GET, next.trim_start_matches(&app.base), &app.cpo)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(party_ids(&second), ["P02", "P03", "P04"]);
    let last = list(&app, "?offset=6&limit=3").await;
    assert_eq!(party_ids(&last), ["P05"]);
    assert!(last.header("link").is_none(), "no link after the last page");

    let shown = cut.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let newer = list(&app, &format!("?date_from={shown}&limit=2")).await;
    assert_eq!(party_ids(&newer), ["P01", "P02"]);
    assert_eq!(newer.header("x-total-count").as_deref(), Some("5"));
    assert_eq!(
        newer.header("link").unwrap(),
        format!(
            "<{}>; rel=\"next\"",
            app.url(&format!(
                "/ocpi/2.3.0/hubclientinfo?date_from={}&offset=2&limit=2",
                shown.replace(':', "%3A")
            ))
        ),
        "the next page keeps the filters"
    );
    let older = list(&app, &format!("?date_to={shown}")).await;
    assert_eq!(party_ids(&older), ["ABC", "CPO"]);

    for bad in ["?limit=0", "?offset=-1", "?date_from=yesterday"] {
        let answer = list(&app, bad).await;
        assert_eq!((answer.status, answer.ocpi_status()), (200, 2001), "{bad}");
    }
}

/// A partner with a ClientInfo receiver hears of other parties' changes, never of its own.
async fn status_changes_are_pushed_to_receivers(app: TestApp) {
    let (receiver, _) = partner_platform::register_partner(
        &app,
        PartnerState::party("CPO", "FR", "REC", "token-B-rec", true),
    )
    .await;
    let (_emsp, _) = partner_platform::register_partner(
        &app,
        PartnerState::party("EMSP", "BE", "PEM", "token-B-pem", false),
    )
    .await;
    receiver.wait_for_push("BE/PEM", "CONNECTED").await;
    suspend(&app, "NL", "ABC", true).await;
    receiver.wait_for_push("NL/ABC", "SUSPENDED").await;
    let (pushes, seen) = {
        let state = receiver.state.lock().unwrap();
        (state.client_infos.clone(), state.seen_tokens.clone())
    };
    let (_, body) = pushes.iter().find(|(p, _)| p == "NL/ABC").unwrap();
    assert_eq!(body["country_code"], "NL");
    assert_eq!(body["party_id"], "ABC");
    assert_eq!(body["role"], "EMSP");
    assert!(body["last_updated"].is_string());
    assert!(
        pushes.iter().all(|(p, _)| p != "FR/REC"),
        "a partner is not told about itself: {pushes:?}"
    );
    assert!(
        seen.iter().all(|t| t == "token-B-rec"),
        "the hub presents the partner's own token"
    );
}

/// A receiver that fails gets one attempt; the change is made all the same.
async fn a_failing_receiver_does_not_stop_a_change(app: TestApp) {
    let (receiver, _) = partner_platform::register_partner(
        &app,
        PartnerState::party("CPO", "FR", "REC", "token-B-rec", true),
    )
    .await;
    // From now on the partner refuses the hub's token.
    receiver.state.lock().unwrap().expected_tokens.clear();
    let pushed = app
        .app_state()
        .client_info
        .push(vec![(PartyKey::parse("NL", "ABC").unwrap(), Role::Emsp)])
        .await;
    assert_eq!((pushed.delivered, pushed.failed), (0, 1));
    suspend(&app, "NL", "ABC", true).await;
    assert_eq!(
        app.client_status("NL", "ABC").await.as_deref(),
        Some("SUSPENDED")
    );
    let got: Vec<(String, Value)> = receiver.state.lock().unwrap().client_infos.clone();
    assert!(got.is_empty(), "{got:?}");
}

on_both_backends!(
    every_way_in_and_out_has_its_status,
    any_registered_platform_reads_it_without_routing_headers,
    the_version_details_advertise_it,
    the_list_pages_and_filters_like_every_list,
    status_changes_are_pushed_to_receivers,
    a_failing_receiver_does_not_stop_a_change,
);
