//! Device messages, up (§3.1) and down (§3.2).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A device message in the "system format": `…/sys/messages/up` and `…/down`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceMessage {
    /// The device concerned: a child device for a gateway, else absent or the own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_device_id: Option<String>,
    /// Message name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Message id; the platform makes one up if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The payload: usually a string, any JSON is allowed. `null` if absent.
    #[serde(default)]
    pub content: Value,
}

/// The only keys a system-format message may have.
const SYSTEM_KEYS: [&str; 4] = ["object_device_id", "name", "id", "content"];

impl DeviceMessage {
    /// A message with just `content`.
    pub fn new(content: impl Into<Value>) -> Self {
        Self {
            content: content.into(),
            ..Self::default()
        }
    }

    /// Reads a downlink payload if it is in the system format: UTF-8 JSON
    /// object whose keys are a subset of `object_device_id`, `name`, `id`,
    /// `content`, with string (or `null`) ids and name. Anything else is a
    /// raw message (`None`) that only raw listeners see.
    ///
    /// Like Java and unlike Python, `content` may be any JSON value,
    /// including an object.
    pub fn parse_system(bytes: &[u8]) -> Option<Self> {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
            return None;
        };
        if !map.keys().all(|key| SYSTEM_KEYS.contains(&key.as_str())) {
            return None;
        }
        serde_json::from_value(Value::Object(map)).ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn uplink_omits_unset_fields() {
        let message = DeviceMessage::new("hello");
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({"content": "hello"})
        );
        let full = DeviceMessage {
            object_device_id: Some("prod_child".into()),
            name: Some("greeting".into()),
            id: Some("m-001".into()),
            content: json!({"a": 1}),
        };
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            json!({"object_device_id": "prod_child", "name": "greeting", "id": "m-001", "content": {"a": 1}})
        );
    }

    #[test]
    fn system_format_downlink_is_recognised() {
        let bytes = br#"{"object_device_id": "prod_node1", "name": "greeting", "id": "m-001", "content": "hello"}"#;
        let message = DeviceMessage::parse_system(bytes).unwrap();
        assert_eq!(message.object_device_id.as_deref(), Some("prod_node1"));
        assert_eq!(message.name.as_deref(), Some("greeting"));
        assert_eq!(message.id.as_deref(), Some("m-001"));
        assert_eq!(message.content, json!("hello"));
    }

    #[test]
    fn subsets_nulls_and_object_content_are_system_format() {
        assert_eq!(
            DeviceMessage::parse_system(b"{}"),
            Some(DeviceMessage::default())
        );
        let message =
            DeviceMessage::parse_system(br#"{"name": null, "content": {"k": [1]}}"#).unwrap();
        assert_eq!(message.name, None);
        assert_eq!(message.content, json!({"k": [1]}));
        // Python's own uplink shape with empty strings.
        let python = br#"{"object_device_id": "", "id": "", "name": "", "content": "hello"}"#;
        assert_eq!(
            DeviceMessage::parse_system(python)
                .unwrap()
                .object_device_id
                .as_deref(),
            Some("")
        );
    }

    #[test]
    fn everything_else_is_raw() {
        for raw in [
            &b"hello"[..],
            b"\xff\xfe",
            b"[1, 2]",
            b"\"content\"",
            br#"{"content": "x", "extra": 1}"#,
            br#"{"name": 5, "content": "x"}"#,
            br#"{"content": "x""#,
        ] {
            assert_eq!(
                DeviceMessage::parse_system(raw),
                None,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
