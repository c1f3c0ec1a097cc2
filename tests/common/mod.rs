//! Test harness: the real server on a random port against a fresh database, on either backend.
//!
//! PostgreSQL tests use `TOKENHUB_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) to create a fresh database per test. Where no
//! PostgreSQL answers they are skipped, loudly; with `CI=true` they fail instead.
#![allow(dead_code)]

use std::io::Write;
use std::sync::OnceLock;

use base64::Engine;
use chrono::Utc;
use diesel::{Connection, RunQueryDsl};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use tokenhub::config::Config;
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;
use tokenhub::domain::token::validate_token;
use tokenhub::service::parties::register_party;
use tokenhub::startup::Application;
use tokenhub::store::{Store, StoreSettings};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub backend: Backend,
    /// Credentials token of the eMSP NL*ABC.
    pub emsp: String,
    /// Credentials token of the CPO DE*CPO.
    pub cpo: String,
    _dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

/// A fresh PostgreSQL database, dropped when this goes out of scope (also when a test panics).
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::pg::PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

fn pg_admin_url() -> String {
    std::env::var("TOKENHUB_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Says so on the terminal even though the test harness captures test output.
fn shout(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "\n*** {message} ***");
}

/// A fresh PostgreSQL database, or `None` (skipped) where PostgreSQL is not reachable outside CI.
pub fn fresh_pg_database() -> Option<PgDatabase> {
    static WARNED: OnceLock<()> = OnceLock::new();
    let admin_url = pg_admin_url();
    tokenhub::store::pg_pool::init_tls();
    let mut conn = match diesel::pg::PgConnection::establish(&admin_url) {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but PostgreSQL is not reachable at {admin_url}: {e}");
            }
            WARNED.get_or_init(|| {
                shout(&format!(
                    "SKIPPED: PostgreSQL tests, no PostgreSQL at {admin_url} ({e}). Set TOKENHUB_TEST_POSTGRES_URL or start PostgreSQL"
                ))
            });
            shout("SKIPPED: a PostgreSQL test (see above)");
            return None;
        }
    };
    let name = format!("tokenhub_test_{}", uuid::Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .expect("create a test database");
    Some(PgDatabase { admin_url, name })
}

impl PgDatabase {
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&self.admin_url).expect("valid PostgreSQL URL");
        url.set_path(&self.name);
        url.to_string()
    }
}

pub fn test_config(database_url: String) -> Config {
    let mut config = Config::default();
    config.http.bind = "127.0.0.1:0".into();
    config.http.workers = Some(2);
    config.http.shutdown_timeout_secs = 1;
    config.database.url = database_url;
    config.database.pool_size = 4;
    config.database.connect_timeout_secs = 1;
    config
}

/// Starts the hub on a random port against a fresh database, with an eMSP NL*ABC and a CPO
/// DE*CPO registered. `None` when the backend is not available here (PostgreSQL outside CI).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(
            tokio::task::spawn_blocking(fresh_pg_database)
                .await
                .unwrap()?,
        ),
    };
    let url = match &pg {
        None => format!("sqlite://{}", dir.path().join("test.db").display()),
        Some(db) => db.url(),
    };
    let mut config = test_config(url);
    tweak(&mut config);
    let store = Store::open(&StoreSettings {
        url: config.database.url.clone(),
        pool_size: config.database.pool_size,
        connect_timeout: std::time::Duration::from_secs(2),
    })
    .await
    .expect("open the test database");
    let app = Application::build_with_store(config, store.clone()).expect("build the app");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let test = TestApp {
        base,
        client: reqwest::Client::new(),
        emsp: add_test_party(&store, "NL", "ABC", Role::Emsp).await,
        cpo: add_test_party(&store, "DE", "CPO", Role::Cpo).await,
        store,
        backend,
        _dir: dir,
        pg,
    };
    Some(test)
}

pub async fn add_test_party(store: &Store, cc: &str, pid: &str, role: Role) -> String {
    let key = PartyKey::parse(cc, pid).unwrap();
    let (_, token) = register_party(store, &key, role, "test party", false)
        .await
        .expect("add a party");
    token
}

pub fn b64(token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(token)
}

/// An OCPI response, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn ocpi_status(&self) -> i64 {
        self.body["status_code"].as_i64().unwrap_or(-1)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn message(&self) -> String {
        self.body["status_message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

pub async fn read(response: Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    Answer {
        status,
        headers,
        body,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("Authorization", format!("Token {}", b64(token)))
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.request(method, path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn put_token(&self, token: &Value) -> Answer {
        let path = format!(
            "/ocpi/2.3.0/receiver/tokens/{}/{}/{}?type={}",
            token["country_code"].as_str().unwrap(),
            token["party_id"].as_str().unwrap(),
            token["uid"].as_str().unwrap(),
            token["type"].as_str().unwrap()
        );
        self.call(Method::PUT, &path, &self.emsp, Some(token.clone()))
            .await
    }

    pub async fn authorize(&self, uid: &str, body: Option<Value>) -> Answer {
        self.call(
            Method::POST,
            &format!("/ocpi/2.3.0/sender/tokens/{uid}/authorize"),
            &self.cpo,
            body,
        )
        .await
    }

    /// Seeds tokens straight into the store (fast), `count` of them for `cc`*`pid`.
    pub async fn seed_tokens(&self, cc: &str, pid: &str, prefix: &str, count: usize) {
        let writes: Vec<_> = (0..count)
            .map(|i| {
                let mut t = token_json(&format!("{prefix}{i:05}"));
                t["country_code"] = json!(cc);
                t["party_id"] = json!(pid);
                validate_token(t.as_object().unwrap().clone()).unwrap()
            })
            .collect();
        self.store
            .write(move |conn| tokenhub::store::tokens::insert_many(conn, &writes, Utc::now()))
            .await
            .unwrap();
    }
}

pub fn token_json(uid: &str) -> Value {
    json!({
        "country_code": "NL",
        "party_id": "ABC",
        "uid": uid,
        "type": "RFID",
        "contract_id": format!("NL-ABC-{uid}"),
        "issuer": "ABC Mobility",
        "valid": true,
        "whitelist": "ALLOWED",
        "last_updated": "2026-01-01T10:00:00Z"
    })
}

pub fn session_json(id: &str, uid: &str, status: &str, reference: Option<&str>) -> Value {
    let mut s = json!({
        "country_code": "DE", "party_id": "CPO", "id": id,
        "start_date_time": "2026-01-01T10:00:00Z", "kwh": 0,
        "cdr_token": {"country_code": "NL", "party_id": "ABC", "uid": uid, "type": "RFID", "contract_id": format!("NL-ABC-{uid}")},
        "auth_method": "AUTH_REQUEST",
        "location_id": "LOC1", "evse_uid": "EVSE1", "connector_id": "1", "currency": "EUR",
        "status": status, "last_updated": Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    });
    if let Some(r) = reference {
        s["authorization_reference"] = json!(r);
    }
    s
}

/// Declares each listed `async fn NAME(app: TestApp)` as two tests, `NAME::sqlite` and
/// `NAME::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::common::spawn_app($crate::common::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::spawn_app($crate::common::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}
