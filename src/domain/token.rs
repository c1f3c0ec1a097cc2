//! The OCPI `Token` object: validation of what eMSPs push, and the effective token the hub serves.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use validator::Validate;

use super::datetime::{format_ocpi_datetime, parse_ocpi_datetime};
use super::ids::{check_ci_string, check_string, PartyKey, TokenUid};
use super::{from_json, ValidationError};

/// `TokenType` is an OpenEnum in 2.3.0: unknown values are kept and compared exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenType(String);

impl TokenType {
    pub const MAX_LEN: usize = 255;

    pub fn rfid() -> Self {
        Self("RFID".into())
    }

    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                field,
                "must be a token type of 1 to 255 characters",
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// `?type=` defaults to RFID on receiver calls and `/authorize`.
    pub fn from_query(value: Option<&str>) -> Result<Self, ValidationError> {
        match value {
            None => Ok(Self::rfid()),
            Some(v) => Self::parse("type", v),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `WhitelistType` (closed enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Whitelist {
    Always,
    Allowed,
    AllowedOffline,
    Never,
}

impl Whitelist {
    pub fn as_str(self) -> &'static str {
        match self {
            Whitelist::Always => "ALWAYS",
            Whitelist::Allowed => "ALLOWED",
            Whitelist::AllowedOffline => "ALLOWED_OFFLINE",
            Whitelist::Never => "NEVER",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "ALWAYS" => Some(Whitelist::Always),
            "ALLOWED" => Some(Whitelist::Allowed),
            "ALLOWED_OFFLINE" => Some(Whitelist::AllowedOffline),
            "NEVER" => Some(Whitelist::Never),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProfileType {
    Cheap,
    Fast,
    Green,
    Regular,
}

/// The identity of a token in the registry: (country_code, party_id, uid, type).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub owner: PartyKey,
    pub uid: TokenUid,
    pub token_type: TokenType,
}

fn ci2(v: &str) -> Result<(), validator::ValidationError> {
    ci(v, 2)
}
fn ci3(v: &str) -> Result<(), validator::ValidationError> {
    ci(v, 3)
}
fn ci36(v: &str) -> Result<(), validator::ValidationError> {
    ci(v, 36)
}
fn ci(v: &str, max: usize) -> Result<(), validator::ValidationError> {
    check_ci_string("", v, max).map_err(|e| with_message(e.message))
}
fn s64(v: &str) -> Result<(), validator::ValidationError> {
    check_string("", v, 64).map_err(|e| with_message(e.message))
}
fn s2(v: &str) -> Result<(), validator::ValidationError> {
    check_string("", v, 2).map_err(|e| with_message(e.message))
}
fn with_message(message: String) -> validator::ValidationError {
    validator::ValidationError::new("ocpi").with_message(message.into())
}

#[derive(Debug, Deserialize, Validate)]
struct EnergyContractDoc {
    #[validate(custom(function = "s64"))]
    supplier_name: String,
    #[validate(custom(function = "s64"))]
    contract_id: Option<String>,
}

/// The typed view of a pushed Token, used only to check it; the JSON itself is what is stored.
#[derive(Debug, Deserialize, Validate)]
struct TokenDoc {
    #[validate(custom(function = "ci2"))]
    country_code: String,
    #[validate(custom(function = "ci3"))]
    party_id: String,
    #[validate(custom(function = "ci36"))]
    uid: String,
    #[serde(rename = "type")]
    token_type: String,
    #[validate(custom(function = "ci36"))]
    contract_id: String,
    #[validate(custom(function = "s64"))]
    visual_number: Option<String>,
    #[validate(custom(function = "s64"))]
    issuer: String,
    #[validate(custom(function = "ci36"))]
    group_id: Option<String>,
    valid: bool,
    whitelist: Whitelist,
    #[validate(custom(function = "s2"))]
    language: Option<String>,
    #[expect(
        dead_code,
        reason = "checked by serde: the closed enum rejects unknown values"
    )]
    default_profile_type: Option<ProfileType>,
    #[validate(nested)]
    energy_contract: Option<EnergyContractDoc>,
    last_updated: String,
}

/// A complete, valid Token as pushed by its eMSP.
#[derive(Clone, Debug)]
pub struct TokenWrite {
    pub key: TokenKey,
    pub valid: bool,
    pub whitelist: Whitelist,
    pub last_updated: DateTime<Utc>,
    /// The document exactly as pushed (unknown fields included): the receiver `GET` serves it back.
    pub body: Map<String, Value>,
}

/// Checks a complete Token document (PUT body, or the result of applying a PATCH).
pub fn validate_token(body: Map<String, Value>) -> Result<TokenWrite, ValidationError> {
    let doc: TokenDoc = from_json(Value::Object(body.clone()))?;
    doc.validate().map_err(first_validator_error)?;
    let owner = PartyKey::parse(&doc.country_code, &doc.party_id)?;
    let key = TokenKey {
        owner,
        uid: TokenUid::parse("uid", &doc.uid)?,
        token_type: TokenType::parse("type", &doc.token_type)?,
    };
    let last_updated = parse_ocpi_datetime("last_updated", &doc.last_updated)?;
    Ok(TokenWrite {
        key,
        valid: doc.valid,
        whitelist: doc.whitelist,
        last_updated,
        body,
    })
}

/// Turns the derive's error tree into one message naming the first offending field.
pub fn first_validator_error(errors: validator::ValidationErrors) -> ValidationError {
    fn walk(prefix: &str, errors: &validator::ValidationErrors) -> Option<ValidationError> {
        let mut fields: Vec<_> = errors.errors().iter().collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        for (name, kind) in fields {
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            match kind {
                validator::ValidationErrorsKind::Field(list) => {
                    if let Some(e) = list.first() {
                        let msg = e
                            .message
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| e.code.to_string());
                        return Some(ValidationError::new(path, msg));
                    }
                }
                validator::ValidationErrorsKind::Struct(inner) => {
                    if let Some(e) = walk(&path, inner) {
                        return Some(e);
                    }
                }
                validator::ValidationErrorsKind::List(items) => {
                    for (i, inner) in items {
                        if let Some(e) = walk(&format!("{path}[{i}]"), inner) {
                            return Some(e);
                        }
                    }
                }
            }
        }
        None
    }
    walk("", &errors).unwrap_or_else(|| ValidationError::new("", "invalid object"))
}

/// Applies a PATCH to a stored Token document, JSON merge-patch style: absent fields stay, `null`
/// clears an optional field. The identifying fields may be repeated but not changed.
pub fn apply_token_patch(
    stored: &Map<String, Value>,
    patch: Map<String, Value>,
    key: &TokenKey,
) -> Result<TokenWrite, ValidationError> {
    if !patch.contains_key("last_updated") || patch["last_updated"].is_null() {
        return Err(ValidationError::new(
            "last_updated",
            "is required in a PATCH",
        ));
    }
    let mut merged = stored.clone();
    for (name, value) in patch {
        if value.is_null() {
            merged.remove(&name);
        } else {
            merged.insert(name, value);
        }
    }
    let write = validate_token(merged)?;
    if write.key != *key {
        let field = if write.key.owner != key.owner {
            "country_code/party_id"
        } else if write.key.uid != key.uid {
            "uid"
        } else {
            "type"
        };
        return Err(ValidationError::new(
            field,
            "a PATCH cannot change the token's identity",
        ));
    }
    Ok(write)
}

/// The hub's own policy for one token, set by admins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubPolicy {
    pub blocked: bool,
    pub block_reason: Option<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub max_concurrent: Option<u32>,
    pub whitelist_override: Option<Whitelist>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl HubPolicy {
    /// Whether `now` lies in the hub validity window (`valid_from` included, `valid_until` not).
    pub fn in_window(&self, now: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|from| now >= from)
            && self.valid_until.is_none_or(|until| now < until)
    }

    /// The latest instant up to `now` at which the window opened or closed.
    fn last_window_edge(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [self.valid_from, self.valid_until]
            .into_iter()
            .flatten()
            .filter(|edge| *edge <= now)
            .max()
    }
}

/// The token the sender list, `/authorize` and pushes to CPOs serve: as pushed, with hub policy
/// applied at `now` (blocked, suspended owner or outside the hub validity window → `valid: false`;
/// whitelist override) and `last_updated` the latest of the eMSP's, `changed_at` (the stored
/// `effective_updated`: policy changes, suspensions), the policy change and the window's last
/// opening or closing up to `now` — so it moves at the instant the window opens or closes, whether
/// or not the scheduler has run yet.
pub fn effective_token(
    pushed: &Map<String, Value>,
    pushed_last_updated: DateTime<Utc>,
    changed_at: DateTime<Utc>,
    policy: &HubPolicy,
    owner_suspended: bool,
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut token = pushed.clone();
    if policy.blocked || owner_suspended || !policy.in_window(now) {
        token.insert("valid".into(), Value::Bool(false));
    }
    if let Some(w) = policy.whitelist_override {
        token.insert("whitelist".into(), Value::String(w.as_str().into()));
    }
    let changed = [
        Some(changed_at),
        policy.updated_at,
        policy.last_window_edge(now),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(changed_at);
    if changed > pushed_last_updated {
        token.insert(
            "last_updated".into(),
            Value::String(format_ocpi_datetime(&changed)),
        );
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Map<String, Value> {
        json!({
            "country_code": "NL", "party_id": "ABC", "uid": "04A1B2C3", "type": "RFID",
            "contract_id": "NL-ABC-C00012345-7", "issuer": "ABC Mobility", "valid": true,
            "whitelist": "ALLOWED", "last_updated": "2025-03-01T09:15:00Z",
            "some_extension": {"kept": true}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn valid_token_keeps_unknown_fields() {
        let w = validate_token(sample()).unwrap();
        assert_eq!(w.key.uid.key(), "04A1B2C3");
        assert!(w.body.contains_key("some_extension"));
    }

    #[test]
    fn unknown_token_types_are_kept_exactly() {
        let mut t = sample();
        t.insert("type".into(), json!("rfid"));
        let w = validate_token(t).unwrap();
        assert_eq!(w.key.token_type.as_str(), "rfid");
        assert_ne!(w.key.token_type, TokenType::rfid());
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("uid", json!("x".repeat(37)), "uid"),
            ("issuer", json!("y".repeat(65)), "issuer"),
            ("whitelist", json!("SOMETIMES"), "whitelist"),
            ("valid", json!("yes"), "valid"),
            (
                "last_updated",
                json!("2025-03-01T09:15:00+01:00"),
                "last_updated",
            ),
            ("country_code", json!("NLD"), "country_code"),
            (
                "energy_contract",
                json!({"supplier_name": "z".repeat(65)}),
                "energy_contract.supplier_name",
            ),
            (
                "default_profile_type",
                json!("TURBO"),
                "default_profile_type",
            ),
        ];
        for (field, value, expected) in cases {
            let mut t = sample();
            t.insert(field.into(), value);
            let err = validate_token(t).unwrap_err();
            assert_eq!(err.field, expected, "{err}");
        }
        let mut t = sample();
        t.remove("issuer");
        let err = validate_token(t).unwrap_err();
        assert!(err.to_string().contains("issuer"), "{err}");
    }

    #[test]
    fn patch_merges_clears_and_guards_identity() {
        let stored = sample();
        let key = validate_token(stored.clone()).unwrap().key;
        let patch =
            json!({"valid": false, "last_updated": "2025-03-02T12:00:00Z", "some_extension": null});
        let w = apply_token_patch(&stored, patch.as_object().unwrap().clone(), &key).unwrap();
        assert!(!w.valid);
        assert!(!w.body.contains_key("some_extension"));

        let no_ts = json!({"valid": false});
        let err = apply_token_patch(&stored, no_ts.as_object().unwrap().clone(), &key).unwrap_err();
        assert_eq!(err.field, "last_updated");

        let clear_required = json!({"issuer": null, "last_updated": "2025-03-02T12:00:00Z"});
        assert!(
            apply_token_patch(&stored, clear_required.as_object().unwrap().clone(), &key).is_err()
        );

        let change_uid = json!({"uid": "OTHER", "last_updated": "2025-03-02T12:00:00Z"});
        let err =
            apply_token_patch(&stored, change_uid.as_object().unwrap().clone(), &key).unwrap_err();
        assert_eq!(err.field, "uid");
    }

    #[test]
    fn effective_token_applies_policy() {
        let at = |s: &str| parse_ocpi_datetime("x", s).unwrap();
        let pushed = sample();
        let pushed_at = at("2025-03-01T09:15:00Z");
        let now = at("2025-05-01T00:00:00Z");
        let policy = HubPolicy {
            blocked: true,
            whitelist_override: Some(Whitelist::Never),
            updated_at: Some(at("2025-04-01T00:00:00Z")),
            ..HubPolicy::default()
        };
        let t = effective_token(&pushed, pushed_at, pushed_at, &policy, false, now);
        assert_eq!(t["valid"], json!(false));
        assert_eq!(t["whitelist"], json!("NEVER"));
        assert_eq!(t["last_updated"], json!("2025-04-01T00:00:00.000Z"));
        let plain = HubPolicy::default();
        let untouched = effective_token(&pushed, pushed_at, pushed_at, &plain, false, now);
        assert_eq!(untouched, pushed);
        let suspended_at = at("2025-04-15T00:00:00Z");
        let suspended = effective_token(&pushed, pushed_at, suspended_at, &plain, true, now);
        assert_eq!(suspended["valid"], json!(false));
        assert_eq!(suspended["last_updated"], json!("2025-04-15T00:00:00.000Z"));
    }

    /// Outside the hub validity window the token is not valid, and `last_updated` is the instant
    /// the window last opened or closed (`valid_from` included, `valid_until` excluded).
    #[test]
    fn effective_token_follows_the_validity_window() {
        let at = |s: &str| parse_ocpi_datetime("x", s).unwrap();
        let pushed = sample();
        let pushed_at = at("2025-03-01T09:15:00Z");
        let (from, until) = (at("2025-06-01T00:00:00Z"), at("2025-07-01T00:00:00Z"));
        let policy = HubPolicy {
            valid_from: Some(from),
            valid_until: Some(until),
            ..HubPolicy::default()
        };
        let cases = [
            ("2025-05-31T23:59:59.999Z", false, "2025-03-01T09:15:00Z"),
            ("2025-06-01T00:00:00Z", true, "2025-06-01T00:00:00.000Z"),
            ("2025-06-30T23:59:59Z", true, "2025-06-01T00:00:00.000Z"),
            ("2025-07-01T00:00:00Z", false, "2025-07-01T00:00:00.000Z"),
        ];
        for (now, valid, last_updated) in cases {
            let t = effective_token(&pushed, pushed_at, pushed_at, &policy, false, at(now));
            assert_eq!(t["valid"], json!(valid), "{now}");
            assert_eq!(t["last_updated"], json!(last_updated), "{now}");
        }
    }
}
