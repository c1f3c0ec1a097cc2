//! The OpenAPI document: the checked-in copy is what the code produces, every route is in it with
//! its security and errors, its hand-written schemas agree with the validators, and the app serves
//! it at `/openapi.json` and renders it at `/docs` without the Internet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::helpers::{
    openapi_error_statuses, openapi_json, spawn_app, validate_session, validate_session_2_2_1,
    validate_token, validate_token_2_2_1, Backend, TestApp, OPENAPI_BEARER_TOKEN,
    OPENAPI_CREDENTIALS_TOKEN,
};

const REGENERATE: &str =
    "run `UPDATE_OPENAPI=1 cargo test --test api openapi::` and commit openapi/openapi.json";

/// Every route the hub serves, as (method, OpenAPI path). Kept by hand on purpose: the tests below
/// check it against the document, against the route registrations in `src/` and against the
/// running app.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/console"),
    ("get", "/console/assets/console.css"),
    ("get", "/console/login"),
    ("get", "/console/callback"),
    ("get", "/console/callback/external"),
    ("post", "/console/logout"),
    ("get", "/console/signed-out"),
    ("get", "/console/tokens"),
    ("get", "/console/tokens/{country_code}/{party_id}/{uid}"),
    (
        "post",
        "/console/tokens/{country_code}/{party_id}/{uid}/block",
    ),
    (
        "post",
        "/console/tokens/{country_code}/{party_id}/{uid}/unblock",
    ),
    (
        "post",
        "/console/tokens/{country_code}/{party_id}/{uid}/policy",
    ),
    ("get", "/console/parties"),
    ("post", "/console/parties/invite"),
    (
        "post",
        "/console/parties/{country_code}/{party_id}/{role}/{action}",
    ),
    ("get", "/console/audit"),
    ("get", "/console/import"),
    ("post", "/console/import"),
    ("get", "/ocpi/versions"),
    ("get", "/ocpi/2.3.0"),
    ("get", "/ocpi/2.3.0/credentials"),
    ("post", "/ocpi/2.3.0/credentials"),
    ("put", "/ocpi/2.3.0/credentials"),
    ("delete", "/ocpi/2.3.0/credentials"),
    ("get", "/ocpi/2.3.0/hubclientinfo"),
    (
        "get",
        "/ocpi/2.3.0/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    ),
    (
        "put",
        "/ocpi/2.3.0/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    ),
    (
        "patch",
        "/ocpi/2.3.0/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    ),
    ("get", "/ocpi/2.3.0/sender/tokens"),
    ("post", "/ocpi/2.3.0/sender/tokens/{token_uid}/authorize"),
    ("get", "/ocpi/2.3.0/sender/sessions"),
    (
        "get",
        "/ocpi/2.3.0/receiver/sessions/{country_code}/{party_id}/{session_id}",
    ),
    (
        "put",
        "/ocpi/2.3.0/receiver/sessions/{country_code}/{party_id}/{session_id}",
    ),
    (
        "patch",
        "/ocpi/2.3.0/receiver/sessions/{country_code}/{party_id}/{session_id}",
    ),
    ("get", "/ocpi/2.2.1"),
    ("get", "/ocpi/2.2.1/credentials"),
    ("post", "/ocpi/2.2.1/credentials"),
    ("put", "/ocpi/2.2.1/credentials"),
    ("delete", "/ocpi/2.2.1/credentials"),
    ("get", "/ocpi/2.2.1/hubclientinfo"),
    (
        "get",
        "/ocpi/2.2.1/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    ),
    (
        "put",
        "/ocpi/2.2.1/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    ),
    (
        "patch",
        "/ocpi/2.2.1/receiver/tokens/{country_code}/{party_id}/{token_uid}",
    ),
    ("get", "/ocpi/2.2.1/sender/tokens"),
    ("post", "/ocpi/2.2.1/sender/tokens/{token_uid}/authorize"),
    ("get", "/ocpi/2.2.1/sender/sessions"),
    (
        "get",
        "/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}",
    ),
    (
        "put",
        "/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}",
    ),
    (
        "patch",
        "/ocpi/2.2.1/receiver/sessions/{country_code}/{party_id}/{session_id}",
    ),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/docs/{file}"),
    ("post", "/oauth/token"),
    ("post", "/oauth/revoke"),
    ("post", "/oauth/introspect"),
    ("get", "/oauth/jwks.json"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/oauth/authorize"),
    ("post", "/oauth/authorize/login"),
    ("post", "/oauth/authorize/totp"),
    ("post", "/oauth/authorize/consent"),
    ("get", "/admin/v1/whoami"),
    ("get", "/admin/v1/whoami/tokens:read"),
    ("get", "/admin/v1/whoami/tokens:write"),
    ("get", "/admin/v1/whoami/parties:read"),
    ("get", "/admin/v1/whoami/parties:write"),
    ("get", "/admin/v1/whoami/sessions:read"),
    ("get", "/admin/v1/whoami/audit:read"),
    ("get", "/admin/v1/whoami/clients:write"),
    ("get", "/admin/v1/tokens"),
    ("post", "/admin/v1/tokens/policy"),
    ("get", "/admin/v1/tokens/export"),
    ("post", "/admin/v1/tokens/import"),
    ("post", "/admin/v1/tokens/policy/import"),
    ("get", "/admin/v1/tokens/{country_code}/{party_id}/{uid}"),
    (
        "put",
        "/admin/v1/tokens/{country_code}/{party_id}/{uid}/policy",
    ),
    (
        "delete",
        "/admin/v1/tokens/{country_code}/{party_id}/{uid}/policy",
    ),
    ("get", "/admin/v1/audit/decisions"),
    ("get", "/admin/v1/audit/changes"),
    ("get", "/admin/v1/parties"),
    ("post", "/admin/v1/parties"),
    (
        "patch",
        "/admin/v1/parties/{country_code}/{party_id}/settings",
    ),
    ("get", "/admin/v1/agreements"),
    ("post", "/admin/v1/agreements"),
    ("delete", "/admin/v1/agreements"),
    ("get", "/admin/v1/clients"),
    ("post", "/admin/v1/clients"),
    ("post", "/admin/v1/clients/{client_id}/disable"),
    ("post", "/admin/v1/parties/{country_code}/{party_id}/rotate"),
    ("get", "/admin/v1/users"),
    ("post", "/admin/v1/users"),
    ("post", "/admin/v1/users/{username}/disable"),
];

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

fn checked_in_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json")
}

fn updating() -> bool {
    std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1")
}

fn document() -> Value {
    serde_json::from_str(&openapi_json()).expect("the document is JSON")
}

/// Every (method, path) of the document.
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut found = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                found.insert((method.clone(), path.clone()), operation);
            }
        }
    }
    found
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {reference}"));
            let target = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            resolve(doc, target)
        }
        None => value,
    }
}

