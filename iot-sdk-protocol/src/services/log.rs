//! `$log`: device log collection (§4.5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Event;
use crate::time::{epoch_millis, log_end_time_passed};

/// The service id.
pub const SERVICE_ID: &str = "$log";
/// Down: switch log reporting on or off ([`LogConfig`]).
pub const LOG_CONFIG: &str = "log_config";
/// Up: one log entry ([`LogReport`]).
pub const LOG_REPORT: &str = "log_report";

/// Log `type`: connection state changes.
pub const DEVICE_STATUS: &str = "DEVICE_STATUS";
/// Log `type`: property activity.
pub const DEVICE_PROPERTY: &str = "DEVICE_PROPERTY";
/// Log `type`: message activity.
pub const DEVICE_MESSAGE: &str = "DEVICE_MESSAGE";
/// Log `type`: command activity.
pub const DEVICE_COMMAND: &str = "DEVICE_COMMAND";

/// The `type` of a log entry (§4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogType {
    /// [`DEVICE_STATUS`]: connection and device state.
    #[default]
    DeviceStatus,
    /// [`DEVICE_PROPERTY`]: property activity.
    DeviceProperty,
    /// [`DEVICE_MESSAGE`]: message activity.
    DeviceMessage,
    /// [`DEVICE_COMMAND`]: command activity.
    DeviceCommand,
}

impl LogType {
    /// The wire name, e.g. `DEVICE_STATUS`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::DeviceStatus => DEVICE_STATUS,
            LogType::DeviceProperty => DEVICE_PROPERTY,
            LogType::DeviceMessage => DEVICE_MESSAGE,
            LogType::DeviceCommand => DEVICE_COMMAND,
        }
    }
}

/// The documented limit of a log entry's `content`: 1 MB.
pub const MAX_CONTENT_BYTES: usize = 1024 * 1024;

/// `log_config`; both fields optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogConfig {
    /// On or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<LogSwitch>,
    /// Last moment to report, `yyyyMMddTHHmmssZ` UTC; absent means no limit.
    /// Kept as text because the SDKs compare it as text (§4.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

impl LogConfig {
    /// The `log_config` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, LOG_CONFIG, self)
    }

    /// Whether `end_time` is set and no longer in the future
    /// (see [`log_end_time_passed`]).
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.end_time
            .as_deref()
            .is_some_and(|end| log_end_time_passed(end, now))
    }
}

/// The `switch` of a [`LogConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSwitch {
    /// `"on"`: report logs.
    On,
    /// `"off"`: do not report logs.
    Off,
}

/// `log_report`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogReport {
    /// When it happened: epoch milliseconds as a decimal string.
    pub timestamp: String,
    /// [`DEVICE_STATUS`], [`DEVICE_PROPERTY`], [`DEVICE_MESSAGE`] or [`DEVICE_COMMAND`].
    #[serde(rename = "type")]
    pub log_type: String,
    /// The text (at most 1 MB).
    pub content: String,
}

impl LogReport {
    /// A log entry of `log_type` that happened `at`.
    pub fn new(log_type: impl Into<String>, content: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            timestamp: epoch_millis(at).to_string(),
            log_type: log_type.into(),
            content: content.into(),
        }
    }

    /// The `log_report` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, LOG_REPORT, self)
    }
}

/// The `log_report` event of a [`DEVICE_STATUS`] entry, such as the
/// connection logs of §1.11 (`connect complete, the uri is <host>`).
pub fn status_report(at: DateTime<Utc>, content: &str) -> Event {
    LogReport::new(DEVICE_STATUS, content, at).to_event()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    #[test]
    fn report_serializes_the_observed_shape() {
        let at = Utc.timestamp_millis_opt(1_795_800_971_828).unwrap();
        let report = LogReport::new(DEVICE_STATUS, "connect complete, the uri is 127.0.0.1", at);
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"timestamp": "1795800971828", "type": "DEVICE_STATUS", "content": "connect complete, the uri is 127.0.0.1"})
        );
    }

    #[test]
    fn status_report_is_a_log_report_event() {
        let at = Utc.timestamp_millis_opt(1_795_800_971_828).unwrap();
        let event = status_report(at, "connect lost");
        assert!(event.is("$log", "log_report"));
        assert_eq!(
            event.paras,
            json!({"timestamp": "1795800971828", "type": "DEVICE_STATUS", "content": "connect lost"})
        );
    }

    #[test]
    fn config_reads_switch_and_end_time() {
        let config: LogConfig =
            serde_json::from_value(json!({"switch": "on", "end_time": "20300101T000000Z"}))
                .unwrap();
        assert_eq!(config.switch, Some(LogSwitch::On));
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert!(!config.expired(now));
        assert!(config.expired(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));

        let off: LogConfig = serde_json::from_value(json!({"switch": "off"})).unwrap();
        assert_eq!(off.switch, Some(LogSwitch::Off));
        assert!(!off.expired(now));
        assert_eq!(
            serde_json::from_value::<LogConfig>(json!({})).unwrap(),
            LogConfig::default()
        );
    }

    #[test]
    fn unknown_switch_value_is_an_error() {
        assert!(serde_json::from_value::<LogConfig>(json!({"switch": "maybe"})).is_err());
    }
}
