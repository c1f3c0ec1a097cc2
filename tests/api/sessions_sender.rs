//! The sessions sender (hub → eMSP): an eMSP pulls the sessions of its own tokens, whichever CPO
//! pushed them and over whichever version, paginated, `date_from` required; a CPO pulls its own.
//! Both OCPI versions, each in its own `Price` shape.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{session_json, validate_session_2_2_1, Answer, TestApp};
use crate::on_both_backends;

const SINCE: &str = "date_from=2025-01-01T00:00:00Z";

/// Pushes `session` (of CPO `cc`*`pid`, whose credentials token is `token`) over `version`.
async fn push(app: &TestApp, version: &str, token: &str, session: Value) {
    let path = format!(
        "/ocpi/{version}/receiver/sessions/{}/{}/{}",
        session["country_code"].as_str().unwrap(),
        session["party_id"].as_str().unwrap(),
        session["id"].as_str().unwrap()
    );
    let answer = app.call(Method::PUT, &path, token, Some(session)).await;
    assert_eq!(
        (answer.status, answer.ocpi_status()),
        (201, 1000),
        "{}",
        answer.message()
    );
}

/// A session of CPO `cpo` (`CC*PID`) for a token of eMSP `emsp`, last updated at `at`.
fn session(id: &str, cpo: &str, emsp: &str, at: &str) -> Value {
    let mut s = session_json(id, "TOK1", "ACTIVE", None);
    let (cc, pid) = cpo.split_once('*').unwrap();
    s["country_code"] = json!(cc);
    s["party_id"] = json!(pid);
    let (cc, pid) = emsp.split_once('*').unwrap();
    s["cdr_token"]["country_code"] = json!(cc);
    s["cdr_token"]["party_id"] = json!(pid);
    s["last_updated"] = json!(at);
    s
}

async fn pull(app: &TestApp, version: &str, token: &str, query: &str) -> Answer {
    let path = format!("/ocpi/{version}/sender/sessions?{query}");
    let answer = app.call(Method::GET, &path, token, None).await;
    assert_eq!(
        (answer.status, answer.ocpi_status()),
        (200, 1000),
        "{path}: {}",
        answer.message()
    );
    answer
}

