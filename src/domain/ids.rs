//! Identifiers validated at the edge. OCPI `CiString`s compare case-insensitively, so each type
//! keeps the spelling it was given (for output) and an upper-cased key (for lookups and equality).

use std::fmt;

use super::ValidationError;

/// Checks the OCPI `CiString(n)` rules: printable ASCII only (no control characters), at most
/// `max` characters, not empty.
pub fn check_ci_string(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(ValidationError::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(ValidationError::new(
            field,
            "must be printable ASCII without control characters",
        ));
    }
    Ok(())
}

/// Checks the OCPI `string(n)` rules: printable UTF-8 without control characters, at most `max`
/// characters.
pub fn check_string(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

macro_rules! ci_id {
    ($(#[$doc:meta])* $name:ident, $max:expr, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            original: String,
            key: String,
        }

        impl $name {
            pub const MAX_LEN: usize = $max;

            /// Validates `value` for the field named `field` (used in the error message).
            pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
                check_ci_string(field, value, $max)?;
                let extra: fn(&str, &str) -> Result<(), ValidationError> = $check;
                extra(field, value)?;
                Ok(Self { original: value.to_owned(), key: value.to_ascii_uppercase() })
            }

            /// The spelling as received.
            pub fn as_str(&self) -> &str {
                &self.original
            }

            /// The normalized (upper-case) form used for lookups and uniqueness.
            pub fn key(&self) -> &str {
                &self.key
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.key == other.key
            }
        }
        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.key.hash(state)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.original)
            }
        }
    };
}

fn no_extra_rule(_: &str, _: &str) -> Result<(), ValidationError> {
    Ok(())
}

fn two_letters(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            "must be an ISO 3166-1 alpha-2 country code (two letters)",
        ))
    }
}

fn three_alphanumerics(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            "must be a party id of three letters or digits",
        ))
    }
}

ci_id!(
    /// ISO 3166-1 alpha-2 country code of a party (`CiString(2)`).
    CountryCode, 2, two_letters
);
ci_id!(
    /// Party id in ISO 15118 style (`CiString(3)`).
    PartyId, 3, three_alphanumerics
);
ci_id!(
    /// `Token.uid` (`CiString(36)`).
    TokenUid, 36, no_extra_rule
);
ci_id!(
    /// Any other `CiString(36)` identifier: session id, location id, EVSE uid, contract id, group id,
    /// authorization reference.
    CiString36, 36, no_extra_rule
);

/// A party: country code plus party id, the owner key of OCPI objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartyKey {
    pub country_code: CountryCode,
    pub party_id: PartyId,
}

impl PartyKey {
    pub fn new(country_code: CountryCode, party_id: PartyId) -> Self {
        Self {
            country_code,
            party_id,
        }
    }

    pub fn parse(country_code: &str, party_id: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            country_code: CountryCode::parse("country_code", country_code)?,
            party_id: PartyId::parse("party_id", party_id)?,
        })
    }
}

impl fmt::Display for PartyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}*{}", self.country_code.key(), self.party_id.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_ids_compare_case_insensitively_and_keep_spelling() {
        let a = TokenUid::parse("uid", "04a1b2").unwrap();
        let b = TokenUid::parse("uid", "04A1B2").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "04a1b2");
        assert_eq!(a.key(), "04A1B2");
    }

    #[test]
    fn ci_string_rules_name_the_field() {
        let too_long = "x".repeat(37);
        let err = TokenUid::parse("uid", &too_long).unwrap_err();
        assert_eq!(err.field, "uid");
        assert!(err.message.contains("36"));
        assert!(TokenUid::parse("uid", "").is_err());
        assert!(TokenUid::parse("uid", "a\tb").is_err());
        assert!(TokenUid::parse("uid", "ä").is_err());
        assert!(TokenUid::parse("uid", &"x".repeat(36)).is_ok());
    }

    #[test]
    fn country_code_and_party_id_shapes() {
        assert!(CountryCode::parse("country_code", "nl").is_ok());
        assert!(CountryCode::parse("country_code", "NLD").is_err());
        assert!(CountryCode::parse("country_code", "N1").is_err());
        assert!(PartyId::parse("party_id", "AB1").is_ok());
        assert!(PartyId::parse("party_id", "AB").is_err());
        assert!(PartyId::parse("party_id", "A-B").is_err());
    }

    #[test]
    fn string_rules() {
        assert!(check_string("issuer", "Ünïcode ok", 64).is_ok());
        assert!(check_string("issuer", &"é".repeat(65), 64).is_err());
        assert!(check_string("issuer", "bad\nline", 64).is_err());
    }
}
