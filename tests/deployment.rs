//! The container deployment as operators get it: `docker-compose.yml` and the `Dockerfile`,
//! checked for what they rely on (health checks that work without a shell, restarts, the database
//! password as a secret, nothing but the TLS proxy published, pinned images), without a Docker
//! engine.

use serde_yaml_ng::{Mapping, Value};

const HEALTHCHECK: [&str; 3] = ["CMD", "/usr/local/bin/tokenhub", "healthcheck"];

fn read(file: &str) -> String {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    serde_yaml_ng::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

fn services(compose: &Value) -> Vec<(String, &Mapping)> {
    compose["services"]
        .as_mapping()
        .expect("a services mapping")
        .iter()
        .map(|(name, service)| {
            let name = name.as_str().unwrap().to_owned();
            let service = service
                .as_mapping()
                .unwrap_or_else(|| panic!("service {name} is a mapping"));
            (name, service)
        })
        .collect()
}

/// The services that run the hub: those built from this repository's Dockerfile.
fn hubs(compose: &Value) -> Vec<(String, &Mapping)> {
    let hubs: Vec<_> = services(compose)
        .into_iter()
        .filter(|(_, s)| s.contains_key("build"))
        .collect();
    assert!(hubs.len() >= 2, "the hub services");
    hubs
}

fn env<'a>(service: &'a Mapping, key: &str) -> Option<&'a str> {
    service
        .get("environment")?
        .as_mapping()
        .expect("environment as a mapping")
        .get(key)?
        .as_str()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_sequence)
        .map(|items| {
            items
                .iter()
                .map(|i| i.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn uses_postgres(service: &Mapping) -> bool {
    env(service, "DATABASE_URL").is_some_and(|u| u.starts_with("postgres://"))
}

/// The review found a bash-only `CMD-SHELL` check that always failed under `/bin/sh`: every
/// check is exec form, and the hubs' runs the binary itself.
#[test]
fn health_checks_are_exec_form_and_the_hub_checks_itself() {
    let compose = compose();
    for (name, service) in services(&compose) {
        if let Some(check) = service.get("healthcheck") {
            let test = strings(check.get("test"));
            assert_eq!(test.first().map(String::as_str), Some("CMD"), "{name}");
        }
    }
    for (name, hub) in hubs(&compose) {
        assert_eq!(
            strings(hub["healthcheck"].get("test")),
            HEALTHCHECK,
            "{name}"
        );
    }
    let postgres = strings(compose["services"]["postgres"]["healthcheck"].get("test"));
    assert_eq!(postgres[..2], ["CMD", "pg_isready"]);

    let dockerfile = read("Dockerfile");
    let healthcheck = dockerfile
        .split("\nHEALTHCHECK ")
        .nth(1)
        .expect("the image has a HEALTHCHECK");
    let cmd = healthcheck
        .split_once(" CMD ")
        .expect("HEALTHCHECK ... CMD")
        .1;
    assert!(
        cmd.starts_with(r#"["/usr/local/bin/tokenhub", "healthcheck"]"#),
        "exec form: {cmd}"
    );
}

/// A hub started before PostgreSQL answers exits non-zero; the restart policy brings it back.
#[test]
fn services_restart_and_hubs_wait_for_postgres() {
    let compose = compose();
    for (name, service) in services(&compose) {
        assert_eq!(
            service.get("restart").and_then(Value::as_str),
            Some("unless-stopped"),
            "{name}"
        );
    }
    let postgres_hubs: Vec<_> = hubs(&compose)
        .into_iter()
        .filter(|(_, hub)| uses_postgres(hub))
        .collect();
    assert!(postgres_hubs.len() >= 2);
    for (name, hub) in postgres_hubs {
        assert_eq!(
            hub["depends_on"]["postgres"]["condition"].as_str(),
            Some("service_healthy"),
            "{name}"
        );
    }
}

#[test]
fn the_database_password_is_a_secret_file() {
    let compose = compose();
    let secret = &compose["secrets"]["db_password"];
    assert!(secret["file"].as_str().is_some(), "a file-based secret");
    let mounted = "/run/secrets/db_password";

    let postgres = compose["services"]["postgres"].as_mapping().unwrap();
    assert_eq!(env(postgres, "POSTGRES_PASSWORD_FILE"), Some(mounted));
    assert_eq!(env(postgres, "POSTGRES_PASSWORD"), None);
    assert!(strings(postgres.get("secrets")).contains(&"db_password".to_owned()));

    for (name, hub) in hubs(&compose)
        .into_iter()
        .filter(|(_, hub)| uses_postgres(hub))
    {
        let url = url::Url::parse(env(hub, "DATABASE_URL").unwrap()).unwrap();
        assert_eq!(url.password(), None, "{name}: no password in DATABASE_URL");
        assert_eq!(
            env(hub, "TOKENHUB_DATABASE__PASSWORD_FILE"),
            Some(mounted),
            "{name}"
        );
        assert!(
            strings(hub.get("secrets")).contains(&"db_password".to_owned()),
            "{name}"
        );
    }
}

/// The PostgreSQL hubs refuse to start without a master key, and must share one: both read the
/// same secret file, and no key sits in the environment (where `docker inspect` shows it).
#[test]
fn the_postgres_hubs_share_a_master_key_file() {
    let compose = compose();
    assert!(
        compose["secrets"]["master_key"]["file"].as_str().is_some(),
        "a file-based secret"
    );
    for (name, hub) in hubs(&compose)
        .into_iter()
        .filter(|(_, hub)| uses_postgres(hub))
    {
        assert_eq!(
            env(hub, "TOKENHUB_SECRETS__KEY_FILE"),
            Some("/run/secrets/master_key"),
            "{name}"
        );
        assert_eq!(env(hub, "TOKENHUB_SECRETS__KEY"), None, "{name}");
        assert!(
            strings(hub.get("secrets")).contains(&"master_key".to_owned()),
            "{name}"
        );
    }
}

/// Only the TLS proxy publishes ports, and it does not forward `/metrics`.
#[test]
fn only_the_tls_proxy_is_published_and_metrics_stay_inside() {
    let compose = compose();
    let published: Vec<_> = services(&compose)
        .into_iter()
        .filter(|(_, s)| s.contains_key("ports"))
        .collect();
    assert_eq!(published.len(), 1, "one published service");
    let (name, proxy) = &published[0];
    assert!(
        proxy["image"].as_str().unwrap().starts_with("caddy:"),
        "{name} is the Caddy proxy"
    );
    for port in strings(proxy.get("ports")) {
        let container_port = port.rsplit(':').next().unwrap();
        assert!(
            ["443", "80"].contains(&container_port),
            "{name} publishes {port}"
        );
    }
    for (name, hub) in hubs(&compose) {
        assert!(!hub.contains_key("ports"), "{name} is published");
        assert!(!hub.contains_key("network_mode"), "{name}");
    }

    let caddyfile = compose["configs"]["caddyfile"]["content"].as_str().unwrap();
    let lines: Vec<&str> = caddyfile.lines().map(str::trim).collect();
    let blocked = lines
        .iter()
        .position(|l| l.starts_with("respond /metrics* 404"))
        .expect("Caddy answers /metrics itself with 404");
    let proxied = lines
        .iter()
        .position(|l| l.starts_with("reverse_proxy "))
        .expect("Caddy forwards to the hubs");
    assert!(blocked < proxied, "{caddyfile}");
}

#[test]
fn the_sqlite_variant_keeps_its_database_in_a_named_volume() {
    let compose = compose();
    let (name, sqlite) = hubs(&compose)
        .into_iter()
        .find(|(_, hub)| env(hub, "DATABASE_URL").is_some_and(|u| u.starts_with("sqlite://")))
        .expect("a SQLite hub service");
    assert!(
        strings(sqlite.get("profiles")).contains(&"sqlite".to_owned()),
        "{name} runs only on request"
    );
    let path = env(sqlite, "DATABASE_URL")
        .unwrap()
        .strip_prefix("sqlite://")
        .unwrap();
    let volume = strings(sqlite.get("volumes"))
        .into_iter()
        .find_map(|v| {
            let (source, target) = v.split_once(':')?;
            path.starts_with(&format!("{target}/"))
                .then(|| source.to_owned())
        })
        .unwrap_or_else(|| panic!("{name}: a volume holds {path}"));
    assert!(
        compose["volumes"]
            .as_mapping()
            .unwrap()
            .contains_key(volume.as_str()),
        "{volume} is a named volume"
    );
}

#[test]
fn every_image_is_pinned_to_an_exact_version() {
    let compose = compose();
    let mut images: Vec<String> = services(&compose)
        .into_iter()
        .filter_map(|(_, s)| s.get("image").and_then(Value::as_str).map(str::to_owned))
        .collect();
    images.extend(read("Dockerfile").lines().filter_map(|line| {
        let image = line.strip_prefix("FROM ")?.split_whitespace().next()?;
        Some(image.to_owned())
    }));
    assert!(images.len() >= 4, "{images:?}");
    for image in &images {
        assert!(pinned(image), "{image} is not pinned to an exact version");
    }
    for loose in [
        "postgres:16",
        "postgres:latest",
        "caddy",
        "caddy:2.11",
        "nginx:1.27-alpine",
        "rust:1-bookworm",
        "rust:1.95-slim-bookworm",
        "debian:bookworm-slim",
    ] {
        assert!(!pinned(loose), "{loose} counted as pinned");
    }
}

/// A digest, or a tag naming one release: `x.y.z` (PostgreSQL numbers releases `x.y`), or a
/// dated Debian snapshot such as `bookworm-20260824-slim`.
fn pinned(image: &str) -> bool {
    if image.contains("@sha256:") {
        return true;
    }
    let last = image.rsplit('/').next().unwrap();
    let Some((name, tag)) = last.split_once(':') else {
        return false;
    };
    let numeric_parts = |version: &str| {
        let parts: Vec<&str> = version.split('.').collect();
        if parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            parts.len()
        } else {
            0
        }
    };
    let version = tag.split('-').next().unwrap();
    let wanted = if name == "postgres" { 2 } else { 3 };
    numeric_parts(version) >= wanted
        || (name == "debian"
            && tag
                .split('-')
                .any(|p| p.len() == 8 && numeric_parts(p) == 1))
}

/// Behind Caddy every client would share Caddy's address, and so one budget of failed
/// authentications: the hubs believe the `X-Forwarded-For` of the private networks Caddy calls
/// from, and of nothing that could be reached from outside.
#[test]
fn hubs_trust_only_the_private_proxy_network() {
    let private: Vec<ipnet::IpNet> = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    let compose = compose();
    for (name, hub) in hubs(&compose) {
        let value = env(hub, "TOKENHUB_HTTP__TRUSTED_PROXIES")
            .unwrap_or_else(|| panic!("{name} sets http.trusted_proxies"));
        let trusted: Vec<ipnet::IpNet> = serde_json::from_str(value)
            .unwrap_or_else(|e| panic!("{name}: {value} is a list of CIDR blocks: {e}"));
        assert!(!trusted.is_empty(), "{name}");
        for net in trusted {
            assert!(
                private.iter().any(|p| p.contains(&net)),
                "{name} trusts {net}, which is not private"
            );
        }
    }
}