#[test]
fn checked_in_document_is_what_the_code_produces() {
    let generated = openapi_json();
    let path = checked_in_path();
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let checked_in = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; {REGENERATE}", path.display()));
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "openapi/openapi.json differs from what the code produces (first at line {}:\n  checked in: {}\n  generated:  {}\n); {REGENERATE}",
            line + 1,
            checked_in.lines().nth(line).unwrap_or("<end of file>"),
            generated.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn document_header_names_openapi_3_1_and_the_crate() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "tokenhub");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn document_output_is_stable() {
    assert_eq!(openapi_json(), openapi_json(), "the output must be stable");
}

/// Every `$ref` anywhere in the document points at something.
#[test]
fn every_ref_resolves() {
    let doc = document();
    fn walk(doc: &Value, value: &Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key("$ref") {
                    resolve(doc, value);
                }
                map.values().for_each(|v| walk(doc, v));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v)),
            _ => {}
        }
    }
    walk(&doc, &doc);
}

/// The paths registered in `src/` (`web::resource("...")`, `cfg.route("...", web::get()...)`),
/// each with the methods of its `web::get()`, `web::put()`, ... routes.
fn registered_routes() -> BTreeSet<(String, String)> {
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    fn literal_after(text: &str) -> Option<&str> {
        let rest = text.strip_prefix('"')?;
        Some(&rest[..rest.find('"')?])
    }
    /// `{file:.*}` (actix) is `{file}` (OpenAPI).
    fn openapi_path(actix: &str) -> String {
        let mut out = String::new();
        let mut in_param = false;
        let mut skipping = false;
        for c in actix.chars() {
            match c {
                '{' => in_param = true,
                '}' => {
                    in_param = false;
                    skipping = false;
                }
                ':' if in_param => skipping = true,
                _ if skipping => continue,
                _ => {}
            }
            out.push(c);
        }
        out
    }
    fn methods(text: &str) -> Vec<String> {
        METHODS
            .iter()
            .filter(|m| text.contains(&format!("web::{m}()")))
            .map(|m| m.to_string())
            .collect()
    }

    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // The OCPI surface registers its resources inside scopes: `/ocpi` (src/ocpi/mod.rs) and
        // `/ocpi/{VERSION}` (each version's mod.rs, which declares its VERSION constant).
        let relative = file
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
            .unwrap();
        let prefix = if relative == Path::new("ocpi/mod.rs") {
            "/ocpi".to_owned()
        } else if relative.starts_with("ocpi") && relative.ends_with("mod.rs") {
            match text
                .split("pub const VERSION: &str = ")
                .nth(1)
                .and_then(literal_after)
            {
                Some(version) => format!("/ocpi/{version}"),
                None => String::new(),
            }
        } else {
            String::new()
        };
        // Resources: the methods are the routes up to the next registration.
        let chunks: Vec<&str> = text.split("web::resource(").skip(1).collect();
        for chunk in chunks {
            let Some(path) = literal_after(chunk) else {
                panic!("{}: web::resource( without a literal path", file.display());
            };
            let end = [chunk.find(".service("), chunk.find(';')]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(chunk.len());
            let body = &chunk[..end];
            let found = methods(body);
            assert!(
                !found.is_empty(),
                "{path}: no method found in its registration"
            );
            for method in found {
                routes.insert((method, openapi_path(&format!("{prefix}{path}"))));
            }
        }
        // Plain routes: `.route("/path", web::get()...)`.
        for chunk in text.split(".route(").skip(1) {
            if let Some(path) = literal_after(chunk) {
                let end = chunk.find(".to(").unwrap_or(chunk.len());
                let found = methods(&chunk[..end]);
                assert_eq!(found.len(), 1, "{path}: one method per route");
                routes.insert((found[0].clone(), openapi_path(path)));
            }
        }
    }
    routes
}

