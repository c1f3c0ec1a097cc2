//! The OAuth 2 authorization server over HTTP (RFC 6749, 6750, 7009, 7662, 8414, 9068), and the
//! management API's `Bearer<Scope>` extractor, on both storage backends.

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::{on_both_backends, on_both_backends_with};

const ALL: &str =
    "tokens:read tokens:write parties:read parties:write sessions:read audit:read clients:write";

/// An answer of an OAuth endpoint, read whole.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
}

async fn reply(request: RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn form(app: &TestApp, path: &str, params: &[(&str, &str)]) -> RequestBuilder {
    app.client
        .post(app.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        )
}

/// A token from the client-credentials grant (HTTP Basic).
async fn token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> Reply {
    let mut params = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    reply(form(app, "/oauth/token", &params).header("Authorization", basic(id, secret))).await
}

async fn access_token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> String {
    let answer = token(app, id, secret, scope).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

async fn whoami(app: &TestApp, base: &str, path: &str, bearer: Option<&str>) -> Reply {
    let mut request = app.client.get(format!("{base}/admin/v1/whoami{path}"));
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    reply(request).await
}

fn jwt_part(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn confidential(app: &TestApp, scopes: &str) -> (String, String) {
    let (id, secret) = app.add_oauth_client(scopes, &[], false).await;
    (id, secret.unwrap())
}

/// A client restricted to parties: its client-credentials tokens carry them (`parties` claim),
/// introspection and whoami show them.
async fn a_restricted_clients_tokens_carry_its_parties(app: TestApp) {
    let (id, secret) = app
        .add_oauth_client_for("tokens:read", &[], false, &["nl*abc", "BE*EMP"])
        .await;
    let secret = secret.unwrap();
    let jwt = access_token(&app, &id, &secret, None).await;
    assert_eq!(jwt_part(&jwt, 1)["parties"], json!(["BE*EMP", "NL*ABC"]));
    let introspected = reply(
        form(&app, "/oauth/introspect", &[("token", jwt.as_str())])
            .header("Authorization", basic(&id, &secret)),
    )
    .await;
    assert_eq!(introspected.status, 200);
    assert_eq!(introspected.body["parties"], json!(["BE*EMP", "NL*ABC"]));
    let me = whoami(&app, &app.base, "", Some(&jwt)).await;
    assert_eq!(me.body["parties"], json!(["BE*EMP", "NL*ABC"]));
    // An unrestricted client's token has no such claim.
    let (free, free_secret) = confidential(&app, "tokens:read").await;
    let jwt = access_token(&app, &free, &free_secret, None).await;
    assert_eq!(jwt_part(&jwt, 1).get("parties"), None);
    assert_eq!(
        whoami(&app, &app.base, "", Some(&jwt)).await.body["parties"],
        Value::Null
    );
}

/// Basic and post authentication both work; the token is an RFC 9068 JWT whose key is in the
/// JWKS; the granted scope is the asked one, or all of the client's.
async fn client_credentials_issue_rfc_9068_tokens(app: TestApp) {
    let (id, secret) = confidential(&app, "tokens:read audit:read").await;
    let answer = token(&app, &id, &secret, Some("tokens:read")).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 300);
    assert_eq!(answer.body["scope"], "tokens:read");
    let jwt = answer.body["access_token"].as_str().unwrap();
    let header = jwt_part(jwt, 0);
    let claims = jwt_part(jwt, 1);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    let (issuer, audience) = app.oauth_issuer_and_audience();
    assert_eq!(issuer, app.base);
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], "tokens:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    let jwks = reply(app.client.get(app.url("/oauth/jwks.json"))).await;
    let kids: Vec<&Value> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert!(kids.contains(&&header["kid"]), "{kids:?}");
    assert!(jwks.body["keys"][0].get("d").is_none(), "no private part");

    // client_secret_post, no scope asked: all of the client's.
    let post = reply(form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    ))
    .await;
    assert_eq!(post.status, 200, "{:?}", post.body);
    assert_eq!(post.body["scope"], "tokens:read audit:read");

    let me = whoami(&app, &app.base, "", post.body["access_token"].as_str()).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["client_id"], id);
    assert_eq!(me.body["scopes"], json!(["tokens:read", "audit:read"]));
    let jti = claims["jti"].as_str().unwrap();
    assert_ne!(
        jti,
        jwt_part(post.body["access_token"].as_str().unwrap(), 1)["jti"]
    );
}

