//! The texts a `DateTime` value may have: what `iot_sdk::protocol::EventTime`
//! reads (`yyyyMMddTHHmmssZ`, or RFC 3339).

use chrono::{DateTime, NaiveDateTime};

/// Whether `EventTime::parse` accepts `text`.
pub(crate) fn is_valid(text: &str) -> bool {
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").is_ok()
        || DateTime::parse_from_rfc3339(text).is_ok()
}
