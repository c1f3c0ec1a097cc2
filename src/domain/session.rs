//! The OCPI `Session` object as far as the hub needs it: which token is in use, and whether the
//! session still counts as a use.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use validator::Validate;

use super::datetime::parse_ocpi_datetime;
use super::ids::{check_ci_string, check_string, CiString36, PartyKey, TokenUid};
use super::token::{first_validator_error, TokenKey, TokenType};
use super::{from_json, ValidationError};

/// `SessionStatus` (closed enum). Note: `RESERVATION`, not `RESERVED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SessionStatus {
    Active,
    Completed,
    Invalid,
    Pending,
    Reservation,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "ACTIVE",
            SessionStatus::Completed => "COMPLETED",
            SessionStatus::Invalid => "INVALID",
            SessionStatus::Pending => "PENDING",
            SessionStatus::Reservation => "RESERVATION",
        }
    }

    /// PENDING, ACTIVE and RESERVATION hold the token; COMPLETED and INVALID free it.
    pub fn uses_token(self) -> bool {
        matches!(
            self,
            SessionStatus::Active | SessionStatus::Pending | SessionStatus::Reservation
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum AuthMethod {
    AuthRequest,
    Command,
    Whitelist,
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
    check_ci_string("", v, max).map_err(|e| msg(e.message))
}
fn s3(v: &str) -> Result<(), validator::ValidationError> {
    check_string("", v, 3).map_err(|e| msg(e.message))
}
fn s255(v: &str) -> Result<(), validator::ValidationError> {
    check_string("", v, 255).map_err(|e| msg(e.message))
}
fn msg(message: String) -> validator::ValidationError {
    validator::ValidationError::new("ocpi").with_message(message.into())
}

#[derive(Debug, Deserialize, Validate)]
struct CdrTokenDoc {
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
}

#[derive(Debug, Deserialize)]
struct ChargingPeriodDoc {
    start_date_time: String,
    dimensions: Vec<Value>,
    #[expect(dead_code, reason = "present to type-check it")]
    tariff_id: Option<String>,
}

#[derive(Debug, Deserialize, Validate)]
struct SessionDoc {
    #[validate(custom(function = "ci2"))]
    country_code: String,
    #[validate(custom(function = "ci3"))]
    party_id: String,
    #[validate(custom(function = "ci36"))]
    id: String,
    start_date_time: String,
    end_date_time: Option<String>,
    #[validate(range(min = 0.0))]
    kwh: f64,
    #[validate(nested)]
    cdr_token: CdrTokenDoc,
    #[expect(dead_code, reason = "checked by serde: closed enum")]
    auth_method: AuthMethod,
    #[validate(custom(function = "ci36"))]
    authorization_reference: Option<String>,
    #[validate(custom(function = "ci36"))]
    location_id: String,
    #[validate(custom(function = "ci36"))]
    evse_uid: String,
    #[validate(custom(function = "ci36"))]
    connector_id: String,
    #[validate(custom(function = "s255"))]
    meter_id: Option<String>,
    #[validate(custom(function = "s3"))]
    currency: String,
    charging_periods: Option<Vec<ChargingPeriodDoc>>,
    /// Its shape differs between versions: `OcpiVersion::check_session_fields`.
    #[expect(dead_code, reason = "present to type-check it")]
    total_cost: Option<Map<String, Value>>,
    status: SessionStatus,
    last_updated: String,
}

/// A complete, valid Session as pushed by its CPO.
#[derive(Clone, Debug)]
pub struct SessionWrite {
    pub owner: PartyKey,
    pub id: CiString36,
    pub token: TokenKey,
    pub status: SessionStatus,
    pub authorization_reference: Option<CiString36>,
    pub last_updated: DateTime<Utc>,
    pub body: Map<String, Value>,
}

/// Checks a complete Session document (PUT body, or the result of applying a PATCH) against the
/// rules every OCPI version shares; the wire layer checks the version's own fields first
/// (`OcpiVersion::check_session_fields`).
pub fn validate_session(body: Map<String, Value>) -> Result<SessionWrite, ValidationError> {
    let doc: SessionDoc = from_json(Value::Object(body.clone()))?;
    doc.validate().map_err(first_validator_error)?;
    parse_ocpi_datetime("start_date_time", &doc.start_date_time)?;
    if let Some(end) = &doc.end_date_time {
        parse_ocpi_datetime("end_date_time", end)?;
    }
    for (i, period) in doc.charging_periods.iter().flatten().enumerate() {
        parse_ocpi_datetime(
            &format!("charging_periods[{i}].start_date_time"),
            &period.start_date_time,
        )?;
        if period.dimensions.is_empty() {
            return Err(ValidationError::new(
                format!("charging_periods[{i}].dimensions"),
                "must hold at least one dimension",
            ));
        }
    }
    let token = TokenKey {
        owner: PartyKey::parse(&doc.cdr_token.country_code, &doc.cdr_token.party_id)
            .map_err(|e| ValidationError::new(format!("cdr_token.{}", e.field), e.message))?,
        uid: TokenUid::parse("cdr_token.uid", &doc.cdr_token.uid)?,
        token_type: TokenType::parse("cdr_token.type", &doc.cdr_token.token_type)?,
    };
    Ok(SessionWrite {
        owner: PartyKey::parse(&doc.country_code, &doc.party_id)?,
        id: CiString36::parse("id", &doc.id)?,
        token,
        status: doc.status,
        authorization_reference: doc
            .authorization_reference
            .as_deref()
            .map(|r| CiString36::parse("authorization_reference", r))
            .transpose()?,
        last_updated: parse_ocpi_datetime("last_updated", &doc.last_updated)?,
        body,
    })
}

/// The top-level fields of the OCPI 2.3.0 `Session` object; anything else is an unknown field.
const SESSION_FIELDS: &[&str] = &[
    "country_code",
    "party_id",
    "id",
    "start_date_time",
    "end_date_time",
    "kwh",
    "cdr_token",
    "auth_method",
    "authorization_reference",
    "location_id",
    "evse_uid",
    "connector_id",
    "meter_id",
    "currency",
    "charging_periods",
    "total_cost",
    "status",
    "last_updated",
];

/// How much of a session the hub stores.
#[derive(Clone, Copy, Debug)]
pub struct SessionBounds {
    /// The most recent charging periods kept.
    pub max_charging_periods: usize,
    /// The stored body's size (compact JSON) the hub aims at; what one request may carry.
    pub max_bytes: usize,
}

impl SessionWrite {
    /// Bounds the stored body, which PATCHes would otherwise grow forever (they append charging
    /// periods and may add fields). Keeps the most recent `max_charging_periods` periods, in the
    /// order the CPO sent them; then, while the body is larger than `max_bytes`, drops the oldest
    /// periods and at last the fields OCPI does not define. Status, totals, token and identity
    /// always stay, so no update is ever refused for its size.
    pub fn bound(&mut self, bounds: SessionBounds) {
        if let Some(Value::Array(periods)) = self.body.get_mut("charging_periods") {
            let excess = periods.len().saturating_sub(bounds.max_charging_periods);
            periods.drain(..excess);
        }
        let mut size = json_len(&self.body);
        if size > bounds.max_bytes {
            if let Some(Value::Array(periods)) = self.body.get_mut("charging_periods") {
                let mut oldest = 0;
                for period in periods.iter() {
                    if size <= bounds.max_bytes {
                        break;
                    }
                    // The period and the comma after it.
                    size = size.saturating_sub(json_len(period) + 1);
                    oldest += 1;
                }
                periods.drain(..oldest);
                size = json_len(&self.body);
            }
        }
        if size > bounds.max_bytes {
            self.body
                .retain(|name, _| SESSION_FIELDS.contains(&name.as_str()));
        }
    }
}

fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

/// Applies a Sessions PATCH: fields replace, `null` clears, `charging_periods` are appended.
pub fn apply_session_patch(
    stored: &Map<String, Value>,
    patch: Map<String, Value>,
    owner: &PartyKey,
    id: &CiString36,
) -> Result<SessionWrite, ValidationError> {
    if patch.get("last_updated").is_none_or(Value::is_null) {
        return Err(ValidationError::new(
            "last_updated",
            "is required in a PATCH",
        ));
    }
    let mut merged = stored.clone();
    for (name, value) in patch {
        match (name.as_str(), value) {
            (_, Value::Null) => {
                merged.remove(&name);
            }
            ("charging_periods", Value::Array(new)) => {
                let mut periods = match merged.remove("charging_periods") {
                    Some(Value::Array(old)) => old,
                    _ => Vec::new(),
                };
                periods.extend(new);
                merged.insert(name, Value::Array(periods));
            }
            (_, value) => {
                merged.insert(name, value);
            }
        }
    }
    let write = validate_session(merged)?;
    if &write.owner != owner || &write.id != id {
        return Err(ValidationError::new(
            "id",
            "a PATCH cannot change the session's identity",
        ));
    }
    Ok(write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Map<String, Value> {
        json!({
            "country_code": "DE", "party_id": "CPO", "id": "S-1",
            "start_date_time": "2026-01-01T10:00:00Z", "kwh": 0,
            "cdr_token": {"country_code": "NL", "party_id": "ABC", "uid": "04A1", "type": "RFID", "contract_id": "C1"},
            "auth_method": "AUTH_REQUEST", "authorization_reference": "ref",
            "location_id": "LOC1", "evse_uid": "E1", "connector_id": "1", "currency": "EUR",
            "charging_periods": [{"start_date_time": "2026-01-01T10:00:00Z", "dimensions": [{"type": "ENERGY", "volume": 1}]}],
            "status": "ACTIVE", "last_updated": "2026-01-01T10:00:00Z"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn valid_session() {
        let s = validate_session(sample()).unwrap();
        assert_eq!(s.token.owner, PartyKey::parse("nl", "abc").unwrap());
        assert!(s.status.uses_token());
    }

    #[test]
    fn errors_name_the_field() {
        let mut s = sample();
        s.insert("status".into(), json!("RESERVED"));
        assert_eq!(validate_session(s).unwrap_err().field, "status");
        let mut s = sample();
        s["cdr_token"]["uid"] = json!("u".repeat(37));
        assert_eq!(validate_session(s).unwrap_err().field, "cdr_token.uid");
        let mut s = sample();
        s.insert("total_cost".into(), json!([1]));
        assert_eq!(validate_session(s).unwrap_err().field, "total_cost");
    }

    #[test]
    fn patch_appends_charging_periods() {
        let stored = sample();
        let w = validate_session(stored.clone()).unwrap();
        let patch = json!({
            "status": "COMPLETED", "last_updated": "2026-01-01T11:00:00Z",
            "charging_periods": [{"start_date_time": "2026-01-01T10:30:00Z", "dimensions": [{"type": "ENERGY", "volume": 2}]}]
        });
        let out = apply_session_patch(&stored, patch.as_object().unwrap().clone(), &w.owner, &w.id)
            .unwrap();
        assert_eq!(out.status, SessionStatus::Completed);
        assert_eq!(out.body["charging_periods"].as_array().unwrap().len(), 2);
        let no_ts = json!({"status": "COMPLETED"});
        assert_eq!(
            apply_session_patch(&stored, no_ts.as_object().unwrap().clone(), &w.owner, &w.id)
                .unwrap_err()
                .field,
            "last_updated"
        );
    }

    fn period(n: usize) -> Value {
        json!({"start_date_time": "2026-01-01T10:00:00Z", "tariff_id": format!("T{n}"), "dimensions": [{"type": "ENERGY", "volume": n}]})
    }

    fn with_periods(n: usize) -> SessionWrite {
        let mut s = sample();
        s.insert(
            "charging_periods".into(),
            Value::Array((0..n).map(period).collect()),
        );
        validate_session(s).unwrap()
    }

    fn tariffs(w: &SessionWrite) -> Vec<String> {
        w.body["charging_periods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["tariff_id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn bound_keeps_the_most_recent_periods() {
        let mut w = with_periods(5);
        w.bound(SessionBounds {
            max_charging_periods: 2,
            max_bytes: 64 * 1024,
        });
        assert_eq!(tariffs(&w), ["T3", "T4"]);
    }

    #[test]
    fn bound_drops_the_oldest_periods_over_the_size() {
        let mut w = with_periods(50);
        w.body.insert("x-note".into(), json!("kept"));
        let room_for_ten = json_len(&w.body) - 40 * (json_len(&period(10)) + 1);
        w.bound(SessionBounds {
            max_charging_periods: 100,
            max_bytes: room_for_ten,
        });
        assert!(json_len(&w.body) <= room_for_ten);
        let kept = tariffs(&w);
        assert_eq!(kept.last().unwrap(), "T49");
        assert!((9..=10).contains(&kept.len()), "{kept:?}");
        assert_eq!(
            w.body["x-note"], "kept",
            "unknown fields go only as a last resort"
        );
    }

    #[test]
    fn bound_drops_unknown_fields_last_and_keeps_the_status() {
        let mut w = with_periods(1);
        w.body.insert("x-big".into(), json!("x".repeat(2000)));
        w.body.insert("status".into(), json!("COMPLETED"));
        w.bound(SessionBounds {
            max_charging_periods: 100,
            max_bytes: 1000,
        });
        assert!(!w.body.contains_key("x-big"));
        assert!(w.body["charging_periods"].as_array().unwrap().is_empty());
        assert_eq!(w.body["status"], "COMPLETED");
        assert!(validate_session(w.body.clone()).is_ok());
    }
}