/// Every error of the token endpoint (RFC 6749 §5.2), one row each.
async fn token_endpoint_errors(app: TestApp) {
    let (id, secret) = confidential(&app, "tokens:read").await;
    let (code_client, code_secret) = app
        .add_oauth_client("tokens:read", &["https://app.example.com/cb"], false)
        .await;
    let (public, _) = app
        .add_oauth_client("tokens:read", &["https://app.example.com/cb"], true)
        .await;
    let (disabled, disabled_secret) = confidential(&app, "tokens:read").await;
    assert!(app.disable_oauth_client(&disabled).await);
    let code_secret = code_secret.unwrap();
    let good = basic(&id, &secret);
    let cc = ("grant_type", "client_credentials");
    // (what, Authorization header, form parameters, status, error, words of the description)
    type Row<'a> = (
        &'a str,
        Option<String>,
        Vec<(&'a str, &'a str)>,
        u16,
        &'a str,
        &'a str,
    );
    let rows: Vec<Row> = vec![
        (
            "no grant_type",
            Some(good.clone()),
            vec![],
            400,
            "invalid_request",
            "grant_type is required",
        ),
        (
            "grant_type twice",
            Some(good.clone()),
            vec![cc, cc],
            400,
            "invalid_request",
            "more than once",
        ),
        (
            "two authentication methods",
            Some(good.clone()),
            vec![cc, ("client_id", &id), ("client_secret", &secret)],
            400,
            "invalid_request",
            "one client authentication method",
        ),
        (
            "secret without id",
            None,
            vec![cc, ("client_secret", &secret)],
            400,
            "invalid_request",
            "client_secret needs client_id",
        ),
        (
            "no client authentication",
            None,
            vec![cc],
            401,
            "invalid_client",
            "client authentication required",
        ),
        (
            "wrong secret",
            Some(basic(&id, "wrong")),
            vec![cc],
            401,
            "invalid_client",
            "failed",
        ),
        (
            "unknown client",
            Some(basic("th_nosuchclient", &secret)),
            vec![cc],
            401,
            "invalid_client",
            "failed",
        ),
        (
            "disabled client",
            Some(basic(&disabled, &disabled_secret)),
            vec![cc],
            401,
            "invalid_client",
            "failed",
        ),
        (
            "malformed Basic",
            Some("Basic !!!".into()),
            vec![cc],
            401,
            "invalid_client",
            "malformed Basic",
        ),
        (
            "Bearer instead of Basic",
            Some("Bearer x".into()),
            vec![cc],
            401,
            "invalid_client",
            "HTTP Basic",
        ),
        (
            "confidential id without secret",
            None,
            vec![cc, ("client_id", &id)],
            401,
            "invalid_client",
            "failed",
        ),
        (
            "public client",
            None,
            vec![cc, ("client_id", &public)],
            400,
            "unauthorized_client",
            "confidential clients without redirect URIs",
        ),
        (
            "authorization-code client",
            Some(basic(&code_client, &code_secret)),
            vec![cc],
            400,
            "unauthorized_client",
            "confidential clients without redirect URIs",
        ),
        (
            "password grant",
            Some(good.clone()),
            vec![
                ("grant_type", "password"),
                ("username", "a"),
                ("password", "b"),
            ],
            400,
            "unsupported_grant_type",
            "\"password\"",
        ),
        (
            "unknown scope",
            Some(good.clone()),
            vec![cc, ("scope", "tokens:read nope")],
            400,
            "invalid_scope",
            "unknown scope \"nope\"",
        ),
        (
            "scope beyond the client's",
            Some(good.clone()),
            vec![cc, ("scope", "tokens:write")],
            400,
            "invalid_scope",
            "may not have tokens:write",
        ),
    ];
    for (what, authorization, params, status, error, words) in rows {
        let mut request = form(&app, "/oauth/token", &params);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let answer = reply(request).await;
        assert_eq!(
            (answer.status, answer.error()),
            (status, error),
            "{what}: {:?}",
            answer.body
        );
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(description.contains(words), "{what}: {description}");
        assert_eq!(
            answer.header("cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
        let challenge = answer.header("www-authenticate");
        if status == 401 {
            assert_eq!(
                challenge.as_deref(),
                Some("Basic realm=\"tokenhub\""),
                "{what}"
            );
        } else {
            assert_eq!(challenge, None, "{what}");
        }
    }
    // Not a form at all.
    let json_body = reply(
        app.client
            .post(app.url("/oauth/token"))
            .header("Authorization", good)
            .json(&json!({"grant_type": "client_credentials"})),
    )
    .await;
    assert_eq!(
        (json_body.status, json_body.error()),
        (400, "invalid_request")
    );
    // Nothing was issued or changed by the refusals: the client still gets its token.
    access_token(&app, &id, &secret, None).await;
}

/// RFC 7009 then RFC 7662: a revoked token is inactive and refused by the extractor at once on
/// the instance that revoked it; revocation answers 200 whatever the token.
async fn revoke_then_introspect(app: TestApp) {
    let (id, secret) = confidential(&app, "tokens:read").await;
    let (other, other_secret) = confidential(&app, "audit:read").await;
    let jwt = access_token(&app, &id, &secret, None).await;
    let introspect = |by: (String, String), token: String| {
        let request = form(&app, "/oauth/introspect", &[("token", &token)])
            .header("Authorization", basic(&by.0, &by.1));
        reply(request)
    };
    let active = introspect((other.clone(), other_secret.clone()), jwt.clone()).await;
    assert_eq!(active.status, 200, "{:?}", active.body);
    assert_eq!(active.body["active"], true);
    assert_eq!(active.body["client_id"], id);
    assert_eq!(active.body["scope"], "tokens:read");
    assert_eq!(active.body["token_type"], "Bearer");
    assert_eq!(active.header("cache-control").as_deref(), Some("no-store"));

    // Another client cannot revoke it (200, and nothing happens).
    let by_other = reply(
        form(&app, "/oauth/revoke", &[("token", &jwt)])
            .header("Authorization", basic(&other, &other_secret)),
    )
    .await;
    assert_eq!(by_other.status, 200);
    assert_eq!(whoami(&app, &app.base, "", Some(&jwt)).await.status, 200);

    // Unknown tokens: 200 as well; without client authentication: 401.
    for garbage in ["not-a-token", "a.b.c"] {
        let answer = reply(
            form(
                &app,
                "/oauth/revoke",
                &[("token", garbage), ("token_type_hint", "access_token")],
            )
            .header("Authorization", basic(&id, &secret)),
        )
        .await;
        assert_eq!(answer.status, 200, "{garbage}");
    }
    let anonymous = reply(form(&app, "/oauth/revoke", &[("token", &jwt)])).await;
    assert_eq!(
        (anonymous.status, anonymous.error()),
        (401, "invalid_client")
    );
    let no_token =
        reply(form(&app, "/oauth/revoke", &[]).header("Authorization", basic(&id, &secret))).await;
    assert_eq!(
        (no_token.status, no_token.error()),
        (400, "invalid_request")
    );

    let revoked = reply(
        form(&app, "/oauth/revoke", &[("token", &jwt)])
            .header("Authorization", basic(&id, &secret)),
    )
    .await;
    assert_eq!(revoked.status, 200);
    let inactive = introspect((other.clone(), other_secret.clone()), jwt.clone()).await;
    assert_eq!(inactive.body, json!({"active": false}));
    let refused = whoami(&app, &app.base, "", Some(&jwt)).await;
    assert_eq!(refused.status, 401);
    assert!(refused
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    assert!(refused.body["error_description"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    // Revoking again is fine; a new token of the same client works.
    let again = reply(
        form(&app, "/oauth/revoke", &[("token", &jwt)])
            .header("Authorization", basic(&id, &secret)),
    )
    .await;
    assert_eq!(again.status, 200);
    let fresh = access_token(&app, &id, &secret, None).await;
    assert_eq!(whoami(&app, &app.base, "", Some(&fresh)).await.status, 200);

    // Introspection: anything not a token is inactive; a public client may not introspect.
    let junk = introspect((other.clone(), other_secret.clone()), "junk".into()).await;
    assert_eq!(junk.body, json!({"active": false}));
    let (public, _) = app
        .add_oauth_client("tokens:read", &["https://app.example.com/cb"], true)
        .await;
    let by_public = reply(form(
        &app,
        "/oauth/introspect",
        &[("token", &fresh), ("client_id", &public)],
    ))
    .await;
    assert_eq!(
        (by_public.status, by_public.error()),
        (400, "unauthorized_client")
    );
}

/// `keys rotate`: new tokens carry the new kid, tokens of the old key still work until they
/// expire, and the JWKS serves both.
async fn key_rotation_keeps_old_tokens_valid(app: TestApp) {
    let (id, secret) = confidential(&app, "tokens:read").await;
    let old = access_token(&app, &id, &secret, None).await;
    let old_kid = jwt_part(&old, 0)["kid"].as_str().unwrap().to_owned();
    let new_kid = app.rotate_signing_key().await;
    assert_ne!(old_kid, new_kid);
    // Another process rotated: this instance learns it from the epoch (poll_ms, 250 ms).
    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        let jwt = access_token(&app, &id, &secret, None).await;
        if jwt_part(&jwt, 0)["kid"] == new_kid.as_str() {
            break jwt;
        }
        assert!(Instant::now() < deadline, "the new key never signed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let jwks = reply(app.client.get(app.url("/oauth/jwks.json"))).await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    assert_eq!(whoami(&app, &app.base, "", Some(&old)).await.status, 200);
    assert_eq!(whoami(&app, &app.base, "", Some(&new)).await.status, 200);
}

fn claims(app: &TestApp, change: impl FnOnce(&mut Value)) -> Value {
    let (issuer, audience) = app.oauth_issuer_and_audience();
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": issuer, "sub": "th_forged", "aud": audience, "client_id": "th_forged",
        "scope": "tokens:read", "exp": now + 300, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
    });
    change(&mut claims);
    claims
}

/// The extractor against every kind of bad token (RFC 6750 §3), and scopes per route.
async fn the_extractor_refuses_every_bad_token(app: TestApp) {
    let base = app.base.clone();
    // No token, or another scheme: 401 with a challenge and no error code.
    for header in [None, Some("Token abc"), Some("Basic YTpi")] {
        let mut request = app.client.get(app.url("/admin/v1/whoami"));
        if let Some(value) = header {
            request = request.header("Authorization", value);
        }
        let answer = reply(request).await;
        assert_eq!(answer.status, 401, "{header:?}");
        assert_eq!(
            answer.header("www-authenticate").as_deref(),
            Some("Bearer realm=\"tokenhub\""),
            "{header:?}"
        );
        assert!(
            answer.body.get("error").is_none(),
            "{header:?}: {:?}",
            answer.body
        );
    }
    let empty = reply(
        app.client
            .get(app.url("/admin/v1/whoami"))
            .header("Authorization", "Bearer "),
    )
    .await;
    assert_eq!(empty.status, 400);

    let good = app.sign_access_token(claims(&app, |_| {})).await;
    assert_eq!(whoami(&app, &base, "", Some(&good)).await.status, 200);
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(String::from).collect();
        let mut payload = jwt_part(&good, 1);
        payload["scope"] = json!("tokens:read tokens:write");
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
        parts.join(".")
    };
    let bad_signature = {
        let mut parts: Vec<String> = good.split('.').map(String::from).collect();
        let mut signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[2])
            .unwrap();
        signature[0] ^= 1;
        parts[2] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
        parts.join(".")
    };
    // Signed by a key the hub does not hold, under the hub's own kid.
    let foreign = {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let der = key.to_pkcs8_der().unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = jwt_part(&good, 0)["kid"].as_str().map(String::from);
        jsonwebtoken::encode(
            &header,
            &claims(&app, |_| {}),
            &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
        )
        .unwrap()
    };
    // An HMAC token "signed" with the public key (algorithm confusion).
    let hmac = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = jwt_part(&good, 0)["kid"].as_str().map(String::from);
        jsonwebtoken::encode(
            &header,
            &claims(&app, |_| {}),
            &jsonwebtoken::EncodingKey::from_secret(b"public"),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let expired = app
        .sign_access_token(claims(&app, |c| {
            c["exp"] = json!(now - 60);
            c["iat"] = json!(now - 360);
        }))
        .await;
    let wrong_audience = app
        .sign_access_token(claims(&app, |c| {
            c["aud"] = json!("https://elsewhere.example.com")
        }))
        .await;
    let wrong_issuer = app
        .sign_access_token(claims(&app, |c| {
            c["iss"] = json!("https://idp.example.com")
        }))
        .await;
    let revoked = {
        let (id, secret) = confidential(&app, "tokens:read").await;
        let jwt = access_token(&app, &id, &secret, None).await;
        let answer = reply(
            form(&app, "/oauth/revoke", &[("token", &jwt)])
                .header("Authorization", basic(&id, &secret)),
        )
        .await;
        assert_eq!(answer.status, 200);
        jwt
    };
    let cases = [
        ("garbage", "garbage".to_owned(), "not a JWT"),
        ("tampered claims", tampered, "signature"),
        ("bad signature", bad_signature, "signature"),
        ("foreign key", foreign, "signature"),
        ("HMAC with the public key", hmac, "signature"),
        ("expired", expired, "expired"),
        ("wrong audience", wrong_audience, "audience"),
        ("wrong issuer", wrong_issuer, "issuer"),
        ("revoked", revoked, "revoked"),
    ];
    for (what, jwt, words) in cases {
        let answer = whoami(&app, &base, "", Some(&jwt)).await;
        assert_eq!(answer.status, 401, "{what}: {:?}", answer.body);
        assert_eq!(answer.body["error"], "invalid_token", "{what}");
        let challenge = answer.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"tokenhub\", error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(description.contains(words), "{what}: {description}");
    }

    // Scopes: each probe route admits exactly the tokens that carry its scope.
    let scopes: Vec<&str> = ALL.split(' ').collect();
    let (id, secret) = confidential(&app, ALL).await;
    for scope in &scopes {
        let jwt = access_token(&app, &id, &secret, Some(scope)).await;
        for route in &scopes {
            let answer = whoami(&app, &base, &format!("/{route}"), Some(&jwt)).await;
            if route == scope {
                assert_eq!(answer.status, 200, "{scope} on {route}");
                assert_eq!(answer.body["scopes"], json!([scope]));
            } else {
                assert_eq!(answer.status, 403, "{scope} on {route}");
                assert_eq!(answer.body["error"], "insufficient_scope");
                assert_eq!(answer.body["scope"], *route);
                let challenge = answer.header("www-authenticate").unwrap();
                assert!(
                    challenge.contains("error=\"insufficient_scope\"")
                        && challenge.contains(&format!("scope=\"{route}\"")),
                    "{challenge}"
                );
            }
        }
    }
}

/// RFC 8414: every endpoint and method, every URL from the public URL.
async fn metadata_lists_every_endpoint(app: TestApp) {
    let answer = reply(
        app.client
            .get(app.url("/.well-known/oauth-authorization-server")),
    )
    .await;
    assert_eq!(answer.status, 200);
    let m = &answer.body;
    assert_eq!(m["issuer"], app.base);
    for (key, path) in [
        ("token_endpoint", "/oauth/token"),
        ("jwks_uri", "/oauth/jwks.json"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
    ] {
        assert_eq!(m[key], format!("{}{path}", app.base), "{key}");
        // And each one answers (not 404).
        let url = m[key].as_str().unwrap();
        let status = if key == "jwks_uri" {
            app.client.get(url).send().await.unwrap().status()
        } else {
            app.client.post(url).send().await.unwrap().status()
        };
        assert_ne!(status, StatusCode::NOT_FOUND, "{key}");
    }
    assert_eq!(
        m["grant_types_supported"],
        json!(["client_credentials", "authorization_code", "refresh_token"])
    );
    // Public clients (authorization code with PKCE) authenticate with `none` at the token and
    // revocation endpoints, not at introspection.
    for key in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert_eq!(
            m[key],
            json!(["client_secret_basic", "client_secret_post", "none"]),
            "{key}"
        );
    }
    assert_eq!(
        m["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    let scopes: Vec<&str> = m["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(scopes.join(" "), ALL);
}

/// Interoperability: an independent OAuth 2 client library (the `oauth2` crate) gets a token with
/// either authentication method and reads the hub's errors.
async fn an_independent_client_library_interoperates(app: TestApp) {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl,
    };
    let (id, secret) = confidential(&app, "tokens:read audit:read").await;
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_auth_type(auth.clone())
            .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("audit:read".into()))
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{auth:?}: {e:?}"));
        assert_eq!(token.token_type().as_ref(), "bearer");
        assert_eq!(token.expires_in(), Some(Duration::from_secs(300)));
        let scopes: Vec<String> = token
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(scopes, ["audit:read"]);
        let me = whoami(
            &app,
            &app.base,
            "/audit:read",
            Some(token.access_token().secret()),
        )
        .await;
        assert_eq!(me.status, 200);

        let wrong = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new("wrong".into()))
            .set_auth_type(auth.clone())
            .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
        match wrong
            .exchange_client_credentials()
            .request_async(&http)
            .await
        {
            Err(RequestTokenError::ServerResponse(e)) => {
                assert_eq!(e.error().as_ref(), "invalid_client", "{auth:?}")
            }
            other => panic!("{auth:?}: {other:?}"),
        }
        let beyond = client
            .exchange_client_credentials()
            .add_scope(Scope::new("clients:write".into()))
            .request_async(&http)
            .await;
        match beyond {
            Err(RequestTokenError::ServerResponse(e)) => {
                assert_eq!(e.error().as_ref(), "invalid_scope", "{auth:?}")
            }
            other => panic!("{auth:?}: {other:?}"),
        }
    }
}

