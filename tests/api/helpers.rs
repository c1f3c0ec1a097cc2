//! Test harness: the real server on a random port against a fresh database, on either backend.
//!
//! Every path into the `tokenhub` library that the tests need is here, so that moving a library
//! module changes this file only.
//!
//! PostgreSQL tests use `TOKENHUB_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) to create a fresh database per test. Where no
//! PostgreSQL answers they are skipped, loudly; with `CI=true` they fail instead.
#![expect(
    clippy::allow_attributes,
    reason = "this file is compiled into two test binaries (api, processes) and each uses a different part: what one leaves unused the other uses, so an expectation would fail in one of them"
)]
#![allow(dead_code, reason = "see above: shared by two test binaries")]

use std::io::Write;
use std::sync::OnceLock;

use base64::Engine;
use chrono::Utc;
use diesel::{Connection, RunQueryDsl};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use tokenhub::config::{Config, Settings};
use tokenhub::domain::ids::PartyKey;
use tokenhub::domain::party::Role;
use tokenhub::service::parties::register_party;
use tokenhub::startup::Application;
pub use tokenhub::store::StoreError;
use tokenhub::store::{Store, StoreSettings};

// `tests/processes.rs` includes this file too and uses few of these.
#[allow(unused_imports, reason = "see above: shared by two test binaries")]
pub use tokenhub::{
    domain::authorization::{ActiveUse, UseKind},
    domain::session::validate_session,
    domain::token::validate_token,
    store::audit::AuditEntry,
};

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
    /// How long the store waits for a database connection.
    connect_timeout: std::time::Duration,
    /// Credentials token of the eMSP NL*ABC.
    pub emsp: String,
    /// Credentials token of the CPO DE*CPO.
    pub cpo: String,
    /// The hub's master key (64 hexadecimal characters).
    pub master_key: String,
    state: actix_web::web::Data<tokenhub::service::AppState>,
    _dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

/// A fresh PostgreSQL database, dropped when this goes out of scope (also when a test panics).
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// Runs one statement as the administrator (outside the hub's pool).
    async fn admin_sql(&self, sql: String) {
        let admin = self.admin_url.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = diesel::pg::PgConnection::establish(&admin).unwrap();
            diesel::sql_query(sql).execute(&mut conn).unwrap();
        })
        .await
        .unwrap()
    }
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
    // Partner platforms in the tests listen on 127.0.0.1 over plain HTTP.
    config.peers.allow_insecure = true;
    // Through the configuration, as `TOKENHUB_SECRETS__KEY` would give it: no key file appears
    // beside the test database or in the working directory.
    config.secrets.key = Some(tokenhub::secrets::SecretString::new(random_master_key()));
    config
}

/// `config` validated, as the hub does at start.
pub fn settings(config: Config) -> Settings {
    Settings::from_config(config).expect("a valid test configuration")
}

