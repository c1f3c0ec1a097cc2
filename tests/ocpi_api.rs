//! OCPI behaviour through the real server, on SQLite and on PostgreSQL.

mod common;

use common::{read, session_json, token_json, Answer, Backend, TestApp};
use reqwest::Method;
use serde_json::json;
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;

async fn versions_and_credentials(app: TestApp) {
    let list = app
        .call(Method::GET, "/ocpi/versions", &app.emsp, None)
        .await;
    assert_eq!((list.status, list.ocpi_status()), (200, 1000));
    assert_eq!(list.body["data"][0]["version"], "2.3.0");
    assert_eq!(list.body["data"][0]["url"], app.url("/ocpi/2.3.0"));
    assert!(
        list.header("ocpi-from-country-code").is_none(),
        "no routing headers on versions"
    );

    let details = app.call(Method::GET, "/ocpi/2.3.0/", &app.cpo, None).await;
    assert_eq!(details.status, 200, "trailing slash is accepted");
    let endpoints = details.body["data"]["endpoints"].as_array().unwrap();
    let has = |id: &str, role: &str, path: &str| {
        endpoints
            .iter()
            .any(|e| e["identifier"] == id && e["role"] == role && e["url"] == app.url(path))
    };
    assert!(has("tokens", "SENDER", "/ocpi/2.3.0/sender/tokens"));
    assert!(has("tokens", "RECEIVER", "/ocpi/2.3.0/receiver/tokens"));
    assert!(has("sessions", "RECEIVER", "/ocpi/2.3.0/receiver/sessions"));
    assert!(has("credentials", "SENDER", "/ocpi/2.3.0/credentials"));

    let creds = app
        .call(Method::GET, "/ocpi/2.3.0/credentials", &app.emsp, None)
        .await;
    assert_eq!(
        creds.body["data"]["token"],
        app.emsp.as_str(),
        "echoes the presented token"
    );
    assert_eq!(creds.body["data"]["hub_party_id"], "NLHUB");
    assert_eq!(creds.body["data"]["roles"].as_array().unwrap().len(), 2);

    // Raw (non-Base64) tokens, as 2.1.1/2.2 peers send them, are accepted too.
    let raw = read(
        app.client
            .get(app.url("/ocpi/versions"))
            .header("Authorization", format!("Token {}", app.emsp))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(raw.status, 200);

    let missing = read(
        app.client
            .get(app.url("/ocpi/versions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((missing.status, missing.ocpi_status()), (401, 2000));
    assert!(missing.body["timestamp"].is_string());
    let unknown = app
        .call(Method::GET, "/ocpi/versions", "not-a-known-token", None)
        .await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (401, 2000));
}

async fn request_ids_and_http_errors(app: TestApp) {
    let answer = app
        .request(Method::GET, "/ocpi/versions", &app.emsp)
        .header("X-Request-ID", "req-123")
        .header("X-Correlation-ID", "corr-456")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "req-123");
    assert_eq!(answer.headers()["x-correlation-id"], "corr-456");
    let generated = app
        .call(Method::GET, "/ocpi/versions", &app.emsp, None)
        .await;
    assert_eq!(
        generated.header("x-request-id").unwrap().len(),
        36,
        "a UUID is generated"
    );
    assert!(generated.header("x-correlation-id").is_some());

    let nowhere = app
        .call(Method::GET, "/ocpi/2.3.0/nowhere", &app.emsp, None)
        .await;
    assert_eq!((nowhere.status, nowhere.ocpi_status()), (404, 2000));
    let wrong_method = app
        .call(
            Method::DELETE,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/X",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!(
        (wrong_method.status, wrong_method.ocpi_status()),
        (405, 2000)
    );

    let big = "x".repeat(70 * 1024);
    let too_large = read(
        app.request(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/BIG",
            &app.emsp,
        )
        .header("Content-Type", "application/json")
        .body(format!("{{\"pad\": \"{big}\"}}"))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((too_large.status, too_large.ocpi_status()), (413, 2000));

    let not_json = read(
        app.request(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/X1",
            &app.emsp,
        )
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((not_json.status, not_json.ocpi_status()), (400, 2001));
}

async fn token_push_and_read_back(app: TestApp) {
    let mut token = token_json("04a1b2c3");
    token["an_extension_field"] = json!({"kept": true});
    let created = app.put_token(&token).await;
    assert_eq!((created.status, created.ocpi_status()), (201, 1000));
    assert!(
        created.body.get("data").is_none(),
        "PUT answers without data"
    );
    assert_eq!(created.header("ocpi-from-party-id").as_deref(), Some("HUB"));
    assert_eq!(created.header("ocpi-to-party-id").as_deref(), Some("ABC"));

    let replaced = app.put_token(&token).await;
    assert_eq!(
        (replaced.status, replaced.ocpi_status()),
        (200, 1000),
        "same last_updated applies (idempotent)"
    );

    // CiStrings: other spelling, same token.
    let got = app
        .call(
            Method::GET,
            "/ocpi/2.3.0/receiver/tokens/nl/abc/04A1B2C3",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!((got.status, got.ocpi_status()), (200, 1000));
    assert_eq!(
        got.body["data"], token,
        "GET returns exactly what was pushed"
    );

    let patch = json!({"valid": false, "last_updated": "2026-01-02T00:00:00Z"});
    let patched = app
        .call(
            Method::PATCH,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/04a1b2c3",
            &app.emsp,
            Some(patch),
        )
        .await;
    assert_eq!((patched.status, patched.ocpi_status()), (200, 1000));
    let got = app
        .call(
            Method::GET,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/04a1b2c3",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!(got.body["data"]["valid"], false);
    assert_eq!(
        got.body["data"]["an_extension_field"],
        json!({"kept": true})
    );

    // A stale PUT changes nothing.
    let stale = app.put_token(&token).await;
    assert_eq!((stale.status, stale.ocpi_status()), (200, 2001));
    assert!(
        stale.message().contains("last_updated"),
        "{}",
        stale.message()
    );
    let got = app
        .call(
            Method::GET,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/04a1b2c3",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!(got.body["data"]["valid"], false);

    // Unknown token types are stored and served back, distinct from RFID.
    let mut odd = token_json("04a1b2c3");
    odd["type"] = json!("FUTURE_TYPE");
    assert_eq!(app.put_token(&odd).await.status, 201);
    let got = app
        .call(
            Method::GET,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/04a1b2c3?type=FUTURE_TYPE",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!(got.body["data"]["type"], "FUTURE_TYPE");
    assert_eq!(got.body["data"]["valid"], true);
}

async fn token_write_errors(app: TestApp) {
    let base = token_json("ERR1");
    assert_eq!(app.put_token(&base).await.status, 201);
    let path = "/ocpi/2.3.0/receiver/tokens/NL/ABC/ERR1";

    let cases = [
        ("uid", json!("x".repeat(37)), "uid"),
        ("issuer", json!("i".repeat(65)), "issuer"),
        ("whitelist", json!("SOMETIMES"), "whitelist"),
        (
            "last_updated",
            json!("2026-01-01T10:00:00+01:00"),
            "last_updated",
        ),
        ("valid", json!("yes"), "valid"),
    ];
    for (field, value, named) in cases {
        let mut bad = base.clone();
        bad[field] = value;
        let answer = app.call(Method::PUT, path, &app.emsp, Some(bad)).await;
        assert_eq!(
            (answer.status, answer.ocpi_status()),
            (200, 2001),
            "{field}"
        );
        assert!(
            answer.message().contains(named),
            "{field}: {}",
            answer.message()
        );
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("contract_id");
    let answer = app.call(Method::PUT, path, &app.emsp, Some(missing)).await;
    assert!(
        answer.ocpi_status() == 2001 && answer.message().contains("contract_id"),
        "{}",
        answer.message()
    );

    let mismatch = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/OTHER",
            &app.emsp,
            Some(base.clone()),
        )
        .await;
    assert_eq!((mismatch.status, mismatch.ocpi_status()), (200, 2001));
    let type_mismatch = app
        .call(
            Method::PUT,
            &format!("{path}?type=APP_USER"),
            &app.emsp,
            Some(base.clone()),
        )
        .await;
    assert_eq!(type_mismatch.ocpi_status(), 2001);

    // Not the caller's party: 403 to write, unknown to read.
    let mut foreign = base.clone();
    foreign["country_code"] = json!("FR");
    foreign["party_id"] = json!("XYZ");
    let forbidden = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/FR/XYZ/ERR1",
            &app.emsp,
            Some(foreign),
        )
        .await;
    assert_eq!((forbidden.status, forbidden.ocpi_status()), (403, 2001));
    let header_spoof = app
        .request(Method::PUT, path, &app.emsp)
        .header("OCPI-from-country-code", "FR")
        .header("OCPI-from-party-id", "XYZ")
        .json(&base)
        .send()
        .await
        .unwrap();
    assert_eq!(header_spoof.status(), 403);
    let cpo_reads = app.call(Method::GET, path, &app.cpo, None).await;
    assert_eq!(cpo_reads.status, 403, "the receiver interface is for eMSPs");

    let no_ts = app
        .call(
            Method::PATCH,
            path,
            &app.emsp,
            Some(json!({"valid": false})),
        )
        .await;
    assert_eq!((no_ts.status, no_ts.ocpi_status()), (200, 2001));
    assert!(no_ts.message().contains("last_updated"));
    let unknown = app
        .call(
            Method::PATCH,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/NOPE",
            &app.emsp,
            Some(json!({"valid": false, "last_updated": "2026-02-01T00:00:00Z"})),
        )
        .await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (404, 2004));
    let got_unknown = app
        .call(
            Method::GET,
            "/ocpi/2.3.0/receiver/tokens/NL/ABC/NOPE",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!((got_unknown.status, got_unknown.ocpi_status()), (404, 2004));

    // Nothing of the above changed the stored token.
    let got = app.call(Method::GET, path, &app.emsp, None).await;
    assert_eq!(got.body["data"], base);
}

async fn authorize_decisions(app: TestApp) {
    assert_eq!(app.put_token(&token_json("AUTH1")).await.status, 201);
    let mut blocked = token_json("AUTH2");
    blocked["valid"] = json!(false);
    assert_eq!(app.put_token(&blocked).await.status, 201);

    let unknown = app.authorize("NOPE", None).await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (404, 2004));
    assert!(unknown.body.get("data").is_none());

    let first = app.authorize("auth1", None).await;
    assert_eq!((first.status, first.ocpi_status()), (200, 1000));
    assert_eq!(first.body["data"]["allowed"], "ALLOWED");
    assert_eq!(first.body["data"]["token"]["uid"], "AUTH1");
    let reference = first.body["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reference.len(), 36);
    assert_eq!(
        first.header("ocpi-from-country-code").as_deref(),
        Some("NL")
    );
    assert_eq!(first.header("ocpi-from-party-id").as_deref(), Some("ABC"));
    assert_eq!(first.header("ocpi-to-party-id").as_deref(), Some("CPO"));

    let second = app.authorize("AUTH1", None).await;
    assert_eq!((second.status, second.ocpi_status()), (200, 1000));
    assert_eq!(second.body["data"]["allowed"], "NOT_ALLOWED");
    assert!(second.body["data"]["info"]["text"]
        .as_str()
        .unwrap()
        .contains("already in progress"));
    assert!(second.body["data"].get("authorization_reference").is_none());

    let refused = app.authorize("AUTH2", None).await;
    assert_eq!(refused.body["data"]["allowed"], "BLOCKED");
    assert_eq!(refused.body["data"]["token"]["valid"], false);

    let wrong_type = app
        .call(
            Method::POST,
            "/ocpi/2.3.0/sender/tokens/AUTH1/authorize?type=APP_USER",
            &app.cpo,
            None,
        )
        .await;
    assert_eq!(wrong_type.status, 404, "?type selects the token");

    let by_emsp = app
        .call(
            Method::POST,
            "/ocpi/2.3.0/sender/tokens/AUTH1/authorize",
            &app.emsp,
            None,
        )
        .await;
    assert_eq!((by_emsp.status, by_emsp.ocpi_status()), (403, 2001));

    let no_location_id = app
        .authorize("AUTH1", Some(json!({"evse_uids": ["E1"]})))
        .await;
    assert_eq!(
        (no_location_id.status, no_location_id.ocpi_status()),
        (200, 2001)
    );
    assert!(no_location_id.message().contains("location_id"));

    let audit = tokenhub::store::audit::recent;
    let entries = app.store.read(move |conn| audit(conn, 100)).await.unwrap();
    let results: Vec<(&str, &str)> = entries
        .iter()
        .rev()
        .map(|e| (e.result.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        results,
        vec![
            ("UNKNOWN", "unknown_token"),
            ("ALLOWED", "allowed"),
            ("NOT_ALLOWED", "concurrent_use"),
            ("BLOCKED", "token_invalid"),
            ("UNKNOWN", "unknown_token"),
        ]
    );
    let allowed = &entries[3];
    assert_eq!(
        allowed.authorization_reference.as_deref(),
        Some(reference.as_str())
    );
    assert_eq!(
        (
            allowed.requester_country_code.as_str(),
            allowed.requester_party_id.as_str()
        ),
        ("DE", "CPO")
    );
    assert_eq!(allowed.token_uid, "auth1");
    assert!(allowed.request_id.is_some());
}

/// The owner eMSP's state is read with the token: its concurrent-use limit replaces the default,
/// and a suspended eMSP's tokens are refused.
async fn authorize_follows_the_owner_emsp(app: TestApp) {
    for uid in ["OWN1", "OWN2"] {
        assert_eq!(app.put_token(&token_json(uid)).await.status, 201);
    }
    let emsp = PartyKey::parse("NL", "ABC").unwrap();
    let set = |suspended: bool, max: Option<i32>| {
        let key = emsp.clone();
        app.store.write(move |conn| {
            tokenhub::store::parties::set_emsp_policy(conn, &key, suspended, max)
        })
    };
    assert!(set(false, Some(2)).await.unwrap());
    let at = |location: &str| Some(json!({ "location_id": location }));
    let allowed = |answer: &Answer| answer.body["data"]["allowed"].as_str().map(str::to_owned);
    assert_eq!(
        allowed(&app.authorize("OWN1", at("L1")).await).as_deref(),
        Some("ALLOWED")
    );
    assert_eq!(
        allowed(&app.authorize("OWN1", at("L2")).await).as_deref(),
        Some("ALLOWED"),
        "the eMSP's limit of 2 replaces the default of 1"
    );
    assert_eq!(
        allowed(&app.authorize("OWN1", at("L3")).await).as_deref(),
        Some("NOT_ALLOWED")
    );

    assert!(set(true, Some(2)).await.unwrap());
    let suspended = app.authorize("OWN2", None).await;
    assert_eq!(suspended.body["data"]["allowed"], "NOT_ALLOWED");
    assert!(suspended.body["data"]["info"]["text"]
        .as_str()
        .unwrap()
        .contains("suspended"));
    assert!(suspended.body["data"]
        .get("authorization_reference")
        .is_none());

    assert!(set(false, None).await.unwrap());
    assert_eq!(
        allowed(&app.authorize("OWN2", None).await).as_deref(),
        Some("ALLOWED")
    );
}

async fn authorize_retries_and_locations(app: TestApp) {
    assert_eq!(app.put_token(&token_json("RETRY1")).await.status, 201);
    let at = json!({"location_id": "LOC-1", "evse_uids": ["EVSE-1"]});
    let first = app.authorize("RETRY1", Some(at.clone())).await;
    assert_eq!(first.body["data"]["allowed"], "ALLOWED");
    assert_eq!(
        first.body["data"]["location"], at,
        "the allowed location is echoed"
    );
    let retry = app
        .authorize(
            "RETRY1",
            Some(json!({"location_id": "loc-1", "evse_uids": ["evse-1"]})),
        )
        .await;
    assert_eq!(
        retry.body["data"]["allowed"], "ALLOWED",
        "a retry from the same EVSE gets the same answer"
    );
    assert_eq!(
        retry.body["data"]["authorization_reference"],
        first.body["data"]["authorization_reference"]
    );
    let elsewhere = app
        .authorize(
            "RETRY1",
            Some(json!({"location_id": "LOC-1", "evse_uids": ["EVSE-2"]})),
        )
        .await;
    assert_eq!(elsewhere.body["data"]["allowed"], "NOT_ALLOWED");
    assert!(elsewhere.body["data"].get("location").is_none());
}

async fn concurrent_authorize_gives_one_allowed(app: TestApp) {
    assert_eq!(app.put_token(&token_json("RACE1")).await.status, 201);
    let app = std::sync::Arc::new(app);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.authorize("RACE1", None).await })
        })
        .collect();
    let mut allowed = 0;
    let mut not_allowed = 0;
    for call in calls {
        let answer = call.await.unwrap();
        assert_eq!((answer.status, answer.ocpi_status()), (200, 1000));
        match answer.body["data"]["allowed"].as_str().unwrap() {
            "ALLOWED" => allowed += 1,
            "NOT_ALLOWED" => not_allowed += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((allowed, not_allowed), (1, 49));
}

async fn sessions_hold_and_free_tokens(app: TestApp) {
    assert_eq!(app.put_token(&token_json("SESS1")).await.status, 201);
    let reference = app.authorize("SESS1", None).await.body["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let path = "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-1";
    let active = app
        .call(
            Method::PUT,
            path,
            &app.cpo,
            Some(session_json("S-1", "sess1", "ACTIVE", Some(&reference))),
        )
        .await;
    assert_eq!((active.status, active.ocpi_status()), (201, 1000));
    assert_eq!(
        app.authorize("SESS1", None).await.body["data"]["allowed"],
        "NOT_ALLOWED"
    );

    // The session took over the hold: there is exactly one use, not two.
    let token_id = app
        .store
        .read(|conn| {
            let key = tokenhub::domain::token::TokenKey {
                owner: tokenhub::domain::ids::PartyKey::parse("NL", "ABC").unwrap(),
                uid: tokenhub::domain::ids::TokenUid::parse("uid", "SESS1").unwrap(),
                token_type: tokenhub::domain::token::TokenType::rfid(),
            };
            Ok(tokenhub::store::tokens::find_by_key(conn, &key, false)?
                .unwrap()
                .id)
        })
        .await
        .unwrap();
    let uses = app
        .store
        .read(move |conn| {
            tokenhub::store::usage::active_for_token(conn, token_id, chrono::Utc::now())
        })
        .await
        .unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(
        uses[0].kind,
        tokenhub::domain::authorization::UseKind::Session
    );

    let got = app.call(Method::GET, path, &app.cpo, None).await;
    assert_eq!(got.body["data"]["status"], "ACTIVE");

    let done = app
        .call(
            Method::PATCH,
            path,
            &app.cpo,
            Some(json!({"status": "COMPLETED", "kwh": 12.5, "last_updated": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()})),
        )
        .await;
    assert_eq!((done.status, done.ocpi_status()), (200, 1000));
    assert_eq!(
        app.authorize("SESS1", None).await.body["data"]["allowed"],
        "ALLOWED",
        "COMPLETED frees the token"
    );

    let unknown = app
        .call(
            Method::PATCH,
            "/ocpi/2.3.0/receiver/sessions/DE/CPO/NOPE",
            &app.cpo,
            Some(json!({"status": "COMPLETED", "last_updated": "2026-05-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let no_ts = app
        .call(
            Method::PATCH,
            path,
            &app.cpo,
            Some(json!({"status": "ACTIVE"})),
        )
        .await;
    assert_eq!((no_ts.status, no_ts.ocpi_status()), (200, 2001));
    let foreign = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/sessions/FR/XYZ/S-2",
            &app.cpo,
            Some(session_json("S-2", "SESS1", "ACTIVE", None)),
        )
        .await;
    assert_eq!(foreign.status, 403);
    let by_emsp = app.call(Method::GET, path, &app.emsp, None).await;
    assert_eq!(by_emsp.status, 403, "the sessions receiver is for CPOs");
}

async fn session_without_reference_takes_oldest_hold(app: TestApp) {
    assert_eq!(app.put_token(&token_json("SESS2")).await.status, 201);
    assert_eq!(
        app.authorize("SESS2", None).await.body["data"]["allowed"],
        "ALLOWED"
    );
    let path = "/ocpi/2.3.0/receiver/sessions/DE/CPO/S-9";
    let put = app
        .call(
            Method::PUT,
            path,
            &app.cpo,
            Some(session_json("S-9", "SESS2", "PENDING", None)),
        )
        .await;
    assert_eq!(put.status, 201);
    let invalid = app
        .call(
            Method::PATCH,
            path,
            &app.cpo,
            Some(json!({"status": "INVALID", "last_updated": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()})),
        )
        .await;
    assert_eq!(invalid.status, 200);
    assert_eq!(
        app.authorize("SESS2", None).await.body["data"]["allowed"],
        "ALLOWED",
        "the session took over the hold, and INVALID freed it"
    );
}

async fn ambiguous_uid_needs_to_headers(app: TestApp) {
    let other = common::add_test_party(&app.store, "BE", "EMP", Role::Emsp).await;
    assert_eq!(app.put_token(&token_json("TWIN")).await.status, 201);
    let mut twin = token_json("TWIN");
    twin["country_code"] = json!("BE");
    twin["party_id"] = json!("EMP");
    let put = app
        .call(
            Method::PUT,
            "/ocpi/2.3.0/receiver/tokens/BE/EMP/TWIN",
            &other,
            Some(twin),
        )
        .await;
    assert_eq!(put.status, 201);
    let ambiguous = app.authorize("TWIN", None).await;
    assert_eq!((ambiguous.status, ambiguous.ocpi_status()), (200, 2002));
    let addressed = read(
        app.request(
            Method::POST,
            "/ocpi/2.3.0/sender/tokens/TWIN/authorize",
            &app.cpo,
        )
        .header("OCPI-to-country-code", "be")
        .header("OCPI-to-party-id", "emp")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(addressed.body["data"]["allowed"], "ALLOWED");
    assert_eq!(addressed.body["data"]["token"]["country_code"], "BE");

    // The eMSP's own list has only its own tokens.
    let own = app
        .call(Method::GET, "/ocpi/2.3.0/sender/tokens", &other, None)
        .await;
    assert_eq!(own.header("x-total-count").as_deref(), Some("1"));
    assert_eq!(own.body["data"][0]["country_code"], "BE");
}

async fn token_list_pagination(app: TestApp) {
    app.seed_tokens("NL", "ABC", "PAGE", 250).await;
    let list = |query: &str| {
        let path = format!("/ocpi/2.3.0/sender/tokens{query}");
        let app = &app;
        async move { app.call(Method::GET, &path, &app.cpo, None).await }
    };
    let first = list("?limit=100").await;
    assert_eq!((first.status, first.ocpi_status()), (200, 1000));
    assert_eq!(first.body["data"].as_array().unwrap().len(), 100);
    assert_eq!(first.body["data"][0]["uid"], "PAGE00000");
    assert_eq!(first.header("x-total-count").as_deref(), Some("250"));
    assert_eq!(first.header("x-limit").as_deref(), Some("1000"));
    assert_eq!(
        first.header("link").unwrap(),
        format!(
            "<{}>; rel=\"next\"",
            app.url("/ocpi/2.3.0/sender/tokens?offset=100&limit=100")
        )
    );
    let last = list("?offset=200&limit=100").await;
    assert_eq!(last.body["data"].as_array().unwrap().len(), 50);
    assert_eq!(last.body["data"][0]["uid"], "PAGE00200");
    assert!(last.header("link").is_none());
    assert_eq!(last.header("x-total-count").as_deref(), Some("250"));
    let past_end = list("?offset=400").await;
    assert_eq!(past_end.body["data"].as_array().unwrap().len(), 0);
    assert_eq!(past_end.header("x-total-count").as_deref(), Some("250"));

    let capped = list("?limit=5000").await;
    assert_eq!(capped.body["data"].as_array().unwrap().len(), 250);
    let default = list("").await;
    assert_eq!(default.body["data"].as_array().unwrap().len(), 100);

    for bad in [
        "?limit=0",
        "?limit=-5",
        "?offset=-1",
        "?offset=abc",
        "?date_from=yesterday",
    ] {
        let answer = list(bad).await;
        assert_eq!((answer.status, answer.ocpi_status()), (200, 2001), "{bad}");
    }

    // Date filters apply to last_updated (from inclusive, to exclusive) and stay in the Link.
    let mut newer = token_json("NEWER1");
    newer["last_updated"] = json!("2026-03-01T00:00:00Z");
    assert_eq!(app.put_token(&newer).await.status, 201);
    let since = list("?date_from=2026-03-01T00:00:00Z").await;
    assert_eq!(since.header("x-total-count").as_deref(), Some("1"));
    assert_eq!(since.body["data"][0]["uid"], "NEWER1");
    let before = list("?date_to=2026-03-01T00:00:00Z&limit=10").await;
    assert_eq!(before.header("x-total-count").as_deref(), Some("250"));
    let link = before.header("link").unwrap();
    assert!(
        link.contains("date_to=2026-03-01T00%3A00%3A00Z") && link.contains("offset=10"),
        "{link}"
    );
}

async fn health_and_metrics(app: TestApp) {
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["database"],
        if app.backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );

    assert_eq!(app.put_token(&token_json("MET1")).await.status, 201);
    assert_eq!(app.authorize("MET1", None).await.status, 200);
    assert_eq!(app.authorize("NOPE", None).await.status, 404);
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "tokenhub_authorization_decisions_total{result=\"ALLOWED\"}",
        "tokenhub_authorization_decisions_total{result=\"UNKNOWN\"}",
        "route=\"/ocpi/2.3.0/sender/tokens/{token_uid}/authorize\"",
        "tokenhub_http_request_duration_seconds_bucket",
        "tokenhub_db_pool_connections",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(
        !text.contains("MET1"),
        "metrics carry route patterns, not raw paths"
    );
}

async fn sweeper_purges_expired_holds_and_old_audit(app: TestApp) {
    use chrono::{Duration, Utc};
    use tokenhub::store::{audit, usage};
    assert_eq!(app.put_token(&token_json("SWEEP1")).await.status, 201);
    assert_eq!(
        app.authorize("SWEEP1", None).await.body["data"]["allowed"],
        "ALLOWED"
    );
    let token_id = app
        .store
        .read(|conn| Ok(tokenhub::store::tokens::find_by_uid(conn, "SWEEP1", "RFID", false)?[0].id))
        .await
        .unwrap();
    let cpo = tokenhub::domain::ids::PartyKey::parse("DE", "CPO").unwrap();
    app.store
        .write(move |conn| {
            let long_ago = Utc::now() - Duration::days(100);
            usage::insert_hold(
                conn,
                &usage::NewHold {
                    token_id,
                    reference: "OLD-HOLD",
                    cpo: &cpo,
                    location_key: None,
                    evse_set: &[],
                    now: long_ago,
                    until: long_ago + Duration::seconds(120),
                },
            )?;
            let mut old = audit::recent(conn, 1)?.remove(0);
            old.decided_at = long_ago.naive_utc();
            old.authorization_reference = Some("ANCIENT".into());
            audit::record(conn, &old)
        })
        .await
        .unwrap();
    let (holds, audits) = tokenhub::ops::sweeper::sweep_once(&app.store, 90)
        .await
        .unwrap();
    assert_eq!((holds, audits), (1, 1));
    let remaining = app
        .store
        .read(|conn| audit::recent(conn, 100))
        .await
        .unwrap();
    assert!(remaining
        .iter()
        .all(|e| e.authorization_reference.as_deref() != Some("ANCIENT")));
    assert_eq!(remaining.len(), 1, "the recent decision stays");
    let uses = app
        .store
        .read(move |conn| usage::active_for_token(conn, token_id, Utc::now()))
        .await
        .unwrap();
    assert_eq!(uses.len(), 1, "the live hold stays");
}

on_both_backends!(
    sweeper_purges_expired_holds_and_old_audit,
    health_and_metrics,
    versions_and_credentials,
    request_ids_and_http_errors,
    token_push_and_read_back,
    token_write_errors,
    authorize_decisions,
    authorize_follows_the_owner_emsp,
    authorize_retries_and_locations,
    concurrent_authorize_gives_one_allowed,
    sessions_hold_and_free_tokens,
    session_without_reference_takes_oldest_hold,
    ambiguous_uid_needs_to_headers,
    token_list_pagination,
);

/// A database that goes away gives 503/3000, and the hub recovers by itself when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_503_and_recovers() {
    use diesel::{Connection, RunQueryDsl};
    let Some(app) = common::spawn_app(Backend::Postgres).await else {
        return;
    };
    assert_eq!(app.put_token(&token_json("DOWN1")).await.status, 201);
    let db: String = app
        .store
        .read(|conn| match conn {
            tokenhub::store::Conn::Pg(c) => {
                #[derive(diesel::QueryableByName)]
                struct Name {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    name: String,
                }
                Ok(diesel::sql_query("SELECT current_database() AS name")
                    .get_result::<Name>(&mut **c)?
                    .name)
            }
            _ => unreachable!(),
        })
        .await
        .unwrap();
    let admin = std::env::var("TOKENHUB_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let run = |sql: String| {
        let admin = admin.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut conn = diesel::pg::PgConnection::establish(&admin).unwrap();
                diesel::sql_query(sql).execute(&mut conn).unwrap();
            })
            .await
            .unwrap()
        }
    };
    run(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).await;
    run(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .await;
    let down = app.authorize("DOWN1", None).await;
    assert_eq!((down.status, down.ocpi_status()), (503, 3000));
    run(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).await;
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
