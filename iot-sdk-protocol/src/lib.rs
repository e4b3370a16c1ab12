//! The IoTDA wire protocol, without I/O: authentication, topics, payloads, time,
//! product models.
//!
//! Every topic string and payload field of the wire lives here and nowhere else.
//! Section numbers (§) refer to `docs/protocol.md`.
//!
//! * [`auth`]: client id, user name and password of the MQTT CONNECT (§1.3, §1.4).
//! * [`filter`]: MQTT topic-name and topic-filter rules and matching.
//! * [`model`]: product models (§5): the management API's JSON, the checked
//!   model shared by the runtime, the code generator and the emulator, and
//!   reading it from bytes (API JSON, or the console's zip export).
//! * [`topic`]: the `$oc/devices/{device_id}/…` topics, formatted and parsed
//!   by one enum (§1.9, §2.1, §2.2, §2.8).
//! * [`payload`]: serde types of the JSON bodies (§3).
//! * [`services`]: typed `paras` of the system services carried by events (§4).
//! * [`time`]: `event_time`, epoch milliseconds, time sync, log end time (§3, §4.3, §4.5).
//!
//! Inbound JSON is read leniently, like the official SDKs: unknown fields are
//! ignored and optional fields may be missing or `null`. Outbound JSON omits
//! unset optional fields.

// Tests may unwrap; the library build of this module is still checked.

#[cfg(test)]
mod clip_tests {
    #[test]
    fn cuts_on_a_char_boundary_and_marks_the_cut() {
        assert_eq!(super::clip_to("short", 10), "short");
        assert_eq!(super::clip_to("ééé", 3), "é…");
        assert_eq!(super::clip_to(&"x".repeat(1000), 4), "xxxx…");
    }
}

pub mod auth;
pub mod filter;
pub mod model;
pub mod payload;
pub mod services;
pub mod time;
pub mod topic;

pub use auth::{ClientId, Credentials, SignatureType, Timestamp};
pub use payload::{
    Command, CommandResponse, DeviceMessage, DeviceProperties, Event, EventEnvelope,
    GatewayPropertiesReport, PropertiesGetRequest, PropertiesReport, PropertiesSetRequest,
    ResultResponse, ServiceProperties, ShadowData, ShadowGetRequest, ShadowGetResponse,
    ShadowSection, decode, decode_value,
};
pub use time::EventTime;
pub use topic::{Direction, Topic, TopicKind};

/// The most bytes of a platform-supplied text (a value, a name, a path)
/// that an error message repeats: a 10 MB bad value must not come back as
/// a 10 MB answer or log line.
pub const ECHO_LIMIT: usize = 256;

/// The most bytes of a failure text in an answer (`paras.error`,
/// `result_desc`); longer texts are cut and end with `…`.
pub const ANSWER_TEXT_LIMIT: usize = 512;

/// `text` cut to [`ECHO_LIMIT`] bytes.
pub(crate) fn clip(text: &str) -> String {
    clip_to(text, ECHO_LIMIT)
}

/// `text` cut to at most `max` bytes on a char boundary, marked with `…`
/// when cut.
pub fn clip_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Something on the wire does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A CONNECT timestamp is not 10 digits `YYYYMMDDHH` of a real UTC hour.
    #[error("bad timestamp {0:?}: expected YYYYMMDDHH of a valid UTC hour")]
    Timestamp(String),
    /// A client id does not have the form `{device_id}_0_{flag}_{YYYYMMDDHH}`.
    #[error("bad client id {client_id:?}: {reason}")]
    ClientId {
        /// The client id as received.
        client_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A time string is in none of the accepted `event_time` formats.
    #[error("bad event time {0:?}: expected yyyyMMddTHHmmssZ")]
    EventTime(String),
    /// A JSON payload does not fit the expected type.
    #[error("bad payload at `{path}`: {message}")]
    Payload {
        /// Where in the document, e.g. `services[0].service_id` (`.` = the root).
        path: String,
        /// What serde_json found wrong there.
        message: String,
    },
    /// The `paras` of an event do not fit the type expected for its event type.
    #[error("bad paras of {service_id}/{event_type} at `{path}`: {message}")]
    EventParas {
        /// The event's `service_id`.
        service_id: String,
        /// The event's `event_type`.
        event_type: String,
        /// Where inside `paras` (`.` = `paras` itself).
        path: String,
        /// What serde_json found wrong there.
        message: String,
    },
}
