//! Forwarding real-time authorizations to the owner eMSP (docs/design.md §6): every cell of the
//! whitelist matrix over HTTP, against a partner eMSP served in the test that answers ALLOWED,
//! NO_CREDIT, slowly, malformed or not at all; unknown uids routed by `OCPI-to-*` or an EMAID's
//! provider; hub errors 4001-4003; the circuit breaker and the in-flight bound.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokenhub::config::Config;
use tokenhub::domain::ids::PartyKey;
use tokenhub::service::parties::{change_settings, SettingsChange};

use crate::helpers::{read, token_json, Answer, TestApp};
use crate::partner_platform::{self, AuthorizeMode, Partner, PartnerState};
use crate::{on_both_backends, on_both_backends_with};

const PEM_TOKEN_B: &str = "token-B-for-pem";

/// Registers the partner eMSP BE*PEM (Tokens SENDER) over `version`, answering per `mode`;
/// returns it and its token C.
async fn partner_emsp(app: &TestApp, version: &str, mode: AuthorizeMode) -> (Partner, String) {
    partner_emsp_as(app, "PEM", version, mode).await
}

/// As [`partner_emsp`], the eMSP BE*`pid`.
async fn partner_emsp_as(
    app: &TestApp,
    pid: &str,
    version: &str,
    mode: AuthorizeMode,
) -> (Partner, String) {
    let mut state = PartnerState::party("EMSP", "BE", pid, PEM_TOKEN_B, false);
    state.versions = vec![if version == "2.2.1" { "2.2.1" } else { "2.3.0" }];
    state.authorize = mode;
    partner_platform::register_partner_over(app, state, version).await
}

/// A token of `cc`*`pid` with this whitelist and validity.
fn token(cc: &str, pid: &str, uid: &str, whitelist: &str, valid: bool) -> Value {
    let mut t = token_json(uid);
    t["country_code"] = json!(cc);
    t["party_id"] = json!(pid);
    t["whitelist"] = json!(whitelist);
    t["valid"] = json!(valid);
    t
}

/// The eMSP with `credentials` pushes `t` over 2.3.0.
async fn push(app: &TestApp, credentials: &str, t: Value) {
    let path = format!(
        "/ocpi/2.3.0/receiver/tokens/{}/{}/{}",
        t["country_code"].as_str().unwrap(),
        t["party_id"].as_str().unwrap(),
        t["uid"].as_str().unwrap()
    );
    let answer = app.call(Method::PUT, &path, credentials, Some(t)).await;
    assert_eq!(answer.status, 201, "{}", answer.message());
}

/// The CPO asks over `version`, with optional extra headers.
async fn ask(
    app: &TestApp,
    version: &str,
    uid: &str,
    query: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = app.request(
        Method::POST,
        &format!("/ocpi/{version}/sender/tokens/{uid}/authorize{query}"),
        &app.cpo,
    );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
}

fn allowed(answer: &Answer) -> String {
    answer.body["data"]["allowed"]
        .as_str()
        .unwrap_or("(none)")
        .to_owned()
}

async fn set(app: &TestApp, cc: &str, pid: &str, change: SettingsChange) {
    let key = PartyKey::parse(cc, pid).unwrap();
    change_settings(&app.app_state(), &key, None, change, "party.set")
        .await
        .unwrap();
}

fn calls(partner: &Partner) -> usize {
    partner.state.lock().unwrap().authorizations.len()
}

/// The newest audit entry.
async fn last_audit(app: &TestApp) -> crate::helpers::AuditEntry {
    app.audit_entries().await.into_iter().next().unwrap()
}

