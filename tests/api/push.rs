//! Pushes (docs/design.md §6 "Push"): effective tokens to the CPOs' Tokens RECEIVER and sessions
//! to the eMSPs' Sessions RECEIVER, served by partner platforms in the test that record what
//! they got and fail on purpose when told; both OCPI versions of the receiving partner.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use tokenhub::config::Config;
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::partner::ConnectionStatus;
use tokenhub::domain::token::{TokenKey, TokenType};
use tokenhub::service::parties::{change_settings, SettingsChange};
use tokenhub::service::policy::{set_policy, PolicyChange, PolicyOutcome};
use tokenhub::store::outbox::Backlog;

use crate::helpers::{token_json, TestApp};
use crate::on_both_backends_with;
use crate::partner_platform::{self, Partner, PartnerState, Pushed};

/// Quick retries, so that the tests wait little.
fn fast_push(config: &mut Config) {
    config.push.poll_interval_ms = 20;
    config.push.retry_initial_ms = 50;
    config.push.retry_max_secs = 1;
    config.push.window_check_secs = 1;
}

/// A retry window of one second: a failing partner's entries are dropped quickly.
fn short_window(config: &mut Config) {
    fast_push(config);
    config.push.retry_window_secs = 1;
}

/// A CPO platform BE*PCP speaking `version`, with a Tokens RECEIVER, registered with the hub.
async fn cpo_receiver(app: &TestApp, version: &'static str) -> Partner {
    cpo_receiver_named(app, version, "PCP").await
}

/// The same as BE*`pid`: metrics are process-wide, so a test reading them has its own partner.
async fn cpo_receiver_named(app: &TestApp, version: &'static str, pid: &str) -> Partner {
    let mut state = PartnerState::party("CPO", "BE", pid, &format!("token-B-{pid}"), false);
    state.versions = vec![version];
    state.endpoints = vec![("credentials", "SENDER"), ("tokens", "RECEIVER")];
    partner_platform::register_partner(app, state).await.0
}

fn token_pushes(got: &[Pushed], uid: &str) -> Vec<Pushed> {
    got.iter()
        .filter(|p| p.module == "tokens" && p.object == format!("NL/ABC/{uid}"))
        .cloned()
        .collect()
}

async fn backlog(app: &TestApp) -> Vec<Backlog> {
    tokenhub::service::push::backlog(&app.store).await.unwrap()
}

async fn pending(app: &TestApp) -> i64 {
    backlog(app).await.iter().map(|b| b.pending).sum()
}