on_both_backends!(
    a_restricted_clients_tokens_carry_its_parties,
    client_credentials_issue_rfc_9068_tokens,
    token_endpoint_errors,
    revoke_then_introspect,
    key_rotation_keeps_old_tokens_valid,
    the_extractor_refuses_every_bad_token,
    metadata_lists_every_endpoint,
    an_independent_client_library_interoperates,
);

// ---------------------------------------------------------------------------------------------
// Abuse limits: failed client authentications per address and per client id.
// ---------------------------------------------------------------------------------------------

/// The test connects from 127.0.0.1, trusted as a proxy: `X-Forwarded-For` names the client.
fn small_budget_behind_proxy(config: &mut tokenhub::config::Config) {
    config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.http.auth_failures_per_minute = 1;
    config.http.auth_failure_burst = 3;
}

async fn token_from(app: &TestApp, ip: &str, id: &str, secret: &str) -> Reply {
    reply(
        form(app, "/oauth/token", &[("grant_type", "client_credentials")])
            .header("Authorization", basic(id, secret))
            .header("X-Forwarded-For", ip),
    )
    .await
}

/// A flood of bad secrets gets 429 with `Retry-After`, from one address or for one client id
/// from many; the client that knows its secret is not slowed by it.
async fn failed_client_authentications_are_rate_limited(app: TestApp) {
    let (victim, secret) = confidential(&app, "tokens:read").await;
    // One address: the burst, then 429 without a look-up.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(token_from(&app, "192.0.2.1", &victim, "wrong").await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    let limited = token_from(&app, "192.0.2.1", &victim, "wrong").await;
    assert_eq!(limited.error(), "invalid_client");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The victim itself, behind that same address, still gets its token.
    assert_eq!(
        token_from(&app, "192.0.2.1", &victim, &secret).await.status,
        200
    );
    // Unknown client ids from one address: refused without a look-up once over budget.
    for i in 0..3 {
        let answer = token_from(&app, "192.0.2.2", &format!("th_unknown{i}"), "x").await;
        assert_eq!(answer.status, 401);
    }
    assert_eq!(
        token_from(&app, "192.0.2.2", "th_unknown9", "x")
            .await
            .status,
        429
    );

    // One client id from many addresses: its own budget runs out.
    let (target, target_secret) = confidential(&app, "tokens:read").await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(
            token_from(&app, &format!("198.51.100.{i}"), &target, "wrong")
                .await
                .status,
        );
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // The right secret still works, from any address.
    assert_eq!(
        token_from(&app, "198.51.100.200", &target, &target_secret)
            .await
            .status,
        200
    );
    // Other clients are not affected at all.
    let (bystander, bystander_secret) = confidential(&app, "tokens:read").await;
    assert_eq!(
        token_from(&app, "203.0.113.9", &bystander, &bystander_secret)
            .await
            .status,
        200
    );
}