/// Every cell with an endpoint, the eMSP answering NO_CREDIT (the hub never answers that
/// itself, so a NO_CREDIT is the eMSP's), over OCPI 2.3.0 and 2.2.1.
async fn matrix_with_a_realtime_endpoint(app: TestApp) {
    let (partner, pem) =
        partner_emsp(&app, "2.3.0", AuthorizeMode::Answer("NO_CREDIT", None)).await;
    // (uid, whitelist, valid, expected allowed, forwarded)
    let cells = [
        ("ALW-T", "ALWAYS", true, "ALLOWED", false),
        ("ALW-F", "ALWAYS", false, "BLOCKED", false),
        ("ALD-T", "ALLOWED", true, "ALLOWED", false),
        ("ALD-F", "ALLOWED", false, "NO_CREDIT", true),
        ("OFF-T", "ALLOWED_OFFLINE", true, "NO_CREDIT", true),
        ("OFF-F", "ALLOWED_OFFLINE", false, "NO_CREDIT", true),
        ("NEV-T", "NEVER", true, "NO_CREDIT", true),
        ("NEV-F", "NEVER", false, "NO_CREDIT", true),
    ];
    for version in ["2.3.0", "2.2.1"] {
        for (uid, whitelist, valid, expect, forwarded) in cells {
            let uid = format!("{uid}-{}", version.replace('.', ""));
            push(&app, &pem, token("BE", "PEM", &uid, whitelist, valid)).await;
            let before = calls(&partner);
            let answer = ask(&app, version, &uid, "", None, &[]).await;
            assert_eq!(
                (answer.status, answer.ocpi_status(), allowed(&answer)),
                (200, 1000, expect.to_owned()),
                "{version} {whitelist} valid={valid}: {}",
                answer.body
            );
            assert_eq!(
                calls(&partner) - before,
                usize::from(forwarded),
                "{version} {whitelist} valid={valid}: forwarded?"
            );
            let audit = last_audit(&app).await;
            assert_eq!(
                audit.forwarded_to.as_deref(),
                forwarded.then_some("BE*PEM"),
                "{version} {whitelist} valid={valid}"
            );
            if forwarded {
                assert_eq!(audit.forward_outcome.as_deref(), Some("ANSWERED:NO_CREDIT"));
                assert_eq!(audit.reason.as_str(), "forwarded");
                assert!(audit.forward_ms.is_some());
                assert_eq!(
                    answer.body["data"]["info"]["text"],
                    "partner says NO_CREDIT"
                );
                assert_eq!(answer.header("ocpi-from-party-id").as_deref(), Some("PEM"));
            }
        }
    }

    // ALLOWED + valid is forwarded once the party asks for it (forward_allowed).
    set(
        &app,
        "BE",
        "PEM",
        SettingsChange {
            forward_allowed: Some(true),
            ..SettingsChange::default()
        },
    )
    .await;
    push(&app, &pem, token("BE", "PEM", "ALD-T-FWD", "ALLOWED", true)).await;
    let before = calls(&partner);
    let answer = ask(&app, "2.3.0", "ALD-T-FWD", "", None, &[]).await;
    assert_eq!(allowed(&answer), "NO_CREDIT");
    assert_eq!(calls(&partner) - before, 1);
}

/// Every cell without an endpoint (NL*ABC was added with `party add`): never forwarded.
async fn matrix_without_an_endpoint(app: TestApp) {
    let cells = [
        ("ALW-T", "ALWAYS", true, "ALLOWED"),
        ("ALW-F", "ALWAYS", false, "BLOCKED"),
        ("ALD-T", "ALLOWED", true, "ALLOWED"),
        ("ALD-F", "ALLOWED", false, "BLOCKED"),
        ("OFF-T", "ALLOWED_OFFLINE", true, "ALLOWED"),
        ("OFF-F", "ALLOWED_OFFLINE", false, "BLOCKED"),
        ("NEV-T", "NEVER", true, "NOT_ALLOWED"),
        ("NEV-F", "NEVER", false, "NOT_ALLOWED"),
    ];
    for version in ["2.3.0", "2.2.1"] {
        for (uid, whitelist, valid, expect) in cells {
            let uid = format!("{uid}-{}", version.replace('.', ""));
            push(&app, &app.emsp, token("NL", "ABC", &uid, whitelist, valid)).await;
            let answer = ask(&app, version, &uid, "", None, &[]).await;
            assert_eq!(
                (answer.status, allowed(&answer)),
                (200, expect.to_owned()),
                "{version} {whitelist} valid={valid}"
            );
            if whitelist == "NEVER" {
                assert_eq!(
                    answer.body["data"]["info"]["text"],
                    "eMSP offers no real-time authorization"
                );
            }
            assert_eq!(last_audit(&app).await.forwarded_to, None);
        }
    }
    // delegate_realtime: NEVER tokens of an eMSP without an endpoint are decided locally.
    set(
        &app,
        "NL",
        "ABC",
        SettingsChange {
            delegate_realtime: Some(true),
            ..SettingsChange::default()
        },
    )
    .await;
    push(&app, &app.emsp, token("NL", "ABC", "NEV-T2", "NEVER", true)).await;
    push(
        &app,
        &app.emsp,
        token("NL", "ABC", "NEV-F2", "NEVER", false),
    )
    .await;
    assert_eq!(
        allowed(&ask(&app, "2.3.0", "NEV-T2", "", None, &[]).await),
        "ALLOWED"
    );
    assert_eq!(
        allowed(&ask(&app, "2.3.0", "NEV-F2", "", None, &[]).await),
        "BLOCKED"
    );
}

