//! The admin console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver. The test starts chromedriver itself on a free port
//! (and stops it by its PID), and the hub on port 0 against a fresh SQLite database; the same
//! pages are covered on both backends by tests/api/console.rs.
//!
//! Where chromium or chromedriver is missing the test says loudly that it was skipped; with
//! `CI=true` it fails instead. `UPDATE_SCREENSHOTS=1` also writes a screenshot of each page to
//! docs/screenshots/ (the README shows them).

#[path = "api/helpers.rs"]
mod helpers;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hmac::{Hmac, Mac};
use serde_json::json;

use helpers::{spawn_app, token_json, Backend, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "correct horse battery staple";
const ALL_SCOPES: &str =
    "tokens:read tokens:write parties:read parties:write sessions:read audit:read clients:write";

fn shout(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "\n*** {message} ***");
}

/// chromedriver, stopped (by its PID) when dropped, also when the test panics.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free port of 127.0.0.1, ready; `None` (skipped) where it is not installed.
fn start_driver() -> Option<Driver> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} not installed (apt-get install -y chromium chromium-driver)",
            missing.join(" and ")
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but the browser tests cannot run: {why}");
        }
        shout(&format!("SKIPPED: the console's browser tests, {why}"));
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(driver)
}

async fn browser(driver: &Driver) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1360,1000", "--hide-scrollbars"],
        }),
    );
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

/// RFC 6238 from the otpauth:// URI: base32 secret, HMAC-SHA1, 6 digits.
fn totp_now(uri: &str) -> String {
    let secret_b32 = url::Url::parse(uri)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .into_owned();
    let (mut bits, mut count, mut secret) = (0u64, 0, Vec::new());
    for c in secret_b32.chars() {
        bits = (bits << 5) | "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).unwrap() as u64;
        count += 5;
        if count >= 8 {
            secret.push((bits >> (count - 8)) as u8);
            count -= 8;
        }
    }
    let step = chrono::Utc::now().timestamp() / 30;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&secret).unwrap();
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let n = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", n % 1_000_000)
}

