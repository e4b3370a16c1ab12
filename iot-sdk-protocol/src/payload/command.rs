//! Commands and their responses (§3.8).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `…/sys/commands/request_id={id}`: the platform calls a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Target device (a child device for a gateway); absent means the topic's device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_device_id: Option<String>,
    /// Service id from the product model.
    pub service_id: String,
    /// Command name from the product model.
    pub command_name: String,
    /// Parameters per the model; missing or `null` reads as `{}`.
    #[serde(default = "empty_object", deserialize_with = "super::object_or_empty")]
    pub paras: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// `…/sys/commands/response/request_id={id}`: the device's answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CommandResponse {
    /// 0 = success, anything else = failure. The platform treats a missing
    /// code as success, and so does reading.
    #[serde(default)]
    pub result_code: i32,
    /// Response name from the product model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_name: Option<String>,
    /// Response parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paras: Option<Value>,
}

impl CommandResponse {
    /// The code the SDKs send on failure.
    pub const FAILURE_CODE: i32 = -1;

    /// `{"result_code": 0}`.
    pub fn success() -> Self {
        Self::default()
    }

    /// `{"result_code": 0, "paras": paras}`.
    pub fn success_with(paras: Value) -> Self {
        Self {
            paras: Some(paras),
            ..Self::default()
        }
    }

    /// `{"result_code": -1, "paras": {"error": error}}`, the shape the SDKs
    /// use for unknown commands and failed handlers (§7).
    /// A text over [`ANSWER_TEXT_LIMIT`](crate::ANSWER_TEXT_LIMIT) bytes is cut, ending in `…`.
    pub fn failure(error: impl Into<String>) -> Self {
        Self {
            result_code: Self::FAILURE_CODE,
            response_name: None,
            paras: Some(
                json!({ "error": super::super::clip_to(&error.into(), super::super::ANSWER_TEXT_LIMIT) }),
            ),
        }
    }

    /// The same response with a `response_name`.
    pub fn with_response_name(mut self, name: impl Into<String>) -> Self {
        self.response_name = Some(name.into());
        self
    }

    /// Whether `result_code` is 0.
    pub fn is_success(&self) -> bool {
        self.result_code == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode;

    #[test]
    fn command_reads_the_doc_example() {
        let command: Command = decode(
            br#"{"object_device_id": "prod_node1", "service_id": "smokeDetector", "command_name": "ringAlarm", "paras": {"duration": 20}}"#,
        )
        .unwrap();
        assert_eq!(command.object_device_id.as_deref(), Some("prod_node1"));
        assert_eq!(command.service_id, "smokeDetector");
        assert_eq!(command.command_name, "ringAlarm");
        assert_eq!(command.paras, json!({"duration": 20}));
    }

    #[test]
    fn missing_or_null_paras_read_as_empty_object() {
        for bytes in [
            &br#"{"service_id": "s", "command_name": "c"}"#[..],
            br#"{"service_id": "s", "command_name": "c", "paras": null}"#,
        ] {
            let command: Command = decode(bytes).unwrap();
            assert_eq!(command.paras, json!({}));
            assert_eq!(command.object_device_id, None);
        }
    }

    #[test]
    fn responses_serialize_like_the_sdks() {
        assert_eq!(
            serde_json::to_value(CommandResponse::success()).unwrap(),
            json!({"result_code": 0})
        );
        assert_eq!(
            serde_json::to_value(
                CommandResponse::success_with(json!({"ok": true})).with_response_name("ringAck")
            )
            .unwrap(),
            json!({"result_code": 0, "response_name": "ringAck", "paras": {"ok": true}})
        );
        let failure = CommandResponse::failure("command not found: nope");
        assert!(!failure.is_success());
        assert_eq!(
            serde_json::to_value(failure).unwrap(),
            json!({"result_code": -1, "paras": {"error": "command not found: nope"}})
        );
    }

    #[test]
    fn response_reads_python_shape_and_missing_code() {
        let python: CommandResponse =
            decode(br#"{"result_code": 0, "response_name": "", "paras": {}}"#).unwrap();
        assert!(python.is_success());
        assert_eq!(python.paras, Some(json!({})));
        let bare: CommandResponse = decode(b"{}").unwrap();
        assert!(bare.is_success());
    }

    #[test]
    fn wrong_type_names_the_field() {
        let error = decode::<CommandResponse>(br#"{"result_code": "0"}"#).unwrap_err();
        assert!(error.to_string().contains("result_code"), "{error}");
    }
}
