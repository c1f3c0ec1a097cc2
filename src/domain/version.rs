//! The OCPI versions the hub speaks, and where their Token and Session objects differ on the wire
//! (docs/design.md §8 "OCPI 2.2.1"): both versions read and write the same registry, so only these fields are checked
//! per version; everything else is the shared rules of `token` and `session`.

use serde_json::{Map, Value};

use super::token::TokenType;
use super::ValidationError;

/// Oldest first, so the newest of a set is its `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OcpiVersion {
    V2_2_1,
    V2_3_0,
}

impl std::fmt::Display for OcpiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `TokenType` of OCPI 2.2.1, a closed enum (2.3.0 opened it and added `EMAID`).
pub const TOKEN_TYPES_2_2_1: [&str; 4] = ["AD_HOC_USER", "APP_USER", "OTHER", "RFID"];

impl OcpiVersion {
    pub const ALL: [OcpiVersion; 2] = [OcpiVersion::V2_2_1, OcpiVersion::V2_3_0];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OcpiVersion::V2_2_1 => "2.2.1",
            OcpiVersion::V2_3_0 => "2.3.0",
        }
    }

    /// Whether this version can name a token of type `t`. A 2.2.1 partner never sees the others:
    /// they are left out of its token lists and unknown to its `/authorize`.
    pub fn knows_token_type(self, t: &TokenType) -> bool {
        match self {
            OcpiVersion::V2_3_0 => true,
            OcpiVersion::V2_2_1 => TOKEN_TYPES_2_2_1.contains(&t.as_str()),
        }
    }

    /// A `TokenType` given by a client of this version (a body's `type`, a receiver's `?type`).
    pub fn token_type(self, field: &str, value: &str) -> Result<TokenType, ValidationError> {
        let parsed = TokenType::parse(field, value)?;
        if self.knows_token_type(&parsed) {
            Ok(parsed)
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "is not an OCPI {} TokenType (one of {})",
                    self.as_str(),
                    TOKEN_TYPES_2_2_1.join(", ")
                ),
            ))
        }
    }

    /// `?type` of a receiver call: RFID when absent.
    pub fn token_type_query(self, value: Option<&str>) -> Result<TokenType, ValidationError> {
        match value {
            None => Ok(TokenType::rfid()),
            Some(v) => self.token_type("type", v),
        }
    }

    /// The version's own fields of a pushed Token, as far as `doc` (a PUT body or a PATCH) has
    /// them: its `type`.
    pub fn check_token_fields(self, doc: &Map<String, Value>) -> Result<(), ValidationError> {
        check_type_field(self, doc, "type")
    }

    /// The version's own fields of a pushed Session, as far as `doc` (a PUT body or a PATCH) has
    /// them: `cdr_token.type` and the shape of `total_cost` (2.3.0 `before_taxes` and `taxes`,
    /// 2.2.1 `excl_vat` and `incl_vat`). A PATCH is checked for what it carries only, so a
    /// session may be pushed over one version and completed over the other.
    pub fn check_session_fields(self, doc: &Map<String, Value>) -> Result<(), ValidationError> {
        if let Some(Value::Object(cdr_token)) = doc.get("cdr_token") {
            check_type_field(self, cdr_token, "cdr_token.type")?;
        }
        let Some(cost) = doc.get("total_cost").filter(|c| !c.is_null()) else {
            return Ok(());
        };
        let (required, optional) = match self {
            OcpiVersion::V2_3_0 => ("before_taxes", None),
            OcpiVersion::V2_2_1 => ("excl_vat", Some("incl_vat")),
        };
        let number = |name: &str| cost.get(name).is_some_and(Value::is_number);
        if !number(required) {
            return Err(ValidationError::new(
                format!("total_cost.{required}"),
                format!(
                    "is required and must be a number (OCPI {} Price)",
                    self.as_str()
                ),
            ));
        }
        if let Some(name) = optional {
            if cost.get(name).is_some_and(|v| !v.is_null()) && !number(name) {
                return Err(ValidationError::new(
                    format!("total_cost.{name}"),
                    "must be a number",
                ));
            }
        }
        Ok(())
    }
}

