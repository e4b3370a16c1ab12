//! Time on the wire: `event_time` (§3), epoch milliseconds, time sync (§4.3)
//! and the log end time (§4.5).

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ProtocolError;

/// The `event_time` of reports and events: a UTC instant written
/// `yyyyMMddTHHmmssZ`, e.g. `20151212T121212Z` (the platform's format).
///
/// Reading also accepts the RFC 3339 forms the Python SDK sends,
/// `2026-11-27T17:36:13Z` and `2020-08-12T12:12:12.333Z`. Writing drops
/// fractions of a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(pub DateTime<Utc>);

/// The `chrono` format of the platform's `event_time`.
const COMPACT: &str = "%Y%m%dT%H%M%SZ";

impl EventTime {
    /// Reads any accepted format (see the type's docs).
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        NaiveDateTime::parse_from_str(text, COMPACT)
            .map(|naive| naive.and_utc())
            .or_else(|_| DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()))
            .map(Self)
            .map_err(|_| ProtocolError::EventTime(text.to_owned()))
    }

    /// The instant.
    pub fn to_utc(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for EventTime {
    fn from(time: DateTime<Utc>) -> Self {
        Self(time)
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format(COMPACT))
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Reads an optional `event_time` the way the platform does: a missing,
/// `null`, empty or malformed value means "no time given" rather than a bad
/// payload (§3: the platform then uses its receive time).
pub(crate) fn lenient_event_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<EventTime>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(|text| EventTime::parse(text).ok()))
}

/// Milliseconds since the Unix epoch, the unit of log timestamps and time sync.
pub fn epoch_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// The device's corrected time when a time-sync response arrives (§4.3), in
/// epoch ms: `(server_recv + server_send + device_recv - device_send) / 2`.
pub fn synced_time_ms(
    device_send: i64,
    server_recv: i64,
    server_send: i64,
    device_recv: i64,
) -> f64 {
    // i128 cannot overflow for any i64 inputs; the result is exact below 2^53 ms.
    let sum = i128::from(server_recv) + i128::from(server_send) + i128::from(device_recv)
        - i128::from(device_send);
    sum as f64 / 2.0
}

/// Whether a `log_config` `end_time` (`yyyyMMddTHHmmssZ`, UTC) is no longer in
/// the future, compared at whole seconds like the SDKs' `YYYYMMDDHHMMSS`
/// comparison (§4.5). Logs are reported only while this is `false`.
///
/// A value that is not a valid time (including `""`) counts as passed, so a
/// garbled configuration turns log reporting off rather than on forever.
/// A *missing* `end_time` means "no limit" and is the caller's case.
pub fn log_end_time_passed(end_time: &str, now: DateTime<Utc>) -> bool {
    EventTime::parse(end_time).map_or(true, |end| end.0 <= now.trunc_subsecs(0))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn event_time_serializes_compact_utc() {
        let time = EventTime(utc(2015, 12, 12, 12, 12, 12));
        assert_eq!(
            serde_json::to_value(time).unwrap(),
            json!("20151212T121212Z")
        );
        assert_eq!(time.to_string(), "20151212T121212Z");
    }

    #[test]
    fn event_time_reads_compact_and_python_forms() {
        let expected = utc(2020, 8, 12, 12, 12, 12);
        for text in [
            "20200812T121212Z",
            "2020-08-12T12:12:12Z",
            "2020-08-12T20:12:12+08:00",
        ] {
            assert_eq!(EventTime::parse(text).unwrap().0, expected, "{text}");
        }
        let with_millis = EventTime::parse("2020-08-12T12:12:12.333Z").unwrap();
        assert_eq!(
            with_millis.0.timestamp_millis(),
            expected.timestamp_millis() + 333
        );
        assert_eq!(with_millis.to_string(), "20200812T121212Z");
    }

    #[test]
    fn event_time_rejects_garbage() {
        for text in [
            "",
            "2020",
            "20200812121212",
            "20201312T121212Z",
            "20200812T121212",
        ] {
            assert_eq!(
                EventTime::parse(text),
                Err(ProtocolError::EventTime(text.into())),
                "{text}"
            );
            assert!(serde_json::from_value::<EventTime>(json!(text)).is_err());
        }
        assert!(serde_json::from_value::<EventTime>(json!(20200812)).is_err());
    }

    #[test]
    fn epoch_millis_counts_from_1970() {
        assert_eq!(epoch_millis(utc(1970, 1, 1, 0, 0, 1)), 1000);
        assert_eq!(
            epoch_millis(utc(2026, 11, 27, 17, 36, 11)),
            1_795_800_971_000
        );
    }

    #[test]
    fn synced_time_matches_the_documented_vector() {
        assert_eq!(synced_time_ms(1000, 2000, 2001, 1100), 2050.5);
        // Realistic epoch values stay exact.
        let base = 1_795_800_971_000;
        assert_eq!(
            synced_time_ms(base, base + 60, base + 61, base + 20),
            (base + 70) as f64 + 0.5
        );
        // Extreme inputs do not overflow.
        assert!(synced_time_ms(i64::MIN, i64::MAX, i64::MAX, i64::MAX).is_finite());
    }

    #[test]
    fn log_end_time_compares_at_seconds() {
        let now = utc(2024, 7, 26, 3, 42, 52) + chrono::Duration::milliseconds(500);
        assert!(!log_end_time_passed("20240726T034253Z", now));
        assert!(log_end_time_passed("20240726T034252Z", now));
        assert!(log_end_time_passed("20240726T034251Z", now));
        assert!(!log_end_time_passed("20250101T000000Z", now));
        assert!(log_end_time_passed("", now));
        assert!(log_end_time_passed("soon", now));
    }
}
