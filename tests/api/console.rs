//! The admin console (issue 15) through HTTP, as a browser without JavaScript uses it: a cookie
//! jar, forms read from the HTML, redirects followed by hand. Login through the hub's own pages
//! with TOTP, the CSRF check, scopes deciding what is shown and what is allowed, logout revoking
//! the tokens, the refresh of an expired access token, the decision rollup, every page.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use serde_json::json;

use crate::helpers::{token_json, TestApp};
use crate::login::totp_now;
use crate::on_both_backends;

const PASSWORD: &str = "correct horse battery staple";
const ALL_SCOPES: &str =
    "tokens:read tokens:write parties:read parties:write sessions:read audit:read clients:write";

/// A browser: cookies by name, no redirect followed on its own.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
    /// Every `Set-Cookie` seen, whole, to check the attributes.
    set_cookies: Vec<String>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.body))
    }

    /// The `value` of the first `<input name="NAME" ...>` of the page.
    fn input(&self, name: &str) -> Option<String> {
        self.inputs()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn inputs(&self) -> Vec<(String, String)> {
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
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
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
            set_cookies: Vec::new(),
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
            let set = set.to_str().unwrap().to_owned();
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
            self.set_cookies.push(set);
        }
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, app: &TestApp, path_or_url: &str) -> Page {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            app.url(path_or_url)
        };
        let request = self.http.get(url);
        self.send(request).await
    }

    async fn post(&mut self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .http
            .post(app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Posts the hub's login form of `page` (its hidden fields) with `extra`.
    async fn submit(
        &mut self,
        app: &TestApp,
        page: &Page,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut fields: Vec<(String, String)> = page
            .inputs()
            .into_iter()
            .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name))
            .collect();
        fields.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        self.post(app, path, &pairs).await
    }
}

/// Adds `username` with `scopes` and TOTP on, and logs them in to the console from `/console`
/// through the hub's login and TOTP pages (no consent page: the console is first-party);
/// returns the browser with its session.
async fn console_login(app: &TestApp, username: &str, scopes: &str) -> Browser {
    console_login_for(app, username, scopes, &[]).await
}