impl OcpiVersion {
    /// A stored session, pushed over either version, in this version's shape (the Sessions
    /// sender): `total_cost` as this version's `Price`. 2.2.1's `excl_vat` is 2.3.0's
    /// `before_taxes`; its `incl_vat` is `before_taxes` plus the `taxes` (when any are given), and
    /// the other way round the difference becomes one tax named `VAT`. Everything else is served
    /// as pushed.
    pub fn session_for(self, mut doc: Map<String, Value>) -> Map<String, Value> {
        let Some(Value::Object(cost)) = doc.get("total_cost") else {
            return doc;
        };
        let number = |name: &str| cost.get(name).and_then(Value::as_f64);
        let converted = match self {
            OcpiVersion::V2_2_1 if !cost.contains_key("excl_vat") => {
                let Some(before) = number("before_taxes") else {
                    return doc;
                };
                let taxes: Vec<f64> = cost
                    .get("taxes")
                    .and_then(Value::as_array)
                    .map(|taxes| {
                        taxes
                            .iter()
                            .filter_map(|t| t.get("amount").and_then(Value::as_f64))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut price = Map::new();
                price.insert("excl_vat".into(), Value::from(before));
                if !taxes.is_empty() {
                    let incl = round4(before + taxes.iter().sum::<f64>());
                    price.insert("incl_vat".into(), Value::from(incl));
                }
                price
            }
            OcpiVersion::V2_3_0 if !cost.contains_key("before_taxes") => {
                let Some(excl) = number("excl_vat") else {
                    return doc;
                };
                let mut price = Map::new();
                price.insert("before_taxes".into(), Value::from(excl));
                if let Some(incl) = number("incl_vat") {
                    price.insert(
                        "taxes".into(),
                        serde_json::json!([{ "name": "VAT", "amount": round4(incl - excl) }]),
                    );
                }
                price
            }
            _ => return doc,
        };
        doc.insert("total_cost".into(), Value::Object(converted));
        doc
    }
}

/// OCPI numbers carry 4 decimals: no binary noise (0.30000000000000004) in a computed amount.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `doc[name]`, when present, must be a type this version knows (the shared rules check that it
/// is a string).
fn check_type_field(
    version: OcpiVersion,
    doc: &Map<String, Value>,
    field: &str,
) -> Result<(), ValidationError> {
    match doc.get("type") {
        Some(Value::String(t)) => version.token_type(field, t).map(|_| ()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn token_types_2_2_1_is_closed_2_3_0_open() {
        for t in TOKEN_TYPES_2_2_1 {
            assert!(OcpiVersion::V2_2_1.token_type("type", t).is_ok());
        }
        for t in ["EMAID", "rfid", "SOMETHING_NEW"] {
            assert_eq!(
                OcpiVersion::V2_2_1.token_type("type", t).unwrap_err().field,
                "type"
            );
            assert!(OcpiVersion::V2_3_0.token_type("type", t).is_ok());
        }
        assert_eq!(
            OcpiVersion::V2_2_1.token_type_query(None).unwrap(),
            TokenType::rfid()
        );
    }

    #[test]
    fn token_fields_name_the_type() {
        let emaid = doc(json!({"type": "EMAID"}));
        assert_eq!(
            OcpiVersion::V2_2_1
                .check_token_fields(&emaid)
                .unwrap_err()
                .field,
            "type"
        );
        assert!(OcpiVersion::V2_3_0.check_token_fields(&emaid).is_ok());
        assert!(OcpiVersion::V2_2_1
            .check_token_fields(&doc(json!({"valid": false})))
            .is_ok());
    }

    #[test]
    fn sessions_are_served_in_each_versions_price() {
        let v221 = doc(json!({"id": "S1", "total_cost": {"excl_vat": 1.5, "incl_vat": 1.8}}));
        let v230 = doc(
            json!({"id": "S1", "total_cost": {"before_taxes": 1.5, "taxes": [
            {"name": "VAT", "amount": 0.2}, {"name": "city", "amount": 0.1}]}}),
        );
        assert_eq!(
            Value::Object(OcpiVersion::V2_3_0.session_for(v221.clone())),
            json!({"id": "S1", "total_cost": {"before_taxes": 1.5, "taxes": [{"name": "VAT", "amount": 0.3}]}})
        );
        assert_eq!(
            Value::Object(OcpiVersion::V2_2_1.session_for(v230.clone())),
            json!({"id": "S1", "total_cost": {"excl_vat": 1.5, "incl_vat": 1.8}})
        );
        // Already in the version's shape, or without a cost: unchanged.
        assert_eq!(OcpiVersion::V2_2_1.session_for(v221.clone()), v221);
        assert_eq!(OcpiVersion::V2_3_0.session_for(v230.clone()), v230);
        let free = doc(json!({"id": "S2", "kwh": 1}));
        assert_eq!(OcpiVersion::V2_2_1.session_for(free.clone()), free);
        // No taxes given: 2.2.1's optional incl_vat stays out; 2.3.0's optional taxes too.
        assert_eq!(
            Value::Object(
                OcpiVersion::V2_2_1.session_for(doc(json!({"total_cost": {"before_taxes": 2}})))
            ),
            json!({"total_cost": {"excl_vat": 2.0}})
        );
        assert_eq!(
            Value::Object(
                OcpiVersion::V2_3_0.session_for(doc(json!({"total_cost": {"excl_vat": 2}})))
            ),
            json!({"total_cost": {"before_taxes": 2.0}})
        );
    }

    #[test]
    fn price_shape_per_version() {
        let v221 = doc(json!({"total_cost": {"excl_vat": 1.5, "incl_vat": 1.8}}));
        let v230 = doc(json!({"total_cost": {"before_taxes": 1.5, "taxes": []}}));
        assert!(OcpiVersion::V2_2_1.check_session_fields(&v221).is_ok());
        assert!(OcpiVersion::V2_3_0.check_session_fields(&v230).is_ok());
        assert_eq!(
            OcpiVersion::V2_3_0
                .check_session_fields(&v221)
                .unwrap_err()
                .field,
            "total_cost.before_taxes"
        );
        assert_eq!(
            OcpiVersion::V2_2_1
                .check_session_fields(&v230)
                .unwrap_err()
                .field,
            "total_cost.excl_vat"
        );
        let bad_incl = doc(json!({"total_cost": {"excl_vat": 1, "incl_vat": "1.2"}}));
        assert_eq!(
            OcpiVersion::V2_2_1
                .check_session_fields(&bad_incl)
                .unwrap_err()
                .field,
            "total_cost.incl_vat"
        );
        let emaid = doc(json!({"cdr_token": {"type": "EMAID"}}));
        assert_eq!(
            OcpiVersion::V2_2_1
                .check_session_fields(&emaid)
                .unwrap_err()
                .field,
            "cdr_token.type"
        );
        assert!(OcpiVersion::V2_2_1
            .check_session_fields(&doc(json!({"status": "COMPLETED"})))
            .is_ok());
    }
}
