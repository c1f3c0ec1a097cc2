//! The management API `/admin/v1`: every route against every kind of caller, token search and its
//! cursor pages, hub policy (one token and in bulk) seen in the sender list, the decision, the
//! push and the audit trail.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};
use tokenhub::config::Config;

use crate::helpers::{token_json, TestApp};
use crate::partner_platform::{self, PartnerState};
use crate::{on_both_backends, on_both_backends_with};

const ALL: &str =
    "tokens:read tokens:write parties:read parties:write sessions:read audit:read clients:write";

/// Quick push retries, so the push test waits little.
fn fast_push(config: &mut Config) {
    config.push.poll_interval_ms = 20;
    config.push.retry_initial_ms = 50;
    config.push.retry_max_secs = 1;
}

on_both_backends!(
    every_route_refuses_every_wrong_caller,
    a_restricted_caller_sees_and_changes_only_its_parties,
    users_are_created_listed_and_disabled,
    a_rotated_credentials_token_is_refused_at_once,
    import_stores_every_good_line_and_reports_the_bad,
    csv_import_stores_every_good_line_and_round_trips,
    policy_import_acts_as_the_policy_api,
    export_then_import_changes_nothing,
    import_decides_repeated_and_stored_keys_in_line_order,
    parties_and_agreements,
    clients_are_created_listed_and_disabled,
    search_filters_and_cursor_pages,
    bulk_policy_is_one_atomic_change,
    bad_input_is_a_problem_naming_the_field,
    audit_lists_decisions_and_changes_newest_first,
);
on_both_backends_with!(fast_push => policy_change_shows_in_the_list_the_decision_and_the_push);

/// An answer of the management API, read whole.
pub(crate) struct Reply {
    pub(crate) status: u16,
    content_type: String,
    challenge: Option<String>,
    pub(crate) body: Value,
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let content_type = header("content-type").unwrap_or_default();
    let challenge = header("www-authenticate");
    let text = response.text().await.unwrap();
    let body = if content_type == "application/x-ndjson" {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not NDJSON: {l}")))
            .collect::<Vec<Value>>()
            .into()
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    Reply {
        status,
        content_type,
        challenge,
        body,
    }
}

fn claims(app: &TestApp, scope: &str, change: impl FnOnce(&mut Value)) -> Value {
    let (issuer, audience) = app.oauth_issuer_and_audience();
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": issuer, "sub": "th_admin", "aud": audience, "client_id": "th_admin",
        "scope": scope, "exp": now + 300, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
    });
    change(&mut claims);
    claims
}

/// A valid access token of the client `th_admin` with `scope`.
pub(crate) async fn bearer(app: &TestApp, scope: &str) -> String {
    app.sign_access_token(claims(app, scope, |_| {})).await
}

/// Every scope but `scope`.
fn all_but(scope: &str) -> String {
    ALL.split(' ')
        .filter(|s| *s != scope)
        .collect::<Vec<_>>()
        .join(" ")
}

fn problem_type(reply: &Reply) -> &str {
    reply.body["type"].as_str().unwrap_or_default()
}

