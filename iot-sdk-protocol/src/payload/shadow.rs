//! Device shadow get (§3.7).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::PropertiesGetRequest;
use crate::time::{EventTime, lenient_event_time};

/// `…/sys/shadow/get/request_id={id}`, sent by the device. Same shape as a
/// property get: both fields optional, no `service_id` asks for all services.
/// A gateway asks for a child's shadow with `object_device_id`.
pub type ShadowGetRequest = PropertiesGetRequest;

/// `…/sys/shadow/get/response/request_id={id}`: the platform's shadow.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShadowGetResponse {
    /// The device the shadow belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_device_id: Option<String>,
    /// One entry per service; missing or `null` reads as empty.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub shadow: Vec<ShadowData>,
}

/// The shadow of one service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShadowData {
    /// Service id from the product model.
    pub service_id: String,
    /// Values the platform wants the device to take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<ShadowSection>,
    /// Values the device last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<ShadowSection>,
    /// Shadow version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// The `desired` or `reported` half of a service's shadow.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShadowSection {
    /// Property name → value; missing or `null` reads as empty.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub properties: Map<String, Value>,
    /// When the section was last changed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_event_time"
    )]
    pub event_time: Option<EventTime>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::decode;

    const DOC_EXAMPLE: &str = r#"{
      "object_device_id": "prod_node1",
      "shadow": [
        {
          "service_id": "smokeDetector",
          "desired":  {"properties": {"alarm": 1}, "event_time": "20240101T000000Z"},
          "reported": {"properties": {"alarm": 0}, "event_time": "20240101T000000Z"},
          "version": 7
        }
      ]
    }"#;

    #[test]
    fn response_reads_and_writes_the_doc_example() {
        let response: ShadowGetResponse = decode(DOC_EXAMPLE.as_bytes()).unwrap();
        let service = &response.shadow[0];
        assert_eq!(service.service_id, "smokeDetector");
        assert_eq!(service.version, Some(7));
        let desired = service.desired.as_ref().unwrap();
        assert_eq!(desired.properties["alarm"], json!(1));
        assert_eq!(desired.event_time.unwrap().to_string(), "20240101T000000Z");
        assert_eq!(
            service.reported.as_ref().unwrap().properties["alarm"],
            json!(0)
        );

        let original: Value = serde_json::from_str(DOC_EXAMPLE).unwrap();
        assert_eq!(serde_json::to_value(&response).unwrap(), original);
    }

    #[test]
    fn sparse_shadow_reads() {
        let response: ShadowGetResponse =
            decode(br#"{"shadow": [{"service_id": "s", "desired": null, "reported": {"properties": null}}]}"#).unwrap();
        assert_eq!(response.object_device_id, None);
        assert_eq!(response.shadow[0].desired, None);
        assert_eq!(response.shadow[0].reported, Some(ShadowSection::default()));
        assert_eq!(response.shadow[0].version, None);
        assert_eq!(
            decode::<ShadowGetResponse>(b"{}").unwrap(),
            ShadowGetResponse::default()
        );
    }

    #[test]
    fn negative_version_is_an_error_naming_the_field() {
        let error =
            decode::<ShadowGetResponse>(br#"{"shadow": [{"service_id": "s", "version": -1}]}"#)
                .unwrap_err();
        assert!(error.to_string().contains("shadow[0].version"), "{error}");
    }

    #[test]
    fn request_serializes_like_java() {
        let request = ShadowGetRequest {
            object_device_id: Some("prod_node1".into()),
            service_id: Some("smokeDetector".into()),
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"object_device_id": "prod_node1", "service_id": "smokeDetector"})
        );
    }
}
