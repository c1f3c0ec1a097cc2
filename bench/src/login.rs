//! The login phases (`--login-only`): a person's whole round trip from the login page to an
//! access token (authorize page, password checked with Argon2id, consent remembered, code
//! exchanged with the PKCE verifier), and refresh-token rotation under concurrent load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::hub::{CpuSnapshot, Hub};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const PASSWORD: &str = "bench password, long enough";

pub struct LoginSeed {
    client_id: String,
}

/// A public client with a redirect URI and a user, as `client add` and `user add` do.
pub async fn seed(database_url: &str) -> anyhow::Result<LoginSeed> {
    use tokenhub::domain::oauth::{ScopeSet, Username};
    use tokenhub::service::oauth::clients::{add_client, NewClient};
    let store = tokenhub::store::Store::open(&tokenhub::store::StoreSettings::for_url(
        database_url.to_owned(),
        2,
        Duration::from_secs(5),
    ))
    .await?;
    // A public client has no secret to hash: any key does.
    let keys = tokenhub::secrets::Keys::new(
        tokenhub::secrets::MasterKey::from_hex(&"5a".repeat(32)).map_err(anyhow::Error::msg)?,
    );
    let issued = add_client(
        &store,
        &tokenhub::secrets::client_secrets::SecretHasher::new(&keys),
        NewClient {
            name: "bench console".into(),
            scopes: ScopeSet::parse("tokens:read audit:read").map_err(anyhow::Error::msg)?,
            redirect_uris: vec![url::Url::parse(REDIRECT)?],
            public: true,
            parties: tokenhub::domain::access::PartyAccess::All,
        },
        "bench",
    )
    .await?;
    tokenhub::service::oauth::users::add_user(
        &store,
        &Username::parse("bench").map_err(anyhow::Error::msg)?,
        PASSWORD.into(),
        &ScopeSet::parse("tokens:read audit:read").map_err(anyhow::Error::msg)?,
        &tokenhub::domain::access::PartyAccess::All,
        "bench",
    )
    .await?;
    Ok(LoginSeed {
        client_id: issued.client_id,
    })
}

pub fn fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for input in html.split("<input").skip(1) {
        let tag = input.split('>').next().unwrap_or_default();
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            let end = tag[start..].find('"')? + start;
            Some(
                tag[start..end]
                    .replace("&amp;", "&")
                    .replace("&quot;", "\""),
            )
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    out
}

pub fn cookies(response: &reqwest::Response, jar: &mut HashMap<String, String>) {
    for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
        if let Some((name, value)) = set
            .to_str()
            .ok()
            .and_then(|s| s.split(';').next())
            .and_then(|s| s.split_once('='))
        {
            jar.insert(name.to_owned(), value.to_owned());
        }
    }
}

pub fn cookie_line(jar: &HashMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One person's round trip, as a browser without a session does it: the token response.
async fn round_trip(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
) -> anyhow::Result<serde_json::Value> {
    use sha2::Digest;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut jar = HashMap::new();
    let page = http
        .get(format!("{base}/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "bench"),
        ])
        .send()
        .await?;
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
        // The first login of the run: consent once, remembered afterwards.
        let mut form = fields(&answer.text().await?);
        form.push(("decision".into(), "allow".into()));
        answer = http
            .post(format!("{base}/oauth/authorize/consent"))
            .header(reqwest::header::COOKIE, cookie_line(&jar))
            .form(&form)
            .send()
            .await?;
    }
    anyhow::ensure!(answer.status() == 303, "login answered {}", answer.status());
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow::anyhow!("no Location"))?;
    let code = url::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow::anyhow!("no code in {location}"))?;
    let token = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        token.status() == 200,
        "token endpoint answered {}",
        token.status()
    );
    Ok(token.json().await?)
}

pub async fn phases(
    hub: &Hub,
    seed: &LoginSeed,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let base = format!("http://{}", hub.addr);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // Warm-up (and the one consent).
    round_trip(&http, &base, &seed.client_id).await?;
    const ROUND_TRIPS: usize = 30;
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        round_trip(&http, &base, &seed.client_id).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("== login round trip: GET /oauth/authorize → POST login (Argon2id) → 303 code → POST /oauth/token ==");
    println!(
        "  {ROUND_TRIPS} sequential round trips: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        times[ROUND_TRIPS / 2],
        times[ROUND_TRIPS * 9 / 10],
        times[ROUND_TRIPS - 1]
    );
    println!();

    // Each connection refreshes its own family in a loop (every refresh rotates: one write).
    let mut chains = Vec::with_capacity(connections);
    for _ in 0..connections {
        let pair = round_trip(&http, &base, &seed.client_id).await?;
        chains.push(
            pair["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let cpu = CpuSnapshot::take(hub.pid());
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut workers = Vec::new();
    for mut token in chains {
        let (http, base, client_id) = (http.clone(), base.clone(), seed.client_id.clone());
        let (done, failed) = (Arc::clone(&done), Arc::clone(&failed));
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let answer = http
                    .post(format!("{base}/oauth/token"))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", client_id.as_str()),
                        ("refresh_token", token.as_str()),
                    ])
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status() == 200 => {
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        token = body["refresh_token"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = done.load(Ordering::Relaxed);
    println!("== refresh: POST /oauth/token (grant_type=refresh_token, rotated on every use) ==");
    println!(
        "  {done} refreshes in {elapsed:.1} s over {connections} connections: {:.0} req/s; {} failed",
        done as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    println!("  CPU: {}", cpu.usage_since(hub.pid()));
    println!();
    Ok(())
}