fn expected_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

#[test]
fn documented_operations_are_the_served_routes() {
    let doc = document();
    let expected = expected_routes();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    assert_eq!(
        documented, expected,
        "the document's operations differ from the routes the hub serves"
    );
}

#[test]
fn route_registrations_in_src_are_the_documented_routes() {
    let expected = expected_routes();
    let registered = registered_routes();
    assert_eq!(
        registered, expected,
        "the route registrations in src/ differ from the documented routes: document the new route (#[utoipa::path] and ApiDoc), add it to ROUTES, then {REGENERATE}"
    );
}

/// Calls `check` with each operation as "METHOD /path", its method, its path and itself.
fn each_operation(check: impl Fn(&str, &str, &str, &Value)) {
    let doc = document();
    for ((method, path), op) in operations(&doc) {
        let here = format!("{} {path}", method.to_uppercase());
        check(&here, &method, &path, op);
    }
}

/// The responses of an operation, by status.
fn responses(op: &Value) -> &Map<String, Value> {
    op["responses"].as_object().unwrap()
}

#[test]
fn credentials_token_scheme_is_the_authorization_header() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"][OPENAPI_CREDENTIALS_TOKEN];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "Authorization");
    assert!(scheme["description"]
        .as_str()
        .unwrap()
        .contains("Token <base64(credentials token)>"));
}

#[test]
fn every_operation_has_a_unique_operation_id() {
    let ids = std::cell::RefCell::new(BTreeSet::new());
    each_operation(|here, _, _, op| {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{here}: no operationId"));
        assert!(
            ids.borrow_mut().insert(id.to_owned()),
            "{here}: operationId {id} used twice"
        );
    });
}

