//! Typed `paras` of the system services carried by events (§4).
//!
//! Each module holds its service id, its event type names and one type per
//! `paras` shape. Every paras type builds its event with a `to_event`-style
//! method; read a downlink with [`Event::decode_paras`]:
//!
//! ```
//! use iot_sdk_protocol::services::ota;
//!
//! let report = ota::VersionReport { fw_version: Some("v1.0".into()), sw_version: None };
//! let event = report.to_event();
//! assert!(event.is(ota::SERVICE_ID, ota::VERSION_REPORT));
//! assert_eq!(event.decode_paras::<ota::VersionReport>().unwrap(), report);
//! ```

pub mod bootstrap;
pub mod device_rule;
pub mod file;
pub mod log;
pub mod ota;
pub mod sdk_info;
pub mod sub_device;
pub mod time_sync;

use serde::Serialize;

use super::Event;

/// Wraps paras of this module in an event without time or id. Only for the
/// types defined here: they hold strings, numbers and JSON values, which
/// always serialize, so the fallback to `null` is never taken.
fn event(service_id: &str, event_type: &str, paras: &impl Serialize) -> Event {
    Event {
        service_id: service_id.to_owned(),
        event_type: event_type.to_owned(),
        event_time: None,
        event_id: None,
        paras: serde_json::to_value(paras).unwrap_or_default(),
    }
}
