//! `last_updated` and the other OCPI DateTimes at their extremes. A `last_updated` far in the
//! future was stored and then made every later update of its token or session "stale"; it is
//! refused beyond `http.max_future_skew_secs` (default one day). Old values stay valid, and no
//! value gives a 5xx, on either backend.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{session_json, spawn_app_with, token_json, Answer, Backend, TestApp};
use crate::on_both_backends;

const FAR_FUTURE: &str = "9999-12-31T23:59:59Z";

fn ocpi_time(offset: Duration) -> String {
    (Utc::now() + offset)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn token_at(uid: &str, last_updated: &str) -> Value {
    let mut token = token_json(uid);
    token["last_updated"] = json!(last_updated);
    token
}

fn token_path(uid: &str) -> String {
    format!("/ocpi/2.3.0/receiver/tokens/NL/ABC/{uid}")
}

fn session_path(id: &str) -> String {
    format!("/ocpi/2.3.0/receiver/sessions/DE/CPO/{id}")
}

async fn put_session_at(app: &TestApp, id: &str, last_updated: &str) -> Answer {
    let mut session = session_json(id, "TS1", "ACTIVE", None);
    session["last_updated"] = json!(last_updated);
    app.call(Method::PUT, &session_path(id), &app.cpo, Some(session))
        .await
}

async fn patch_at(app: &TestApp, path: &str, token: &str, last_updated: &str) -> Answer {
    let patch = json!({"last_updated": last_updated});
    app.call(Method::PATCH, path, token, Some(patch)).await
}

fn assert_refused_naming_last_updated(answer: &Answer, what: &str) {
    assert_eq!(
        (answer.status, answer.ocpi_status()),
        (200, 2001),
        "{what}: {:?}",
        answer.body
    );
    assert!(
        answer.message().contains("last_updated"),
        "{what}: {:?}",
        answer.body
    );
}

async fn token_put_far_in_the_future_is_2001_and_not_stored(app: TestApp) {
    let refused = app.put_token(&token_at("TS1", FAR_FUTURE)).await;
    assert_refused_naming_last_updated(&refused, "PUT");
    let read = app
        .call(Method::GET, &token_path("TS1"), &app.emsp, None)
        .await;
    assert_eq!(read.status, 404, "nothing was stored");
    let now = app
        .put_token(&token_at("TS1", &ocpi_time(Duration::zero())))
        .await;
    assert_eq!((now.status, now.ocpi_status()), (201, 1000));
}

async fn token_put_beyond_the_skew_is_2001_within_it_accepted(app: TestApp) {
    let beyond = app
        .put_token(&token_at("TS1", &ocpi_time(Duration::days(2))))
        .await;
    assert_refused_naming_last_updated(&beyond, "two days ahead");
    let within = app
        .put_token(&token_at("TS1", &ocpi_time(Duration::hours(1))))
        .await;
    assert_eq!((within.status, within.ocpi_status()), (201, 1000));
}

/// The refused PATCH leaves the token as it was, so the next ordinary update applies.
async fn token_patch_far_in_the_future_is_2001(app: TestApp) {
    assert_eq!(app.put_token(&token_json("TS1")).await.status, 201);
    let refused = patch_at(&app, &token_path("TS1"), &app.emsp, FAR_FUTURE).await;
    assert_refused_naming_last_updated(&refused, "PATCH");
    let later = patch_at(
        &app,
        &token_path("TS1"),
        &app.emsp,
        &ocpi_time(Duration::zero()),
    )
    .await;
    assert_eq!((later.status, later.ocpi_status()), (200, 1000));
}

async fn session_put_far_in_the_future_is_2001_and_not_stored(app: TestApp) {
    let refused = put_session_at(&app, "S-TS", FAR_FUTURE).await;
    assert_refused_naming_last_updated(&refused, "PUT");
    let read = app
        .call(Method::GET, &session_path("S-TS"), &app.cpo, None)
        .await;
    assert_eq!(read.status, 404, "nothing was stored");
    let now = put_session_at(&app, "S-TS", &ocpi_time(Duration::zero())).await;
    assert_eq!((now.status, now.ocpi_status()), (201, 1000));
}

async fn session_patch_far_in_the_future_is_2001(app: TestApp) {
    let created = put_session_at(&app, "S-TS", &ocpi_time(Duration::zero())).await;
    assert_eq!(created.status, 201);
    let refused = patch_at(&app, &session_path("S-TS"), &app.cpo, FAR_FUTURE).await;
    assert_refused_naming_last_updated(&refused, "PATCH");
    let later = patch_at(
        &app,
        &session_path("S-TS"),
        &app.cpo,
        &ocpi_time(Duration::zero()),
    )
    .await;
    assert_eq!((later.status, later.ocpi_status()), (200, 1000));
}

/// Old is not wrong: a `last_updated` of 1970, 2000 or year 1 is stored.
async fn old_last_updated_values_are_accepted(app: TestApp) {
    for (i, old) in [
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "2000-01-01T00:00:00Z",
    ]
    .into_iter()
    .enumerate()
    {
        let token = app.put_token(&token_at(&format!("OLD{i}"), old)).await;
        assert_eq!(
            (token.status, token.ocpi_status()),
            (201, 1000),
            "token at {old}"
        );
        let session = put_session_at(&app, &format!("S-OLD{i}"), old).await;
        assert_eq!(
            (session.status, session.ocpi_status()),
            (201, 1000),
            "session at {old}"
        );
    }
}

/// Whatever the value, the answer is a success or a 2001, never a 5xx.
async fn extreme_datetimes_never_give_5xx(app: TestApp) {
    assert_eq!(app.put_token(&token_json("TS1")).await.status, 201);
    let created = put_session_at(&app, "S-TS", &ocpi_time(Duration::zero())).await;
    assert_eq!(created.status, 201);
    let extremes = [
        "0001-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.999999Z",
        "-0001-01-01T00:00:00Z",
        "-4714-11-24T00:00:00Z",
        "-262143-01-01T00:00:00Z",
        "+10000-01-01T00:00:00Z",
        "262142-12-31T23:59:59Z",
        "1969-12-31T23:59:59Z",
    ];
    for (i, value) in extremes.into_iter().enumerate() {
        let mut answers = vec![
            (
                "token PUT",
                app.put_token(&token_at(&format!("X{i}"), value)).await,
            ),
            (
                "token PATCH",
                patch_at(&app, &token_path("TS1"), &app.emsp, value).await,
            ),
            (
                "session PUT",
                put_session_at(&app, &format!("S-X{i}"), value).await,
            ),
            (
                "session PATCH",
                patch_at(&app, &session_path("S-TS"), &app.cpo, value).await,
            ),
        ];
        for field in ["start_date_time", "end_date_time"] {
            let mut session = session_json(&format!("S-{field}-{i}"), "TS1", "ACTIVE", None);
            session[field] = json!(value);
            let path = session_path(&format!("S-{field}-{i}"));
            answers.push((
                field,
                app.call(Method::PUT, &path, &app.cpo, Some(session)).await,
            ));
        }
        for (what, answer) in answers {
            let fine = matches!(
                (answer.status, answer.ocpi_status()),
                (200 | 201, 1000) | (200, 2001)
            );
            assert!(
                fine,
                "{what} at {value}: {} {:?}",
                answer.status, answer.body
            );
        }
    }
}

on_both_backends!(
    token_put_far_in_the_future_is_2001_and_not_stored,
    token_put_beyond_the_skew_is_2001_within_it_accepted,
    token_patch_far_in_the_future_is_2001,
    session_put_far_in_the_future_is_2001_and_not_stored,
    session_patch_far_in_the_future_is_2001,
    old_last_updated_values_are_accepted,
    extreme_datetimes_never_give_5xx,
);

/// The skew is `http.max_future_skew_secs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skew_is_a_setting() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.http.max_future_skew_secs = 60)
        .await
        .expect("a SQLite app");
    let ahead = app
        .put_token(&token_at("TS1", &ocpi_time(Duration::minutes(5))))
        .await;
    assert_refused_naming_last_updated(&ahead, "five minutes ahead with a 60 s skew");
    let session = put_session_at(&app, "S-TS", &ocpi_time(Duration::minutes(5))).await;
    assert_refused_naming_last_updated(&session, "five minutes ahead with a 60 s skew");
}