/// A new master key in the documented format (64 hexadecimal characters).
pub fn random_master_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
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
    let config = settings(config);
    let store_settings = StoreSettings {
        connect_timeout: std::time::Duration::from_secs(2),
        ..config.store_settings()
    };
    let store = Store::open(&store_settings)
        .await
        .expect("open the test database");
    let keys = tokenhub::secrets::load_keys(&config).expect("the test master key");
    let master_key = config
        .secrets
        .key
        .as_ref()
        .map(|k| k.expose().to_owned())
        .unwrap_or_default();
    let app = Application::build_with_store(config, store.clone(), keys).expect("build the app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    let test = TestApp {
        base,
        client: reqwest::Client::new(),
        emsp: add_test_party(&store, "NL", "ABC", Role::Emsp).await,
        cpo: add_test_party(&store, "DE", "CPO", Role::Cpo).await,
        store,
        backend,
        master_key,
        connect_timeout: store_settings.connect_timeout,
        state,
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

/// Registers `cc`*`pid` with a credentials token of the test's choosing, straight in the store,
/// as another process (the CLI) would: this hub's caches learn of it only by looking it up.
pub async fn add_party_with_token(store: &Store, cc: &str, pid: &str, role: Role, token: &str) {
    let key = PartyKey::parse(cc, pid).unwrap();
    let hash = tokenhub::secrets::hash_token(token);
    store
        .write(move |conn| {
            tokenhub::store::parties::add_party(
                conn,
                tokenhub::store::parties::NewParty {
                    key: &key,
                    role,
                    name: "test party",
                },
                &hash,
                tokenhub::domain::party::CredentialsKind::Registered,
                false,
                Utc::now().naive_utc(),
            )
        })
        .await
        .expect("add a party");
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
    pub fn connect_timeout(&self) -> std::time::Duration {
        self.connect_timeout
    }

    /// Credentials tokens this hub has looked up in its database so far.
    pub fn database_lookups(&self) -> u64 {
        self.state.credentials.database_lookups()
    }

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
        let docs = (0..count).map(|i| {
            let mut t = token_json(&format!("{prefix}{i:05}"));
            t["country_code"] = json!(cc);
            t["party_id"] = json!(pid);
            t
        });
        self.seed_token_docs(docs).await;
    }

    /// Seeds tokens of NL*ABC straight into the store, in this order: (uid, type) each.
    pub async fn seed_typed_tokens(&self, tokens: &[(String, &str)]) {
        let docs = tokens.iter().map(|(uid, token_type)| {
            let mut t = token_json(uid);
            t["type"] = json!(token_type);
            t
        });
        self.seed_token_docs(docs).await;
    }

    async fn seed_token_docs(&self, docs: impl Iterator<Item = Value>) {
        let writes: Vec<_> = docs
            .map(|t| validate_token(t.as_object().unwrap().clone()).unwrap())
            .collect();
        self.store
            .write(move |conn| tokenhub::store::tokens::insert_many(conn, &writes, Utc::now()))
            .await
            .unwrap();
    }

    /// One page of the sender list over `version` as the store reads it: (uids, total, hidden).
    /// `date_from` takes the filtered path.
    pub async fn store_page(
        &self,
        version: &str,
        date_from: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> (Vec<String>, i64, i64) {
        use tokenhub::domain::version::OcpiVersion;
        let filter = tokenhub::store::tokens::ListFilter {
            owner: None,
            agreed_with_cpo: None,
            date_from: date_from
                .map(|d| tokenhub::domain::datetime::parse_ocpi_datetime("date_from", d).unwrap()),
            date_to: None,
            version: match version {
                "2.2.1" => OcpiVersion::V2_2_1,
                _ => OcpiVersion::V2_3_0,
            },
        };
        let page = self
            .store
            .read(move |conn| tokenhub::store::tokens::list_page(conn, &filter, offset, limit))
            .await
            .unwrap();
        let uids = page.rows.iter().map(|r| r.uid_key.clone()).collect();
        (uids, page.total, page.hidden)
    }

    pub async fn add_emsp(&self, cc: &str, pid: &str) -> String {
        add_test_party(&self.store, cc, pid, Role::Emsp).await
    }

    /// Registers the eMSP BE*EMP and gives it and NL*ABC each an RFID token TWIN; returns BE*EMP's
    /// credentials token.
    pub async fn push_twin_tokens(&self) -> String {
        let other = self.add_emsp("BE", "EMP").await;
        assert_eq!(self.put_token(&token_json("TWIN")).await.status, 201);
        let mut twin = token_json("TWIN");
        twin["country_code"] = json!("BE");
        twin["party_id"] = json!("EMP");
        let put = self
            .call(
                Method::PUT,
                "/ocpi/2.3.0/receiver/tokens/BE/EMP/TWIN",
                &other,
                Some(twin),
            )
            .await;
        assert_eq!(put.status, 201);
        other
    }

    /// The latest authorization decisions, newest first.
    pub async fn audit_entries(&self) -> Vec<AuditEntry> {
        self.store
            .read(|conn| tokenhub::store::audit::recent(conn, 100))
            .await
            .unwrap()
    }

    /// The store id of the RFID token `uid` of NL*ABC.
    pub async fn token_id(&self, uid: &str) -> i64 {
        let uid = uid.to_owned();
        self.store
            .read(move |conn| {
                let key = tokenhub::domain::token::TokenKey {
                    owner: PartyKey::parse("NL", "ABC").unwrap(),
                    uid: tokenhub::domain::ids::TokenUid::parse("uid", &uid).unwrap(),
                    token_type: tokenhub::domain::token::TokenType::rfid(),
                };
                Ok(tokenhub::store::tokens::find_by_key(conn, &key, false)?
                    .unwrap()
                    .id)
            })
            .await
            .unwrap()
    }

    /// The uses (holds and sessions) of a token that count now.
    pub async fn active_uses(&self, token_id: i64) -> Vec<ActiveUse> {
        self.store
            .read(move |conn| tokenhub::store::usage::active_for_token(conn, token_id, Utc::now()))
            .await
            .unwrap()
    }

    /// Sets the hub's policy for the eMSP `cc`*`pid`; false if there is no such eMSP.
    pub async fn set_emsp_policy(
        &self,
        cc: &str,
        pid: &str,
        suspended: bool,
        max_concurrent: Option<i32>,
    ) -> bool {
        let key = PartyKey::parse(cc, pid).unwrap();
        self.store
            .write(move |conn| {
                tokenhub::store::parties::set_emsp_policy(conn, &key, suspended, max_concurrent)
            })
            .await
            .unwrap()
    }

    /// A write job with a bug: it suspends the eMSP `cc`*`pid`, then panics. Returns the error
    /// the store answers with.
    pub async fn write_that_panics_after_suspending(&self, cc: &str, pid: &str) -> StoreError {
        let key = PartyKey::parse(cc, pid).unwrap();
        self.store
            .write(move |conn| -> tokenhub::store::StoreResult<()> {
                tokenhub::store::parties::set_emsp_policy(conn, &key, true, None)?;
                panic!("a bug in a write job (panicking on purpose in a test)")
            })
            .await
            .expect_err("a panicking job fails")
    }

    /// Backdates 100 days: a hold of the token by DE*CPO that expired long ago, and a copy of the
    /// latest audit entry with the authorization reference "ANCIENT".
    pub async fn seed_expired_hold_and_ancient_audit(&self, token_id: i64) {
        use chrono::Duration;
        use tokenhub::store::{audit, usage};
        let cpo = PartyKey::parse("DE", "CPO").unwrap();
        self.store
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
    }

    /// One sweeper round: (expired holds purged, audit entries purged).
    pub async fn sweep_once(&self, audit_days: u32) -> (usize, usize) {
        let mut config = Config::default();
        config.retention.audit_days = audit_days;
        let retention = settings(config).retention;
        let swept = tokenhub::ops::sweeper::sweep_at(&self.store, &retention, Utc::now())
            .await
            .unwrap();
        (swept.usages, swept.audits)
    }

    /// One sweeper round with the default settings, as if it were `at`.
    pub async fn sweep_at(&self, at: chrono::DateTime<Utc>) -> tokenhub::ops::sweeper::Swept {
        let retention = settings(Config::default()).retention;
        tokenhub::ops::sweeper::sweep_at(&self.store, &retention, at)
            .await
            .unwrap()
    }

    /// The uses (holds and sessions) of a token that will still count at `at`.
    pub async fn active_uses_at(&self, token_id: i64, at: chrono::DateTime<Utc>) -> Vec<ActiveUse> {
        self.store
            .read(move |conn| tokenhub::store::usage::active_for_token(conn, token_id, at))
            .await
            .unwrap()
    }

    /// Stores the session `body` straight into the store as last received `days` days ago; with
    /// `use_token_id`, also a use of that token by the session that still counts an hour from now.
    pub async fn seed_session(&self, body: Value, days: i64, use_token_id: Option<i64>) {
        use tokenhub::store::{sessions, usage};
        let write = validate_session(body.as_object().unwrap().clone()).unwrap();
        self.store
            .write(move |conn| {
                let received = Utc::now() - chrono::Duration::days(days);
                let id = sessions::upsert(conn, None, &write, use_token_id, received)?;
                if use_token_id.is_some() {
                    let until = Utc::now() + chrono::Duration::hours(1);
                    usage::sync_session(
                        conn,
                        &usage::SessionUse {
                            session_id: id,
                            token_id: use_token_id,
                            cpo: &write.owner,
                            uses_token: true,
                            reference_key: None,
                            now: received,
                            matched_until: until,
                            unmatched_until: until,
                        },
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap()
    }

    /// Whether the hub stores the session `id` of DE*CPO.
    pub async fn has_session(&self, id: &str) -> bool {
        let id = tokenhub::domain::ids::CiString36::parse("id", id).unwrap();
        self.store
            .read(move |conn| {
                let owner = PartyKey::parse("DE", "CPO").unwrap();
                Ok(tokenhub::store::sessions::find(conn, &owner, &id, false)?.is_some())
            })
            .await
            .unwrap()
    }

    pub async fn add_cpo(&self, cc: &str, pid: &str) -> String {
        add_test_party(&self.store, cc, pid, Role::Cpo).await
    }

    /// The hub's state as a CLI command on this hub's database builds it (same master key): for
    /// calling units of work the CLI calls.
    pub fn app_state(&self) -> tokenhub::service::AppState {
        self.app_state_with(|_| {})
    }

    /// As [`TestApp::app_state`], with the configuration changed by `tweak` (as the hub's own
    /// configuration was, e.g. `hub.agreements`).
    pub fn app_state_with(&self, tweak: impl FnOnce(&mut Config)) -> tokenhub::service::AppState {
        // The store is given: the URL only has to be valid.
        let mut config = test_config("sqlite://unused.db".into());
        tweak(&mut config);
        config.secrets.key = Some(tokenhub::secrets::SecretString::new(
            self.master_key.clone(),
        ));
        let config = settings(config);
        let keys = tokenhub::secrets::load_keys(&config).expect("the test master key");
        tokenhub::service::AppState::new(&config, self.store.clone(), keys, self.base.clone())
            .expect("the hub's state")
    }

    /// `GET /ocpi/2.3.0/hubclientinfo` as the CPO DE*CPO, every party in one page.
    pub async fn client_infos(&self) -> Vec<Value> {
        let answer = self
            .call(
                Method::GET,
                "/ocpi/2.3.0/hubclientinfo?limit=1000",
                &self.cpo,
                None,
            )
            .await;
        assert_eq!((answer.status, answer.ocpi_status()), (200, 1000));
        answer.body["data"].as_array().unwrap().clone()
    }

    /// The hubclientinfo `status` of `cc`*`pid` (its first role).
    pub async fn client_status(&self, cc: &str, pid: &str) -> Option<String> {
        self.client_infos()
            .await
            .into_iter()
            .find(|c| c["country_code"] == cc && c["party_id"] == pid)
            .map(|c| c["status"].as_str().unwrap().to_owned())
    }

    /// The newest entries of the change log, newest first.
    pub async fn changes(&self) -> Vec<tokenhub::store::connections::ChangeRow> {
        self.store
            .read(|conn| tokenhub::store::connections::recent_changes(conn, 100))
            .await
            .unwrap()
    }

    /// PostgreSQL only: a second hub instance on this hub's database (same master key), serving
    /// until the test ends; returns its base URL.
    pub async fn spawn_sibling(&self) -> String {
        self.spawn_sibling_with(|_| {}).await
    }

    /// As `spawn_sibling`, with the sibling's configuration changed by `tweak`.
    pub async fn spawn_sibling_with(&self, tweak: impl FnOnce(&mut Config)) -> String {
        let db = self.pg.as_ref().expect("a PostgreSQL test app");
        let mut config = test_config(db.url());
        tweak(&mut config);
        config.secrets.key = Some(tokenhub::secrets::SecretString::new(
            self.master_key.clone(),
        ));
        let config = settings(config);
        let store = Store::open(&config.store_settings())
            .await
            .expect("open the shared database");
        let keys = tokenhub::secrets::load_keys(&config).expect("the test master key");
        let app = Application::build_with_store(config, store, keys).expect("build the sibling");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        base
    }

    /// `party register` against a partner: the roles it registered, as `CC*PID (ROLE)`.
    pub async fn register_with(
        &self,
        versions_url: &str,
        token_a: &str,
    ) -> Result<Vec<String>, String> {
        // The store is given: the URL only has to be valid.
        let mut config = test_config("sqlite://unused.db".into());
        config.secrets.key = Some(tokenhub::secrets::SecretString::new(
            self.master_key.clone(),
        ));
        let config = settings(config);
        let keys = tokenhub::secrets::load_keys(&config).map_err(|e| e.to_string())?;
        let state =
            tokenhub::service::AppState::new(&config, self.store.clone(), keys, self.base.clone())?;
        let url = url::Url::parse(versions_url).map_err(|e| e.to_string())?;
        let registered =
            tokenhub::service::partners::register_outgoing(&state, &url, token_a, "partner")
                .await?;
        Ok(registered
            .roles
            .iter()
            .map(|r| format!("{} ({})", r.key, r.role))
            .collect())
    }

    /// Every row of the platforms table as text (what someone who reads the database sees),
    /// one line per row starting with `platform`.
    pub async fn dump_platforms(&self) -> String {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            line: String,
        }
        const SQL: &str = "SELECT 'platform ' || id || ' ' || name || ' ' || token_hash || ' ' || \
             token_kind || ' ' || COALESCE(versions_url, '') || ' ' || \
             COALESCE(outbound_token_sealed, '') || ' ' || status AS line FROM platforms";
        let rows: Vec<Row> = match &self.pg {
            Some(db) => {
                let url = db.url();
                tokio::task::spawn_blocking(move || {
                    let mut conn = diesel::pg::PgConnection::establish(&url).unwrap();
                    diesel::sql_query(SQL).load(&mut conn).unwrap()
                })
                .await
                .unwrap()
            }
            None => {
                let path = self._dir.path().join("test.db");
                tokio::task::spawn_blocking(move || {
                    let mut conn =
                        diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap())
                            .unwrap();
                    diesel::sql_query(SQL).load(&mut conn).unwrap()
                })
                .await
                .unwrap()
            }
        };
        rows.into_iter().map(|r| r.line + "\n").collect()
    }

    /// PostgreSQL only: refuses new connections to the test database and ends the open ones.
    pub async fn take_database_down(&self) {
        let db = self.pg.as_ref().expect("a PostgreSQL test app");
        db.admin_sql(format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS false",
            db.name
        ))
        .await;
        db.admin_sql(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ))
        .await;
    }

    /// PostgreSQL only: locks the rows of the tokens `uid` from another connection, as a
    /// long transaction of another instance would, until the guard is dropped (30 s at most).
    pub async fn lock_token_rows(&self, uid: &str) -> RowLock {
        let url = self.pg.as_ref().expect("a PostgreSQL test app").url();
        let uid = uid.to_owned();
        let (locked, is_locked) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut conn = diesel::pg::PgConnection::establish(&url).unwrap();
            conn.transaction::<_, diesel::result::Error, _>(|c| {
                let rows = diesel::sql_query(format!(
                    "SELECT id FROM tokens WHERE upper(uid_key) = upper('{uid}') FOR UPDATE"
                ))
                .execute(c)?;
                locked.send(rows).unwrap();
                let _ = released.recv_timeout(std::time::Duration::from_secs(30));
                Ok(())
            })
            .unwrap();
        });
        let rows = tokio::task::spawn_blocking(move || {
            is_locked.recv_timeout(std::time::Duration::from_secs(10))
        })
        .await
        .unwrap()
        .expect("the rows are locked");
        assert!(rows > 0, "no token row to lock");
        RowLock {
            release: Some(release),
            holder: Some(holder),
        }
    }

    /// PostgreSQL only: a statement of `seconds` through the hub's pool, as a slow query would.
    pub async fn sleep_in_the_database(&self, seconds: f64) -> Result<(), StoreError> {
        self.store
            .read(move |conn| match conn {
                tokenhub::store::Conn::Pg(c) => {
                    diesel::sql_query(format!("SELECT pg_sleep({seconds})")).execute(&mut **c)?;
                    Ok(())
                }
                tokenhub::store::Conn::Sqlite(_) => panic!("PostgreSQL only"),
            })
            .await
    }

    /// PostgreSQL only: accepts connections to the test database again.
    pub async fn bring_database_back(&self) {
        let db = self.pg.as_ref().expect("a PostgreSQL test app");
        db.admin_sql(format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", db.name))
            .await;
    }
}

