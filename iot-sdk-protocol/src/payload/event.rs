//! The event envelope of `…/sys/events/up` and `…/sys/events/down` (§3.9).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ProtocolError;
use crate::time::{EventTime, lenient_event_time};

/// One or more system events about one device.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// The device concerned: a child device for a gateway, else absent or the own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_device_id: Option<String>,
    /// The events; the SDKs send one per envelope and read all of them.
    pub services: Vec<Event>,
}

impl EventEnvelope {
    /// An envelope holding one event.
    pub fn single(object_device_id: Option<String>, event: Event) -> Self {
        Self {
            object_device_id,
            services: vec![event],
        }
    }
}

/// One event: a system service id, an event type and its `paras`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// System service id such as `$ota` (see [`crate::services`]).
    pub service_id: String,
    /// Event name such as `version_report`.
    pub event_type: String,
    /// When it happened; unset means "when received".
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_event_time"
    )]
    pub event_time: Option<EventTime>,
    /// Correlation id; responses echo the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Event parameters; missing or `null` reads as `{}`.
    #[serde(default = "empty_object", deserialize_with = "super::object_or_empty")]
    pub paras: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl Event {
    /// An event with typed `paras` (any `Serialize`, including a `json!` value).
    ///
    /// Fails only if `paras` cannot be represented as JSON (e.g. a map with
    /// non-string keys); the error names the service and event type.
    pub fn new<T: Serialize>(
        service_id: impl Into<String>,
        event_type: impl Into<String>,
        paras: &T,
    ) -> Result<Self, ProtocolError> {
        let service_id = service_id.into();
        let event_type = event_type.into();
        match serde_json::to_value(paras) {
            Ok(paras) => Ok(Self {
                service_id,
                event_type,
                event_time: None,
                event_id: None,
                paras,
            }),
            Err(error) => Err(ProtocolError::EventParas {
                service_id,
                event_type,
                path: ".".to_owned(),
                message: error.to_string(),
            }),
        }
    }

    /// The same event with an `event_time`.
    pub fn with_time(mut self, time: impl Into<EventTime>) -> Self {
        self.event_time = Some(time.into());
        self
    }

    /// The same event with an `event_id`.
    pub fn with_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(event_id.into());
        self
    }

    /// Whether this is `event_type` of `service_id`.
    pub fn is(&self, service_id: &str, event_type: &str) -> bool {
        self.service_id == service_id && self.event_type == event_type
    }

    /// Reads `paras` as `T`; the error names the service, the event type and
    /// the path of the offending field inside `paras`.
    pub fn decode_paras<T: DeserializeOwned>(&self) -> Result<T, ProtocolError> {
        let paras = super::strict::Strict(&self.paras);
        serde_path_to_error::deserialize(paras).map_err(|error| ProtocolError::EventParas {
            service_id: super::super::clip(&self.service_id),
            event_type: super::super::clip(&self.event_type),
            path: super::super::clip(&error.path().to_string()),
            message: super::super::clip(&error.into_inner().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::decode;

    #[test]
    fn envelope_reads_and_writes_the_doc_example() {
        let doc = json!({
            "object_device_id": "prod_node1",
            "services": [{
                "service_id": "$ota",
                "event_type": "version_report",
                "event_time": "20240726T034252Z",
                "event_id": "optional-correlation-id",
                "paras": {"fw_version": "v1.0", "sw_version": "v1.0"}
            }]
        });
        let envelope: EventEnvelope = decode(doc.to_string().as_bytes()).unwrap();
        let event = &envelope.services[0];
        assert!(event.is("$ota", "version_report"));
        assert_eq!(event.event_id.as_deref(), Some("optional-correlation-id"));
        assert_eq!(
            event.event_time.map(EventTime::to_utc),
            Some(Utc.with_ymd_and_hms(2024, 7, 26, 3, 42, 52).unwrap())
        );
        assert_eq!(serde_json::to_value(&envelope).unwrap(), doc);
    }

    #[test]
    fn built_event_omits_unset_fields() {
        let event = Event::new("$ota", "version_report", &json!({"fw_version": "fw1"})).unwrap();
        let envelope = EventEnvelope::single(Some("prod1_node1".into()), event);
        assert_eq!(
            serde_json::to_value(&envelope).unwrap(),
            json!({"object_device_id": "prod1_node1", "services": [{"service_id": "$ota", "event_type": "version_report", "paras": {"fw_version": "fw1"}}]})
        );
        let timed = envelope.services[0]
            .clone()
            .with_time(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap())
            .with_id("e1");
        let value = serde_json::to_value(&timed).unwrap();
        assert_eq!(value["event_time"], json!("20240101T000000Z"));
        assert_eq!(value["event_id"], json!("e1"));
    }

    #[test]
    fn python_uplink_reads() {
        let bytes = br#"{"object_device_id": "prod1_node1", "services": [{"service_id": "$log", "event_type": "log_report", "event_time": "2026-11-27T17:36:11Z", "event_id": "", "paras": {"timestamp": "1795800971828", "type": "DEVICE_STATUS", "content": "connect complete, the uri is 127.0.0.1"}}]}"#;
        let envelope: EventEnvelope = decode(bytes).unwrap();
        assert_eq!(envelope.services[0].event_id.as_deref(), Some(""));
        assert_eq!(
            envelope.services[0].event_time.unwrap().to_string(),
            "20261127T173611Z"
        );
    }

    #[test]
    fn missing_paras_read_as_empty_object() {
        let envelope: EventEnvelope =
            decode(br#"{"services": [{"service_id": "$ota", "event_type": "version_query"}]}"#)
                .unwrap();
        assert_eq!(envelope.services[0].paras, json!({}));
        assert_eq!(envelope.object_device_id, None);
    }

    #[test]
    fn decode_paras_error_names_service_event_and_field() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Paras {
            size: u64,
        }
        let event = Event::new("$file_manager", "get_upload_url", &json!({"size": "big"})).unwrap();
        let error = event.decode_paras::<Paras>().unwrap_err();
        let text = error.to_string();
        for part in ["$file_manager", "get_upload_url", "size"] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn new_reports_unserializable_paras() {
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(
            Event::new("$x", "y", &bad),
            Err(ProtocolError::EventParas { service_id, .. }) if service_id == "$x"
        ));
    }
}