/// A stopped eMSP: the matrix's "unreachable" column, the hold of a local ALLOWED included.
async fn unreachable_emsp_falls_back_per_the_matrix(app: TestApp) {
    let (partner, pem) = partner_emsp(&app, "2.3.0", AuthorizeMode::Answer("ALLOWED", None)).await;
    for (uid, whitelist, valid) in [
        ("U-OFF-T", "ALLOWED_OFFLINE", true),
        ("U-OFF-F", "ALLOWED_OFFLINE", false),
        ("U-ALD-F", "ALLOWED", false),
        ("U-NEV-T", "NEVER", true),
    ] {
        push(&app, &pem, token("BE", "PEM", uid, whitelist, valid)).await;
    }
    drop(partner);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let offline = ask(&app, "2.3.0", "U-OFF-T", "", None, &[]).await;
    assert_eq!(
        allowed(&offline),
        "ALLOWED",
        "ALLOWED_OFFLINE + valid: local ALLOWED"
    );
    assert_eq!(
        offline.body["data"]["authorization_reference"]
            .as_str()
            .map(str::len),
        Some(36),
        "with a hold of its own"
    );
    let audit = last_audit(&app).await;
    assert_eq!(audit.forward_outcome.as_deref(), Some("UNREACHABLE"));
    assert_eq!(audit.forwarded_to.as_deref(), Some("BE*PEM"));
    // The hold counts: a second use is refused by the hub itself, without asking.
    let again = ask(&app, "2.3.0", "U-OFF-T", "", None, &[]).await;
    assert_eq!(allowed(&again), "NOT_ALLOWED");
    assert_eq!(last_audit(&app).await.forwarded_to, None);

    assert_eq!(
        allowed(&ask(&app, "2.3.0", "U-OFF-F", "", None, &[]).await),
        "BLOCKED"
    );
    assert_eq!(
        allowed(&ask(&app, "2.3.0", "U-ALD-F", "", None, &[]).await),
        "BLOCKED"
    );
    let never = ask(&app, "2.3.0", "U-NEV-T", "", None, &[]).await;
    assert_eq!(allowed(&never), "NOT_ALLOWED");
    assert_eq!(never.body["data"]["info"]["text"], "eMSP not reachable");
    assert_eq!(last_audit(&app).await.reason.as_str(), "emsp_unreachable");
}