/// What a caller restricted to another party (BE*EMP) gets on a route that would show or change
/// NL*ABC's data.
#[derive(Clone, Copy)]
enum OtherParty {
    /// 200, and none of NL*ABC's data; the caller with every party sees some (`visible`).
    Hidden(fn(&Reply) -> bool),
    /// Refused with this status and problem type; nothing changed.
    Refused(u16, &'static str),
}

/// Whether the answer shows anything of NL*ABC (its tokens, changes, decisions, agreements).
fn shows_nl_abc(reply: &Reply) -> bool {
    let text = reply.body.to_string();
    text.contains("NL*ABC") || text.contains("\"ABC\"") || text.contains("ROUTE1")
}

/// A bulk answer that touched a token.
fn matched_some(reply: &Reply) -> bool {
    reply.body["matched"].as_u64().is_some_and(|n| n > 0)
}

/// (method, path, scope, body, status for the right scope, what another party's caller gets)
type Route<'a> = (Method, &'a str, &'a str, Option<Value>, u16, OtherParty);

const NOT_FOUND: OtherParty = OtherParty::Refused(404, "not-found");
const OTHER: OtherParty = OtherParty::Refused(403, "other-party");

/// The table: each route × {no token, expired, wrong audience, bad signature, missing scope,
/// other party, right scope}. The other-party caller has the route's scope but is restricted to
/// BE*EMP; it runs before the right-scope call, so what it would have changed is still there.
async fn every_route_refuses_every_wrong_caller(app: TestApp) {
    assert_eq!(app.put_token(&token_json("ROUTE1")).await.status, 201);
    // A decision on NL*ABC's token, for the audit rows.
    assert_eq!(app.authorize("ROUTE1", None).await.status, 200);
    let (victim, _) = app.add_oauth_client("tokens:read", &[], false).await;
    let disable_path = format!("/admin/v1/clients/{victim}/disable");
    app.add_login_user(
        "victim",
        "correct horse battery staple",
        "tokens:read",
        false,
    )
    .await;
    let policy = json!({"blocked": true, "block_reason": "lost"});
    let bulk = json!({"filter": {"uid": "ROUTE1"}, "policy": {"max_concurrent": 2}});
    let agreement = json!({"cpo": "DE*CPO", "emsp": "NL*ABC"});
    let routes: [Route; 21] = [
        (
            Method::GET,
            "/admin/v1/tokens",
            "tokens:read",
            None,
            200,
            OtherParty::Hidden(shows_nl_abc),
        ),
        (
            Method::GET,
            "/admin/v1/tokens/NL/ABC/ROUTE1",
            "tokens:read",
            None,
            200,
            NOT_FOUND,
        ),
        (
            Method::PUT,
            "/admin/v1/tokens/NL/ABC/ROUTE1/policy",
            "tokens:write",
            Some(policy),
            200,
            NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/admin/v1/tokens/NL/ABC/ROUTE1/policy",
            "tokens:write",
            None,
            200,
            NOT_FOUND,
        ),
        (
            Method::POST,
            "/admin/v1/tokens/policy",
            "tokens:write",
            Some(bulk),
            200,
            OtherParty::Hidden(matched_some),
        ),
        (
            Method::GET,
            "/admin/v1/audit/decisions",
            "audit:read",
            None,
            200,
            OtherParty::Hidden(shows_nl_abc),
        ),
        (
            Method::GET,
            "/admin/v1/audit/changes",
            "audit:read",
            None,
            200,
            OtherParty::Hidden(shows_nl_abc),
        ),
        (
            Method::GET,
            "/admin/v1/tokens/export",
            "tokens:read",
            None,
            200,
            OtherParty::Hidden(shows_nl_abc),
        ),
        (
            Method::GET,
            "/admin/v1/parties",
            "parties:read",
            None,
            200,
            OtherParty::Hidden(shows_nl_abc),
        ),
        (
            Method::POST,
            "/admin/v1/parties",
            "parties:write",
            Some(
                json!({"country_code": "FR", "party_id": "NEW", "role": "CPO", "name": "New CPO"}),
            ),
            201,
            OTHER,
        ),
        (
            Method::PATCH,
            "/admin/v1/parties/NL/ABC/settings",
            "parties:write",
            Some(json!({"max_concurrent": 3})),
            200,
            OTHER,
        ),
        (
            Method::POST,
            "/admin/v1/agreements",
            "parties:write",
            Some(agreement.clone()),
            200,
            OTHER,
        ),
        (
            Method::GET,
            "/admin/v1/agreements",
            "parties:read",
            None,
            200,
            OtherParty::Hidden(shows_nl_abc),
        ),
        (
            Method::DELETE,
            "/admin/v1/agreements",
            "parties:write",
            Some(agreement),
            200,
            OTHER,
        ),
        (
            Method::GET,
            "/admin/v1/clients",
            "clients:write",
            None,
            200,
            OTHER,
        ),
        (
            Method::POST,
            "/admin/v1/clients",
            "clients:write",
            Some(json!({"name": "support desk", "scopes": "tokens:read"})),
            201,
            OTHER,
        ),
        (
            Method::POST,
            disable_path.as_str(),
            "clients:write",
            None,
            200,
            OTHER,
        ),
        (
            Method::GET,
            "/admin/v1/users",
            "clients:write",
            None,
            200,
            OTHER,
        ),
        (
            Method::POST,
            "/admin/v1/users",
            "clients:write",
            Some(json!({"username": "support", "scopes": "tokens:read"})),
            201,
            OTHER,
        ),
        (
            Method::POST,
            "/admin/v1/users/victim/disable",
            "clients:write",
            None,
            200,
            OTHER,
        ),
        // Last: it replaces NL*ABC's credentials token, which the test app's eMSP uses.
        (
            Method::POST,
            "/admin/v1/parties/NL/ABC/rotate",
            "parties:write",
            None,
            200,
            OTHER,
        ),
    ];
    let now = chrono::Utc::now().timestamp();
    for (method, path, scope, body, ok, other_party) in routes {
        let expired = app
            .sign_access_token(claims(&app, scope, |c| {
                c["exp"] = json!(now - 60);
                c["iat"] = json!(now - 360);
            }))
            .await;
        let wrong_audience = app
            .sign_access_token(claims(&app, scope, |c| {
                c["aud"] = json!("https://elsewhere.example.com")
            }))
            .await;
        let right = bearer(&app, scope).await;
        let bad_signature = {
            let (rest, signature) = right.rsplit_once('.').unwrap();
            let flipped = if signature.starts_with('A') { "B" } else { "A" };
            format!("{rest}.{flipped}{}", &signature[1..])
        };
        let missing = bearer(&app, &all_but(scope)).await;
        let restricted = app
            .sign_access_token(claims(&app, scope, |c| c["parties"] = json!(["BE*EMP"])))
            .await;
        let here = format!("{method} {path}");

        let none = call(&app, method.clone(), path, None, body.clone()).await;
        assert_eq!(none.status, 401, "{here}: no token");
        assert_eq!(
            problem_type(&none),
            "urn:tokenhub:problem:unauthenticated",
            "{here}"
        );
        assert_eq!(
            none.challenge.as_deref(),
            Some("Bearer realm=\"tokenhub\""),
            "{here}"
        );
        assert_eq!(none.content_type, "application/problem+json", "{here}");

        for (what, token, words) in [
            ("expired", &expired, "expired"),
            ("wrong audience", &wrong_audience, "audience"),
            ("bad signature", &bad_signature, "signature"),
        ] {
            let refused = call(&app, method.clone(), path, Some(token), body.clone()).await;
            assert_eq!(refused.status, 401, "{here}: {what}");
            assert_eq!(refused.body["error"], "invalid_token", "{here}: {what}");
            assert_eq!(problem_type(&refused), "urn:tokenhub:problem:invalid-token");
            let detail = refused.body["detail"].as_str().unwrap();
            assert!(detail.contains(words), "{here}: {what}: {detail}");
            assert!(
                refused
                    .challenge
                    .as_deref()
                    .unwrap()
                    .contains("error=\"invalid_token\""),
                "{here}: {what}"
            );
        }

        let forbidden = call(&app, method.clone(), path, Some(&missing), body.clone()).await;
        assert_eq!(forbidden.status, 403, "{here}: missing scope");
        assert_eq!(forbidden.body["scope"], scope, "{here}");
        assert_eq!(
            problem_type(&forbidden),
            "urn:tokenhub:problem:insufficient-scope"
        );
        assert!(
            forbidden
                .challenge
                .as_deref()
                .unwrap()
                .contains(&format!("scope=\"{scope}\"")),
            "{here}"
        );

        let other = call(&app, method.clone(), path, Some(&restricted), body.clone()).await;
        match other_party {
            OtherParty::Refused(status, kind) => {
                assert_eq!(
                    other.status, status,
                    "{here}: other party: {:?}",
                    other.body
                );
                assert_eq!(
                    problem_type(&other),
                    format!("urn:tokenhub:problem:{kind}"),
                    "{here}: other party"
                );
                assert_eq!(other.content_type, "application/problem+json", "{here}");
                // Not a token problem: no challenge.
                assert_eq!(other.challenge, None, "{here}: other party");
            }
            OtherParty::Hidden(visible) => {
                assert_eq!(other.status, 200, "{here}: other party: {:?}", other.body);
                assert!(
                    !visible(&other),
                    "{here}: other party sees {:?}",
                    other.body
                );
            }
        }

        let allowed = call(&app, method.clone(), path, Some(&right), body.clone()).await;
        assert_eq!(
            allowed.status, ok,
            "{here}: right scope: {:?}",
            allowed.body
        );
        if let OtherParty::Hidden(visible) = other_party {
            assert!(
                visible(&allowed),
                "{here}: right scope sees {:?}",
                allowed.body
            );
        }
    }
}

/// A client restricted to BE*EMP, through the token endpoint: it searches, reads, changes,
/// imports, exports and audits only BE*EMP's tokens; NL*ABC's are unknown to it (404) and a write
/// naming NL*ABC is refused (403 `other-party`). Nothing of NL*ABC changes.
async fn a_restricted_caller_sees_and_changes_only_its_parties(app: TestApp) {
    app.add_emsp("BE", "EMP").await;
    app.seed_tokens("NL", "ABC", "N", 30).await;
    app.seed_tokens("BE", "EMP", "B", 12).await;
    let scopes = "tokens:read tokens:write parties:read parties:write audit:read";
    let (id, secret) = app
        .add_oauth_client_for(scopes, &[], false, &["BE*EMP"])
        .await;
    let granted = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&id, secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    let granted: Value = granted.json().await.unwrap();
    let be = granted["access_token"].as_str().unwrap().to_owned();
    let all = bearer(&app, ALL).await;

    // Search: only its own, across pages; naming NL*ABC finds nothing.
    let mine = crawl(&app, &be, "", 5).await;
    assert_eq!(mine.len(), 12, "{mine:?}");
    assert!(mine.iter().all(|uid| uid.starts_with('B')), "{mine:?}");
    assert_eq!(crawl(&app, &be, "&party=NL*ABC", 5).await.len(), 0);
    assert_eq!(crawl(&app, &all, "", 100).await.len(), 42);
    // Several parties (the `CC||'*'||PID IN (...)` path): both, and only them.
    let two = app
        .sign_access_token(claims(&app, scopes, |c| {
            c["parties"] = json!(["BE*EMP", "NL*ABC"])
        }))
        .await;
    assert_eq!(crawl(&app, &two, "", 7).await.len(), 42);
    let other_two = app
        .sign_access_token(claims(&app, scopes, |c| {
            c["parties"] = json!(["BE*EMP", "DE*XYZ"])
        }))
        .await;
    assert_eq!(crawl(&app, &other_two, "", 7).await, mine);

    // One token: another party's is unknown, for reads and writes alike.
    assert_eq!(
        get(&app, &be, "/admin/v1/tokens/BE/EMP/B00001")
            .await
            .status,
        200
    );
    let hidden = get(&app, &be, "/admin/v1/tokens/NL/ABC/N00001").await;
    assert_eq!(
        (hidden.status, problem_type(&hidden)),
        (404, "urn:tokenhub:problem:not-found")
    );
    let unknown = get(&app, &be, "/admin/v1/tokens/BE/EMP/NOPE").await;
    assert_eq!(
        unknown.body["detail"], hidden.body["detail"],
        "the same answer"
    );
    let block = json!({"blocked": true, "block_reason": "lost"});
    for (path, status) in [
        ("/admin/v1/tokens/NL/ABC/N00001/policy", 404),
        ("/admin/v1/tokens/BE/EMP/B00001/policy", 200),
    ] {
        let put = call(&app, Method::PUT, path, Some(&be), Some(block.clone())).await;
        assert_eq!(put.status, status, "{path}: {:?}", put.body);
    }
    let nl = get(&app, &all, "/admin/v1/tokens/NL/ABC/N00001").await;
    assert_eq!(
        nl.body["policy"]["blocked"], false,
        "NL*ABC's token unchanged"
    );

    // Bulk: naming another party is refused; without a party it touches only its own.
    let bulk = |filter: Value| {
        call(
            &app,
            Method::POST,
            "/admin/v1/tokens/policy",
            Some(&be),
            Some(json!({"filter": filter, "policy": {"max_concurrent": 1}})),
        )
    };
    let refused = bulk(json!({"party": "NL*ABC"})).await;
    assert_eq!(
        (refused.status, problem_type(&refused)),
        (403, "urn:tokenhub:problem:other-party")
    );
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("filter.party"));
    let own = bulk(json!({"type": "RFID"})).await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(own.body["matched"], 12);
    let limited = crawl(&app, &all, "&party=NL*ABC", 100).await.len();
    assert_eq!(limited, 30);
    let nl = get(&app, &all, "/admin/v1/tokens/NL/ABC/N00002").await;
    assert_eq!(nl.body["policy"]["max_concurrent"], Value::Null);

