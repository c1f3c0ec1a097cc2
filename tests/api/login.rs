//! People log in (OAuth part 2): the authorization-code grant with PKCE through the hub's login,
//! TOTP and consent pages, driven like a browser (cookies kept, CSRF field read from the HTML,
//! TOTP code computed here), then code exchange, refresh rotation, replays and what they revoke;
//! on both backends, and once more with an independent OAuth client library.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;
use crate::{on_both_backends, on_both_backends_with};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "correct horse battery staple";

/// A browser: keeps cookies by name, follows no redirect (the test reads each `Location`).
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// One answer: status, headers, body text.
struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of every `<input name=... value=...>` of the page, unescaped.
    fn fields(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for input in self.body.split("<input").skip(1) {
            let tag = input.split('>').next().unwrap_or_default();
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
                let end = tag[start..].find('"')? + start;
                Some(unescape(&tag[start..end]))
            };
            if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
                out.push((name, value));
            }
        }
        out
    }

    /// The query parameters of the redirect this answer makes to the client.
    fn redirect_params(&self) -> HashMap<String, String> {
        assert_eq!(self.status, 303, "expected a redirect: {}", self.body);
        let location = self.header("location").expect("a Location header");
        assert!(location.starts_with(REDIRECT), "{location}");
        url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request;
        if !self.cookies.is_empty() {
            let line: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header(COOKIE, line.join("; "));
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Lax"),
                "{set}"
            );
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url);
        self.send(request).await
    }

    /// Submits the form of `page` to `path`: its fields (hidden ones, the CSRF token), with
    /// `extra` set.
    async fn submit(
        &mut self,
        app: &TestApp,
        page: &Page,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut fields: Vec<(String, String)> = page
            .fields()
            .into_iter()
            .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name))
            .collect();
        fields.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let request = self
            .http
            .post(app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }
}

/// A PKCE pair: (verifier, S256 challenge).
fn pkce() -> (String, String) {
    let verifier = format!("{}-verifier", uuid::Uuid::new_v4().simple()).repeat(2);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(
    app: &TestApp,
    client_id: &str,
    scope: Option<&str>,
    challenge: &str,
    method: &str,
) -> String {
    let mut url = url::Url::parse(&app.url("/oauth/authorize")).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("state", "st&te 1")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", method);
        if let Some(scope) = scope {
            q.append_pair("scope", scope);
        }
    }
    url.to_string()
}

/// RFC 6238 computed here, from the URI `user totp enable` printed: the base32 secret, HMAC-SHA1,
/// dynamic truncation, 6 digits.
pub(crate) fn totp_now(uri: &str) -> String {
    totp_at(uri, chrono::Utc::now().timestamp())
}

fn totp_at(uri: &str, unix_secs: i64) -> String {
    let secret_b32 = url::Url::parse(uri)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .into_owned();
    let mut bits = 0u64;
    let mut count = 0;
    let mut secret = Vec::new();
    for c in secret_b32.chars() {
        let v = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).unwrap() as u64;
        bits = (bits << 5) | v;
        count += 5;
        if count >= 8 {
            secret.push((bits >> (count - 8)) as u8);
            count -= 8;
        }
    }
    let step = unix_secs / 30;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&secret).unwrap();
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let n = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", n % 1_000_000)
}

