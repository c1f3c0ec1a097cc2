//! Forwarding a real-time authorization to the owner eMSP (docs/design.md §6 "Authorize flow"):
//! `POST {tokens SENDER}/{uid}/authorize?type=` on the eMSP's own version, with the hub's token
//! for it, a new `X-Request-ID`, the CPO's `X-Correlation-ID` and routing headers, within a time
//! budget; the answer validated into an [`EmspAnswer`]. Anything else is an [`Outcome`] the
//! matrix treats as "unreachable".

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::domain::authorization::AllowedType;
use crate::domain::ids::{check_ci_string, PartyKey};
use crate::domain::partner::OcpiVersion;
use crate::domain::token::validate_token;

use super::OcpiClient;

/// One authorization to forward.
pub struct AuthorizeCall<'a> {
    /// The eMSP's Tokens SENDER endpoint.
    pub tokens_sender: &'a Url,
    pub version: OcpiVersion,
    /// The token the hub presents to the eMSP (B), opened.
    pub token: &'a str,
    pub uid: &'a str,
    pub token_type: &'a str,
    /// The CPO's `LocationReferences`, as received.
    pub body: Option<&'a Value>,
    pub correlation_id: &'a str,
    /// The requesting CPO (`OCPI-from-*`) and the eMSP (`OCPI-to-*`).
    pub from: &'a PartyKey,
    pub to: &'a PartyKey,
    pub budget: Duration,
}

/// The eMSP's `AuthorizationInfo`, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct EmspAnswer {
    pub allowed: AllowedType,
    /// The complete Token as the eMSP sees it now.
    pub token: Map<String, Value>,
    pub authorization_reference: Option<String>,
    /// `LocationReferences`: where the driver may charge.
    pub location: Option<Value>,
    /// `DisplayText` for the driver.
    pub info: Option<Value>,
}

/// What came of asking.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Answered(EmspAnswer),
    /// HTTP 404 / OCPI 2004: the eMSP does not know the token.
    UnknownToken,
    /// No answer within the budget.
    Timeout,
    /// No answer at all: connection refused or reset, DNS, TLS, a URL the hub may not call.
    Unreachable(String),
    /// An answer that is not OCPI 1000 (nor a 2004).
    Failed(String),
    /// OCPI 1000 whose `data` is no valid `AuthorizationInfo` for this token.
    Malformed(String),
}

impl Outcome {
    /// Whether the partner failed (feeds its breaker). A 2004 is an answer: the eMSP is alive.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Outcome::Answered(_) | Outcome::UnknownToken)
    }

    /// As the audit trail records it.
    pub fn audit(&self) -> String {
        match self {
            Outcome::Answered(a) => format!("ANSWERED:{}", a.allowed.as_str()),
            Outcome::UnknownToken => "UNKNOWN_2004".into(),
            Outcome::Timeout => "TIMEOUT".into(),
            Outcome::Unreachable(_) => "UNREACHABLE".into(),
            Outcome::Failed(_) => "FAILED".into(),
            Outcome::Malformed(_) => "MALFORMED".into(),
        }
    }

    /// The metric label (a fixed set).
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Answered(_) => "answered",
            Outcome::UnknownToken => "unknown_token",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::Failed(_) => "failed",
            Outcome::Malformed(_) => "malformed",
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<Value>,
    status_code: Option<u16>,
    status_message: Option<String>,
}