fn ids(answer: &Answer) -> Vec<String> {
    answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn date_from_is_required(app: TestApp) {
    for version in ["2.3.0", "2.2.1"] {
        for query in ["", "?date_to=2026-01-01T00:00:00Z&limit=5"] {
            let path = format!("/ocpi/{version}/sender/sessions{query}");
            let answer = app.call(Method::GET, &path, &app.emsp, None).await;
            assert_eq!((answer.status, answer.ocpi_status()), (200, 2001), "{path}");
            assert!(
                answer.message().contains("date_from"),
                "{}",
                answer.message()
            );
            assert_eq!(answer.header("ocpi-from-party-id").as_deref(), Some("HUB"));
            assert_eq!(answer.header("ocpi-to-party-id").as_deref(), Some("ABC"));
        }
        let bad = app
            .call(
                Method::GET,
                &format!("/ocpi/{version}/sender/sessions?date_from=yesterday"),
                &app.emsp,
                None,
            )
            .await;
        assert_eq!((bad.status, bad.ocpi_status()), (200, 2001));
        assert!(bad.message().contains("date_from"), "{}", bad.message());
    }
}

/// Each eMSP gets the sessions of its own tokens from every CPO; each CPO its own sessions.
async fn each_party_gets_its_own_sessions_only(app: TestApp) {
    let be = app.add_emsp("BE", "EMP").await;
    let fr = app.add_cpo("FR", "CPO").await;
    let at = "2026-01-02T10:00:00Z";
    push(
        &app,
        "2.3.0",
        &app.cpo,
        session("S-1", "DE*CPO", "NL*ABC", at),
    )
    .await;
    push(
        &app,
        "2.3.0",
        &app.cpo,
        session("S-2", "DE*CPO", "BE*EMP", at),
    )
    .await;
    push(&app, "2.2.1", &fr, session("S-3", "FR*CPO", "NL*ABC", at)).await;
    for version in ["2.3.0", "2.2.1"] {
        for (token, expected) in [
            (&app.emsp, vec!["S-1", "S-3"]),
            (&be, vec!["S-2"]),
            (&app.cpo, vec!["S-1", "S-2"]),
            (&fr, vec!["S-3"]),
        ] {
            let page = pull(&app, version, token, SINCE).await;
            assert_eq!(ids(&page), expected, "{version}");
            assert_eq!(
                page.header("x-total-count"),
                Some(expected.len().to_string())
            );
            assert_eq!(page.header("ocpi-from-party-id").as_deref(), Some("HUB"));
        }
    }
    let s3 = &pull(&app, "2.3.0", &app.emsp, SINCE).await.body["data"][1];
    assert_eq!(s3["party_id"], "CPO");
    assert_eq!(s3["country_code"], "FR");
    assert_eq!(s3["cdr_token"]["party_id"], "ABC");
}

/// Creation order, stable while sessions are updated; `Link` keeps the filters; `date_from`
/// and `date_to` apply to `last_updated`.
async fn pages_in_creation_order_with_the_filters(app: TestApp) {
    for i in 0..5 {
        let at = format!("2026-01-0{}T10:00:00Z", i + 1);
        push(
            &app,
            "2.3.0",
            &app.cpo,
            session(&format!("S-{i}"), "DE*CPO", "NL*ABC", &at),
        )
        .await;
    }
    // S-0 is updated last: it keeps its place.
    let patch = app
        .call(
            Method::PATCH,
            "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-0",
            &app.cpo,
            Some(json!({"status": "COMPLETED", "last_updated": "2026-01-09T10:00:00Z"})),
        )
        .await;
    assert_eq!(patch.ocpi_status(), 1000);
    let first = pull(&app, "2.3.0", &app.emsp, &format!("{SINCE}&limit=2")).await;
    assert_eq!(ids(&first), ["S-0", "S-1"]);
    assert_eq!(first.header("x-total-count").as_deref(), Some("5"));
    assert_eq!(first.header("x-limit").as_deref(), Some("1000"));
    assert_eq!(
        first.header("link").unwrap(),
        format!(
            "<{}>; rel=\"next\"",
            app.url(
                "/ocpi/2.3.0/sender/sessions?date_from=2025-01-01T00%3A00%3A00Z&offset=2&limit=2"
            )
        )
    );
    let last = pull(
        &app,
        "2.3.0",
        &app.emsp,
        &format!("{SINCE}&offset=4&limit=2"),
    )
    .await;
    assert_eq!(ids(&last), ["S-4"]);
    assert!(last.header("link").is_none());
    let window = pull(
        &app,
        "2.2.1",
        &app.emsp,
        "date_from=2026-01-02T10:00:00Z&date_to=2026-01-04T10:00:00Z",
    )
    .await;
    assert_eq!(
        ids(&window),
        ["S-1", "S-2"],
        "date_from inclusive, date_to exclusive"
    );
    assert_eq!(window.header("x-total-count").as_deref(), Some("2"));
    let updated = pull(&app, "2.3.0", &app.emsp, "date_from=2026-01-06T00:00:00Z").await;
    assert_eq!(ids(&updated), ["S-0"]);
    let past_end = pull(&app, "2.3.0", &app.emsp, &format!("{SINCE}&offset=9")).await;
    assert_eq!(ids(&past_end), Vec::<String>::new());
    assert_eq!(past_end.header("x-total-count").as_deref(), Some("5"));
}

/// Each version serves its own `Price`, whichever version pushed the session; 2.2.1 leaves out
/// the sessions of tokens whose type it cannot name.
async fn each_version_serves_its_shape(app: TestApp) {
    let at = "2026-01-02T10:00:00Z";
    let mut s230 = session("S-230", "DE*CPO", "NL*ABC", at);
    s230["total_cost"] = json!({"before_taxes": 4.2, "taxes": [{"name": "VAT", "amount": 0.88}]});
    push(&app, "2.3.0", &app.cpo, s230).await;
    let mut s221 = session("S-221", "DE*CPO", "NL*ABC", at);
    s221["total_cost"] = json!({"excl_vat": 4.2, "incl_vat": 5.08});
    push(&app, "2.2.1", &app.cpo, s221).await;
    let mut emaid = session("S-EMAID", "DE*CPO", "NL*ABC", at);
    emaid["cdr_token"]["type"] = json!("EMAID");
    push(&app, "2.3.0", &app.cpo, emaid).await;

    let v221 = pull(&app, "2.2.1", &app.emsp, SINCE).await;
    assert_eq!(ids(&v221), ["S-230", "S-221"]);
    assert_eq!(v221.header("x-total-count").as_deref(), Some("2"));
    for s in v221.body["data"].as_array().unwrap() {
        assert_eq!(
            s["total_cost"],
            json!({"excl_vat": 4.2, "incl_vat": 5.08}),
            "{}",
            s["id"]
        );
        validate_session_2_2_1(s.as_object().unwrap().clone()).unwrap();
    }
    let v230 = pull(&app, "2.3.0", &app.emsp, SINCE).await;
    assert_eq!(ids(&v230), ["S-230", "S-221", "S-EMAID"]);
    for s in &v230.body["data"].as_array().unwrap()[..2] {
        assert_eq!(
            s["total_cost"],
            json!({"before_taxes": 4.2, "taxes": [{"name": "VAT", "amount": 0.88}]}),
            "{}",
            s["id"]
        );
    }
    assert!(v230.body["data"][2].get("total_cost").is_none());
}

async fn version_details_list_the_sessions_sender(app: TestApp) {
    for version in ["2.3.0", "2.2.1"] {
        let details = app
            .call(Method::GET, &format!("/ocpi/{version}"), &app.emsp, None)
            .await;
        let url = app.url(&format!("/ocpi/{version}/sender/sessions"));
        let listed = details.body["data"]["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["identifier"] == "sessions" && e["role"] == "SENDER" && e["url"] == url);
        assert!(listed, "{version}: {}", details.body);
    }
}

on_both_backends!(
    date_from_is_required,
    each_party_gets_its_own_sessions_only,
    pages_in_creation_order_with_the_filters,
    each_version_serves_its_shape,
    version_details_list_the_sessions_sender,
);
