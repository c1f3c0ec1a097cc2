//! A CPO crawling the sender token list by its `Link`s while eMSPs create tokens concurrently
//! (on PostgreSQL without a lock shared by creations: the sequencer numbers them after their
//! commit): every token appears exactly once, none is skipped because it took a position the
//! crawler had passed, over 2.3.0 and over 2.2.1 (which leaves out the types it cannot name).

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{b64, read, token_json, Backend, TestApp};
use crate::on_both_backends;

const CREATORS: usize = 6;
const PER_CREATOR: usize = 25;
const SEEDED: usize = 30;
/// Small pages, so the crawl takes many steps while the creations go on.
const PAGE: usize = 7;
/// Bounds the test however the hub behaves.
const DEADLINE: Duration = Duration::from_secs(60);

/// Every 4th token is an EMAID, which OCPI 2.2.1 cannot name.
fn token_type(i: usize) -> &'static str {
    if i % 4 == 3 {
        "EMAID"
    } else {
        "RFID"
    }
}

/// PUTs `PER_CREATOR` new tokens of NL*ABC, one after the other, at `base`; returns the
/// (uid, type) of each acknowledged creation.
async fn create(
    client: reqwest::Client,
    base: String,
    emsp: String,
    creator: usize,
) -> Vec<(String, &'static str)> {
    let mut created = Vec::new();
    for i in 0..PER_CREATOR {
        let uid = format!("C{creator}N{i:03}");
        let kind = token_type(i + creator);
        let mut token = token_json(&uid);
        token["type"] = json!(kind);
        let answer = read(
            client
                .put(format!(
                    "{base}/ocpi/2.3.0/receiver/tokens/NL/ABC/{uid}?type={kind}"
                ))
                .header("Authorization", format!("Token {}", b64(&emsp)))
                .json(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 201, "{uid}: {:?}", answer.body);
        created.push((uid, kind));
    }
    created
}

/// Crawls `version`'s list at `base` from offset 0 by its `Link`s; at the end of the list it
/// comes back for what was added since (at the offset it reached, as an incremental crawler
/// does) until `creations` are done and one more round found nothing new. Returns the uids in
/// the order served and the last `X-Total-Count`.
async fn crawl(
    app: &TestApp,
    base: &str,
    version: &str,
    mut creations: JoinSet<Vec<(String, &'static str)>>,
) -> (Vec<String>, i64, Vec<(String, &'static str)>) {
    let started = Instant::now();
    let start =
        |offset: usize| format!("{base}/ocpi/{version}/sender/tokens?offset={offset}&limit={PAGE}");
    let mut seen = Vec::new();
    let mut created = Vec::new();
    let mut next = start(0);
    let mut last_round = false;
    loop {
        assert!(started.elapsed() < DEADLINE, "the crawl did not finish");
        let page = read(
            app.client
                .request(Method::GET, &next)
                .header("Authorization", format!("Token {}", b64(&app.cpo)))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((page.status, page.ocpi_status()), (200, 1000), "{next}");
        let data = page.body["data"].as_array().unwrap();
        seen.extend(data.iter().map(|t| t["uid"].as_str().unwrap().to_owned()));
        if let Some(link) = page.header("link") {
            next = link
                .trim_start_matches('<')
                .split_once('>')
                .unwrap()
                .0
                .to_owned();
            continue;
        }
        let total: i64 = page.header("x-total-count").unwrap().parse().unwrap();
        if last_round {
            return (seen, total, created);
        }
        // The end for now: collect what has finished, and the round after the last creation
        // was acknowledged is the last one.
        while let Some(done) = creations.try_join_next() {
            created.extend(done.unwrap());
        }
        last_round = creations.is_empty();
        if !last_round {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        next = start(seen.len());
    }
}

/// Seeds `SEEDED` tokens, starts the creators (spread over `bases`), crawls `version`'s list at
/// `bases[0]` meanwhile, and checks that it served each expected token exactly once.
async fn crawl_while_creating(app: &TestApp, version: &str, bases: &[String]) {
    let seeded: Vec<(String, &str)> = (0..SEEDED)
        .map(|i| (format!("S{i:03}"), token_type(i)))
        .collect();
    app.seed_typed_tokens(&seeded).await;
    let mut creations = JoinSet::new();
    for creator in 0..CREATORS {
        creations.spawn(create(
            app.client.clone(),
            bases[creator % bases.len()].clone(),
            app.emsp.clone(),
            creator,
        ));
    }
    let (seen, total, created) = crawl(app, &bases[0], version, creations).await;
    assert_eq!(created.len(), CREATORS * PER_CREATOR);
    let shown = |kind: &str| version == "2.3.0" || kind != "EMAID";
    let expected: BTreeSet<String> = seeded
        .iter()
        .map(|(uid, kind)| (uid.clone(), *kind))
        .chain(created.iter().map(|(uid, kind)| (uid.clone(), *kind)))
        .filter(|(_, kind)| shown(kind))
        .map(|(uid, _)| uid)
        .collect();
    let mut once = HashSet::new();
    let twice: Vec<&String> = seen.iter().filter(|uid| !once.insert(*uid)).collect();
    assert!(twice.is_empty(), "served more than once: {twice:?}");
    let served: BTreeSet<String> = seen.iter().cloned().collect();
    let missed: Vec<&String> = expected.difference(&served).collect();
    assert!(missed.is_empty(), "never served: {missed:?}");
    assert_eq!(served, expected);
    assert_eq!(total, expected.len() as i64);
}

async fn crawler_sees_each_token_created_meanwhile_once(app: TestApp) {
    let bases = [app.base.clone()];
    crawl_while_creating(&app, "2.3.0", &bases).await;
}

async fn crawler_2_2_1_sees_each_token_created_meanwhile_once(app: TestApp) {
    let bases = [app.base.clone()];
    crawl_while_creating(&app, "2.2.1", &bases).await;
}

/// A token is in the list as soon as its PUT was acknowledged (the list numbers what is pending
/// before it reads), even right after it.
async fn token_is_listed_right_after_its_put(app: TestApp) {
    for i in 0..5 {
        let uid = format!("NOW{i}");
        assert_eq!(app.put_token(&token_json(&uid)).await.status, 201);
        let last = app
            .call(
                Method::GET,
                &format!("/ocpi/2.3.0/sender/tokens?offset={i}&limit=10"),
                &app.cpo,
                None,
            )
            .await;
        assert_eq!(last.body["data"][0]["uid"], uid.as_str());
        assert_eq!(
            last.header("x-total-count").as_deref(),
            Some(format!("{}", i + 1).as_str())
        );
    }
}

on_both_backends!(
    crawler_sees_each_token_created_meanwhile_once,
    crawler_2_2_1_sees_each_token_created_meanwhile_once,
    token_is_listed_right_after_its_put,
);

/// Two instances on one PostgreSQL, each creating tokens and each running its sequencer: the
/// crawler on the first still sees every token once (the passes take turns on the advisory lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawler_sees_each_token_created_on_two_instances_once() {
    let Some(app) = crate::helpers::spawn_app(Backend::Postgres).await else {
        return;
    };
    let sibling = app.spawn_sibling().await;
    let bases = [app.base.clone(), sibling];
    crawl_while_creating(&app, "2.3.0", &bases).await;
}
