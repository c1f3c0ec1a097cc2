//! OCPI `DateTime`: RFC 3339 in UTC, at most 25 characters, `Z` optional (no zone means UTC),
//! fractional seconds allowed, numeric offsets rejected.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Timelike, Utc};

use super::ValidationError;

pub fn parse_ocpi_datetime(field: &str, value: &str) -> Result<DateTime<Utc>, ValidationError> {
    let bad = || {
        ValidationError::new(
            field,
            "must be an OCPI DateTime in UTC, e.g. 2025-03-01T10:00:00Z",
        )
    };
    if value.len() > 25 {
        return Err(ValidationError::new(
            field,
            "is longer than 25 characters (OCPI DateTime)",
        ));
    }
    let naive_part = value.strip_suffix('Z').unwrap_or(value);
    // A numeric offset (`+01:00`, `-05:00`) is not OCPI; `NaiveDateTime` parsing rejects it.
    let naive =
        NaiveDateTime::parse_from_str(naive_part, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad())?;
    Ok(naive.and_utc())
}

/// Emits `Z` with millisecond precision, which always stays within 25 characters.
pub fn format_ocpi_datetime(value: &DateTime<Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Truncates to the microsecond: what both SQLite (as text) and PostgreSQL (`timestamp`) keep, so
/// that timestamps compare equal after a round trip through storage.
pub fn storage_precision(value: DateTime<Utc>) -> NaiveDateTime {
    let naive = value.naive_utc();
    let micros = naive.and_utc().timestamp_subsec_micros();
    naive
        .with_nanosecond(micros * 1000)
        .expect("microsecond truncation stays in range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_ocpi_forms() {
        for v in [
            "2025-03-01T10:00:00Z",
            "2025-03-01T10:00:00",
            "2025-03-01T10:00:00.5Z",
            "2025-03-01T10:00:00.123",
        ] {
            assert!(parse_ocpi_datetime("last_updated", v).is_ok(), "{v}");
        }
        let t = parse_ocpi_datetime("x", "2025-03-01T10:00:00.5Z").unwrap();
        assert_eq!(format_ocpi_datetime(&t), "2025-03-01T10:00:00.500Z");
    }

    #[test]
    fn rejects_offsets_garbage_and_overlong_values() {
        for v in [
            "2025-03-01T10:00:00+00:00",
            "2025-03-01T10:00:00+01:00",
            "2025-03-01",
            "yesterday",
            "2025-03-01T10:00:00.123456789Z",
        ] {
            let err = parse_ocpi_datetime("last_updated", v).unwrap_err();
            assert_eq!(err.field, "last_updated", "{v}");
        }
    }
}
