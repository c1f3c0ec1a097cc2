//! OCPI 2.2.1 beside 2.3.0, on one registry: versions, credentials in the 2.2.1 shape, tokens
//! pushed over one version served over the other, token types 2.2.1 cannot name left out of its
//! answers, sessions with the 2.2.1 `Price`, and routing headers on every functional answer.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{read, session_json, token_json, Answer, TestApp, UseKind};
use crate::on_both_backends;

const V221: &str = "2.2.1";
const V230: &str = "2.3.0";

async fn put_token_over(app: &TestApp, version: &str, token: &Value) -> Answer {
    let path = format!(
        "/ocpi/{version}/receiver/tokens/NL/ABC/{}?type={}",
        token["uid"].as_str().unwrap(),
        token["type"].as_str().unwrap()
    );
    app.call(Method::PUT, &path, &app.emsp, Some(token.clone()))
        .await
}

fn typed_token(uid: &str, token_type: &str) -> Value {
    let mut token = token_json(uid);
    token["type"] = json!(token_type);
    token
}

async fn authorize_over(app: &TestApp, version: &str, uid: &str, token_type: &str) -> Answer {
    let path = format!("/ocpi/{version}/sender/tokens/{uid}/authorize?type={token_type}");
    app.call(Method::POST, &path, &app.cpo, None).await
}

async fn list_over(app: &TestApp, version: &str, query: &str) -> Answer {
    let path = format!("/ocpi/{version}/sender/tokens{query}");
    app.call(Method::GET, &path, &app.cpo, None).await
}

fn uids(list: &Answer) -> Vec<String> {
    list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uid"].as_str().unwrap().to_owned())
        .collect()
}

/// The routing headers of an answer: (from, to), each `CC*PID`.
fn routing(answer: &Answer) -> (Option<String>, Option<String>) {
    let party = |direction: &str| {
        Some(format!(
            "{}*{}",
            answer.header(&format!("ocpi-{direction}-country-code"))?,
            answer.header(&format!("ocpi-{direction}-party-id"))?
        ))
    };
    (party("from"), party("to"))
}

fn hub_to(party: &str) -> (Option<String>, Option<String>) {
    (Some("NL*HUB".into()), Some(party.into()))
}

// ---------------------------------------------------------------------------------------------
// Versions and credentials
// ---------------------------------------------------------------------------------------------

async fn versions_list_has_2_3_0_and_2_2_1(app: TestApp) {
    let list = app
        .call(Method::GET, "/ocpi/versions", &app.emsp, None)
        .await;
    assert_eq!(
        list.body["data"],
        json!([
            {"version": "2.3.0", "url": app.url("/ocpi/2.3.0")},
            {"version": "2.2.1", "url": app.url("/ocpi/2.2.1")},
        ])
    );
}

async fn details_2_2_1_list_the_2_2_1_endpoints(app: TestApp) {
    let details = app.call(Method::GET, "/ocpi/2.2.1", &app.cpo, None).await;
    assert_eq!((details.status, details.ocpi_status()), (200, 1000));
    let endpoint = |id: &str, role: &str, path: &str| {
        let url = app.url(&format!("/ocpi/2.2.1{path}"));
        json!({"identifier": id, "role": role, "url": url})
    };
    assert_eq!(
        details.body["data"],
        json!({
            "version": "2.2.1",
            "endpoints": [
                endpoint("credentials", "SENDER", "/credentials"),
                endpoint("hubclientinfo", "SENDER", "/hubclientinfo"),
                endpoint("tokens", "SENDER", "/sender/tokens"),
                endpoint("tokens", "RECEIVER", "/receiver/tokens"),
                endpoint("sessions", "SENDER", "/sender/sessions"),
                endpoint("sessions", "RECEIVER", "/receiver/sessions"),
            ]
        })
    );
}

async fn credentials_2_2_1_list_the_hub_as_its_one_role(app: TestApp) {
    let creds = app
        .call(Method::GET, "/ocpi/2.2.1/credentials", &app.emsp, None)
        .await;
    assert_eq!(
        creds.body["data"]["roles"],
        json!([{
            "role": "HUB",
            "business_details": {"name": "tokenhub"},
            "party_id": "HUB",
            "country_code": "NL"
        }])
    );
}

