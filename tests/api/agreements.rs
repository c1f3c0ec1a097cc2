//! Roaming agreements (`hub.agreements`): under `explicit` only the (CPO, eMSP) pairs the
//! operator recorded see each other's tokens, authorize, and show each other CONNECTED in
//! hubclientinfo; under `open` (the default) agreements change nothing. Both OCPI versions.

use reqwest::Method;
use serde_json::json;
use tokenhub::config::Config;
use tokenhub::domain::agreement::AgreementMode;
use tokenhub::domain::authorization::{AuditResult, Reason};
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;
use tokenhub::service::agreements::{self, AgreementChange, AgreementError};
use tokenhub::store::agreements as store;

use crate::helpers::{token_json, Answer, TestApp};
use crate::partner_platform::{self, PartnerState};
use crate::{on_both_backends, on_both_backends_with};

fn explicit(config: &mut Config) {
    config.hub.agreements = AgreementMode::Explicit;
}

fn key(party: &str) -> PartyKey {
    let (cc, pid) = party.split_once('*').unwrap();
    PartyKey::parse(cc, pid).unwrap()
}

/// Adds or removes an agreement as `tokenhub agreement add|remove` does, with the hub's mode.
async fn set_agreement(app: &TestApp, change: AgreementChange, cpo: &str, emsp: &str) -> bool {
    let state = app.app_state_with(explicit);
    agreements::change(&state, change, &key(cpo), &key(emsp))
        .await
        .unwrap()
}

async fn agree(app: &TestApp, cpo: &str, emsp: &str) {
    assert!(set_agreement(app, AgreementChange::Add, cpo, emsp).await);
}

async fn list(app: &TestApp, version: &str, token: &str, query: &str) -> Answer {
    let path = format!("/ocpi/{version}/sender/tokens{query}");
    let answer = app.call(Method::GET, &path, token, None).await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 1000), "{path}");
    answer
}

fn uids(answer: &Answer) -> Vec<String> {
    answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}*{}/{}",
                t["country_code"].as_str().unwrap(),
                t["party_id"].as_str().unwrap(),
                t["uid"].as_str().unwrap()
            )
        })
        .collect()
}

/// Every page of the CPO's list over `version`, `limit` at a time, following `Link`; checks
/// that each page states `total`.
async fn crawl(app: &TestApp, version: &str, limit: usize, total: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut query = format!("?limit={limit}");
    loop {
        let page = list(app, version, &app.cpo, &query).await;
        assert_eq!(
            page.header("x-total-count"),
            Some(total.to_string()),
            "{query}"
        );
        seen.extend(uids(&page));
        match page.header("link") {
            Some(link) => {
                let next = link.split('?').nth(1).unwrap().split('>').next().unwrap();
                query = format!("?{next}");
            }
            None => return seen,
        }
    }
}

/// Three tokens of NL*ABC, then two of BE*EMP, then one more of NL*ABC and an EMAID token of
/// NL*ABC (which OCPI 2.2.1 cannot name): the creation order interleaves the two eMSPs.
async fn seed_two_emsps(app: &TestApp) -> String {
    let be = app.add_emsp("BE", "EMP").await;
    app.seed_tokens("NL", "ABC", "A", 3).await;
    app.seed_tokens("BE", "EMP", "B", 2).await;
    app.seed_tokens("NL", "ABC", "C", 1).await;
    app.seed_typed_tokens(&[("EM0".to_owned(), "EMAID")]).await;
    be
}

