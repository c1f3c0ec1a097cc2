//! A small partner platform served in the test (an actix server on a random port), playing the
//! other side of the Credentials handshake: it serves versions and version details to whoever
//! presents the token it expects, and answers the hub's credentials POST like a real partner
//! (calling the hub's versions with the token the hub sent, before it answers).
#![allow(
    dead_code,
    reason = "compiled into two test binaries (api, processes), each using a different part: an expectation would fail in one of them"
)]

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use serde_json::{json, Value};

/// What the partner does and what it saw.
pub struct PartnerState {
    /// Versions it offers.
    pub versions: Vec<&'static str>,
    /// `(identifier, role)` of its endpoints (URLs under its own base).
    pub endpoints: Vec<(&'static str, &'static str)>,
    /// The token it expects on its versions and details (token B of an incoming registration,
    /// or its own token A/C for the hub).
    pub expected_tokens: Vec<String>,
    /// Answer 500 on versions (an unreachable partner API).
    pub broken: bool,
    /// Every token presented to it, decoded.
    pub seen_tokens: Vec<String>,
    /// The roles it claims when it answers the hub's POST.
    pub roles: Value,
    /// The token it gives the hub in its POST answer (the hub's token C for this partner).
    pub token_for_hub: String,
    /// The Credentials the hub posted, and the status the hub's versions answered to the token in
    /// them.
    pub hub_posted: Option<Value>,
    pub hub_versions_status: Option<u16>,
    /// What the hub pushed to its hubclientinfo receiver: (`CC/PID` of the URL, the body).
    pub client_infos: Vec<(String, Value)>,
    /// How its Tokens SENDER answers real-time authorizations the hub forwards.
    pub authorize: AuthorizeMode,
    /// Each forwarded authorization it received.
    pub authorizations: Vec<SeenAuthorization>,
    /// What the hub pushed to its Tokens and Sessions receivers and this receiver accepted.
    pub pushes: Vec<Pushed>,
    /// Pushes answered HTTP 503 on purpose (counted down, one per push).
    pub fail_pushes: usize,
    /// Pushes refused, each counted (failed on purpose included).
    pub refused_pushes: usize,
}

/// How the partner eMSP answers `POST .../tokens/{uid}/authorize`.
#[derive(Clone, Debug)]
pub enum AuthorizeMode {
    /// OCPI 1000 with this `allowed` and, if given, this `authorization_reference`.
    Answer(&'static str, Option<&'static str>),
    /// The same, after this long.
    Slow(std::time::Duration, &'static str),
    /// OCPI 1000 whose `data` is no AuthorizationInfo.
    Malformed,
    /// HTTP 404 / OCPI 2004.
    Unknown,
    /// HTTP 500 / OCPI 3000.
    Error,
}

/// A forwarded authorization as the partner received it.
#[derive(Clone, Debug)]
pub struct SeenAuthorization {
    pub version: String,
    pub uid: String,
    pub query: String,
    /// Header names lower-case.
    pub headers: std::collections::HashMap<String, String>,
    pub token: String,
    pub body: Option<Value>,
}

/// One PUT the hub made to a Tokens or Sessions receiver.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// `tokens` or `sessions`.
    pub module: String,
    /// The OCPI version of the URL.
    pub version: String,
    /// `CC/PID/ID` of the URL.
    pub object: String,
    /// The query string (`type=RFID`).
    pub query: String,
    pub body: Value,
    /// `OCPI-from-*` and `OCPI-to-*` as `CC*PID`.
    pub from: String,
    pub to: String,
}

pub struct Partner {
    pub base: String,
    pub state: Arc<Mutex<PartnerState>>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for Partner {
    fn drop(&mut self) {
        let server = self.server.clone();
        tokio::spawn(async move { server.stop(false).await });
    }
}

fn envelope(data: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "data": data, "status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"
    }))
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({
        "status_code": 2000, "status_message": "unknown token", "timestamp": "2026-01-01T00:00:00Z"
    }))
}

