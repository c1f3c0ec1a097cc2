//! OCPI `DateTime`: RFC 3339 in UTC, at most 25 characters, `Z` optional (no zone means UTC),
//! fractional seconds allowed, numeric offsets rejected, a year of four digits (RFC 3339's
//! `date-fullyear`).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeDelta, Timelike, Utc};

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
    // chrono also reads signed and longer years, which PostgreSQL cannot store (before 4713 BC)
    // and SQLite's text timestamps cannot order.
    let year = value.as_bytes().get(..5);
    if !year.is_some_and(|y| y[..4].iter().all(u8::is_ascii_digit) && y[4] == b'-') {
        return Err(bad());
    }
    let naive_part = value.strip_suffix('Z').unwrap_or(value);
    // A numeric offset (`+01:00`, `-05:00`) is not OCPI; `NaiveDateTime` parsing rejects it.
    let naive =
        NaiveDateTime::parse_from_str(naive_part, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad())?;
    Ok(naive.and_utc())
}

/// Refuses a timestamp more than `max_skew` after `now`: a pushed object's `last_updated` that far
/// ahead is a wrong clock or a typo, and stored it would make every later update look stale.
pub fn check_not_in_future(
    field: &str,
    value: DateTime<Utc>,
    now: DateTime<Utc>,
    max_skew: TimeDelta,
) -> Result<(), ValidationError> {
    if value.signed_duration_since(now) > max_skew {
        return Err(ValidationError::new(
            field,
            format!(
                "lies more than {} s ahead of the hub's clock ({})",
                max_skew.num_seconds(),
                format_ocpi_datetime(&now)
            ),
        ));
    }
    Ok(())
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
    fn the_future_is_refused_beyond_the_skew_only() {
        let now = parse_ocpi_datetime("x", "2025-03-01T10:00:00Z").unwrap();
        let day = TimeDelta::days(1);
        let at = |v: &str| parse_ocpi_datetime("last_updated", v).unwrap();
        for fine in [
            "0000-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2025-03-01T10:00:00Z",
            "2025-03-02T10:00:00Z",
        ] {
            assert!(
                check_not_in_future("last_updated", at(fine), now, day).is_ok(),
                "{fine}"
            );
        }
        for ahead in ["2025-03-02T10:00:00.001Z", "9999-12-31T23:59:59.999Z"] {
            let err = check_not_in_future("last_updated", at(ahead), now, day).unwrap_err();
            assert_eq!(err.field, "last_updated", "{ahead}");
        }
    }

    #[test]
    fn rejects_offsets_garbage_and_overlong_values() {
        for v in [
            "2025-03-01T10:00:00+00:00",
            "2025-03-01T10:00:00+01:00",
            "2025-03-01",
            "yesterday",
            "2025-03-01T10:00:00.123456789Z",
            "-0001-01-01T00:00:00Z",
            "+2025-03-01T10:00:00Z",
            "12025-03-01T10:00:00Z",
            "262142-12-31T23:59:59Z",
            "25-03-01T10:00:00Z",
            "",
        ] {
            let err = parse_ocpi_datetime("last_updated", v).unwrap_err();
            assert_eq!(err.field, "last_updated", "{v}");
        }
    }
}
