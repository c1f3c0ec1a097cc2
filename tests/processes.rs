//! The `tokenhub` binary as operators run it: CLI, several instances on one PostgreSQL, logs,
//! graceful shutdown. Every process started here is stopped here, by its PID.

#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/partner_platform.rs"]
mod partner_platform;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_tokenhub");

/// The master key of the PostgreSQL hubs started here (all instances of one hub share it).
const PG_MASTER_KEY: &str = "5f1c9a0e7b3d4c2a8e6f0b1d3c5a7e9f2b4d6f8a0c2e4a6c8e0a2c4e6a8c0e2f";

/// Gives a command the master key a PostgreSQL hub needs, and none from the test's own environment
/// (a SQLite hub then uses its key file).
fn master_key_env(command: &mut Command, database_url: &str) {
    command.env_remove("TOKENHUB_SECRETS__KEY");
    command.env_remove("TOKENHUB_SECRETS__KEY_FILE");
    if database_url.starts_with("postgres") {
        command.env("TOKENHUB_SECRETS__KEY", PG_MASTER_KEY);
    }
}

/// A `tokenhub serve` child process, killed by PID when dropped.
struct Hub {
    child: Child,
    base: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Hub {
    fn start(database_url: &str, extra_env: &[(&str, &str)]) -> Hub {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", database_url)
            .env("TOKENHUB_HTTP__WORKERS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        master_key_env(&mut command, database_url);
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start tokenhub serve");
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = stderr.read_to_string(&mut all);
            all
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        let base = loop {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "tokenhub did not start"
            );
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("tokenhub listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("tokenhub exited before listening");
                }
            }
        };
        // The signal handlers are in place once the server answers: a SIGTERM sent before that
        // would end the process the default way, not with a clean shutdown.
        let addr = base.trim_start_matches("http://").to_owned();
        let answered = (0..200).any(|_| {
            let ok = std::net::TcpStream::connect(&addr)
                .and_then(|mut s| {
                    use std::io::Write;
                    s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n")?;
                    let mut reply = String::new();
                    s.read_to_string(&mut reply)?;
                    Ok(reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"))
                })
                .unwrap_or(false);
            if !ok {
                std::thread::sleep(Duration::from_millis(25));
            }
            ok
        });
        assert!(answered, "tokenhub did not answer /healthz");
        Hub {
            child,
            base,
            stderr: Some(stderr),
        }
    }

    /// SIGTERM, wait for a clean exit, and return everything it logged.
    fn stop(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        let clean = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.success(),
                _ if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    break false;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let logs = self.stderr.take().unwrap().join().unwrap_or_default();
        (clean, logs)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn party_add(database_url: &str, cc: &str, pid: &str, role: &str) -> String {
    let mut command = Command::new(BIN);
    master_key_env(&mut command, database_url);
    let out = command
        .args([
            "party",
            "add",
            "--country-code",
            cc,
            "--party-id",
            pid,
            "--role",
            role,
            "--json",
        ])
        .env("DATABASE_URL", database_url)
        .output()
        .expect("run tokenhub party add");
    assert!(
        out.status.success(),
        "party add failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("party add --json prints JSON");
    printed["token"].as_str().unwrap().to_owned()
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url).header(
        "Authorization",
        format!(
            "Token {}",
            base64::engine::general_purpose::STANDARD.encode(token)
        ),
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Two `tokenhub serve` processes on one PostgreSQL: what one stores the other serves, and the
/// concurrency limit holds across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_postgres() {
    let Some(db) = helpers::fresh_pg_database() else {
        return;
    };
    let url = db.url();
    let emsp = party_add(&url, "NL", "ABC", "emsp");
    let cpo = party_add(&url, "DE", "CPO", "CPO");
    let a = Hub::start(&url, &[]);
    let b = Hub::start(&url, &[]);
    let client = reqwest::Client::new();

    for uid in ["MULTI1", "MULTI2"] {
        let mut token = helpers::token_json(uid);
        token["uid"] = json!(uid);
        let (status, _) = call(
            &client,
            reqwest::Method::PUT,
            format!("{}/ocpi/2.3.0/receiver/tokens/NL/ABC/{uid}", a.base),
            &emsp,
            Some(token),
        )
        .await;
        assert_eq!(status, 201);
    }
    let authorize =
        |base: &str, uid: &str| format!("{base}/ocpi/2.3.0/sender/tokens/{uid}/authorize");
    let (_, first) = call(
        &client,
        reqwest::Method::POST,
        authorize(&b.base, "MULTI1"),
        &cpo,
        None,
    )
    .await;
    assert_eq!(
        first["data"]["allowed"], "ALLOWED",
        "pushed through A, authorized through B"
    );
    let (_, second) = call(
        &client,
        reqwest::Method::POST,
        authorize(&a.base, "MULTI1"),
        &cpo,
        None,
    )
    .await;
    assert_eq!(
        second["data"]["allowed"], "NOT_ALLOWED",
        "B's hold is seen by A"
    );

    // 40 simultaneous requests for one token, half through each instance: exactly one ALLOWED.
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let client = client.clone();
            let cpo = cpo.clone();
            let url = authorize(if i % 2 == 0 { &a.base } else { &b.base }, "MULTI2");
            tokio::spawn(async move { call(&client, reqwest::Method::POST, url, &cpo, None).await })
        })
        .collect();
    let mut allowed = 0;
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200);
        if body["data"]["allowed"] == "ALLOWED" {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 1);
    let (clean_a, _) = a.stop();
    let (clean_b, _) = b.stop();
    assert!(clean_a && clean_b, "both instances stop cleanly on SIGTERM");
}

/// A full flow's logs hold none of the secrets or token uids it used, in any encoding, and one
/// JSON line per request with ids, route and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_secrets_and_shutdown_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("logs.db").display());
    let emsp = party_add(&url, "NL", "ABC", "EMSP");
    let cpo = party_add(&url, "DE", "CPO", "CPO");
    let hub = Hub::start(
        &url,
        &[
            ("TOKENHUB_LOG__FORMAT", "json"),
            ("TOKENHUB_LOG__LEVEL", "debug"),
        ],
    );
    let client = reqwest::Client::new();
    let uid = "SECRETUID0042";
    let (status, _) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/ocpi/versions", hub.base),
        &emsp,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let mut token = helpers::token_json(uid);
    token["uid"] = json!(uid);
    let (status, _) = call(
        &client,
        reqwest::Method::PUT,
        format!("{}/ocpi/2.3.0/receiver/tokens/NL/ABC/{uid}", hub.base),
        &emsp,
        Some(token),
    )
    .await;
    assert_eq!(status, 201);
    let (_, decision) = call(
        &client,
        reqwest::Method::POST,
        format!("{}/ocpi/2.3.0/sender/tokens/{uid}/authorize", hub.base),
        &cpo,
        None,
    )
    .await;
    let reference = decision["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = helpers::session_json("SES-LOG", uid, "ACTIVE", Some(&reference));
    let (status, _) = call(
        &client,
        reqwest::Method::PUT,
        format!("{}/ocpi/2.3.0/receiver/sessions/DE/CPO/SES-LOG", hub.base),
        &cpo,
        Some(session),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/ocpi/2.3.0/sender/tokens", hub.base),
        &cpo,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/ocpi/versions", hub.base),
        "wrong-token",
        None,
    )
    .await;
    assert_eq!(status, 401);
    // Writing under a party that is not the caller's: refused, and the log says why.
    let (status, _) = call(
        &client,
        reqwest::Method::PUT,
        format!("{}/ocpi/2.3.0/receiver/tokens/NL/XYZ/{uid}", hub.base),
        &emsp,
        Some(helpers::token_json(uid)),
    )
    .await;
    assert_eq!(status, 403);

    let (clean, logs) = hub.stop();
    assert!(clean, "exits 0 on SIGTERM");
    let master_key = std::fs::read_to_string(dir.path().join("logs.db.key")).unwrap();
    let master_key = master_key.trim();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for secret in [
        emsp.clone(),
        cpo.clone(),
        b64(&emsp),
        b64(&cpo),
        uid.to_owned(),
        uid.to_lowercase(),
        "wrong-token".to_owned(),
        master_key.to_owned(),
    ] {
        assert!(
            !logs.contains(&secret),
            "the logs contain a secret or a token uid: {secret}"
        );
    }
    let requests: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request")
        // `Hub::start` asks /healthz before handing the hub over.
        .filter(|l| l["route"] != "/healthz")
        .collect();
    assert_eq!(requests.len(), 7, "one line per request:\n{logs}");
    // Every route names the caller as a party, never an internal id; refusals say why.
    let versions = &requests[0];
    assert_eq!(versions["route"], "/ocpi/versions");
    assert_eq!(versions["party"], "NL*ABC", "{versions}");
    assert!(versions.get("reason").is_none(), "{versions}");
    let unknown = requests.iter().find(|l| l["status"] == 401).unwrap();
    assert_eq!(unknown["reason"], "unknown credentials token", "{unknown}");
    let forbidden = requests.iter().find(|l| l["status"] == 403).unwrap();
    assert_eq!(forbidden["party"], "NL*ABC", "{forbidden}");
    assert_eq!(
        forbidden["reason"], "NL*XYZ is not an eMSP of this credentials token",
        "{forbidden}"
    );
    assert!(
        !logs.contains("platform:"),
        "no internal platform id in the logs:\n{logs}"
    );
    let decision = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "authorization decision")
        .expect("a debug line per decision");
    assert_eq!(
        decision["token"],
        helpers::fingerprint(master_key, uid),
        "the uid appears as its fingerprint"
    );
    assert_eq!(decision["result"], "ALLOWED");
    let put = requests
        .iter()
        .find(|l| {
            l["method"] == "PUT"
                && l["route"].as_str().unwrap().contains("tokens")
                && l["status"] == 201
        })
        .unwrap();
    assert_eq!(
        put["route"],
        "/ocpi/2.3.0/receiver/tokens/{country_code}/{party_id}/{token_uid}"
    );
    assert_eq!(put["status"], 201);
    assert_eq!(put["party"], "NL*ABC");
    assert!(put["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(put["correlation_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(put["latency_ms"].is_number());
}

#[test]
fn cli_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    party_add(&url, "NL", "ABC", "EMSP");
    let again = Command::new(BIN)
        .args([
            "party",
            "add",
            "--country-code",
            "NL",
            "--party-id",
            "ABC",
            "--role",
            "EMSP",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--rotate"));
    let rotated = Command::new(BIN)
        .args([
            "party",
            "add",
            "--country-code",
            "nl",
            "--party-id",
            "abc",
            "--role",
            "emsp",
            "--rotate",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(rotated.status.success());
    assert_eq!(String::from_utf8_lossy(&rotated.stdout).trim().len(), 48);

    let bad_role = Command::new(BIN)
        .args([
            "party",
            "add",
            "--country-code",
            "NL",
            "--party-id",
            "XYZ",
            "--role",
            "HUB",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("--role"));

    let bad_setting = Command::new(BIN)
        .args(["config", "check"])
        .env("DATABASE_URL", &url)
        .env("TOKENHUB_PAGINATION__MAX_LIMIT", "0")
        .output()
        .unwrap();
    assert!(!bad_setting.status.success());
    assert!(
        String::from_utf8_lossy(&bad_setting.stderr)
            .contains("TOKENHUB_PAGINATION__MAX_LIMIT: must be between 1 and 10000 (got 0)"),
        "{}",
        String::from_utf8_lossy(&bad_setting.stderr)
    );
    let good = Command::new(BIN)
        .args(["config", "check"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(good.status.success());
}

/// Flags > `TOKENHUB_*` environment > TOML file > defaults; unknown settings are refused by name.
#[test]
fn config_layers_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokenhub.toml");
    std::fs::write(
        &file,
        "[hub]\nparty_id = \"ABC\"\n[pagination]\nmax_limit = 500\n[database]\nurl = \"sqlite://from-file.db\"\n",
    )
    .unwrap();
    let check = |envs: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(&file)
            .args(args)
            .args(["config", "check"]);
        command.env_remove("DATABASE_URL");
        for (k, v) in envs {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let from_file = check(&[], &[]);
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    let shown = String::from_utf8_lossy(&from_file.stdout).to_string();
    assert!(
        shown.contains("party_id = \"ABC\"") && shown.contains("max_limit = 500"),
        "{shown}"
    );
    assert!(shown.contains("sqlite://from-file.db"), "{shown}");
    // Every effective value, the derived ones followed by a comment saying so.
    assert!(
        shown.contains("public_url = \"http://127.0.0.1:8080\"\n# derived"),
        "{shown}"
    );
    assert!(shown.contains("\nworkers = ") && shown.contains("# derived: one worker per CPU"));
    let given = check(&[("TOKENHUB_HTTP__WORKERS", "3")], &[]);
    let shown = String::from_utf8_lossy(&given.stdout).to_string();
    assert!(
        shown.contains("\nworkers = 3\n") && !shown.contains("per CPU"),
        "{shown}"
    );
    assert!(shown.parse::<toml::Table>().is_ok(), "TOML: {shown}");

    let env_wins = check(
        &[
            ("TOKENHUB_PAGINATION__MAX_LIMIT", "700"),
            ("DATABASE_URL", "sqlite://from-env.db"),
        ],
        &[],
    );
    let shown = String::from_utf8_lossy(&env_wins.stdout).to_string();
    assert!(
        shown.contains("max_limit = 700") && shown.contains("sqlite://from-env.db"),
        "{shown}"
    );

    let flag_wins = check(
        &[("DATABASE_URL", "sqlite://from-env.db")],
        &["--database-url", "sqlite://from-flag.db"],
    );
    assert!(String::from_utf8_lossy(&flag_wins.stdout).contains("sqlite://from-flag.db"));

    // Errors name the setting as it was given: the variable, the flag, the key in its file.
    for (envs, args, expected) in [
        (
            &[("TOKENHUB_LOG__FORMAT", "xml")][..],
            &[][..],
            "configuration: TOKENHUB_LOG__FORMAT: unknown value `xml`".to_owned(),
        ),
        (
            &[],
            &["--database-url", "mysql://x"],
            "configuration: --database-url: ".to_owned(),
        ),
        (
            &[],
            &["serve", "--bind", "localhost"],
            "configuration: --bind: \"localhost\" is not an address".to_owned(),
        ),
    ] {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(&file)
            .args(args)
            .env_remove("DATABASE_URL");
        for (k, v) in envs {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.starts_with(&format!("error: {expected}")),
            "{stderr}"
        );
    }
    std::fs::write(&file, "[pagination]\nmax_limt = 5\n").unwrap();
    let typo = check(&[], &[]);
    assert!(!typo.status.success());
    let expected = format!(
        "configuration: pagination.max_limt in {}: unknown field",
        file.display()
    );
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains(&expected),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );

    let missing = Command::new(BIN)
        .args(["--config", "/nonexistent/tokenhub.toml", "config", "check"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

fn healthcheck(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(BIN);
    command.arg("healthcheck").args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("run tokenhub healthcheck");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A port that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tokenhub healthcheck`, the container's health check: exit 0 against a ready hub (also found
/// through `http.bind` = 0.0.0.0), non-zero with one line naming the URL otherwise.
#[test]
fn healthcheck_passes_only_against_a_ready_hub() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("health.db").display());
    let hub = Hub::start(&url, &[]);
    let (ok, stderr) = healthcheck(&["--url", &hub.base], &[]);
    assert!(ok, "{stderr}");
    assert_eq!(stderr, "");
    let port = hub.base.rsplit(':').next().unwrap();
    let (ok, stderr) = healthcheck(&[], &[("TOKENHUB_HTTP__BIND", &format!("0.0.0.0:{port}"))]);
    assert!(ok, "the default URL is loopback + the bound port: {stderr}");
    let (clean, _) = hub.stop();
    assert!(clean);

    let closed = format!("http://127.0.0.1:{}", closed_port());
    let (ok, stderr) = healthcheck(&["--url", &closed], &[]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!("{closed}/readyz")) && stderr.contains("refused"),
        "{stderr}"
    );

    // A hub that answers but is not ready (503 from /readyz).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let not_ready = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    });
    let (ok, stderr) = healthcheck(&["--url", &not_ready], &[]);
    server.join().unwrap();
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("503"), "{stderr}");
}

/// `database.password_file` (a Docker secret): its content goes into the PostgreSQL URL, and
/// appears neither in `config check` nor in the logs; a missing file is named at start.
#[test]
fn database_password_comes_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Command::new(BIN)
        .args(["config", "check"])
        .env(
            "DATABASE_URL",
            "postgres://tokenhub@127.0.0.1:5432/tokenhub",
        )
        .env(
            "TOKENHUB_DATABASE__PASSWORD_FILE",
            dir.path().join("absent"),
        )
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("TOKENHUB_DATABASE__PASSWORD_FILE: cannot read"),
        "{stderr}"
    );

    let Some(db) = helpers::fresh_pg_database() else {
        return;
    };
    let mut url = url::Url::parse(&db.url()).unwrap();
    // PostgreSQL here may use trust authentication, which ignores the password; the test
    // database's own password, where it has one, keeps this test working elsewhere.
    let secret = url.password().unwrap_or("file-secret-7Qx9").to_owned();
    url.set_password(None).unwrap();
    let file = dir.path().join("db_password");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let file = file.to_str().unwrap();

    let check = Command::new(BIN)
        .args(["config", "check"])
        .env("TOKENHUB_SECRETS__KEY", PG_MASTER_KEY)
        .env("DATABASE_URL", url.as_str())
        .env("TOKENHUB_DATABASE__PASSWORD_FILE", file)
        .output()
        .unwrap();
    assert!(check.status.success());
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(shown.contains(":****@"), "{shown}");
    assert!(!shown.contains(&secret), "{shown}");

    let hub = Hub::start(
        url.as_str(),
        &[
            ("TOKENHUB_DATABASE__PASSWORD_FILE", file),
            ("TOKENHUB_LOG__LEVEL", "debug"),
        ],
    );
    let (ok, stderr) = healthcheck(&["--url", &hub.base], &[]);
    assert!(ok, "{stderr}");
    let (clean, logs) = hub.stop();
    assert!(clean);
    assert!(!logs.contains(&secret), "the logs hold the password");
}

/// The `token` field of each "authorization decision" debug line.
fn logged_fingerprints(logs: &str) -> Vec<String> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "authorization decision")
        .map(|l| l["token"].as_str().unwrap().to_owned())
        .collect()
}

/// A SQLite hub without a configured key writes one beside its database (mode 0600) on its first
/// start and reads the same one on the next: the same uid keeps its fingerprint across restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_master_key_file_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let key_file = dir.path().join("hub.db.key");
    let env = [
        ("TOKENHUB_LOG__FORMAT", "json"),
        ("TOKENHUB_LOG__LEVEL", "tokenhub=debug,warn"),
    ];
    let uid = "04A1B2C3";
    let client = reqwest::Client::new();
    let authorize = |base: &str| format!("{base}/ocpi/2.3.0/sender/tokens/{uid}/authorize");

    let first = Hub::start(&url, &env);
    let created = std::fs::read_to_string(&key_file).expect("a key file after the first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    assert_eq!(created.trim().len(), 64, "64 hexadecimal characters");
    assert!(created.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    let emsp = party_add(&url, "NL", "ABC", "EMSP");
    let cpo = party_add(&url, "DE", "CPO", "CPO");
    let (status, _) = call(
        &client,
        reqwest::Method::PUT,
        format!("{}/ocpi/2.3.0/receiver/tokens/NL/ABC/{uid}", first.base),
        &emsp,
        Some(helpers::token_json(uid)),
    )
    .await;
    assert_eq!(status, 201);
    call(
        &client,
        reqwest::Method::POST,
        authorize(&first.base),
        &cpo,
        None,
    )
    .await;
    let (clean, first_logs) = first.stop();
    assert!(clean);
    assert!(
        first_logs.contains("created a new master key file"),
        "{first_logs}"
    );

    let second = Hub::start(&url, &env);
    call(
        &client,
        reqwest::Method::POST,
        authorize(&second.base),
        &cpo,
        None,
    )
    .await;
    let (clean, second_logs) = second.stop();
    assert!(clean);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), created);
    assert!(!second_logs.contains("created a new master key file"));

    let expected = helpers::fingerprint(created.trim(), uid);
    assert_eq!(logged_fingerprints(&first_logs), vec![expected.clone()]);
    assert_eq!(logged_fingerprints(&second_logs), vec![expected]);
    for logs in [&first_logs, &second_logs] {
        assert!(
            !logs.contains(created.trim()),
            "the logs hold the master key"
        );
    }
}

/// Without `secrets.key_file` or `TOKENHUB_SECRETS__KEY`, a PostgreSQL hub refuses every command
/// that opens the store, before it connects, with one line naming both settings.
#[test]
fn postgres_without_a_master_key_refuses_to_start() {
    let database_url = format!("postgres://tokenhub@127.0.0.1:{}/tokenhub", closed_port());
    let party = [
        "party",
        "add",
        "--country-code",
        "NL",
        "--party-id",
        "ABC",
        "--role",
        "EMSP",
    ];
    for args in [
        &["serve", "--bind", "127.0.0.1:0"][..],
        &["migrate"][..],
        &party[..],
        &["config", "check"][..],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env("DATABASE_URL", &database_url)
            .env_remove("TOKENHUB_SECRETS__KEY")
            .env_remove("TOKENHUB_SECRETS__KEY_FILE")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("secrets.key_file") && stderr.contains("TOKENHUB_SECRETS__KEY"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("PostgreSQL"), "{args:?}: {stderr}");
    }
}

/// `config check` shows where the key comes from, never the key; a key of the wrong length is an
/// error naming the setting, without the value.
#[test]
fn config_check_never_prints_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("check.db").display());
    let check = |envs: &[(&str, &str)]| {
        let mut command = Command::new(BIN);
        command.args(["config", "check"]).env("DATABASE_URL", &url);
        master_key_env(&mut command, &url);
        for (k, v) in envs {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let key = helpers::random_master_key();
    let (ok, stdout, stderr) = check(&[("TOKENHUB_SECRETS__KEY", &key)]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("[secrets]") && stdout.contains("key = \"****\""),
        "{stdout}"
    );
    assert!(stderr.contains("master key: secrets.key"), "{stderr}");
    for shown in [&stdout, &stderr] {
        assert!(
            !shown.contains(&key) && !shown.contains(&key[..16]),
            "{shown}"
        );
    }

    // Only digits: still read as the string it is (figment alone would read a number, 1234...).
    let digits = format!("{}1234567890123456", "0".repeat(48));
    let (ok, stdout, stderr) = check(&[("TOKENHUB_SECRETS__KEY", &digits)]);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains(&digits[40..]) && !stderr.contains(&digits[40..]));

    let file = dir.path().join("master.key");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let (ok, stdout, stderr) = check(&[("TOKENHUB_SECRETS__KEY_FILE", file.to_str().unwrap())]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("master key: file {}", file.display())),
        "{stderr}"
    );
    assert!(!stdout.contains(&key[..16]) && !stderr.contains(&key[..16]));

    let short = &key[..60];
    let (ok, stdout, stderr) = check(&[("TOKENHUB_SECRETS__KEY", short)]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("TOKENHUB_SECRETS__KEY: must be 64 hexadecimal characters"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&short[..16]) && !stdout.contains(&short[..16]),
        "{stderr}"
    );

    std::fs::write(&file, short).unwrap();
    let (ok, _, stderr) = check(&[("TOKENHUB_SECRETS__KEY_FILE", file.to_str().unwrap())]);
    assert!(!ok);
    assert!(stderr.contains("secrets.key_file: "), "{stderr}");
    assert!(!stderr.contains(&short[..16]), "{stderr}");
    assert!(
        !dir.path().join("check.db.key").exists(),
        "config check creates no key file"
    );
}

/// A password in the URL's query (`?password=`, which libpq reads like the user info's) is masked
/// by `config check`, `migrate` (its success line and its errors) and the startup log, and an
/// unparsable URL is not printed at all.
#[test]
fn url_query_passwords_are_never_printed() {
    const SECRET: &str = "secret-Qw7Zp";
    let run = |args: &[&str], url: &str| {
        let mut command = Command::new(BIN);
        command.args(args).env("DATABASE_URL", url);
        master_key_env(&mut command, url);
        let out = command.output().unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), printed)
    };
    let closed = format!(
        "postgres://hub@127.0.0.1:{}/tokenhub?sslmode=disable&Password={SECRET}",
        closed_port()
    );
    let (ok, printed) = run(&["config", "check"], &closed);
    assert!(ok, "{printed}");
    assert!(printed.contains("Password=****"), "{printed}");
    assert!(!printed.contains(SECRET), "{printed}");
    let (ok, printed) = run(&["migrate"], &closed);
    assert!(!ok, "{printed}");
    assert!(!printed.contains(SECRET), "{printed}");

    // libpq's multi-host form, which the URL parser does not read.
    let unparsable = format!("postgres://hub:{SECRET}@h1:5432,h2:5433/tokenhub");
    let (ok, printed) = run(&["config", "check"], &unparsable);
    assert!(ok, "{printed}");
    assert!(printed.contains("postgres:<unparsable URL>"), "{printed}");
    assert!(!printed.contains(SECRET), "{printed}");

    let Some(db) = helpers::fresh_pg_database() else {
        return;
    };
    // PostgreSQL here uses trust authentication (or the password of the test URL), so the query
    // password does not stop the connection.
    let url = format!("{}?password={SECRET}", db.url());
    let (ok, printed) = run(&["migrate"], &url);
    assert!(ok, "{printed}");
    assert!(printed.contains("password=****"), "{printed}");
    assert!(!printed.contains(SECRET), "{printed}");
    let hub = Hub::start(&url, &[("TOKENHUB_LOG__LEVEL", "debug")]);
    let (clean, logs) = hub.stop();
    assert!(clean, "{logs}");
    assert!(logs.contains("password=****"), "{logs}");
    assert!(!logs.contains(SECRET), "{logs}");
}

/// Runs `tokenhub party ARGS` on the database at `url`: (success, stdout, stderr).
fn party_command(url: &str, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    master_key_env(&mut command, url);
    let out = command
        .arg("party")
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run tokenhub party");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `party list --json`, as (key, role) → the party's object.
fn party_list(url: &str) -> Vec<Value> {
    let (ok, stdout, stderr) = party_command(url, &["list", "--json"]);
    assert!(ok, "{stderr}");
    serde_json::from_str::<Value>(&stdout)
        .expect("party list --json prints JSON")
        .as_array()
        .unwrap()
        .clone()
}

fn listed(url: &str, key: &str, role: &str) -> Value {
    party_list(url)
        .into_iter()
        .find(|p| p["key"] == key && p["role"] == role)
        .unwrap_or_else(|| panic!("{key} {role} is not listed"))
}

/// Fails with exactly one line on stderr that starts with `error: {start}`.
fn fails_naming(url: &str, args: &[&str], start: &str) {
    let (ok, _, stderr) = party_command(url, args);
    assert!(!ok, "{args:?} succeeded");
    // The database the command used comes first, on a line of its own.
    let stderr = stderr
        .lines()
        .filter(|l| !l.starts_with("using database "))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {start}")),
        "{args:?}: {stderr}"
    );
}

/// `party list`, `suspend`, `resume` and `set`: each change is in the change log with actor
/// `operator` and the settings before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn party_settings_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("parties.db").display());
    party_add(&url, "NL", "ABC", "emsp");
    party_add(&url, "DE", "CPO", "cpo");
    party_add(&url, "NL", "ABC", "cpo");

    let all = party_list(&url);
    assert_eq!(all.len(), 3);
    let abc = listed(&url, "NL*ABC", "EMSP");
    for (field, value) in [
        ("country_code", json!("NL")),
        ("party_id", json!("ABC")),
        ("status", json!("CONNECTED")),
        ("suspended", json!(false)),
        ("max_concurrent", Value::Null),
        ("forward_allowed", json!(false)),
        ("delegate_realtime", json!(false)),
        ("time_budget_ms", Value::Null),
    ] {
        assert_eq!(abc[field], value, "{field}");
    }
    assert!(abc["name"].is_string());
    let (ok, table, _) = party_command(&url, &["list"]);
    assert!(ok);
    assert!(
        table.starts_with("PARTY ") && table.contains("MAX_CONCURRENT"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 4, "a header and one line per party");

    let target = [
        "--country-code",
        "nl",
        "--party-id",
        "abc",
        "--role",
        "emsp",
    ];
    let (ok, stdout, stderr) = party_command(&url, &[&["suspend"][..], &target].concat());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("NL*ABC (EMSP) suspended"), "{stdout}");
    let abc = listed(&url, "NL*ABC", "EMSP");
    assert_eq!(
        (abc["suspended"].clone(), abc["status"].clone()),
        (json!(true), json!("SUSPENDED"))
    );
    assert_eq!(
        listed(&url, "NL*ABC", "CPO")["suspended"],
        false,
        "one role only"
    );
    let (ok, _, stderr) = party_command(&url, &[&["suspend"][..], &target].concat());
    assert!(
        ok && stderr.contains("already"),
        "suspending twice: {stderr}"
    );
    let (ok, _, stderr) = party_command(&url, &[&["resume"][..], &target].concat());
    assert!(ok, "{stderr}");
    assert_eq!(listed(&url, "NL*ABC", "EMSP")["status"], "CONNECTED");

    let set = |extra: &[&str]| party_command(&url, &[&["set"][..], &target, extra].concat());
    let (ok, stdout, stderr) = set(&[
        "--max-concurrent",
        "2",
        "--forward-allowed",
        "true",
        "--time-budget-ms",
        "1500",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("max_concurrent 2"), "{stdout}");
    let abc = listed(&url, "NL*ABC", "EMSP");
    assert_eq!(abc["max_concurrent"], 2);
    assert_eq!(abc["forward_allowed"], true);
    assert_eq!(abc["time_budget_ms"], 1500);
    assert_eq!(abc["delegate_realtime"], false, "flags not given stay");
    let (ok, _, stderr) = set(&["--max-concurrent", "none", "--delegate-realtime", "TRUE"]);
    assert!(ok, "{stderr}");
    let abc = listed(&url, "NL*ABC", "EMSP");
    assert_eq!(abc["max_concurrent"], Value::Null);
    assert_eq!(abc["delegate_realtime"], true);

    // Errors: one line naming the flag to change.
    fails_naming(
        &url,
        &[&["set"][..], &target, &["--max-concurrent", "0"]].concat(),
        "--max-concurrent: ",
    );
    fails_naming(
        &url,
        &[&["set"][..], &target, &["--forward-allowed", "yes"]].concat(),
        "--forward-allowed: ",
    );
    fails_naming(
        &url,
        &[&["set"][..], &target, &["--time-budget-ms", "50"]].concat(),
        "--time-budget-ms: ",
    );
    fails_naming(&url, &[&["set"][..], &target].concat(), "nothing to set");
    fails_naming(
        &url,
        &[
            "set",
            "--country-code",
            "DE",
            "--party-id",
            "CPO",
            "--max-concurrent",
            "3",
        ],
        "--max-concurrent: only eMSPs",
    );
    fails_naming(
        &url,
        &["suspend", "--country-code", "NL", "--party-id", "ABC"],
        "--role: NL*ABC has several roles (EMSP, CPO)",
    );
    fails_naming(
        &url,
        &["suspend", "--country-code", "NL", "--party-id", "XYZ"],
        "--party-id: the hub has no party NL*XYZ",
    );
    fails_naming(
        &url,
        &["resume", "--country-code", "NLD", "--party-id", "ABC"],
        "--country-code: ",
    );
    fails_naming(
        &url,
        &[
            &["set"][..],
            &target[..4],
            &["--role", "hub", "--forward-allowed", "true"],
        ]
        .concat(),
        "--role: ",
    );

    // Every flag of `party set` is described in --help.
    let (ok, help, _) = party_command(&url, &["set", "--help"]);
    assert!(ok);
    for flag in [
        "--country-code",
        "--party-id",
        "--role",
        "--max-concurrent",
        "--forward-allowed",
        "--delegate-realtime",
        "--time-budget-ms",
    ] {
        let line = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(flag))
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            line.split_once(flag).is_some_and(|(_, rest)| rest
                .chars()
                .filter(|c| c.is_alphabetic())
                .count()
                > 15),
            "{flag} has no description: {help}"
        );
    }

    let store = tokenhub::store::Store::open(&tokenhub::store::StoreSettings::for_url(
        url.clone(),
        1,
        Duration::from_secs(2),
    ))
    .await
    .unwrap();
    let changes = store
        .read(|conn| tokenhub::store::connections::recent_changes(conn, 100))
        .await
        .unwrap();
    let actions: Vec<&str> = changes.iter().rev().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        ["party.suspend", "party.resume", "party.set", "party.set"],
        "one entry per change, none for a change that changed nothing"
    );
    for change in &changes {
        assert_eq!(change.actor, "operator");
        assert_eq!(change.subject, "party:NL*ABC:EMSP");
    }
    let suspend = changes.last().unwrap();
    let before: Value = serde_json::from_str(suspend.before.as_deref().unwrap()).unwrap();
    let after: Value = serde_json::from_str(suspend.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        (before["suspended"].clone(), after["suspended"].clone()),
        (json!(false), json!(true))
    );
    let first_set: Value = serde_json::from_str(changes[1].after.as_deref().unwrap()).unwrap();
    assert_eq!(first_set["max_concurrent"], 2);
    assert_eq!(first_set["time_budget_ms"], 1500);
}

/// What a newcomer needs to see (issue 16): the database each command used, the migrations
/// applied, logs without colour codes in a file, one-line usage errors, `--rotate` that never
/// creates a party, and a description for every flag.
#[test]
fn a_newcomer_sees_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("first.db").display());
    let run = |args: &[&str]| {
        let mut command = Command::new(BIN);
        master_key_env(&mut command, &url);
        let out = command
            .args(args)
            .env("DATABASE_URL", &url)
            .env_remove("TOKENHUB_LOG__FORMAT")
            .env_remove("TOKENHUB_LOG__LEVEL")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, _, stderr) = run(&["migrate"]);
    assert!(ok, "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "no colour codes in a pipe: {stderr:?}"
    );
    assert!(
        stderr.contains(&format!("using database {url} (a new file")),
        "{stderr}"
    );
    let applied = stderr
        .lines()
        .find(|l| l.contains("migrations applied"))
        .unwrap_or_else(|| panic!("the migrations applied are named: {stderr}"));
    assert!(applied.contains("_registry"), "{applied}");
    let (ok, _, stderr) = run(&["migrate"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("no pending migrations"), "{stderr}");
    assert!(
        stderr.contains(&format!("using database {url}\n")),
        "{stderr}"
    );

    // `--rotate` of a party that does not exist creates nothing.
    let (ok, stdout, stderr) = run(&[
        "party",
        "add",
        "--country-code",
        "NL",
        "--party-id",
        "NEW",
        "--role",
        "EMSP",
        "--rotate",
    ]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("error: --rotate: there is no party NL*NEW with role EMSP"),
        "{stderr}"
    );
    assert!(party_list(&url).is_empty(), "no party was created");

    // A missing flag: one line naming it, and where to read more.
    let (ok, _, stderr) = run(&["party", "add", "--country-code", "NL", "--role", "EMSP"]);
    assert!(!ok);
    assert_eq!(
        stderr.trim_end(),
        "error: the following required arguments were not provided: --party-id <PARTY_ID> \
         (see `tokenhub party add --help`)"
    );
    let (ok, _, stderr) = run(&["party", "add", "--bogus"]);
    assert!(!ok);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    // Every flag of every command has a description.
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["migrate"],
        &["party"],
        &["party", "add"],
        &["party", "invite"],
        &["party", "register"],
        &["party", "list"],
        &["party", "suspend"],
        &["party", "resume"],
        &["party", "set"],
        &["config"],
        &["config", "check"],
        &["healthcheck"],
    ];
    for command in commands {
        let (ok, help, stderr) = run(&[*command, &["--help"][..]].concat());
        assert!(ok, "{command:?}: {stderr}");
        let options = help
            .split("Options:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{command:?} has options: {help}"));
        // clap wraps a long description onto lines that start with spaces only, never a dash.
        for line in options.lines().filter(|l| l.trim_start().starts_with('-')) {
            let flag_and_text: Vec<&str> = line.trim().splitn(2, "  ").collect();
            assert!(
                flag_and_text.len() == 2 && !flag_and_text[1].trim().is_empty(),
                "{command:?}: a flag without a description: {line:?}"
            );
        }
    }
}

/// A SQLite hub killed without a chance to close its database says so at the next start; a clean
/// stop leaves nothing to say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclean_sqlite_stop_is_named_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let emsp = party_add(&url, "NL", "ABC", "EMSP");
    const UNCLEAN: &str = "write-ahead log not empty at open";

    let (clean, _) = Hub::start(&url, &[]).stop();
    assert!(clean);
    let mut hub = Hub::start(&url, &[]);
    let (status, _) = call(
        &reqwest::Client::new(),
        reqwest::Method::PUT,
        format!("{}/ocpi/2.3.0/receiver/tokens/NL/ABC/CRASH1", hub.base),
        &emsp,
        Some(helpers::token_json("CRASH1")),
    )
    .await;
    assert_eq!(status, 201);
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
    let logs = hub.stderr.take().unwrap().join().unwrap();
    assert!(!logs.contains(UNCLEAN), "after a clean stop: {logs}");

    let hub = Hub::start(&url, &[]);
    let (clean, logs) = hub.stop();
    assert!(clean);
    assert!(logs.contains(UNCLEAN), "after a kill: {logs}");
}

/// Runs `tokenhub agreement ARGS` on the database at `url` with `env`: (success, stdout, stderr
/// without the line naming the database).
fn agreement_command(url: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    master_key_env(&mut command, url);
    let out = command
        .arg("agreement")
        .args(args)
        .env("DATABASE_URL", url)
        .envs(env.iter().copied())
        .output()
        .expect("run tokenhub agreement");
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("using database "))
        .collect::<Vec<_>>()
        .join("\n");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

/// `agreement add|remove|list`: parties given as CC*PID in any case, roles checked, each change
/// once in the change log, every error one line naming the flag.
#[test]
fn agreements_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("agreements.db").display());
    party_add(&url, "NL", "ABC", "emsp");
    party_add(&url, "DE", "CPO", "cpo");
    let explicit = [("TOKENHUB_HUB__AGREEMENTS", "explicit")];
    let pair = ["--cpo", "de*cpo", "--emsp", "NL*ABC", "--json"];

    let (ok, stdout, stderr) = agreement_command(&url, &[&["add"][..], &pair].concat(), &explicit);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!({"cpo": "DE*CPO", "emsp": "NL*ABC", "changed": true})
    );
    assert!(stderr.is_empty(), "{stderr}");
    // Again: nothing changes; under `open` the operator is told agreements do not apply.
    let (ok, stdout, stderr) = agreement_command(&url, &[&["add"][..], &pair].concat(), &[]);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["changed"],
        false
    );
    assert!(stderr.contains("hub.agreements is open"), "{stderr}");

    let (ok, stdout, _) = agreement_command(&url, &["list", "--json"], &[]);
    assert!(ok);
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        (listed[0]["cpo"].clone(), listed[0]["emsp"].clone()),
        (json!("DE*CPO"), json!("NL*ABC"))
    );
    let (ok, table, _) = agreement_command(&url, &["list", "--emsp", "nl*abc"], &[]);
    assert!(ok);
    assert!(
        table.starts_with("CPO ") && table.contains("DE*CPO  NL*ABC"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 2, "a header and the agreement");
    let (_, none, _) = agreement_command(&url, &["list", "--cpo", "FR*CPO", "--json"], &[]);
    assert_eq!(none.trim(), "[]");

    for (args, start) in [
        (
            &["add", "--cpo", "NL*ABC", "--emsp", "NL*ABC"][..],
            "--cpo: NL*ABC is not a CPO party of the hub",
        ),
        (
            &["add", "--cpo", "DE*CPO", "--emsp", "DE*CPO"][..],
            "--emsp: DE*CPO is not an EMSP party of the hub",
        ),
        (
            &["remove", "--cpo", "DECPO", "--emsp", "NL*ABC"][..],
            "--cpo: \"DECPO\" is not COUNTRY*PARTY",
        ),
        (
            &["add", "--cpo", "DE*CPO", "--emsp", "NL*ABCD"][..],
            "--emsp: party_id: ",
        ),
        (
            &["add", "--cpo", "DE*CPO"][..],
            "the following required arguments were not provided: --emsp",
        ),
    ] {
        let (ok, _, stderr) = agreement_command(&url, args, &explicit);
        assert!(!ok, "{args:?} succeeded");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {start}")) || stderr.starts_with(start),
            "{args:?}: {stderr}"
        );
    }

    let remove = ["remove", "--cpo", "DE*CPO", "--emsp", "NL*ABC"];
    let (ok, stdout, stderr) = agreement_command(&url, &remove, &explicit);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("DE*CPO (CPO) – NL*ABC (EMSP) removed"),
        "{stdout}"
    );
    let (ok, _, stderr) = agreement_command(&url, &remove, &explicit);
    assert!(
        ok && stderr.contains("no agreement; nothing changed"),
        "{stderr}"
    );
    let (_, empty, _) = agreement_command(&url, &["list", "--json"], &[]);
    assert_eq!(empty.trim(), "[]");
}

/// Runs `tokenhub ARGS` on the database at `url`: (success, stdout, stderr).
fn tokenhub(url: &str, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    master_key_env(&mut command, url);
    let out = command
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run tokenhub");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `client add|list|disable` and `keys rotate` against a running hub: the secret is printed once
/// and works, the hub sees rotations and disabling without a restart, and neither the secret nor
/// a token ever reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_clients_and_keys_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("oauth.db").display());
    let (ok, stdout, stderr) = tokenhub(
        &url,
        &[
            "client",
            "add",
            "--name",
            "BI tool",
            "--scopes",
            "tokens:read audit:read",
            "--json",
        ],
    );
    assert!(ok, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("client add --json prints JSON");
    let id = printed["client_id"].as_str().unwrap().to_owned();
    let secret = printed["client_secret"].as_str().unwrap().to_owned();
    assert!(stderr.contains("shown this once"), "{stderr}");
    // Text output, and a public client (no secret printed).
    let (ok, stdout, _) = tokenhub(
        &url,
        &["client", "add", "--name", "x", "--scopes", "audit:read"],
    );
    assert!(
        ok && stdout.starts_with("client_id: th_") && stdout.contains("\nclient_secret: "),
        "{stdout}"
    );
    let (ok, stdout, stderr) = tokenhub(
        &url,
        &[
            "client",
            "add",
            "--name",
            "app",
            "--scopes",
            "tokens:read",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--json",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(serde_json::from_str::<Value>(&stdout)
        .unwrap()
        .get("client_secret")
        .is_none());
    for (args, start) in [
        (
            vec![
                "client",
                "add",
                "--name",
                "p",
                "--scopes",
                "tokens:read",
                "--public",
            ],
            "error: --public",
        ),
        (
            vec!["client", "add", "--name", "p", "--scopes", "tokens:nope"],
            "error: --scopes",
        ),
        (
            vec!["client", "disable", "--client-id", "th_nosuch"],
            "error: --client-id",
        ),
    ] {
        let (ok, _, stderr) = tokenhub(&url, &args);
        assert!(!ok, "{args:?}");
        let line = stderr
            .lines()
            .find(|l| !l.starts_with("using database "))
            .unwrap_or_default();
        assert!(line.starts_with(start), "{args:?}: {stderr}");
    }
    let (ok, stdout, _) = tokenhub(&url, &["client", "list", "--json"]);
    assert!(ok);
    let listed: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.len(), 3);
    assert!(!stdout.contains(&secret), "client list shows no secret");

    let hub = Hub::start(&url, &[("TOKENHUB_LOG__LEVEL", "debug")]);
    let client = reqwest::Client::new();
    let token = |scope: &'static str| {
        let request = client
            .post(format!("{}/oauth/token", hub.base))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)]);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let kid_of = |jwt: &str| {
        let header = jwt.split('.').next().unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (status, first) = token("audit:read").await;
    assert_eq!(status, 200, "{first}");
    let first = first["access_token"].as_str().unwrap().to_owned();
    let whoami = |jwt: String| {
        let request = client
            .get(format!("{}/admin/v1/whoami/audit:read", hub.base))
            .bearer_auth(jwt);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(whoami(first.clone()).await, 200);

    // keys rotate, while the hub runs: new tokens carry the new kid, the old token still works.
    let (ok, stdout, stderr) = tokenhub(&url, &["keys", "rotate"]);
    assert!(ok, "{stderr}");
    let new_kid = stdout.trim().to_owned();
    assert_ne!(new_kid, kid_of(&first));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, answer) = token("audit:read").await;
        if kid_of(answer["access_token"].as_str().unwrap()) == new_kid {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hub never signed with the new key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(whoami(first.clone()).await, 200);

    // client disable: its secret stops working.
    let (ok, _, stderr) = tokenhub(&url, &["client", "disable", "--client-id", &id]);
    assert!(ok, "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, answer) = token("audit:read").await;
        if status == 401 {
            assert_eq!(answer["error"], "invalid_client");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a disabled client still gets tokens"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (clean, logs) = hub.stop();
    assert!(clean, "{logs}");
    assert!(
        logs.contains("/oauth/token"),
        "the requests are logged: {logs}"
    );
    assert!(!logs.contains(&secret), "the client secret is in the log");
    assert!(!logs.contains(&first), "an access token is in the log");
    assert!(
        !logs.contains(first.split('.').nth(2).unwrap()),
        "a token signature is in the log"
    );
}

/// Nothing acknowledged is lost (docs/design.md §6 "Push"): tokens PUT under load while a CPO
/// receives the pushes; the hub is killed (SIGKILL, by PID) mid-load and restarted on the same
/// SQLite database; every token whose PUT was acknowledged reaches the CPO afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_push_load_loses_no_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("push.db").display());
    let emsp = party_add(&url, "NL", "ABC", "EMSP");
    let env = [
        ("TOKENHUB_PEERS__ALLOW_INSECURE", "true"),
        ("TOKENHUB_PUSH__POLL_INTERVAL_MS", "20"),
    ];
    let mut hub = Hub::start(&url, &env);

    // The CPO registers with the hub through the Credentials handshake (token A from the CLI).
    let mut state = partner_platform::PartnerState::party("CPO", "BE", "PCP", "token-B", false);
    state.endpoints = vec![("credentials", "SENDER"), ("tokens", "RECEIVER")];
    let role = state.roles[0].clone();
    let cpo = partner_platform::start(state).await;
    let (ok, out, err) = party_command(
        &url,
        &[
            "invite",
            "--country-code",
            "BE",
            "--party-id",
            "PCP",
            "--role",
            "CPO",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let token_a: Value = serde_json::from_str(&out).unwrap();
    let client = reqwest::Client::new();
    let (status, answer) = call(
        &client,
        reqwest::Method::POST,
        format!("{}/ocpi/2.3.0/credentials", hub.base),
        token_a["token"].as_str().unwrap(),
        Some(json!({"token": "token-B", "url": cpo.versions_url(), "roles": [role]})),
    )
    .await;
    assert_eq!(
        (status, answer["status_code"].clone()),
        (200, json!(1000)),
        "{answer}"
    );

    // The load: PUTs from 8 clients at once; the hub dies after 600 acknowledgements.
    const TOKENS: usize = 3000;
    const KILL_AFTER: usize = 600;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let base = hub.base.clone();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (acked, next, base, emsp, client) = (
            acked.clone(),
            next.clone(),
            base.clone(),
            emsp.clone(),
            client.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= TOKENS {
                    return;
                }
                let uid = format!("K{i:05}");
                let request = client
                    .put(format!("{base}/ocpi/2.3.0/receiver/tokens/NL/ABC/{uid}"))
                    .header(
                        "Authorization",
                        format!(
                            "Token {}",
                            base64::engine::general_purpose::STANDARD.encode(&emsp)
                        ),
                    )
                    .json(&helpers::token_json(&uid))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let Ok(response) = request else { return };
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if body["status_code"] == 1000 {
                    acked.lock().unwrap().push(uid);
                } else {
                    return;
                }
            }
        }));
    }
    let started = Instant::now();
    while acked.lock().unwrap().len() < KILL_AFTER {
        assert!(started.elapsed() < Duration::from_secs(60), "load too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SIGKILL by PID: no shutdown, no flush beyond what was committed.
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
    for c in clients {
        let _ = c.await;
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    let before_restart = cpo.pushes().len();
    // While the hub is down, `tokenhub outbox` lists what it still owes the CPO: at least every
    // acknowledged change the CPO has not received.
    let delivered: std::collections::HashSet<String> =
        cpo.pushes().into_iter().map(|p| p.object).collect();
    let missing = acked
        .iter()
        .filter(|uid| !delivered.contains(&format!("NL/ABC/{uid}")))
        .count();
    let listed = outbox_json(&url);
    let pending: i64 = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            assert_eq!(row["partner"], "BE*PCP", "{listed}");
            row["pending"].as_i64().unwrap()
        })
        .sum();
    assert!(
        pending >= missing as i64,
        "{pending} pending < {missing} missing: {listed}"
    );

    let hub = Hub::start(&url, &env);
    let deadline = Instant::now() + Duration::from_secs(120);
    let received = |uid: &String| {
        cpo.pushes()
            .iter()
            .any(|p| p.object == format!("NL/ABC/{uid}"))
    };
    loop {
        let got = cpo.pushes();
        let objects: std::collections::HashSet<&str> =
            got.iter().map(|p| p.object.as_str()).collect();
        let lost = acked
            .iter()
            .filter(|uid| !objects.contains(format!("NL/ABC/{uid}").as_str()))
            .count();
        if lost == 0 {
            let duplicates = got.len() - objects.len();
            println!(
                "kill -9 figures: acknowledged {}, delivered before the kill {before_restart}, \
                 pending at the restart {pending}, delivered in all {} ({} distinct, \
                 {duplicates} sent twice across the kill), lost 0",
                acked.len(),
                got.len(),
                objects.len()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lost {lost} of {} acknowledged changes",
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(acked.iter().all(received));
    // `tokenhub outbox` beside the running hub: the CPO, nothing pending, nothing dropped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = outbox_json(&url);
        // Empty once the last completion is written (a delivery completes just after the answer).
        if listed == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "still listed: {listed}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (clean, _) = hub.stop();
    assert!(clean);
}

fn outbox_json(url: &str) -> Value {
    let mut command = Command::new(BIN);
    master_key_env(&mut command, url);
    let out = command
        .args(["outbox", "--json"])
        .env("DATABASE_URL", url)
        .output()
        .expect("run tokenhub outbox");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("outbox --json prints JSON")
}

/// Runs `tokenhub ARGS` with `stdin` piped in: (success, stdout, stderr).
fn tokenhub_with_stdin(url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut command = Command::new(BIN);
    master_key_env(&mut command, url);
    let mut child = command
        .args(args)
        .env("DATABASE_URL", url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tokenhub");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `user add|list|disable` and `user totp enable|disable`: the password comes from stdin and is
/// never printed, the otpauth URI is printed once, every bad argument names its flag.
#[test]
fn users_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("users.db").display());
    let password = "a long enough passphrase";
    let add = |name: &str, stdin: &str| {
        tokenhub_with_stdin(
            &url,
            &[
                "user",
                "add",
                "--username",
                name,
                "--password-stdin",
                "--scopes",
                "tokens:read audit:read",
            ],
            stdin,
        )
    };
    let (ok, stdout, stderr) = add("alice", &format!("{password}\n"));
    assert!(ok, "{stderr}");
    assert!(
        stdout.is_empty() && !stderr.contains(password),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("user alice added"), "{stderr}");
    let first_error = |stderr: &str| {
        stderr
            .lines()
            .find(|l| !l.starts_with("using database "))
            .unwrap_or_default()
            .to_owned()
    };
    for (name, stdin, start) in [
        (
            "alice",
            "another long passphrase\n",
            "error: --username: alice exists already",
        ),
        ("bob", "short\n", "error: --password-stdin: at least 12"),
        ("Bob", "a long enough passphrase\n", "error: --username"),
    ] {
        let (ok, _, stderr) = add(name, stdin);
        assert!(!ok, "{name}");
        assert!(first_error(&stderr).starts_with(start), "{name}: {stderr}");
    }
    let (ok, _, stderr) = tokenhub(
        &url,
        &[
            "user",
            "add",
            "--username",
            "carol",
            "--scopes",
            "tokens:read",
        ],
    );
    assert!(!ok);
    assert!(
        first_error(&stderr).starts_with("error: --password-stdin"),
        "{stderr}"
    );

    let (ok, stdout, stderr) = tokenhub(&url, &["user", "totp", "enable", "--username", "alice"]);
    assert!(ok, "{stderr}");
    let uri = stdout.trim();
    assert!(
        uri.starts_with("otpauth://totp/tokenhub%3Aalice?secret=")
            && uri.contains("&digits=6&period=30"),
        "{uri}"
    );
    assert!(stderr.contains("shown this once"), "{stderr}");
    let (ok, stdout, _) = tokenhub(&url, &["user", "list", "--json"]);
    assert!(ok);
    let listed: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["username"], "alice");
    assert_eq!(listed[0]["totp"], true);
    assert_eq!(listed[0]["disabled"], false);
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert!(
        !stdout.contains(secret) && !stdout.contains("argon2"),
        "{stdout}"
    );

    let (ok, _, stderr) = tokenhub(&url, &["user", "totp", "disable", "--username", "alice"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = tokenhub(&url, &["user", "disable", "--username", "alice"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = tokenhub(&url, &["user", "disable", "--username", "nobody"]);
    assert!(!ok);
    assert!(
        first_error(&stderr).starts_with("error: --username: there is no user nobody"),
        "{stderr}"
    );
    let (_, stdout, _) = tokenhub(&url, &["user", "list"]);
    assert!(
        stdout.starts_with(
            "USERNAME\tTOTP\tDISABLED\tPARTIES\tSCOPES\nalice\tfalse\ttrue\tall parties\ttokens:read audit:read"
        ),
        "{stdout}"
    );
}

/// `tokens import|export` on both backends: mixed good and bad lines (every good one stored, the
/// bad ones named by line, a non-zero exit), a dry run, a CSV export imported again changing
/// nothing, hub-policy lines, `--party`, and a bad file as one clear line.
#[test]
fn token_files_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let pg = helpers::fresh_pg_database();
    let mut urls = vec![format!(
        "sqlite://{}",
        dir.path().join("files.db").display()
    )];
    urls.extend(pg.as_ref().map(|db| db.url()));
    for url in &urls {
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let token = |uid: &str, cc: &str, pid: &str| {
            let mut t = helpers::token_json(uid);
            t["country_code"] = json!(cc);
            t["party_id"] = json!(pid);
            t.to_string()
        };
        let tokens = file(
            "tokens.ndjson",
            &[
                token("F1", "NL", "ABC"),
                token("F2", "NL", "ABC"),
                "{\"uid\": 1}".into(),
                token("F3", "BE", "EMP"),
            ]
            .join("\n"),
        );
        let (ok, _, stderr) = tokenhub(url, &["tokens", "import", &tokens, "--dry-run"]);
        assert!(!ok, "a refused line: non-zero");
        assert!(stderr.contains("4 lines (dry run): 3 created"), "{stderr}");
        let (ok, _, stderr) = tokenhub(url, &["tokens", "import", &tokens]);
        assert!(!ok);
        assert!(
            stderr.contains("4 lines: 3 created, 0 replaced"),
            "{stderr}"
        );
        assert!(stderr.contains("line 3: "), "{stderr}");
        assert!(
            stderr.contains("error: 1 line(s) refused (every valid line was applied)"),
            "{stderr}"
        );

        // Export as CSV, import again: nothing changes.
        let csv = dir.path().join("out.csv").display().to_string();
        let (ok, stdout, stderr) =
            tokenhub(url, &["tokens", "export", "--format", "csv", "-o", &csv]);
        assert!(ok, "{stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("3 tokens exported"), "{stderr}");
        let text = std::fs::read_to_string(&csv).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.starts_with("country_code,party_id,uid,type,"));
        let (ok, _, stderr) = tokenhub(url, &["tokens", "import", &csv]);
        assert!(ok, "{stderr}");
        assert!(
            stderr.contains("4 lines: 0 created, 0 replaced, 3 unchanged"),
            "{stderr}"
        );

        // Only one party's lines with --party.
        let (ok, _, stderr) = tokenhub(url, &["tokens", "import", &tokens, "--party", "BE*EMP"]);
        assert!(!ok);
        assert!(
            stderr.contains("1 unchanged, 0 stale, 3 invalid"),
            "{stderr}"
        );
        assert!(
            stderr.contains("line 1: party_id: NL*ABC is not one of"),
            "{stderr}"
        );

        // Hub policy: block F1; the blocked export holds it alone.
        let policy = file(
            "policy.csv",
            "country_code,party_id,uid,blocked,block_reason\nNL,ABC,F1,true,lost\nNL,ABC,NOPE,true,lost\n",
        );
        let (ok, _, stderr) = tokenhub(url, &["tokens", "import", "--policy", &policy]);
        assert!(!ok);
        assert!(
            stderr.contains("3 lines: 1 changed, 0 unchanged, 1 invalid"),
            "{stderr}"
        );
        assert!(stderr.contains("line 3: uid: no such token"), "{stderr}");
        let (ok, stdout, _) = tokenhub(url, &["tokens", "export", "--blocked", "true"]);
        assert!(ok);
        let uids: Vec<String> = stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["uid"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(uids, ["F1"]);

        // A bad file: one clear line, nothing stored.
        let missing = dir.path().join("missing.ndjson").display().to_string();
        for (args, start) in [
            (vec!["tokens", "import", missing.as_str()], "error: "),
            (
                vec!["tokens", "import", &file("bad.csv", "uid,colour\nX,red\n")],
                "error: the file is not a valid Csv file: header: unknown column \"colour\"",
            ),
            (
                vec!["tokens", "export", "--party", "NLABC"],
                "error: --party: must be a party",
            ),
        ] {
            let (ok, _, stderr) = tokenhub(url, &args);
            assert!(!ok, "{args:?}");
            let last = stderr.trim_end().lines().last().unwrap_or_default();
            assert!(last.starts_with(start), "{args:?}: {stderr}");
            assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
        }
    }
}