fn presented(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Token ")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

type Shared = web::Data<(Arc<Mutex<PartnerState>>, String)>;

/// `Err(response)` unless the request carries an expected token.
fn admit(req: &HttpRequest, shared: &Shared) -> Result<(), Box<HttpResponse>> {
    let mut state = shared.0.lock().unwrap();
    let token = presented(req).unwrap_or_default();
    state.seen_tokens.push(token.clone());
    if state.expected_tokens.contains(&token) {
        Ok(())
    } else {
        Err(Box::new(unauthorized()))
    }
}

async fn versions(req: HttpRequest, shared: Shared) -> HttpResponse {
    if let Err(r) = admit(&req, &shared) {
        return *r;
    }
    let state = shared.0.lock().unwrap();
    if state.broken {
        return HttpResponse::InternalServerError().finish();
    }
    let base = &shared.1;
    envelope(json!(state
        .versions
        .iter()
        .map(|v| json!({"version": v, "url": format!("{base}/{v}")}))
        .collect::<Vec<_>>()))
}

async fn details(req: HttpRequest, path: web::Path<String>, shared: Shared) -> HttpResponse {
    if let Err(r) = admit(&req, &shared) {
        return *r;
    }
    let state = shared.0.lock().unwrap();
    let base = format!("{}/{}", shared.1, path.as_str());
    envelope(json!({
        "version": path.as_str(),
        "endpoints": state.endpoints.iter().map(|(id, role)| json!({
            "identifier": id, "role": role, "url": format!("{base}/{id}")
        })).collect::<Vec<_>>(),
    }))
}

/// The hub registers with the partner: like a real receiver, check the hub's versions with the
/// token it sent (step 4 of the handshake), then answer with the partner's Credentials.
async fn credentials_post(
    req: HttpRequest,
    body: web::Json<Value>,
    shared: Shared,
) -> HttpResponse {
    if let Err(r) = admit(&req, &shared) {
        return *r;
    }
    let posted = body.into_inner();
    let hub_token = posted["token"].as_str().unwrap_or_default().to_owned();
    let hub_versions = posted["url"].as_str().unwrap_or_default().to_owned();
    let status = reqwest::Client::new()
        .get(&hub_versions)
        .header(
            "Authorization",
            format!(
                "Token {}",
                base64::engine::general_purpose::STANDARD.encode(&hub_token)
            ),
        )
        .send()
        .await
        .map(|r| r.status().as_u16())
        .ok();
    let mut state = shared.0.lock().unwrap();
    state.hub_posted = Some(posted);
    state.hub_versions_status = status;
    if status != Some(200) {
        return HttpResponse::Ok().json(json!({
            "status_code": 3001, "status_message": "cannot read the hub's versions",
            "timestamp": "2026-01-01T00:00:00Z"
        }));
    }
    // From now on the hub calls the partner with the token given here.
    let token_for_hub = state.token_for_hub.clone();
    state.expected_tokens.push(token_for_hub.clone());
    envelope(json!({
        "token": token_for_hub,
        "url": format!("{}/versions", shared.1),
        "roles": state.roles,
    }))
}

/// The partner's hubclientinfo receiver: records what the hub pushed, as a receiver that
/// answers OCPI 1000.
async fn client_info_put(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Json<Value>,
    shared: Shared,
) -> HttpResponse {
    if let Err(r) = admit(&req, &shared) {
        return *r;
    }
    let (_, cc, pid) = path.into_inner();
    shared
        .0
        .lock()
        .unwrap()
        .client_infos
        .push((format!("{cc}/{pid}"), body.into_inner()));
    envelope(Value::Null)
}

/// The partner eMSP's Tokens SENDER `/authorize`: records the request, answers per its mode
/// with its own token (the first of its roles owns it).
async fn authorize(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    shared: Shared,
) -> HttpResponse {
    if let Err(r) = admit(&req, &shared) {
        return *r;
    }
    let (version, uid) = path.into_inner();
    let query = req.query_string().to_owned();
    let token_type = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "RFID".into());
    let (mode, role) = {
        let mut state = shared.0.lock().unwrap();
        state.authorizations.push(SeenAuthorization {
            version,
            uid: uid.clone(),
            query,
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            token: presented(&req).unwrap_or_default(),
            body: serde_json::from_slice(&body).ok(),
        });
        (state.authorize.clone(), state.roles[0].clone())
    };
    let token = json!({
        "country_code": role["country_code"], "party_id": role["party_id"], "uid": uid,
        "type": token_type, "contract_id": format!("{}-{}-C1", role["country_code"].as_str().unwrap(), role["party_id"].as_str().unwrap()),
        "issuer": "Partner eMSP", "valid": true, "whitelist": "NEVER",
        "last_updated": "2026-01-01T00:00:00Z"
    });
    let answer = |allowed: &str, reference: Option<&str>| {
        let mut info = json!({"allowed": allowed, "token": token.clone(),
                              "info": {"language": "en", "text": format!("partner says {allowed}")}});
        if let Some(r) = reference {
            info["authorization_reference"] = json!(r);
        }
        envelope(info)
    };
    match mode {
        AuthorizeMode::Answer(allowed, reference) => answer(allowed, reference),
        AuthorizeMode::Slow(delay, allowed) => {
            tokio::time::sleep(delay).await;
            answer(allowed, None)
        }
        AuthorizeMode::Malformed => envelope(json!({"allowed": "PERHAPS"})),
        AuthorizeMode::Unknown => HttpResponse::NotFound().json(json!({
            "status_code": 2004, "status_message": "unknown token", "timestamp": "2026-01-01T00:00:00Z"
        })),
        AuthorizeMode::Error => HttpResponse::InternalServerError().json(json!({
            "status_code": 3000, "status_message": "broken", "timestamp": "2026-01-01T00:00:00Z"
        })),
    }
}