    // Import: a line of another party is a line error; the good lines are stored.
    let mut theirs = token_json("IMPNL");
    theirs["party_id"] = json!("ABC");
    let mut ours = token_json("IMPBE");
    ours["country_code"] = json!("BE");
    ours["party_id"] = json!("EMP");
    let file = format!("{ours}\n{theirs}\n");
    let done = post_ndjson(&app, &be, "", file).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["counts"]["created"], 1);
    assert_eq!(done.body["counts"]["invalid"], 1);
    assert_eq!(done.body["errors"][0]["line"], 2);
    assert_eq!(done.body["errors"][0]["field"], "party_id");
    assert!(done.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("NL*ABC"));
    assert_eq!(
        get(&app, &all, "/admin/v1/tokens/NL/ABC/IMPNL")
            .await
            .status,
        404
    );

    // Export: only its own.
    let exported = get(&app, &be, "/admin/v1/tokens/export").await;
    let lines = exported.body.as_array().unwrap();
    assert_eq!(lines.len(), 13);
    assert!(lines.iter().all(|l| l["party_id"] == "EMP"));

    // Audit: the changes of its own tokens only (the operator's sees NL*ABC's bulk entry too).
    let changes = get(&app, &be, "/admin/v1/audit/changes").await;
    let subjects: Vec<&str> = changes.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert!(!subjects.is_empty());
    assert!(
        subjects
            .iter()
            .all(|s| s.starts_with("token:BE*EMP:") || *s == "tokens:BE*EMP"),
        "{subjects:?}"
    );
    // Restricted to two parties: the same entries (DE*XYZ has none).
    let both = get(&app, &other_two, "/admin/v1/audit/changes").await;
    assert_eq!(both.body["entries"], changes.body["entries"]);
    // Its own bulk change and import, with another filter after the party group.
    for action in ["token.policy.bulk", "token.import"] {
        let mine = get(
            &app,
            &be,
            &format!("/admin/v1/audit/changes?action={action}"),
        )
        .await;
        let entries = mine.body["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{action}: {entries:?}");
        assert_eq!(entries[0]["subject"], "tokens:BE*EMP");
    }

    // Parties: its own only; settings of another party refused; its own allowed.
    let parties = get(&app, &be, "/admin/v1/parties").await;
    let listed: Vec<String> = parties.body["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}*{}",
                p["country_code"].as_str().unwrap(),
                p["party_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(listed, ["BE*EMP"]);
    let settings = |path: &'static str| {
        call(
            &app,
            Method::PATCH,
            path,
            Some(&be),
            Some(json!({"max_concurrent": 4})),
        )
    };
    let other = settings("/admin/v1/parties/NL/ABC/settings").await;
    assert_eq!(
        (other.status, problem_type(&other)),
        (403, "urn:tokenhub:problem:other-party")
    );
    assert_eq!(
        settings("/admin/v1/parties/BE/EMP/settings").await.status,
        200
    );
}