/// Waits (bounded) until nothing is pending: a delivery is completed just after the partner
/// answered.
async fn drained(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while pending(app).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {:?}",
            backlog(app).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

async fn a_put_reaches_every_cpo_from_the_hub(app: TestApp) {
    let p230 = cpo_receiver(&app, "2.3.0").await;
    let mut state = PartnerState::party("CPO", "FR", "OLD", "token-B-old", false);
    state.versions = vec!["2.2.1"];
    state.endpoints = vec![("credentials", "SENDER"), ("tokens", "RECEIVER")];
    let (p221, _) = partner_platform::register_partner(&app, state).await;

    let put = app.put_token(&token_json("PUSH1")).await;
    assert_eq!(put.ocpi_status(), 1000);
    let mut emaid = token_json("NL-ABC-C12345678-9");
    emaid["type"] = json!("EMAID");
    let put = app.put_token(&emaid).await;
    assert_eq!(put.ocpi_status(), 1000);

    for (partner, version, cpo) in [(&p230, "2.3.0", "BE*PCP"), (&p221, "2.2.1", "FR*OLD")] {
        let got = partner
            .wait_for("of PUSH1", |p| p.object == "NL/ABC/PUSH1")
            .await;
        let push = &token_pushes(&got, "PUSH1")[0];
        assert_eq!(push.version, version);
        assert_eq!(push.query, "type=RFID");
        assert_eq!((push.from.as_str(), push.to.as_str()), ("NL*HUB", cpo));
        assert_eq!(push.body["uid"], "PUSH1");
        assert_eq!(push.body["valid"], true);
        assert_eq!(push.body["last_updated"], "2026-01-01T10:00:00Z");
    }
    // 2.2.1 cannot name EMAID: the 2.3.0 CPO gets it, the 2.2.1 one never.
    p230.wait_for("of the EMAID token", |p| p.query == "type=EMAID")
        .await;
    drained(&app).await;
    assert!(
        p221.pushes().iter().all(|p| p.query != "type=EMAID"),
        "{:?}",
        p221.pushes()
    );
}

async fn quick_patches_coalesce_and_a_failing_cpo_gets_them_later(app: TestApp) {
    let partner = cpo_receiver(&app, "2.3.0").await;
    let put = app.put_token(&token_json("COAL1")).await;
    assert_eq!(put.ocpi_status(), 1000);
    partner
        .wait_for("of COAL1", |p| p.object == "NL/ABC/COAL1")
        .await;
    // The CPO fails from now on, while the eMSP changes the token 50 times.
    partner.state.lock().unwrap().fail_pushes = usize::MAX;
    let mut latest = String::new();
    for i in 1..=50 {
        latest = format!("2026-01-02T10:00:{i:02}.000Z");
        let patch = app
            .call(
                Method::PATCH,
                "/ocpi/2.3.0/receiver/tokens/NL/ABC/COAL1",
                &app.emsp,
                Some(json!({"language": "nl", "last_updated": latest})),
            )
            .await;
        assert_eq!((patch.status, patch.ocpi_status()), (200, 1000));
    }
    // One entry however many changes, retried while the CPO fails.
    let queued = backlog(&app).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].pending, 1, "{queued:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while partner.state.lock().unwrap().refused_pushes < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no retry");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    partner.state.lock().unwrap().fail_pushes = 0;
    partner
        .wait_for("of the latest version", |p| {
            p.body["last_updated"] == latest
        })
        .await;
    drained(&app).await;
    let got = partner.pushes();
    let seen: Vec<String> = token_pushes(&got, "COAL1")
        .iter()
        .map(|p| p.body["last_updated"].as_str().unwrap().to_owned())
        .collect();
    assert!(seen.len() <= 3, "coalesced: {seen:?}");
    let mut ordered = seen.clone();
    ordered.sort();
    assert_eq!(seen, ordered, "in order");
    assert_eq!(got.last().unwrap().body["language"], "nl");
}