#[test]
fn every_operation_has_a_summary_and_a_tag() {
    each_operation(|here, _, _, op| {
        assert!(op["summary"].is_string(), "{here}: no summary");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{here}: no tag"
        );
    });
}

/// An error response component is only used under its own HTTP status.
#[test]
fn error_responses_sit_under_their_own_status() {
    let statuses: BTreeMap<&str, u16> = openapi_error_statuses().into_iter().collect();
    each_operation(|here, _, _, op| {
        for (status, response) in responses(op) {
            if let Some(reference) = response["$ref"].as_str() {
                let name = reference.rsplit('/').next().unwrap();
                let expected = statuses
                    .get(name)
                    .unwrap_or_else(|| panic!("{here}: unknown response {name}"));
                assert_eq!(
                    status,
                    &expected.to_string(),
                    "{here}: {name} under {status}"
                );
            }
        }
    });
}

/// Every response says it echoes the request ids.
#[test]
fn every_response_documents_the_request_id_headers() {
    let doc = document();
    each_operation(|here, _, _, op| {
        for (status, response) in responses(op) {
            let headers = &resolve(&doc, response)["headers"];
            for id in ["X-Request-ID", "X-Correlation-ID"] {
                assert!(headers.get(id).is_some(), "{here} {status}: no {id} header");
            }
        }
    });
}

#[test]
fn ocpi_operations_need_the_credentials_token() {
    each_operation(|here, _, path, op| {
        if path.starts_with("/ocpi/") {
            assert_eq!(
                op["security"],
                json!([{ OPENAPI_CREDENTIALS_TOKEN: [] }]),
                "{here}: OCPI routes need the credentials token"
            );
        }
    });
}

#[test]
fn ocpi_operations_document_200_401_429_500_503() {
    each_operation(|here, _, path, op| {
        if path.starts_with("/ocpi/") {
            for status in ["200", "401", "429", "500", "503"] {
                assert!(
                    responses(op).contains_key(status),
                    "{here}: no {status} response"
                );
            }
        }
    });
}

#[test]
fn ocpi_401_is_an_error_envelope() {
    let doc = document();
    each_operation(|here, _, path, op| {
        if path.starts_with("/ocpi/") {
            let unauthorized = resolve(&doc, &responses(op)["401"]);
            assert_eq!(
                unauthorized["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorResponse",
                "{here}: 401 is an OCPI error envelope"
            );
        }
    });
}

#[test]
fn ocpi_operations_with_a_body_document_400_and_413() {
    each_operation(|here, _, path, op| {
        if path.starts_with("/ocpi/") && op.get("requestBody").is_some() {
            for status in ["400", "413"] {
                assert!(
                    responses(op).contains_key(status),
                    "{here}: a body route needs {status}"
                );
            }
        }
    });
}

#[test]
fn ocpi_writes_and_receiver_reads_document_403() {
    // The credentials module authenticates platforms, not parties: nothing there is another
    // party's to refuse.
    each_operation(|here, method, path, op| {
        let functional = !path.ends_with("/credentials");
        if path.starts_with("/ocpi/")
            && functional
            && (method != "get" || path.contains("/receiver/"))
        {
            assert!(responses(op).contains_key("403"), "{here}: no 403 response");
        }
    });
}

#[test]
fn non_ocpi_operations_need_no_credentials() {
    each_operation(|here, _, path, op| {
        if !path.starts_with("/ocpi/") && !path.starts_with("/admin/") {
            assert!(op.get("security").is_none(), "{here}: needs no credentials");
        }
    });
}

/// The management API takes an OAuth bearer token, and documents how it refuses one.
#[test]
fn admin_operations_need_the_bearer_token() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"][OPENAPI_BEARER_TOKEN];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    each_operation(|here, _, path, op| {
        if path.starts_with("/admin/") {
            assert_eq!(
                op["security"],
                json!([{ OPENAPI_BEARER_TOKEN: [] }]),
                "{here}"
            );
            assert!(
                responses(op).contains_key("200") || responses(op).contains_key("201"),
                "{here}: no 200 or 201"
            );
            assert!(responses(op).contains_key("401"), "{here}: no 401");
            // Every route but `whoami` needs a scope, and says which in its 403.
            if path.contains(':') || path != "/admin/v1/whoami" {
                assert!(responses(op).contains_key("403"), "{here}: no 403");
            }
        }
    });
}