/// [`console_login`] for a user restricted to `parties` (none: every party).
async fn console_login_for(
    app: &TestApp,
    username: &str,
    scopes: &str,
    parties: &[&str],
) -> Browser {
    let uri = app
        .add_login_user_for(username, PASSWORD, scopes, true, parties)
        .await
        .expect("a TOTP URI");
    let mut browser = Browser::new();
    let start = browser.get(app, "/console").await;
    assert_eq!((start.status, start.location()), (303, "/console/login"));
    let to_hub = browser.get(app, "/console/login").await;
    assert_eq!(to_hub.status, 303, "{}", to_hub.body);
    let authorize = to_hub.location().to_owned();
    assert!(
        authorize.starts_with(&app.url("/oauth/authorize?")),
        "{authorize}"
    );
    assert!(
        authorize.contains("client_id=tokenhub-console")
            && authorize.contains("code_challenge_method=S256")
    );
    let login = browser.get(app, &authorize).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let totp = browser
        .submit(
            app,
            &login,
            "/oauth/authorize/login",
            &[("username", username), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(totp.status, 200, "{}", totp.body);
    // No consent page: the console is the hub's own, first-party client.
    let back = browser
        .submit(
            app,
            &totp,
            "/oauth/authorize/totp",
            &[("code", &totp_now(&uri))],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let callback = back.location().to_owned();
    assert!(
        callback.starts_with(&app.url("/console/callback?")),
        "{callback}"
    );
    let home = browser.get(app, &callback).await;
    assert_eq!(
        (home.status, home.location()),
        (303, "/console"),
        "{}",
        home.body
    );
    let session = browser
        .set_cookies
        .iter()
        .rev()
        .find(|c| c.starts_with("th_console="))
        .expect("a session cookie")
        .clone();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");
    browser
}

async fn seed_token(app: &TestApp, uid: &str) {
    let answer = app.put_token(&token_json(uid)).await;
    assert_eq!(answer.ocpi_status(), 1000, "{:?}", answer.body);
}

const TOKEN_PAGE: &str = "/console/tokens/NL/ABC/CONSOLE0001?type=RFID";

async fn csrf_of(app: &TestApp, browser: &mut Browser) -> String {
    let page = browser.get(app, "/console").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.input("csrf").expect("the sign-out form's CSRF token")
}

/// A person with every scope logs in (password and TOTP) and every page renders.
async fn every_page_renders_for_a_full_scope_user(app: TestApp) {
    seed_token(&app, "CONSOLE0001").await;
    let mut browser = console_login(&app, "alice", ALL_SCOPES).await;
    for path in [
        "/console",
        "/console/tokens",
        "/console/tokens?uid=CONSOLE0001&party=NL*ABC&blocked=false",
        TOKEN_PAGE,
        "/console/parties",
        "/console/audit",
        "/console/audit?view=changes",
        "/console/audit?party=NL*ABC&result=ALLOWED",
        "/console/import",
    ] {
        let page = browser.get(&app, path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(
            page.body.contains("alice") && page.body.contains("Sign out"),
            "{path}"
        );
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
    }
    let list = browser.get(&app, "/console/tokens").await;
    assert!(list.body.contains("CONSOLE0001"), "{}", list.body);
    let one = browser.get(&app, TOKEN_PAGE).await;
    assert!(one.body.contains("/block?type=RFID") && one.body.contains("Save policy"));
    let parties = browser.get(&app, "/console/parties").await;
    assert!(parties.body.contains("NL*ABC") && parties.body.contains("Invite"));
    // A bad filter names its field and changes nothing.
    let bad = browser.get(&app, "/console/tokens?party=NLABC").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("party"), "{}", bad.body);
    let style = browser.get(&app, "/console/assets/console.css").await;
    assert_eq!(style.status, 200);
    assert!(style.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

/// Blocking and unblocking in the console change `/authorize`'s answer, and the change log names
/// the person.
async fn block_and_unblock_change_the_decision_and_name_the_user(app: TestApp) {
    seed_token(&app, "CONSOLE0001").await;
    let mut browser = console_login(&app, "alice", ALL_SCOPES).await;
    let csrf = csrf_of(&app, &mut browser).await;
    let blocked = browser
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0001/block?type=RFID",
            &[("csrf", &csrf), ("reason", "card reported stolen")],
        )
        .await;
    assert_eq!((blocked.status, blocked.location()), (303, TOKEN_PAGE));
    let answer = app.authorize("CONSOLE0001", None).await;
    assert_eq!(
        answer.body["data"]["allowed"], "BLOCKED",
        "{:?}",
        answer.body
    );
    let page = browser.get(&app, TOKEN_PAGE).await;
    assert!(page.body.contains("card reported stolen") && page.body.contains("/unblock?type=RFID"));
    let change = app
        .changes()
        .await
        .into_iter()
        .find(|c| c.action == "token.policy")
        .expect("a change-log entry");
    assert_eq!(change.actor, "user:alice via client:tokenhub-console");
    assert!(change.after.unwrap().contains("card reported stolen"));
    // An empty reason is refused, naming the field, and the block stays.
    let unblocked = browser
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0001/unblock?type=RFID",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(unblocked.status, 303);
    let no_reason = browser
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0001/block?type=RFID",
            &[("csrf", &csrf), ("reason", " ")],
        )
        .await;
    assert_eq!(no_reason.status, 400);
    assert!(
        no_reason.body.contains("block_reason"),
        "{}",
        no_reason.body
    );
    let answer = app.authorize("CONSOLE0001", None).await;
    assert_eq!(
        answer.body["data"]["allowed"], "ALLOWED",
        "{:?}",
        answer.body
    );
    // The validity window and the other settings through their form.
    let saved = browser
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0001/policy?type=RFID",
            &[
                ("csrf", &csrf),
                ("valid_from", "2020-01-01T00:00"),
                ("valid_until", "2021-01-01T00:00"),
                ("max_concurrent", "2"),
                ("whitelist_override", "ALLOWED"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let answer = app.authorize("CONSOLE0001", None).await;
    assert_eq!(
        answer.body["data"]["allowed"], "EXPIRED",
        "{:?}",
        answer.body
    );
    let bad = browser
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0001/policy?type=RFID",
            &[("csrf", &csrf), ("valid_from", "yesterday")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("valid_from"), "{}", bad.body);
    // The audit page shows the change with the person's name.
    let audit = browser.get(&app, "/console/audit?view=changes").await;
    assert!(audit
        .body
        .contains("user:alice via client:tokenhub-console"));
}

/// A form without the session's CSRF token (or with another session's) is refused with 403 and
/// changes nothing.
async fn a_form_without_the_csrf_token_is_refused(app: TestApp) {
    seed_token(&app, "CONSOLE0001").await;
    let mut browser = console_login(&app, "alice", ALL_SCOPES).await;
    for csrf in ["", "0000", "not-the-token"] {
        let page = browser
            .post(
                &app,
                "/console/tokens/NL/ABC/CONSOLE0001/block?type=RFID",
                &[("csrf", csrf), ("reason", "forged")],
            )
            .await;
        assert_eq!(page.status, 403, "{csrf:?}");
        assert!(page.body.contains("Form expired"), "{}", page.body);
    }
    let answer = app.authorize("CONSOLE0001", None).await;
    assert_eq!(answer.body["data"]["allowed"], "ALLOWED");
    assert!(app
        .changes()
        .await
        .iter()
        .all(|c| c.action != "token.policy"));
    // Without a session, a post goes to the login, not to the action.
    let mut stranger = Browser::new();
    let page = stranger
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0001/block?type=RFID",
            &[("csrf", "x"), ("reason", "x")],
        )
        .await;
    assert_eq!((page.status, page.location()), (303, "/console/login"));
}

/// A person with `tokens:read` only sees no policy forms and no sections beyond their scopes, and
/// is refused (403) when posting a block anyway.
async fn a_read_only_user_sees_no_block_button_and_cannot_block(app: TestApp) {
    seed_token(&app, "CONSOLE0001").await;
    let mut browser = console_login(&app, "bob", "tokens:read").await;
    let page = browser.get(&app, TOKEN_PAGE).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/block?"), "{}", page.body);
    assert!(!page.body.contains("Save policy"));
    let home = browser.get(&app, "/console").await;
    assert!(home.body.contains("/console/tokens"));
    for hidden in ["/console/parties", "/console/audit", "/console/import"] {
        assert!(
            !home.body.contains(&format!("href=\"{hidden}\"")),
            "{hidden}"
        );
        let page = browser.get(&app, hidden).await;
        assert_eq!(page.status, 403, "{hidden}");
    }
    let csrf = home.input("csrf").unwrap();
    let refused = browser
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0001/block?type=RFID",
            &[("csrf", &csrf), ("reason", "not allowed")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("tokens:write"), "{}", refused.body);
    let answer = app.authorize("CONSOLE0001", None).await;
    assert_eq!(answer.body["data"]["allowed"], "ALLOWED");
}

async fn refresh_at_token_endpoint(app: &TestApp, refresh: &str) -> u16 {
    app.client
        .post(app.url("/oauth/token"))
        .basic_auth("tokenhub-console", Some(app.console_client_secret()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Logout revokes the session's refresh token (and its access token) and ends the session; an
/// expired access token is refreshed with the refresh token on the next page.
async fn logout_revokes_and_expired_access_tokens_are_refreshed(app: TestApp) {
    let mut browser = console_login(&app, "alice", ALL_SCOPES).await;
    let before = app.console_session_tokens("alice").await;
    assert_eq!(before.len(), 1);
    app.expire_console_access_tokens("alice").await;
    let page = browser.get(&app, "/console").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let after = app.console_session_tokens("alice").await;
    assert_ne!(before[0].0, after[0].0, "a new access token");
    assert_ne!(before[0].1, after[0].1, "the refresh token rotated");
    let (access, refresh) = after[0].clone();
    // The tokens are a confidential client's: its secret, derived from the master key, works.
    let whoami = app
        .client
        .get(app.url("/admin/v1/whoami"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    let csrf = page.input("csrf").unwrap();
    let out = browser
        .post(&app, "/console/logout", &[("csrf", &csrf)])
        .await;
    assert_eq!((out.status, out.location()), (303, "/console/signed-out"));
    assert!(app.console_session_tokens("alice").await.is_empty());
    assert_eq!(
        refresh_at_token_endpoint(&app, &refresh).await,
        400,
        "refresh token revoked"
    );
    let whoami = app
        .client
        .get(app.url("/admin/v1/whoami"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 401, "access token revoked");
    let page = browser.get(&app, "/console").await;
    assert_eq!((page.status, page.location()), (303, "/console/login"));
}

/// Decisions are counted in the rollup by result and reason as they are made; the dashboard
/// shows them (after the flush the background task does every few seconds).
async fn the_dashboard_counts_decisions_from_the_rollup(app: TestApp) {
    seed_token(&app, "CONSOLE0001").await;
    seed_token(&app, "CONSOLE0002").await;
    for uid in ["CONSOLE0001", "CONSOLE0002", "NOSUCHTOKEN"] {
        app.authorize(uid, None).await;
    }
    let mut browser = console_login(&app, "alice", ALL_SCOPES).await;
    let csrf = csrf_of(&app, &mut browser).await;
    browser
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0002/block?type=RFID",
            &[("csrf", &csrf), ("reason", "test")],
        )
        .await;
    app.authorize("CONSOLE0002", Some(json!({"location_id": "L1"})))
        .await;
    app.flush_decision_rollup().await;
    let cells = app.decision_rollup().await;
    let cell = |result: &str, reason: &str| cells.get(&(result.into(), reason.into())).copied();
    assert_eq!(cell("ALLOWED", "allowed"), Some(2), "{cells:?}");
    assert_eq!(cell("UNKNOWN", "unknown_token"), Some(1), "{cells:?}");
    assert_eq!(cell("BLOCKED", "admin_block"), Some(1), "{cells:?}");
    assert_eq!(cells.values().sum::<i64>(), 4);
    // A second flush adds nothing; new decisions add to the same minute's cells.
    app.flush_decision_rollup().await;
    app.authorize("CONSOLE0001", Some(json!({"location_id": "L2"})))
        .await;
    app.flush_decision_rollup().await;
    assert_eq!(app.decision_rollup().await.values().sum::<i64>(), 5);
    let page = browser.get(&app, "/console").await;
    assert!(page.body.contains("<svg class=\"chart\""), "{}", page.body);
    assert!(page.body.contains("admin_block") && page.body.contains("unknown_token"));
    assert!(
        page.body.contains(">5<"),
        "five decisions in the last hour: {}",
        page.body
    );
}

/// An NDJSON upload with good and bad lines: every good line stored, the bad one reported by line
/// and field; the import is in the change log under the person's name.
async fn an_import_reports_each_bad_line(app: TestApp) {
    let mut browser = console_login(&app, "alice", ALL_SCOPES).await;
    let csrf = csrf_of(&app, &mut browser).await;
    let mut bad = token_json("IMPORT0002");
    bad["whitelist"] = json!("SOMETIMES");
    let file = format!(
        "{}\n{}\n{}\n",
        token_json("IMPORT0001"),
        bad,
        token_json("IMPORT0003")
    );
    let boundary = "----consoletest";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\nfalse\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.ndjson\"\r\nContent-Type: application/x-ndjson\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let request = browser
        .http
        .post(app.url(&format!("/console/import?csrf={csrf}")))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body.clone());
    let page = browser.send(request).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("3 lines"), "{}", page.body);
    assert!(
        page.body
            .contains("<td class=\"num\">2</td><td><code>whitelist</code>"),
        "{}",
        page.body
    );
    let list = browser.get(&app, "/console/tokens?party=NL*ABC").await;
    assert!(list.body.contains("IMPORT0001") && list.body.contains("IMPORT0003"));
    assert!(!list.body.contains("IMPORT0002"));
    let change = app
        .changes()
        .await
        .into_iter()
        .find(|c| c.action == "token.import")
        .expect("the import in the change log");
    assert_eq!(change.actor, "user:alice via client:tokenhub-console");
    // CSV, the export's columns (any order, a subset).
    let csv = "country_code,party_id,uid,type,contract_id,issuer,valid,whitelist,last_updated\r\n\
               NL,ABC,IMPORTCSV1,RFID,NL-ABC-CSV1,ABC Mobility,true,ALLOWED,2026-01-01T10:00:00Z\r\n";
    let csv_body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\nfalse\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\ncsv\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    let request = browser
        .http
        .post(app.url(&format!("/console/import?csrf={csrf}")))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(csv_body);
    let page = browser.send(request).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let list = browser.get(&app, "/console/tokens?uid=IMPORTCSV1").await;
    assert!(list.body.contains("NL-ABC-CSV1"), "{}", list.body);
    // Without the CSRF token the upload is refused.
    let request = browser
        .http
        .post(app.url("/console/import?csrf=wrong"))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    assert_eq!(browser.send(request).await.status, 403);
}

/// Invite shows token A once; suspend and resume go through the parties service.
async fn parties_are_invited_suspended_and_resumed(app: TestApp) {
    let mut browser = console_login(&app, "alice", ALL_SCOPES).await;
    let csrf = csrf_of(&app, &mut browser).await;
    let invited = browser
        .post(
            &app,
            "/console/parties/invite",
            &[
                ("csrf", &csrf),
                ("country_code", "BE"),
                ("party_id", "NEW"),
                ("role", "EMSP"),
                ("name", "New eMSP"),
            ],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    assert!(invited.body.contains("shown only once") && invited.body.contains("id=\"token-a\""));
    let suspended = browser
        .post(
            &app,
            "/console/parties/NL/ABC/EMSP/suspend",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        (suspended.status, suspended.location()),
        (303, "/console/parties")
    );
    assert_eq!(
        app.client_status("NL", "ABC").await.as_deref(),
        Some("SUSPENDED")
    );
    let list = browser.get(&app, "/console/parties").await;
    assert!(list.body.contains("BE*NEW") && list.body.contains("Resume"));
    browser
        .post(
            &app,
            "/console/parties/NL/ABC/EMSP/resume",
            &[("csrf", &csrf)],
        )
        .await;
    assert_ne!(
        app.client_status("NL", "ABC").await.as_deref(),
        Some("SUSPENDED")
    );
    let actors: Vec<String> = app
        .changes()
        .await
        .into_iter()
        .filter(|c| c.action.starts_with("party."))
        .map(|c| c.actor)
        .collect();
    assert_eq!(actors.len(), 3, "{actors:?}");
    assert!(actors
        .iter()
        .all(|a| a == "user:alice via client:tokenhub-console"));
}

/// A person limited to NL*ABC sees and changes only NL*ABC's tokens, decisions and party; another
/// party's token is unknown to them, and inviting (a hub-wide act) is refused.
async fn a_restricted_user_sees_and_changes_only_their_parties(app: TestApp) {
    seed_token(&app, "CONSOLE0001").await;
    app.add_emsp("BE", "XYZ").await;
    app.seed_tokens("BE", "XYZ", "OTHER", 1).await;
    for uid in ["CONSOLE0001", "OTHER00000"] {
        app.authorize(uid, None).await;
    }
    let mut browser = console_login_for(&app, "carol", ALL_SCOPES, &["NL*ABC"]).await;
    let list = browser.get(&app, "/console/tokens").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("CONSOLE0001") && !list.body.contains("OTHER00000"),
        "{}",
        list.body
    );
    let other = browser
        .get(&app, "/console/tokens/BE/XYZ/OTHER00000?type=RFID")
        .await;
    assert_eq!(other.status, 404);
    let csrf = csrf_of(&app, &mut browser).await;
    let refused = browser
        .post(
            &app,
            "/console/tokens/BE/XYZ/OTHER00000/block?type=RFID",
            &[("csrf", &csrf), ("reason", "not mine")],
        )
        .await;
    assert_eq!(refused.status, 404);
    let own = browser
        .post(
            &app,
            "/console/tokens/NL/ABC/CONSOLE0001/block?type=RFID",
            &[("csrf", &csrf), ("reason", "mine")],
        )
        .await;
    assert_eq!(own.status, 303);
    // The other party's token is not blocked (the first decision's hold still counts, hence not
    // ALLOWED), and its policy did not change.
    let answer = app.authorize("OTHER00000", None).await;
    assert_ne!(
        answer.body["data"]["allowed"], "BLOCKED",
        "{:?}",
        answer.body
    );
    let policy_changes: Vec<String> = app
        .changes()
        .await
        .into_iter()
        .filter(|c| c.action == "token.policy")
        .map(|c| c.subject)
        .collect();
    assert_eq!(policy_changes.len(), 1, "{policy_changes:?}");
    assert!(policy_changes[0].contains("NL*ABC"), "{policy_changes:?}");
    assert_eq!(
        app.authorize("CONSOLE0001", None).await.body["data"]["allowed"],
        "BLOCKED"
    );
    let audit = browser.get(&app, "/console/audit").await;
    assert!(
        audit.body.contains("CONSOLE0001") && !audit.body.contains("OTHER00000"),
        "{}",
        audit.body
    );
    let parties = browser.get(&app, "/console/parties").await;
    assert!(parties.body.contains("NL*ABC") && !parties.body.contains("BE*XYZ"));
    assert!(
        !parties.body.contains("/console/parties/invite"),
        "no invite form"
    );
    let invite = browser
        .post(
            &app,
            "/console/parties/invite",
            &[
                ("csrf", &csrf),
                ("country_code", "BE"),
                ("party_id", "NEW"),
                ("role", "EMSP"),
                ("name", "x"),
            ],
        )
        .await;
    assert_eq!(invite.status, 403);
    let suspend = browser
        .post(
            &app,
            "/console/parties/BE/XYZ/EMSP/suspend",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(suspend.status, 403);
    assert_ne!(
        app.client_status("BE", "XYZ").await.as_deref(),
        Some("SUSPENDED")
    );
    let home = browser.get(&app, "/console").await;
    assert!(
        home.body.contains("Your account acts for NL*ABC"),
        "{}",
        home.body
    );
    assert!(
        !home.body.contains("<svg class=\"chart\""),
        "no hub-wide charts"
    );
}

on_both_backends!(
    a_restricted_user_sees_and_changes_only_their_parties,
    every_page_renders_for_a_full_scope_user,
    block_and_unblock_change_the_decision_and_name_the_user,
    a_form_without_the_csrf_token_is_refused,
    a_read_only_user_sees_no_block_button_and_cannot_block,
    logout_revokes_and_expired_access_tokens_are_refreshed,
    the_dashboard_counts_decisions_from_the_rollup,
    an_import_reports_each_bad_line,
    parties_are_invited_suspended_and_resumed,
);

/// Sign-in through the external identity provider (`oauth.external.console`), against a mock
/// provider served by the test: `/authorize` sends the browser back with a code, `/token` checks
/// the client's secret, the code's redirect URI and the PKCE verifier and answers a JWT signed
/// with a key whose JWKS the hub reads from a file.
mod external_provider {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use base64::Engine;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    use super::{csrf_of, seed_token, Browser, TOKEN_PAGE};
    use crate::helpers::{Backend, TestApp};
    use crate::oauth::{Idp, IDP, IDP_AUDIENCE};

    const CLIENT_ID: &str = "hub-console";
    const CLIENT_SECRET: &str = "s3cret:with/odd&chars";

    struct Provider {
        idp: Idp,
        /// code → (PKCE challenge, redirect URI)
        codes: HashMap<String, (String, String)>,
        /// The scopes of the next tokens (the `scp` claim).
        scopes: Vec<&'static str>,
        /// Seconds the next access tokens live.
        lifetime: i64,
        /// Whether the token answers carry a refresh token.
        gives_refresh: bool,
        refreshes: usize,
    }

    type Shared = web::Data<Arc<Mutex<Provider>>>;

    async fn authorize(
        provider: Shared,
        query: web::Query<HashMap<String, String>>,
    ) -> HttpResponse {
        let q = |name: &str| query.get(name).cloned().unwrap_or_default();
        if q("client_id") != CLIENT_ID || q("code_challenge_method") != "S256" {
            return HttpResponse::BadRequest().body("bad authorization request");
        }
        let code = uuid::Uuid::new_v4().to_string();
        provider
            .lock()
            .unwrap()
            .codes
            .insert(code.clone(), (q("code_challenge"), q("redirect_uri")));
        let mut back = url::Url::parse(&q("redirect_uri")).unwrap();
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &q("state"));
        HttpResponse::Found()
            .append_header(("Location", back.to_string()))
            .finish()
    }

    fn refused(error: &str) -> HttpResponse {
        HttpResponse::BadRequest().json(json!({ "error": error }))
    }

    async fn token(
        provider: Shared,
        req: HttpRequest,
        form: web::Form<HashMap<String, String>>,
    ) -> HttpResponse {
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                CLIENT_ID,
                url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>()
            ))
        );
        if req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some(&basic)
        {
            return HttpResponse::Unauthorized().json(json!({ "error": "invalid_client" }));
        }
        let f = |name: &str| form.get(name).cloned().unwrap_or_default();
        let mut p = provider.lock().unwrap();
        match f("grant_type").as_str() {
            "authorization_code" => {
                let Some((challenge, redirect_uri)) = p.codes.remove(&f("code")) else {
                    return refused("invalid_grant");
                };
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(f("code_verifier").as_bytes()));
                if computed != challenge || redirect_uri != f("redirect_uri") {
                    return refused("invalid_grant");
                }
            }
            "refresh_token" if f("refresh_token") == "provider-refresh" => p.refreshes += 1,
            _ => return refused("invalid_grant"),
        }
        let (scopes, exp) = (
            p.scopes.clone(),
            chrono::Utc::now().timestamp() + p.lifetime,
        );
        let access = p.idp.token("idp-key-1", |c| {
            c["scp"] = json!(scopes);
            c["exp"] = json!(exp);
        });
        let mut answer =
            json!({ "access_token": access, "token_type": "Bearer", "expires_in": p.lifetime });
        if p.gives_refresh {
            answer["refresh_token"] = json!("provider-refresh");
        }
        HttpResponse::Ok().json(answer)
    }

    /// Starts the provider and the hub configured to sign the console in through it.
    async fn start(backend: Backend) -> Option<(TestApp, Arc<Mutex<Provider>>)> {
        let idp = Idp::new();
        let jwks = idp.jwks_path();
        let provider = Arc::new(Mutex::new(Provider {
            idp,
            codes: HashMap::new(),
            scopes: vec!["tokens:read", "tokens:write", "openid"],
            lifetime: 300,
            gives_refresh: true,
            refreshes: 0,
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let shared = web::Data::new(Arc::clone(&provider));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        let app = crate::helpers::spawn_app_with(backend, |c| {
            c.oauth.external = Some(tokenhub::config::ExternalIdpConfig {
                issuer: IDP.into(),
                jwks_url: None,
                jwks_file: Some(jwks),
                audience: IDP_AUDIENCE.into(),
                scope_claim: "scp".into(),
                parties_claim: Some("tenant_parties".into()),
                jwks_min_refresh_secs: 0,
                console: Some(tokenhub::config::ExternalConsoleConfig {
                    authorization_endpoint: format!("{base}/authorize"),
                    token_endpoint: format!("{base}/token"),
                    client_id: CLIENT_ID.into(),
                    client_secret: Some(tokenhub::secrets::SecretString::new(CLIENT_SECRET)),
                    client_secret_file: None,
                    scope: "openid tokens:read tokens:write".into(),
                }),
            });
        })
        .await?;
        Some((app, provider))
    }

    /// `/console/login` → the provider → the callback's URL (not yet followed).
    async fn to_callback(app: &TestApp, browser: &mut Browser) -> String {
        let start = browser.get(app, "/console/login").await;
        assert_eq!(start.status, 303, "{}", start.body);
        let authorize = start.location().to_owned();
        let redirect =
            url::form_urlencoded::byte_serialize(app.url("/console/callback/external").as_bytes())
                .collect::<String>();
        assert!(
            authorize.contains("/authorize?")
                && authorize.contains("code_challenge_method=S256")
                && authorize.contains(&format!("redirect_uri={redirect}"))
                && authorize.contains("scope=openid+tokens%3Aread+tokens%3Awrite"),
            "{authorize}"
        );
        let back = browser.get(app, &authorize).await;
        assert_eq!(back.status, 302, "{}", back.body);
        let callback = back.location().to_owned();
        assert!(
            callback.starts_with(&app.url("/console/callback/external?")),
            "{callback}"
        );
        callback
    }

    async fn sign_in(app: &TestApp) -> Browser {
        let mut browser = Browser::new();
        let callback = to_callback(app, &mut browser).await;
        let home = browser.get(app, &callback).await;
        assert_eq!(
            (home.status, home.location()),
            (303, "/console"),
            "{}",
            home.body
        );
        let session = browser
            .set_cookies
            .iter()
            .rev()
            .find(|c| c.starts_with("th_console="))
            .expect("a session cookie")
            .clone();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
            assert!(session.contains(attribute), "{session}");
        }
        browser
    }

    async fn signs_in_and_acts_as_the_providers_user(backend: Backend) {
        let Some((app, provider)) = start(backend).await else {
            return;
        };
        seed_token(&app, "CONSOLE0001").await;
        let mut browser = sign_in(&app).await;
        let list = browser.get(&app, "/console/tokens").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(list.body.contains("CONSOLE0001"), "{}", list.body);
        let csrf = csrf_of(&app, &mut browser).await;
        let blocked = browser
            .post(
                &app,
                "/console/tokens/NL/ABC/CONSOLE0001/block?type=RFID",
                &[("csrf", &csrf), ("reason", "lost")],
            )
            .await;
        assert_eq!((blocked.status, blocked.location()), (303, TOKEN_PAGE));
        let answer = app.authorize("CONSOLE0001", None).await;
        assert_eq!(
            answer.body["data"]["allowed"], "BLOCKED",
            "{:?}",
            answer.body
        );
        let change = app
            .changes()
            .await
            .into_iter()
            .find(|c| c.action == "token.policy")
            .expect("a change-log entry");
        assert_eq!(
            change.actor,
            "user:alice@example.com@idp.example.com via client:tokenhub-console"
        );

        // The hub's own sign-in stays reachable for local accounts.
        let local = Browser::new().get(&app, "/console/login?with=hub").await;
        assert!(
            local.location().starts_with(&app.url("/oauth/authorize?")),
            "{}",
            local.location()
        );

        // An access token about to expire is refreshed at the provider's token endpoint.
        provider.lock().unwrap().lifetime = 10;
        let mut short = sign_in(&app).await;
        assert_eq!(short.get(&app, "/console").await.status, 200);
        assert!(provider.lock().unwrap().refreshes >= 1);
        // Without a refresh token, the session ends with its access token.
        provider.lock().unwrap().gives_refresh = false;
        let mut once = sign_in(&app).await;
        let again = once.get(&app, "/console").await;
        assert_eq!((again.status, again.location()), (303, "/console/login"));
    }

    async fn a_wrong_state_is_refused(backend: Backend) {
        let Some((app, _provider)) = start(backend).await else {
            return;
        };
        let mut browser = Browser::new();
        let callback = to_callback(&app, &mut browser).await;
        let (code, _) = callback.split_once("&state=").unwrap();
        let forged = browser
            .get(&app, &format!("{code}&state=someone-elses"))
            .await;
        assert_eq!(forged.status, 400, "{}", forged.body);
        assert!(forged.body.contains("not started here"), "{}", forged.body);
        assert!(!browser.cookies.contains_key("th_console"));
        // A state of the hub's own sign-in does not finish an external one either.
        let mut browser = Browser::new();
        let hub = browser.get(&app, "/console/login?with=hub").await;
        let hub_state = url::Url::parse(hub.location())
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        let crossed = browser
            .get(
                &app,
                &format!("/console/callback/external?code=any&state={hub_state}"),
            )
            .await;
        assert_eq!(crossed.status, 400, "{}", crossed.body);
        assert!(
            crossed.body.contains("not started here"),
            "{}",
            crossed.body
        );
        // A code the provider refuses is a refused sign-in, not an error.
        let mut browser = Browser::new();
        let callback = to_callback(&app, &mut browser).await;
        let (_, state) = callback.split_once("&state=").unwrap();
        let bad = browser
            .get(
                &app,
                &format!("/console/callback/external?code=made-up&state={state}"),
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert!(bad.body.contains("invalid_grant"), "{}", bad.body);
    }

    async fn a_token_lacking_a_scope_is_refused_like_a_local_users(backend: Backend) {
        let Some((app, provider)) = start(backend).await else {
            return;
        };
        seed_token(&app, "CONSOLE0001").await;
        provider.lock().unwrap().scopes = vec!["tokens:read"];
        let mut browser = sign_in(&app).await;
        let page = browser.get(&app, TOKEN_PAGE).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(!page.body.contains("/block?"), "{}", page.body);
        assert_eq!(browser.get(&app, "/console/audit").await.status, 403);
        let csrf = csrf_of(&app, &mut browser).await;
        let refused = browser
            .post(
                &app,
                "/console/tokens/NL/ABC/CONSOLE0001/block?type=RFID",
                &[("csrf", &csrf), ("reason", "not allowed")],
            )
            .await;
        assert_eq!(refused.status, 403);
        assert!(refused.body.contains("tokens:write"), "{}", refused.body);
        let answer = app.authorize("CONSOLE0001", None).await;
        assert_eq!(answer.body["data"]["allowed"], "ALLOWED");
    }

    macro_rules! on_both_backends {
        ($($name:ident),+ $(,)?) => {
            $(
                mod $name {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn sqlite() {
                        super::$name(crate::helpers::Backend::Sqlite).await;
                    }

                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn postgres() {
                        super::$name(crate::helpers::Backend::Postgres).await;
                    }
                }
            )+
        };
    }

    on_both_backends!(
        signs_in_and_acts_as_the_providers_user,
        a_wrong_state_is_refused,
        a_token_lacking_a_scope_is_refused_like_a_local_users,
    );
}
