//! The `application/x-www-form-urlencoded` body of the token, revocation and introspection
//! endpoints: each parameter at most once (RFC 6749 §3.2), empty values as absent.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::HttpRequest;

use super::error::OAuthError;

pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Form, OAuthError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if mime != "application/x-www-form-urlencoded" {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            // RFC 6749 §3.1: parameters sent without a value are treated as omitted.
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::InvalidRequest(format!(
                    "{name}: the parameter is given more than once"
                )));
            }
        }
        Ok(Form(params))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is required")))
    }
}
