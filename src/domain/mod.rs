//! Domain types and rules, free of HTTP and storage. Input is validated into these types at the
//! edge; everything inside trusts them.

pub mod access;
pub mod agreement;
pub mod authorization;
pub mod datetime;
pub mod ids;
pub mod oauth;
pub mod partner;
pub mod party;
pub mod session;
pub mod token;
pub mod version;

use std::fmt;

/// A rule broken by client input, naming the field. Becomes OCPI 2001.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ValidationError {}

/// Deserializes a JSON value into `T`, reporting the path of the offending field.
pub fn from_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { String::new() } else { path };
        ValidationError::new(field, err.into_inner().to_string())
    })
}
