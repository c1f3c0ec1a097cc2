//! `--push-only`: throughput of token pushes to one CPO, end to end. A CPO receiver served here
//! (versions, details and a Tokens RECEIVER that counts PUTs) registers with the hub through the
//! Credentials handshake; then every seeded token's change is queued at once (as an eMSP
//! suspension does, in one transaction) and the clock runs until the CPO has received them all.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;
use tokenhub::store::{Store, StoreSettings};

use crate::load::{auth_header, connect, exchange};

/// Serves the CPO on 127.0.0.1 (random port); returns its base URL and its PUT counter.
async fn serve_cpo() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/ocpi", listener.local_addr()?);
    let received = Arc::new(AtomicU64::new(0));
    let (count, shared_base) = (received.clone(), base.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let (count, base) = (count.clone(), shared_base.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (count, base) = (count.clone(), base.clone());
                    async move { Ok::<_, hyper::Error>(answer(req, &count, &base).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((base, received))
}

async fn answer(req: Request<Incoming>, count: &AtomicU64, base: &str) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let is_put = req.method() == hyper::Method::PUT;
    // Read the body whole, as a receiver does, before answering.
    let _ = req.into_body().collect().await;
    let data = if path.ends_with("/versions") {
        format!(r#"[{{"version":"2.3.0","url":"{base}/2.3.0"}}]"#)
    } else if path.ends_with("/2.3.0") {
        format!(
            r#"{{"version":"2.3.0","endpoints":[{{"identifier":"credentials","role":"SENDER","url":"{base}/2.3.0/credentials"}},{{"identifier":"tokens","role":"RECEIVER","url":"{base}/2.3.0/tokens"}}]}}"#
        )
    } else if is_put && path.contains("/tokens/") {
        count.fetch_add(1, Ordering::Relaxed);
        "null".to_owned()
    } else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()))
            .expect("a static response");
    };
    let body =
        format!(r#"{{"data":{data},"status_code":1000,"timestamp":"2026-01-01T00:00:00Z"}}"#);
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a static response")
}

/// Invites the CPO BE*PCP (before the hub starts): its token A.
pub async fn invite_cpo(database_url: &str) -> anyhow::Result<String> {
    let store = open(database_url).await?;
    let (_, token_a) = tokenhub::service::parties::invite_party(
        &store,
        &PartyKey::parse("BE", "PCP")?,
        Role::Cpo,
        "bench CPO receiver",
    )
    .await?;
    Ok(token_a)
}

async fn open(database_url: &str) -> anyhow::Result<Store> {
    Ok(Store::open(&StoreSettings::for_url(
        database_url.to_owned(),
        2,
        Duration::from_secs(5),
    ))
    .await?)
}

/// Registers the CPO with the running hub, queues every token's push, and times the delivery.
pub async fn push_phase(
    hub: SocketAddr,
    database_url: &str,
    token_a: &str,
    tokens: u64,
) -> anyhow::Result<f64> {
    let (base, received) = serve_cpo().await?;
    let body = serde_json::json!({
        "token": "bench-token-b",
        "url": format!("{base}/versions"),
        "roles": [{"role": "CPO", "party_id": "PCP", "country_code": "BE",
                   "business_details": {"name": "bench CPO receiver"}}],
    });
    let request = Request::post("/ocpi/2.3.0/credentials")
        .header("host", hub.to_string())
        .header("authorization", auth_header(token_a))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let (status, answer) = exchange(&mut connect(hub).await?, request).await?;
    if status != StatusCode::OK
        || !String::from_utf8_lossy(&answer).contains("\"status_code\":1000")
    {
        bail!(
            "the CPO could not register: HTTP {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let store = open(database_url).await?;
    let started = Instant::now();
    let queued = store
        .write(|conn| {
            tokenhub::store::outbox::enqueue_owner_tokens(
                conn,
                &PartyKey::parse("NL", "ABC").expect("a valid key"),
                chrono::Utc::now(),
            )
        })
        .await?;
    let queue_secs = started.elapsed().as_secs_f64();
    if queued as u64 != tokens {
        return Err(anyhow!("queued {queued} pushes for {tokens} tokens"));
    }
    let deadline = started + Duration::from_secs(600);
    while received.load(Ordering::Relaxed) < tokens {
        if Instant::now() > deadline {
            bail!(
                "only {} of {tokens} pushes arrived in 600 s",
                received.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = tokens as f64 / secs;
    println!("== push: effective tokens to one CPO (Tokens RECEIVER, 2.3.0) ==");
    println!("  {tokens} changes queued in one transaction in {queue_secs:.2} s");
    println!("  all delivered {secs:.2} s after the queueing began: {rate:.0} tokens/s end to end");
    Ok(rate)
}
