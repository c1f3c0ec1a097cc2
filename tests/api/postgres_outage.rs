//! A PostgreSQL database that goes away gives 503/3000, and the hub recovers by itself when it is
//! back; a statement or lock timeout is 503 too, and during an outage requests fail at once.
//! PostgreSQL only: SQLite has no server to lose.

use std::time::Instant;

use crate::helpers::{spawn_app, spawn_app_with, token_json, Backend, StoreError, TestApp};

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

/// Another transaction holds the token's row longer than `database.lock_timeout_ms`: the
/// authorization's `FOR UPDATE` is cancelled (SQLSTATE 55P03), which is 503 with `Retry-After`
/// (it was 500), and the hub decides again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_timeout_is_503_with_retry_after() {
    let Some(app) = spawn_app_with(Backend::Postgres, |c| c.database.lock_timeout_ms = 200).await
    else {
        return;
    };
    assert_eq!(app.put_token(&token_json("LOCKED1")).await.status, 201);
    let lock = app.lock_token_rows("LOCKED1").await;
    let busy = app.authorize("LOCKED1", None).await;
    assert_eq!(
        (busy.status, busy.ocpi_status()),
        (503, 3000),
        "{:?}",
        busy.body
    );
    assert_eq!(busy.header("retry-after").as_deref(), Some("1"));
    drop(lock);
    let after = app.authorize("LOCKED1", None).await;
    assert_eq!(after.body["data"]["allowed"], "ALLOWED");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "a lock timeout is no outage");
}

/// A statement cancelled by `database.statement_timeout_ms` (SQLSTATE 57014) is "unavailable"
/// (503, try again), not a query error (500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_is_unavailable() {
    let Some(app) =
        spawn_app_with(Backend::Postgres, |c| c.database.statement_timeout_ms = 100).await
    else {
        return;
    };
    let slow = app.sleep_in_the_database(5.0).await;
    assert!(matches!(slow, Err(StoreError::Unavailable(_))), "{slow:?}");
    app.sleep_in_the_database(0.0)
        .await
        .expect("the connection still serves");
}

/// While the database is down, requests answer 503 at once instead of each waiting the
/// connection timeout: 20 requests in 4 waves of 5 took 4 connection timeouts (one per wave);
/// now the first wave waits and the later ones fail at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_fast_while_the_database_is_down() {
    let Some(app) = spawn_app_with(Backend::Postgres, |c| {
        c.database.outage_backoff_ms = 10_000;
    })
    .await
    else {
        return;
    };
    assert_eq!(app.put_token(&token_json("DOWN1")).await.status, 201);
    app.take_database_down().await;
    let connect_timeout = app.connect_timeout();
    let started = Instant::now();
    for _wave in 0..4 {
        let answers =
            futures_util::future::join_all((0..5).map(|_| app.authorize("DOWN1", None))).await;
        for answer in answers {
            assert_eq!((answer.status, answer.ocpi_status()), (503, 3000));
        }
    }
    let took = started.elapsed();
    assert!(
        took < 2 * connect_timeout,
        "20 requests took {took:?} with a connection timeout of {connect_timeout:?}"
    );
}