async fn past_the_retry_window_entries_are_dropped_and_counted(app: TestApp) {
    let pid = match app.backend {
        crate::helpers::Backend::Sqlite => "DRS",
        crate::helpers::Backend::Postgres => "DRP",
    };
    let partner = cpo_receiver_named(&app, "2.3.0", pid).await;
    partner.state.lock().unwrap().fail_pushes = usize::MAX;
    let put = app.put_token(&token_json("DROP1")).await;
    assert_eq!(put.ocpi_status(), 1000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let dropped = loop {
        let b = backlog(&app).await;
        if let Some(b) = b.iter().find(|b| b.pending == 0 && !b.dropped.is_empty()) {
            break b.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "not dropped: {b:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dropped.partner, format!("BE*{pid}"));
    assert_eq!(dropped.dropped, vec![("expired".to_owned(), 1)]);
    assert!(partner.state.lock().unwrap().refused_pushes >= 2, "retried");
    assert!(partner.pushes().is_empty());
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            r#"tokenhub_push_dropped_total{{partner="BE*{pid}",reason="expired"}} 1"#
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(r#"tokenhub_push_backlog{{partner="BE*{pid}"}} 0"#)),
        "{metrics}"
    );
}

async fn nothing_is_queued_for_an_offline_cpo(app: TestApp) {
    let partner = cpo_receiver(&app, "2.3.0").await;
    partner.state.lock().unwrap().fail_pushes = usize::MAX;
    let put = app.put_token(&token_json("OFF1")).await;
    assert_eq!(put.ocpi_status(), 1000);
    assert_eq!(pending(&app).await, 1);
    let platform_id = platform_of(&app, "BE", "PCP").await;
    app.store
        .write(move |conn| {
            tokenhub::store::connections::set_status(
                conn,
                platform_id,
                ConnectionStatus::Connected,
                ConnectionStatus::Offline,
                Utc::now().naive_utc(),
            )
        })
        .await
        .unwrap();
    // What was pending goes (counted), and nothing new is queued.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let b = backlog(&app).await;
        if b.iter()
            .any(|b| b.pending == 0 && b.dropped == vec![("offline".to_owned(), 1)])
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not dropped: {b:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let put = app.put_token(&token_json("OFF2")).await;
    assert_eq!(put.ocpi_status(), 1000);
    assert_eq!(pending(&app).await, 0, "{:?}", backlog(&app).await);
}

async fn platform_of(app: &TestApp, cc: &str, pid: &str) -> i64 {
    let key = PartyKey::parse(cc, pid).unwrap();
    app.store
        .read(move |conn| {
            Ok(tokenhub::store::parties::find_party(
                conn,
                &key,
                tokenhub::domain::party::Role::Cpo,
            )?
            .expect("the party")
            .platform_id)
        })
        .await
        .unwrap()
}

fn key(uid: &str) -> TokenKey {
    TokenKey {
        owner: PartyKey::parse("NL", "ABC").unwrap(),
        uid: tokenhub::domain::ids::TokenUid::parse("uid", uid).unwrap(),
        token_type: TokenType::rfid(),
    }
}

async fn policy_changes_and_the_validity_window_are_pushed(app: TestApp) {
    let partner = cpo_receiver(&app, "2.3.0").await;
    let put = app.put_token(&token_json("POL1")).await;
    assert_eq!(put.ocpi_status(), 1000);
    partner
        .wait_for("of POL1", |p| p.object == "NL/ABC/POL1")
        .await;

    // A block: pushed at once, valid false, last_updated the change's.
    let before = Utc::now().trunc_subsecs(3);
    let blocked = PolicyChange {
        blocked: true,
        block_reason: Some("stolen".into()),
        ..PolicyChange::default()
    };
    let outcome = set_policy(&app.store, key("POL1"), blocked, "test".into())
        .await
        .unwrap();
    assert!(matches!(outcome, PolicyOutcome::Set { pushes: 1 }));
    let got = partner
        .wait_for("of the block", |p| p.body["valid"] == false)
        .await;
    let last = got.last().unwrap().body["last_updated"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last >= stamp(before), "{last} < {}", stamp(before));

    // A window opening in a moment and closing a moment later: the policy change itself is
    // pushed (not valid yet), then the opening and the closing, each at its instant.
    let from = (Utc::now() + TimeDelta::milliseconds(1500)).trunc_subsecs(3);
    let until = from + TimeDelta::milliseconds(1500);
    let window = PolicyChange {
        valid_from: Some(from),
        valid_until: Some(until),
        ..PolicyChange::default()
    };
    let outcome = set_policy(&app.store, key("POL1"), window, "test".into())
        .await
        .unwrap();
    assert!(matches!(outcome, PolicyOutcome::Set { .. }));
    let got = partner
        .wait_for("of the window opening", |p| {
            p.body["last_updated"] == stamp(from) && p.body["valid"] == true
        })
        .await;
    assert!(
        got.iter()
            .any(|p| p.body["valid"] == false
                && p.body["last_updated"].as_str() < Some(&stamp(from))),
        "the policy change was pushed before the window opened: {got:#?}"
    );
    partner
        .wait_for("of the window closing", |p| {
            p.body["last_updated"] == stamp(until) && p.body["valid"] == false
        })
        .await;
    // The sender list serves the same.
    let list = app
        .call(Method::GET, "/ocpi/2.3.0/sender/tokens", &app.cpo, None)
        .await;
    let served = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["uid"] == "POL1")
        .unwrap()
        .clone();
    assert_eq!(served["valid"], false);
    assert_eq!(served["last_updated"], stamp(until));
}

async fn suspending_the_emsp_pushes_each_of_its_tokens(app: TestApp) {
    let partner = cpo_receiver(&app, "2.2.1").await;
    for uid in ["SUS1", "SUS2", "SUS3"] {
        assert_eq!(app.put_token(&token_json(uid)).await.ocpi_status(), 1000);
    }
    partner
        .wait_for("of SUS3", |p| p.object == "NL/ABC/SUS3")
        .await;
    let change = SettingsChange {
        suspended: Some(true),
        ..SettingsChange::default()
    };
    change_settings(
        &app.app_state(),
        &PartyKey::parse("NL", "ABC").unwrap(),
        None,
        change,
        "party.suspend",
    )
    .await
    .unwrap();
    for uid in ["SUS1", "SUS2", "SUS3"] {
        partner
            .wait_for("of the suspension", |p| {
                p.object == format!("NL/ABC/{uid}") && p.body["valid"] == false
            })
            .await;
    }
    assert_eq!(partner.pushes().len(), 6, "{:#?}", partner.pushes());
}

async fn sessions_reach_the_emsp_of_their_token(app: TestApp) {
    for (version, pid) in [("2.3.0", "PEM"), ("2.2.1", "PEO")] {
        let mut state = PartnerState::party("EMSP", "BE", pid, &format!("token-B-{pid}"), false);
        state.versions = vec![version];
        let (emsp, _) = partner_platform::register_partner(&app, state).await;
        let mut session = crate::helpers::session_json(&format!("S-{pid}"), "X1", "ACTIVE", None);
        session["cdr_token"]["country_code"] = json!("BE");
        session["cdr_token"]["party_id"] = json!(pid);
        session["total_cost"] =
            json!({"before_taxes": 10.0, "taxes": [{"name": "VAT", "amount": 2.1}]});
        let put = app
            .call(
                Method::PUT,
                &format!("/ocpi/2.3.0/receiver/sessions/DE/CPO/S-{pid}"),
                &app.cpo,
                Some(session),
            )
            .await;
        assert_eq!(put.ocpi_status(), 1000, "{}", put.message());
        let got = emsp
            .wait_for("of the session", |p| p.module == "sessions")
            .await;
        let push = &got[0];
        assert_eq!(push.version, version);
        assert_eq!(push.object, format!("DE/CPO/S-{pid}"));
        assert_eq!(
            (push.from.as_str(), push.to.as_str()),
            ("DE*CPO", &*format!("BE*{pid}"))
        );
        assert_eq!(push.body["status"], "ACTIVE");
        // Each eMSP gets its own version's Price.
        let cost = &push.body["total_cost"];
        match version {
            "2.2.1" => assert_eq!(
                (cost["excl_vat"].as_f64(), cost["incl_vat"].as_f64()),
                (Some(10.0), Some(12.1)),
                "{cost}"
            ),
            _ => assert_eq!(cost["before_taxes"].as_f64(), Some(10.0), "{cost}"),
        }
    }
    // A session of a token whose eMSP takes no sessions queues nothing.
    drained(&app).await;
    let put = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-NONE",
            &app.cpo,
            Some(crate::helpers::session_json("S-NONE", "X2", "ACTIVE", None)),
        )
        .await;
    assert_eq!(put.ocpi_status(), 1000);
    assert_eq!(pending(&app).await, 0);
}

on_both_backends_with!(fast_push =>
    a_put_reaches_every_cpo_from_the_hub,
    quick_patches_coalesce_and_a_failing_cpo_gets_them_later,
    nothing_is_queued_for_an_offline_cpo,
    policy_changes_and_the_validity_window_are_pushed,
    suspending_the_emsp_pushes_each_of_its_tokens,
    sessions_reach_the_emsp_of_their_token,
);
on_both_backends_with!(short_window => past_the_retry_window_entries_are_dropped_and_counted);
on_both_backends_with!(explicit_fast =>
    explicit_agreements_choose_who_gets_pushes,
    an_import_pushes_each_changed_token_once,
);

/// Under `hub.agreements = "explicit"` a token goes only to the CPOs with an agreement with its
/// eMSP (checked at delivery, so an agreement made later lets the next change through).
async fn explicit_agreements_choose_who_gets_pushes(app: TestApp) {
    use tokenhub::service::agreements::{change, AgreementChange};
    let agreed = cpo_receiver_named(&app, "2.3.0", "PCA").await;
    let other = cpo_receiver_named(&app, "2.3.0", "PCB").await;
    let state = app.app_state_with(explicit_fast);
    let emsp = PartyKey::parse("NL", "ABC").unwrap();
    let pca = PartyKey::parse("BE", "PCA").unwrap();
    assert!(change(&state, AgreementChange::Add, &pca, &emsp)
        .await
        .unwrap());

    let put = app.put_token(&token_json("AGR1")).await;
    assert_eq!(put.ocpi_status(), 1000);
    agreed
        .wait_for("of AGR1", |p| p.object == "NL/ABC/AGR1")
        .await;
    drained(&app).await;
    assert!(
        token_pushes(&other.pushes(), "AGR1").is_empty(),
        "a CPO without an agreement got a push: {:?}",
        other.pushes()
    );

    let pcb = PartyKey::parse("BE", "PCB").unwrap();
    assert!(change(&state, AgreementChange::Add, &pcb, &emsp)
        .await
        .unwrap());
    let patch = app
        .call(
            Method::PATCH,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/AGR1",
            &app.emsp,
            Some(json!({"language": "de", "last_updated": "2026-01-03T10:00:00Z"})),
        )
        .await;
    assert_eq!((patch.status, patch.ocpi_status()), (200, 1000));
    let got = other
        .wait_for("of AGR1 once agreed", |p| p.object == "NL/ABC/AGR1")
        .await;
    assert_eq!(token_pushes(&got, "AGR1")[0].body["language"], "de");
}

/// An import queues one push per token it changed (created or replaced), none for an unchanged
/// or stale line, for the CPO with an agreement with the eMSP; a key on several lines of one
/// batch is pushed once, as its last line left it.
async fn an_import_pushes_each_changed_token_once(app: TestApp) {
    use tokenhub::service::agreements::{change, AgreementChange};
    let agreed = cpo_receiver_named(&app, "2.3.0", "PCI").await;
    let state = app.app_state_with(explicit_fast);
    let emsp = PartyKey::parse("NL", "ABC").unwrap();
    let pci = PartyKey::parse("BE", "PCI").unwrap();
    assert!(change(&state, AgreementChange::Add, &pci, &emsp)
        .await
        .unwrap());
    crate::admin::store_older_and_newer(&app).await;
    agreed
        .wait_for("of NEWER", |p| p.object == "NL/ABC/NEWER")
        .await;
    drained(&app).await;
    let before = agreed.pushes().len();

    let (file, counts) = crate::admin::repeated_and_stored_lines();
    let write = crate::admin::bearer(&app, "tokens:write").await;
    let done = crate::admin::post_ndjson(&app, &write, "", file).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["counts"], counts);
    agreed
        .wait_for("of REP2", |p| p.object == "NL/ABC/REP2")
        .await;
    drained(&app).await;
    let after: Vec<Pushed> = agreed.pushes()[before..].to_vec();
    for uid in ["REP1", "TWICE", "OLDER", "REP2"] {
        assert_eq!(token_pushes(&after, uid).len(), 1, "{uid}: {after:?}");
    }
    assert!(token_pushes(&after, "NEWER").is_empty(), "{after:?}");
    assert_eq!(after.len(), 4, "{after:?}");
    let twice = &token_pushes(&after, "TWICE")[0];
    assert_eq!(twice.body["last_updated"], "2026-02-02T00:00:00Z");
    assert_eq!(twice.body["valid"], false);
}

fn explicit_fast(config: &mut Config) {
    fast_push(config);
    config.hub.agreements = tokenhub::domain::agreement::AgreementMode::Explicit;
}

/// Two instances on one PostgreSQL database deliver each change once: a second delivery of the
/// same version would show as a duplicate (uid, last_updated) at the CPO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_entry_once() {
    let Some(app) =
        crate::helpers::spawn_app_with(crate::helpers::Backend::Postgres, fast_push).await
    else {
        return;
    };
    let partner = cpo_receiver(&app, "2.3.0").await;
    let _sibling = app.spawn_sibling().await;
    const TOKENS: usize = 300;
    for i in 0..TOKENS {
        let put = app.put_token(&token_json(&format!("TWO{i:04}"))).await;
        assert_eq!(put.ocpi_status(), 1000);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while partner.pushes().len() < TOKENS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {TOKENS} delivered",
            partner.pushes().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything still in flight lands now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = partner.pushes();
    let mut seen: Vec<(String, Value)> = got
        .iter()
        .map(|p| (p.object.clone(), p.body["last_updated"].clone()))
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    seen.dedup();
    assert_eq!(seen.len(), TOKENS);
    assert_eq!(
        got.len(),
        TOKENS,
        "duplicates: {} extra",
        got.len() - TOKENS
    );
}