/// Asks the eMSP. Never fails: every way it can go wrong is an [`Outcome`].
pub async fn authorize(client: &OcpiClient, call: &AuthorizeCall<'_>) -> Outcome {
    // A 2.2.1 eMSP cannot hold a token of a type 2.2.1 cannot name (an EMAID): nothing to ask.
    if !call.version.knows_token_type(
        &crate::domain::token::TokenType::parse("type", call.token_type)
            .unwrap_or_else(|_| crate::domain::token::TokenType::rfid()),
    ) {
        return Outcome::UnknownToken;
    }
    let url = authorize_url(call.tokens_sender, call.uid, call.token_type);
    if let Err(e) = client.check_url(&url).await {
        return Outcome::Unreachable(e.to_string());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(call.token.as_bytes());
    let mut request = client
        .http()
        .post(url)
        .timeout(call.budget)
        .header("Authorization", format!("Token {encoded}"))
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("X-Correlation-ID", call.correlation_id)
        .header("OCPI-from-country-code", call.from.country_code.as_str())
        .header("OCPI-from-party-id", call.from.party_id.as_str())
        .header("OCPI-to-country-code", call.to.country_code.as_str())
        .header("OCPI-to-party-id", call.to.party_id.as_str());
    if let Some(body) = call.body {
        request = request.json(body);
    }
    let exchange = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, bytes))
    };
    // The budget covers the whole exchange, body included (reqwest's covers it too; this one
    // also holds when the client's own timeout is longer).
    let (http, bytes) = match tokio::time::timeout(call.budget, exchange).await {
        Err(_) => return Outcome::Timeout,
        Ok(Err(e)) if e.is_timeout() => return Outcome::Timeout,
        Ok(Err(e)) => return Outcome::Unreachable(e.to_string()),
        Ok(Ok(answer)) => answer,
    };
    read_answer(http, &bytes, call)
}

/// `{tokens_sender}/{uid}/authorize?type={type}`.
fn authorize_url(base: &Url, uid: &str, token_type: &str) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(uid).push("authorize");
    }
    url.query_pairs_mut()
        .clear()
        .append_pair("type", token_type);
    url
}

fn read_answer(http: u16, bytes: &[u8], call: &AuthorizeCall<'_>) -> Outcome {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(bytes) else {
        return if (200..300).contains(&http) {
            Outcome::Malformed("no OCPI envelope".into())
        } else {
            Outcome::Failed(format!("HTTP {http} without an OCPI envelope"))
        };
    };
    match (http, envelope.status_code) {
        (200..=299, Some(1000)) => {}
        (_, Some(2004)) => return Outcome::UnknownToken,
        (_, code) => {
            return Outcome::Failed(format!(
                "HTTP {http}, OCPI status {}: {}",
                code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
                envelope.status_message.unwrap_or_default()
            ))
        }
    }
    match envelope.data.map(|data| authorization_info(data, call)) {
        Some(Ok(answer)) => Outcome::Answered(answer),
        Some(Err(why)) => Outcome::Malformed(why),
        None => Outcome::Malformed("no data".into()),
    }
}