async fn token_call(app: &TestApp, params: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn exchange(app: &TestApp, client_id: &str, code: &str, verifier: &str) -> (u16, Value) {
    token_call(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(app: &TestApp, client_id: &str, token: &str) -> (u16, Value) {
    token_call(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", token),
        ],
    )
    .await
}

/// A confidential client-credentials client that introspects.
struct Introspector(String, String);

impl Introspector {
    async fn new(app: &TestApp) -> Self {
        let (id, secret) = app.add_oauth_client("tokens:read", &[], false).await;
        Introspector(id, secret.unwrap())
    }

    async fn active(&self, app: &TestApp, token: &str) -> bool {
        let response = app
            .client
            .post(app.url("/oauth/introspect"))
            .basic_auth(&self.0, Some(&self.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["active"].as_bool().unwrap()
    }
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

/// Logs `username` in through the pages (and the TOTP step when `totp` is given) up to the
/// answer after the last step: the consent page, or the redirect when consent is remembered.
async fn log_in(
    app: &TestApp,
    browser: &mut Browser,
    url: &str,
    username: &str,
    totp: Option<&str>,
) -> Page {
    let login = browser.get(url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let after = browser
        .submit(
            app,
            &login,
            "/oauth/authorize/login",
            &[("username", username), ("password", PASSWORD)],
        )
        .await;
    match totp {
        None => after,
        Some(uri) => {
            assert_eq!(after.status, 200, "{}", after.body);
            assert!(after.body.contains("authentication code"), "{}", after.body);
            browser
                .submit(
                    app,
                    &after,
                    "/oauth/authorize/totp",
                    &[("code", &totp_now(uri))],
                )
                .await
        }
    }
}

/// The whole flow: login page, wrong password, TOTP, consent (scopes in words), code exchange
/// with the verifier, refresh rotation; a replayed code revokes what it issued; consent is
/// remembered on the next visit; the login and consent pages cannot be framed.
async fn a_person_logs_in_through_the_pages(app: TestApp) {
    let (client_id, _) = app
        .add_oauth_client("tokens:read audit:read clients:write", &[REDIRECT], true)
        .await;
    let uri = app
        .add_login_user(
            "alice",
            PASSWORD,
            "tokens:read audit:read parties:read",
            true,
        )
        .await
        .unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let introspector = Introspector::new(&app).await;
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &app,
        &client_id,
        Some("tokens:read audit:read parties:read"),
        &challenge,
        "S256",
    );

    let mut browser = Browser::new();
    let login = browser.get(&url).await;
    assert_eq!(login.status, 200);
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert!(login
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert!(login.body.contains("name=\"viewport\""));
    assert!(login.body.contains("Sign in to continue to test client"));
    assert!(login
        .fields()
        .iter()
        .any(|(n, v)| n == "csrf" && !v.is_empty()));

    // Wrong password and unknown user: one answer, naming neither.
    let wrong = browser
        .submit(
            &app,
            &login,
            "/oauth/authorize/login",
            &[("username", "alice"), ("password", "not the password")],
        )
        .await;
    let unknown = browser
        .submit(
            &app,
            &login,
            "/oauth/authorize/login",
            &[("username", "bob"), ("password", PASSWORD)],
        )
        .await;
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, 400);
        assert!(
            page.body.contains("The username or password is incorrect."),
            "{}",
            page.body
        );
    }
    // A form posted without the CSRF field (another site's form) is refused.
    let forged = browser
        .submit(
            &app,
            &login,
            "/oauth/authorize/login",
            &[
                ("csrf", "forged"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // Password, then a wrong TOTP code, then the right one.
    let totp_page = browser
        .submit(
            &app,
            &login,
            "/oauth/authorize/login",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(totp_page.status, 200);
    // A code of none of the three steps the hub accepts around now.
    let now = chrono::Utc::now().timestamp();
    let window: Vec<String> = [-60, -30, 0, 30, 60]
        .iter()
        .map(|d| totp_at(&uri, now + d))
        .collect();
    let bad_code = ["000000", "111111", "222222", "333333", "444444", "555555"]
        .into_iter()
        .find(|c| !window.iter().any(|w| w == c))
        .unwrap();
    let wrong_code = browser
        .submit(
            &app,
            &totp_page,
            "/oauth/authorize/totp",
            &[("code", bad_code)],
        )
        .await;
    assert_eq!(wrong_code.status, 400);
    let code_used = totp_now(&uri);
    let consent = browser
        .submit(
            &app,
            &totp_page,
            "/oauth/authorize/totp",
            &[("code", &code_used)],
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    // The same code a second time (another browser, the password known): refused, also within
    // its 30 seconds (RFC 6238 §5.2).
    let mut thief = Browser::new();
    let thief_login = thief.get(&url).await;
    let thief_totp = thief
        .submit(
            &app,
            &thief_login,
            "/oauth/authorize/login",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    let replayed = thief
        .submit(
            &app,
            &thief_totp,
            "/oauth/authorize/totp",
            &[("code", &code_used)],
        )
        .await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(replayed.body.contains("used already"));
    // requested ∩ client ∩ user: parties:read is not the client's, clients:write not alice's.
    let listed = consent
        .body
        .split("<ul>")
        .nth(1)
        .unwrap()
        .split("</ul>")
        .next()
        .unwrap();
    assert!(
        listed.contains("Read the tokens of every party"),
        "{listed}"
    );
    assert!(listed.contains("audit:read"));
    assert!(
        !listed.contains("parties:read") && !listed.contains("clients:write"),
        "{listed}"
    );
    assert!(consent
        .body
        .contains("test client wants to access tokenhub"));
    let params = browser
        .submit(
            &app,
            &consent,
            "/oauth/authorize/consent",
            &[("decision", "allow")],
        )
        .await
        .redirect_params();
    assert_eq!(params["state"], "st&te 1");
    assert_eq!(params["iss"], app.oauth_issuer_and_audience().0);
    let code = params["code"].clone();

    // A wrong verifier is refused and does not burn the code.
    let (status, body) = exchange(&app, &client_id, &code, &pkce().0).await;
    assert_eq!((status, s(&body, "error").as_str()), (400, "invalid_grant"));
    let (status, first) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["scope"], "tokens:read audit:read");
    assert_eq!(first["token_type"], "Bearer");
    let claims = jwt_claims(&s(&first, "access_token"));
    assert_eq!(
        (claims["sub"].as_str(), claims["client_id"].as_str()),
        (Some("alice"), Some(client_id.as_str()))
    );
    let me = app
        .client
        .get(app.url("/admin/v1/whoami/audit:read"))
        .bearer_auth(s(&first, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // Refresh rotates: a new refresh token, a new access token.
    let (status, second) = refresh(&app, &client_id, &s(&first, "refresh_token")).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert!(introspector.active(&app, &s(&second, "access_token")).await);

    // The used code again: refused, and everything it issued is revoked.
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!((status, s(&body, "error").as_str()), (400, "invalid_grant"));
    assert!(s(&body, "error_description").contains("revoked"), "{body}");
    for access in [&first, &second] {
        assert!(!introspector.active(&app, &s(access, "access_token")).await);
    }
    let (status, body) = refresh(&app, &client_id, &s(&second, "refresh_token")).await;
    assert_eq!((status, s(&body, "error").as_str()), (400, "invalid_grant"));

    // Consent is remembered for this client and these scopes: the next visit goes straight back
    // with a code, and that code works.
    let (verifier, challenge) = pkce();
    let again = browser
        .get(&authorize_url(
            &app,
            &client_id,
            Some("tokens:read"),
            &challenge,
            "S256",
        ))
        .await;
    let code = again.redirect_params()["code"].clone();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "tokens:read");
}

fn jwt_claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// What the authorization endpoint refuses, and where: an unknown redirect URI on a page (never
/// redirected), `plain` PKCE and a missing challenge back to the client with `state`, a refusal
/// on the consent page as `access_denied`.
async fn bad_requests_are_refused_in_the_right_place(app: TestApp) {
    let (client_id, _) = app.add_oauth_client("tokens:read", &[REDIRECT], true).await;
    app.add_login_user("carol", PASSWORD, "tokens:read", false)
        .await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();

    let elsewhere = authorize_url(&app, &client_id, None, &challenge, "S256")
        .replace("127.0.0.1%3A9", "evil.example.com");
    let page = browser.get(&elsewhere).await;
    assert_eq!(page.status, 400);
    assert!(page.header("location").is_none());
    assert!(
        page.body
            .contains("redirect_uri is not registered for this client"),
        "{}",
        page.body
    );
    let page = browser
        .get(&app.url("/oauth/authorize?response_type=code&client_id=th_nobody"))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("there is no such client"));

    let plain = browser
        .get(&authorize_url(&app, &client_id, None, &challenge, "plain"))
        .await;
    let params = plain.redirect_params();
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("plain is refused"));
    assert_eq!(params["state"], "st&te 1");
    let unknown_scope = browser
        .get(&authorize_url(
            &app,
            &client_id,
            Some("tokens:read nope"),
            &challenge,
            "S256",
        ))
        .await;
    assert_eq!(unknown_scope.redirect_params()["error"], "invalid_scope");

    let consent = log_in(
        &app,
        &mut browser,
        &authorize_url(&app, &client_id, None, &challenge, "S256"),
        "carol",
        None,
    )
    .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let params = browser
        .submit(
            &app,
            &consent,
            "/oauth/authorize/consent",
            &[("decision", "deny")],
        )
        .await
        .redirect_params();
    assert_eq!(params["error"], "access_denied");
    assert!(!params.contains_key("code"));
    // Refusing remembers nothing: the next visit asks again.
    let again = browser
        .get(&authorize_url(&app, &client_id, None, &challenge, "S256"))
        .await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("value=\"allow\""));

    // At the token endpoint: a client-credentials client may not exchange codes, and a verifier
    // of the wrong shape is refused as a bad request.
    let (status, body) = exchange(&app, &client_id, "thc_x", "short").await;
    assert_eq!(
        (status, s(&body, "error").as_str()),
        (400, "invalid_request")
    );
}

/// Refresh rotation and reuse: within the grace a rotated token gets a fresh pair of the family
/// (a double refresh); after it, the whole family is revoked, access tokens included. Revoking a
/// refresh token at /oauth/revoke revokes its family too.
async fn reused_refresh_tokens_revoke_the_family(app: TestApp) {
    let (client_id, _) = app.add_oauth_client("tokens:read", &[REDIRECT], true).await;
    app.add_login_user("dave", PASSWORD, "tokens:read", false)
        .await;
    let introspector = Introspector::new(&app).await;
    let mut browser = Browser::new();
    // Two tabs refreshing with one token at the same moment: both get a pair.
    let racing = token_pair(&app, &mut browser, &client_id, "dave").await;
    let token = s(&racing, "refresh_token");
    let (a, b) = tokio::join!(
        refresh(&app, &client_id, &token),
        refresh(&app, &client_id, &token)
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    assert_ne!(a.1["refresh_token"], b.1["refresh_token"]);

    let first = token_pair(&app, &mut browser, &client_id, "dave").await;
    let (status, second) = refresh(&app, &client_id, &s(&first, "refresh_token")).await;
    assert_eq!(status, 200);
    // The old one again at once (the grace is 3 s here): a fresh pair, same family.
    let (status, twin) = refresh(&app, &client_id, &s(&first, "refresh_token")).await;
    assert_eq!(status, 200, "{twin}");
    assert_ne!(twin["refresh_token"], second["refresh_token"]);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let (status, body) = refresh(&app, &client_id, &s(&first, "refresh_token")).await;
    assert_eq!((status, s(&body, "error").as_str()), (400, "invalid_grant"));
    assert!(
        s(&body, "error_description").contains("family is revoked"),
        "{body}"
    );
    for live in [&second, &twin] {
        let (status, _) = refresh(&app, &client_id, &s(live, "refresh_token")).await;
        assert_eq!(status, 400);
        assert!(!introspector.active(&app, &s(live, "access_token")).await);
    }

    // Another family (consent remembered), revoked through the revocation endpoint.
    let other = token_pair(&app, &mut browser, &client_id, "dave").await;
    assert!(introspector.active(&app, &s(&other, "access_token")).await);
    let revoked = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("client_id", client_id.as_str()),
            ("token", &s(&other, "refresh_token")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(!introspector.active(&app, &s(&other, "access_token")).await);
    let (status, _) = refresh(&app, &client_id, &s(&other, "refresh_token")).await;
    assert_eq!(status, 400);

    // A disabled user's families die with it.
    let last = token_pair(&app, &mut browser, &client_id, "dave").await;
    assert!(app.disable_login_user("dave").await);
    let (status, _) = refresh(&app, &client_id, &s(&last, "refresh_token")).await;
    assert_eq!(status, 400);
}

/// A person restricted to parties, through a client restricted to parties: the token may act for
/// the parties both may (in the JWT, introspection and whoami), after a refresh too, and a
/// restriction set on the user later is in the next refreshed token.
async fn a_persons_token_carries_both_party_restrictions(app: TestApp) {
    let (client_id, _) = app
        .add_oauth_client_for("tokens:read", &[REDIRECT], true, &["NL*ABC", "DE*XYZ"])
        .await;
    app.add_login_user_for(
        "ivan",
        PASSWORD,
        "tokens:read",
        false,
        &["BE*EMP", "nl*abc"],
    )
    .await;
    let (free_client, _) = app.add_oauth_client("tokens:read", &[REDIRECT], true).await;
    app.add_login_user("judy", PASSWORD, "tokens:read", false)
        .await;
    let (id, secret) = app.add_oauth_client("tokens:read", &[], false).await;
    let introspect = |token: String| {
        let request = app
            .client
            .post(app.url("/oauth/introspect"))
            .basic_auth(&id, secret.as_deref())
            .form(&[("token", token)]);
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body
        }
    };

    let mut browser = Browser::new();
    let pair = token_pair(&app, &mut browser, &client_id, "ivan").await;
    let access = s(&pair, "access_token");
    assert_eq!(jwt_claims(&access)["parties"], json!(["NL*ABC"]));
    let seen = introspect(access.clone()).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["parties"], json!(["NL*ABC"]));
    let (status, refreshed) = refresh(&app, &client_id, &s(&pair, "refresh_token")).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        jwt_claims(&s(&refreshed, "access_token"))["parties"],
        json!(["NL*ABC"])
    );

    // Neither restricted: no claim at all, and introspection shows none.
    let mut other_browser = Browser::new();
    let free = token_pair(&app, &mut other_browser, &free_client, "judy").await;
    let free_access = s(&free, "access_token");
    assert_eq!(jwt_claims(&free_access).get("parties"), None);
    let seen = introspect(free_access).await;
    assert_eq!(
        (seen["active"].clone(), seen.get("parties")),
        (json!(true), None)
    );
}

/// A code for `username` through the pages (login and consent on the first visit, the remembered
/// consent afterwards), exchanged: the token response.
async fn token_pair(
    app: &TestApp,
    browser: &mut Browser,
    client_id: &str,
    username: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, client_id, None, &challenge, "S256");
    let page = if browser.cookies.contains_key("th_login") {
        browser.get(&url).await
    } else {
        let consent = log_in(app, browser, &url, username, None).await;
        browser
            .submit(
                app,
                &consent,
                "/oauth/authorize/consent",
                &[("decision", "allow")],
            )
            .await
    };
    let code = page.redirect_params()["code"].clone();
    let (status, body) = exchange(app, client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn short_grace(config: &mut tokenhub::config::Config) {
    config.oauth.refresh_reuse_grace_secs = 3;
}

/// Failed logins are limited per username (whoever types it, from wherever) and per address:
/// past the burst the page says when to try again, for a username that does not exist as for
/// one that does.
async fn repeated_failures_lock_with_a_clear_message(app: TestApp) {
    let (client_id, _) = app.add_oauth_client("tokens:read", &[REDIRECT], true).await;
    app.add_login_user("erin", PASSWORD, "tokens:read", false)
        .await;
    let (_, challenge) = pkce();
    let url = authorize_url(&app, &client_id, None, &challenge, "S256");
    for username in ["erin", "nobody"] {
        // A fresh browser each time: cookies do not matter to the limit.
        let mut statuses = Vec::new();
        let mut last = None;
        for _ in 0..6 {
            let mut browser = Browser::new();
            let login = browser.get(&url).await;
            let page = browser
                .submit(
                    &app,
                    &login,
                    "/oauth/authorize/login",
                    &[("username", username), ("password", "wrong password!")],
                )
                .await;
            statuses.push(page.status);
            last = Some(page);
        }
        assert_eq!(statuses, [400, 400, 400, 400, 400, 429], "{username}");
        let last = last.unwrap();
        assert!(
            last.body.contains("Too many failed sign-ins. Try again in"),
            "{}",
            last.body
        );
        assert!(last.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    }
    // Locked means locked: the right password waits too.
    let mut browser = Browser::new();
    let login = browser.get(&url).await;
    let page = browser
        .submit(
            &app,
            &login,
            "/oauth/authorize/login",
            &[("username", "erin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 429);
}

fn many_addresses_allowed(config: &mut tokenhub::config::Config) {
    // Per username is what this test counts: the address budget (every request comes from
    // 127.0.0.1, and it is shared with every other authentication) is set out of the way.
    config.oauth.login_failure_burst = 5;
    config.oauth.login_failures_per_minute = 1;
    config.http.auth_failure_burst = 100;
}

/// The metadata lists the authorization endpoint, the code flow, S256 only, both new grants.
async fn metadata_lists_the_code_flow(app: TestApp) {
    let doc: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["authorization_endpoint"], app.url("/oauth/authorize"));
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let grants = doc["grant_types_supported"].as_array().unwrap();
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(grants.iter().any(|g| g == grant), "{grant}");
    }
}

/// Interoperability: the `oauth2` crate builds the authorization URL (PKCE S256, state), the
/// pages are driven as a browser would, and the crate exchanges the code and refreshes.
async fn an_independent_client_library_logs_in(app: TestApp) {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
        TokenResponse, TokenUrl,
    };
    let (client_id, _) = app
        .add_oauth_client("tokens:read audit:read", &[REDIRECT], true)
        .await;
    app.add_login_user("frank", PASSWORD, "tokens:read audit:read", false)
        .await;
    let client = BasicClient::new(ClientId::new(client_id))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("audit:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = Browser::new();
    let consent = log_in(&app, &mut browser, url.as_str(), "frank", None).await;
    let redirect = browser
        .submit(
            &app,
            &consent,
            "/oauth/authorize/consent",
            &[("decision", "allow")],
        )
        .await;
    let params = redirect.redirect_params();
    assert_eq!(&params["state"], csrf.secret());
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["audit:read"]);
    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        token.refresh_token().unwrap().secret()
    );
    let me = app
        .client
        .get(app.url("/admin/v1/whoami/audit:read"))
        .bearer_auth(refreshed.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

/// A confidential client (secret and redirect URI) exchanges its code with HTTP Basic; the code
/// is bound to its client and redirect URI; without the secret, or for another client, nothing.
async fn a_confidential_client_exchanges_with_its_secret(app: TestApp) {
    let (client_id, secret) = app
        .add_oauth_client("tokens:read", &[REDIRECT], false)
        .await;
    let secret = secret.unwrap();
    let (other_id, _) = app.add_oauth_client("tokens:read", &[REDIRECT], true).await;
    app.add_login_user("grace", PASSWORD, "tokens:read", false)
        .await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new();
    let consent = log_in(
        &app,
        &mut browser,
        &authorize_url(&app, &client_id, None, &challenge, "S256"),
        "grace",
        None,
    )
    .await;
    let code = browser
        .submit(
            &app,
            &consent,
            "/oauth/authorize/consent",
            &[("decision", "allow")],
        )
        .await
        .redirect_params()["code"]
        .clone();
    let form = |redirect: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", redirect.to_owned()),
            ("code_verifier", verifier.clone()),
        ]
    };
    let post = |params: Vec<(&'static str, String)>, basic: Option<(&str, &str)>| {
        let mut request = app.client.post(app.url("/oauth/token")).form(&params);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    // Without its secret the client is not authenticated.
    let mut without = form(REDIRECT);
    without.push(("client_id", client_id.clone()));
    let (status, body) = post(without, None).await;
    assert_eq!(
        (status, s(&body, "error").as_str()),
        (401, "invalid_client")
    );
    // Another client, or another redirect URI: the code is not theirs.
    let mut other = form(REDIRECT);
    other.push(("client_id", other_id.clone()));
    let (status, body) = post(other, None).await;
    assert_eq!(
        (status, s(&body, "error").as_str()),
        (400, "invalid_grant"),
        "{body}"
    );
    let (status, body) = post(
        form("http://127.0.0.1:9/other"),
        Some((&client_id, &secret)),
    )
    .await;
    assert_eq!((status, s(&body, "error").as_str()), (400, "invalid_grant"));
    assert!(
        s(&body, "error_description").contains("redirect_uri"),
        "{body}"
    );
    let (status, body) = post(form(REDIRECT), Some((&client_id, &secret))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].as_str().unwrap().starts_with("thr_"));
    // The code-flow client may not use client_credentials (DESIGN §3).
    let (status, body) = post(
        vec![("grant_type", "client_credentials".to_owned())],
        Some((&client_id, &secret)),
    )
    .await;
    assert_eq!(
        (status, s(&body, "error").as_str()),
        (400, "unauthorized_client")
    );
}

on_both_backends!(
    a_persons_token_carries_both_party_restrictions,
    a_person_logs_in_through_the_pages,
    a_confidential_client_exchanges_with_its_secret,
    bad_requests_are_refused_in_the_right_place,
    metadata_lists_the_code_flow,
    an_independent_client_library_logs_in,
);
on_both_backends_with!(short_grace => reused_refresh_tokens_revoke_the_family);
on_both_backends_with!(many_addresses_allowed => repeated_failures_lock_with_a_clear_message);