/// Users over the API: a generated password shown once (it logs in), an admin's password checked
/// by the rules, a party restriction kept, a taken name refused, disable revokes.
async fn users_are_created_listed_and_disabled(app: TestApp) {
    let admin = bearer(&app, "clients:write").await;
    let post = |body: Value| {
        call(
            &app,
            Method::POST,
            "/admin/v1/users",
            Some(&admin),
            Some(body),
        )
    };
    let made =
        post(json!({"username": "Desk.Anna", "scopes": "tokens:read", "parties": ["be*emp"]}))
            .await;
    assert_eq!(made.status, 400, "uppercase: {:?}", made.body);
    assert_eq!(made.body["field"], "username");
    let made =
        post(json!({"username": "desk.anna", "scopes": "tokens:read", "parties": ["be*emp"]}))
            .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let password = made.body["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 40, "{password}");
    let keys = app.keys();
    let logged_in = tokenhub::service::oauth::users::check_password(
        &app.store,
        &keys,
        "desk.anna",
        password.clone(),
    )
    .await
    .unwrap()
    .expect("the generated password logs in");
    assert_eq!(
        logged_in.user.parties.to_claim(),
        Some(vec!["BE*EMP".to_owned()])
    );

    let chosen = post(json!({"username": "desk.bob", "scopes": "tokens:read audit:read", "password": "correct horse battery"})).await;
    assert_eq!(chosen.status, 201, "{:?}", chosen.body);
    assert_eq!(chosen.body["password"], Value::Null, "not echoed");
    for (body, field) in [
        (
            json!({"username": "desk.cy", "scopes": "tokens:read", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "desk.cy", "scopes": "tokens:nope"}),
            "scopes",
        ),
        (
            json!({"username": "desk.cy", "scopes": "tokens:read", "parties": ["NLABC"]}),
            "parties",
        ),
    ] {
        let refused = post(body).await;
        assert_eq!(refused.status, 400, "{field}: {:?}", refused.body);
        assert_eq!(refused.body["field"], field);
    }
    let taken = post(json!({"username": "desk.bob", "scopes": "tokens:read"})).await;
    assert_eq!(
        (taken.status, problem_type(&taken)),
        (409, "urn:tokenhub:problem:conflict")
    );

    let listed = get(&app, &admin, "/admin/v1/users").await;
    let users = listed.body.as_array().unwrap();
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(!listed.body.to_string().contains(&password));
    assert_eq!(users[0]["username"], "desk.anna");
    assert_eq!(users[0]["parties"], json!(["BE*EMP"]));
    assert_eq!(users[1]["parties"], Value::Null);

    let disabled = call(
        &app,
        Method::POST,
        "/admin/v1/users/desk.anna/disable",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(disabled.status, 200);
    assert!(tokenhub::service::oauth::users::check_password(
        &app.store,
        &keys,
        "desk.anna",
        password
    )
    .await
    .unwrap()
    .is_none());
    let unknown = call(
        &app,
        Method::POST,
        "/admin/v1/users/nobody/disable",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
    let changes = get(
        &app,
        &bearer(&app, "audit:read").await,
        "/admin/v1/audit/changes?subject=user:",
    )
    .await;
    let actions: Vec<&str> = changes.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.disable", "user.add", "user.add"]);
    assert!(!changes.body.to_string().contains("horse"));
}

/// Rotating a party's credentials over the API: the new token is shown once and works; the old
/// one is refused at once here (and, on PostgreSQL, on a second instance within the poll).
async fn a_rotated_credentials_token_is_refused_at_once(app: TestApp) {
    let versions = |base: String, token: String| {
        let client = app.client.clone();
        async move {
            client
                .get(format!("{base}/ocpi/versions"))
                .header(
                    "Authorization",
                    format!("Token {}", crate::helpers::b64(&token)),
                )
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let sibling = match app.backend {
        crate::helpers::Backend::Postgres => Some(app.spawn_sibling().await),
        crate::helpers::Backend::Sqlite => None,
    };
    let old = app.emsp.clone();
    assert_eq!(versions(app.base.clone(), old.clone()).await, 200);
    if let Some(other) = &sibling {
        // The other instance caches the old token now.
        assert_eq!(versions(other.clone(), old.clone()).await, 200);
    }
    let admin = bearer(&app, "parties:write audit:read").await;
    let rotated = call(
        &app,
        Method::POST,
        "/admin/v1/parties/NL/ABC/rotate",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_eq!(rotated.body["role"], "EMSP");
    let new = rotated.body["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        versions(app.base.clone(), old.clone()).await,
        401,
        "refused at once here"
    );
    assert_eq!(versions(app.base.clone(), new.clone()).await, 200);
    if let Some(other) = &sibling {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while versions(other.clone(), old.clone()).await != 401 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sibling still takes the old token"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(versions(other.clone(), new.clone()).await, 200);
    }
    let unknown = call(
        &app,
        Method::POST,
        "/admin/v1/parties/FR/XXX/rotate",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
    let log = get(&app, &admin, "/admin/v1/audit/changes?action=party.rotate").await;
    let entries = log.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["subject"], "party:NL*ABC:EMSP");
    assert!(!log.body.to_string().contains(&new));
}

async fn get(app: &TestApp, token: &str, path: &str) -> Reply {
    call(app, Method::GET, path, Some(token), None).await
}

/// The uids of a search, page by page through the cursor.
async fn crawl(app: &TestApp, token: &str, query: &str, limit: usize) -> Vec<String> {
    let mut uids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/admin/v1/tokens?limit={limit}{query}");
        if let Some(c) = &cursor {
            path += &format!("&cursor={c}");
        }
        let page = call(app, Method::GET, &path, Some(token), None).await;
        assert_eq!(page.status, 200, "{path}: {:?}", page.body);
        let tokens = page.body["tokens"].as_array().unwrap();
        assert!(tokens.len() <= limit);
        uids.extend(tokens.iter().map(|t| t["uid"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return uids,
        }
    }
    panic!("more than 100 pages");
}

async fn search_filters_and_cursor_pages(app: TestApp) {
    app.seed_tokens("NL", "ABC", "S", 250).await;
    app.seed_tokens("BE", "EMP", "B", 20).await;
    let mut group = token_json("GRP1");
    group["group_id"] = json!("FLEET-7");
    assert_eq!(app.put_token(&group).await.status, 201);
    let read = bearer(&app, "tokens:read").await;

    // Every token once, in creation order, over pages of 100.
    let all = crawl(&app, &read, "", 100).await;
    assert_eq!(all.len(), 271);
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        271,
        "no token twice"
    );
    assert_eq!(all[0], "S00000");
    assert_eq!(all[270], "GRP1");

    // Filters, alone and together.
    let emp = crawl(&app, &read, "&party=BE*EMP", 7).await;
    assert_eq!(emp.len(), 20);
    assert!(emp.iter().all(|u| u.starts_with('B')));
    assert_eq!(crawl(&app, &read, "&uid=s00042", 100).await, ["S00042"]);
    assert_eq!(
        crawl(&app, &read, "&contract_id=NL-ABC-S00007", 100).await,
        ["S00007"]
    );
    assert_eq!(crawl(&app, &read, "&group_id=FLEET-7", 100).await, ["GRP1"]);
    assert_eq!(
        crawl(&app, &read, "&group_id=FLEET-", 100).await,
        Vec::<String>::new()
    );
    assert_eq!(crawl(&app, &read, "&blocked=true", 100).await.len(), 0);
    assert_eq!(
        crawl(
            &app,
            &read,
            "&party=NL*ABC&type=RFID&valid=true&whitelist=ALLOWED",
            100
        )
        .await
        .len(),
        251
    );
    assert_eq!(crawl(&app, &read, "&whitelist=NEVER", 100).await.len(), 0);
    assert_eq!(
        crawl(&app, &read, "&changed_since=2030-01-01T00:00:00Z", 100)
            .await
            .len(),
        0
    );

    // One token whole.
    let one = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/GRP1",
        Some(&read),
        None,
    )
    .await;
    assert_eq!(one.status, 200, "{:?}", one.body);
    assert_eq!(one.body["pushed"]["group_id"], "FLEET-7");
    assert_eq!(one.body["effective"]["valid"], true);
    assert_eq!(one.body["policy"]["blocked"], false);
    assert_eq!(one.body["usage"], json!([]));
    assert_eq!(one.body["decisions"], json!([]));
    let missing = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/NOPE",
        Some(&read),
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(problem_type(&missing), "urn:tokenhub:problem:not-found");
}

async fn policy_change_shows_in_the_list_the_decision_and_the_push(app: TestApp) {
    let mut state = PartnerState::party("CPO", "BE", "PCP", "token-B-PCP", false);
    state.versions = vec!["2.3.0"];
    state.endpoints = vec![("credentials", "SENDER"), ("tokens", "RECEIVER")];
    let partner = partner_platform::register_partner(&app, state).await.0;
    assert_eq!(app.put_token(&token_json("POL1")).await.status, 201);
    partner
        .wait_for("of POL1", |p| p.object == "NL/ABC/POL1")
        .await;
    let write = bearer(&app, "tokens:write").await;

    let set = call(
        &app,
        Method::PUT,
        "/admin/v1/tokens/NL/ABC/POL1/policy",
        Some(&write),
        Some(json!({"blocked": true, "block_reason": "stolen card"})),
    )
    .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["effective"]["valid"], false);
    assert_eq!(set.body["policy"]["block_reason"], "stolen card");
    assert_eq!(set.body["pushes_queued"], 1);

    // The sender list and the decision, at once.
    let list = app
        .call(Method::GET, "/ocpi/2.3.0/sender/tokens", &app.cpo, None)
        .await;
    let listed: Vec<&Value> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["uid"] == "POL1")
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["valid"], false);
    let decision = app.authorize("POL1", None).await;
    assert_eq!(
        decision.body["data"]["allowed"], "BLOCKED",
        "{:?}",
        decision.body
    );
    // And pushed.
    partner
        .wait_for("of the block", |p| {
            p.object == "NL/ABC/POL1" && p.body["valid"] == false
        })
        .await;

    // The token view shows the decision; the change log the change, by this client.
    let read = bearer(&app, "tokens:read audit:read").await;
    let one = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/POL1",
        Some(&read),
        None,
    )
    .await;
    assert_eq!(one.body["decisions"][0]["result"], "BLOCKED");
    let changes = call(
        &app,
        Method::GET,
        "/admin/v1/audit/changes?action=token.policy",
        Some(&read),
        None,
    )
    .await;
    let entry = &changes.body["entries"][0];
    assert_eq!(entry["actor"], "client:th_admin");
    assert_eq!(entry["before"]["blocked"], false);
    assert_eq!(entry["after"]["blocked"], true);
    assert_eq!(entry["after"]["block_reason"], "stolen card");

    // Cleared: valid again everywhere.
    let cleared = call(
        &app,
        Method::DELETE,
        "/admin/v1/tokens/NL/ABC/POL1/policy",
        Some(&write),
        None,
    )
    .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body["effective"]["valid"], true);
    let decision = app.authorize("POL1", None).await;
    assert_eq!(decision.body["data"]["allowed"], "ALLOWED");
    partner
        .wait_for("of the unblock", |p| {
            p.object == "NL/ABC/POL1"
                && p.body["valid"] == true
                && p.body["last_updated"] != "2026-01-01T10:00:00Z"
        })
        .await;
}