/// What the eMSP receives, and what the CPO gets back: the eMSP's reference, a hold under it.
async fn forwarded_request_and_answer(app: TestApp) {
    let (partner, pem) = partner_emsp(
        &app,
        "2.3.0",
        AuthorizeMode::Answer("ALLOWED", Some("emsp-ref-1")),
    )
    .await;
    push(&app, &pem, token("BE", "PEM", "FWD1", "NEVER", true)).await;
    let body = json!({"location_id": "LOC-9", "evse_uids": ["EVSE-1"]});
    let answer = ask(
        &app,
        "2.3.0",
        "fwd1",
        "?type=RFID",
        Some(body.clone()),
        &[
            ("X-Request-ID", "cpo-request-1"),
            ("X-Correlation-ID", "cpo-correlation-1"),
        ],
    )
    .await;
    assert_eq!(
        (answer.status, allowed(&answer)),
        (200, "ALLOWED".to_owned())
    );
    assert_eq!(answer.body["data"]["authorization_reference"], "emsp-ref-1");
    assert_eq!(answer.body["data"]["token"]["party_id"], "PEM");
    assert_eq!(
        answer.header("ocpi-from-country-code").as_deref(),
        Some("BE")
    );
    assert_eq!(answer.header("ocpi-to-party-id").as_deref(), Some("CPO"));

    let seen = partner.state.lock().unwrap().authorizations.clone();
    assert_eq!(seen.len(), 1);
    let call = &seen[0];
    assert_eq!(
        (call.version.as_str(), call.uid.as_str()),
        ("2.3.0", "fwd1")
    );
    assert_eq!(call.query, "type=RFID");
    assert_eq!(call.token, PEM_TOKEN_B, "the hub presents token B");
    assert_eq!(call.body.as_ref(), Some(&body), "the body as received");
    let h = |name: &str| call.headers.get(name).cloned().unwrap_or_default();
    assert!(!h("x-request-id").is_empty());
    assert_ne!(h("x-request-id"), "cpo-request-1", "a new X-Request-ID");
    assert_eq!(h("x-correlation-id"), "cpo-correlation-1");
    assert_eq!(
        (h("ocpi-from-country-code"), h("ocpi-from-party-id")),
        ("DE".into(), "CPO".into())
    );
    assert_eq!(
        (h("ocpi-to-country-code"), h("ocpi-to-party-id")),
        ("BE".into(), "PEM".into())
    );

    // The eMSP's ALLOWED took a hold: another EVSE is refused by the hub, the eMSP not asked.
    let elsewhere = ask(
        &app,
        "2.3.0",
        "FWD1",
        "",
        Some(json!({"location_id": "LOC-9", "evse_uids": ["EVSE-2"]})),
        &[],
    )
    .await;
    assert_eq!(allowed(&elsewhere), "NOT_ALLOWED");
    assert_eq!(calls(&partner), 1);
    let audit = app.audit_entries().await;
    assert_eq!(
        audit[1].authorization_reference.as_deref(),
        Some("emsp-ref-1")
    );
    assert_eq!(
        audit[1].forward_outcome.as_deref(),
        Some("ANSWERED:ALLOWED")
    );
}

/// Two CPO requests for one token while the eMSP thinks: it says ALLOWED to both, the hub's
/// second write finds the token in use and answers NOT_ALLOWED; the audit keeps both answers.
async fn emsp_allowed_but_in_use_by_then_is_not_allowed(app: TestApp) {
    let (_partner, pem) = partner_emsp(
        &app,
        "2.3.0",
        AuthorizeMode::Slow(Duration::from_millis(300), "ALLOWED"),
    )
    .await;
    push(&app, &pem, token("BE", "PEM", "RACE", "NEVER", true)).await;
    let (a, b) = tokio::join!(
        ask(&app, "2.3.0", "RACE", "", None, &[]),
        ask(&app, "2.3.0", "RACE", "", None, &[])
    );
    let mut answers = vec![allowed(&a), allowed(&b)];
    answers.sort();
    assert_eq!(answers, vec!["ALLOWED", "NOT_ALLOWED"]);
    let audit = app.audit_entries().await;
    let refused = audit
        .iter()
        .find(|e| e.result.as_str() == "NOT_ALLOWED")
        .unwrap();
    assert_eq!(refused.forward_outcome.as_deref(), Some("ANSWERED:ALLOWED"));
    assert_eq!(refused.reason.as_str(), "concurrent_use");
}

fn short_budget(config: &mut Config) {
    config.peers.forward_budget_ms = 300;
}

/// A slow eMSP: over the budget is unreachable (TIMEOUT); unknown uids get 504 / 4002.
async fn slow_emsp_is_over_budget(app: TestApp) {
    let (_partner, pem) = partner_emsp(
        &app,
        "2.3.0",
        AuthorizeMode::Slow(Duration::from_secs(3), "ALLOWED"),
    )
    .await;
    push(
        &app,
        &pem,
        token("BE", "PEM", "SLOW-OFF", "ALLOWED_OFFLINE", true),
    )
    .await;
    push(&app, &pem, token("BE", "PEM", "SLOW-NEV", "NEVER", true)).await;
    let offline = ask(&app, "2.3.0", "SLOW-OFF", "", None, &[]).await;
    assert_eq!(allowed(&offline), "ALLOWED", "over budget: local ALLOWED");
    let audit = last_audit(&app).await;
    assert_eq!(audit.forward_outcome.as_deref(), Some("TIMEOUT"));
    assert!(audit.forward_ms.unwrap() >= 300, "{:?}", audit.forward_ms);
    assert_eq!(
        allowed(&ask(&app, "2.3.0", "SLOW-NEV", "", None, &[]).await),
        "NOT_ALLOWED"
    );
    let unknown = ask(
        &app,
        "2.3.0",
        "NOT-PUSHED",
        "",
        None,
        &[("OCPI-to-country-code", "BE"), ("OCPI-to-party-id", "PEM")],
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.ocpi_status()),
        (504, 4002),
        "{}",
        unknown.body
    );
    assert!(
        unknown.message().contains("BE*PEM"),
        "{}",
        unknown.message()
    );
}