/// Writes a screenshot of the current page to docs/screenshots/NAME.png with UPDATE_SCREENSHOTS=1.
async fn screenshot(client: &Client, name: &str) {
    if std::env::var("UPDATE_SCREENSHOTS").is_err() {
        return;
    }
    let png = client.screenshot().await.unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let field = client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Waits until the page's path is `path` (a form post answered with a redirect has landed).
async fn wait_for_path(client: &Client, path: &str) {
    wait_for_url(client, |url| url.path() == path, path).await;
}

/// Waits until the page's URL satisfies `done`: elements found before are of the old page.
async fn wait_for_url(client: &Client, done: impl Fn(&url::Url) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = client.current_url().await.unwrap();
        if done(&url) {
            return;
        }
        assert!(Instant::now() < deadline, "still at {url}, not {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn allowed(app: &TestApp, uid: &str) -> String {
    let answer = app.authorize(uid, None).await;
    answer.body["data"]["allowed"]
        .as_str()
        .unwrap_or_else(|| panic!("{:?}", answer.body))
        .to_owned()
}

/// Demo traffic for the screenshots only: the rollup of the last day as a quiet hub would have
/// it (the test's own decisions all fall in one minute).
async fn seed_screenshot_history(app: &TestApp) {
    if std::env::var("UPDATE_SCREENSHOTS").is_err() {
        return;
    }
    let now = chrono::Utc::now().timestamp() / 60 * 60;
    let rows: Vec<tokenhub::store::console::RollupRow> = (1..24 * 60)
        .flat_map(|m| {
            let minute = now - m * 60;
            let wave = ((m as f64 / 90.0).sin() + 1.3) * 20.0;
            let row =
                |result: &str, reason: &str, count: i64| tokenhub::store::console::RollupRow {
                    minute,
                    result: result.into(),
                    reason: reason.into(),
                    count,
                };
            let mut cells = vec![row("ALLOWED", "allowed", wave as i64 + m % 7)];
            if m % 3 == 0 {
                cells.push(row("BLOCKED", "admin_block", 1 + m % 2));
            }
            if m % 4 == 0 {
                cells.push(row("UNKNOWN", "unknown_token", 2));
            }
            if m % 11 == 0 {
                cells.push(row("NOT_ALLOWED", "concurrent_use", 1));
            }
            if m % 17 == 0 {
                cells.push(row("EXPIRED", "expired", 1));
            }
            cells
        })
        .collect();
    app.store
        .write(move |conn| tokenhub::store::console::add_to_rollup(conn, &rows))
        .await
        .unwrap();
}

/// Log in (password and TOTP), search a token, block it, see `/authorize` answer BLOCKED,
/// unblock it, see ALLOWED, read the audit line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_blocks_and_unblocks_a_token_in_the_browser() {
    let Some(driver) = start_driver() else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await.expect("a SQLite hub");
    for uid in ["BROWSER0001", "BROWSER0002", "BROWSER0003"] {
        let mut token = token_json(uid);
        token["contract_id"] = json!(format!("NL-ABC-C{}", &uid[7..]));
        assert_eq!(app.put_token(&token).await.ocpi_status(), 1000);
    }
    // Some traffic for the dashboard: one allowed, one unknown token.
    for uid in ["BROWSER0002", "NOSUCHTOKEN"] {
        app.authorize(uid, None).await;
    }
    seed_screenshot_history(&app).await;
    app.flush_decision_rollup().await;
    let uri = app
        .add_login_user("alice", PASSWORD, ALL_SCOPES, true)
        .await
        .expect("a TOTP URI");
    let client = browser(&driver).await;

    // Log in through the hub's pages: password, TOTP code (no consent page for the console).
    client.goto(&app.url("/console")).await.unwrap();
    type_into(&client, "input[name=username]", "alice").await;
    type_into(&client, "input[name=password]", PASSWORD).await;
    click(&client, "button[type=submit]").await;
    type_into(&client, "input[name=code]", &totp_now(&uri)).await;
    click(&client, "button[type=submit]").await;
    wait_for_path(&client, "/console").await;
    assert!(text_of(&client, "header .who").await.contains("alice"));
    screenshot(&client, "dashboard").await;

    // Search the token.
    click(&client, "nav a[href='/console/tokens']").await;
    wait_for_path(&client, "/console/tokens").await;
    screenshot(&client, "tokens").await;
    type_into(&client, "input[name=uid]", "browser0001").await;
    click(&client, "form.filters button[type=submit]").await;
    wait_for_url(
        &client,
        |url| url.query().is_some_and(|q| q.contains("uid=browser0001")),
        "the search's results",
    )
    .await;
    let link = client
        .wait()
        .for_element(Locator::LinkText("BROWSER0001"))
        .await
        .expect("the token in the results");
    link.click().await.unwrap();
    wait_for_path(&client, "/console/tokens/NL/ABC/BROWSER0001").await;

    // Block it: /authorize answers BLOCKED.
    type_into(&client, "input[name=reason]", "card reported stolen").await;
    click(&client, "button[name=block]").await;
    client
        .wait()
        .for_element(Locator::Css("button[name=unblock]"))
        .await
        .expect("the unblock button after blocking");
    assert!(text_of(&client, "main")
        .await
        .contains("card reported stolen"));
    assert_eq!(allowed(&app, "BROWSER0001").await, "BLOCKED");
    screenshot(&client, "token").await;

    // Unblock it: ALLOWED again.
    click(&client, "button[name=unblock]").await;
    client
        .wait()
        .for_element(Locator::Css("button[name=block]"))
        .await
        .expect("the block button after unblocking");
    assert_eq!(allowed(&app, "BROWSER0001").await, "ALLOWED");

    // The audit: the BLOCKED decision, and the changes under the person's name.
    click(&client, "nav a[href='/console/audit']").await;
    wait_for_path(&client, "/console/audit").await;
    let newest = text_of(&client, "tr.decision").await;
    assert!(
        newest.contains("BROWSER0001") && newest.contains("ALLOWED"),
        "{newest}"
    );
    let decisions = text_of(&client, "main table").await;
    assert!(
        decisions.contains("BLOCKED") && decisions.contains("admin_block"),
        "{decisions}"
    );
    screenshot(&client, "audit").await;
    client
        .goto(&app.url("/console/audit?view=changes"))
        .await
        .unwrap();
    let change = text_of(&client, "tr.change").await;
    assert!(
        change.contains("user:alice via client:tokenhub-console")
            && change.contains("token.policy"),
        "{change}"
    );

    for (path, name) in [
        ("/console/parties", "parties"),
        ("/console/import", "import"),
    ] {
        client.goto(&app.url(path)).await.unwrap();
        wait_for_path(&client, path).await;
        screenshot(&client, name).await;
    }
    client.goto(&app.url("/console")).await.unwrap();
    screenshot(&client, "dashboard").await;

    // Sign out: back to a signed-out page; the console asks for a login again.
    click(&client, "header .who button").await;
    wait_for_path(&client, "/console/signed-out").await;
    client.close().await.unwrap();
    drop(driver);
}