async fn bulk_policy_is_one_atomic_change(app: TestApp) {
    app.seed_tokens("NL", "ABC", "K", 30).await;
    app.seed_tokens("BE", "EMP", "E", 12).await;
    let write = bearer(&app, "tokens:write tokens:read").await;
    let block = |filter: Value| json!({"filter": filter, "policy": {"blocked": true, "block_reason": "fleet lost"}});

    let done = call(
        &app,
        Method::POST,
        "/admin/v1/tokens/policy",
        Some(&write),
        Some(block(json!({"party": "BE*EMP"}))),
    )
    .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body, json!({"matched": 12, "changed": 12}));
    // The same again changes nothing.
    let again = call(
        &app,
        Method::POST,
        "/admin/v1/tokens/policy",
        Some(&write),
        Some(block(json!({"party": "BE*EMP"}))),
    )
    .await;
    assert_eq!(again.body, json!({"matched": 12, "changed": 0}));
    assert_eq!(crawl(&app, &write, "&blocked=true", 100).await.len(), 12);
    assert_eq!(
        crawl(&app, &write, "&blocked=true&party=NL*ABC", 100)
            .await
            .len(),
        0
    );

    // Refused whole: an empty filter, a policy that breaks a rule.
    let empty = call(
        &app,
        Method::POST,
        "/admin/v1/tokens/policy",
        Some(&write),
        Some(block(json!({}))),
    )
    .await;
    assert_eq!(empty.status, 400);
    assert_eq!(empty.body["field"], "filter");
    let no_reason = call(
        &app,
        Method::POST,
        "/admin/v1/tokens/policy",
        Some(&write),
        Some(json!({"filter": {"party": "NL*ABC"}, "policy": {"blocked": true}})),
    )
    .await;
    assert_eq!(no_reason.status, 400);
    assert_eq!(no_reason.body["field"], "block_reason");
    assert_eq!(crawl(&app, &write, "&blocked=true", 100).await.len(), 12);
}

async fn bad_input_is_a_problem_naming_the_field(app: TestApp) {
    assert_eq!(app.put_token(&token_json("BAD1")).await.status, 201);
    let token = bearer(&app, ALL).await;
    let cases: [(Method, &str, Option<Value>, &str); 13] = [
        (Method::GET, "/admin/v1/tokens?limit=0", None, "limit"),
        (Method::GET, "/admin/v1/tokens?limit=abc", None, "limit"),
        (Method::GET, "/admin/v1/tokens?cursor=-4", None, "cursor"),
        (Method::GET, "/admin/v1/tokens?party=NLABC", None, "party"),
        (Method::GET, "/admin/v1/tokens?valid=yes", None, "valid"),
        (
            Method::GET,
            "/admin/v1/tokens?whitelist=SOMETIMES",
            None,
            "whitelist",
        ),
        (
            Method::GET,
            "/admin/v1/tokens?changed_since=yesterday",
            None,
            "changed_since",
        ),
        (Method::GET, "/admin/v1/tokens?colour=red", None, "query"),
        (
            Method::GET,
            "/admin/v1/audit/decisions?result=MAYBE",
            None,
            "result",
        ),
        (
            Method::PUT,
            "/admin/v1/tokens/NL/ABC/BAD1/policy",
            Some(
                json!({"valid_from": "2026-02-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"}),
            ),
            "valid_until",
        ),
        (
            Method::PUT,
            "/admin/v1/tokens/NL/ABC/BAD1/policy",
            Some(json!({"max_concurrent": -1})),
            "max_concurrent",
        ),
        (
            Method::PUT,
            "/admin/v1/tokens/NL/ABC/BAD1/policy",
            Some(json!({"blocked": true, "block_reason": "x", "colour": "red"})),
            "colour",
        ),
        (
            Method::PUT,
            "/admin/v1/tokens/NLL/ABC/BAD1/policy",
            Some(json!({})),
            "country_code",
        ),
    ];
    for (method, path, body, field) in cases {
        let refused = call(&app, method.clone(), path, Some(&token), body.clone()).await;
        assert_eq!(
            refused.status, 400,
            "{method} {path} {body:?}: {:?}",
            refused.body
        );
        assert_eq!(
            problem_type(&refused),
            "urn:tokenhub:problem:invalid-parameter"
        );
        assert_eq!(
            refused.body["field"], field,
            "{path} {body:?}: {:?}",
            refused.body
        );
    }
    // Nothing was stored by the refused writes.
    let one = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/BAD1",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(one.body["policy"]["updated_at"], Value::Null);
}