/// `tokens` as OCPI 2.2.1 lists them: without the EMAID token.
fn in_2_2_1(tokens: &[&'static str]) -> Vec<&'static str> {
    tokens
        .iter()
        .copied()
        .filter(|t| !t.ends_with("/EM0"))
        .collect()
}

async fn explicit_lists_only_tokens_of_agreed_emsps(app: TestApp) {
    let be = seed_two_emsps(&app).await;
    for version in ["2.3.0", "2.2.1"] {
        let none = list(&app, version, &app.cpo, "").await;
        assert_eq!(uids(&none), Vec::<String>::new(), "{version}");
        assert_eq!(none.header("x-total-count").as_deref(), Some("0"));
    }
    agree(&app, "DE*CPO", "NL*ABC").await;
    let nl = [
        "NL*ABC/A00000",
        "NL*ABC/A00001",
        "NL*ABC/A00002",
        "NL*ABC/C00000",
        "NL*ABC/EM0",
    ];
    assert_eq!(crawl(&app, "2.3.0", 2, 5).await, nl);
    assert_eq!(crawl(&app, "2.2.1", 2, 4).await, in_2_2_1(&nl));
    // Two agreed eMSPs: the pages interleave them in creation order.
    agree(&app, "DE*CPO", "BE*EMP").await;
    let both = [
        "NL*ABC/A00000",
        "NL*ABC/A00001",
        "NL*ABC/A00002",
        "BE*EMP/B00000",
        "BE*EMP/B00001",
        "NL*ABC/C00000",
        "NL*ABC/EM0",
    ];
    assert_eq!(crawl(&app, "2.3.0", 2, 7).await, both);
    assert_eq!(crawl(&app, "2.2.1", 2, 6).await, in_2_2_1(&both));
    for (version, total) in [("2.3.0", "7"), ("2.2.1", "6")] {
        let dated = list(
            &app,
            version,
            &app.cpo,
            "?date_from=2025-12-31T00:00:00Z&offset=3&limit=2",
        )
        .await;
        assert_eq!(uids(&dated), ["BE*EMP/B00000", "BE*EMP/B00001"]);
        assert_eq!(dated.header("x-total-count").as_deref(), Some(total));
        let until = list(
            &app,
            version,
            &app.cpo,
            "?date_to=2026-06-01T00:00:00Z&offset=5",
        )
        .await;
        let rest = if version == "2.3.0" {
            &both[5..]
        } else {
            &both[5..6]
        };
        assert_eq!(uids(&until), rest, "{version}");
        let none = list(&app, version, &app.cpo, "?date_from=2026-06-01T00:00:00Z").await;
        assert_eq!(none.header("x-total-count").as_deref(), Some("0"));
    }
    // An eMSP still sees its own tokens only, agreement or not.
    let own = list(&app, "2.3.0", &be, "").await;
    assert_eq!(uids(&own), ["BE*EMP/B00000", "BE*EMP/B00001"]);
    assert!(set_agreement(&app, AgreementChange::Remove, "DE*CPO", "NL*ABC").await);
    assert_eq!(
        crawl(&app, "2.3.0", 10, 2).await,
        ["BE*EMP/B00000", "BE*EMP/B00001"]
    );
}

async fn authorize(app: &TestApp, version: &str, uid: &str) -> Answer {
    app.call(
        Method::POST,
        &format!("/ocpi/{version}/sender/tokens/{uid}/authorize"),
        &app.cpo,
        // The same EVSE each time: a retry, not a second use of the token.
        Some(json!({"location_id": "LOC1", "evse_uids": ["EVSE1"]})),
    )
    .await
}

async fn explicit_authorize_answers_unknown_without_agreement(app: TestApp) {
    assert_eq!(app.put_token(&token_json("T1")).await.status, 201);
    for version in ["2.3.0", "2.2.1"] {
        let refused = authorize(&app, version, "T1").await;
        assert_eq!(
            (refused.status, refused.ocpi_status()),
            (404, 2004),
            "{version}"
        );
        assert!(refused.body.get("data").is_none_or(|d| d.is_null()));
        let audit = &app.audit_entries().await[0];
        assert_eq!(
            (audit.result, audit.reason),
            (AuditResult::Unknown, Reason::NoAgreement)
        );
        assert_eq!(audit.token_country_code.as_deref(), Some("NL"));
        assert_eq!(audit.requester_party_id, "CPO");
    }
    // A token nobody holds stays an ordinary unknown token.
    let unknown = authorize(&app, "2.3.0", "NOSUCH").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(app.audit_entries().await[0].reason, Reason::UnknownToken);
    agree(&app, "DE*CPO", "NL*ABC").await;
    for version in ["2.3.0", "2.2.1"] {
        let allowed = authorize(&app, version, "T1").await;
        assert_eq!(
            (allowed.status, allowed.ocpi_status()),
            (200, 1000),
            "{version}"
        );
        assert_eq!(allowed.body["data"]["allowed"], "ALLOWED", "{version}");
    }
}

/// Two eMSPs hold TWIN; the CPO deals with one of them: that one is meant, not ambiguous.
async fn explicit_authorize_picks_the_agreed_emsp_of_a_shared_uid(app: TestApp) {
    app.push_twin_tokens().await;
    agree(&app, "DE*CPO", "BE*EMP").await;
    let allowed = authorize(&app, "2.3.0", "TWIN").await;
    assert_eq!((allowed.status, allowed.ocpi_status()), (200, 1000));
    assert_eq!(allowed.body["data"]["token"]["party_id"], "EMP");
    assert_eq!(allowed.header("ocpi-from-party-id").as_deref(), Some("EMP"));
    // Named with OCPI-to-*, the other eMSP is unknown to this CPO.
    let named = app
        .request(
            Method::POST,
            "/ocpi/2.3.0/sender/tokens/TWIN/authorize",
            &app.cpo,
        )
        .header("OCPI-to-country-code", "NL")
        .header("OCPI-to-party-id", "ABC")
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 404);
    assert_eq!(app.audit_entries().await[0].reason, Reason::NoAgreement);
}

async fn client_status(app: &TestApp, version: &str, token: &str, party: &str) -> String {
    let answer = app
        .call(
            Method::GET,
            &format!("/ocpi/{version}/hubclientinfo?limit=1000"),
            token,
            None,
        )
        .await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 1000));
    let (cc, pid) = party.split_once('*').unwrap();
    let info = answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["country_code"] == cc && c["party_id"] == pid)
        .unwrap_or_else(|| panic!("{party} is not listed"))
        .clone();
    info["status"].as_str().unwrap().to_owned()
}