/// A malformed answer counts as no answer.
async fn malformed_answer_is_unreachable(app: TestApp) {
    let (_partner, pem) = partner_emsp(&app, "2.3.0", AuthorizeMode::Malformed).await;
    push(
        &app,
        &pem,
        token("BE", "PEM", "MAL-OFF", "ALLOWED_OFFLINE", true),
    )
    .await;
    push(&app, &pem, token("BE", "PEM", "MAL-ALD", "ALLOWED", false)).await;
    assert_eq!(
        allowed(&ask(&app, "2.3.0", "MAL-OFF", "", None, &[]).await),
        "ALLOWED"
    );
    assert_eq!(
        last_audit(&app).await.forward_outcome.as_deref(),
        Some("MALFORMED")
    );
    assert_eq!(
        allowed(&ask(&app, "2.3.0", "MAL-ALD", "", None, &[]).await),
        "BLOCKED"
    );
    let unknown = ask(
        &app,
        "2.3.0",
        "NOT-PUSHED",
        "",
        None,
        &[("OCPI-to-country-code", "BE"), ("OCPI-to-party-id", "PEM")],
    )
    .await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (502, 4003));
}

/// Unknown uids: `OCPI-to-*` naming no party is 4001; naming a realtime eMSP forwards (its
/// answer, its 2004 passed through); an EMAID finds its eMSP by its provider prefix; a stopped
/// eMSP is 4003; an eMSP without an endpoint is 2004.
async fn unknown_uids_are_routed(app: TestApp) {
    let (partner, _pem) =
        partner_emsp(&app, "2.3.0", AuthorizeMode::Answer("ALLOWED", Some("R-U"))).await;
    let to_pem = [("OCPI-to-country-code", "be"), ("OCPI-to-party-id", "pem")];
    let nobody = ask(
        &app,
        "2.3.0",
        "NEW1",
        "",
        None,
        &[("OCPI-to-country-code", "FR"), ("OCPI-to-party-id", "NOP")],
    )
    .await;
    assert_eq!((nobody.status, nobody.ocpi_status()), (404, 4001));
    assert_eq!(last_audit(&app).await.result.as_str(), "UNKNOWN_RECEIVER");

    let answered = ask(&app, "2.3.0", "NEW1", "", None, &to_pem).await;
    assert_eq!(
        (answered.status, allowed(&answered)),
        (200, "ALLOWED".to_owned())
    );
    assert_eq!(answered.body["data"]["authorization_reference"], "R-U");
    assert_eq!(answered.body["data"]["token"]["uid"], "NEW1");

    let emaid = ask(
        &app,
        "2.3.0",
        "BE-PEM-C12345678-9",
        "?type=EMAID",
        None,
        &[],
    )
    .await;
    assert_eq!(allowed(&emaid), "ALLOWED", "{}", emaid.body);
    assert_eq!(
        partner
            .state
            .lock()
            .unwrap()
            .authorizations
            .last()
            .unwrap()
            .query,
        "type=EMAID"
    );
    let before = calls(&partner);
    let over_2_2_1 = ask(
        &app,
        "2.2.1",
        "BE-PEM-C12345678-9",
        "?type=EMAID",
        None,
        &[],
    )
    .await;
    assert_eq!((over_2_2_1.status, over_2_2_1.ocpi_status()), (404, 2004));
    assert_eq!(
        calls(&partner),
        before,
        "2.2.1 cannot name an EMAID: not forwarded"
    );
    let no_provider = ask(
        &app,
        "2.3.0",
        "FR-NOP-C12345678-9",
        "?type=EMAID",
        None,
        &[],
    )
    .await;
    assert_eq!((no_provider.status, no_provider.ocpi_status()), (404, 2004));
    let without_endpoint = ask(
        &app,
        "2.3.0",
        "NEW2",
        "",
        None,
        &[("OCPI-to-country-code", "NL"), ("OCPI-to-party-id", "ABC")],
    )
    .await;
    assert_eq!(
        (without_endpoint.status, without_endpoint.ocpi_status()),
        (404, 2004)
    );

    partner.state.lock().unwrap().authorize = AuthorizeMode::Unknown;
    let unknown = ask(&app, "2.3.0", "NEW3", "", None, &to_pem).await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (404, 2004));
    assert!(unknown.body.get("data").is_none());
    assert_eq!(
        last_audit(&app).await.forward_outcome.as_deref(),
        Some("UNKNOWN_2004")
    );

    drop(partner);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = ask(&app, "2.3.0", "NEW4", "", None, &to_pem).await;
    assert_eq!((stopped.status, stopped.ocpi_status()), (502, 4003));
}