async fn audit_lists_decisions_and_changes_newest_first(app: TestApp) {
    assert_eq!(app.put_token(&token_json("AUD1")).await.status, 201);
    for _ in 0..5 {
        assert_eq!(app.authorize("AUD1", None).await.status, 200);
    }
    // Unknown to the hub (and nobody to ask): 404, OCPI 2004, recorded as UNKNOWN.
    assert_eq!(app.authorize("NOSUCH", None).await.status, 404);
    let token = bearer(&app, "audit:read").await;
    let all = call(
        &app,
        Method::GET,
        "/admin/v1/audit/decisions?limit=2",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(
        all.body["entries"][0]["token_uid"], "NOSUCH",
        "newest first"
    );
    // Crawl the rest by cursor: 6 decisions in all, ids falling.
    let mut ids = Vec::new();
    let mut path = "/admin/v1/audit/decisions?limit=2".to_owned();
    loop {
        let page = call(&app, Method::GET, &path, Some(&token), None).await;
        ids.extend(
            page.body["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/admin/v1/audit/decisions?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), 6);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    let by_token = call(
        &app,
        Method::GET,
        "/admin/v1/audit/decisions?token_uid=aud1&token_party=NL*ABC&result=ALLOWED&from=2020-01-01T00:00:00Z",
        Some(&token),
        None,
    )
    .await;
    // One hold per token by default: the first is allowed, the four after refused.
    assert_eq!(
        by_token.body["entries"].as_array().unwrap().len(),
        1,
        "{:?}",
        all_entries(&app, &token).await
    );
    let count = |reply: &Reply| reply.body["entries"].as_array().unwrap().len();
    let refused = call(
        &app,
        Method::GET,
        "/admin/v1/audit/decisions?token_uid=AUD1&reason=concurrent_use",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(count(&refused), 4);
    let of_token = call(
        &app,
        Method::GET,
        "/admin/v1/audit/decisions?token_uid=aud1",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(count(&of_token), 5);
    let unknown = call(
        &app,
        Method::GET,
        "/admin/v1/audit/decisions?result=UNKNOWN",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(unknown.body["entries"].as_array().unwrap().len(), 1);
    let asked_by = call(
        &app,
        Method::GET,
        "/admin/v1/audit/decisions?party=DE*CPO",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(asked_by.body["entries"].as_array().unwrap().len(), 6);
    let future = call(
        &app,
        Method::GET,
        "/admin/v1/audit/decisions?from=2999-01-01T00:00:00Z",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(future.body["entries"], json!([]));
}

async fn all_entries(app: &TestApp, token: &str) -> Value {
    call(
        app,
        Method::GET,
        "/admin/v1/audit/decisions",
        Some(token),
        None,
    )
    .await
    .body
}

async fn parties_and_agreements(app: TestApp) {
    let write = bearer(&app, "parties:write parties:read tokens:read audit:read").await;
    let listed = call(&app, Method::GET, "/admin/v1/parties", Some(&write), None).await;
    let names: Vec<String> = listed.body["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}*{} {}",
                p["country_code"].as_str().unwrap(),
                p["party_id"].as_str().unwrap(),
                p["role"].as_str().unwrap()
            )
        })
        .collect();
    assert!(names.contains(&"NL*ABC EMSP".to_owned()), "{names:?}");
    assert!(names.contains(&"DE*CPO CPO".to_owned()), "{names:?}");

    // Invite: token A shown once, the party PLANNED; a second invitation replaces it.
    let invite =
        json!({"country_code": "FR", "party_id": "INV", "role": "EMSP", "name": "Invited eMSP"});
    let invited = call(
        &app,
        Method::POST,
        "/admin/v1/parties",
        Some(&write),
        Some(invite.clone()),
    )
    .await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let token_a = invited.body["token"].as_str().unwrap().to_owned();
    assert!(token_a.len() >= 32);
    let versions = app
        .call(Method::GET, "/ocpi/versions", &token_a, None)
        .await;
    assert_eq!(versions.status, 200, "token A opens the versions module");
    let again = call(
        &app,
        Method::POST,
        "/admin/v1/parties",
        Some(&write),
        Some(invite),
    )
    .await;
    assert_eq!(again.body["reinvited"], true);
    assert_ne!(again.body["token"], token_a.as_str());
    let registered = call(
        &app,
        Method::POST,
        "/admin/v1/parties",
        Some(&write),
        Some(json!({"country_code": "NL", "party_id": "ABC", "role": "EMSP", "name": "x"})),
    )
    .await;
    assert_eq!(registered.status, 409);
    assert_eq!(problem_type(&registered), "urn:tokenhub:problem:conflict");

    // Suspend: the eMSP's tokens are refused and listed invalid; resume undoes it.
    assert_eq!(app.put_token(&token_json("SUSP1")).await.status, 201);
    let suspend = call(
        &app,
        Method::PATCH,
        "/admin/v1/parties/NL/ABC/settings",
        Some(&write),
        Some(json!({"suspended": true})),
    )
    .await;
    assert_eq!(suspend.status, 200, "{:?}", suspend.body);
    assert_eq!(suspend.body["after"]["suspended"], true);
    assert_eq!(
        app.authorize("SUSP1", None).await.body["data"]["allowed"],
        "NOT_ALLOWED"
    );
    let one = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/SUSP1",
        Some(&write),
        None,
    )
    .await;
    assert_eq!(one.body["effective"]["valid"], false);
    let resume = call(
        &app,
        Method::PATCH,
        "/admin/v1/parties/NL/ABC/settings",
        Some(&write),
        Some(json!({"suspended": false, "max_concurrent": 2, "time_budget_ms": null})),
    )
    .await;
    assert_eq!(resume.body["after"]["suspended"], false);
    assert_eq!(resume.body["after"]["max_concurrent"], 2);
    assert_eq!(
        app.authorize("SUSP1", None).await.body["data"]["allowed"],
        "ALLOWED"
    );
    // Settings only eMSPs have, on a CPO: refused naming the setting; an unknown party: 404.
    let cpo = call(
        &app,
        Method::PATCH,
        "/admin/v1/parties/DE/CPO/settings",
        Some(&write),
        Some(json!({"forward_allowed": true})),
    )
    .await;
    assert_eq!(cpo.status, 400);
    assert_eq!(cpo.body["field"], "forward_allowed");
    let nobody = call(
        &app,
        Method::PATCH,
        "/admin/v1/parties/XX/NOP/settings",
        Some(&write),
        Some(json!({"suspended": true})),
    )
    .await;
    assert_eq!(nobody.status, 404);

    // Agreements: add (idempotent), list, remove.
    let pair = json!({"cpo": "DE*CPO", "emsp": "NL*ABC"});
    let added = call(
        &app,
        Method::POST,
        "/admin/v1/agreements",
        Some(&write),
        Some(pair.clone()),
    )
    .await;
    assert_eq!(added.body["changed"], true, "{:?}", added.body);
    let twice = call(
        &app,
        Method::POST,
        "/admin/v1/agreements",
        Some(&write),
        Some(pair.clone()),
    )
    .await;
    assert_eq!(twice.body["changed"], false);
    let list = call(
        &app,
        Method::GET,
        "/admin/v1/agreements",
        Some(&write),
        None,
    )
    .await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["cpo"], "DE*CPO");
    let not_emsp = call(
        &app,
        Method::POST,
        "/admin/v1/agreements",
        Some(&write),
        Some(json!({"cpo": "DE*CPO", "emsp": "DE*CPO"})),
    )
    .await;
    assert_eq!(not_emsp.status, 404);
    let removed = call(
        &app,
        Method::DELETE,
        "/admin/v1/agreements",
        Some(&write),
        Some(pair),
    )
    .await;
    assert_eq!(removed.body["changed"], true);

    // Every change names this client.
    let changes = call(
        &app,
        Method::GET,
        "/admin/v1/audit/changes?actor=client:th_admin",
        Some(&write),
        None,
    )
    .await;
    let actions: Vec<&str> = changes.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "party.invite",
        "party.suspend",
        "party.resume",
        "agreement.add",
        "agreement.remove",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

async fn clients_are_created_listed_and_disabled(app: TestApp) {
    let admin = bearer(&app, "clients:write").await;
    let created = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        Some(&admin),
        Some(json!({"name": "support desk", "scopes": "tokens:read audit:read"})),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["client_id"].as_str().unwrap().to_owned();
    let secret = created.body["client_secret"].as_str().unwrap().to_owned();

    // The secret works at the token endpoint, and is never listed.
    let issued = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 200);
    let listed = call(&app, Method::GET, "/admin/v1/clients", Some(&admin), None).await;
    let text = listed.body.to_string();
    assert!(text.contains(&id) && !text.contains(&secret));
    let mine = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id.as_str())
        .unwrap();
    assert_eq!(mine["scopes"], "tokens:read audit:read");
    assert_eq!(mine["disabled"], false);

    let bad = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        Some(&admin),
        Some(json!({"name": "x", "scopes": "tokens:everything"})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["field"], "scopes");

    let disabled = call(
        &app,
        Method::POST,
        &format!("/admin/v1/clients/{id}/disable"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(disabled.status, 200);
    let refused = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let unknown = call(
        &app,
        Method::POST,
        "/admin/v1/clients/th_nobody/disable",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
}

async fn post_file(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    body: String,
) -> Reply {
    let response = app
        .client
        .post(app.url(path))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap();
    Reply {
        status,
        content_type,
        challenge: None,
        body,
    }
}

async fn export_text(app: &TestApp, token: &str, query: &str) -> (String, String) {
    let response = app
        .client
        .get(app.url(&format!("/admin/v1/tokens/export{query}")))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

/// CSV: good and bad records mixed (a quoted field over two lines among them), a dry run, the
/// line numbers of the errors; then an export in CSV imported again changes nothing, the
/// unknown fields (`extra`) and the energy contract included.
async fn csv_import_stores_every_good_line_and_round_trips(app: TestApp) {
    let write = bearer(&app, "tokens:write tokens:read audit:read").await;
    let file = [
        "uid,type,country_code,party_id,contract_id,valid,whitelist,issuer,last_updated,extra",
        "CSV1,RFID,NL,ABC,NL-ABC-1,true,ALLOWED,Hub,2026-01-01T00:00:00Z,",
        "CSV2,RFID,NL,ABC,NL-ABC-2,maybe,ALLOWED,Hub,2026-01-01T00:00:00Z,",
        "CSV3,RFID,NL,ABC,NL-ABC-3,true,ALLOWED,Hub,2026-01-01T00:00:00Z,\"{\"\"x_note\"\":",
        "\"\"kept\"\"}\"",
        ",RFID,NL,ABC,NL-ABC-5,true,ALLOWED,Hub,2026-01-01T00:00:00Z,",
        "CSV5,RFID,NL,ABC,NL-ABC-5,true,SOMETIMES,Hub,2026-01-01T00:00:00Z,",
    ]
    .join("\r\n");
    let path = "/admin/v1/tokens/import";
    let dry = post_file(
        &app,
        &write,
        &format!("{path}?dry_run=true"),
        "text/csv",
        file.clone(),
    )
    .await;
    assert_eq!(dry.status, 200, "{:?}", dry.body);
    assert_eq!(dry.body["counts"]["created"], 2, "{:?}", dry.body);
    assert_eq!(
        crawl(&app, &write, "&uid=CSV1", 100).await.len(),
        0,
        "a dry run stores nothing"
    );
    let done = post_file(&app, &write, path, "text/csv; charset=utf-8", file).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(
        done.body["counts"],
        json!({"created": 2, "replaced": 0, "unchanged": 0, "stale": 0, "invalid": 3})
    );
    let errors: Vec<(i64, &str)> = done.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    // A missing field is named by the message (as the OCPI PUT names it).
    assert_eq!(
        errors,
        [(3, "valid"), (6, ""), (7, "whitelist")],
        "{:?}",
        done.body
    );
    assert!(done.body["errors"][1]["message"]
        .as_str()
        .unwrap()
        .contains("`uid`"));
    let three = get(&app, &write, "/admin/v1/tokens/NL/ABC/CSV3").await;
    assert_eq!(three.body["pushed"]["x_note"], "kept");

    // A bad header refuses the whole file, naming the column.
    let bad = post_file(
        &app,
        &write,
        &format!("{path}?format=csv"),
        "text/plain",
        "uid,colour\nX,red\n".into(),
    )
    .await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (400, Some("header"))
    );

    // Round trip: tokens with an energy contract and unknown fields, exported as CSV.
    let mut odd = token_json("ODD1");
    odd["energy_contract"] = json!({"supplier_name": "Green, \"Inc\"", "contract_id": "E1"});
    odd["x_extension"] = json!({"kept": [1, 2]});
    assert_eq!(app.put_token(&odd).await.status, 201);
    app.seed_tokens("NL", "ABC", "R", 1100).await;
    let (content_type, text) = export_text(&app, &write, "?format=csv").await;
    assert_eq!(content_type, "text/csv");
    assert_eq!(text.lines().next().unwrap(), "country_code,party_id,uid,type,contract_id,visual_number,issuer,group_id,valid,whitelist,language,default_profile_type,energy_contract_supplier_name,energy_contract_id,last_updated,extra");
    let before = get(&app, &write, "/admin/v1/audit/changes").await;
    let again = post_file(&app, &write, path, "text/csv", text).await;
    assert_eq!(
        again.body["counts"],
        json!({"created": 0, "replaced": 0, "unchanged": 1103, "stale": 0, "invalid": 0}),
        "{:?}",
        again.body["errors"]
    );
    let one = get(&app, &write, "/admin/v1/tokens/NL/ABC/ODD1").await;
    assert_eq!(one.body["pushed"], odd);
    let after = get(&app, &write, "/admin/v1/audit/changes").await;
    assert_eq!(
        after.body["entries"].as_array().unwrap().len(),
        before.body["entries"].as_array().unwrap().len() + 1,
        "only the import's own entry"
    );
}

/// Hub-policy lines (NDJSON and CSV) act as the policy API: good and bad lines mixed, every good
/// one applied, the change seen at once in the sender list and the decision; a line holding the
/// stored policy changes and pushes nothing; one change-log entry per import with its counts.
async fn policy_import_acts_as_the_policy_api(app: TestApp) {
    for uid in ["PI1", "PI2", "PI3"] {
        assert_eq!(app.put_token(&token_json(uid)).await.status, 201);
    }
    let write = bearer(&app, "tokens:write tokens:read audit:read").await;
    let path = "/admin/v1/tokens/policy/import";
    let file = [
        json!({"country_code": "NL", "party_id": "ABC", "uid": "PI1", "blocked": true, "block_reason": "stolen"}),
        json!({"country_code": "NL", "party_id": "ABC", "uid": "NOPE", "max_concurrent": 1}),
        json!({"country_code": "NL", "party_id": "ABC", "uid": "PI2", "blocked": true}),
        json!({"country_code": "NL", "party_id": "ABC", "uid": "PI3"}),
        json!({"country_code": "NL", "party_id": "ABC", "uid": "PI2", "max_concurrent": 2, "whitelist_override": "NEVER"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let dry = post_file(
        &app,
        &write,
        &format!("{path}?dry_run=true"),
        "application/x-ndjson",
        file.clone(),
    )
    .await;
    assert_eq!(
        dry.body["counts"],
        json!({"changed": 2, "unchanged": 1, "invalid": 2}),
        "{:?}",
        dry.body
    );
    assert_eq!(
        get(&app, &write, "/admin/v1/tokens/NL/ABC/PI1").await.body["policy"]["blocked"],
        false
    );

    let done = post_file(&app, &write, path, "application/x-ndjson", file).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(
        done.body["counts"],
        json!({"changed": 2, "unchanged": 1, "invalid": 2})
    );
    let errors: Vec<(i64, &str)> = done.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, [(3, "block_reason"), (2, "uid")], "{:?}", done.body);
    // No CPO has a push endpoint here (the push itself: policy_change_shows_...).
    assert_eq!(done.body["pushes_queued"], 0);

    // The sender list and the decision, at once.
    let list = app
        .call(Method::GET, "/ocpi/2.3.0/sender/tokens", &app.cpo, None)
        .await;
    let valid_of = |uid: &str| {
        list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["uid"] == uid)
            .map(|t| t["valid"].clone())
    };
    assert_eq!(valid_of("PI1"), Some(json!(false)));
    assert_eq!(valid_of("PI3"), Some(json!(true)));
    let decision = app.authorize("PI1", None).await;
    assert_eq!(
        decision.body["data"]["allowed"], "BLOCKED",
        "{:?}",
        decision.body
    );
    let pi2 = get(&app, &write, "/admin/v1/tokens/NL/ABC/PI2").await;
    assert_eq!(pi2.body["policy"]["max_concurrent"], 2);
    assert_eq!(pi2.body["policy"]["whitelist_override"], "NEVER");

    // CSV: unblock PI1 (what is absent is cleared); PI2 again as it is (unchanged).
    let csv = "uid,country_code,party_id,type,blocked,max_concurrent,whitelist_override\n\
               PI1,NL,ABC,RFID,false,,\n\
               PI2,NL,ABC,RFID,,2,NEVER\n\
               PI3,NL,ABC,RFID,true,,\n";
    let done = post_file(&app, &write, path, "text/csv", csv.into()).await;
    assert_eq!(
        done.body["counts"],
        json!({"changed": 1, "unchanged": 1, "invalid": 1}),
        "{:?}",
        done.body
    );
    assert_eq!(done.body["errors"][0]["line"], 4);
    assert_eq!(done.body["errors"][0]["field"], "block_reason");
    assert_eq!(
        app.authorize("PI1", None).await.body["data"]["allowed"],
        "ALLOWED"
    );

    let changes = get(
        &app,
        &write,
        "/admin/v1/audit/changes?action=token.policy.import",
    )
    .await;
    let counts: Vec<Value> = changes.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["after"].clone())
        .collect();
    assert_eq!(
        counts,
        [
            json!({"changed": 1, "unchanged": 1, "invalid": 1}),
            json!({"changed": 2, "unchanged": 1, "invalid": 2}),
        ]
    );
}

pub(crate) async fn post_ndjson(app: &TestApp, token: &str, query: &str, body: String) -> Reply {
    let response = app
        .client
        .post(app.url(&format!("/admin/v1/tokens/import{query}")))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap();
    Reply {
        status,
        content_type,
        challenge: None,
        body,
    }
}

async fn import_stores_every_good_line_and_reports_the_bad(app: TestApp) {
    // The stored IMP2 is newer than its line: the line is stale.
    let mut newer = token_json("IMP2");
    newer["last_updated"] = json!("2026-06-01T00:00:00Z");
    assert_eq!(app.put_token(&newer).await.status, 201);
    let mut no_uid = token_json("X");
    no_uid.as_object_mut().unwrap().remove("uid");
    let mut bad_whitelist = token_json("IMP5");
    bad_whitelist["whitelist"] = json!("SOMETIMES");
    let lines = [
        token_json("IMP1").to_string(),
        token_json("IMP2").to_string(),
        "{not json".to_owned(),
        no_uid.to_string(),
        String::new(),
        bad_whitelist.to_string(),
        token_json("IMP6").to_string(),
    ];
    let file = lines.join("\n");
    let write = bearer(&app, "tokens:write tokens:read audit:read").await;

    let dry = post_ndjson(&app, &write, "?dry_run=true", file.clone()).await;
    assert_eq!(dry.status, 200, "{:?}", dry.body);
    assert_eq!(
        dry.body["counts"],
        json!({"created": 2, "replaced": 0, "unchanged": 0, "stale": 1, "invalid": 3})
    );
    assert_eq!(
        crawl(&app, &write, "&uid=IMP1", 100).await.len(),
        0,
        "a dry run stores nothing"
    );

    let done = post_ndjson(&app, &write, "", file).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(
        done.body["counts"],
        json!({"created": 2, "replaced": 0, "unchanged": 0, "stale": 1, "invalid": 3})
    );
    assert_eq!(done.body["stale_lines"], json!([2]));
    let errors = done.body["errors"].as_array().unwrap();
    let where_: Vec<(i64, &str)> = errors
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    // A missing field is named by the message (as the OCPI PUT names it).
    assert_eq!(where_, [(3, ""), (4, ""), (6, "whitelist")], "{errors:?}");
    assert!(errors[1]["message"].as_str().unwrap().contains("`uid`"));
    assert!(errors[0]["message"].as_str().unwrap().contains("JSON"));
    assert_eq!(crawl(&app, &write, "&uid=IMP1", 100).await, ["IMP1"]);
    assert_eq!(crawl(&app, &write, "&uid=IMP6", 100).await, ["IMP6"]);
    let kept = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/IMP2",
        Some(&write),
        None,
    )
    .await;
    assert_eq!(
        kept.body["pushed"]["last_updated"], "2026-06-01T00:00:00Z",
        "the stale line changed nothing"
    );
    let decision = app.authorize("IMP1", None).await;
    assert_eq!(decision.body["data"]["allowed"], "ALLOWED");

    // One change-log entry for the import, with its counts.
    let changes = call(
        &app,
        Method::GET,
        "/admin/v1/audit/changes?action=token.import",
        Some(&write),
        None,
    )
    .await;
    let entries = changes.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["after"]["created"], 2);
    assert_eq!(entries[0]["actor"], "client:th_admin");

    let bad = post_ndjson(&app, &write, "?dry_run=maybe", String::new()).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["field"], "dry_run");
}

/// The NDJSON lines of `import_decides_repeated_and_stored_keys_in_line_order`: new tokens, one
/// key four times, a stored key with an older stamp and one with a newer; and its counts.
pub(crate) fn repeated_and_stored_lines() -> (String, Value) {
    let stamped = |uid: &str, at: &str, valid: bool| {
        let mut t = token_json(uid);
        t["last_updated"] = json!(at);
        t["valid"] = json!(valid);
        t.to_string()
    };
    let lines = [
        stamped("REP1", "2026-02-01T00:00:00Z", true), // created
        stamped("TWICE", "2026-02-01T00:00:00Z", true), // created
        stamped("OLDER", "2026-03-01T00:00:00Z", false), // replaces the stored (older) one
        stamped("NEWER", "2026-02-01T00:00:00Z", false), // stale: stored is newer
        stamped("TWICE", "2026-02-02T00:00:00Z", false), // replaces its own line 2
        stamped("REP2", "2026-02-01T00:00:00Z", true), // created
        stamped("TWICE", "2026-02-02T00:00:00Z", false), // unchanged: as line 5
        stamped("TWICE", "2026-02-01T12:00:00Z", true), // stale: line 5 is newer
    ];
    let counts = json!({"created": 3, "replaced": 2, "unchanged": 1, "stale": 2, "invalid": 0});
    (lines.join("\n"), counts)
}

/// Stores OLDER (stamped before its import line) and NEWER (after), as PUTs would.
pub(crate) async fn store_older_and_newer(app: &TestApp) {
    assert_eq!(app.put_token(&token_json("OLDER")).await.status, 201);
    let mut newer = token_json("NEWER");
    newer["last_updated"] = json!("2026-06-01T00:00:00Z");
    assert_eq!(app.put_token(&newer).await.status, 201);
}

/// A batch decides each line against the lines before it: a key repeated in one file is created
/// once (at its first line's place in the creation order), then replaced, unchanged or stale.
async fn import_decides_repeated_and_stored_keys_in_line_order(app: TestApp) {
    store_older_and_newer(&app).await;
    let (file, counts) = repeated_and_stored_lines();
    let write = bearer(&app, "tokens:write tokens:read").await;
    let dry = post_ndjson(&app, &write, "?dry_run=true", file.clone()).await;
    assert_eq!(dry.status, 200, "{:?}", dry.body);
    assert_eq!(
        dry.body["counts"], counts,
        "a dry run decides as the import"
    );
    let done = post_ndjson(&app, &write, "", file).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["counts"], counts);
    assert_eq!(done.body["stale_lines"], json!([4, 8]));

    let twice = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/TWICE",
        Some(&write),
        None,
    )
    .await;
    assert_eq!(twice.body["pushed"]["last_updated"], "2026-02-02T00:00:00Z");
    assert_eq!(twice.body["pushed"]["valid"], false);
    let older = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/OLDER",
        Some(&write),
        None,
    )
    .await;
    assert_eq!(older.body["pushed"]["last_updated"], "2026-03-01T00:00:00Z");
    let newer = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/NEWER",
        Some(&write),
        None,
    )
    .await;
    assert_eq!(newer.body["pushed"]["last_updated"], "2026-06-01T00:00:00Z");

    // The sender list: the stored tokens, then the new ones in the order of their first line,
    // each once, at dense positions (offset N starts right after the Nth).
    let list = app
        .call(
            Method::GET,
            "/ocpi/2.3.0/sender/tokens?offset=0&limit=10",
            &app.cpo,
            None,
        )
        .await;
    assert_eq!((list.status, list.ocpi_status()), (200, 1000));
    let uids: Vec<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, ["OLDER", "NEWER", "REP1", "TWICE", "REP2"]);
    assert_eq!(list.header("x-total-count").as_deref(), Some("5"));
    for (offset, uid) in uids.iter().enumerate() {
        let one = app
            .call(
                Method::GET,
                &format!("/ocpi/2.3.0/sender/tokens?offset={offset}&limit=1"),
                &app.cpo,
                None,
            )
            .await;
        assert_eq!(one.body["data"][0]["uid"], *uid, "offset {offset}");
    }
}