on_both_backends_with!(small_budget_behind_proxy => failed_client_authentications_are_rate_limited);

// ---------------------------------------------------------------------------------------------
// Several instances.
// ---------------------------------------------------------------------------------------------

/// A revocation on one instance is refused by the other's extractor within the poll interval,
/// with no database query per request; the time it took is printed (the closing note's figure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_a_second_instance() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else {
        return;
    };
    // Instances behind one address share its public URL, hence the tokens' issuer and audience.
    let public_url = app.base.clone();
    let sibling = app
        .spawn_sibling_with(|c| c.http.public_url = Some(public_url))
        .await;
    let (id, secret) = confidential(&app, "tokens:read").await;
    let mut samples = Vec::new();
    for _ in 0..5 {
        let jwt = access_token(&app, &id, &secret, None).await;
        assert_eq!(whoami(&app, &sibling, "", Some(&jwt)).await.status, 200);
        let answer = reply(
            form(&app, "/oauth/revoke", &[("token", &jwt)])
                .header("Authorization", basic(&id, &secret)),
        )
        .await;
        assert_eq!(answer.status, 200);
        let revoked_at = Instant::now();
        let deadline = revoked_at + Duration::from_secs(10);
        loop {
            let answer = whoami(&app, &sibling, "", Some(&jwt)).await;
            if answer.status == 401 {
                assert_eq!(answer.body["error"], "invalid_token");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the sibling still accepts a revoked token"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples.push(revoked_at.elapsed());
    }
    samples.sort();
    eprintln!(
        "revocation reached the second instance after {:?} (median of 5; min {:?}, max {:?}; oauth.poll_ms 250)",
        samples[2], samples[0], samples[4]
    );
    // The same token on the instance that revoked it: refused at once.
    let jwt = access_token(&app, &id, &secret, None).await;
    reply(
        form(&app, "/oauth/revoke", &[("token", &jwt)])
            .header("Authorization", basic(&id, &secret)),
    )
    .await;
    assert_eq!(whoami(&app, &app.base, "", Some(&jwt)).await.status, 401);
}

// ---------------------------------------------------------------------------------------------
// An external identity provider.
// ---------------------------------------------------------------------------------------------

pub const IDP: &str = "https://idp.example.com";
pub const IDP_AUDIENCE: &str = "tokenhub-admin";

/// An external identity provider's keys: tokens signed with them, their JWKS in a file.
pub struct Idp {
    dir: tempfile::TempDir,
    keys: Vec<(String, ed25519_dalek::SigningKey)>,
}

impl Idp {
    pub fn new() -> Idp {
        let mut idp = Idp {
            dir: tempfile::tempdir().unwrap(),
            keys: Vec::new(),
        };
        idp.add_key("idp-key-1");
        idp
    }

    pub fn jwks_path(&self) -> std::path::PathBuf {
        self.dir.path().join("jwks.json")
    }

    /// Adds a key and rewrites the JWKS file (the provider rotated).
    pub fn add_key(&mut self, kid: &str) {
        self.keys.push((
            kid.to_owned(),
            ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng),
        ));
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(kid, key)| {
                json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                    "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
                })
            })
            .collect();
        std::fs::write(self.jwks_path(), json!({ "keys": keys }).to_string()).unwrap();
    }

    pub fn token(&self, kid: &str, change: impl FnOnce(&mut Value)) -> String {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = &self.keys.iter().find(|(k, _)| k == kid).unwrap().1;
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": IDP, "aud": IDP_AUDIENCE, "sub": "alice@example.com", "azp": "bi-tool",
            "scp": ["tokens:read", "openid"], "exp": now + 300, "iat": now,
        });
        change(&mut claims);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let der = key.to_pkcs8_der().unwrap();
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
        )
        .unwrap()
    }
}

