//! A PostgreSQL database that goes away gives 503/3000, and the hub recovers by itself when it is
//! back. PostgreSQL only: SQLite has no server to lose.

use crate::helpers::{spawn_app, token_json, Backend, TestApp};

/// A PostgreSQL app with the token DOWN1 whose database has just gone away; `None` where the
/// PostgreSQL tests are skipped.
async fn app_with_database_down() -> Option<TestApp> {
    let app = spawn_app(Backend::Postgres).await?;
    assert_eq!(app.put_token(&token_json("DOWN1")).await.status, 201);
    app.take_database_down().await;
    Some(app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_gone_is_503_3000() {
    let Some(app) = app_with_database_down().await else {
        return;
    };
    let down = app.authorize("DOWN1", None).await;
    assert_eq!((down.status, down.ocpi_status()), (503, 3000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_recovers_when_the_database_is_back() {
    let Some(app) = app_with_database_down().await else {
        return;
    };
    // The hub has failed a request before the database returns, as in a real outage.
    app.authorize("DOWN1", None).await;
    app.bring_database_back().await;
    let mut recovered = None;
    for _ in 0..20 {
        let answer = app.authorize("DOWN1", None).await;
        if answer.status == 200 {
            recovered = Some(answer);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let recovered = recovered.expect("the hub answers again once the database is back");
    assert_eq!(recovered.body["data"]["allowed"], "ALLOWED");
}
