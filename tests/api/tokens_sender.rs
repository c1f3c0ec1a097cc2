//! The tokens sender (hub → CPO or eMSP): the token list, its pagination and date filters.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{token_json, Answer, TestApp};
use crate::on_both_backends;

async fn list(app: &TestApp, query: &str) -> Answer {
    let path = format!("/ocpi/2.3.0/sender/tokens{query}");
    app.call(Method::GET, &path, &app.cpo, None).await
}

/// 250 tokens of NL*ABC, PAGE00000 to PAGE00249, all last updated on 2026-01-01.
async fn seed_250(app: &TestApp) {
    app.seed_tokens("NL", "ABC", "PAGE", 250).await;
}

/// The 250 tokens and one more, NEWER1, last updated on 2026-03-01.
async fn seed_250_and_one_newer(app: &TestApp) {
    seed_250(app).await;
    let mut newer = token_json("NEWER1");
    newer["last_updated"] = json!("2026-03-01T00:00:00Z");
    assert_eq!(app.put_token(&newer).await.status, 201);
}

async fn first_page_holds_limit_tokens_in_order(app: TestApp) {
    seed_250(&app).await;
    let first = list(&app, "?limit=100").await;
    assert_eq!((first.status, first.ocpi_status()), (200, 1000));
    assert_eq!(first.body["data"].as_array().unwrap().len(), 100);
    assert_eq!(first.body["data"][0]["uid"], "PAGE00000");
}

async fn page_states_the_total_and_the_maximum_limit(app: TestApp) {
    seed_250(&app).await;
    let first = list(&app, "?limit=100").await;
    assert_eq!(first.header("x-total-count").as_deref(), Some("250"));
    assert_eq!(first.header("x-limit").as_deref(), Some("1000"));
}

async fn page_links_to_the_next(app: TestApp) {
    seed_250(&app).await;
    let first = list(&app, "?limit=100").await;
    assert_eq!(
        first.header("link").unwrap(),
        format!(
            "<{}>; rel=\"next\"",
            app.url("/ocpi/2.3.0/sender/tokens?offset=100&limit=100")
        )
    );
}

async fn last_page_holds_the_rest_and_no_link(app: TestApp) {
    seed_250(&app).await;
    let last = list(&app, "?offset=200&limit=100").await;
    assert_eq!(last.body["data"].as_array().unwrap().len(), 50);
    assert_eq!(last.body["data"][0]["uid"], "PAGE00200");
    assert!(last.header("link").is_none());
    assert_eq!(last.header("x-total-count").as_deref(), Some("250"));
}

async fn offset_past_the_end_is_an_empty_page(app: TestApp) {
    seed_250(&app).await;
    let past_end = list(&app, "?offset=400").await;
    assert_eq!(past_end.body["data"].as_array().unwrap().len(), 0);
    assert_eq!(past_end.header("x-total-count").as_deref(), Some("250"));
}

async fn limit_above_the_maximum_is_capped_not_refused(app: TestApp) {
    seed_250(&app).await;
    let capped = list(&app, "?limit=5000").await;
    assert_eq!(capped.body["data"].as_array().unwrap().len(), 250);
}

async fn default_limit_is_100(app: TestApp) {
    seed_250(&app).await;
    let default = list(&app, "").await;
    assert_eq!(default.body["data"].as_array().unwrap().len(), 100);
}

async fn assert_list_refused(app: &TestApp, bad: &str) {
    seed_250(app).await;
    let answer = list(app, bad).await;
    assert_eq!((answer.status, answer.ocpi_status()), (200, 2001), "{bad}");
}

async fn limit_0_is_2001(app: TestApp) {
    assert_list_refused(&app, "?limit=0").await;
}

async fn negative_limit_is_2001(app: TestApp) {
    assert_list_refused(&app, "?limit=-5").await;
}

async fn negative_offset_is_2001(app: TestApp) {
    assert_list_refused(&app, "?offset=-1").await;
}

async fn non_numeric_offset_is_2001(app: TestApp) {
    assert_list_refused(&app, "?offset=abc").await;
}

async fn date_from_not_a_date_time_is_2001(app: TestApp) {
    assert_list_refused(&app, "?date_from=yesterday").await;
}

/// Date filters apply to last_updated: from inclusive.
async fn date_from_includes_its_instant(app: TestApp) {
    seed_250_and_one_newer(&app).await;
    let since = list(&app, "?date_from=2026-03-01T00:00:00Z").await;
    assert_eq!(since.header("x-total-count").as_deref(), Some("1"));
    assert_eq!(since.body["data"][0]["uid"], "NEWER1");
}

/// Date filters apply to last_updated: to exclusive.
async fn date_to_excludes_its_instant(app: TestApp) {
    seed_250_and_one_newer(&app).await;
    let before = list(&app, "?date_to=2026-03-01T00:00:00Z&limit=10").await;
    assert_eq!(before.header("x-total-count").as_deref(), Some("250"));
}

async fn date_filters_stay_in_the_link(app: TestApp) {
    seed_250_and_one_newer(&app).await;
    let before = list(&app, "?date_to=2026-03-01T00:00:00Z&limit=10").await;
    let link = before.header("link").unwrap();
    assert!(
        link.contains("date_to=2026-03-01T00%3A00%3A00Z") && link.contains("offset=10"),
        "{link}"
    );
}

/// The eMSP's own list has only its own tokens.
async fn emsp_list_holds_only_its_own_tokens(app: TestApp) {
    let other = app.push_twin_tokens().await;
    let own = app
        .call(Method::GET, "/ocpi/2.3.0/sender/tokens", &other, None)
        .await;
    assert_eq!(own.header("x-total-count").as_deref(), Some("1"));
    assert_eq!(own.body["data"][0]["country_code"], "BE");
}

on_both_backends!(
    first_page_holds_limit_tokens_in_order,
    page_states_the_total_and_the_maximum_limit,
    page_links_to_the_next,
    last_page_holds_the_rest_and_no_link,
    offset_past_the_end_is_an_empty_page,
    limit_above_the_maximum_is_capped_not_refused,
    default_limit_is_100,
    limit_0_is_2001,
    negative_limit_is_2001,
    negative_offset_is_2001,
    non_numeric_offset_is_2001,
    date_from_not_a_date_time_is_2001,
    date_from_includes_its_instant,
    date_to_excludes_its_instant,
    date_filters_stay_in_the_link,
    emsp_list_holds_only_its_own_tokens,
);