/// `data` as an `AuthorizationInfo` about the token asked for.
fn authorization_info(data: Value, call: &AuthorizeCall<'_>) -> Result<EmspAnswer, String> {
    let Value::Object(mut info) = data else {
        return Err("data is not an AuthorizationInfo object".into());
    };
    let allowed = info
        .get("allowed")
        .and_then(Value::as_str)
        .and_then(AllowedType::parse)
        .ok_or("allowed is not an AllowedType")?;
    let Some(Value::Object(token)) = info.remove("token") else {
        return Err("token is not a Token object".into());
    };
    call.version
        .check_token_fields(&token)
        .map_err(|e| format!("token.{e}"))?;
    let checked = validate_token(token.clone()).map_err(|e| format!("token.{e}"))?;
    if checked.key.uid.key() != call.uid.to_ascii_uppercase()
        || checked.key.token_type.as_str() != call.token_type
        || checked.key.owner != *call.to
    {
        return Err("token is not the token asked for (owner, uid and type)".into());
    }
    let authorization_reference = match info.remove("authorization_reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => {
            check_ci_string("authorization_reference", &r, 36).map_err(|e| e.to_string())?;
            Some(r)
        }
        Some(_) => return Err("authorization_reference is not a string".into()),
    };
    let location = match info.remove("location") {
        None | Some(Value::Null) => None,
        Some(Value::Object(l)) if l.get("location_id").is_some_and(Value::is_string) => {
            Some(Value::Object(l))
        }
        Some(_) => return Err("location is not LocationReferences".into()),
    };
    let info_text = match info.remove("info") {
        None | Some(Value::Null) => None,
        Some(Value::Object(t)) if t.get("text").is_some_and(Value::is_string) => {
            Some(Value::Object(t))
        }
        Some(_) => return Err("info is not a DisplayText".into()),
    };
    Ok(EmspAnswer {
        allowed,
        token,
        authorization_reference,
        location,
        info: info_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call<'a>(url: &'a Url, cpo: &'a PartyKey, emsp: &'a PartyKey) -> AuthorizeCall<'a> {
        AuthorizeCall {
            tokens_sender: url,
            version: OcpiVersion::V2_3_0,
            token: "b",
            uid: "abc1",
            token_type: "RFID",
            body: None,
            correlation_id: "c",
            from: cpo,
            to: emsp,
            budget: Duration::from_secs(1),
        }
    }

    fn token() -> Value {
        json!({"country_code": "NL", "party_id": "ABC", "uid": "ABC1", "type": "RFID",
               "contract_id": "NL-ABC-1", "issuer": "x", "valid": true, "whitelist": "NEVER",
               "last_updated": "2026-01-01T00:00:00Z"})
    }

    fn ok(data: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"data": data, "status_code": 1000,
                                   "timestamp": "2026-01-01T00:00:00Z"}))
        .unwrap()
    }

    #[test]
    fn the_url_appends_uid_authorize_and_type() {
        for base in [
            "https://e.example/ocpi/2.3.0/tokens",
            "https://e.example/ocpi/2.3.0/tokens/",
        ] {
            let url = authorize_url(&Url::parse(base).unwrap(), "04 A/B", "APP_USER");
            assert_eq!(
                url.as_str(),
                "https://e.example/ocpi/2.3.0/tokens/04%20A%2FB/authorize?type=APP_USER"
            );
        }
    }

    #[test]
    fn answers_are_validated() {
        let url = Url::parse("https://e.example/tokens").unwrap();
        let (cpo, emsp) = (
            PartyKey::parse("DE", "CPO").unwrap(),
            PartyKey::parse("NL", "ABC").unwrap(),
        );
        let c = call(&url, &cpo, &emsp);
        let answered = read_answer(
            200,
            &ok(
                json!({"allowed": "NO_CREDIT", "token": token(), "authorization_reference": "R-1"}),
            ),
            &c,
        );
        let Outcome::Answered(a) = &answered else {
            panic!("{answered:?}")
        };
        assert_eq!(
            (a.allowed, a.authorization_reference.as_deref()),
            (AllowedType::NoCredit, Some("R-1"))
        );
        assert_eq!(answered.audit(), "ANSWERED:NO_CREDIT");

        let unknown = br#"{"status_code": 2004, "status_message": "unknown", "timestamp": "2026-01-01T00:00:00Z"}"#;
        assert_eq!(read_answer(404, unknown, &c), Outcome::UnknownToken);

        let mut other_token = token();
        other_token["uid"] = json!("OTHER");
        let long_reference = "R".repeat(37);
        let malformed = [
            ok(json!("ALLOWED")),
            ok(json!({"allowed": "MAYBE", "token": token()})),
            ok(json!({"allowed": "ALLOWED"})),
            ok(json!({"allowed": "ALLOWED", "token": {"uid": "ABC1"}})),
            ok(json!({"allowed": "ALLOWED", "token": other_token})),
            ok(
                json!({"allowed": "ALLOWED", "token": token(), "authorization_reference": long_reference}),
            ),
            ok(json!({"allowed": "ALLOWED", "token": token(), "location": {"evse_uids": []}})),
            ok(Value::Null),
            b"<html>".to_vec(),
        ];
        for body in malformed {
            let outcome = read_answer(200, &body, &c);
            assert!(
                matches!(outcome, Outcome::Malformed(_)),
                "{}: {outcome:?}",
                String::from_utf8_lossy(&body)
            );
            assert!(outcome.is_failure());
        }
        let failed = br#"{"status_code": 3000, "status_message": "boom", "timestamp": "2026-01-01T00:00:00Z"}"#;
        assert!(matches!(read_answer(500, failed, &c), Outcome::Failed(_)));
        assert!(matches!(read_answer(502, b"", &c), Outcome::Failed(_)));
    }
}