async fn export_then_import_changes_nothing(app: TestApp) {
    app.seed_tokens("NL", "ABC", "R", 1200).await;
    let mut odd = token_json("ODD1");
    odd["group_id"] = json!("G1");
    odd["x_extension"] = json!({"kept": [1, 2]});
    assert_eq!(app.put_token(&odd).await.status, 201);
    let token = bearer(&app, "tokens:read tokens:write audit:read").await;
    let response = app
        .client
        .get(app.url("/admin/v1/tokens/export"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1201, "over two export pages");
    assert_eq!(lines[1200]["x_extension"], json!({"kept": [1, 2]}));
    let before = call(
        &app,
        Method::GET,
        "/admin/v1/audit/changes",
        Some(&token),
        None,
    )
    .await;

    let again = post_ndjson(&app, &token, "", text).await;
    assert_eq!(
        again.body["counts"],
        json!({"created": 0, "replaced": 0, "unchanged": 1201, "stale": 0, "invalid": 0})
    );
    let one = call(
        &app,
        Method::GET,
        "/admin/v1/tokens/NL/ABC/ODD1",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(one.body["pushed"], odd);

    // Filtered export.
    let response = app
        .client
        .get(app.url("/admin/v1/tokens/export?group_id=G1"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap().lines().count(), 1);
    // Only the import's own entry was added to the change log.
    let after = call(
        &app,
        Method::GET,
        "/admin/v1/audit/changes",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        after.body["entries"].as_array().unwrap().len(),
        before.body["entries"].as_array().unwrap().len() + 1
    );
}