/// Tokens of the configured provider pass the same extractor; its keys are read again on an
/// unknown `kid`; its scope claim is read as an array or a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_identity_providers_tokens_pass_the_extractor() {
    let mut idp = Idp::new();
    let jwks = idp.jwks_path();
    let Some(app) = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |c| {
        c.oauth.external = Some(tokenhub::config::ExternalIdpConfig {
            issuer: IDP.into(),
            jwks_url: None,
            jwks_file: Some(jwks),
            audience: IDP_AUDIENCE.into(),
            scope_claim: "scp".into(),
            parties_claim: Some("tenant_parties".into()),
            jwks_min_refresh_secs: 0,
            console: None,
        });
    })
    .await
    else {
        return;
    };
    let base = app.base.clone();
    let alice = idp.token("idp-key-1", |_| {});
    let me = whoami(&app, &base, "/tokens:read", Some(&alice)).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["issuer"], IDP);
    assert_eq!(me.body["subject"], "alice@example.com");
    assert_eq!(me.body["client_id"], "bi-tool");
    assert_eq!(me.body["scopes"], json!(["tokens:read"]));
    assert_eq!(me.body["parties"], Value::Null, "no claim: every party");
    let restricted = idp.token("idp-key-1", |c| c["tenant_parties"] = json!(["nl*abc"]));
    let me = whoami(&app, &base, "/tokens:read", Some(&restricted)).await;
    assert_eq!(me.body["parties"], json!(["NL*ABC"]), "{:?}", me.body);
    let malformed = idp.token("idp-key-1", |c| c["tenant_parties"] = json!("NLABC"));
    assert_eq!(
        whoami(&app, &base, "/tokens:read", Some(&malformed))
            .await
            .status,
        401
    );
    assert_eq!(
        whoami(&app, &base, "/audit:read", Some(&alice))
            .await
            .status,
        403
    );
    let as_string = idp.token("idp-key-1", |c| c["scp"] = json!("audit:read email"));
    assert_eq!(
        whoami(&app, &base, "/audit:read", Some(&as_string))
            .await
            .status,
        200
    );

    // The provider rotates: a token under the new kid makes the hub read the JWKS again.
    idp.add_key("idp-key-2");
    let rotated = idp.token("idp-key-2", |_| {});
    assert_eq!(whoami(&app, &base, "", Some(&rotated)).await.status, 200);

    let now = chrono::Utc::now().timestamp();
    for (what, jwt) in [
        (
            "wrong audience",
            idp.token("idp-key-1", |c| c["aud"] = json!("someone-else")),
        ),
        (
            "expired",
            idp.token("idp-key-1", |c| c["exp"] = json!(now - 60)),
        ),
        (
            "another issuer",
            idp.token("idp-key-1", |c| {
                c["iss"] = json!("https://evil.example.com")
            }),
        ),
        ("unknown kid", {
            let mut other = Idp::new();
            other.add_key("idp-key-9");
            other.token("idp-key-9", |_| {})
        }),
    ] {
        let answer = whoami(&app, &base, "", Some(&jwt)).await;
        assert_eq!(
            (answer.status, answer.body["error"].as_str()),
            (401, Some("invalid_token")),
            "{what}"
        );
    }
    // The hub's own tokens keep working beside the provider's.
    let (id, secret) = confidential(&app, "tokens:read").await;
    let own = access_token(&app, &id, &secret, None).await;
    assert_eq!(
        whoami(&app, &base, "/tokens:read", Some(&own)).await.status,
        200
    );
}
