//! `$time_sync`: NTP-like time sync (§4.3). All values are epoch milliseconds.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::Event;
use crate::time::synced_time_ms;

/// The service id.
pub const SERVICE_ID: &str = "$time_sync";
/// Up: [`TimeSyncRequest`].
pub const TIME_SYNC_REQUEST: &str = "time_sync_request";
/// Down: [`TimeSyncResponse`].
pub const TIME_SYNC_RESPONSE: &str = "time_sync_response";

/// `time_sync_request`. Written as a JSON number like Java and C; read from a
/// number or a numeric string (Python sends a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSyncRequest {
    /// Device clock when sending.
    #[serde(deserialize_with = "epoch_ms")]
    pub device_send_time: i64,
}

impl TimeSyncRequest {
    /// The `time_sync_request` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, TIME_SYNC_REQUEST, self)
    }
}

/// `time_sync_response`; each value read from a number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSyncResponse {
    /// Echo of the request's device time.
    #[serde(deserialize_with = "epoch_ms")]
    pub device_send_time: i64,
    /// Platform clock when the request arrived.
    #[serde(deserialize_with = "epoch_ms")]
    pub server_recv_time: i64,
    /// Platform clock when the response left.
    #[serde(deserialize_with = "epoch_ms")]
    pub server_send_time: i64,
}

impl TimeSyncResponse {
    /// The `time_sync_response` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, TIME_SYNC_RESPONSE, self)
    }

    /// The corrected device time, given the device clock at reception.
    pub fn device_time_ms(&self, device_recv_time: i64) -> f64 {
        synced_time_ms(
            self.device_send_time,
            self.server_recv_time,
            self.server_send_time,
            device_recv_time,
        )
    }
}

/// Reads an integer that may arrive as a JSON number or a numeric string.
fn epoch_ms<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct EpochMs;

    impl Visitor<'_> for EpochMs {
        type Value = i64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("epoch milliseconds as an integer or a numeric string")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<i64, E> {
            value
                .trim()
                .parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(value), &self))
        }
    }

    deserializer.deserialize_any(EpochMs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_is_sent_as_a_number() {
        let request = TimeSyncRequest {
            device_send_time: 1_795_800_973_829,
        };
        assert_eq!(
            serde_json::to_value(request).unwrap(),
            json!({"device_send_time": 1_795_800_973_829_i64})
        );
    }

    #[test]
    fn request_reads_pythons_string() {
        let request: TimeSyncRequest =
            serde_json::from_value(json!({"device_send_time": "1795800973829"})).unwrap();
        assert_eq!(request.device_send_time, 1_795_800_973_829);
    }

    #[test]
    fn response_reads_numbers_or_strings_and_computes_the_vector() {
        for paras in [
            json!({"device_send_time": 1000, "server_recv_time": 2000, "server_send_time": 2001}),
            json!({"device_send_time": "1000", "server_recv_time": "2000", "server_send_time": 2001}),
        ] {
            let response: TimeSyncResponse = serde_json::from_value(paras).unwrap();
            assert_eq!(response.device_time_ms(1100), 2050.5);
        }
    }

    #[test]
    fn non_numeric_values_are_errors() {
        for bad in [json!("soon"), json!(1.5), json!(null), json!(u64::MAX)] {
            let paras = json!({"device_send_time": bad});
            assert!(
                serde_json::from_value::<TimeSyncRequest>(paras).is_err(),
                "{bad}"
            );
        }
    }
}