async fn credentials_2_2_1_have_no_hub_party_id(app: TestApp) {
    let creds = app
        .call(Method::GET, "/ocpi/2.2.1/credentials", &app.emsp, None)
        .await;
    let data = creds.body["data"].as_object().unwrap();
    assert_eq!(data["token"], app.emsp.as_str());
    assert_eq!(data["url"], app.url("/ocpi/versions"));
    assert!(!data.contains_key("hub_party_id"), "{data:?}");
}

async fn versions_and_credentials_2_2_1_have_no_routing_headers(app: TestApp) {
    for path in ["/ocpi/2.2.1", "/ocpi/2.2.1/credentials"] {
        let answer = app.call(Method::GET, path, &app.emsp, None).await;
        assert_eq!(routing(&answer), (None, None), "{path}");
        assert!(answer.header("ocpi-from-party-id").is_none(), "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// One registry for both versions
// ---------------------------------------------------------------------------------------------

async fn token_pushed_over_2_2_1_is_in_the_2_3_0_list(app: TestApp) {
    let put = put_token_over(&app, V221, &token_json("OLD1")).await;
    assert_eq!((put.status, put.ocpi_status()), (201, 1000));
    assert_eq!(uids(&list_over(&app, V230, "").await), ["OLD1"]);
}

async fn token_pushed_over_2_2_1_is_allowed_over_2_3_0(app: TestApp) {
    put_token_over(&app, V221, &token_json("OLD1")).await;
    let decision = authorize_over(&app, V230, "OLD1", "RFID").await;
    assert_eq!(decision.body["data"]["allowed"], "ALLOWED");
}

async fn token_pushed_over_2_3_0_is_in_the_2_2_1_list(app: TestApp) {
    put_token_over(&app, V230, &typed_token("APP1", "APP_USER")).await;
    assert_eq!(uids(&list_over(&app, V221, "").await), ["APP1"]);
}

async fn token_pushed_over_2_3_0_is_allowed_over_2_2_1(app: TestApp) {
    put_token_over(&app, V230, &token_json("NEW1")).await;
    let decision = authorize_over(&app, V221, "NEW1", "RFID").await;
    assert_eq!(decision.body["data"]["allowed"], "ALLOWED");
}

async fn token_pushed_over_2_2_1_reads_back_over_2_3_0(app: TestApp) {
    let token = typed_token("OLD1", "AD_HOC_USER");
    put_token_over(&app, V221, &token).await;
    let got = app
        .call(
            Method::GET,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/OLD1?type=AD_HOC_USER",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!(got.body["data"], token);
}

// ---------------------------------------------------------------------------------------------
// Token types 2.2.1 cannot name
// ---------------------------------------------------------------------------------------------

/// RFID1, then EMAID token PNC1 (pushed over 2.3.0), then RFID2.
async fn push_rfid_emaid_rfid(app: &TestApp) {
    for token in [
        token_json("RFID1"),
        typed_token("PNC1", "EMAID"),
        token_json("RFID2"),
    ] {
        assert_eq!(put_token_over(app, V230, &token).await.status, 201);
    }
}

async fn emaid_token_is_left_out_of_the_2_2_1_list(app: TestApp) {
    push_rfid_emaid_rfid(&app).await;
    let list = list_over(&app, V221, "").await;
    assert_eq!(uids(&list), ["RFID1", "RFID2"]);
    assert_eq!(list.header("x-total-count").as_deref(), Some("2"));
}

async fn emaid_token_stays_in_the_2_3_0_list(app: TestApp) {
    push_rfid_emaid_rfid(&app).await;
    let list = list_over(&app, V230, "").await;
    assert_eq!(uids(&list), ["RFID1", "PNC1", "RFID2"]);
    assert_eq!(list.header("x-total-count").as_deref(), Some("3"));
}

async fn open_enum_values_are_left_out_of_the_2_2_1_list(app: TestApp) {
    for token in [typed_token("ODD1", "rfid"), typed_token("ODD2", "KEY_FOB")] {
        assert_eq!(put_token_over(&app, V230, &token).await.status, 201);
    }
    let list = list_over(&app, V221, "").await;
    assert_eq!(uids(&list), Vec::<String>::new());
    assert_eq!(list.header("x-total-count").as_deref(), Some("0"));
}

/// 12 tokens of NL*ABC, T00 to T11; those at 0, 3, 4, 7 and 11 are EMAID, the others RFID.
async fn seed_mixed(app: &TestApp) -> Vec<String> {
    let hidden = [0, 3, 4, 7, 11];
    let tokens: Vec<(String, &str)> = (0..12)
        .map(|i| {
            let token_type = if hidden.contains(&i) { "EMAID" } else { "RFID" };
            (format!("T{i:02}"), token_type)
        })
        .collect();
    app.seed_typed_tokens(&tokens).await;
    tokens
        .into_iter()
        .filter(|(_, t)| *t == "RFID")
        .map(|(uid, _)| uid)
        .collect()
}

/// Follows the 2.2.1 list's `Link`s from `first` with pages of 2: every page states the same
/// total; returns the uids in the order served.
async fn crawl_2_2_1(app: &TestApp, first: &str, total: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = Some(app.url(&format!("/ocpi/2.2.1/sender/tokens{first}")));
    while let Some(url) = next.take() {
        let page = read(
            app.client
                .get(&url)
                .header(
                    "Authorization",
                    format!("Token {}", crate::helpers::b64(&app.cpo)),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            page.header("x-total-count").as_deref(),
            Some(total),
            "{url}"
        );
        seen.extend(uids(&page));
        next = page.header("link").map(|link| {
            link.trim_start_matches('<')
                .split_once('>')
                .unwrap()
                .0
                .to_owned()
        });
    }
    seen
}

async fn pages_2_2_1_leave_out_hidden_tokens_at_any_depth(app: TestApp) {
    let visible = seed_mixed(&app).await;
    assert_eq!(crawl_2_2_1(&app, "?limit=2", "7").await, visible);
}

async fn filtered_pages_2_2_1_leave_out_hidden_tokens_at_any_depth(app: TestApp) {
    let visible = seed_mixed(&app).await;
    let first = "?date_from=2025-01-01T00:00:00Z&limit=2";
    assert_eq!(crawl_2_2_1(&app, first, "7").await, visible);
}

/// Summed over a whole crawl, the pages' counts of left-out tokens are the left-out tokens.
async fn crawl_counts_each_hidden_token_once(app: TestApp) {
    seed_mixed(&app).await;
    for date_from in [None, Some("2025-01-01T00:00:00Z")] {
        let mut hidden = 0;
        for offset in (0..8).step_by(3) {
            hidden += app.store_page(V221, date_from, offset, 3).await.2;
        }
        assert_eq!(hidden, 5, "date_from {date_from:?}");
    }
}

async fn emaid_token_is_unknown_to_2_2_1_authorize(app: TestApp) {
    push_rfid_emaid_rfid(&app).await;
    let known = authorize_over(&app, V230, "PNC1", "EMAID").await;
    assert_eq!(known.body["data"]["allowed"], "ALLOWED");
    let hidden = authorize_over(&app, V221, "PNC1", "EMAID").await;
    assert_eq!((hidden.status, hidden.ocpi_status()), (404, 2004));
    assert!(hidden.body.get("data").is_none());
}

async fn hidden_authorize_is_audited_as_unknown_to_the_version(app: TestApp) {
    push_rfid_emaid_rfid(&app).await;
    authorize_over(&app, V221, "PNC1", "EMAID").await;
    let latest = app.audit_entries().await.remove(0);
    assert_eq!(latest.reason.as_str(), "type_unknown_to_version");
    assert_eq!(latest.result.as_str(), "UNKNOWN");
}

async fn hidden_authorize_counts_in_the_metric(app: TestApp) {
    push_rfid_emaid_rfid(&app).await;
    authorize_over(&app, V221, "PNC1", "EMAID").await;
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
        metrics.contains("tokenhub_ocpi221_tokens_hidden_total{endpoint=\"authorize\"}"),
        "{metrics}"
    );
}

async fn emaid_push_over_2_2_1_is_2001_naming_type(app: TestApp) {
    let put = put_token_over(&app, V221, &typed_token("PNC1", "EMAID")).await;
    assert_eq!((put.status, put.ocpi_status()), (200, 2001));
    assert!(put.message().starts_with("type:"), "{}", put.message());
}

async fn emaid_type_query_over_2_2_1_is_2001_naming_type(app: TestApp) {
    let got = app
        .call(
            Method::GET,
            "/ocpi/2.2.1/receiver/tokens/NL/ABC/PNC1?type=EMAID",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!((got.status, got.ocpi_status()), (200, 2001));
    assert!(got.message().starts_with("type:"), "{}", got.message());
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

const S1_221: &str = "/ocpi/2.2.1/receiver/sessions/DE/CPO/S-1";

fn session_221(status: &str, reference: Option<&str>) -> Value {
    let mut session = session_json("S-1", "SESS1", status, reference);
    session["total_cost"] = json!({"excl_vat": 4.2, "incl_vat": 5.08});
    session
}

/// Authorizes SESS1 over 2.2.1 and pushes its session S-1 over 2.2.1, ACTIVE, with the
/// authorization's reference and a 2.2.1 price.
async fn put_active_session_221(app: &TestApp) -> Answer {
    put_token_over(app, V221, &token_json("SESS1")).await;
    let authorized = authorize_over(app, V221, "SESS1", "RFID").await;
    let reference = authorized.body["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = session_221("ACTIVE", Some(&reference));
    app.call(Method::PUT, S1_221, &app.cpo, Some(session)).await
}

fn completed_now() -> Value {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    json!({"status": "COMPLETED", "last_updated": now.to_string()})
}

async fn session_with_excl_vat_is_accepted_over_2_2_1(app: TestApp) {
    let put = put_active_session_221(&app).await;
    assert_eq!((put.status, put.ocpi_status()), (201, 1000));
}

async fn session_over_2_2_1_is_stored_as_pushed(app: TestApp) {
    put_active_session_221(&app).await;
    let got = app.call(Method::GET, S1_221, &app.cpo, None).await;
    assert_eq!(
        got.body["data"]["total_cost"],
        json!({"excl_vat": 4.2, "incl_vat": 5.08})
    );
}

async fn session_with_before_taxes_is_2001_over_2_2_1(app: TestApp) {
    let mut session = session_json("S-1", "SESS1", "ACTIVE", None);
    session["total_cost"] = json!({"before_taxes": 4.2});
    let put = app.call(Method::PUT, S1_221, &app.cpo, Some(session)).await;
    assert_eq!((put.status, put.ocpi_status()), (200, 2001));
    assert!(
        put.message().starts_with("total_cost.excl_vat:"),
        "{}",
        put.message()
    );
}

async fn session_over_2_2_1_takes_over_the_hold(app: TestApp) {
    put_active_session_221(&app).await;
    let uses = app.active_uses(app.token_id("SESS1").await).await;
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].kind, UseKind::Session);
}

async fn active_session_over_2_2_1_keeps_the_token_in_use(app: TestApp) {
    assert_eq!(put_active_session_221(&app).await.status, 201);
    let again = authorize_over(&app, V221, "SESS1", "RFID").await;
    assert_eq!(again.body["data"]["allowed"], "NOT_ALLOWED");
}

async fn completed_session_over_2_2_1_frees_the_token(app: TestApp) {
    put_active_session_221(&app).await;
    let done = app
        .call(Method::PATCH, S1_221, &app.cpo, Some(completed_now()))
        .await;
    assert_eq!((done.status, done.ocpi_status()), (200, 1000));
    let again = authorize_over(&app, V221, "SESS1", "RFID").await;
    assert_eq!(again.body["data"]["allowed"], "ALLOWED");
}

async fn session_pushed_over_2_2_1_completes_over_2_3_0(app: TestApp) {
    put_active_session_221(&app).await;
    let done = app
        .call(
            Method::PATCH,
            "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-1",
            &app.cpo,
            Some(completed_now()),
        )
        .await;
    assert_eq!((done.status, done.ocpi_status()), (200, 1000));
    let again = authorize_over(&app, V230, "SESS1", "RFID").await;
    assert_eq!(again.body["data"]["allowed"], "ALLOWED");
}

// ---------------------------------------------------------------------------------------------
// Routing headers on functional answers, errors included
// ---------------------------------------------------------------------------------------------

async fn token_push_2_2_1_answers_from_the_hub_to_the_emsp(app: TestApp) {
    let put = put_token_over(&app, V221, &token_json("OLD1")).await;
    assert_eq!(routing(&put), hub_to("NL*ABC"));
}

async fn unknown_token_2_2_1_answers_from_the_hub_to_the_emsp(app: TestApp) {
    let got = app
        .call(
            Method::GET,
            "/ocpi/2.2.1/receiver/tokens/NL/ABC/NOPE",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!((got.status, got.ocpi_status()), (404, 2004));
    assert_eq!(routing(&got), hub_to("NL*ABC"));
}

async fn refused_push_2_2_1_answers_from_the_hub_to_the_emsp(app: TestApp) {
    let put = put_token_over(&app, V221, &typed_token("PNC1", "EMAID")).await;
    assert_eq!(put.ocpi_status(), 2001);
    assert_eq!(routing(&put), hub_to("NL*ABC"));
}

async fn list_2_2_1_answers_from_the_hub_to_the_cpo(app: TestApp) {
    let list = list_over(&app, V221, "").await;
    assert_eq!(routing(&list), hub_to("DE*CPO"));
}

async fn bad_offset_2_2_1_answers_from_the_hub_to_the_cpo(app: TestApp) {
    let list = list_over(&app, V221, "?offset=-1").await;
    assert_eq!(list.ocpi_status(), 2001);
    assert_eq!(routing(&list), hub_to("DE*CPO"));
}

async fn authorize_2_2_1_answers_from_the_emsp_to_the_cpo(app: TestApp) {
    put_token_over(&app, V221, &token_json("OLD1")).await;
    let decision = authorize_over(&app, V221, "OLD1", "RFID").await;
    assert_eq!(
        routing(&decision),
        (Some("NL*ABC".into()), Some("DE*CPO".into()))
    );
}

async fn unknown_authorize_2_2_1_answers_from_the_hub_to_the_cpo(app: TestApp) {
    let decision = authorize_over(&app, V221, "NOPE", "RFID").await;
    assert_eq!(decision.status, 404);
    assert_eq!(routing(&decision), hub_to("DE*CPO"));
}

async fn unknown_session_2_2_1_answers_from_the_hub_to_the_cpo(app: TestApp) {
    let got = app.call(Method::GET, S1_221, &app.cpo, None).await;
    assert_eq!(got.status, 404);
    assert_eq!(routing(&got), hub_to("DE*CPO"));
}

/// Before the caller is known, the answer goes to the party the request named as its sender.
async fn unknown_credentials_2_2_1_answer_to_the_named_sender(app: TestApp) {
    let answer = read(
        app.client
            .get(app.url("/ocpi/2.2.1/sender/tokens"))
            .header("Authorization", "Token bm9wZQ==")
            .header("OCPI-from-country-code", "DE")
            .header("OCPI-from-party-id", "CPO")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(routing(&answer), hub_to("DE*CPO"));
}

on_both_backends!(
    versions_list_has_2_3_0_and_2_2_1,
    details_2_2_1_list_the_2_2_1_endpoints,
    credentials_2_2_1_list_the_hub_as_its_one_role,
    credentials_2_2_1_have_no_hub_party_id,
    versions_and_credentials_2_2_1_have_no_routing_headers,
    token_pushed_over_2_2_1_is_in_the_2_3_0_list,
    token_pushed_over_2_2_1_is_allowed_over_2_3_0,
    token_pushed_over_2_3_0_is_in_the_2_2_1_list,
    token_pushed_over_2_3_0_is_allowed_over_2_2_1,
    token_pushed_over_2_2_1_reads_back_over_2_3_0,
    emaid_token_is_left_out_of_the_2_2_1_list,
    emaid_token_stays_in_the_2_3_0_list,
    open_enum_values_are_left_out_of_the_2_2_1_list,
    pages_2_2_1_leave_out_hidden_tokens_at_any_depth,
    filtered_pages_2_2_1_leave_out_hidden_tokens_at_any_depth,
    crawl_counts_each_hidden_token_once,
    emaid_token_is_unknown_to_2_2_1_authorize,
    hidden_authorize_is_audited_as_unknown_to_the_version,
    hidden_authorize_counts_in_the_metric,
    emaid_push_over_2_2_1_is_2001_naming_type,
    emaid_type_query_over_2_2_1_is_2001_naming_type,
    session_with_excl_vat_is_accepted_over_2_2_1,
    session_over_2_2_1_is_stored_as_pushed,
    session_with_before_taxes_is_2001_over_2_2_1,
    session_over_2_2_1_takes_over_the_hold,
    active_session_over_2_2_1_keeps_the_token_in_use,
    completed_session_over_2_2_1_frees_the_token,
    session_pushed_over_2_2_1_completes_over_2_3_0,
    token_push_2_2_1_answers_from_the_hub_to_the_emsp,
    unknown_token_2_2_1_answers_from_the_hub_to_the_emsp,
    refused_push_2_2_1_answers_from_the_hub_to_the_emsp,
    list_2_2_1_answers_from_the_hub_to_the_cpo,
    bad_offset_2_2_1_answers_from_the_hub_to_the_cpo,
    authorize_2_2_1_answers_from_the_emsp_to_the_cpo,
    unknown_authorize_2_2_1_answers_from_the_hub_to_the_cpo,
    unknown_session_2_2_1_answers_from_the_hub_to_the_cpo,
    unknown_credentials_2_2_1_answer_to_the_named_sender,
);