/// A row lock held by another connection; dropping it ends that transaction.
pub struct RowLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RowLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(holder) = self.holder.take() {
            let _ = holder.join();
        }
    }
}

/// How the logs of a hub with this master key (64 hexadecimal characters) show a token uid.
pub fn fingerprint(master_key: &str, secret: &str) -> String {
    let key = tokenhub::secrets::MasterKey::from_hex(master_key).expect("a master key");
    tokenhub::secrets::Keys::new(key).fingerprint(secret)
}

/// Whether a Token document is one that a push over OCPI 2.2.1 accepts.
pub fn validate_token_2_2_1(body: serde_json::Map<String, Value>) -> Result<(), String> {
    tokenhub::domain::version::OcpiVersion::V2_2_1
        .check_token_fields(&body)
        .map_err(|e| e.to_string())?;
    validate_token(body).map(|_| ()).map_err(|e| e.to_string())
}

/// Whether a Session document is one that a push over OCPI 2.2.1 accepts.
pub fn validate_session_2_2_1(body: serde_json::Map<String, Value>) -> Result<(), String> {
    tokenhub::domain::version::OcpiVersion::V2_2_1
        .check_session_fields(&body)
        .map_err(|e| e.to_string())?;
    validate_session(body)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The OpenAPI document as the code produces it.
pub fn openapi_json() -> String {
    tokenhub::openapi::to_pretty_json()
}

/// The name of the OpenAPI security scheme of the credentials token.
pub const OPENAPI_CREDENTIALS_TOKEN: &str = tokenhub::openapi::CREDENTIALS_TOKEN;

/// The name of the OpenAPI security scheme of the management API's bearer token.
pub const OPENAPI_BEARER_TOKEN: &str = tokenhub::openapi::BEARER_TOKEN;

/// Each OpenAPI error response component, with its HTTP status.
pub fn openapi_error_statuses() -> Vec<(&'static str, u16)> {
    tokenhub::ocpi::common::responses::error_statuses()
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
                    if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

/// As `on_both_backends!`, with the configuration changed by `tweak` (a `fn(&mut Config)` of the
/// calling module) before the hub starts.
#[macro_export]
macro_rules! on_both_backends_with {
    ($tweak:ident => $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::helpers::spawn_app_with($crate::helpers::Backend::Sqlite, super::$tweak).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::spawn_app_with($crate::helpers::Backend::Postgres, super::$tweak).await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

/// The OAuth server's side of the harness (tests/api/oauth.rs).
impl TestApp {
    pub fn keys(&self) -> tokenhub::secrets::Keys {
        let key = tokenhub::secrets::MasterKey::from_hex(&self.master_key).expect("a master key");
        tokenhub::secrets::Keys::new(key)
    }

    /// Registers an OAuth client as `tokenhub client add` does: (client_id, secret unless public).
    pub async fn add_oauth_client(
        &self,
        scopes: &str,
        redirect_uris: &[&str],
        public: bool,
    ) -> (String, Option<String>) {
        self.add_oauth_client_for(scopes, redirect_uris, public, &[])
            .await
    }

    /// [`Self::add_oauth_client`] restricted to `parties` (`CC*PID`; none: every party).
    pub async fn add_oauth_client_for(
        &self,
        scopes: &str,
        redirect_uris: &[&str],
        public: bool,
        parties: &[&str],
    ) -> (String, Option<String>) {
        use tokenhub::service::oauth::clients::{add_client, NewClient};
        let parties: Vec<String> = parties.iter().map(|p| p.to_string()).collect();
        let new = NewClient {
            name: "test client".into(),
            scopes: tokenhub::domain::oauth::ScopeSet::parse(scopes).unwrap(),
            redirect_uris: redirect_uris
                .iter()
                .map(|u| url::Url::parse(u).unwrap())
                .collect(),
            public,
            parties: tokenhub::domain::access::PartyAccess::from_list("parties", &parties).unwrap(),
        };
        let hasher = tokenhub::secrets::client_secrets::SecretHasher::new(&self.keys());
        let issued = add_client(&self.store, &hasher, new, "test")
            .await
            .expect("add a client");
        (issued.client_id, issued.client_secret)
    }

    /// Disables a client as `tokenhub client disable` does.
    pub async fn disable_oauth_client(&self, client_id: &str) -> bool {
        tokenhub::service::oauth::clients::disable_client(&self.store, client_id, "test")
            .await
            .unwrap()
    }

    /// `tokenhub keys rotate`: the new kid.
    pub async fn rotate_signing_key(&self) -> String {
        tokenhub::service::oauth::rotate_signing_key(&self.store, &self.keys(), "test")
            .await
            .unwrap()
    }

    /// The issuer and audience of this hub's access tokens.
    pub fn oauth_issuer_and_audience(&self) -> (String, String) {
        (
            self.state.oauth.issuer.clone(),
            self.state.oauth.audience.clone(),
        )
    }

    /// Signs `claims` (the claims of an access token, as JSON) with the hub's current key: for
    /// tokens the token endpoint never issues (expired, another audience or issuer).
    pub async fn sign_access_token(&self, claims: Value) -> String {
        let claims: tokenhub::service::oauth::tokens::AccessClaims =
            serde_json::from_value(claims).expect("access token claims");
        self.state
            .oauth
            .sign_claims(&self.store, &claims)
            .await
            .unwrap()
    }
}

/// People who log in (tests/api/login.rs).
impl TestApp {
    /// Adds a user as `tokenhub user add` does; with `totp`, enables the second factor as `user
    /// totp enable` does and returns the otpauth:// URI it prints.
    pub async fn add_login_user(
        &self,
        username: &str,
        password: &str,
        scopes: &str,
        totp: bool,
    ) -> Option<String> {
        self.add_login_user_for(username, password, scopes, totp, &[])
            .await
    }

    /// [`Self::add_login_user`] restricted to `parties` (`CC*PID`; none: every party).
    pub async fn add_login_user_for(
        &self,
        username: &str,
        password: &str,
        scopes: &str,
        totp: bool,
        parties: &[&str],
    ) -> Option<String> {
        use tokenhub::service::oauth::users::{add_user, enable_totp};
        let parties: Vec<String> = parties.iter().map(|p| p.to_string()).collect();
        let parties = &parties;
        let name = tokenhub::domain::oauth::Username::parse(username).unwrap();
        let scopes = tokenhub::domain::oauth::ScopeSet::parse(scopes).unwrap();
        assert!(add_user(
            &self.store,
            &name,
            password.into(),
            &scopes,
            &tokenhub::domain::access::PartyAccess::from_list("parties", parties).unwrap(),
            "test"
        )
        .await
        .unwrap());
        if !totp {
            return None;
        }
        enable_totp(&self.store, &self.keys(), "tokenhub", username, "test")
            .await
            .unwrap()
    }

    /// Disables a user as `tokenhub user disable` does.
    pub async fn disable_login_user(&self, username: &str) -> bool {
        tokenhub::service::oauth::users::disable_user(&self.store, username, "test")
            .await
            .unwrap()
    }
}

/// The admin console (tests/api/console.rs).
impl TestApp {
    /// Writes what the decision rollup counted so far, as its background task does every few
    /// seconds: how many cells were written.
    pub async fn flush_decision_rollup(&self) -> usize {
        self.state.console.rollup.flush(&self.store).await.unwrap()
    }

    /// The rollup of the last hour: (result, reason) → count.
    pub async fn decision_rollup(&self) -> std::collections::BTreeMap<(String, String), i64> {
        let view = tokenhub::service::console::rollup::recent(&self.store, 60)
            .await
            .unwrap();
        let mut cells = std::collections::BTreeMap::new();
        for row in view.rows {
            *cells.entry((row.result, row.reason)).or_default() += row.count;
        }
        cells
    }

    /// The (access, refresh) tokens the console holds for `username`'s sessions, newest first.
    pub async fn console_session_tokens(&self, username: &str) -> Vec<(String, String)> {
        let name = username.to_owned();
        let rows = self
            .store
            .read(move |conn| tokenhub::store::console::sessions_of(conn, &name))
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                let text = self.state.console.sealer.open(&row.tokens_sealed).unwrap();
                let held: Value = serde_json::from_str(&text).unwrap();
                (
                    held["access"].as_str().unwrap().to_owned(),
                    held["refresh"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Makes the access tokens of `username`'s console sessions count as expired.
    pub async fn expire_console_access_tokens(&self, username: &str) {
        let name = username.to_owned();
        self.store
            .write(move |conn| {
                for row in tokenhub::store::console::sessions_of(conn, &name)? {
                    tokenhub::store::console::update_session_tokens(
                        conn,
                        &row.id_hash,
                        &row.tokens_sealed,
                        Utc::now().naive_utc() - chrono::TimeDelta::minutes(10),
                        row.expires_at,
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    /// The console's client secret, as every instance derives it from the master key.
    pub fn console_client_secret(&self) -> String {
        tokenhub::service::console::client::client_secret(&self.keys())
    }
}