async fn explicit_hubclientinfo_shows_planned_without_agreement(app: TestApp) {
    let other_cpo = app.add_cpo("FR", "CPO").await;
    for version in ["2.3.0", "2.2.1"] {
        assert_eq!(
            client_status(&app, version, &app.cpo, "NL*ABC").await,
            "PLANNED"
        );
        assert_eq!(
            client_status(&app, version, &app.emsp, "DE*CPO").await,
            "PLANNED"
        );
        // Agreements bind CPOs to eMSPs only; every party sees itself as it is.
        assert_eq!(
            client_status(&app, version, &app.cpo, "FR*CPO").await,
            "CONNECTED"
        );
        assert_eq!(
            client_status(&app, version, &app.cpo, "DE*CPO").await,
            "CONNECTED"
        );
    }
    let before = app
        .call(Method::GET, "/ocpi/2.3.0/hubclientinfo", &app.emsp, None)
        .await;
    agree(&app, "DE*CPO", "NL*ABC").await;
    for version in ["2.3.0", "2.2.1"] {
        assert_eq!(
            client_status(&app, version, &app.cpo, "NL*ABC").await,
            "CONNECTED"
        );
        assert_eq!(
            client_status(&app, version, &app.emsp, "DE*CPO").await,
            "CONNECTED"
        );
        assert_eq!(
            client_status(&app, version, &other_cpo, "NL*ABC").await,
            "PLANNED"
        );
        assert_eq!(
            client_status(&app, version, &app.emsp, "FR*CPO").await,
            "PLANNED"
        );
    }
    // The change moved the two parties' last_updated: a pull with date_from sees it.
    let stamp = |answer: &Answer, pid: &str| {
        answer.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["party_id"] == pid)
            .unwrap()["last_updated"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let after = app
        .call(Method::GET, "/ocpi/2.3.0/hubclientinfo", &app.emsp, None)
        .await;
    assert!(stamp(&after, "CPO") > stamp(&before, "CPO"));
    let since = format!(
        "/ocpi/2.3.0/hubclientinfo?date_from={}",
        stamp(&after, "CPO")
    );
    let changed = app.call(Method::GET, &since, &app.emsp, None).await;
    let parties: Vec<_> = changed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["party_id"].clone())
        .collect();
    assert_eq!(parties.len(), 2, "{parties:?}");
    assert!(set_agreement(&app, AgreementChange::Remove, "DE*CPO", "NL*ABC").await);
    assert_eq!(
        client_status(&app, "2.3.0", &app.cpo, "NL*ABC").await,
        "PLANNED"
    );
}

/// Each partner of an agreement that takes hubclientinfo hears of the other's new status.
async fn agreement_changes_are_pushed_to_both_partners(app: TestApp) {
    let (cpo, _) = partner_platform::register_partner(
        &app,
        PartnerState::party("CPO", "FR", "REC", "token-B-rec", true),
    )
    .await;
    let (emsp, _) = partner_platform::register_partner(
        &app,
        PartnerState::party("EMSP", "BE", "PEM", "token-B-pem", true),
    )
    .await;
    cpo.wait_for_push("BE/PEM", "PLANNED").await;
    agree(&app, "FR*REC", "BE*PEM").await;
    cpo.wait_for_push("BE/PEM", "CONNECTED").await;
    emsp.wait_for_push("FR/REC", "CONNECTED").await;
    assert!(set_agreement(&app, AgreementChange::Remove, "FR*REC", "BE*PEM").await);
    cpo.wait_for_push("BE/PEM", "PLANNED").await;
    emsp.wait_for_push("FR/REC", "PLANNED").await;
    let pushed: Vec<String> = cpo
        .state
        .lock()
        .unwrap()
        .client_infos
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert!(
        pushed.iter().all(|p| p != "FR/REC"),
        "not told about itself: {pushed:?}"
    );
}