#[test]
fn sender_and_receiver_operations_take_the_routing_headers() {
    each_operation(|here, _, path, op| {
        if path.contains("/receiver/") || path.contains("/sender/") {
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["$ref"].as_str())
                .collect();
            for header in [
                "OCPI-from-country-code",
                "OCPI-from-party-id",
                "OCPI-to-country-code",
                "OCPI-to-party-id",
            ] {
                let reference = format!("#/components/parameters/{header}");
                assert!(params.contains(&reference.as_str()), "{here}: no {header}");
            }
        }
    });
}

#[test]
fn token_list_documents_its_pagination_headers() {
    let doc = document();
    assert!(
        doc["paths"]["/ocpi/2.3.0/sender/tokens"]["get"]["responses"]["200"]["headers"]
            .as_object()
            .is_some_and(|h| ["X-Total-Count", "X-Limit", "Link"]
                .iter()
                .all(|name| h.contains_key(*name))),
        "the token list documents its pagination headers"
    );
}

/// The properties of a schema (following `$ref`), and whether each is required.
fn properties<'a>(doc: &'a Value, name: &str) -> Vec<(&'a str, &'a Value, bool)> {
    let schema = &doc["components"]["schemas"][name];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has no properties"))
        .iter()
        .map(|(k, v)| (k.as_str(), v, required.contains(&k.as_str())))
        .collect()
}

/// The schema of a property, through `$ref` and `oneOf: [X, null]`.
fn property_schema<'a>(doc: &'a Value, property: &'a Value) -> &'a Value {
    let property = resolve(doc, property);
    if let Some(variants) = property["oneOf"].as_array() {
        let non_null: Vec<&Value> = variants.iter().filter(|v| v["type"] != "null").collect();
        if let [only] = non_null.as_slice() {
            return resolve(doc, only);
        }
    }
    property
}

/// Checks a hand-written schema against the validator that really reads the body: its example
/// passes; leaving out a required property fails, an optional one passes; a string one character
/// longer than `maxLength` fails; every `enum` value passes, another one fails.
fn check_schema_against_validator(
    doc: &Value,
    name: &str,
    validate: impl Fn(Map<String, Value>) -> Result<(), String>,
) {
    let example = doc["components"]["schemas"][name]["examples"][0]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has no example"))
        .clone();
    validate(example.clone()).unwrap_or_else(|e| panic!("{name} example refused: {e}"));
    for (field, property, required) in properties(doc, name) {
        let mut without = example.clone();
        if without.remove(field).is_some() {
            let outcome = validate(without);
            assert_eq!(
                outcome.is_err(),
                required,
                "{name}.{field}: documented as {}required, the validator says {outcome:?}",
                if required { "" } else { "not " }
            );
        }
        let schema = property_schema(doc, property);
        if let Some(max) = schema["maxLength"].as_u64() {
            let mut long = example.clone();
            long.insert(field.into(), json!("A".repeat(max as usize + 1)));
            assert!(
                validate(long).is_err(),
                "{name}.{field}: {} characters accepted, documented maxLength {max}",
                max + 1
            );
        }
        if let Some(values) = schema["enum"].as_array() {
            for value in values {
                let mut with = example.clone();
                with.insert(field.into(), value.clone());
                validate(with).unwrap_or_else(|e| panic!("{name}.{field} = {value} refused: {e}"));
            }
            let mut with = example.clone();
            with.insert(field.into(), json!("NOT_A_DOCUMENTED_VALUE"));
            assert!(
                validate(with).is_err(),
                "{name}.{field}: undocumented value accepted"
            );
        }
    }
}

