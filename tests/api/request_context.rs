//! What every request gets whatever its route: request and correlation ids, and OCPI envelopes
//! for HTTP-level errors (unknown path, wrong method, body too large, body not JSON).

use reqwest::Method;

use crate::helpers::{read, Answer, TestApp};
use crate::on_both_backends;

async fn versions_without_ids(app: &TestApp) -> Answer {
    app.call(Method::GET, "/ocpi/versions", &app.emsp, None)
        .await
}

async fn request_and_correlation_ids_are_echoed(app: TestApp) {
    let answer = app
        .request(Method::GET, "/ocpi/versions", &app.emsp)
        .header("X-Request-ID", "req-123")
        .header("X-Correlation-ID", "corr-456")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "req-123");
    assert_eq!(answer.headers()["x-correlation-id"], "corr-456");
}

async fn missing_request_id_is_generated_as_a_uuid(app: TestApp) {
    let generated = versions_without_ids(&app).await;
    assert_eq!(
        generated.header("x-request-id").unwrap().len(),
        36,
        "a UUID is generated"
    );
}

async fn missing_correlation_id_is_generated(app: TestApp) {
    let generated = versions_without_ids(&app).await;
    assert!(generated.header("x-correlation-id").is_some());
}

async fn unknown_path_is_404_2000(app: TestApp) {
    let nowhere = app
        .call(Method::GET, "/ocpi/2.3.0/nowhere", &app.emsp, None)
        .await;
    assert_eq!((nowhere.status, nowhere.ocpi_status()), (404, 2000));
}

async fn wrong_method_is_405_2000(app: TestApp) {
    let wrong_method = app
        .call(
            Method::DELETE,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/X",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!(
        (wrong_method.status, wrong_method.ocpi_status()),
        (405, 2000)
    );
}

async fn oversized_body_is_413_2000(app: TestApp) {
    let big = "x".repeat(70 * 1024);
    let too_large = read(
        app.request(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/BIG",
            &app.emsp,
        )
        .header("Content-Type", "application/json")
        .body(format!("{{\"pad\": \"{big}\"}}"))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((too_large.status, too_large.ocpi_status()), (413, 2000));
}

async fn body_not_json_is_400_2001(app: TestApp) {
    let not_json = read(
        app.request(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/X1",
            &app.emsp,
        )
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((not_json.status, not_json.ocpi_status()), (400, 2001));
}

on_both_backends!(
    request_and_correlation_ids_are_echoed,
    missing_request_id_is_generated_as_a_uuid,
    missing_correlation_id_is_generated,
    unknown_path_is_404_2000,
    wrong_method_is_405_2000,
    oversized_body_is_413_2000,
    body_not_json_is_400_2001,
);
