//! The console phase (`--console-only`): how long the console's token list takes to render at the
//! seeded registry size, on its first page and on a deep page (the keyset cursor at 90% of the
//! rows). One person logs in through `/console/login` (the hub's own login pages), then GETs each
//! page one after another with the session cookie: the client's round-trip p50/p99 and the hub's
//! own mean request time for the route (from `/metrics`), so the loopback hop can be told apart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use crate::hub::Hub;
use crate::login::{cookie_line, cookies, fields, PASSWORD};

/// Requests per page, after [`WARM_UP`] unmeasured ones.
const REQUESTS: usize = 300;
const WARM_UP: usize = 20;

/// Logs the bench user in to the console; the session cookie line.
async fn log_in(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let mut jar = HashMap::new();
    let start = http.get(format!("{base}/console/login")).send().await?;
    cookies(&start, &mut jar);
    let authorize = location(&start)?;
    let page = http.get(&authorize).send().await?;
    cookies(&page, &mut jar);
    let mut form = fields(&page.text().await?);
    form.push(("username".into(), "bench".into()));
    form.push(("password".into(), PASSWORD.into()));
    let mut answer = http
        .post(format!("{base}/oauth/authorize/login"))
        .header(reqwest::header::COOKIE, cookie_line(&jar))
        .form(&form)
        .send()
        .await?;
    cookies(&answer, &mut jar);
    if answer.status() == 200 {
        let mut form = fields(&answer.text().await?);
        form.push(("decision".into(), "allow".into()));
        answer = http
            .post(format!("{base}/oauth/authorize/consent"))
            .header(reqwest::header::COOKIE, cookie_line(&jar))
            .form(&form)
            .send()
            .await?;
        cookies(&answer, &mut jar);
    }
    let callback = location(&answer)?;
    let done = http
        .get(&callback)
        .header(reqwest::header::COOKIE, cookie_line(&jar))
        .send()
        .await?;
    cookies(&done, &mut jar);
    let session = jar
        .get("th_console")
        .ok_or_else(|| anyhow!("no console session after the login ({})", done.status()))?;
    Ok(format!("th_console={session}"))
}

fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    if response.status() != 303 {
        bail!("expected a redirect, got {}", response.status());
    }
    Ok(response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow!("a redirect without Location"))?
        .to_owned())
}

/// The hub's (sum, count) of request seconds for `route`, from `/metrics`.
async fn server_time(
    http: &reqwest::Client,
    base: &str,
    route: &str,
) -> anyhow::Result<(f64, f64)> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let label = format!("route=\"{route}\"");
    let mut sum = 0.0;
    let mut count = 0.0;
    for line in text
        .lines()
        .filter(|l| l.contains(&label) && l.contains("status=\"200\""))
    {
        let value: f64 = line
            .rsplit(' ')
            .next()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0.0);
        if line.starts_with("tokenhub_http_request_duration_seconds_sum") {
            sum += value;
        } else if line.starts_with("tokenhub_http_request_duration_seconds_count") {
            count += value;
        }
    }
    Ok((sum, count))
}

async fn measure(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
    expect: &str,
) -> anyhow::Result<()> {
    let url = format!("{base}{path}");
    let get = || {
        http.get(&url)
            .header(reqwest::header::COOKIE, cookie)
            .send()
    };
    for _ in 0..WARM_UP {
        get().await?.bytes().await?;
    }
    let (sum0, count0) = server_time(http, base, "/console/tokens").await?;
    let mut times = Vec::with_capacity(REQUESTS);
    let mut bytes = 0;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let response = get().await?;
        if response.status() != 200 {
            bail!("{path}: {}", response.status());
        }
        let body = response.text().await?;
        times.push(started.elapsed());
        if !body.contains(expect) {
            bail!("{path}: the page does not show {expect}");
        }
        bytes = body.len();
    }
    let (sum1, count1) = server_time(http, base, "/console/tokens").await?;
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| ms(times[((times.len() as f64 * p) as usize).min(times.len() - 1)]);
    println!(
        "  GET {path}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (round trip, {REQUESTS} sequential); \
         hub mean {:.2} ms over {:.0} requests; {bytes} bytes",
        pct(0.50),
        pct(0.99),
        ms(*times.last().expect("measured")),
        (sum1 - sum0) / (count1 - count0).max(1.0) * 1000.0,
        count1 - count0,
    );
    Ok(())
}

/// The token list's first page and its page at 90% of `tokens` by cursor.
pub async fn phase(hub: &Hub, tokens: u64) -> anyhow::Result<()> {
    let base = format!("http://{}", hub.addr);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = log_in(&http, &base).await?;
    println!(
        "== console: token list, 50 a page (tokens:read, logged in through /console/login) =="
    );
    measure(
        &http,
        &base,
        &cookie,
        "/console/tokens",
        &crate::seed::seed_uid(0),
    )
    .await?;
    // Token row ids follow the seeding order from 1: the page after row 90% starts at that uid.
    let deep = tokens / 10 * 9;
    measure(
        &http,
        &base,
        &cookie,
        &format!("/console/tokens?cursor={deep}"),
        &crate::seed::seed_uid(deep),
    )
    .await?;
    measure(
        &http,
        &base,
        &cookie,
        &format!("/console/tokens?party=NL*ABC&cursor={deep}"),
        &crate::seed::seed_uid(deep),
    )
    .await?;
    Ok(())
}