#[test]
fn token_schema_agrees_with_validate_token() {
    let doc = document();
    check_schema_against_validator(&doc, "Token", |body| {
        validate_token(body).map(|_| ()).map_err(|e| e.to_string())
    });
}

#[test]
fn session_schema_agrees_with_validate_session() {
    let doc = document();
    check_schema_against_validator(&doc, "Session", |body| {
        validate_session(body)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn token_schema_2_2_1_agrees_with_what_a_2_2_1_push_accepts() {
    let doc = document();
    check_schema_against_validator(&doc, "v2_2_1.Token", validate_token_2_2_1);
}

#[test]
fn session_schema_2_2_1_agrees_with_what_a_2_2_1_push_accepts() {
    let doc = document();
    check_schema_against_validator(&doc, "v2_2_1.Session", validate_session_2_2_1);
}

/// The 2.2.1 `Price` is the one a 2.2.1 session push accepts, and 2.3.0's is not.
#[test]
fn price_schema_2_2_1_is_the_one_a_2_2_1_push_accepts() {
    let doc = document();
    let mut session = doc["components"]["schemas"]["v2_2_1.Session"]["examples"][0].clone();
    let required = &doc["components"]["schemas"]["v2_2_1.Price"]["required"];
    assert_eq!(required, &json!(["excl_vat"]));
    session["total_cost"] = json!({"excl_vat": 1.0, "incl_vat": 1.21});
    validate_session_2_2_1(session.as_object().unwrap().clone()).unwrap();
    session["total_cost"] = json!({"before_taxes": 1.0});
    assert!(validate_session_2_2_1(session.as_object().unwrap().clone()).is_err());
}

/// TokenType is open: every documented example is a valid type, and so is an unknown one.
#[test]
fn token_type_is_open() {
    let doc = document();
    let mut token = doc["components"]["schemas"]["Token"]["examples"][0].clone();
    for value in doc["components"]["schemas"]["TokenType"]["examples"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&json!("SOMETHING_NEW")])
    {
        token["type"] = value.clone();
        validate_token(token.as_object().unwrap().clone()).unwrap();
    }
}

#[test]
fn unknown_fields_are_documented_as_allowed() {
    let doc = document();
    for name in ["Token", "TokenPatch", "Session", "SessionPatch"] {
        assert!(
            doc["components"]["schemas"][name]
                .get("additionalProperties")
                .is_some_and(|a| a != &json!(false)),
            "{name} keeps unknown fields"
        );
    }
}

#[test]
fn unknown_token_fields_are_kept() {
    let doc = document();
    let mut token = doc["components"]["schemas"]["Token"]["examples"][0].clone();
    token["x_vendor"] = json!({"kept": true});
    let write = validate_token(token.as_object().unwrap().clone()).unwrap();
    assert_eq!(write.body["x_vendor"], json!({"kept": true}));
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

/// The value of every `src="..."` and `href="..."` attribute.
fn linked(html: &str) -> Vec<String> {
    let mut links = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for chunk in html.split(attribute).skip(1) {
            if let Some(end) = chunk.find('"') {
                links.push(chunk[..end].to_owned());
            }
        }
    }
    links
}

async fn sqlite_app() -> TestApp {
    spawn_app(Backend::Sqlite)
        .await
        .expect("SQLite is always there")
}

/// The page at `/docs`.
async fn docs_page(app: &TestApp) -> String {
    get(app, "/docs").await.text().await.unwrap()
}

async fn served_document(app: &TestApp) -> String {
    get(app, "/openapi.json").await.text().await.unwrap()
}

async fn swagger_initializer(app: &TestApp) -> String {
    get(app, "/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_json_is_served_as_json_with_a_request_id() {
    let app = sqlite_app().await;
    let response = get(&app, "/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_document_is_what_the_code_produces() {
    let app = sqlite_app().await;
    let served = served_document(&app).await;
    assert_eq!(served, openapi_json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_document_is_the_checked_in_copy() {
    let app = sqlite_app().await;
    let served = served_document(&app).await;
    if !updating() {
        let checked_in = std::fs::read_to_string(checked_in_path()).unwrap();
        assert!(
            served == checked_in,
            "GET /openapi.json differs from openapi/openapi.json; {REGENERATE}"
        );
    }
}

/// `/docs` and `/docs/` (trimmed by the app to one route) give the same page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_with_and_without_a_slash_give_the_same_html_page() {
    let app = sqlite_app().await;
    let mut pages = Vec::new();
    for path in ["/docs", "/docs/"] {
        let response = get(&app, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        pages.push(response.text().await.unwrap());
    }
    assert_eq!(pages[0], pages[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_is_swagger_ui_based_at_docs() {
    let app = sqlite_app().await;
    let html = &docs_page(&app).await;
    assert!(html.contains("id=\"swagger-ui\""), "{html}");
    assert!(html.contains("<base href=\"/docs/\""), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_loads_nothing_remote() {
    let app = sqlite_app().await;
    let html = &docs_page(&app).await;
    for remote in ["http://", "https://", "=\"//"] {
        assert!(
            !html.contains(remote),
            "the page must not load {remote} assets:\n{html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_links_the_swagger_ui_bundle() {
    let app = sqlite_app().await;
    let assets = linked(&docs_page(&app).await);
    assert!(
        assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")),
        "{assets:?}"
    );
}

/// Every asset the page links to is served by the hub, from under /docs/, and its CSS loads
/// nothing remote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_assets_are_served_by_the_hub() {
    let app = sqlite_app().await;
    let assets = linked(&docs_page(&app).await);
    for asset in assets.iter().filter(|a| !a.starts_with('/')) {
        let name = asset.trim_start_matches("./");
        let response = get(&app, &format!("/docs/{name}")).await;
        assert_eq!(response.status(), 200, "/docs/{name}");
        if name.ends_with(".css") {
            let css = response.text().await.unwrap();
            for remote in ["url(http", "url(\"http", "url('http", "@import"] {
                assert!(
                    !css.contains(remote),
                    "{name} loads a remote asset ({remote})"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_reads_this_hubs_document() {
    let app = sqlite_app().await;
    let initializer = swagger_initializer(&app).await;
    assert!(initializer.contains("\"/openapi.json\""), "{initializer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_online_validator_is_off() {
    let app = sqlite_app().await;
    let initializer = swagger_initializer(&app).await;
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "{initializer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_initializer_loads_nothing_remote() {
    let app = sqlite_app().await;
    let initializer = swagger_initializer(&app).await;
    for remote in ["http://", "https://"] {
        assert!(!initializer.contains(remote), "{initializer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_docs_file_is_404() {
    let app = sqlite_app().await;
    let missing = get(&app, "/docs/no-such-file.js").await;
    assert_eq!(missing.status(), 404);
}

/// A concrete URL path for an OpenAPI path.
fn sample(path: &str) -> String {
    path.replace("{country_code}", "NL")
        .replace("{party_id}", "ABC")
        .replace("{token_uid}", "PROBE1")
        .replace("{session_id}", "S-PROBE")
        .replace("{file}", "index.css")
}

/// The running app routes every documented operation to a handler (not the 404 of unknown paths,
/// not 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_routes_every_documented_operation() {
    let app = sqlite_app().await;
    let doc = document();
    for (method, path) in operations(&doc).into_keys() {
        let url = app.url(&sample(&path));
        let response = app
            .client
            .request(method.to_uppercase().parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path} is not routed");
        assert!(
            !(status == 404 && text.contains("no such endpoint")),
            "{method} {path} is not routed: {text}"
        );
    }
}

/// No undocumented method on a documented path reaches a handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_routes_no_undocumented_method() {
    let app = sqlite_app().await;
    let doc = document();
    let paths: BTreeSet<String> = operations(&doc).into_keys().map(|(_, path)| path).collect();
    for path in paths {
        let item = &doc["paths"][&path];
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let response = app
                .client
                .request(
                    method.to_uppercase().parse().unwrap(),
                    app.url(&sample(&path)),
                )
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(
                status == 405 || (status == 404 && text.contains("no such endpoint")),
                "{method} {path} answers {status} ({text}) but is not documented"
            );
        }
    }
}