/// A 2.2.1 eMSP is asked on its own version (its 2.2.1 Tokens SENDER), and never about an EMAID.
async fn a_2_2_1_emsp_is_asked_over_2_2_1(app: TestApp) {
    let (partner, pem) =
        partner_emsp(&app, "2.2.1", AuthorizeMode::Answer("NO_CREDIT", None)).await;
    push(&app, &pem, token("BE", "PEM", "OLD1", "NEVER", true)).await;
    for version in ["2.2.1", "2.3.0"] {
        let answer = ask(&app, version, "OLD1", "", None, &[]).await;
        assert_eq!(allowed(&answer), "NO_CREDIT", "asked over {version}");
    }
    let seen = partner.state.lock().unwrap().authorizations.clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.version == "2.2.1"));
    let emaid = ask(
        &app,
        "2.3.0",
        "BE-PEM-C12345678-9",
        "?type=EMAID",
        None,
        &[],
    )
    .await;
    assert_eq!((emaid.status, emaid.ocpi_status()), (404, 2004));
    assert_eq!(calls(&partner), 2, "a 2.2.1 eMSP cannot know an EMAID");
}

fn breaker_after_two(config: &mut Config) {
    config.peers.breaker_failures = 2;
    config.peers.breaker_cooldown_ms = 500;
}

/// Waits (bounded) until hubclientinfo shows BE*`pid` with `status`.
async fn wait_for_status(app: &TestApp, pid: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = app.client_status("BE", pid).await;
        if now.as_deref() == Some(status) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "BE*{pid} is {now:?}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric_line(app: &TestApp, prefix: &str) -> Option<String> {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_owned)
}