fn routing(req: &HttpRequest, side: &str) -> String {
    let header = |name: &str| {
        req.headers()
            .get(format!("ocpi-{side}-{name}"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    format!("{}*{}", header("country-code"), header("party-id"))
}

/// The partner's Tokens and Sessions receivers: record what the hub pushed, or answer 503 while
/// failing on purpose.
async fn object_put(
    req: HttpRequest,
    path: web::Path<(String, String, String, String, String)>,
    body: web::Json<Value>,
    shared: Shared,
) -> HttpResponse {
    if let Err(r) = admit(&req, &shared) {
        return *r;
    }
    let (version, module, cc, pid, id) = path.into_inner();
    let mut state = shared.0.lock().unwrap();
    if state.fail_pushes > 0 {
        state.fail_pushes -= 1;
        state.refused_pushes += 1;
        return HttpResponse::ServiceUnavailable().finish();
    }
    state.pushes.push(Pushed {
        module,
        version,
        object: format!("{cc}/{pid}/{id}"),
        query: req.query_string().to_owned(),
        body: body.into_inner(),
        from: routing(&req, "from"),
        to: routing(&req, "to"),
    });
    envelope(Value::Null)
}

/// Starts a partner on 127.0.0.1 and a random port.
pub async fn start(state: PartnerState) -> Partner {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!(
        "http://127.0.0.1:{}/ocpi",
        listener.local_addr().unwrap().port()
    );
    let state = Arc::new(Mutex::new(state));
    let shared = web::Data::new((Arc::clone(&state), base.clone()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route("/ocpi/versions", web::get().to(versions))
            .route(
                "/ocpi/{version}/credentials",
                web::post().to(credentials_post),
            )
            .route(
                "/ocpi/{version}/hubclientinfo/{country_code}/{party_id}",
                web::put().to(client_info_put),
            )
            .route(
                "/ocpi/{version}/tokens/{uid}/authorize",
                web::post().to(authorize),
            )
            .route(
                "/ocpi/{version}/{module}/{country_code}/{party_id}/{id}",
                web::put().to(object_put),
            )
            .route("/ocpi/{version}", web::get().to(details))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Partner {
        base,
        state,
        server: handle,
    }
}

impl PartnerState {
    /// A 2.3.0 eMSP expecting `token` from the hub.
    pub fn emsp(token: &str) -> Self {
        PartnerState {
            versions: vec!["2.3.0"],
            endpoints: vec![
                ("credentials", "SENDER"),
                ("tokens", "SENDER"),
                ("sessions", "RECEIVER"),
            ],
            expected_tokens: vec![token.to_owned()],
            broken: false,
            seen_tokens: vec![],
            roles: json!([{"role": "EMSP", "business_details": {"name": "Partner eMSP"},
                           "party_id": "PEM", "country_code": "BE"}]),
            token_for_hub: "partner-token-for-the-hub".into(),
            hub_posted: None,
            hub_versions_status: None,
            client_infos: vec![],
            authorize: AuthorizeMode::Answer("ALLOWED", None),
            authorizations: vec![],
            pushes: vec![],
            fail_pushes: 0,
            refused_pushes: 0,
        }
    }

    /// A 2.3.0 platform of one party `cc`*`pid` in `role`, expecting `token` from the hub, with
    /// a hubclientinfo receiver when `takes_client_info`.
    pub fn party(role: &str, cc: &str, pid: &str, token: &str, takes_client_info: bool) -> Self {
        let mut state = PartnerState::emsp(token);
        state.roles = json!([{"role": role, "business_details": {"name": format!("Partner {cc}*{pid}")},
                              "party_id": pid, "country_code": cc}]);
        if takes_client_info {
            state.endpoints.push(("hubclientinfo", "RECEIVER"));
        }
        state
    }
}

/// Starts a partner platform of `state`, invites its party (the first of `state.roles`) and lets
/// it register with the hub (Credentials POST with the token the partner expects); returns the
/// partner and its token C.
pub async fn register_partner(
    app: &crate::helpers::TestApp,
    state: PartnerState,
) -> (Partner, String) {
    // The partner registers over the newest version it speaks.
    let version = *state.versions.last().unwrap();
    register_partner_over(app, state, version).await
}

/// As [`register_partner`], the partner registering over OCPI `version` (one it offers).
pub async fn register_partner_over(
    app: &crate::helpers::TestApp,
    state: PartnerState,
    version: &str,
) -> (Partner, String) {
    let role = state.roles[0].clone();
    let token_b = state.expected_tokens[0].clone();
    let partner = start(state).await;
    let key = tokenhub::domain::ids::PartyKey::parse(
        role["country_code"].as_str().unwrap(),
        role["party_id"].as_str().unwrap(),
    )
    .unwrap();
    let (_, token_a) = tokenhub::service::parties::invite_party(
        &app.store,
        &key,
        role["role"].as_str().unwrap().parse().unwrap(),
        role["business_details"]["name"].as_str().unwrap(),
    )
    .await
    .unwrap();
    let answer = app
        .call(
            reqwest::Method::POST,
            &format!("/ocpi/{version}/credentials"),
            &token_a,
            Some(json!({"token": token_b, "url": partner.versions_url(), "roles": [role]})),
        )
        .await;
    assert_eq!(
        (answer.status, answer.ocpi_status()),
        (200, 1000),
        "{}",
        answer.message()
    );
    let token_c = answer.body["data"]["token"].as_str().unwrap().to_owned();
    (partner, token_c)
}

impl Partner {
    pub fn versions_url(&self) -> String {
        format!("{}/versions", self.base)
    }

    /// What the partner's receivers accepted so far.
    pub fn pushes(&self) -> Vec<Pushed> {
        self.state.lock().unwrap().pushes.clone()
    }

    /// Waits (bounded) until the partner accepted a push that `done` says is the one; returns
    /// every push accepted by then.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Pushed) -> bool) -> Vec<Pushed> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let got = self.pushes();
            if got.iter().any(&done) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no push {what}; got {got:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the latest hubclientinfo push the partner got for `party`
    /// (`CC/PID`) has `status`.
    pub async fn wait_for_push(&self, party: &str, status: &str) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let got = self.state.lock().unwrap().client_infos.clone();
            let latest = got.iter().rev().find(|(p, _)| p == party);
            if latest.is_some_and(|(_, body)| body["status"] == status) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no push of {party} {status}; got {got:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