/// Each change is in the change log once (actor `operator`); the parties' roles are checked.
async fn agreements_are_audited_and_checked(app: TestApp) {
    agree(&app, "DE*CPO", "NL*ABC").await;
    assert!(
        !set_agreement(&app, AgreementChange::Add, "de*cpo", "nl*abc").await,
        "idempotent"
    );
    assert!(set_agreement(&app, AgreementChange::Remove, "DE*CPO", "NL*ABC").await);
    assert!(!set_agreement(&app, AgreementChange::Remove, "DE*CPO", "NL*ABC").await);
    let changes: Vec<_> = app
        .changes()
        .await
        .into_iter()
        .filter(|c| c.action.starts_with("agreement."))
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let (removed, added) = (&changes[0], &changes[1]);
    assert_eq!(
        (added.action.as_str(), removed.action.as_str()),
        ("agreement.add", "agreement.remove")
    );
    for change in &changes {
        assert_eq!(change.actor, "operator");
        assert_eq!(change.subject, "agreement:DE*CPO:NL*ABC");
    }
    assert_eq!(added.before, None);
    assert_eq!(
        added.after.as_deref(),
        Some(r#"{"cpo":"DE*CPO","emsp":"NL*ABC"}"#)
    );
    assert_eq!(removed.after, None);
    let state = app.app_state_with(explicit);
    for (cpo, emsp, wrong, role) in [
        ("NL*ABC", "NL*ABC", "NL*ABC", Role::Cpo),
        ("DE*CPO", "DE*CPO", "DE*CPO", Role::Emsp),
        ("DE*CPO", "XX*NOP", "XX*NOP", Role::Emsp),
    ] {
        let err = agreements::change(&state, AgreementChange::Add, &key(cpo), &key(emsp))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AgreementError::NotAParty { key: k, role: r } if *k == key(wrong) && *r == role),
            "{err}"
        );
    }
    assert!(agreements::list(&app.store, None, None)
        .await
        .unwrap()
        .is_empty());
}

/// The two questions other parts of the hub ask (the push's recipients among others).
async fn may_deal_and_recipients_follow_the_mode(app: TestApp) {
    app.add_cpo("FR", "CPO").await;
    agree(&app, "FR*CPO", "NL*ABC").await;
    let candidates = vec![key("DE*CPO"), key("FR*CPO"), key("BE*CPO")];
    for (mode, expected) in [
        (
            AgreementMode::Open,
            vec![key("DE*CPO"), key("FR*CPO"), key("BE*CPO")],
        ),
        (AgreementMode::Explicit, vec![key("FR*CPO")]),
    ] {
        let candidates = candidates.clone();
        let (recipients, fr, de) = app
            .store
            .read(move |conn| {
                let emsp = key("NL*ABC");
                Ok((
                    store::cpos_for_emsp(conn, mode, &emsp, candidates)?,
                    store::may_deal(conn, mode, &key("FR*CPO"), &emsp)?,
                    store::may_deal(conn, mode, &key("DE*CPO"), &emsp)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(recipients, expected, "{mode:?}");
        assert!(fr, "{mode:?}");
        assert_eq!(de, mode == AgreementMode::Open, "{mode:?}");
    }
}

/// Under `open` every CPO deals with every eMSP: recorded agreements change nothing.
async fn open_mode_lets_every_pair_deal(app: TestApp) {
    app.add_cpo("FR", "CPO").await;
    agree(&app, "FR*CPO", "NL*ABC").await;
    assert_eq!(app.put_token(&token_json("T1")).await.status, 201);
    let page = list(&app, "2.3.0", &app.cpo, "").await;
    assert_eq!(uids(&page), ["NL*ABC/T1"]);
    assert_eq!(
        authorize(&app, "2.3.0", "T1").await.body["data"]["allowed"],
        "ALLOWED"
    );
    assert_eq!(
        client_status(&app, "2.3.0", &app.cpo, "NL*ABC").await,
        "CONNECTED"
    );
    assert_eq!(
        client_status(&app, "2.3.0", &app.emsp, "DE*CPO").await,
        "CONNECTED"
    );
}

on_both_backends_with!(explicit =>
    explicit_lists_only_tokens_of_agreed_emsps,
    explicit_authorize_answers_unknown_without_agreement,
    explicit_authorize_picks_the_agreed_emsp_of_a_shared_uid,
    explicit_hubclientinfo_shows_planned_without_agreement,
    agreement_changes_are_pushed_to_both_partners,
    agreements_are_audited_and_checked,
);

on_both_backends!(
    open_mode_lets_every_pair_deal,
    may_deal_and_recipients_follow_the_mode,
);