/// Failures open the breaker (OFFLINE, no call, gauge 1); after the cool-down one probe closes it
/// when the eMSP answers (CONNECTED, gauge 0). The metrics are the process's, shared by every
/// test of this binary: the eMSP is one no other test (nor this one on the other backend) uses.
async fn breaker_opens_and_closes(app: TestApp) {
    let pid = match app.backend {
        crate::helpers::Backend::Sqlite => "BKS",
        crate::helpers::Backend::Postgres => "BKP",
    };
    let (partner, pem) = partner_emsp_as(&app, pid, "2.3.0", AuthorizeMode::Error).await;
    push(&app, &pem, token("BE", pid, "BRK", "NEVER", true)).await;
    for _ in 0..2 {
        assert_eq!(
            allowed(&ask(&app, "2.3.0", "BRK", "", None, &[]).await),
            "NOT_ALLOWED"
        );
    }
    assert_eq!(
        last_audit(&app).await.forward_outcome.as_deref(),
        Some("FAILED")
    );
    wait_for_status(&app, pid, "OFFLINE").await;
    let gauge = format!(r#"tokenhub_breaker_open{{partner="BE*{pid}"}}"#);
    assert_eq!(metric_line(&app, &gauge).await, Some(format!("{gauge} 1")));
    let before = calls(&partner);
    assert_eq!(
        allowed(&ask(&app, "2.3.0", "BRK", "", None, &[]).await),
        "NOT_ALLOWED"
    );
    assert_eq!(calls(&partner), before, "an open breaker does not call");
    assert_eq!(
        last_audit(&app).await.forward_outcome.as_deref(),
        Some("BREAKER_OPEN")
    );

    partner.state.lock().unwrap().authorize = AuthorizeMode::Answer("ALLOWED", None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        allowed(&ask(&app, "2.3.0", "BRK", "", None, &[]).await),
        "ALLOWED"
    );
    assert_eq!(calls(&partner), before + 1, "the half-open probe");
    wait_for_status(&app, pid, "CONNECTED").await;
    assert_eq!(metric_line(&app, &gauge).await, Some(format!("{gauge} 0")));
    let changes = app.changes().await;
    let breaker_changes: Vec<_> = changes
        .iter()
        .filter(|c| c.actor == "hub" && c.action == "partner.status")
        .map(|c| c.after.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        breaker_changes,
        vec![r#"{"status":"CONNECTED"}"#, r#"{"status":"OFFLINE"}"#],
        "newest first"
    );
    let counted = metric_line(
        &app,
        &format!(r#"tokenhub_forward_requests_total{{partner="BE*{pid}",outcome="breaker_open"}}"#),
    )
    .await;
    assert!(counted.is_some(), "forwards are counted by outcome");
}

fn one_in_flight(config: &mut Config) {
    config.peers.forward_max_in_flight = 1;
}

/// Over the in-flight bound a request is unreachable at once (BUSY), not queued.
async fn in_flight_bound_refuses_at_once(app: TestApp) {
    let (partner, pem) = partner_emsp(
        &app,
        "2.3.0",
        AuthorizeMode::Slow(Duration::from_millis(800), "ALLOWED"),
    )
    .await;
    push(&app, &pem, token("BE", "PEM", "BUSY1", "NEVER", true)).await;
    push(&app, &pem, token("BE", "PEM", "BUSY2", "NEVER", true)).await;
    let first = ask(&app, "2.3.0", "BUSY1", "", None, &[]);
    let second = async {
        // Sent once the first is in flight at the partner.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while calls(&partner) == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the first never arrived"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ask(&app, "2.3.0", "BUSY2", "", None, &[]).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(allowed(&first), "ALLOWED");
    assert_eq!(allowed(&second), "NOT_ALLOWED");
    assert_eq!(calls(&partner), 1);
    let outcomes: Vec<Option<String>> = app
        .audit_entries()
        .await
        .into_iter()
        .map(|e| e.forward_outcome)
        .collect();
    assert!(outcomes.contains(&Some("BUSY".into())), "{outcomes:?}");
}

on_both_backends!(
    matrix_with_a_realtime_endpoint,
    matrix_without_an_endpoint,
    unreachable_emsp_falls_back_per_the_matrix,
    forwarded_request_and_answer,
    emsp_allowed_but_in_use_by_then_is_not_allowed,
    malformed_answer_is_unreachable,
    unknown_uids_are_routed,
    a_2_2_1_emsp_is_asked_over_2_2_1,
);
on_both_backends_with!(short_budget => slow_emsp_is_over_budget);
on_both_backends_with!(breaker_after_two => breaker_opens_and_closes);
on_both_backends_with!(one_in_flight => in_flight_bound_refuses_at_once);
on_both_backends_with!(explicit => unknown_uids_need_an_agreement_under_explicit);

/// Under `hub.agreements = "explicit"` an unknown uid addressed to an eMSP the CPO has no
/// agreement with is not forwarded: it is unknown to that CPO (404 / 2004, `no_agreement`).
async fn unknown_uids_need_an_agreement_under_explicit(app: TestApp) {
    use tokenhub::service::agreements::{change, AgreementChange};
    let (partner, _pem) =
        partner_emsp(&app, "2.3.0", AuthorizeMode::Answer("ALLOWED", Some("R-A"))).await;
    let to_pem = [("OCPI-to-country-code", "BE"), ("OCPI-to-party-id", "PEM")];
    let refused = ask(&app, "2.3.0", "AGR-NEW", "", None, &to_pem).await;
    assert_eq!((refused.status, refused.ocpi_status()), (404, 2004));
    assert_eq!(last_audit(&app).await.reason.as_str(), "no_agreement");
    assert_eq!(
        calls(&partner),
        0,
        "asked on behalf of a CPO without an agreement"
    );

    let state = app.app_state_with(explicit);
    let cpo = PartyKey::parse("DE", "CPO").unwrap();
    let emsp = PartyKey::parse("BE", "PEM").unwrap();
    assert!(change(&state, AgreementChange::Add, &cpo, &emsp)
        .await
        .unwrap());
    let answered = ask(&app, "2.3.0", "AGR-NEW", "", None, &to_pem).await;
    assert_eq!(allowed(&answered), "ALLOWED", "{}", answered.body);
    assert_eq!(calls(&partner), 1);
}

fn explicit(config: &mut Config) {
    config.hub.agreements = tokenhub::domain::agreement::AgreementMode::Explicit;
}
