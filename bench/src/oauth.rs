//! The OAuth phases (`--oauth-only`): the token endpoint and a bearer-protected route over HTTP,
//! and the cost of validating one access token in process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::hub::{CpuSnapshot, Hub};
use crate::load::{run_phase, Workload};

pub struct BenchClient {
    pub client_id: String,
    pub secret: String,
}

/// Registers a client-credentials client (all scopes) as `tokenhub client add` does.
pub async fn seed_client(database_url: &str, master_key: &str) -> anyhow::Result<BenchClient> {
    use tokenhub::service::oauth::clients::{add_client, NewClient};
    let store = tokenhub::store::Store::open(&tokenhub::store::StoreSettings::for_url(
        database_url.to_owned(),
        2,
        Duration::from_secs(5),
    ))
    .await?;
    let keys = tokenhub::secrets::Keys::new(
        tokenhub::secrets::MasterKey::from_hex(master_key).map_err(anyhow::Error::msg)?,
    );
    let hasher = tokenhub::secrets::client_secrets::SecretHasher::new(&keys);
    let all: tokenhub::domain::oauth::ScopeSet =
        tokenhub::domain::oauth::Scope::ALL.into_iter().collect();
    let issued = add_client(
        &store,
        &hasher,
        NewClient {
            name: "bench".into(),
            scopes: all,
            redirect_uris: Vec::new(),
            public: false,
            parties: tokenhub::domain::access::PartyAccess::All,
        },
        "bench",
    )
    .await?;
    Ok(BenchClient {
        client_id: issued.client_id,
        secret: issued.client_secret.expect("a confidential client"),
    })
}

pub async fn phases(
    hub: &Hub,
    client: &BenchClient,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", client.client_id, client.secret))
    );
    let cpu = CpuSnapshot::take(hub.pid());
    let tokens = run_phase(
        hub.addr,
        connections,
        duration,
        Arc::new(Workload::OAuthToken {
            auth: basic.clone(),
        }),
    )
    .await?;
    tokens.print(
        "oauth token: POST /oauth/token (client_credentials, HTTP Basic, secret checked against its keyed hash)",
        connections,
    );
    println!("  CPU: {}", cpu.usage_since(hub.pid()));
    println!();

    let access_token = fetch_token(hub, &basic).await?;
    let cpu = CpuSnapshot::take(hub.pid());
    let bearer = run_phase(
        hub.addr,
        connections,
        duration,
        Arc::new(Workload::Bearer {
            auth: format!("Bearer {access_token}"),
            path: "/admin/v1/whoami/tokens:read",
        }),
    )
    .await?;
    bearer.print(
        "bearer: GET /admin/v1/whoami/tokens:read (JWT validated in memory, no database)",
        connections,
    );
    println!("  CPU: {}", cpu.usage_since(hub.pid()));
    println!();

    validation_cost();
    Ok(())
}

async fn fetch_token(hub: &Hub, basic: &str) -> anyhow::Result<String> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let mut sender = crate::load::connect(hub.addr).await?;
    let request = hyper::Request::builder()
        .method(hyper::Method::POST)
        .uri("/oauth/token")
        .header("host", hub.addr.to_string())
        .header("authorization", basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(
            b"grant_type=client_credentials",
        )))?;
    let (status, body) = crate::load::exchange(&mut sender, request).await?;
    anyhow::ensure!(status == 200, "token endpoint answered {status}");
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(json["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no access_token"))?
        .to_owned())
}

/// Validates one access token many times with the hub's own function (signature, `typ`, issuer,
/// audience, expiry): the per-request cost of the extractor, without HTTP.
fn validation_cost() {
    use tokenhub::service::oauth::keys::{generate, KeyRing};
    use tokenhub::service::oauth::tokens::{sign, verify_own, AccessClaims};
    let sealer = tokenhub::secrets::sealed::Sealer::new([9; 32]);
    let row = generate(&sealer, chrono::Utc::now().naive_utc());
    let ring = KeyRing::from_rows(std::slice::from_ref(&row), &sealer).expect("a key ring");
    let now = chrono::Utc::now().timestamp();
    let claims = AccessClaims {
        iss: "https://hub.example.com".into(),
        sub: "th_bench".into(),
        aud: "https://hub.example.com".into(),
        client_id: "th_bench".into(),
        scope: "tokens:read audit:read".into(),
        exp: now + 300,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        parties: None,
    };
    let jwt = sign(&ring, &claims).expect("a signing key");
    const ROUNDS: u32 = 20_000;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let header = jsonwebtoken::decode_header(&jwt).expect("a JWT");
        let principal = verify_own(
            &jwt,
            &header,
            &ring,
            "https://hub.example.com",
            "https://hub.example.com",
        )
        .expect("a valid token");
        std::hint::black_box(principal);
    }
    let per = started.elapsed() / ROUNDS;
    println!("== JWT validation (in process, one core) ==");
    println!(
        "  {ROUNDS} validations of an EdDSA access token: {:.1} µs each",
        per.as_secs_f64() * 1e6
    );
}
